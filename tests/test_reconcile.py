"""Reconciliation to the ledger: the demo ties out, a tampered ledger fails naming the cell, and
the reconciling items are right on a month worked by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from profiler.catalog import load_catalog
from profiler.demo import generate_demo
from profiler.loading import load_sources
from profiler.reconcile import parse_months, reconcile
from tests.conftest import write_table
from workbook.cli import main


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recon")
    generate_demo(800, 3, folder)
    return folder


def test_demo_ledger_reconciles_with_every_difference_explained(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reconcile", "--data", str(demo_dir), "--from", "2024-01", "--to", "2024-12"]) == 0
    out = capsys.readouterr().out
    assert "every difference is explained within tolerance" in out
    result = reconcile(load_sources(demo_dir), load_catalog())
    table = result.table
    assert result.passed and len(table["period"].unique()) == 48
    # the items do the explaining, to the penny: Finance books each line in pence, as we do
    assert table["difference"].abs().max() > 100
    assert (table["residual"] == 0).all()
    for item in ("returns_timing", "late_cancellations", "fx", "journals"):
        assert table[item].abs().sum() > 0, item


def test_a_tampered_ledger_cell_fails_and_is_named(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for file in demo_dir.iterdir():
        (tmp_path / file.name).write_bytes(file.read_bytes())
    ledger = pd.read_parquet(tmp_path / "ledger.parquet")
    row = ledger[(ledger["period"] == "2024-11") & (ledger["channel"] == "web")].index[0]
    category = ledger.loc[row, "category"]
    ledger.loc[row, "net_sales"] += 5_000
    ledger.to_parquet(tmp_path / "ledger.parquet", index=False)
    code = main(["reconcile", "--data", str(tmp_path), "--period", "2024-11"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"FAIL 2024-11 web / {category} net_sales" in err
    assert "unexplained 5,000.00" in err
    assert err.count("FAIL") == 1
    assert main(["reconcile", "--data", str(tmp_path), "--period", "2024-11", "--json"]) == 1
    cells = json.loads(capsys.readouterr().out)["cells"]
    failed = [c for c in cells if c["status"] == "fail"]
    assert [(c["period"], c["channel"], c["category"]) for c in failed] == [
        ("2024-11", "web", category)
    ]


def _worked_example(tmp_path: Path) -> None:
    """November 2024, web, fragrance: one EUR line kept (100 EUR at 0.85 that day), one returned
    in December (50 EUR), one cancelled on the 30th (last day: booked, reversed in December).
    The month's booking rate is 0.86; a journal adds 10."""
    lines = [
        _line("A", "2024-11-05T10:00:00", 100, "completed"),
        _line("B", "2024-11-10T10:00:00", 50, "returned", "2024-12-02T10:00:00"),
        _line("C", "2024-11-30T18:00:00", 20, "cancelled"),
    ]
    write_table(tmp_path, "customers", [{"customer_id": "1", "created_at": "2024-01-01"}])
    write_table(
        tmp_path,
        "products",
        [{"product_id": "P", "category": "fragrance", "price_point": "entry"}],
    )
    write_table(tmp_path, "order_lines", lines)
    write_table(
        tmp_path,
        "fx_rates",
        [
            {"period": "2024-11", "currency": "EUR", "rate": "0.86"},
            {"period": "2024-12", "currency": "EUR", "rate": "0.90"},
        ],
    )
    write_table(
        tmp_path,
        "journals",
        [
            {
                "journal_id": "J1",
                "period": "2024-11",
                "channel": "web",
                "category": "fragrance",
                "amount": "10",
            }
        ],
    )
    # Finance: Nov = (100 + 50) x 0.86 + 20 x 0.86 (late cancellation) + 10 = 156.2
    #          Dec = -20 x 0.86 (reversal) - 50 x 0.90 (return) = -62.2; returns 45
    write_table(
        tmp_path,
        "ledger",
        [
            {
                "period": "2024-11",
                "channel": "web",
                "category": "fragrance",
                "net_sales": "156.2",
                "returns": "0",
            },
            {
                "period": "2024-12",
                "channel": "web",
                "category": "fragrance",
                "net_sales": "-62.2",
                "returns": "45",
            },
        ],
    )


def test_reconciling_items_worked_by_hand(tmp_path: Path) -> None:
    _worked_example(tmp_path)
    table = reconcile(load_sources(tmp_path), load_catalog()).table.set_index(["period", "measure"])
    nov, dec = table.loc[("2024-11", "net_sales")], table.loc[("2024-12", "net_sales")]
    assert nov["profiler"] == pytest.approx(85.0)  # 100 x 0.85: the kept line only
    assert nov["returns_timing"] == pytest.approx(42.5)  # 50 x 0.85 ordered, returned since
    assert nov["late_cancellations"] == pytest.approx(17.2)  # 20 x 0.86
    assert nov["fx"] == pytest.approx(150 * (0.86 - 0.85))
    assert nov["journals"] == pytest.approx(10.0)
    assert nov["residual"] == pytest.approx(0.0, abs=1e-9)
    assert dec["profiler"] == 0
    assert dec["returns_timing"] == pytest.approx(-42.5)  # the return booked in December
    assert dec["late_cancellations"] == pytest.approx(-17.2)
    assert dec["fx"] == pytest.approx(-50 * (0.90 - 0.85))
    assert dec["residual"] == pytest.approx(0.0, abs=1e-9)
    returns = table.loc[("2024-12", "returns")]
    assert returns["profiler"] == pytest.approx(42.5) and returns["residual"] == pytest.approx(0.0)


def test_a_month_alone_reads_the_lines_of_the_month_before(tmp_path: Path) -> None:
    """December reconciled alone reads November's lines too (the late cancellation it reverses,
    the November line returned in it): its rows equal December's of both months together."""
    _worked_example(tmp_path)
    source, catalog = load_sources(tmp_path), load_catalog()
    both = reconcile(source, catalog).table
    alone = reconcile(source, catalog, parse_months(None, "2024-12", "2024-12")).table
    december = both[both["period"] == "2024-12"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, december)
    assert alone.set_index("measure").loc["net_sales", "late_cancellations"] == pytest.approx(-17.2)


def _line(order: str, at: str, amount: float, status: str, returned_at: str = "") -> dict:
    return {
        "order_id": order,
        "line_id": "1",
        "customer_id": "1",
        "ordered_at": at,
        "channel": "web",
        "product_id": "P",
        "quantity": "1",
        "net_amount": str(amount),
        "currency": "EUR",
        "fx_to_reporting": "0.85",
        "status": status,
        "returned_at": returned_at,
    }


def test_usage_errors_are_one_line(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reconcile", "--data", str(demo_dir), "--period", "2024-13"]) == 2
    assert "Period '2024-13' has month 13" in capsys.readouterr().err
    assert main(["reconcile", "--data", str(demo_dir), "--from", "2024-05"]) == 1
    assert "Give both --from and --to" in capsys.readouterr().err


def test_the_summary_shows_money_in_pence_and_periods_outside_the_data_say_so(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reconcile", "--data", str(demo_dir), "--period", "2024-11"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith("2024-11")]
    assert len(rows) == 2  # net_sales and returns
    for row in rows:
        cells = row.split()[2:]  # period, measure, then eight amounts
        assert len(cells) == 8 and all(re.fullmatch(r"-?\d{1,3}(,\d{3})*\.\d\d", c) for c in cells)
    # wholly after the data's end (no table can be made), and before the ledger begins
    for period in ("2030", "2030-Q2", "2010-03"):
        assert main(["reconcile", "--data", str(demo_dir), "--period", period]) == 0
        assert capsys.readouterr().out == f"no data in {period}\n"
    assert main(["reconcile", "--data", str(demo_dir), "--from", "2030-01", "--to", "2030-02"]) == 0
    assert capsys.readouterr().out == "no data in 2030-01 to 2030-02\n"
    # machines get the empty table as usual, and the line on stderr
    for period in ("2030", "2010"):
        assert main(["reconcile", "--data", str(demo_dir), "--period", period, "--json"]) == 0
        said = capsys.readouterr()
        assert json.loads(said.out)["cells"] == [] and said.err.endswith(f"no data in {period}\n")
