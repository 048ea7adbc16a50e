"""Writing an output file so that it is complete or absent, and saying in one line why not.

Every file the project writes for later (a workbook, a snapshot, an audience, a quarantine, a
demo table) is written under a unique temporary name beside its target and renamed over it only
when complete (``replacing``): two writers never share a temporary file, a failure leaves the
previous file as it was, and a killed writer leaves only a ``.*.tmp`` file that its next run
ignores.  ``describe_os_error`` turns an operating-system error into the one ``Error:`` line
the command line prints (``workbook/cli/app.py``); the disk-full case says how much space the
output needs, from the estimate its writer gave ``expect``.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_expected: dict[str, int] = {}  # output path -> bytes it is expected to need
STOP_ENV = "PROFILER_STOP_AT"  # fault injection: a writer stops itself at this stage


def stage(name: str) -> None:
    """A stage boundary of a writer (a build's "read", "computed", "wrote:car.parquet", ...,
    "swapped"; a refresh's "refresh:locked").  With ``PROFILER_STOP_AT=<name>`` in the
    environment the process kills itself here (SIGKILL: no clean-up runs, as in a crash or an
    operator's kill -9); with ``<name>:pause`` it stops itself (SIGSTOP) until continued.  The
    fault-injection and concurrency tests stop writers at every boundary this way, without
    sleeps, and check what readers then see."""
    wanted = os.environ.get(STOP_ENV)
    if wanted == name:
        os.kill(os.getpid(), signal.SIGKILL)
    elif wanted == f"{name}:pause":
        os.kill(os.getpid(), signal.SIGSTOP)


def temporary_beside(path: str | Path, tag: str = "tmp") -> Path:
    """A name no other writer uses, hidden beside ``path``: ``.NAME.<pid>-<random>.<tag>``."""
    target = Path(path)
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.{tag}")


@contextmanager
def replacing(path: str | Path, *, needs: int | None = None) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; rename it over ``path`` when the block
    ends, remove it when the block fails.  ``needs`` estimates the bytes the file will take
    (said when the disk is full; default: the size of the file it replaces)."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(target))
    tmp = temporary_beside(target)
    if needs is None and target.is_file():
        needs = target.stat().st_size
    with expecting(target, needs):
        try:
            yield tmp
            os.replace(tmp, target)
        except BaseException as err:
            if isinstance(err, OSError) and err.filename in (None, str(tmp)):
                err.filename = str(target)  # name the output, not its temporary file
            if isinstance(err, OSError) and err.errno == errno.ENOSPC:
                written = tmp.stat().st_size if tmp.exists() else 0
                expect(target, max(needs or 0, written))
            _remove(tmp)
            raise


@contextmanager
def expecting(path: str | Path, nbytes: int | None) -> Iterator[None]:
    """Within the block, an ENOSPC at or under ``path`` says the output needs ``nbytes``."""
    key = str(Path(path).absolute())
    if nbytes:
        _expected[key] = int(nbytes)
    try:
        yield
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT) and key in _expected:
            err.needs = _expected[key]  # type: ignore[attr-defined]  # read by describe_os_error
        raise
    finally:
        _expected.pop(key, None)


def expect(path: str | Path, nbytes: int) -> None:
    """Revise the estimate of what the output at ``path`` needs (e.g. once its rows are known)."""
    _expected[str(Path(path).absolute())] = int(nbytes)


def naming(err: OSError, path: str | Path) -> OSError:
    """``err`` with ``path`` as its file name when it has none (pyarrow's and a full disk's
    errors often have none), so the one-line message names what was being written."""
    if err.filename is None:
        err.filename = str(path)
    return err


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass  # cleaning up after a failure must not hide the failure


def describe_os_error(err: OSError) -> str:
    """One line naming the path and what went wrong, in words a user acts on."""
    path = err.filename or _path_in_message(err) or "(unknown path)"
    code = err.errno
    if code in (errno.EACCES, errno.EPERM):
        return f"{path}: permission denied (check who owns the folder and its write permission)."
    if code == errno.EROFS:
        return f"{path}: the file system is read-only; write the output somewhere writable."
    if code in (errno.ENOSPC, errno.EDQUOT):
        needs = getattr(err, "needs", None) or _expected.get(str(Path(path).absolute()))
        need = f"the output needs about {_size(needs)} (estimated); " if needs else ""
        return f"{path}: the disk is full: {need}{_size(_free(Path(path)))} free. Free some space or write elsewhere."
    if code == errno.EEXIST and Path(path).is_file():
        return f"{path}: is a file, not a folder."
    if code in (errno.ENOTDIR, errno.ENOENT, None):
        # (pandas reports a missing folder, or a file in its place, with no error number)
        blocker = _file_in_the_way(Path(path).parent)
        if blocker is not None:
            return f"{blocker}: is a file, not a folder."
        if not Path(path).parent.exists():
            return f"{path}: the folder {Path(path).parent} does not exist."
    if code == errno.EISDIR:
        return f"{path}: is a folder, not a file."
    if code == errno.ENAMETOOLONG:
        return f"{str(path)[:200]}…: the path is too long for this file system."
    if code == errno.ENOENT:
        return f"{path}: no such file or folder."
    reason = err.strerror or (str(err.args[0]) if err.args else "") or "cannot be written"
    return f"{path}: {reason}."


def _path_in_message(err: OSError) -> str | None:
    """pyarrow names the file inside its message ("... '/x/y': No space left on device")."""
    text = str(err)
    for quote in ("'", '"'):
        start = text.find(quote + "/")
        if start >= 0:
            end = text.find(quote, start + 1)
            if end > start:
                return text[start + 1 : end]
    return None


def _file_in_the_way(path: Path) -> Path | None:
    for parent in [path, *path.parents]:
        if parent.is_file():
            return parent
    return None


def _free(path: Path) -> int:
    for parent in [path, *path.parents]:
        try:
            return shutil.disk_usage(parent).free
        except OSError:
            continue
    return 0


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{nbytes:,} bytes"
