"""LibreOffice, headless, as the real spreadsheet program the workbook tests open files with.

One conversion at a time (LibreOffice shares state between processes), each with a fresh user
profile.  ``recalc=True`` makes LibreOffice recompute native formulas on load, to check that the
workbook's own formulas (the PASS/BREAK checks) agree with what Python cached in them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_RECALC = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    assert found, "LibreOffice is missing: 'bash run.sh test' installs libreoffice-calc"
    return found


def convert(
    path: Path,
    fmt: str = "pdf",
    outdir: Path | None = None,
    *,
    recalc: bool = False,
    timeout: int = 240,
) -> Path:
    """Convert with LibreOffice; fails the test with LibreOffice's output if it does not."""
    outdir = outdir or Path(tempfile.mkdtemp(prefix="lo-out-"))
    with _lock, tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        if recalc:
            user = Path(profile) / "user"
            user.mkdir(parents=True)
            (user / "registrymodifications.xcu").write_text(_RECALC)
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
    target = outdir / f"{path.stem}.{fmt.split(':')[0]}"
    assert result.returncode == 0 and target.exists(), (
        f"LibreOffice could not convert {path} to {fmt}: {result.stdout}\n{result.stderr}"
    )
    assert "Error" not in result.stderr, result.stderr
    return target


def pdf_text(pdf: Path) -> str:
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
    args = ["pdftoppm", "-png", "-r", str(dpi)]
    if first:
        args += ["-f", str(first)]
    if last:
        args += ["-l", str(last)]
    subprocess.run([*args, str(pdf), str(outdir / prefix)], check=True)
    return sorted(outdir.glob(f"{prefix}*.png"))
