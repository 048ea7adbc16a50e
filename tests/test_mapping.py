"""A typical e-commerce invoice export (InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
UnitPrice, CustomerID, Country; credit notes for returns, guest lines without a customer) goes
from the raw file to a workbook with one mapping.yaml; the mapping's mistakes are one line each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from profiler.errors import ContractError
from profiler.loading import load_sources
from workbook.cli import main

FIXTURE = Path(__file__).parent / "data" / "invoices"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(FIXTURE, folder)
    return folder


def test_suggest_mapping_reads_the_invoice_headers(export: Path, capsys) -> None:
    (export / "mapping.yaml").unlink()
    assert main(["validate", "--data", str(export), "--suggest-mapping"]) == 0
    said = capsys.readouterr().out
    for line in [
        "order_lines:",
        "  file: invoices.csv",
        "    order_id: InvoiceNo",
        "    customer_id: CustomerID",
        "    ordered_at: InvoiceDate",
        "    product_id: StockCode",
        "    net_amount: Quantity * UnitPrice",
        "  # credit_notes: {order_prefix: C}",
    ]:
        assert line in said.splitlines(), line


def test_credit_notes_become_returned_lines_and_guests_are_quarantined(export: Path) -> None:
    source = load_sources(export, today="2012-01-01")
    report = source.reports["order_lines"]
    assert (report.rows_read, report.accepted, report.quarantined) == (53, 50, 3)
    assert set(source.quarantine["column"]) == {"customer_id"}
    lines = source.tables["order_lines"]
    credit = lines[lines["order_id"].astype(str).str.startswith("C")]
    assert len(credit) == 3 and (credit["status"] == "returned").all()
    assert (credit["returned_at"] == credit["ordered_at"]).all()
    assert (credit["net_amount"] > 0).all() and (credit["quantity"] > 0).all()
    sale = lines[lines["order_id"].astype(str) == "536365"]
    assert sorted(sale["net_amount"].round(2)) == [5.1, 84.15]  # 2 x 2.55, 11 x 7.65
    assert sale["ordered_at"].iloc[0].strftime("%Y-%m-%d %H:%M") == "2010-12-03 16:31"


def test_from_raw_export_to_a_workbook_with_numbers(export: Path, tmp_path: Path) -> None:
    car, book = tmp_path / "car", tmp_path / "book.xlsm"
    assert main(["build", "--data", str(export), "--out", str(car)]) == 0
    assert main(["workbook", "--car", str(car), "--data", str(export), "--out", str(book)]) == 0
    rows = list(load_workbook(book, read_only=True)["Summary"].iter_rows(values_only=True))
    numbers = [v for row in rows for v in row if isinstance(v, (int, float)) and v]
    assert len(numbers) > 10


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("CustomerID", "CustomerId"), "mapping.yaml:6: invoices.csv has no column 'CustomerId'"),
        (
            ("    customer_id:", "    customer_ids:"),
            "'customer_ids' is not a column of order_lines",
        ),
        (("  credit_notes:", "  credit_note:"), "unknown section 'credit_note'"),
        (("Quantity * UnitPrice", "Quantity * "), "mapping.yaml:"),
    ],
)
def test_a_wrong_mapping_is_one_line(export: Path, edit, expected: str, capsys) -> None:
    path = export / "mapping.yaml"
    path.write_text(path.read_text().replace(*edit, 1))
    with pytest.raises(ContractError) as err:
        load_sources(export, today="2012-01-01")
    message = str(err.value)
    assert expected in message and "\n" not in message and "mapping.yaml" in message
    assert main(["validate", "--data", str(export)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "mapping.yaml:" in errors[0]


def test_returns_as_negative_quantity_lines(export: Path) -> None:
    """Without credit-note numbers, a line of a negative quantity is the return."""
    path = export / "mapping.yaml"
    path.write_text(path.read_text().replace("order_prefix: C", "negative_quantity: true"))
    text = (export / "invoices.csv").read_text().replace("\nC", "\n")  # plain invoice numbers
    (export / "invoices.csv").write_text(text)
    lines = load_sources(export, today="2012-01-01").tables["order_lines"]
    returned = lines[lines["status"] == "returned"]
    assert len(returned) == 3 and (returned["quantity"] > 0).all()
    assert (returned["returned_at"] == returned["ordered_at"]).all()
