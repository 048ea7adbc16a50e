"""Retention triangles: a hand-worked example, a brute-force reference and the invariants.

The hand example is small enough to check on paper (see the comments); the brute-force reference
walks customer by customer in plain Python, so the vectorised bincounts of
``profiler/retention.py`` are checked cell by cell on random activity.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from profiler.activity import Activity, month_number
from profiler.catalog import load_catalog
from profiler.errors import ProfilerError
from profiler.query import QueryEngine
from profiler.retention import retention_triangle

NAN = math.nan
SPEC = {
    "groups": [
        {"group": "Base", "cohorts": [{"name": "All customers", "filter": ""}]},
        {"group": "Regions", "by": "region", "name": "Region: {value}"},
    ],
    "base": "All customers",
    "min_cohort_size": 10,
}
GRID = [
    (grain, measure, mode)
    for grain in ("month", "quarter")
    for measure in ("active", "revenue", "cumulative_spend")
    for mode in ("in", "in_or_after")
]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def make_engine(catalog, car: pd.DataFrame, records: list[tuple], as_of: str) -> QueryEngine:
    """An engine over hand-made activity: records are (customer row, 'YYYY-MM', lines, GBP)."""
    frame = pd.DataFrame(records, columns=["customer", "month", "rows", "sales"])
    frame["month"] = month_number(pd.to_datetime(frame["month"] + "-01"))
    frame = frame.sort_values(["month", "customer"], kind="stable")
    activity = Activity(
        frame["customer"].to_numpy(np.int32),
        frame["month"].to_numpy(np.int32),
        {
            "active_customers.rows": frame["rows"].to_numpy(np.int32),
            "net_sales.pence": np.rint(frame["sales"].to_numpy() * 100).astype(np.int64),
        },
    )
    return QueryEngine(car, activity, catalog, as_of=pd.Timestamp(as_of), cohort_spec=SPEC)


# -- the hand-worked example -----------------------------------------------------------------------
#
# As of 2024-04-15: January to March are complete, April is not (columns 0..2 for January).
#   c0 EU  active Jan, Feb, Apr   GBP 100, 50, 30
#   c1 EU  active Jan, Mar        GBP 200, 100
#   c2 UK  active Jan             GBP 100 (plus a February row with no completed line)
#   c3 UK  active Feb, Mar        GBP 40, 60
#   c4 EU  active Feb             GBP 80
#   c5 --  active Mar, Apr        GBP 10, 20   (region missing)
#   c6 UK  never active (a January row with no completed line)
#   c7 UK  active Apr             GBP 70       (acquired in the unfinished as-of month)

HAND = [
    (0, "2024-01", 2, 100),
    (0, "2024-02", 1, 50),
    (0, "2024-04", 1, 30),
    (1, "2024-01", 3, 200),
    (1, "2024-03", 1, 100),
    (2, "2024-01", 1, 100),
    (2, "2024-02", 0, 0),
    (3, "2024-02", 1, 40),
    (3, "2024-03", 2, 60),
    (4, "2024-02", 1, 80),
    (5, "2024-03", 1, 10),
    (5, "2024-04", 1, 20),
    (6, "2024-01", 0, 0),
    (7, "2024-04", 1, 70),
]
HAND_CAR = pd.DataFrame(
    {
        "customer_id": [101, 102, 103, 104, 105, 106, 107, 108],
        "region": ["EU", "EU", "UK", "UK", "EU", None, "UK", "UK"],
        "tier": pd.Categorical(list("LHMLHMLH"), categories=list("LMH"), ordered=True),
    }
)
LABELS = ["2024-01", "2024-02", "2024-03", "2024-04", "Weighted mean"]
SIZES = [3, 2, 1, 1, 7]


@pytest.fixture(scope="module")
def hand(catalog) -> QueryEngine:
    return make_engine(catalog, HAND_CAR, HAND, "2024-04-15")


def cells(frame: pd.DataFrame) -> np.ndarray:
    return frame[[c for c in frame.columns if isinstance(c, int)]].to_numpy(dtype=float)


@pytest.mark.parametrize(
    ("measure", "mode", "expected"),
    [
        (
            "active",
            "in",
            [
                [1, 1 / 3, 1 / 3],
                [1, 1 / 2, NAN],
                [1, NAN, NAN],
                [1, NAN, NAN],  # period 0 unfinished but shown
                [1, 2 / 5, 1 / 3],  # the April cohort's unfinished period 0 is left out
            ],
        ),
        (
            "active",
            "in_or_after",
            [
                [1, 2 / 3, 2 / 3],  # c0 comes back in April, after the last complete month
                [1, 1 / 2, NAN],
                [1, NAN, NAN],
                [1, NAN, NAN],
                [1, 3 / 5, 2 / 3],
            ],
        ),
        (
            "revenue",
            "in",
            [
                [1, 50 / 400, 100 / 400],
                [1, 60 / 120, NAN],
                [1, NAN, NAN],
                [1, NAN, NAN],
                [1, 110 / 520, 100 / 400],
            ],
        ),
        (
            "cumulative_spend",
            "in_or_after",
            [
                [400 / 3, 450 / 3, 550 / 3],
                [60, 90, NAN],
                [10, NAN, NAN],
                [70, NAN, NAN],  # spend so far in the unfinished month
                [530 / 6, 630 / 5, 550 / 3],
            ],
        ),
    ],
)
def test_hand_worked_monthly_triangle(hand, measure, mode, expected) -> None:
    frame = retention_triangle(hand, measure=measure, mode=mode)
    assert list(frame.columns) == ["acquisition", "customers", 0, 1, 2]
    assert list(frame["acquisition"]) == LABELS
    assert list(frame["customers"]) == SIZES
    np.testing.assert_allclose(cells(frame), np.array(expected, dtype=float), rtol=1e-12)
    assert frame.attrs["grain"] == "month" and frame.attrs["measure"] == measure
    assert frame.attrs["mode"] == mode and frame.attrs["as_of"] == "2024-04-15"


def test_hand_worked_quarterly_triangle(catalog) -> None:
    # As of the end of June, Q2 is complete: c0 and c5 come back in April (c0's two Q1 months,
    # and c1's, count once).
    engine = make_engine(catalog, HAND_CAR, HAND, "2024-06-30")
    frame = retention_triangle(engine, grain="quarter")
    assert list(frame["acquisition"]) == ["2024-Q1", "2024-Q2", "Weighted mean"]
    assert list(frame["customers"]) == [6, 1, 7]
    np.testing.assert_allclose(cells(frame), [[1, 2 / 6], [1, NAN], [1, 2 / 6]])
    revenue = retention_triangle(engine, grain="quarter", measure="revenue")
    np.testing.assert_allclose(cells(revenue), [[1, 50 / 740], [1, NAN], [1, 50 / 740]])
    # Mid-quarter, Q2 is not complete: only column 0, and Q2's own period 0 shown anyway.
    early = retention_triangle(make_engine(catalog, HAND_CAR, HAND, "2024-04-15"), grain="quarter")
    assert list(early.columns) == ["acquisition", "customers", 0]
    np.testing.assert_allclose(cells(early), [[1], [1], [1]])


def test_hand_worked_breakdown_by_region(hand) -> None:
    frame = retention_triangle(hand, by="region")
    assert list(frame.columns[:3]) == ["segment", "acquisition", "customers"]
    assert list(dict.fromkeys(frame["segment"])) == ["EU", "UK", "(missing)"]
    eu = frame[frame["segment"] == "EU"]
    assert list(eu["customers"]) == [2, 1, 0, 0, 3]
    np.testing.assert_allclose(
        cells(eu),
        [[1, 1 / 2, 1 / 2], [1, 0, NAN], [NAN] * 3, [NAN] * 3, [1, 1 / 3, 1 / 2]],
    )
    missing = frame[frame["segment"] == "(missing)"]
    assert list(missing["customers"]) == [0, 0, 1, 0, 1]


def test_breakdown_follows_an_ordered_category(hand) -> None:
    frame = retention_triangle(hand, by="tier", measure="cumulative_spend")
    assert list(dict.fromkeys(frame["segment"])) == ["L", "M", "H"]
    sizes = frame[frame["acquisition"] == "Weighted mean"].set_index("segment")["customers"]
    assert sizes.to_dict() == {"L": 2, "M": 2, "H": 3}  # c6 (L) was never active


def test_cohort_start_end_and_max_cohorts_choose_the_rows(hand) -> None:
    eu = retention_triangle(hand, cohort="Region: EU")
    assert list(eu["acquisition"]) == ["2024-01", "2024-02", "Weighted mean"]
    assert list(eu["customers"]) == [2, 1, 3]
    window = retention_triangle(hand, start="2024-02", end="2024-03")
    assert list(window["acquisition"]) == ["2024-02", "2024-03", "Weighted mean"]
    assert list(window.columns[2:]) == [0, 1]  # K: the earliest shown cohort's last full month
    latest = retention_triangle(hand, max_cohorts=2)
    assert list(latest["acquisition"]) == ["2024-03", "2024-04", "Weighted mean"]
    quarters = retention_triangle(hand, grain="quarter", start="2024-Q2")
    assert list(quarters["acquisition"]) == ["2024-Q2", "Weighted mean"]


def test_no_customers_in_range_gives_an_empty_triangle(hand) -> None:
    frame = retention_triangle(hand, start="2030-01")
    assert list(frame.columns) == ["acquisition", "customers", 0]
    assert list(frame["acquisition"]) == ["Weighted mean"]
    assert list(frame["customers"]) == [0] and math.isnan(frame[0].iloc[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grain": "week"}, "grain 'week' is not one of month, quarter"),
        ({"measure": "revenu"}, "Did you mean 'revenue'?"),
        ({"mode": "after"}, "mode 'after'"),
        ({"start": "2024-13"}, "start '2024-13' is not a month"),
        ({"start": "2024-Q1"}, "write it as YYYY-MM"),
        ({"grain": "quarter", "end": "2024-03"}, "write it as YYYY-Qn"),
        ({"start": "2024-03", "end": "2024-01"}, "is after end"),
        ({"by": "regoin"}, "Did you mean 'region'?"),
        ({"cohort": "Region: Mars"}, "Unknown cohort"),
        ({"max_cohorts": 0}, "at least 1"),
    ],
)
def test_bad_arguments_are_one_line_errors(hand, kwargs, message) -> None:
    with pytest.raises(ProfilerError, match=message) as err:
        retention_triangle(hand, **kwargs)
    assert "\n" not in str(err.value)


def test_missing_activity_is_a_profiler_error(catalog) -> None:
    engine = QueryEngine(
        HAND_CAR, None, catalog, as_of=pd.Timestamp("2024-04-15"), cohort_spec=SPEC
    )
    with pytest.raises(ProfilerError, match="no activity table"):
        retention_triangle(engine)


# -- brute force on random activity -------------------------------------------------------------


def random_engine(catalog, seed: int) -> QueryEngine:
    """300 customers over 24 months from 2022-01; a few rows lie after the as-of day."""
    rng = np.random.default_rng(seed)
    n = 300
    car = pd.DataFrame(
        {
            "customer_id": np.arange(n) + 1000,
            "region": rng.choice(np.array(["EU", "UK", "US", None], dtype=object), n),
        }
    )
    as_of = pd.Timestamp("2022-01-01") + pd.Timedelta(days=int(rng.integers(400, 700)))
    if seed % 3 == 1:  # a quarter end: the as-of month and quarter are complete
        as_of = as_of + pd.offsets.QuarterEnd(0)
    elif seed % 3 == 2:  # a month end inside a quarter: the month is complete, the quarter not
        as_of = as_of + pd.offsets.MonthEnd(0)
        as_of = as_of - pd.offsets.MonthEnd(1) if as_of.is_quarter_end else as_of
    records = []
    for customer in range(n):
        start = min(rng.integers(0, 24, size=2))  # more customers early on
        for month in range(start, 24):
            if rng.random() < 0.35:
                lines = int(rng.integers(0, 3))  # some rows carry no completed line
                sales = float(rng.integers(1, 400)) / 2 if lines else 0.0
                label = f"{2022 + month // 12}-{month % 12 + 1:02d}"
                records.append((customer, label, lines, sales))
    return make_engine(catalog, car, records, f"{as_of:%Y-%m-%d}")


def brute_force(engine: QueryEngine, grain: str, measure: str, mode: str, by=None) -> pd.DataFrame:
    """The triangle walked customer by customer, straight from the definitions."""
    months_per = 3 if grain == "quarter" else 1
    as_of_month = month_number(engine.as_of)

    def period_end(p: int) -> pd.Timestamp:  # the last day of period p
        month = (p + 1) * months_per - 1
        return pd.Timestamp(
            year=1970 + month // 12, month=month % 12 + 1, day=1
        ) + pd.offsets.MonthEnd(0)

    as_of_period = as_of_month // months_per
    last_complete = as_of_period if period_end(as_of_period) <= engine.as_of else as_of_period - 1
    act = engine.activity
    active: dict[int, set[int]] = {}
    revenue: dict[int, dict[int, float]] = {}
    for c, m, rows, sales in zip(
        act.customer,
        act.month,
        act.parts["active_customers.rows"],
        act.parts["net_sales.pence"],
        strict=True,
    ):
        if m > as_of_month:
            continue
        p = int(m) // months_per
        if rows > 0:
            active.setdefault(int(c), set()).add(p)
        revenue.setdefault(int(c), {}).setdefault(p, 0.0)
        revenue[int(c)][p] += int(sales) / 100
    acquired = {c: min(ps) for c, ps in active.items()}
    lo, hi = min(acquired.values()), max(acquired.values())
    width = max(last_complete - lo, 0) + 1
    if by is None:
        segment_of = dict.fromkeys(acquired, "all")
        segments = ["all"]
    else:
        values = engine.car[by]
        segment_of = {c: "(missing)" if pd.isna(values[c]) else values[c] for c in acquired}
        present = set(segment_of.values())
        segments = sorted(present - {"(missing)"}) + (
            ["(missing)"] if "(missing)" in present else []
        )
    out = []
    for segment in segments:
        num: dict[tuple[int, int], float] = {}
        den: dict[tuple[int, int], float] = {}
        sizes = {}
        for cohort in range(lo, hi + 1):
            members = [c for c, a in acquired.items() if a == cohort and segment_of[c] == segment]
            sizes[cohort] = len(members)
            for k in range(width):
                p = cohort + k
                if measure == "active" and mode == "in":
                    num[cohort, k] = sum(p in active[c] for c in members)
                elif measure == "active":
                    num[cohort, k] = sum(max(active[c]) >= p for c in members)
                elif measure == "revenue":
                    num[cohort, k] = sum(revenue[c].get(p, 0.0) for c in members)
                else:
                    num[cohort, k] = sum(
                        revenue[c].get(q, 0.0) for c in members for q in range(cohort, p + 1)
                    )
                if measure == "revenue":
                    den[cohort, k] = sum(revenue[c].get(cohort, 0.0) for c in members)
                else:
                    den[cohort, k] = len(members)
        for cohort in range(lo, hi + 1):
            row = []
            for k in range(width):
                shown = k == 0 or cohort + k <= last_complete
                ok = shown and den[cohort, k] > 0
                row.append(num[cohort, k] / den[cohort, k] if ok else NAN)
            out.append([segment, cohort, sizes[cohort], *row])
        pooled = []
        for k in range(width):
            done = [c for c in range(lo, hi + 1) if c + k <= last_complete]
            total = sum(den[c, k] for c in done)
            pooled.append(sum(num[c, k] for c in done) / total if total > 0 else NAN)
        out.append([segment, "Weighted mean", sum(sizes.values()), *pooled])
    return pd.DataFrame(out, columns=["segment", "acquisition", "customers", *range(width)])


@pytest.fixture(scope="module", params=[1, 2, 3])
def random(catalog, request) -> QueryEngine:
    return random_engine(catalog, request.param)


@pytest.mark.parametrize(("grain", "measure", "mode"), GRID)
def test_matches_brute_force_cell_by_cell(random, grain, measure, mode) -> None:
    frame = retention_triangle(random, grain=grain, measure=measure, mode=mode)
    expected = brute_force(random, grain, measure, mode)
    assert list(frame.columns) == list(expected.columns[1:])
    assert list(frame["customers"]) == list(expected["customers"])
    np.testing.assert_allclose(cells(frame), cells(expected), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("grain", ["month", "quarter"])
def test_breakdown_matches_brute_force(random, grain) -> None:
    frame = retention_triangle(random, grain=grain, mode="in_or_after", by="region")
    expected = brute_force(random, grain, "active", "in_or_after", by="region")
    assert list(frame["segment"]) == list(expected["segment"])
    assert list(frame["customers"]) == list(expected["customers"])
    np.testing.assert_allclose(cells(frame), cells(expected), rtol=1e-9, atol=1e-9)


# -- invariants ------------------------------------------------------------------------------------


def cohort_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["acquisition"] != "Weighted mean"]


@pytest.mark.parametrize("grain", ["month", "quarter"])
def test_retention_invariants(random, grain) -> None:
    inside = retention_triangle(random, grain=grain)
    after = retention_triangle(random, grain=grain, mode="in_or_after")
    rows, rows_after = cohort_rows(inside), cohort_rows(after)
    filled = rows["customers"] > 0
    assert (rows.loc[filled, 0] == 1.0).all()
    assert (rows_after.loc[filled, 0] == 1.0).all()
    a, b = cells(rows), cells(rows_after)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    known = ~np.isnan(a)
    assert (b[known] >= a[known] - 1e-12).all()
    steps = np.diff(b, axis=1)
    assert (steps[~np.isnan(steps)] <= 1e-12).all()  # in or after never rises along k

    # Every cell of a period that ends after the as-of day is NaN (except period 0).
    for label, values in zip(rows["acquisition"], a, strict=True):
        acquired = pd.Period(label, freq="Q" if grain == "quarter" else "M")
        for k in range(1, len(values)):
            if (acquired + k).end_time.normalize() > random.as_of:
                assert math.isnan(values[k]), (label, k)

    # The cohorts hold every customer active by the as-of day, once.
    act = random.activity
    by_as_of = (act.parts["active_customers.rows"] > 0) & (act.month <= month_number(random.as_of))
    ever_active = len(np.unique(act.customer[by_as_of]))
    assert rows["customers"].sum() == ever_active == inside["customers"].iloc[-1]


def test_breakdown_sizes_add_up_to_the_whole(random) -> None:
    whole = cohort_rows(retention_triangle(random)).set_index("acquisition")["customers"]
    parts = cohort_rows(retention_triangle(random, by="region"))
    summed = parts.groupby("acquisition")["customers"].sum()
    assert summed.to_dict() == whole.to_dict()
    # A segment's rows are the cohort of that region's customers.
    europe = cohort_rows(retention_triangle(random, cohort="Region: EU"))
    eu_rows = parts[parts["segment"] == "EU"].set_index("acquisition")["customers"]
    assert (
        europe.set_index("acquisition")["customers"].to_dict()
        == eu_rows[eu_rows.index.isin(europe["acquisition"])].to_dict()
    )
    assert eu_rows.sum() == europe["customers"].sum()
