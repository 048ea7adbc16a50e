"""Snapshots of the demo workbook: written from content, values only, nothing personal anywhere
in the bytes, small cells and their complements hidden everywhere (charts and tiles too), the
same numbers as the source in LibreOffice, a one-page cover, optionally encrypted."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import msoffcrypto
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msoffcrypto.exceptions import DecryptionError, InvalidKeyError
from openpyxl import load_workbook

from profiler import privacy
from profiler.errors import ProfilerError
from profiler.query import QueryEngine
from tests import libreoffice
from workbook.cli import main
from workbook.snapshot import snapshot
from workbook.suppression import COMPLEMENTARY

K = 10


@pytest.fixture(scope="module")
def source(demo_workbook: Path) -> Path:
    return demo_workbook


@pytest.fixture(scope="module")
def snap(source: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("snap") / "profiler snapshot.xlsx"
    report = snapshot(source, out)
    assert report.suppressed > 0 and report.size < 1_000_000
    return out


@pytest.fixture(scope="module")
def snap_pdf(snap: Path, tmp_path_factory) -> Path:
    """The snapshot printed to PDF by LibreOffice (once for the tests that read the print)."""
    return libreoffice.convert(snap, "pdf", tmp_path_factory.mktemp("snap-pdf"))


def parts(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n).decode("utf-8", "replace") for n in z.namelist()}


def recorded(source: Path) -> dict[tuple[str, str], int]:
    lists = load_workbook(source, read_only=True)["Lists"]
    rows = list(lists.iter_rows(values_only=True))
    col = list(rows[0]).index("small_cells")
    out = {}
    for row in rows[1:]:
        if row[col]:
            sheet, cell = row[col].rsplit("!", 1)
            out[(sheet.strip("'"), cell)] = int(row[col + 1])
    return out


def test_values_only_no_macros_links_or_hidden_sheets(snap: Path) -> None:
    xml = parts(snap)
    assert "xl/vbaProject.bin" not in xml and "My formulas" not in xml["xl/workbook.xml"]
    assert not any(n.startswith(("xl/externalLinks", "xl/connections")) for n in xml)
    sheets = [n for n in xml if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)]
    assert sheets and all("<f>" not in xml[n] and "<f " not in xml[n] for n in sheets)
    workbook = xml["xl/workbook.xml"]
    assert "xlwings.conf" not in workbook and '"Lists"' not in workbook and "hidden" not in workbook
    assert "macroEnabled" not in xml["[Content_Types].xml"]
    names = re.findall(r'<definedName name="([^"]+)"', workbook)
    assert set(names) <= {"_xlnm.Print_Titles"}  # no input names: only what printing needs
    assert not any("vmlDrawing" in n for n in xml)  # the macro buttons are gone
    assert "small_cells" not in xml["xl/sharedStrings.xml"]  # no text of the dropped sheets
    strings = xml["xl/sharedStrings.xml"]
    assert "Refresh" not in strings and "dropdown" not in strings and "Interpreter" not in strings
    names = load_workbook(snap).sheetnames
    assert names[0] == "Snapshot" and "Summary" in names and "Definitions" in names


def test_no_personal_data_or_sender_paths(snap: Path, demo_source, demo_car_dir: Path) -> None:
    text = "\n".join(parts(snap).values())
    customers = demo_source.tables["customers"]
    personal = [
        str(v)
        for col in ("name", "email", "phone")
        if col in customers
        for v in customers[col].dropna().head(300)
    ]
    assert personal and not [p for p in personal if p in text]
    assert str(demo_car_dir) not in text and str(demo_car_dir.resolve()) not in text
    assert "@example" not in text


def test_no_number_on_fewer_than_k_customers(source: Path, snap: Path) -> None:
    counts = recorded(source)
    wb = load_workbook(snap)
    small = [(s, c) for (s, c), n in counts.items() if n < K]
    assert small
    for sheet, cell in small:
        assert wb[sheet][cell].value == privacy.mark(K), (sheet, cell)


def test_every_sheet_is_stamped(snap: Path) -> None:
    xml = parts(snap)
    stamped = [
        n
        for n, x in xml.items()
        if n.startswith("xl/worksheets/sheet") and "Snapshot of Customer_Profiler.xlsm taken" in x
    ]
    assert len(stamped) >= 8
    cover = {
        row[0]: row[1]
        for row in load_workbook(snap)["Snapshot"].iter_rows(values_only=True)
        if row and row[0]
    }
    assert cover["From workbook"] == "Customer_Profiler.xlsm" and cover[
        "Metric catalog"
    ].startswith("metric catalog")
    assert cover["Data as of"].startswith("20") and "Net sales" in cover


def test_libreoffice_shows_the_source_numbers(
    source: Path, snap: Path, snap_pdf: Path, tmp_path: Path
) -> None:
    pdf = libreoffice.pdf_text(snap_pdf)
    assert "Customer Profiler snapshot" in pdf and privacy.mark(K) in pdf
    shown = load_workbook(libreoffice.convert(snap, "xlsx", tmp_path / "x"), data_only=True)
    original = load_workbook(source, data_only=True)
    compared = 0
    for sheet in ("Summary", "Compare", "Dashboard", "Potential Value"):
        for row in original[sheet].iter_rows():
            for cell in row:
                if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                    seen = shown[sheet][cell.coordinate].value
                    if seen not in (privacy.mark(K), COMPLEMENTARY):
                        assert seen == pytest.approx(cell.value), (sheet, cell.coordinate)
                        compared += 1
    assert compared > 200


def test_password_encrypts_with_office_agile_encryption(
    source: Path, snap: Path, tmp_path: Path
) -> None:
    locked = tmp_path / "locked.xlsx"
    snapshot(source, locked, password="s3cret!")
    office = msoffcrypto.OfficeFile(locked.open("rb"))
    assert office.is_encrypted()
    with pytest.raises(zipfile.BadZipFile):
        load_workbook(locked)
    wrong = msoffcrypto.OfficeFile(locked.open("rb"))
    with pytest.raises((InvalidKeyError, DecryptionError)):
        wrong.load_key(password="guess", verify_password=True)
        wrong.decrypt(io.BytesIO())
    office.load_key(password="s3cret!")
    plain = io.BytesIO()
    office.decrypt(plain)
    opened, reference = load_workbook(plain), load_workbook(snap)
    assert opened.sheetnames == reference.sheetnames
    for name in ("Summary", "Dashboard"):  # the same rows but the stamp (taken at another minute)
        assert [list(r) for r in opened[name].iter_rows(min_row=3, values_only=True)] == [
            list(r) for r in reference[name].iter_rows(min_row=3, values_only=True)
        ]


def test_written_safely(source: Path, snap: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(ProfilerError, match="exists; pass --force"):
        snapshot(source, snap)
    with pytest.raises(ProfilerError, match="give a .xlsx"):
        snapshot(source, tmp_path / "x.xlsm")
    copy = tmp_path / "Book.xlsx"
    copy.write_bytes(b"not a workbook")
    with pytest.raises(ProfilerError, match="overwrite the source"):
        snapshot(copy, copy, force=True)
    out = tmp_path / "cli.xlsx"
    assert main(["snapshot", str(source), "--out", str(out), "--min-cohort-size", "20"]) == 0
    assert "cells under 20 customers suppressed" in capsys.readouterr().out
    assert main(["snapshot", str(source), "--out", str(out)]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Book.xlsx", "cli.xlsx"]  # no temp files
    wb = load_workbook(out)
    counts = recorded(source)
    assert all(wb[s][c].value == privacy.mark(20) for (s, c), n in counts.items() if n < 20)


def test_customers_only_when_asked_and_only_consented(
    source: Path, tmp_path: Path, demo_car_dir: Path
) -> None:
    out = tmp_path / "with-customers.xlsx"
    report = snapshot(
        source,
        out,
        include_customers="Buyers",
        fields=["clv_12m"],
        channel="email",
        car=demo_car_dir,
    )
    rows = list(load_workbook(out)["Customers"].iter_rows(values_only=True))
    assert rows[0] == ("customer_id", "clv_12m") and len(rows) - 1 == report.customers > 0
    engine = QueryEngine.open(demo_car_dir)
    car = engine.car.set_index(engine.car["customer_id"].astype(str))
    ids = [str(r[0]) for r in rows[1:]]
    assert (
        car.loc[ids, "opt_in_email"].astype(bool).all()
        and car.loc[ids, "contactable"].astype(bool).all()
    )


def test_complementary_suppression_protects_a_lone_small_cell() -> None:
    cells = [
        privacy.Cell("B2", "B", 1000.0, 500),  # the total
        privacy.Cell("B3", "B", 700.0, 300),
        privacy.Cell("B4", "B", 295.0, 180),
        privacy.Cell("B5", "B", 5.0, 4),  # small
        privacy.Cell("C2", "C", 10.0, 500),
        privacy.Cell("C3", "C", 4.0, 4),
        privacy.Cell("C4", "C", 3.0, 3),  # two small cells in C: no extra needed
    ]
    hidden = privacy.primary(cells, 10)
    assert hidden == {"B5", "C3", "C4"}
    assert privacy.complementary(cells, hidden) == {"B4"}  # the smallest other number in B


def test_personal_or_local_texts_are_found_inside_longer_texts() -> None:
    from workbook.leaks import scan_parts

    for text in ("ann@example.com", "+44 20 7946 0000", "/home/ann/car", "C:\\Users\\ann\\car"):
        assert scan_parts({"x.xml": f"<t>Note: {text} (old)</t>".encode()}), text
    for text in (
        "2026-07-01",
        "Crown jewels",
        "r12:2026-06",
        "@SUM(1+1)",
        "metric catalog 1.1.0",
        "20000",
    ):
        assert not scan_parts({"x.xml": f"<t>{text}</t><v>{text}</v>".encode()}), text


# Proven from the bytes ------------------------------------------------------------------------

NUMBER = re.compile(r"<(?:c:)?v>(-?[\d.]+(?:[eE][-+]?\d+)?)</(?:c:)?v>")
# A cell and its attributes: t="s" marks a shared-string index, not a number.
CELL_VALUE = re.compile(r"<c ([^>]*)>(?:<f>[^<]*</f>)?<v>([^<]*)</v>")
NUM_CACHE = re.compile(r"<c:numCache>(.*?)</c:numCache>", re.S)


def numbers_in(path: Path) -> set[float]:
    """Every number stored anywhere in the file: number cells and the charts' number caches
    (shared-string indices and category labels are not numbers)."""
    found = set()
    for name, text in parts(path).items():
        if name.startswith("xl/worksheets/"):
            for attrs, value in CELL_VALUE.findall(text):
                if 't="' not in attrs or 't="n"' in attrs:
                    found.add(round(float(value), 6))
        elif name.startswith("xl/charts/"):
            for cache in NUM_CACHE.findall(text):
                found |= {round(float(v), 6) for v in NUMBER.findall(cache)}
    return found


_contents: dict[Path, list] = {}


def contents_for(source: Path) -> list:
    """The contents a snapshot of ``source`` is written from, before suppression (they do not
    depend on k: computed once per workbook and shared by every k tried)."""
    from workbook.book import FileBook, folder_setting
    from workbook.content import load_layout
    from workbook.definitions import cohort_definitions_content, definitions_content
    from workbook.macros import contents_of, extras_for

    if source not in _contents:
        book = FileBook(source)
        engine = QueryEngine.open(folder_setting(book, "PROFILER_CAR"))
        extras = extras_for(engine, folder_setting(book, "PROFILER_DATA"))
        contents, _ = contents_of(book, engine, load_layout(), extras)
        contents.append(definitions_content(engine, [m for c in contents for m in c.metrics]))
        contents.append(cohort_definitions_content(engine, "Cohort definitions"))
        _contents[source] = contents
    return _contents[source]


def hidden_and_shown(source: Path, k: int) -> tuple[set[float], set[float]]:
    """The values a snapshot at k must hide (computed on fewer than k customers, and their
    complements), and those it shows, from the same contents the snapshot is written from."""
    from workbook.suppression import suppress

    hidden, shown = set(), set()
    for content in contents_for(source):
        safe, _ = suppress(content, k)
        for before, after in zip(content.blocks, safe.blocks, strict=True):
            for column_before, column_after in zip(
                before.frame.reset_index(drop=True).items(), after.frame.items(), strict=True
            ):
                for a, b in zip(column_before[1], column_after[1], strict=True):
                    if isinstance(a, (int, float)) and not isinstance(a, bool) and a == a:
                        (hidden if isinstance(b, str) else shown).add(round(float(a), 6))
    return hidden, shown


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(k=st.sampled_from([3, 10, 25, 60, 150, 400]))
def test_no_hidden_value_anywhere_in_the_bytes(source: Path, tmp_path_factory, k: int) -> None:
    """Whatever the minimum, no value it hides is stored in any part of the file (cells,
    chart caches, tiles), and no table column holds a single hidden value.

    The scan for customers' names (over 1,500 names, half of a snapshot's time) is left out
    here: k changes only numbers and their marks, never a text, and the same snapshot with the
    scan is the ``snap`` fixture (test_no_personal_data_or_sender_paths,
    test_planted_personal_text_stops_the_snapshot)."""
    out = tmp_path_factory.mktemp("k") / f"k{k}.xlsx"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("workbook.snapshot._customer_names", lambda extras: [])
        report = snapshot(source, out, min_cohort_size=k)
    hidden, shown = hidden_and_shown(source, k)
    assert report.suppressed > 0 and hidden
    stored = numbers_in(out)
    leaked = (hidden - shown) & stored
    assert not leaked, sorted(leaked)[:10]
    wb = load_workbook(out)
    for ws in wb.worksheets[1:]:
        for table in ws.tables.values():
            cells = [[c.value for c in row] for row in ws[table.ref]][1:]
            for column in zip(*cells, strict=True):
                marks = [v for v in column if isinstance(v, str) and v.startswith("n<")]
                others = [v for v in column if v == COMPLEMENTARY]
                numbers = [v for v in column if isinstance(v, (int, float))]
                assert not (len(marks) + len(others) == 1 and numbers), (ws.title, table.name)


def test_charts_and_definitions_hold_no_small_value(source: Path, snap: Path) -> None:
    xml = parts(snap)
    charts = [n for n in xml if n.startswith("xl/charts/chart")]
    assert charts
    hidden, shown = hidden_and_shown(source, K)
    cached = set()
    for name in charts:
        for cache in NUM_CACHE.findall(xml[name]):
            cached |= {round(float(v), 6) for v in NUMBER.findall(cache)}
    assert cached and not (hidden - shown) & cached
    wb = load_workbook(snap)
    rows = list(wb["Cohort definitions"].iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if r and r[0] == "Cohort")
    sizes = [r[5] for r in rows[head + 1 :] if r and r[0]]
    assert privacy.mark(K) in sizes  # the demo has cohorts under 10
    assert all(s == privacy.mark(K) or s == COMPLEMENTARY or s >= K for s in sizes)


def test_marks_are_right_aligned_and_complements_told_apart(snap: Path) -> None:
    wb = load_workbook(snap)
    marks = [
        c
        for ws in wb.worksheets[1:]
        for row in ws.iter_rows()
        for c in row
        if c.value in (privacy.mark(K), COMPLEMENTARY)
    ]
    assert {c.value for c in marks} == {privacy.mark(K), COMPLEMENTARY}
    assert all(c.alignment.horizontal == "right" for c in marks)
    cover = {r[0]: r[1] for r in wb["Snapshot"].iter_rows(values_only=True) if r and r[0]}
    in_tables = {
        (ws.title, c.coordinate)
        for ws in wb.worksheets[1:]
        for table in ws.tables.values()
        for row in ws[table.ref]
        for c in row
    }
    primary = sum(  # a KPI tile repeats its table's cell: counted once, in the table
        c.value == privacy.mark(K) and (c.parent.title, c.coordinate) in in_tables for c in marks
    )
    assert cover[f"Shown as {privacy.mark(K)}"].startswith(f"{primary} values")
    assert cover["Minimum cohort size (k)"] == str(K)


def test_the_cover_prints_on_one_page(snap_pdf: Path) -> None:
    import subprocess

    pdf = snap_pdf
    first = subprocess.run(
        ["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    second = subprocess.run(
        ["pdftotext", "-layout", "-f", "2", "-l", "2", str(pdf), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "Customer Profiler snapshot" in first and "Metrics shown" in first
    assert "Customer Profiler — Summary" in second  # the next sheet starts on page 2
    assert "yellow" not in first.lower() and "Refresh" not in first


def test_planted_personal_text_stops_the_snapshot(source: Path, snap: Path) -> None:
    from workbook.leaks import refuse_leaks, scan_parts

    data = snap.read_bytes()
    refuse_leaks(data, [], "clean.xlsx")  # the demo snapshot: nothing found
    with pytest.raises(
        ProfilerError, match=r"^x\.xlsx: not written: .*xl/.*customer name 'Crown jewels'"
    ):
        refuse_leaks(data, ["Crown jewels"], "x.xlsx")  # as if a customer were named so
    planted = {
        "xl/tables/table3.xml": b'<table displayName="T"><tableColumn name="vip&#64;example.com"/></table>',
        "xl/charts/chart1.xml": b"<c:v>Country: +44 20 7946 0958</c:v>",
        "xl/comments1.xml": b"<t>see C:\\Users\\ann\\car</t>",
        "docProps/core.xml": b"<dc:creator>/home/ann</dc:creator>",
    }
    found = {(leak.part, leak.kind) for leak in scan_parts(planted)}
    assert found == {
        ("xl/tables/table3.xml", "e-mail address"),
        ("xl/charts/chart1.xml", "phone number"),
        ("xl/comments1.xml", "local path"),
        ("docProps/core.xml", "local path"),
    }
