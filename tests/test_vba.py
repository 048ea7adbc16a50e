"""The workbook's VBA project, read back with oletools: our macros exist, every button is bound to
one, each macro's Python target imports and is callable, xlwings' module is the pinned one, and
the file name of the workbook does not matter."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from profiler.query import QueryEngine
from workbook.builder import build_workbook
from workbook.vba import SOURCES, macro_names, project_bytes, read_modules, xlwings_sources

ROOT = Path(__file__).resolve().parents[1]
# A browser's download name and a name with spaces: neither was importable as a module.
AWKWARD_NAME = "Customer Profiler (1) 2026-Q2.xlsm"


@pytest.fixture(scope="module")
def book(demo_car_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vba") / AWKWARD_NAME
    return build_workbook(QueryEngine.open(demo_car_dir), out)


@pytest.fixture(scope="module")
def modules(book: Path) -> dict[str, str]:
    return read_modules(book.read_bytes())


def _buttons(book: Path) -> dict[str, list[str]]:
    """Each sheet's buttons' macros, from the VML drawings XlsxWriter writes for form buttons."""
    out: dict[str, list[str]] = {}
    with zipfile.ZipFile(book) as z:
        workbook = ET.fromstring(z.read("xl/workbook.xml"))
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
        rid = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
        targets = {r.get("Id"): r.get("Target") for r in rels}
        for sheet in workbook.find("m:sheets", ns):
            part = "xl/" + targets[sheet.get(rid)]
            sheet_rels = part.replace("worksheets/", "worksheets/_rels/") + ".rels"
            if sheet_rels not in z.namelist():
                continue
            for rel in ET.fromstring(z.read(sheet_rels)):
                if rel.get("Target", "").endswith(".vml"):
                    vml = z.read("xl/" + rel.get("Target").replace("../", "")).decode()
                    out[sheet.get("name")] = re.findall(r"<x:FmlaMacro>\[0\]!(\w+)<", vml)
    return out


def test_every_button_calls_a_macro_of_our_module(book: Path, modules: dict[str, str]) -> None:
    ours = set(macro_names())
    assert ours == {"RefreshAll", "RefreshThisSheet", "RunReconciliation", "TakeSnapshot"}
    for name in ours:
        assert re.search(rf"^Public Sub {name}\(\)", modules["Profiler"], re.MULTILINE)
    buttons = _buttons(book)
    assert set(buttons["About"]) == {"RefreshAll", "RunReconciliation", "TakeSnapshot"}
    views = [
        s
        for s in load_workbook(book).sheetnames
        if s not in {"About", "Lists", "xlwings.conf", "My formulas"}
    ]
    for sheet in views:
        assert "RefreshThisSheet" in buttons.get(sheet, []), sheet
    assert "RunReconciliation" in buttons["Reconciliation"]
    assert all(macro in ours for found in buttons.values() for macro in found)
    assert "SampleCall" not in "".join(modules.values())


def test_each_runpython_target_imports_and_is_callable(modules: dict[str, str]) -> None:
    calls = re.findall(r'RunPython "import ([\w.]+); ([\w.]+)\(\)"', modules["Profiler"])
    assert len(calls) == 4
    for module, target in calls:
        assert target.startswith(module + ".")
        function = getattr(importlib.import_module(module), target[len(module) + 1 :])
        assert callable(function)
        assert not [p for p in function.__code__.co_varnames[: function.__code__.co_argcount]]


def test_xlwings_module_is_the_pinned_version(modules: dict[str, str]) -> None:
    pinned = re.search(
        r"xlwings==([\d.]+)",
        " ".join(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]),
    ).group(1)
    version = re.search(r'XLWINGS_VERSION As String = "([^"]+)"', modules["xlwings"]).group(1)
    assert version == pinned == importlib.metadata.version("xlwings")
    # unchanged: the package's own module text (line ends aside), and its Dictionary class
    for name, text in xlwings_sources().items():
        assert modules[name].replace("\r\n", "\n").strip() == text.replace("\r\n", "\n").strip()


def test_document_modules_match_the_sheets_code_names(book: Path, modules: dict[str, str]) -> None:
    wb = load_workbook(book, keep_vba=True)
    code_names = [ws.sheet_properties.codeName for ws in wb.worksheets]
    assert code_names == [f"Sheet{i}" for i in range(1, len(code_names) + 1)]
    assert {*code_names, "ThisWorkbook"} <= set(modules)
    with zipfile.ZipFile(book) as z:
        assert 'codeName="ThisWorkbook"' in z.read("xl/workbook.xml").decode()
        assert "macroEnabled" in z.read("[Content_Types].xml").decode()


def test_the_project_is_reproducible_from_its_sources(book: Path, modules: dict[str, str]) -> None:
    sheets = len(load_workbook(book).sheetnames)
    with zipfile.ZipFile(book) as z:
        shipped = z.read("xl/vbaProject.bin")
    assert shipped == project_bytes(sheets) == project_bytes.__wrapped__(sheets)  # type: ignore[attr-defined]
    source = (SOURCES / "Profiler.bas").read_text(encoding="cp1252")
    assert modules["Profiler"].replace("\r\n", "\n").strip() == source.strip()


def test_no_python_module_is_needed_beside_the_workbook(book: Path) -> None:
    assert not list(book.parent.glob("*.py"))
