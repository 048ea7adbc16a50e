"""The ``profiler`` command: the command line, with glibc's allocator tuned from the start.

``profiler/memory.py`` explains the tuning: large blocks from one heap, kept after ``free`` for
reuse.  Set from inside Python it comes too late for one part: the threads numpy and pyarrow
start at import already have allocator arenas of their own, where large blocks are still
mapped and unmapped one by one, and the heap's free space cannot serve them (at 1M customers
that was 0.7 GB more peak memory).  Set in the environment, glibc applies it from the first
allocation, so the command re-executes itself once with it on Linux; elsewhere, or when the
variables are already set, it runs as it is.
"""

from __future__ import annotations

import os
import sys

# glibc's environment form of profiler/memory.py's mallopt settings.
MALLOC_ENV = {
    "MALLOC_ARENA_MAX": "1",
    "MALLOC_MMAP_MAX_": "0",
    "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1),
}


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


def main() -> int:
    # -P: the working folder is not put on the import path (a module there named like one of
    # ours or our dependencies' must not shadow it).
    relaunch_tuned([sys.executable, "-P", "-m", "workbook.cli", *sys.argv[1:]])
    from workbook.cli import main as cli_main

    return cli_main()
