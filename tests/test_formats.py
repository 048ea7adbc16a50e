"""Exports as retailers write them: dialects, encodings, compressed files, dates, amounts and
null words, each read to the same order lines as the plain file (or refused in one line)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from profiler.errors import ContractError
from profiler.loading import load_sources
from profiler.readers import sniff

HEADER = ["order_id", "customer_id", "ordered_at", "net_amount"]
ROWS = [("O1", "Cé1", "2024-01-05", "1234.50"), ("O2", "C2", "2024-01-13", "8.00")]
WANT_AMOUNTS = [1234.5, 8.0]
WANT_DAYS = [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-13")]


def export(folder: Path, text: str, encoding: str = "utf-8", name: str = "order_lines.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    data = text.encode(encoding)
    if name.endswith(".gz"):
        data = gzip.compress(data)
    (folder / name).write_bytes(data)
    return load_sources(folder, today="2025-01-01")


def lines(source) -> pd.DataFrame:
    return source.tables["order_lines"].sort_values("order_id").reset_index(drop=True)


def table(delimiter: str = ",", decimal: str = ".", bom: str = "") -> str:
    rows = [delimiter.join(HEADER)]
    for order, customer, day, amount in ROWS:
        amount = amount.replace(".", decimal)
        if decimal == ",":
            amount = amount.replace("1234", "1.234")
        rows.append(delimiter.join([order, customer, day, amount]))
    return bom + "\r\n".join(rows) + "\r\n"


CASES = {
    "comma, utf-8": (table(), "utf-8", ("utf-8", ",", ".")),
    "semicolon, decimal comma (Excel in Europe)": (table(";", ","), "utf-8", ("utf-8", ";", ",")),
    "tab": (table("\t"), "utf-8", ("utf-8", "\t", ".")),
    "pipe": (table("|"), "utf-8", ("utf-8", "|", ".")),
    "utf-8 with a byte-order mark": (table(bom="\ufeff"), "utf-8", ("utf-8", ",", ".")),
    "utf-16 with a byte-order mark": (table(), "utf-16", ("utf-16", ",", ".")),
    "cp1252 (Windows)": (table(), "cp1252", ("cp1252", ",", ".")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_dialects_and_encodings_read_the_same_lines(case: str, tmp_path: Path) -> None:
    text, encoding, dialect = CASES[case]
    source = export(tmp_path / "data", text, encoding)
    assert tuple(vars(sniff(tmp_path / "data" / "order_lines.csv")).values()) == dialect
    got = lines(source)
    assert source.quarantine.empty
    assert got["customer_id"].tolist() == ["Cé1", "C2"]
    assert got["net_amount"].tolist() == WANT_AMOUNTS
    assert got["ordered_at"].tolist() == WANT_DAYS


def test_a_gzipped_export(tmp_path: Path) -> None:
    got = lines(export(tmp_path / "data", table(";", ","), name="order_lines.csv.gz"))
    assert got["net_amount"].tolist() == WANT_AMOUNTS


def test_day_first_and_month_first_dates_when_the_column_proves_it(tmp_path: Path) -> None:
    head = ",".join(HEADER) + "\n"
    day_first = lines(export(tmp_path / "a", head + "O1,C1,05/01/2024,1\nO2,C2,13/01/2024,2\n"))
    assert day_first["ordered_at"].tolist() == WANT_DAYS
    month_first = lines(export(tmp_path / "b", head + "O1,C1,01/05/2024,1\nO2,C2,01/13/2024,2\n"))
    assert month_first["ordered_at"].tolist() == WANT_DAYS
    with pytest.raises(ContractError) as err:
        export(tmp_path / "c", head + "O1,C1,05/01/2024,1\nO2,C2,06/01/2024,2\n")
    message = str(err.value)
    assert "column 'ordered_at'" in message and "'05/01/2024'" in message
    assert "YYYY-MM-DD" in message and "\n" not in message


def test_offsets_are_normalised_to_utc(tmp_path: Path) -> None:
    text = (
        ",".join(HEADER)
        + "\n"
        + (
            "O1,C1,2024-01-05T10:00:00+01:00,1\nO2,C2,2024-01-05T10:00:00Z,2\nO3,C3,2024-01-05T10:00:00,3\n"
        )
    )
    got = lines(export(tmp_path / "data", text))["ordered_at"].tolist()
    assert got == [pd.Timestamp("2024-01-05 09:00"), *[pd.Timestamp("2024-01-05 10:00")] * 2]


def test_amounts_written_for_people(tmp_path: Path) -> None:
    text = (
        ",".join(HEADER)
        + "\n"
        + ('O1,C1,2024-01-05,"£1,234.50"\nO2,C2,2024-01-13,8.00 GBP\nO3,C3,2024-01-13,"1,23,4"\n')
    )
    source = export(tmp_path / "data", text)
    assert lines(source)["net_amount"].tolist() == WANT_AMOUNTS
    quarantined = source.quarantine
    assert quarantined["row"].tolist() == [3] and "net_amount" in quarantined["reason"].iloc[0]


def test_null_words_and_non_finite_amounts_are_quarantined(tmp_path: Path) -> None:
    text = (
        ",".join(HEADER)
        + "\n"
        + (
            "O1,NULL,2024-01-05,1\nO2,N/A,2024-01-06,2\nO3,-,2024-01-07,3\nO4,C4,2024-01-08,NaN\n"
            "O5,C5,2024-01-09,inf\nO6,C6,2024-01-10,-Infinity\nO7,C7,2024-01-11,7\n"
        )
    )
    source = export(tmp_path / "data", text)
    assert lines(source)["order_id"].tolist() == ["O7"]
    reasons = source.quarantine.set_index("row")["reason"]
    assert sorted(reasons.index) == [1, 2, 3, 4, 5, 6]
    assert all("customer_id" in reasons[r] for r in (1, 2, 3))
    assert all("net_amount" in reasons[r] for r in (4, 5, 6))
    counts = source.reports["order_lines"]
    assert (counts.rows_read, counts.accepted, counts.quarantined) == (7, 1, 6)


def test_an_xlsx_export_with_dates_as_dates_and_as_serial_numbers(tmp_path: Path) -> None:
    """The first sheet of an .xlsx: ids and amounts as numbers, one order's date a date cell,
    the other's a serial number (days since 1899-12-30), as exports from Excel hold them."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(["O1", "Cé1", pd.Timestamp("2024-01-05").to_pydatetime(), 1234.5])
    sheet.append(["O2", 2, 45304.0, 8])  # 2024-01-13 as Excel's serial number
    (tmp_path / "data").mkdir()
    book.save(tmp_path / "data" / "order_lines.xlsx")
    source = load_sources(tmp_path / "data", today="2025-01-01")
    got = lines(source)
    assert source.quarantine.empty
    assert got["customer_id"].astype(str).tolist() == ["Cé1", "2"]
    assert got["net_amount"].tolist() == WANT_AMOUNTS
    assert got["ordered_at"].tolist() == WANT_DAYS


def test_what_the_user_sets_wins(tmp_path: Path, capsys) -> None:
    """--date-format reads dates the file cannot prove; --delimiter, --decimal and --encoding
    override detection; --xlsx-sheet picks a sheet; the next run tells from the files again."""
    from openpyxl import Workbook

    from workbook.cli import main

    head = ",".join(HEADER) + "\n"
    ambiguous = tmp_path / "ambiguous"
    ambiguous.mkdir()
    (ambiguous / "order_lines.csv").write_text(head + "O1,C1,05/01/2024,1\nO2,C2,06/01/2024,2\n")
    assert main(["validate", "--data", str(ambiguous), "--out", str(tmp_path / "o")]) == 1
    assert "--date-format" in capsys.readouterr().err
    args = ["validate", "--data", str(ambiguous), "--out", str(tmp_path / "o")]
    assert main([*args, "--date-format", "%d/%m/%Y"]) == 0
    assert "order_lines.csv          2         2            0" in capsys.readouterr().out
    spaced = tmp_path / "spaced"
    spaced.mkdir()
    (spaced / "order_lines.csv").write_text(head.replace(",", ";") + "O1;C1;2024-01-05;1,5\n")
    assert (
        main(
            [
                "validate",
                "--data",
                str(spaced),
                "--out",
                str(tmp_path / "o"),
                "--delimiter",
                "semicolon",
                "--decimal",
                ",",
            ]
        )
        == 0
    )
    assert "semicolon-separated, decimal comma" in capsys.readouterr().err
    book = Workbook()
    book.active.title = "Notes"
    book.active.append(["nothing here"])
    orders = book.create_sheet("Orders")
    orders.append(HEADER)
    orders.append(["O1", "C1", "2024-01-05", 3])
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    book.save(sheets / "order_lines.xlsx")
    args = ["validate", "--data", str(sheets), "--out", str(tmp_path / "o")]
    assert main([*args, "--xlsx-sheet", "Orders"]) == 0
    assert main([*args, "--xlsx-sheet", "Sales"]) == 1
    assert "no sheet 'Sales'" in capsys.readouterr().err
    assert main(args) == 1  # the first sheet has no order lines: the default is back
