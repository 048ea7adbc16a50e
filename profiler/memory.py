"""Keep freed memory in the process for reuse, instead of handing it back to the system.

A CAR build allocates and frees arrays of hundreds of megabytes over and over.  glibc serves
each one with a fresh ``mmap`` and returns it with ``munmap`` when freed, so every new array
page-faults all of its pages again; on a virtual machine whose host backs guest memory lazily
(as on our 2-core benchmark machine) that cost ~0.1-0.9 s a GB and was about a fifth of a
1M-customer build.  Serving large blocks from the heap, kept after ``free``, makes a reused
block cost nothing.  Peak memory does not grow: what is kept is what the build already held.

Set from inside Python it comes too late for one part: the threads numpy and pyarrow start at
import already have allocator arenas of their own, where large blocks are still mapped and
unmapped one by one, and the heap's free space cannot serve them (at 1M customers that was
0.7 GB more peak memory).  Set in the environment, glibc applies it from the first allocation:
``relaunch_tuned`` re-executes a process once with it (the ``profiler`` command,
workbook/cli/launcher.py, and the benchmarks do so before anything heavy loads).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

# glibc's environment form of the same settings (``keep_freed_memory``'s mallopt calls).
MALLOC_ENV = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_MAX_": "0",
    "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1),
}


def _libc() -> ctypes.CDLL | None:
    """glibc, or None off Linux or where the C library cannot be loaded."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for large, short-lived arrays: no ``mmap`` per block, no trimming of
    the heap, one arena (so worker threads reuse the same blocks), and Arrow allocating there
    too.  A no-op off glibc; returns whether it applied."""
    mallopt = getattr(_libc(), "mallopt", None)  # musl has no mallopt
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(
        mallopt(_M_ARENA_MAX, 1)
        and mallopt(_M_MMAP_MAX, 0)
        and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    )
    if applied:
        import pyarrow as pa

        # Arrow's buffers (a Parquet file being read) then come from and go back to the same
        # heap, and the frames built next reuse them.
        pa.set_memory_pool(pa.system_memory_pool())
    return applied


def hand_back_memory() -> bool:
    """Return the heap's free memory to the system (``malloc_trim``): for a process that has
    dropped a large working set and goes on with a small one (the out-of-core build's parent,
    once the side tables are on disk).  A no-op off glibc; returns whether it applied."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):
        return False


def relaunch_tuned(command: list[str]) -> None:
    """Replace this process by ``command`` run with ``MALLOC_ENV`` (Linux, glibc), unless the
    variables are set already (the user's own settings win); otherwise return."""
    if sys.platform.startswith("linux") and _glibc() and not MALLOC_ENV.keys() <= os.environ.keys():
        os.execve(command[0], command, {**MALLOC_ENV, **os.environ})
