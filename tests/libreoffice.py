"""LibreOffice, headless, as the real spreadsheet program the workbook tests open files with.

One conversion at a time (LibreOffice shares state between processes: a thread lock inside
this process and a file lock across pytest workers), each with a fresh user profile.
``recalc=True`` makes LibreOffice recompute native formulas on load, to check that the
workbook's own formulas (the PASS/BREAK checks) agree with what Python cached in them; by
default LibreOffice shows the cached values, as Excel does before Python is connected.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

_lock = threading.Lock()
_LOCK_FILE = Path(tempfile.gettempdir()) / "customer-profiler-soffice.lock"
_RECALC = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice_available() -> bool:
    """Whether LibreOffice can be run here (tests skip or fail on this)."""
    return bool(shutil.which("soffice") or shutil.which("libreoffice"))


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    assert found, "LibreOffice is missing: 'bash run.sh test' installs libreoffice-calc"
    return found


@contextlib.contextmanager
def _one_at_a_time() -> Iterator[None]:
    with _lock, open(_LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def convert(
    path: Path,
    fmt: str = "pdf",
    outdir: Path | None = None,
    timeout: int = 180,
    *,
    recalc: bool = False,
) -> Path:
    """Convert with LibreOffice; fails the test with LibreOffice's output if it does not."""
    path = Path(path)
    outdir = Path(outdir) if outdir else Path(tempfile.mkdtemp(prefix="lo-out-"))
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / f"{path.stem}.{fmt.split(':')[0]}"
    assert target.resolve() != path.resolve(), f"converting {path} would overwrite it"
    target.unlink(missing_ok=True)  # a stale output must not pass for a fresh one
    with _one_at_a_time(), tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        if recalc:
            user = Path(profile) / "user"
            user.mkdir(parents=True)
            (user / "registrymodifications.xcu").write_text(_RECALC)
        try:
            result = subprocess.run(
                [
                    soffice(),
                    "--headless",
                    "--norestore",
                    f"-env:UserInstallation=file://{profile}",
                    "--convert-to",
                    fmt,
                    "--outdir",
                    str(outdir),
                    str(path),
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as err:
            raise AssertionError(f"LibreOffice took over {timeout}s to convert {path}") from err
    # LibreOffice exits 0 even when it cannot load a file: check the output and stderr too.
    assert result.returncode == 0 and target.exists(), (
        f"LibreOffice could not convert {path} to {fmt}: {result.stdout}\n{result.stderr}"
    )
    assert "Error" not in result.stderr, result.stderr
    return target


def pdf_text(pdf: Path) -> str:
    """The PDF's text laid out as on the page, so numbers appear as a reader sees them."""
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def png_pages(
    pdf: Path,
    outdir: Path,
    prefix: str,
    dpi: int = 60,
    first: int | None = None,
    last: int | None = None,
) -> list[Path]:
    """Render pages to PNG (for eyeballing and the README)."""
    args = ["pdftoppm", "-png", "-r", str(dpi)]
    if first:
        args += ["-f", str(first)]
    if last:
        args += ["-l", str(last)]
    subprocess.run([*args, str(pdf), str(outdir / prefix)], check=True)
    return sorted(outdir.glob(f"{prefix}*.png"))


def xlsx_values(path: Path, sheet: str) -> list[list[Any]]:
    """Cell values of one sheet as LibreOffice reads the file (re-saved as .xlsx)."""
    with tempfile.TemporaryDirectory(prefix="lo-values-") as outdir:
        resaved = convert(path, "xlsx", Path(outdir))
        book = load_workbook(resaved, data_only=True)
        try:
            return [list(row) for row in book[sheet].iter_rows(values_only=True)]
        finally:
            book.close()
