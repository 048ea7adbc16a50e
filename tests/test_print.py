"""The workbook as a finance team prints it: LibreOffice's PDF of the demo workbook, page by page
(pdftotext), and the print settings and formats behind it (openpyxl)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests import libreoffice

HEADER = re.compile(r"Customer Profiler — ([A-Za-z ]+?)\s{2,}")


@pytest.fixture(scope="module")
def book(demo_workbook: Path) -> Path:
    return demo_workbook


@pytest.fixture(scope="module")
def pages(book: Path) -> list[tuple[str, list[str]]]:
    """Each printed page: the sheet named in its header, and its non-empty lines below it."""
    text = libreoffice.pdf_text(libreoffice.convert(book, "pdf"))
    out = []
    for page in text.split("\f"):
        lines = [line for line in page.splitlines() if line.strip()]
        if not lines:
            continue
        match = HEADER.search(lines[0] + "  ")
        out.append((match.group(1).strip() if match else "", lines[1:]))
    return out


def test_summary_and_dashboard_print_on_one_page_each(pages) -> None:
    sheets = [sheet for sheet, _ in pages]
    assert sheets.count("Summary") == 1 and sheets.count("Dashboard") == 1
    assert all(sheets), "every page says which sheet it is"
    assert len(pages) <= 38  # the Deep Dive's breakdowns (issue 24.1) take about 5 of them


def test_no_page_holds_a_fragment_of_a_table_without_its_header(pages) -> None:
    """A page that continues a sheet starts with the column names of its table, or with a
    block's title (a block moved whole to the next page)."""
    first_pages, seen = set(), set()
    for i, (sheet, _) in enumerate(pages):
        if sheet not in seen:
            first_pages.add(i)
            seen.add(sheet)
    headers = {
        "Deep Dive": "Area",
        "Reconciliation": "Period",
        "Definitions": "Label",
        "Cohort definitions": "Cohort",
    }
    for i, (sheet, lines) in enumerate(pages):
        if i in first_pages or sheet == "My formulas":
            continue
        top = lines[0].split()
        expected = headers.get(sheet)
        if expected is not None:
            assert top[0] == expected, (i + 1, sheet, lines[0])
        else:  # e.g. Potential Value's model check, moved whole with its chart
            assert not re.match(r"^[\d£-]", lines[0].strip()), (i + 1, sheet, lines[0])


def test_reconciliation_opens_with_a_monthly_summary_and_totals(pages) -> None:
    first = next(lines for sheet, lines in pages if sheet == "Reconciliation")
    text = "\n".join(first)
    assert "by month (totals last)" in text
    assert text.index("by month (totals last)") < text.index("Detail: by month x channel")
    totals = [line for line in first if line.strip().startswith("Total")]
    assert len(totals) == 2  # net sales and returns
    assert "Ledger" in text and "Catalog" in text and "Residual" in text


def test_print_titles_formats_and_alignment(book: Path) -> None:
    wb = load_workbook(book)
    assert wb["Reconciliation"].print_title_rows  # the detail's header on each page
    assert wb["Deep Dive"].print_title_rows
    assert not wb["Summary"].print_title_rows  # one page: nothing to repeat
    for name in ("Summary", "Dashboard"):
        setup = wb[name].page_setup
        assert wb[name].sheet_properties.pageSetUpPr.fitToPage
        assert (setup.fitToWidth or 1, setup.fitToHeight or 1) == (1, 1)  # 1 is left implicit
        assert setup.orientation == "landscape"
    deep = wb["Deep Dive"]
    rows = list(deep.iter_rows())
    head = next(r for r in rows if r[0].value == "Area")
    cells = {c.value: c for c in head if c.value}
    assert cells["Index"].alignment.horizontal == "right"  # a numeric column's header
    assert cells["Metric"].alignment.horizontal != "right"
    by_label = {r[1].value: r for r in rows if r[1].value}
    assert by_label["Units per order"][3].number_format == "#,##0.00"  # 2.51, not 3
    assert by_label["Units"][3].number_format == "#,##0"
    definitions = wb["Definitions"]
    description = next(
        c for row in definitions.iter_rows() for c in row if c.value == "Description"
    )
    below = definitions.cell(description.row + 1, description.column)
    assert (
        below.alignment.wrap_text
        and definitions.column_dimensions[description.column_letter].width >= 50
    )


def test_charts_have_formatted_axes_and_bars_read_top_down(book: Path) -> None:
    with zipfile.ZipFile(book) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    money = [c for c in charts if "Net sales by month" in c]
    assert money and 'formatCode="£#,##0"' in money[0]
    bars = [c for c in charts if '<c:barDir val="bar"/>' in c]
    assert bars and all('<c:orientation val="maxMin"/>' in c for c in bars)


def test_the_retention_triangle_is_one_colour_scale_to_its_last_period(book: Path) -> None:
    ws = load_workbook(book)["Retention"]
    ranges = [str(r.sqref) for r in ws.conditional_formatting]
    head = next(r for r in ws.iter_rows() if r[0].value == "Acquired")
    last = max(c.column_letter for c in head if c.value and str(c.value).startswith("+"))
    assert len(ranges) == 1 and ranges[0].split(":")[1].startswith(last)
