"""Spark reads and validates the sources (profiler/spark_intake.py) as load_sources does: same
counts, same quarantine rows and reasons, same accepted rows and values; the order lines come
back from their customer buckets in file order.

Tables are validated in several partitions here, so duplicates, line numbering and the types
of id columns cross batch boundaries.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler.errors import ContractError
from profiler.loading import load_sources, type_name
from profiler.spark_intake import read_bucket, read_staged, stage_with_spark, staged_types
from tests.conftest import CUSTOMERS, ORDER_LINES, PRODUCTS, SPARK_TEST_CONFIG, write_table

pytestmark = pytest.mark.spark

TODAY = "2026-11-22"
BUCKETS = 4


@pytest.fixture(scope="module")
def spark():
    from profiler.spark_session import SparkUnavailable, _shared_session

    try:
        return _shared_session("local[2]", "profiler-tests", dict(SPARK_TEST_CONFIG))
    except SparkUnavailable as exc:
        pytest.skip(f"Spark is not available: {exc}")


def intake(spark, folder: Path, stage: Path, partitions: int = 3, buckets: int | None = BUCKETS):  # noqa: ANN001, ANN201
    return stage_with_spark(
        spark, folder, stage, today=TODAY, buckets=buckets, partitions=partitions
    )


def _dtypes(frame: pd.DataFrame) -> list[str]:
    """Column types; text ids are 'object' or 'str' in the loader's frame (pandas makes them
    'str' when the loader regroups the lines by customer), the same values either way."""
    return [{"str": "object"}.get(str(t), str(t)) for t in frame.dtypes]


def assert_same_load(expected, got, stage: Path, buckets: int = BUCKETS) -> None:  # noqa: ANN001
    """Same reports, same quarantine, same side tables; the order lines read back bucket by
    bucket are the loader's, in file order, with the loader's values and types."""
    counts = {
        k: (r.rows_read, r.accepted, r.quarantined, r.defaulted_columns, r.ignored_columns)
        for k, r in expected.reports.items()
    }
    assert {
        k: (r.rows_read, r.accepted, r.quarantined, r.defaulted_columns, r.ignored_columns)
        for k, r in got.reports.items()
    } == counts
    pd.testing.assert_frame_equal(
        got.quarantine.astype(str).reset_index(drop=True),
        expected.quarantine.astype(str).reset_index(drop=True),
    )
    assert set(got.tables) == set(expected.tables) - {"order_lines"}
    for name, frame in got.tables.items():
        pd.testing.assert_frame_equal(
            frame, expected.tables[name], check_categorical=False, obj=name
        )
        written = read_staged(stage, name)
        pd.testing.assert_frame_equal(written, frame, check_categorical=False, obj=name)
    want = expected.tables["order_lines"].sort_values("_row").reset_index(drop=True)
    buckets = [read_bucket(stage, "order_lines", b) for b in range(buckets)]
    for part in buckets:
        assert part["_row"].is_monotonic_increasing
        assert list(part.columns) == list(want.columns)
        assert _dtypes(part) == _dtypes(want)
    # Buckets hold disjoint, rising ranges of customer ids.
    ranges = [(p["customer_id"].min(), p["customer_id"].max()) for p in buckets if len(p)]
    assert all(high < low for (_, high), (low, _) in zip(ranges, ranges[1:], strict=False))
    lines = pd.concat(buckets, ignore_index=True).sort_values("_row").reset_index(drop=True)
    for column in want.columns:
        pd.testing.assert_series_equal(
            lines[column].astype(object), want[column].astype(object), obj=column
        )
        if column != "_row":
            assert got.column_type("order_lines", column) == type_name(want[column].dtype)
    for column in ("ordered_at", "returned_at"):
        if want[column].notna().any():
            assert got.latest("order_lines", column) == want[column].max()
    assert got.staged["order_lines"].parts


def test_demo_sources_intake_as_they_load(spark, demo_source, tmp_path: Path) -> None:
    """Every demo table (Parquet) read by Spark and validated in 4 partitions; the buckets are
    staging's (one batch here: the same edges), so the out-of-core build's bucket sources are
    the same from either."""
    from profiler.outofcore import bucket_source, plan_buckets
    from profiler.staging import stage_sources

    stage = tmp_path / "stage"
    got = intake(spark, demo_source.data_dir, stage, partitions=4, buckets=None)
    assert_same_load(demo_source, got, stage, buckets=16)
    assert len(got.staged["order_lines"].parts) == 16
    assert len(staged_types(stage / "order_lines")["edges"]) == 15
    staged = stage_sources(demo_source.data_dir, tmp_path / "staged", today=TODAY)
    np.testing.assert_array_equal(
        got.staged["order_lines"].edges, staged.staged["order_lines"].edges
    )
    ours = plan_buckets(got, TODAY, None, tmp_path / "side-ours")
    theirs = plan_buckets(staged, TODAY, None, tmp_path / "side-theirs")
    for b in range(0, 16, 5):
        mine, wanted = bucket_source(ours, b).tables, bucket_source(theirs, b).tables
        assert set(mine) == set(wanted)
        for name, frame in wanted.items():
            pd.testing.assert_frame_equal(mine[name], frame, check_categorical=False, obj=name)


def _line(order: str, line: str, customer: str = "1", **cells: str) -> dict:
    row = {**ORDER_LINES[0], "order_id": order, "line_id": line, "customer_id": customer}
    return {**row, **cells}


@pytest.fixture
def bad_rows(tmp_path: Path) -> Path:
    """The loader's row rules (tests/test_loading.py), all in one CSV folder: every rule, a
    duplicate of an accepted row, of a quarantined row and a bad repeat of a bad row, across
    partitions; a quarantined customer's lines; values matched case-insensitively."""
    folder = tmp_path / "data"
    customers = copy.deepcopy(CUSTOMERS)
    customers[2]["created_at"] = "yesterday"  # customer 3 quarantined: its lines are orphans
    customers.append({**CUSTOMERS[0], "customer_id": ""})
    products = [*PRODUCTS, {"product_id": "P3", "category": "toys", "price_point": "core"}]
    lines = [
        _line("O1", "1"),
        _line("O1", "2", status="returned", returned_at="2024-02-03T12:00:00"),
        _line("", "1"),
        _line("O3", "1", quantity="-1"),
        _line("O4", "1", currency="XYZ"),
        _line("O5", "1", ordered_at="2031-01-01"),
        _line("O6", "1", ordered_at="1985-06-01"),
        _line("O7", "1", customer="99"),
        _line("O8", "1", product_id="P404"),
        _line("O9", "1", status="returned"),
        _line("O10", "1", returned_at="2024-02-05"),
        _line("O11", "1", net_amount="12,00x"),
        _line("O12", "1", status="shipped"),
        _line("O13", "1", quantity="1.5"),
        _line("O14", "1", customer="3"),
        _line("O1", "1", channel="web"),  # duplicate of row 1
        _line("O3", "1"),  # duplicate of row 4, which is quarantined itself
        _line("O12", "1", net_amount="abc"),  # bad, and a repeat of a bad row
        _line("O15", "1", channel=" Store ", currency="eur"),
        _line("O16", "1", returned_at="2024-01-01", status="returned"),
        _line("O1", "1"),  # duplicate of row 1 again
        _line("O17", "1", customer="2"),
    ]
    write_table(folder, "customers", customers)
    write_table(folder, "products", products)
    write_table(folder, "order_lines", lines)
    return folder


def test_every_row_rule_quarantines_as_the_loader_does(
    spark, bad_rows: Path, tmp_path: Path
) -> None:
    expected = load_sources(bad_rows, today=TODAY)
    stage = tmp_path / "stage"
    got = intake(spark, bad_rows, stage, partitions=3)
    assert_same_load(expected, got, stage)
    rules = got.quarantine.groupby(["table", "rule"]).size().to_dict()
    assert rules[("order_lines", "duplicate")] == 3
    assert rules[("order_lines", "reference")] == 3
    duplicates = got.quarantine[got.quarantine["rule"] == "duplicate"]
    assert duplicates["reason"].tolist() == [
        "duplicate key (order_id, line_id) = (O1, 1); first seen at row 1",
        "duplicate key (order_id, line_id) = (O3, 1); first seen at row 4",
        "duplicate key (order_id, line_id) = (O1, 1); first seen at row 1",
    ]


def test_ids_text_in_one_partition_are_text_everywhere(spark, tmp_path: Path) -> None:
    """An order id that is not a number makes the whole column text, in every bucket, as the
    loader makes it for the whole file."""
    lines = [_line(f"{i}", "1", customer=str(1 + i % 3)) for i in range(1, 13)]
    lines[-1]["order_id"] = "X-1"
    source_dir = tmp_path / "data"  # order lines alone: the other tables are optional
    write_table(source_dir, "order_lines", lines)
    expected = load_sources(source_dir, today=TODAY)
    assert type_name(expected.tables["order_lines"]["order_id"].dtype) == "object"
    stage = tmp_path / "stage"
    got = intake(spark, source_dir, stage, partitions=3)
    assert_same_load(expected, got, stage)


def test_an_unreadable_column_is_the_loaders_one_line(spark, tmp_path: Path) -> None:
    lines = [_line("O1", str(i), net_amount="n/a") for i in range(1, 5)]
    source_dir = tmp_path / "data"
    write_table(source_dir, "order_lines", lines)
    with pytest.raises(ContractError) as loaded:
        load_sources(source_dir, today=TODAY)
    with pytest.raises(ContractError) as read:
        intake(spark, source_dir, tmp_path / "stage", partitions=1)
    assert str(read.value) == str(loaded.value)
    assert "\n" not in str(read.value)


def test_files_spark_cannot_number_are_refused_in_one_line(spark, tmp_path: Path) -> None:
    """A quoted value holding a line break (the loader reads it), and a file not in UTF-8."""
    source_dir = tmp_path / "data"
    source_dir.mkdir()
    path = source_dir / "order_lines.csv"
    text = (
        "order_id,customer_id,ordered_at,net_amount,store_id\n"
        "O1,1,2024-01-05,12.50,S1\n"
        'O2,2,2024-01-06,8.00,"Bond St\nLondon"\n'
    )
    path.write_text(text)
    assert len(load_sources(source_dir, today=TODAY).tables["order_lines"]) == 2
    with pytest.raises(ContractError) as err:
        intake(spark, source_dir, tmp_path / "stage")
    assert str(err.value) == (
        f"{path}: row 2 holds a line break inside quotes; the Spark intake reads one row a "
        "line (remove the line breaks, or load without Spark)."
    )
    cafe = text.replace("Bond St\nLondon", "Caf\xe9")
    path.write_bytes((cafe + "O3,1,2024-01-07,1.00,S1\n").encode("cp1252"))
    with pytest.raises(ContractError) as err:
        intake(spark, source_dir, tmp_path / "stage")
    assert str(err.value) == (
        f"{path}: cp1252 text; the Spark intake reads UTF-8 files (save it as UTF-8, or load "
        "without Spark)."
    )
    # A stray byte the sniffer cannot see (the file's last character): the loader cannot read
    # the file either.
    path.write_bytes(cafe.encode("cp1252"))
    with pytest.raises(ContractError, match="cannot be read"):
        load_sources(source_dir, today=TODAY)
    with pytest.raises(ContractError) as err:
        intake(spark, source_dir, tmp_path / "stage")
    assert str(err.value) == f"{path}: cannot be read (row 2: not UTF-8 text)."


def test_a_line_that_cannot_be_split_is_the_loaders_one_line(spark, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    # Past the header's first 64 KB block, so that an executor meets the line.
    good = "".join(f"O{i},1,2024-01-05,12.50,S1\n" for i in range(4000))
    (folder / "order_lines.csv").write_text(
        "order_id,customer_id,ordered_at,net_amount,store_id\n"
        + good
        + "O2,2,2024-01-06,8.00,S2,extra\n"
    )
    with pytest.raises(ContractError) as loaded:
        load_sources(folder, today=TODAY)
    with pytest.raises(ContractError) as read:
        intake(spark, folder, tmp_path / "stage")
    assert str(read.value) == str(loaded.value)
    assert "Expected 5 columns, got 6" in str(read.value)


def test_an_export_read_through_its_mapping(spark, tmp_path: Path) -> None:
    """The invoice export of tests/test_mapping.py: columns renamed, an amount derived, a
    currency given, credit notes turned into returns, lines numbered by invoice, guest lines
    quarantined; every step on the executors."""
    folder = tmp_path / "export"
    shutil.copytree(Path(__file__).parent / "data" / "invoices", folder)
    expected = load_sources(folder, today="2012-01-01")
    stage = tmp_path / "stage"
    got = stage_with_spark(spark, folder, stage, today="2012-01-01", buckets=BUCKETS, partitions=3)
    assert_same_load(expected, got, stage)
    assert len(got.quarantine) and got.reports["order_lines"].file == "invoices.csv"


def test_the_first_table_to_fail_gives_the_error_as_in_the_loader(spark, tmp_path: Path) -> None:
    """Tables run side by side, but the error is the loader's: customers are validated before
    the loader finds the order lines missing."""
    folder = tmp_path / "data"
    folder.mkdir()
    with pytest.raises(ContractError) as loaded:
        load_sources(folder)
    with pytest.raises(ContractError) as read:
        intake(spark, folder, tmp_path / "stage")
    assert str(read.value) == str(loaded.value)
    write_table(folder, "customers", [{**c, "created_at": "someday"} for c in CUSTOMERS])
    with pytest.raises(ContractError) as loaded:
        load_sources(folder, today=TODAY)
    with pytest.raises(ContractError) as read:
        intake(spark, folder, tmp_path / "stage")
    assert str(read.value) == str(loaded.value)
    assert "customers.csv: column 'created_at'" in str(read.value)


def test_withheld_rows_as_the_loader_withholds_them(spark, tmp_path: Path) -> None:
    """Erased customers and lines older than the retention period (profiler/data_rights.py):
    withheld before any rule, with the loader's counts."""
    from profiler import data_rights

    folder = tmp_path / "data"
    lines = copy.deepcopy(ORDER_LINES)
    lines[1]["ordered_at"] = "2019-01-01T10:00:00"  # older than 5 years before TODAY
    write_table(folder, "customers", CUSTOMERS)
    write_table(folder, "products", PRODUCTS)
    write_table(folder, "order_lines", lines)
    (folder / "privacy.yaml").write_text("retention_years: 5\n", encoding="utf-8")
    data_rights.add_erasures(folder, [CUSTOMERS[0]["customer_id"]], "2026-01-01")
    expected = load_sources(folder, today=TODAY)
    assert sum(expected.reports["order_lines"].withheld.values()) >= 2
    stage = tmp_path / "stage"
    got = intake(spark, folder, stage, partitions=2)
    assert_same_load(expected, got, stage)
    assert {k: r.withheld for k, r in got.reports.items()} == {
        k: r.withheld for k, r in expected.reports.items()
    }
