"""The demo generator: deterministic, valid against the contract, and realistic enough to analyse."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from profiler.demo import REAL_CATEGORIES, GenerationReport, book_ledger, generate_demo
from profiler.demo.campaigns import (
    CAMPAIGN_LIFTS,
    CAMPAIGNS,
    CONTROL_SHARE,
    HIGH_VALUE_GBP,
    RESPONSE_DAYS,
)
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
    assert len(names) == len(a.rows) == 13
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
        # (tests/test_margin.py tries the line cost on hand-made data); preferences has
        # profiling_opt_out and the campaigns table every column
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
        # (tests/test_margin.py tries the line cost on hand-made data); preferences has
        # profiling_opt_out and the campaigns table every column
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
    assert len(names) == len(a.rows) == 13
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


# ---------------------------------------------------------------------------------------------
# campaigns with a known response lift (profiler/demo/campaigns.py), checked from the files


def _kept_orders(folder: Path) -> pd.DataFrame:
    """One row per order that is not cancelled: customer, day, GBP (brute force, pandas)."""
    lines = _read(folder, "order_lines")
    lines = lines[lines["status"].astype(str) != "cancelled"]
    gbp = (lines["net_amount"] * lines["fx_to_reporting"]).groupby(lines["order_id"]).sum()
    first = lines.drop_duplicates("order_id").set_index("order_id")
    return pd.DataFrame(
        {
            "customer_id": first["customer_id"],
            "day": first["ordered_at"].dt.normalize(),
            "gbp": gbp,
        }
    )


def _responders(orders: pd.DataFrame, sent: pd.Timestamp) -> set[int]:
    """Customers with an order (not cancelled) in the response window of a send."""
    inside = (orders["day"] >= sent) & (orders["day"] < sent + pd.Timedelta(days=RESPONSE_DAYS))
    return set(orders.loc[inside, "customer_id"])


@pytest.fixture(scope="module")
def lifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    """A demo large enough for the lift to show: 6,000 customers (~1,000 in the audiences)."""
    out = tmp_path_factory.mktemp("lifted")
    return out, generate_demo(6000, 4, out)


@pytest.mark.parametrize("generated", ["demo_dir", "chunked"])
def test_campaign_audiences_reach_only_customers_who_may_be_contacted(
    generated: str, request: pytest.FixtureRequest
) -> None:
    """Each audience is exactly its cohort among the reachable customers (consent for the
    channel, contactable, no objection to profiling), read from the files with pandas; treated
    and control are disjoint, about CONTROL_SHARE held out; the cost is per treated contact."""
    folder = request.getfixturevalue(generated)
    folder = folder[0] if generated == "chunked" else folder
    source = load_sources(folder, today="2026-11-22")
    assert len(source.quarantine) == 0
    assert source.reports["campaigns"].accepted == source.reports["campaigns"].rows_read > 300
    campaigns = _read(folder, "campaigns")
    preferences = _read(folder, "preferences").set_index("customer_id")
    assert 0 < preferences["profiling_opt_out"].sum() < 0.03 * len(preferences)
    orders = _kept_orders(folder)
    assert [c.name for c in CAMPAIGNS] == list(dict.fromkeys(campaigns["campaign"]))
    for campaign in CAMPAIGNS:
        rows = campaigns[campaigns["campaign"] == campaign.name]
        sent = pd.Timestamp(campaign.sent_at)
        assert (rows["channel"] == campaign.channel).all()
        assert (pd.to_datetime(rows["sent_at"]) == sent).all()
        treated = set(rows.loc[rows["group"] == "treated", "customer_id"])
        control = set(rows.loc[rows["group"] == "control", "customer_id"])
        assert not treated & control and len(treated) + len(control) == len(rows)
        assert abs(len(control) / len(rows) - CONTROL_SHARE) <= 0.05, campaign.name
        assert rows["cost"].nunique() == 1
        assert rows["cost"].iloc[0] == pytest.approx(campaign.cost_per_contact * len(treated))
        reachable = preferences[
            preferences[f"opt_in_{campaign.channel}"]
            & preferences["contactable"]
            & ~preferences["profiling_opt_out"]
        ].index
        before = orders[orders["day"] < sent]
        if campaign.cohort == "active high value":
            year = before[before["day"] >= sent - pd.Timedelta(days=365)]
            spend = year.groupby("customer_id")["gbp"].sum()
            cohort = set(spend[spend >= HIGH_VALUE_GBP].index)
        else:
            last = before.groupby("customer_id")["day"].max()
            count = before.groupby("customer_id").size()
            days = (sent - last).dt.days
            cohort = set(last[(count >= 2) & (days > 180) & (days <= 540)].index)
        assert treated | control == cohort & set(reachable), campaign.name


def _newcombe(k1: int, n1: int, k0: int, n0: int) -> tuple[float, float]:
    """95% interval of p1 - p0 from two Wilson score intervals: Newcombe (1998), Statistics
    in Medicine 17:873-890, method 10."""
    from scipy.stats import binomtest

    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = binomtest(k1, n1).proportion_ci(0.95, method="wilson")
    l0, u0 = binomtest(k0, n0).proportion_ci(0.95, method="wilson")
    diff = p1 - p0
    return (
        diff - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
        diff + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2),
    )


def test_treated_respond_more_than_control_by_the_known_lift(
    lifted: tuple[Path, GenerationReport],
) -> None:
    """Brute force from the order lines: the 30-day response rates of treated and control; the
    95% interval of their difference holds the campaign's LIFT and its point estimate is near."""
    folder, _ = lifted
    campaigns = _read(folder, "campaigns")
    orders = _kept_orders(folder)
    for campaign in CAMPAIGNS:
        rows = campaigns[campaigns["campaign"] == campaign.name]
        responders = _responders(orders, pd.Timestamp(campaign.sent_at))
        responded = rows["customer_id"].isin(responders)
        treated = rows["group"] == "treated"
        k1, n1 = int(responded[treated].sum()), int(treated.sum())
        k0, n0 = int(responded[~treated].sum()), int((~treated).sum())
        low, high = _newcombe(k1, n1, k0, n0)
        assert low <= CAMPAIGN_LIFTS[campaign.name] <= high, (campaign.name, k1, n1, k0, n0)


@pytest.mark.parametrize("off", [c.name for c in CAMPAIGNS])
def test_the_lift_added_is_the_constant_against_the_counterfactual(
    lifted: tuple[Path, GenerationReport], tmp_path: Path, off: str
) -> None:
    """The same demo with one campaign's lift switched off is its counterfactual: everything
    but its response orders is the same (a cohort is read at its send, so an earlier campaign's
    responses could move a later cohort; in this demo none does, and the files show it); those are one per new responder, by treated customers
    who did not respond without it, in its window; and the number of new responders is a
    Binomial(non-responders, LIFT / (1 - p0)) draw whose mean is LIFT x treated."""
    from scipy.stats import binom

    folder, report = lifted
    base = generate_demo(6000, 4, tmp_path, campaign_lifts={**CAMPAIGN_LIFTS, off: 0.0})
    assert base.campaigns[off]["added_responders"] == 0
    for name in base.rows:
        if name not in ("order_lines", "ledger", "targets"):
            assert (folder / f"{name}.parquet").read_bytes() == (
                tmp_path / f"{name}.parquet"
            ).read_bytes(), name
    with_lift, without = _read(folder, "order_lines"), _read(tmp_path, "order_lines")
    same = [c for c in with_lift.columns if c != "order_id"]
    # Every order id renumbered in time order, still one per order.
    for lines in (with_lift, without):
        firsts = lines.drop_duplicates("order_id")
        assert firsts["order_id"].is_monotonic_increasing
        assert firsts["ordered_at"].is_monotonic_increasing
    merged = with_lift.merge(without[same], on=same, how="left", indicator=True)
    assert len(merged) == len(with_lift)  # lines are unique, so the merge keeps the left rows
    added = with_lift.loc[merged["_merge"].eq("left_only").to_numpy()]
    assert len(with_lift) - len(added) == len(without)  # nothing of the counterfactual is lost
    campaign = next(c for c in CAMPAIGNS if c.name == off)
    sent = pd.Timestamp(campaign.sent_at)
    rows = _read(folder, "campaigns").query("campaign == @off")
    treated = set(rows.loc[rows["group"] == "treated", "customer_id"])
    before = _responders(_kept_orders(tmp_path), sent)
    assert (added["status"].astype(str) != "cancelled").all()
    assert added["ordered_at"].between(sent, sent + pd.Timedelta(days=RESPONSE_DAYS)).all()
    per_customer = added.groupby("customer_id")["order_id"].nunique()
    assert (per_customer == 1).all()
    assert set(per_customer.index) <= treated - before
    # The lift realised, against what the constant says.
    lift = CAMPAIGN_LIFTS[off]
    n, p0 = len(treated), len(treated & before) / len(treated)
    non_responders = n - len(treated & before)
    chance = lift / (1 - p0)
    assert non_responders * chance == pytest.approx(lift * n)  # the expected lift is LIFT
    low, high = binom.interval(0.99, non_responders, chance)
    assert low <= len(per_customer) <= high, (off, len(per_customer), non_responders, chance)
    assert report.campaigns[off] == {
        "audience": len(rows),
        "treated": n,
        "counterfactual_responders": len(treated & before),
        "added_responders": len(per_customer),
    }
    # Response rates of the treated with and without: the rise is the orders added.
    assert len(treated & _responders(_kept_orders(folder), sent)) - len(treated & before) == len(
        per_customer
    )
