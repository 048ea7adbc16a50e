"""The demo generator: deterministic, valid against the contract, and realistic enough to analyse."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from profiler.demo import REAL_CATEGORIES, GenerationReport, book_ledger, generate_demo
from profiler.loading import load_sources
from tests.money import as_pence, exact_pence

# The per-customer tables, which chunked generation appends to chunk by chunk.
CUSTOMER_TABLES = [
    "customers",
    "order_lines",
    "interactions",
    "surveys",
    "preferences",
    "enrichment",
    "accounts",
]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo(3000, 11, out)
    return out


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    out = tmp_path_factory.mktemp("chunked")
    return out, generate_demo(3000, 11, out, chunk_customers=1000)


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{name}.parquet")


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_same_size_and_seed_give_byte_identical_files(tmp_path: Path, file_format: str) -> None:
    a = generate_demo(300, 5, tmp_path / "a", file_format=file_format)
    generate_demo(300, 5, tmp_path / "b", file_format=file_format)
    generate_demo(300, 6, tmp_path / "c", file_format=file_format)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(names) == len(a.rows) == 12
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / f"order_lines.{file_format}").read_bytes() != (
        tmp_path / "c" / f"order_lines.{file_format}"
    ).read_bytes()


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_generated_data_validates_with_nothing_quarantined(
    tmp_path: Path, file_format: str
) -> None:
    report = generate_demo(400, 3, tmp_path, file_format=file_format)
    source = load_sources(tmp_path, today="2026-11-22")
    assert len(source.quarantine) == 0
    for name, rows in report.rows.items():
        assert source.reports[name].rows_read == rows == source.reports[name].accepted
        # every column but order_lines.cost: the demo's cost of goods is products.unit_cost
        # (tests/test_margin.py tries the line cost on hand-made data)
        assert source.reports[name].defaulted_columns == (["cost"] if name == "order_lines" else [])


def test_demo_behaves_like_a_luxury_retailer(demo_dir: Path) -> None:
    lines = _read(demo_dir, "order_lines")
    status = lines["status"].astype(str).value_counts(normalize=True)
    assert 0.10 <= status["returned"] <= 0.20
    assert 0.01 <= status["cancelled"] <= 0.06
    assert lines["currency"].nunique() >= 5
    orders = lines.drop_duplicates("order_id")
    q4 = orders["ordered_at"].dt.quarter.eq(4).mean()
    assert q4 > 0.30  # Q4 peak: more than a quarter of orders in a quarter of the year
    digital = orders["channel"].astype(str).isin(["web", "app"])
    by_year = digital.groupby(orders["ordered_at"].dt.year).mean()
    assert by_year.iloc[-1] > by_year.iloc[0] + 0.1  # digital share grows
    per_customer = orders.groupby("customer_id").size()
    assert per_customer.eq(1).mean() > 0.15  # many one-off buyers
    assert per_customer.quantile(0.99) >= 20  # and a few heavy clients
    gbp = lines["net_amount"] * lines["fx_to_reporting"]
    basket = gbp.groupby(lines["order_id"]).sum()
    assert basket.median() < basket.mean()  # lognormal-like, right-skewed baskets
    assert (lines["discount"] > 0).any() and (lines["discount"] == 0).mean() > 0.7
    products = _read(demo_dir, "products")
    assert products["category"].nunique() == 12
    assert "=Atelier Capsule" in set(
        products["collection"].astype(str)
    )  # formula-like text on purpose
    accounts = _read(demo_dir, "accounts")
    assert (accounts["bad_debt_written_off"] > 0).sum() >= 1
    customers = _read(demo_dir, "customers")
    assert customers["email"].str.endswith("@example.com").all()


def test_engagement_and_satisfaction_follow_behaviour(demo_dir: Path) -> None:
    lines = _read(demo_dir, "order_lines")
    orders = lines.drop_duplicates("order_id").groupby("customer_id").size()
    interactions = _read(demo_dir, "interactions").groupby("customer_id").size()
    joined = pd.concat(
        [orders.rename("orders"), interactions.rename("interactions")], axis=1
    ).fillna(0)
    assert joined["orders"].corr(joined["interactions"], method="spearman") > 0.1


@pytest.mark.parametrize("generated", ["demo_dir", "chunked"])
def test_ledger_ties_to_order_lines_through_the_documented_reconciling_items(
    generated: str, request: pytest.FixtureRequest
) -> None:
    """Brute force, line by line: sales at the month rate (each line in whole pence, half away
    from zero: the decimal oracle), returns when they come back, late cancellations booked and
    reversed, journals posted; equal to the penny.  Chunked generation books the ledger from
    every chunk's lines."""
    demo_dir = request.getfixturevalue("demo_dir")
    if generated == "chunked":
        demo_dir = request.getfixturevalue("chunked")[0]
    lines = _read(demo_dir, "order_lines")
    products = _read(demo_dir, "products").set_index("product_id")["category"].astype(str)
    rates = _read(demo_dir, "fx_rates").set_index(["period", "currency"])["rate"].to_dict()
    expected: dict[tuple, int] = defaultdict(int)
    last = "2026-06"
    for row in lines.itertuples(index=False):
        month = f"{row.ordered_at:%Y-%m}"
        key_cat = products[row.product_id]
        cur = str(row.currency)
        value = exact_pence([row.net_amount], [rates[(month, cur)]])[0]
        if row.status != "cancelled":
            expected[(month, str(row.channel), key_cat)] += value
        elif row.ordered_at.is_month_end:
            expected[(month, str(row.channel), key_cat)] += value
            nxt = str(pd.Period(month, "M") + 1)
            expected[(nxt, str(row.channel), key_cat)] -= value
        if row.status == "returned":
            back = f"{row.returned_at:%Y-%m}"
            if back <= last:
                returned = exact_pence([row.net_amount], [rates[(back, cur)]])[0]
                expected[(back, str(row.channel), key_cat)] -= returned
    for j in _read(demo_dir, "journals").itertuples(index=False):
        expected[(j.period, j.channel, j.category)] += exact_pence([j.amount])[0]
    ledger = _read(demo_dir, "ledger")
    got = {
        (r.period, str(r.channel), str(r.category)): int(as_pence([r.net_sales])[0])
        for r in ledger.itertuples(index=False)
    }
    wanted = {k: v for k, v in expected.items() if k[0] <= last}
    assert set(got) == set(wanted)
    for key, value in wanted.items():
        assert got[key] == value, key


# ---------------------------------------------------------------------------------------------
# chunked generation: customers a chunk at a time, appended to one file per table


def test_chunked_ids_run_on_across_chunks_and_tables_agree(
    chunked: tuple[Path, GenerationReport],
) -> None:
    folder, report = chunked
    assert report.chunks == 3
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{t}.parquet" for t in report.rows)
    for name, rows in report.rows.items():
        assert pq.ParquetFile(folder / f"{name}.parquet").metadata.num_rows == rows, name
    customers = _read(folder, "customers")
    assert customers["customer_id"].tolist() == list(range(1, 3001))
    assert customers["email"].is_unique
    lines = _read(folder, "order_lines")
    assert not lines.duplicated(["order_id", "line_id"]).any()
    assert lines.groupby("order_id")["customer_id"].nunique().eq(1).all()
    order_ids = np.sort(lines["order_id"].unique())
    assert order_ids.tolist() == list(range(1_000_001, 1_000_001 + len(order_ids)))
    # Every chunk has buyers, and each chunk's ids are its own.
    buyers = lines["customer_id"].unique()
    for first in (1, 1001, 2001):
        assert ((buyers >= first) & (buyers < first + 1000)).sum() > 900
    for name in ["interactions", "surveys", "preferences", "enrichment", "accounts"]:
        ids = _read(folder, name)["customer_id"]
        assert ids.isin(customers["customer_id"]).all(), name
        assert ids.max() > 2000, name
    for name in ["preferences", "enrichment", "accounts"]:
        assert _read(folder, name)["customer_id"].is_unique, name
    # Each per-customer table is one file with a row group (at least) per chunk.
    for name in CUSTOMER_TABLES:
        assert pq.ParquetFile(folder / f"{name}.parquet").num_row_groups >= 3, name


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_chunked_data_validates_with_nothing_quarantined(tmp_path: Path, file_format: str) -> None:
    report = generate_demo(900, 3, tmp_path, file_format=file_format, chunk_customers=400)
    assert report.chunks == 3
    source = load_sources(tmp_path, today="2026-11-22")
    assert len(source.quarantine) == 0
    for name, rows in report.rows.items():
        assert source.reports[name].rows_read == rows == source.reports[name].accepted
        # every column but order_lines.cost: the demo's cost of goods is products.unit_cost
        # (tests/test_margin.py tries the line cost on hand-made data)
        assert source.reports[name].defaulted_columns == (["cost"] if name == "order_lines" else [])


def test_chunked_ledger_equals_the_ledger_booked_from_all_the_lines(
    chunked: tuple[Path, GenerationReport],
) -> None:
    """The ledger summed chunk by chunk equals the one-pass booking of every line."""
    folder, _ = chunked
    products = pq.read_table(folder / "products.parquet")
    category = products["category"].to_pylist()
    expected = book_ledger(
        pq.read_table(folder / "order_lines.parquet"),
        {
            "id": products["product_id"].to_numpy(),
            "category": np.array([REAL_CATEGORIES.index(c) for c in category]),
        },
        pq.read_table(folder / "fx_rates.parquet"),
        pq.read_table(folder / "journals.parquet"),
    ).to_pandas()
    got = _read(folder, "ledger")
    for frame in (expected, got):
        for column in ("channel", "category"):
            frame[column] = frame[column].astype(str)
    # Sums in another order can differ in the last bit, so a rounded cent may flip.
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected.reset_index(drop=True), check_exact=False, atol=0.011
    )


def test_chunked_runs_are_byte_identical_and_one_chunk_is_the_unchunked_run(
    tmp_path: Path,
) -> None:
    a = generate_demo(700, 5, tmp_path / "a", chunk_customers=300)
    generate_demo(700, 5, tmp_path / "b", chunk_customers=300)
    generate_demo(700, 5, tmp_path / "c", chunk_customers=350)
    generate_demo(700, 5, tmp_path / "whole")
    generate_demo(700, 5, tmp_path / "one", chunk_customers=700)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(names) == len(a.rows) == 12
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), (
            name
        )
    assert (tmp_path / "a" / "order_lines.parquet").read_bytes() != (
        tmp_path / "c" / "order_lines.parquet"
    ).read_bytes()


@pytest.mark.parametrize("chunk_customers", [0, -1])
def test_chunk_size_must_be_positive(tmp_path: Path, chunk_customers: int) -> None:
    with pytest.raises(ValueError, match="chunk_customers"):
        generate_demo(10, 1, tmp_path, chunk_customers=chunk_customers)
