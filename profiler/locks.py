"""One writer at a time per output: an exclusive lock that says who holds it.

A build, a refresh or a snapshot locks its target (the CAR folder; the workbook file) for as
long as it writes.  A second one waits up to ``wait`` seconds and then stops with one line
naming the holder (its command, process id and start time), which the holder records in the
lock file once it has the lock.  The lock is an operating-system lock (``filelock``: flock on
Linux and macOS, LockFileEx on Windows), so a killed holder releases it at once and never leaves
a stale lock.  Readers take no lock: they read the last complete output.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import BusyError, clip

LOCK_NAME = ".lock"  # inside a locked folder

# The command line a holder records: set by the command-line entry point (which may be called
# with its own arguments, as the tests do), else this process's arguments.
COMMAND: list[str] | None = None


def set_command(argv: list[str]) -> None:
    """Record the command this process runs, for a waiting writer's message."""
    global COMMAND
    COMMAND = ["profiler", *argv]


def lock_path(target: str | Path) -> Path:
    """Where the lock of ``target`` lives: ``FOLDER/.lock`` for a folder, ``.NAME.lock``
    beside a file."""
    target = Path(target)
    if target.is_dir():
        return target / LOCK_NAME
    return target.with_name(f".{target.name}.lock")


@contextmanager
def exclusive(target: str | Path, *, wait: float = 0) -> Iterator[None]:
    """Hold the lock of ``target`` for the block; after ``wait`` seconds, ``BusyError``."""
    path = lock_path(target)
    lock = FileLock(str(path), timeout=max(float(wait), 0.0))
    try:
        lock.acquire()
    except Timeout:
        raise BusyError(
            f"{target}: busy: {describe_holder(path)} is writing it; waited {wait:g} s "
            "(wait longer with --wait SECONDS)."
        ) from None
    try:
        _record_holder(path)
        yield
    finally:
        _clear_holder(path)
        lock.release()


def _record_holder(path: Path) -> None:
    holder = {
        "command": clip(" ".join(COMMAND or ["profiler", *sys.argv[1:]]), 120),
        "pid": os.getpid(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    with open(path, "r+", encoding="utf-8") as f:  # the lock's own file: no second file
        f.truncate()
        f.write(json.dumps(holder))


def _clear_holder(path: Path) -> None:
    try:
        with open(path, "r+", encoding="utf-8") as f:
            f.truncate()
    except OSError:
        pass


def describe_holder(path: Path) -> str:
    """'profiler build ... (pid 123, started 2026-12-03 09:00:00 +0000)', or a plain phrase
    when the holder has not written its name yet."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "another process"
    return f"'{holder.get('command', '?')}' (pid {holder.get('pid', '?')}, started {holder.get('started', '?')})"
