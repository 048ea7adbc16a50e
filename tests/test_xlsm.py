"""The .xlsm writing primitives: the xlwings VBA project survives intact, formula-like text stays
text, and LibreOffice shows the numbers as formatted and the formulas' cached values."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from profiler.errors import ProfilerError
from tests import libreoffice
from workbook.xlsm import (
    CONF_KEYS,
    CONF_SHEET,
    XlsmWriter,
    number_format_code,
)

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
DANGEROUS = ["=1+1", "+44 20 7946", "-5 apples", "@SUM(A1)"]
TABLE_TOP = 5  # 0-based row of the table header (Excel row 6)
FORMULA = "=SUM(B7:B11)"
FORMULA_VALUE = 1234.0 + 5678.4 + 90 + 12
needs_libreoffice = pytest.mark.skipif(
    not libreoffice.soffice_available(), reason="LibreOffice (soffice) is not installed"
)


def sample_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Segment": [*DANGEROUS, "Plain"],
            "Revenue": [1234.0, np.nan, 5678.4, 90, 12],
            "Share": [0.25, 0.5, np.nan, 0.1, 0.15],
            "First order": pd.to_datetime(["2024-03-01", None, "2024-05-17", "2023-12-31", None]),
            "Customers": np.array([10, 20, 30, 40, 50], dtype=np.int64),
        }
    )


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """One workbook exercising every primitive, converted by LibreOffice once per format."""
    path = tmp_path_factory.mktemp("xlsm") / "Primitives.xlsm"
    df = sample_frame()
    with XlsmWriter(path) as w:
        ws = w.add_sheet("Overview")
        lists = w.add_sheet("Lists", hidden=True)
        for i, cohort in enumerate(["All", "VIP", "New"]):
            w.write_value(lists, i, 0, cohort)
        w.add_name("List_cohorts", "='Lists'!$A$1:$A$3")
        w.write_value(ws, 0, 0, "Overview", w.fmt(bold=True, font_size=14))
        w.write_value(ws, 1, 0, "Cohort")
        w.write_value(ws, 1, 1, "VIP", w.fmt(locked=False, bg_color="#FFF2CC"))
        w.add_name("Cohort", "='Overview'!$B$2")
        w.add_list_validation(ws, "B2", "=List_cohorts")
        w.write_value(ws, 2, 0, "Total revenue")
        w.write_formula(ws, 2, 1, FORMULA, FORMULA_VALUE, w.number_format("GBP"))
        last_row, last_col = w.write_table(
            ws,
            TABLE_TOP,
            0,
            df,
            name="Segments",
            formats={
                "Revenue": w.number_format("GBP"),
                "Share": w.number_format("share"),
                "Customers": w.number_format("customers"),
            },
            header_fmt=w.fmt(bold=True),
        )
        assert (last_row, last_col) == (TABLE_TOP + len(df), len(df.columns) - 1)
        w.add_color_scale(ws, f"C{TABLE_TOP + 2}:C{last_row + 1}")
        w.add_chart(
            "line",
            ws,
            "H2",
            title="Revenue by segment",
            categories=["Overview", TABLE_TOP + 1, 0, last_row, 0],
            series={"Revenue": ["Overview", TABLE_TOP + 1, 1, last_row, 1]},
        )
        w.add_chart(
            "column",
            ws,
            "H20",
            title="Customers by segment",
            categories=f"='Overview'!$A${TABLE_TOP + 2}:$A${last_row + 1}",
            series={"Customers": f"='Overview'!$E${TABLE_TOP + 2}:$E${last_row + 1}"},
        )
        w.protect(ws)
        w.add_xlwings_conf({"UDF Modules": "udfs.profiler_udfs", "PROFILER_CAR": "=C:\\car"})
    return path


@pytest.fixture(scope="module")
def pdf(book: Path, tmp_path_factory) -> str:
    if not libreoffice.soffice_available():
        pytest.skip("LibreOffice (soffice) is not installed")
    return libreoffice.pdf_text(libreoffice.convert(book, "pdf", tmp_path_factory.mktemp("pdf")))


@pytest.fixture(scope="module")
def shown(book: Path) -> list[list]:
    if not libreoffice.soffice_available():
        pytest.skip("LibreOffice (soffice) is not installed")
    return libreoffice.xlsx_values(book, "Overview")


def sheet_xml(book: Path, index: int) -> tuple[ET.Element, list[str]]:
    """A sheet's XML root and the shared strings table."""
    with zipfile.ZipFile(book) as z:
        root = ET.fromstring(z.read(f"xl/worksheets/sheet{index}.xml"))
        shared = ET.fromstring(z.read("xl/sharedStrings.xml"))
    strings = ["".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")) for si in shared]
    return root, strings


# The file itself -------------------------------------------------------------------------------


def test_code_names_match_the_vba_document_modules(book: Path) -> None:
    wb = load_workbook(book)
    names = {ws.title: ws.sheet_properties.codeName for ws in wb.worksheets}
    assert names == {"Overview": "Sheet1", "Lists": "Sheet2", CONF_SHEET: "Sheet3"}
    assert wb["Lists"].sheet_state == "hidden" and wb[CONF_SHEET].sheet_state == "hidden"


def test_xlwings_conf_keys_are_contiguous_text(book: Path) -> None:
    wb = load_workbook(book)
    assert CONF_SHEET == "xlwings.conf" and CONF_SHEET in wb.sheetnames
    ws = wb[CONF_SHEET]
    keys = [row[0].value for row in ws.iter_rows(min_col=1, max_col=1)]
    assert all(isinstance(k, str) and k.strip() for k in keys)
    assert tuple(keys[: len(CONF_KEYS)]) == CONF_KEYS and keys[-1] == "PROFILER_CAR"
    settings = {row[0].value: row[1] for row in ws.iter_rows(min_col=1, max_col=2)}
    assert settings["UDF Modules"].value == "udfs.profiler_udfs"
    assert settings["PROFILER_CAR"].data_type == "s"  # '=C:\car' is text, not a formula


def test_formula_like_text_is_stored_as_strings(book: Path) -> None:
    root, strings = sheet_xml(book, 1)
    formulas = [f.text or "" for f in root.iter(f"{{{NS['m']}}}f")]
    assert formulas == [FORMULA.lstrip("=")]
    stored = {}
    for cell in root.iter(f"{{{NS['m']}}}c"):
        kind, value = cell.get("t"), cell.find("m:v", NS)
        if kind == "s":
            stored[strings[int(value.text)]] = cell
        elif kind == "inlineStr":
            stored["".join(t.text or "" for t in cell.iter(f"{{{NS['m']}}}t"))] = cell
    for text in DANGEROUS:
        assert text in stored, f"{text!r} is not stored as a string"
        assert stored[text].find("m:f", NS) is None
        assert not any(text in f for f in formulas)


def test_table_validation_name_scale_chart_and_protection(book: Path) -> None:
    wb = load_workbook(book)
    ws = wb["Overview"]
    table = ws.tables["Segments"]
    assert table.ref == f"A{TABLE_TOP + 1}:E{TABLE_TOP + 6}"
    assert table.tableStyleInfo.name == "TableStyleLight9"
    assert [c.name for c in table.tableColumns] == list(sample_frame().columns)
    assert ws.cell(TABLE_TOP + 3, 2).value is None  # NaN -> blank
    assert ws.cell(TABLE_TOP + 2, 2).number_format == "£#,##0"
    assert ws.cell(TABLE_TOP + 2, 4).value == dt.datetime(2024, 3, 1)
    assert ws.cell(TABLE_TOP + 2, 4).number_format == "yyyy-mm-dd"
    assert ws.column_dimensions["A"].width >= len("+44 20 7946")
    [validation] = ws.data_validations.dataValidation
    assert validation.type == "list" and validation.formula1 == "List_cohorts"
    assert str(validation.sqref) == "B2"
    assert wb.defined_names["Cohort"].attr_text == "'Overview'!$B$2"
    [rule] = [r for rng in ws.conditional_formatting for r in rng.rules]
    assert rule.type == "colorScale" and len(rule.colorScale.color) == 3
    assert ws.protection.sheet and ws["B2"].protection.locked is False
    with zipfile.ZipFile(book) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 2
    line = next(c for c in charts if "<c:lineChart>" in c)
    assert '<c:smooth val="1"/>' not in line and "Revenue by segment" in line
    assert any("<c:barChart>" in c and '<c:barDir val="col"/>' in c for c in charts)


# LibreOffice as the reader ---------------------------------------------------------------------


@needs_libreoffice
def test_libreoffice_shows_formatted_numbers_and_text(pdf: str) -> None:
    for expected in ["£1,234", "£5,678", "£7,014", "25.0%", "50.0%", "2024-03-01", "Plain"]:
        assert expected in pdf, expected
    for text in DANGEROUS:
        assert text in pdf, text
    assert "#NAME" not in pdf and "Err:" not in pdf


@needs_libreoffice
def test_libreoffice_reads_cached_formula_and_original_text(shown: list[list]) -> None:
    assert shown[2][:2] == ["Total revenue", pytest.approx(FORMULA_VALUE)]
    assert shown[1][:2] == ["Cohort", "VIP"]
    rows = shown[TABLE_TOP + 1 : TABLE_TOP + 6]
    assert [r[0] for r in rows] == [*DANGEROUS, "Plain"]
    assert [r[1] for r in rows] == [1234, None, pytest.approx(5678.4), 90, 12]
    assert [r[4] for r in rows] == [10, 20, 30, 40, 50]


# Small behaviours, no file needed -------------------------------------------------------------


def test_number_formats_by_unit() -> None:
    assert number_format_code("GBP") == "£#,##0"
    assert {number_format_code(u) for u in ["%", "share", "rate"]} == {"0.0%"}
    assert {number_format_code(u) for u in ["count", "customers", "orders", "days"]} == {"#,##0"}
    assert number_format_code("score") == "0.0"
    assert number_format_code("kg") == "#,##0.00"
    assert number_format_code("GBP", "0.00") == "0.00"


def test_formats_are_cached(tmp_path: Path) -> None:
    with XlsmWriter(tmp_path / "f.xlsm") as w:
        w.add_sheet("A")
        assert w.fmt(bold=True, font_size=10) is w.fmt(font_size=10, bold=True)
        assert w.number_format("GBP") is w.number_format("x", "£#,##0")
        assert w.number_format("GBP") is not w.number_format("%")


def test_unwritable_path_is_one_os_error_naming_it(tmp_path: Path) -> None:
    """The writer raises the OSError, naming the file; the command line prints it as one line
    (profiler/outputs.py)."""
    from profiler.outputs import describe_os_error

    target = tmp_path / "missing-folder" / "book.xlsm"
    with pytest.raises(OSError) as err:
        with XlsmWriter(target) as w:
            w.add_sheet("A")
    assert describe_os_error(err.value) == f"{target}: the folder {target.parent} does not exist."


def test_an_error_while_building_writes_no_file(tmp_path: Path) -> None:
    target = tmp_path / "book.xlsm"
    with pytest.raises(RuntimeError):
        with XlsmWriter(target) as w:
            w.add_sheet("A")
            raise RuntimeError("boom")
    assert not target.exists()


def test_xlwings_conf_needs_udf_modules(tmp_path: Path) -> None:
    with XlsmWriter(tmp_path / "c.xlsm") as w:
        w.add_sheet("A")
        with pytest.raises(ProfilerError, match="UDF Modules"):
            w.add_xlwings_conf({})
        w.add_xlwings_conf({"UDF Modules": "m"})
