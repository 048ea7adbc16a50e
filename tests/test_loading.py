"""Loading and validation: whole-file errors, row quarantine rules, defaults and counts."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.errors import ContractError, MissingColumns
from profiler.loading import load_sources
from tests.conftest import CUSTOMERS, ORDER_LINES, PRODUCTS, write_table

TODAY = "2026-11-22"


def _load(folder: Path):
    return load_sources(folder, today=TODAY)


def test_clean_sources_load_with_nothing_quarantined(source_dir: Path) -> None:
    source = _load(source_dir)
    assert len(source.quarantine) == 0
    lines = source.tables["order_lines"]
    assert len(lines) == 4
    assert lines["ordered_at"].dtype.kind == "M"
    assert lines["net_amount"].dtype == "float64"
    assert source.reports["order_lines"].rows_read == 4
    assert source.missing_tables() == [
        "interactions",
        "surveys",
        "preferences",
        "enrichment",
        "accounts",
        "ledger",
        "fx_rates",
        "journals",
        "targets",
        "campaigns",
    ]


def test_bare_four_column_export_runs_with_documented_defaults(tmp_path: Path) -> None:
    rows = [
        {"order_id": "A", "customer_id": "c1", "ordered_at": "2024-05-01", "net_amount": "10.5"},
        {"order_id": "A", "customer_id": "c1", "ordered_at": "2024-05-01", "net_amount": "4.5"},
        {"order_id": "B", "customer_id": "c2", "ordered_at": "2024-06-01", "net_amount": "99"},
    ]
    write_table(tmp_path, "order_lines", rows)
    source = _load(tmp_path)
    lines = source.tables["order_lines"]
    assert len(source.quarantine) == 0
    assert lines["line_id"].tolist() == [1, 2, 1]  # numbered within each order
    assert lines["quantity"].tolist() == [1, 1, 1]
    assert set(lines["status"]) == {"completed"}
    assert set(lines["currency"]) == {"GBP"}
    assert set(lines["channel"]) == {"unknown"}
    assert lines["fx_to_reporting"].tolist() == [1.0, 1.0, 1.0]
    assert lines["customer_id"].tolist() == ["c1", "c1", "c2"]
    assert "channel" in source.reports["order_lines"].defaulted_columns
    assert not source.has_column("order_lines", "channel")
    assert source.has_column("order_lines", "net_amount")
    assert "customers" in source.missing_tables()


# Whole-file problems: one line naming the file, the column and what was expected.
@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        ("no_order_lines", "no order_lines.csv or order_lines.parquet found"),
        (
            "missing_column",
            "order_lines.csv: required column 'net_amount' (did you mean 'net_amt'?) missing",
        ),
        (
            "uncoercible",
            "order_lines.csv: column 'net_amount' must hold a number, but none of its values can be read as one (row 1: 'lots')",
        ),
        ("unreadable", "order_lines.parquet: cannot be read"),
    ],
)
def test_whole_file_problems_stop_with_one_line(tmp_path: Path, mutate: str, expected: str) -> None:
    rows = copy.deepcopy(ORDER_LINES)
    if mutate == "missing_column":
        for row in rows:
            row["net_amt"] = row.pop("net_amount")
    if mutate == "uncoercible":
        for row in rows:
            row["net_amount"] = "lots"
    if mutate == "unreadable":
        (tmp_path / "order_lines.parquet").write_bytes(b"this is not parquet")
    elif mutate != "no_order_lines":
        write_table(tmp_path, "order_lines", rows)
    with pytest.raises(ContractError) as info:
        _load(tmp_path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    if mutate == "missing_column":
        assert isinstance(info.value, MissingColumns)


def test_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no such folder"):
        _load(tmp_path / "nowhere")


# Row problems: each rule quarantines the row with its reason; the rest still load.
@pytest.mark.parametrize(
    ("table", "row", "column", "value", "rule", "reason"),
    [
        ("order_lines", 0, "order_id", "", "empty", "order_id: required value is empty"),
        (
            "order_lines",
            1,
            "order_id, line_id",
            "1",
            "duplicate",
            "duplicate key (order_id, line_id) = (O1, 1); first seen at row 1",
        ),
        ("order_lines", 0, "quantity", "-1", "range", "negative quantity: expected ≥ 0, got -1"),
        ("order_lines", 0, "currency", "XYZ", "allowed", "unknown currency, got 'XYZ'"),
        (
            "order_lines",
            0,
            "ordered_at",
            "2031-01-01",
            "date",
            "ordered_at: date in the future (after 2026-11-22)",
        ),
        (
            "order_lines",
            0,
            "ordered_at",
            "1985-06-01",
            "date",
            "ordered_at: date before 1990-01-01",
        ),
        (
            "order_lines",
            0,
            "customer_id",
            "99",
            "reference",
            "customer_id not found in customers: '99'",
        ),
        (
            "order_lines",
            0,
            "product_id",
            "P404",
            "reference",
            "product_id not found in products: 'P404'",
        ),
        (
            "order_lines",
            1,
            "returned_at",
            "",
            "status",
            "status is 'returned' but returned_at is empty",
        ),
        (
            "order_lines",
            0,
            "returned_at",
            "2024-02-05",
            "status",
            "returned_at is set but status is 'completed'",
        ),
        (
            "order_lines",
            1,
            "returned_at",
            "2024-01-01",
            "status",
            "returned_at is before ordered_at",
        ),
        (
            "order_lines",
            0,
            "net_amount",
            "12,00x",
            "type",
            "net_amount: expected a number, got '12,00x'",
        ),
        (
            "order_lines",
            0,
            "status",
            "shipped",
            "allowed",
            "status: expected one of completed, cancelled, returned, got 'shipped'",
        ),
        (
            "order_lines",
            0,
            "quantity",
            "1.5",
            "type",
            "quantity: expected a whole number, got '1.5'",
        ),
        ("customers", 2, "customer_id", "", "empty", "customer_id: required value is empty"),
        (
            "customers",
            1,
            "created_at",
            "yesterday",
            "type",
            "created_at: expected a date-time (ISO 8601), got 'yesterday'",
        ),
        ("products", 1, "category", "toys", "allowed", "category: expected one of leather goods"),
    ],
)
def test_row_rules_quarantine_with_reason(
    tmp_path: Path, table: str, row: int, column: str, value: str, rule: str, reason: str
) -> None:
    tables = {
        "customers": copy.deepcopy(CUSTOMERS),
        "products": copy.deepcopy(PRODUCTS),
        "order_lines": copy.deepcopy(ORDER_LINES),
    }
    if rule == "duplicate":
        tables[table][row]["order_id"] = "O1"
        tables[table][row]["line_id"] = "1"
    else:
        tables[table][row][column] = value
    for name, rows in tables.items():
        write_table(tmp_path, name, rows)
    source = _load(tmp_path)
    bad = source.quarantine[source.quarantine["table"] == table]
    assert bad["row"].tolist()[:1] == [row + 1]
    first = bad.iloc[0]
    assert first["rule"] == rule
    assert first["column"] == column
    assert first["file"] == f"{table}.csv"
    assert reason in first["reason"]
    report = source.reports[table]
    assert report.rows_read == report.accepted + report.quarantined


def test_orphans_of_a_quarantined_customer_are_quarantined_too(tmp_path: Path) -> None:
    customers = copy.deepcopy(CUSTOMERS)
    customers[0]["created_at"] = "1970-01-01"
    write_table(tmp_path, "customers", customers)
    write_table(tmp_path, "order_lines", ORDER_LINES)
    source = _load(tmp_path)
    lines = source.quarantine[source.quarantine["table"] == "order_lines"]
    assert lines["row"].tolist() == [1, 2]
    assert (lines["rule"] == "reference").all()


def test_allowed_values_match_case_insensitively(tmp_path: Path) -> None:
    rows = copy.deepcopy(ORDER_LINES)
    rows[0]["channel"] = " Store "
    rows[2]["currency"] = "eur"
    write_table(tmp_path, "order_lines", rows)
    source = _load(tmp_path)
    assert len(source.quarantine) == 0
    lines = source.tables["order_lines"]
    assert lines["channel"].iloc[0] == "store"
    assert lines["currency"].iloc[2] == "EUR"


_cell = st.one_of(st.just(""), st.text(alphabet="0123456789-.:TXaz ", max_size=12))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "order_id": st.sampled_from(["A", "B", "C", ""]),
                "line_id": st.sampled_from(["1", "2", "x"]),
                "customer_id": st.sampled_from(["1", "2", "9", ""]),
                "ordered_at": st.one_of(
                    st.sampled_from(["2024-01-01", "2030-01-01", "1980-01-01"]), _cell
                ),
                "net_amount": st.one_of(st.sampled_from(["10", "-5", "abc"]), _cell),
                "quantity": st.sampled_from(["1", "-1", "2.5", ""]),
                "status": st.sampled_from(["completed", "returned", "cancelled", "lost"]),
                "returned_at": st.sampled_from(["", "2024-02-01", "2023-01-01"]),
            }
        ),
        min_size=1,
        max_size=25,
    )
)
def test_rows_read_equal_accepted_plus_quarantined(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict]
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    rows = [{**r, "ordered_at": r["ordered_at"] or "2024-01-01"} for r in rows]
    rows[0] = {
        **rows[0],
        "net_amount": "10",
        "ordered_at": "2024-01-01",
        "order_id": "Z",
        "customer_id": "1",
        "line_id": "1",
    }
    write_table(folder, "customers", CUSTOMERS[:2])
    write_table(folder, "order_lines", rows)
    try:
        source = _load(folder)
    except ContractError:
        return  # a whole column unreadable is a whole-file error, not a row count
    for report in source.reports.values():
        assert report.rows_read == report.accepted + report.quarantined
    lines = source.tables["order_lines"]
    assert len(lines) + len(source.quarantine[source.quarantine["table"] == "order_lines"]) == len(
        rows
    )
    # every quarantined row names its reason, and no accepted row is also quarantined
    assert source.quarantine["reason"].str.len().gt(0).all()
    assert not set(lines["_row"]) & set(source.quarantine["row"])
    assert pd.Series(lines["_row"]).is_unique


def test_a_quoted_line_break_is_one_record_in_both_readers(tmp_path: Path) -> None:
    """A quoted value holding CR LF or LF stays one value: rows read equal the file's records,
    whole or streamed in batches; spaces after a delimiter are stripped like before."""
    from profiler.loading import read_table_batches, read_table_file

    folder = tmp_path / "data"
    folder.mkdir()
    text = (
        "order_id,customer_id,ordered_at,net_amount,store_id\r\n"
        'O1,C1,2024-01-05,12.50,"Bond St\r\nLondon"\r\n'
        'O2, C2,2024-01-06, 8.00,"Rue\nParis"\r\n'
        "O3,C1,2024-02-01,3.25,S3\r\n"
    )
    (folder / "order_lines.csv").write_bytes(text.encode())
    whole = read_table_file(folder / "order_lines.csv")
    assert len(whole) == 3 and whole["store_id"].iloc[0] == "Bond St\r\nLondon"
    assert [len(f) for f in read_table_batches(folder / "order_lines.csv", 2)] == [2, 1]
    source = load_sources(folder, today="2025-01-01")
    lines = source.tables["order_lines"].sort_values("order_id")
    assert len(lines) == 3 and source.quarantine.empty
    assert lines["customer_id"].tolist() == ["C1", "C2", "C1"]
    assert lines["net_amount"].tolist() == [12.5, 8.0, 3.25]
