"""The CAR against a brute-force, customer-by-customer computation on hand-made data; no
leakage past the as-of date; invariants on generated data; the build command."""

from __future__ import annotations

import calendar
import math
import statistics
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler.car import build_car
from profiler.contract import PII_COLUMNS
from profiler.loading import SourceData, load_sources
from profiler.store import DICTIONARY, open_generation, read_car
from tests import car_data
from tests.conftest import write_table
from tests.money import as_pence, exact_pence
from tests.truncation import truncate
from workbook.cli import main

D = datetime(2024, 12, 31)
CUTOFF = D + timedelta(days=1)


@pytest.fixture(scope="module")
def hand_source(tmp_path_factory: pytest.TempPathFactory) -> SourceData:
    folder = tmp_path_factory.mktemp("hand")
    for name, rows in car_data.TABLES.items():
        write_table(folder, name, rows)
    return load_sources(folder, today="2026-01-01")


@pytest.fixture(scope="module")
def hand_car(hand_source: SourceData):
    return build_car(hand_source, car_data.AS_OF)


@pytest.fixture(scope="module")
def car_frame(hand_car) -> pd.DataFrame:
    frame = hand_car.to_frame()
    frame.index = frame.pop("customer_id").astype(str)  # ids are written as text in the fixtures
    return frame


# --- the brute force: plain Python over the hand-made rows --------------------------------------


def months_before(ts: datetime, k: int) -> datetime:
    y, m = divmod(ts.month - 1 - k, 12)
    year, month = ts.year + y, m + 1
    return ts.replace(year=year, month=month, day=min(ts.day, calendar.monthrange(year, month)[1]))


def period_range(period: str) -> tuple[datetime, datetime]:
    if period == "ltd":
        return datetime(1900, 1, 1), CUTOFF
    if period == "ytd":
        return datetime(D.year, 1, 1), CUTOFF
    near, far = {
        "l12m": (0, 12),
        "p12m": (12, 24),
        "lq1": (0, 3),
        "lq2": (3, 6),
        "lq3": (6, 9),
        "lq4": (9, 12),
    }[period]
    return months_before(CUTOFF, far), months_before(CUTOFF, near)


PRODUCTS = {p["product_id"]: p for p in car_data.PRODUCTS}


def lines_of(customer: str) -> list[dict]:
    out = []
    for row in car_data.ORDER_LINES:
        at = datetime.fromisoformat(row["ordered_at"])
        if row["customer_id"] != customer or at >= CUTOFF:
            continue
        back = datetime.fromisoformat(row["returned_at"]) if row["returned_at"] else None
        returned = row["status"] == "returned" and back < CUTOFF
        kept = row["status"] == "completed" or (row["status"] == "returned" and not returned)
        gbp = float(row["net_amount"]) * float(row["fx_to_reporting"])
        gross = float(row["quantity"]) * float(row["unit_price"]) * float(row["fx_to_reporting"])
        out.append(
            {
                **row,
                **PRODUCTS[row["product_id"]],
                "at": at,
                "kept": kept,
                "returned": returned,
                "gbp": gbp,
                "gross": gross,
            }
        )
    return out


def brute_sales(customer: str, measure: str, slice_name: str, level: str, period: str) -> float:
    start, end = period_range(period)
    rows = [
        r
        for r in lines_of(customer)
        if start <= r["at"] < end and (slice_name == "total" or r[slice_name] == level)
    ]
    kept = [r for r in rows if r["kept"]]
    spend = sum(r["gbp"] for r in kept)
    orders = len({r["order_id"] for r in kept})
    gross = sum(r["gross"] for r in kept)
    returns = sum(r["gbp"] for r in rows if r["returned"])

    def share(a: float, b: float) -> float:
        return a / b if b > 0 else math.nan

    return {
        "spend": spend,
        "orders": orders,
        "units": sum(int(r["quantity"]) for r in kept),
        "lines": len(kept),
        "aov": share(spend, orders),
        "gross_spend": gross,
        "discount_value": gross - spend,
        "discount_share": share(gross - spend, gross),
        "full_price_share": share(sum(r["gbp"] for r in kept if float(r["discount"]) == 0), spend),
        "returns_value": returns,
        "returned_lines": sum(1 for r in rows if r["returned"]),
        "return_rate": share(returns, spend + returns),
        "cancelled_value": sum(r["gbp"] for r in rows if r["status"] == "cancelled"),
        "cancelled_lines": sum(1 for r in rows if r["status"] == "cancelled"),
    }[measure]


def purchase_times(customer: str) -> list[datetime]:
    orders: dict[str, datetime] = {}
    for r in lines_of(customer):
        if r["kept"]:
            orders[r["order_id"]] = r["at"]
    return sorted(orders.values())


def brute_stage(customer: str, ref: datetime) -> str:
    days = [t.date() for t in purchase_times(customer) if t.date() <= ref.date()]
    if not days:
        return "prospect"
    age = lambda d: (ref.date() - d).days  # noqa: E731
    if age(days[0]) < 90:
        return "new"
    if any((b - a).days > 545 and age(b) < 365 for a, b in zip(days, days[1:], strict=False)):
        return "reactivated"
    if age(days[-1]) < 365:
        return "active"
    return "lapsing" if age(days[-1]) < 545 else "lapsed"


def close(a: float, b: float) -> bool:
    if isinstance(b, float) and math.isnan(b):
        return a is None or (isinstance(a, float) and math.isnan(a)) or pd.isna(a)
    return a == pytest.approx(b, rel=1e-6, abs=1e-6)


# --- tests --------------------------------------------------------------------------------------


def test_population_is_customers_known_at_d(car_frame: pd.DataFrame) -> None:
    # customer 6 was created after D and ordered after D; customer 5 never bought (a prospect)
    assert list(car_frame.index) == ["1", "2", "3", "4", "5"]


def test_every_sales_column_matches_the_brute_force(hand_car, car_frame: pd.DataFrame) -> None:
    checked = 0
    for definition in hand_car.definitions:
        if definition.family != "sales":
            continue
        d = definition.definition
        for customer in car_frame.index:
            got = car_frame.at[customer, definition.name]
            want = brute_sales(customer, d["measure"], d["slice"], d["level"], d["period"])
            assert close(got, want), (definition.name, customer, got, want)
            checked += 1
    assert checked > 4000


def test_lifecycle_matches_the_brute_force(car_frame: pd.DataFrame) -> None:
    for customer in car_frame.index:
        times = purchase_times(customer)
        row = car_frame.loc[customer]
        assert row["lifecycle_stage"] == brute_stage(customer, D)
        assert row["lifecycle_stage_1y_ago"] == brute_stage(customer, D - timedelta(days=365))
        if times:
            assert row["first_purchase_at"] == pd.Timestamp(times[0])
            assert row["last_purchase_at"] == pd.Timestamp(times[-1])
            assert row["tenure_days"] == (D.date() - times[0].date()).days
            assert row["recency_days"] == (D.date() - times[-1].date()).days
            if len(times) > 1:
                assert row["days_to_second_purchase"] == (times[1].date() - times[0].date()).days
            else:
                assert pd.isna(row["days_to_second_purchase"])
            assert row["acquisition_month"] == f"{times[0]:%Y-%m}"
            days = sorted({t.date() for t in times})
            gaps = [(b - a).days for a, b in zip(days[:-1], days[1:], strict=True)]
            assert close(row["ipt_mean_days"], statistics.mean(gaps) if gaps else math.nan)
            assert close(row["ipt_sd_days"], statistics.stdev(gaps) if len(gaps) >= 2 else math.nan)
        else:
            assert pd.isna(row["first_purchase_at"]) and pd.isna(row["recency_days"])


def test_hand_worked_values(car_frame: pd.DataFrame) -> None:
    """Values worked out on paper from tests/car_data.py."""
    c1 = car_frame.loc["1"]
    assert c1["spend_ltd"] == 6200  # 1000 + 200 + 5000; the 900 returned; O4 is after D
    assert c1["spend_lq1"] == 5000  # ordered 23:59:59 on D
    assert c1["orders_ltd"] == 3
    assert c1["returns_value_ltd"] == 900
    assert c1["tenure_days"] == 1027
    assert c1["recency_days"] == 0
    assert c1["lifecycle_stage"] == "active"
    assert c1["nps_latest"] == 6  # the 10 came after D
    assert c1["nps_class"] == "detractor"
    assert c1["nps_mean"] == 7.5
    assert c1["csat_store_mean"] == 5 and c1["csat_web_mean"] == 3
    assert c1["interactions_ltd"] == 2 and c1["interactions_type_email_click_l12m"] == 1
    assert c1["days_since_last_interaction"] == 30
    assert c1["age"] == 44 and c1["age_band"] == "35-44"
    assert c1["balance"] == 1000 and c1["portfolio"] == "London Private Clients"
    assert bool(c1["opt_in_email"]) and bool(c1["contactable"])
    assert c1["omnichannel_flag"]
    c2 = car_frame.loc["2"]
    assert c2["spend_ltd"] == pytest.approx(510)  # 100 + 500 (returned after D, so kept) at 0.85
    assert c2["cancelled_value_ltd"] == pytest.approx(2550)
    assert c2["spend_ytd"] == pytest.approx(510)  # 2024-01-01 00:00:00 is in the year
    assert pd.isna(c2["opt_in_email"])  # consent record dated after D: not known at D
    assert c2["effort_score_mean"] == 6
    c3 = car_frame.loc["3"]
    assert c3["lifecycle_stage"] == "reactivated" and c3["reactivated_flag"]
    assert c3["spend_ltd"] == pytest.approx(820)  # (800 + 150 + 75) x 0.8
    assert c3["discount_share_ltd"] == pytest.approx(
        60 / 880
    )  # (150 x 0.5 x 0.8) / ((800 + 150 + 150) x 0.8)
    assert pd.isna(c3["balance"])  # account snapshot dated after D
    assert c3["interactions_ltd"] == 0
    assert car_frame.loc["4", "lifecycle_stage"] == "new"
    c5 = car_frame.loc["5"]
    assert (
        c5["lifecycle_stage"] == "prospect"
        and c5["value_tier"] == "prospect"
        and c5["spend_ltd"] == 0
    )


def test_value_scores(car_frame: pd.DataFrame) -> None:
    buyers = car_frame[car_frame["orders_ltd"] > 0]
    # four buyers -> ranks 0..3 -> scores floor(rank * 5 / 4) + 1 = 1, 2, 3, 4
    assert sorted(buyers["rfm_m"]) == [1, 2, 3, 4]
    assert buyers["rfm_m"].idxmax() == "1"  # the biggest spender
    assert car_frame.loc["1", "rfm_f"] == 4  # 3 orders: the most
    assert (
        car_frame.loc["2", "rfm_f"] == 2 and car_frame.loc["3", "rfm_f"] == 3
    )  # tie at 2 orders broken by customer_id
    # spend in the last 12 months: 1 (5000), 2 (510), 3 (180), 4 (80); nobody ranks above 1
    assert car_frame.loc["1", "value_tier"] == "platinum"
    assert (
        car_frame.loc["2", "value_tier"] == "bronze"
    )  # 1 of 4 (25%) ranked above: beyond the top 20%
    assert pd.isna(car_frame.loc["5", "rfm_score"])


def test_dictionary_documents_every_column_and_no_personal_data(hand_car) -> None:
    frame = hand_car.to_frame()
    dictionary = hand_car.dictionary()
    built = dictionary[dictionary["status"] == "built"]
    assert list(built["column"]) == list(frame.columns)
    assert built["description"].str.len().gt(10).all()
    assert (
        built.loc[built["column"] != "customer_id", "definition_hash"]
        .str.fullmatch(r"[0-9a-f]{12}")
        .all()
    )
    assert built["column"].is_unique
    personal = {c for cols in PII_COLUMNS.values() for c in cols}
    assert not personal & set(frame.columns)
    text = frame.astype(str).to_numpy().ravel()
    for value in ("Ann Smith", "ann@example.com", "+44 1"):
        assert value not in text


# --- generated data ------------------------------------------------------------------------------


@pytest.mark.parametrize("as_of", ["2025-03-31", "2024-02-29"])
def test_no_leakage_full_data_equals_data_truncated_at_d(
    demo_source: SourceData, as_of: str
) -> None:
    full = build_car(demo_source, as_of)
    cut = build_car(truncate(demo_source, as_of), as_of)
    pd.testing.assert_frame_equal(full.to_frame(), cut.to_frame())
    pd.testing.assert_frame_equal(full.dictionary(), cut.dictionary())


def test_invariants_on_generated_data(demo_source: SourceData) -> None:
    result = build_car(demo_source)
    car = result.to_frame()
    assert result.n_columns >= 1200
    assert car["customer_id"].is_unique and len(car) == len(demo_source.tables["customers"])
    lines = demo_source.tables["order_lines"]
    kept = lines["status"] == "completed"  # default as-of is after every return
    kept |= (lines["status"] == "returned") & (
        lines["returned_at"] >= result.as_of + pd.Timedelta(days=1)
    )
    pence = exact_pence(lines["net_amount"][kept], lines["fx_to_reporting"][kept])
    assert as_pence(car["spend_ltd"]).sum() == sum(pence)
    assert car["spend_ltd"].sum() == pytest.approx(sum(pence) / 100, rel=1e-12)
    quarters = car[[f"spend_lq{i}" for i in range(1, 5)]].sum(axis=1)
    np.testing.assert_allclose(quarters, car["spend_l12m"], rtol=1e-9, atol=1e-6)
    categories = [c for c in car.columns if c.startswith("spend_cat_") and c.endswith("_ltd")]
    by_category = sum(as_pence(car[c]) for c in categories)
    assert (by_category == as_pence(car["spend_ltd"])).all()  # money in pence: exact
    by_channel = car[
        [c for c in car.columns if c.startswith("orders_ch_") and c.endswith("_ltd")]
    ].sum(axis=1)
    assert (by_channel >= car["orders_ltd"]).all()  # an order may span channels only by its lines
    assert set(car["lifecycle_stage"].dropna()) <= {
        "prospect",
        "new",
        "active",
        "lapsing",
        "lapsed",
        "reactivated",
    }
    objected = car["profiling_opt_out"].to_numpy(dtype=bool)
    assert objected.any()  # the demo has objections: their scores are withheld, nobody else's
    assert car["engagement_score"].isna().to_numpy()[~objected].sum() == 0
    assert car["engagement_score"][~objected].between(0, 100).all()
    assert car["engagement_score"][objected].isna().all()
    assert car.loc[(car["orders_ltd"] > 0) & ~objected, "rfm_score"].between(1, 5).all()


def test_bare_export_builds_and_says_what_was_left_out(tmp_path: Path) -> None:
    rows = [
        {"order_id": "A", "customer_id": "c1", "ordered_at": "2024-05-01", "net_amount": "10.5"},
        {"order_id": "B", "customer_id": "c1", "ordered_at": "2024-06-01", "net_amount": "4.5"},
        {"order_id": "C", "customer_id": "c2", "ordered_at": "2024-06-01", "net_amount": "99"},
    ]
    write_table(tmp_path, "order_lines", rows)
    result = build_car(load_sources(tmp_path, today="2026-01-01"))
    car = result.to_frame().set_index("customer_id")
    assert car.loc["c1", "spend_ltd"] == 15 and car.loc["c1", "orders_ltd"] == 2
    assert set(result.left_out) == {
        "margin",  # no cost of goods (tests/test_margin.py)
        "voice",
        "engagement",
        "preferences",
        "demographics",
        "accounts",
    }
    dictionary = result.dictionary()
    assert (
        dictionary.loc[dictionary["status"] == "left out", "description"].str.contains("needs")
    ).all()


def test_build_command_writes_car_and_dictionary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("workbook.cli.output.SHOW_BAR", True)  # as on a terminal
    data = tmp_path / "data"
    for name, rows in car_data.TABLES.items():
        write_table(data, name, rows)
    assert (
        main(
            [
                "build",
                "--data",
                str(data),
                "--out",
                str(tmp_path / "car"),
                "--as-of",
                car_data.AS_OF,
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "CAR as of 2024-12-31: 5 customers x" in captured.out
    done = [line for line in captured.err.split("\r") if "14/14" in line]  # the family bar
    assert done and "strategy" in done[-1]
    car = read_car(tmp_path / "car")
    assert len(car) == 5
    dictionary = open_generation(tmp_path / "car").read_csv(DICTIONARY)
    assert set(car.columns) <= set(dictionary["column"])
    assert (
        main(["build", "--data", str(data), "--out", str(tmp_path / "car"), "--as-of", "soon"]) == 2
    )


def test_families_are_computed_once_each_after_what_they_read() -> None:
    from profiler.families import COMPUTE_ORDER, FAMILIES, value

    names = [f.FAMILY for f in COMPUTE_ORDER]
    assert sorted(names) == sorted(f.FAMILY for f in FAMILIES)
    assert names.index("value") > max(names.index("sales"), names.index("lifecycle"))
    assert names[-1] == "strategy"
    assert set(value.READS) <= {"orders_ltd", "spend_ltd", "spend_l12m", "recency_days"}


def test_an_order_is_as_old_as_its_earliest_line(tmp_path: Path) -> None:
    """Lines of one order may carry different times; the order's time is its earliest line's,
    whatever order the file lists them in (lifecycle, potential and the state at any date)."""
    from profiler.activity import build_activity
    from profiler.catalog import load_catalog

    rows = [
        {"order_id": "A", "customer_id": "c1", "ordered_at": "2024-06-03", "net_amount": "10"},
        {"order_id": "A", "customer_id": "c1", "ordered_at": "2024-06-01", "net_amount": "5"},
        {"order_id": "B", "customer_id": "c1", "ordered_at": "2024-07-01", "net_amount": "7"},
    ]
    write_table(tmp_path, "order_lines", rows)
    source = load_sources(tmp_path, today="2026-01-01")
    car = build_car(source, "2024-12-31").to_frame().set_index("customer_id")
    assert car.loc["c1", "first_purchase_at"] == pd.Timestamp("2024-06-01")
    assert car.loc["c1", "acquisition_month"] == "2024-06"
    assert car.loc["c1", "ipt_mean_days"] == 30  # 2024-06-01 to 2024-07-01
    orders = build_activity(
        source, load_catalog(), car.index.to_numpy(), pd.Timestamp("2024-12-31")
    ).orders
    first_day = (pd.Timestamp("2024-06-01") - pd.Timestamp("1970-01-01")).days
    assert orders.day.tolist() == [first_day, first_day + 30]
