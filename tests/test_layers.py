"""The engine never imports Excel libraries; adapters depend on it, not the reverse."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import profiler


def test_engine_imports_no_excel_library() -> None:
    modules = [f"profiler.{m.name}" for m in pkgutil.iter_modules(profiler.__path__)]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + (
            "bad = [m for m in ('xlwings', 'openpyxl', 'xlsxwriter', 'workbook', 'udfs') if m in sys.modules]\n"
            "assert not bad, bad\n"
        )
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
