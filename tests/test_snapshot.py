"""Snapshots of the demo workbook: values only, nothing personal, small cells suppressed, same
numbers as the source in LibreOffice, optionally encrypted."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import msoffcrypto
import pytest
from msoffcrypto.exceptions import DecryptionError, InvalidKeyError
from openpyxl import load_workbook

from profiler import privacy
from profiler.errors import ProfilerError
from profiler.query import QueryEngine
from tests import libreoffice
from workbook.builder import build_workbook
from workbook.cli import main
from workbook.snapshot import snapshot

K = 10


@pytest.fixture(scope="module")
def source(demo_car_dir: Path, demo_source, tmp_path_factory) -> Path:
    engine = QueryEngine.open(demo_car_dir)
    out = tmp_path_factory.mktemp("snap-src") / "Customer_Profiler.xlsm"
    return build_workbook(engine, out, data_dir=demo_source.data_dir)


@pytest.fixture(scope="module")
def snap(source: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("snap") / "profiler snapshot.xlsx"
    report = snapshot(source, out)
    assert report.suppressed > 0 and report.size < 1_000_000
    return out


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
    assert "xl/vbaProject.bin" not in xml
    assert not any(n.startswith(("xl/externalLinks", "xl/connections")) for n in xml)
    sheets = [n for n in xml if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)]
    assert sheets and all("<f>" not in xml[n] and "<f " not in xml[n] for n in sheets)
    workbook = xml["xl/workbook.xml"]
    assert "xlwings.conf" not in workbook and '"Lists"' not in workbook and "hidden" not in workbook
    assert "macroEnabled" not in xml["[Content_Types].xml"] and "definedName" not in workbook
    assert not any("vmlDrawing" in n for n in xml)  # the macro buttons are gone
    assert "small_cells" not in xml["xl/sharedStrings.xml"]  # no text of the dropped sheets
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


def test_libreoffice_shows_the_source_numbers(source: Path, snap: Path, tmp_path: Path) -> None:
    pdf = libreoffice.pdf_text(libreoffice.convert(snap, "pdf", tmp_path))
    assert "Customer Profiler snapshot" in pdf and privacy.mark(K) in pdf
    shown = load_workbook(libreoffice.convert(snap, "xlsx", tmp_path / "x"), data_only=True)
    original = load_workbook(source, data_only=True)
    compared = 0
    for sheet in ("Summary", "Compare", "Executive", "Potential Value"):
        for row in original[sheet].iter_rows():
            for cell in row:
                if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                    seen = shown[sheet][cell.coordinate].value
                    if seen != privacy.mark(K):
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
    for name in ("Summary", "Executive"):
        assert [[c for c in r] for r in opened[name].iter_rows(values_only=True)] == [
            [c for c in r] for r in reference[name].iter_rows(values_only=True)
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


def test_personal_or_local_texts() -> None:
    for text in ("ann@example.com", "+44 20 7946 0000", "/home/ann/car", "C:\\Users\\ann\\car"):
        assert privacy.personal_or_local(text)
    for text in ("2026-07-01", "Crown jewels", "r12:2026-06", "@SUM(1+1)", "metric catalog 1.1.0"):
        assert not privacy.personal_or_local(text)
