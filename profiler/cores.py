"""Compiled kernels that use every core, and stay correct in a forked child.

numba's default threading layer (workqueue) cannot be used again in a process forked from one
that already ran a parallel kernel: the child is terminated.  Forked workers are common
(multiprocessing, the fault-injection tests), so each kernel is compiled twice, parallel and
serial, and a process that did not start the parallel runtime itself runs the serial one.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable
from typing import Any

from numba import njit

_parallel_pid: int | None = None  # the process whose kernels run in parallel


def kernel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (written with ``prange``) compiled parallel for this process, serial in a
    forked child of a process that ran a parallel kernel."""
    parallel = njit(cache=True, nogil=True, parallel=True)(fn)
    # A function of its own name, so the on-disk cache never hands one compilation for the
    # other.
    twin = types.FunctionType(fn.__code__, fn.__globals__, f"{fn.__name__}_serial")
    twin.__qualname__ = f"{fn.__qualname__}_serial"
    serial = njit(cache=True, nogil=True)(twin)

    def run(*args: Any) -> Any:
        global _parallel_pid
        if _parallel_pid is None:
            _parallel_pid = os.getpid()
        return (parallel if _parallel_pid == os.getpid() else serial)(*args)

    run.__doc__, run.__name__ = fn.__doc__, fn.__name__
    return run
