"""Breakdowns (``QueryEngine.breakdown``) against a brute-force groupby over the source rows.

The reference is ``MetricEngine`` (profiler/metrics.py): each leaf's rows for the cohort and
period (``MetricEngine._rows``), grouped with pandas by the dimension (or by the month of the
metric's own date column), aggregated as the reference aggregates groups, and composed by
``profiler/compose.py``.  Every metric with dimensions, by every dimension it declares.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from profiler import store
from profiler.breakdown import MISSING
from profiler.compose import Part, compose
from profiler.errors import LeftOut, ProfilerError
from profiler.metrics import MetricEngine, _aggregate_groups
from profiler.query import QueryEngine

COHORT = "Region: Europe"
PERIOD = "2025"


@pytest.fixture(scope="module")
def engine(demo_car_dir) -> QueryEngine:
    return QueryEngine.open(demo_car_dir)


@pytest.fixture(scope="module")
def reference(engine: QueryEngine, demo_source) -> MetricEngine:
    return MetricEngine(engine.catalog, source=demo_source, car=engine.car, as_of=engine.as_of)


def brute_force(
    engine: QueryEngine, reference: MetricEngine, name: str, dimension: str, labels: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The metric's value and customers per label, by pandas over the source rows."""
    timing = engine.timing(name)
    span = reference.period("asof" if timing == "as_of_d" else PERIOD)
    cohort = engine.cohorts.mask(COHORT)

    def leaf(m) -> Part:  # noqa: ANN001
        if m.source == "customers":
            rows = engine.car[cohort & engine._car_filter(m, engine.car, None)]
            key = rows[dimension].astype(object).map(lambda v: MISSING if pd.isna(v) else str(v))
        else:
            rows = reference._rows(m, span, cohort)
            if dimension == "month":
                times = rows[m.date_column]
                key = times.dt.strftime("%Y-%m")
            else:
                column = rows[dimension].astype(object)
                key = column.map(lambda v: MISSING if pd.isna(v) else str(v))
        rows = rows.assign(_key=key.to_numpy())
        groups = rows.groupby("_key", observed=True, sort=True)
        if m.source == "customers":
            value = groups.size().astype(float)
            customers = value
        else:
            value = _aggregate_groups(m, rows, groups)
            customers = groups["customer_id"].nunique().astype(float)
        fill = np.nan if m.aggregation in ("mean", "median", "percentile") else 0.0
        return Part(
            value.reindex(labels, fill_value=fill).to_numpy(dtype=float),
            customers.reindex(labels, fill_value=0.0).to_numpy(dtype=float),
        )

    part = compose(engine.catalog, name, leaf, {}, size=len(labels))
    return np.asarray(part.value, dtype=float), np.asarray(part.customers, dtype=float)


def cases(catalog) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(m.name, d) for m in catalog.metrics.values() for d in m.dimensions]


def test_every_metric_by_every_dimension_matches_a_groupby(engine, reference) -> None:
    wrong, checked = [], 0
    for name, dimension in cases(engine.catalog):
        table = engine.breakdown([name], dimension, COHORT, PERIOD)
        labels = table["dimension_value"].tolist()
        assert len(labels) == len(set(labels)), (name, dimension)
        expected, customers = brute_force(engine, reference, name, dimension, labels)
        for row, want, count in zip(table.itertuples(), expected, customers, strict=True):
            checked += 1
            if not same(want, row.value) or int(count) != row.customers:
                wrong.append((name, dimension, row.dimension_value, want, row.value))
    assert checked > 300
    assert not wrong, wrong[:5]


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def test_every_value_present_in_the_data_is_shown(engine, reference) -> None:
    facts = reference.frame("order_lines")
    categories = set(facts["category"].astype(str))
    shown = engine.breakdown(["net_sales"], "category", None, "asof")
    assert set(shown["dimension_value"]) == categories
    months = engine.breakdown(["orders"], "month", COHORT, "2025-Q2")["dimension_value"]
    assert months.tolist() == ["2025-04", "2025-05", "2025-06"]
    topics = engine.breakdown(["interactions"], "topic", None, "asof")["dimension_value"]
    assert set(topics) == set(reference.frame("interactions")["topic"].dropna().astype(str))


@pytest.mark.parametrize("dimension", ["channel", "category", "price_point", "month", "country"])
def test_additive_metrics_sum_to_the_undivided_value(engine, dimension) -> None:
    additive = ["net_sales", "units", "kept_lines", "returns_booked", "gross_sales"]
    table = engine.breakdown(additive, dimension, COHORT, PERIOD)
    whole = engine.values(additive, [COHORT], PERIOD).set_index("metric")["value"]
    sums = table.groupby("metric")["value"].sum()
    for name in additive:
        assert math.isclose(sums[name], whole[name], rel_tol=1e-12), name
    # Orders and customers are distinct counts: by channel an order has one channel, so they
    # add up there; by category an order or a customer may count under several.
    if dimension in ("channel", "month"):
        parts = engine.breakdown(["orders"], dimension, COHORT, PERIOD)["value"].sum()
        assert parts == engine.value("orders", COHORT, PERIOD)


def test_customers_by_car_columns_partition_the_cohort(engine) -> None:
    for dimension in engine.catalog.get("customers").dimensions:
        table = engine.breakdown(["customers"], dimension.upper(), COHORT)
        assert table["value"].sum() == engine.cohorts.size(COHORT)
        assert table["period"].str.startswith("as of").all()


def test_small_cells_are_flagged(engine) -> None:
    table = engine.breakdown(["net_sales", "aov"], "sub_category", COHORT, "2025-03")
    assert (table["small"] == (table["customers"] < engine.cohorts.min_size)).all()
    assert table["small"].any()


def test_names_and_refusals(engine) -> None:
    table = engine.breakdown(["NET_SALES"], "Category", "region: europe", PERIOD)
    assert set(table["metric"]) == {"net_sales"} and set(table["dimension"]) == {"category"}
    assert set(table["cohort"]) == {COHORT}
    with pytest.raises(ProfilerError, match="its dimensions are channel") as err:
        engine.breakdown(["nps"], "category", COHORT, PERIOD)
    assert "\n" not in str(err.value)
    plain = next(m.name for m in engine.catalog.metrics.values() if not m.dimensions)
    with pytest.raises(ProfilerError, match="no dimensions"):
        engine.breakdown([plain], "channel")
    with pytest.raises(ProfilerError, match="Unknown cohort"):
        engine.breakdown(["net_sales"], "category", "Nobody", PERIOD)


def test_the_lines_are_stored_in_the_generation(demo_car_dir, engine) -> None:
    generation = store.open_generation(demo_car_dir)
    members = generation.meta["members"]
    for member in store.LINES.values():
        assert member.name in members
    lines = engine.lines()["order_lines"]
    assert lines.columns["row"].dtype == np.int32
    assert (np.diff(lines.month("ordered_at").astype(int)) >= 0).all()  # a period is a slice


def test_a_missing_table_leaves_its_metrics_out(tmp_path, demo_data_dir) -> None:
    import shutil

    import profiler
    from tests.conftest import DEMO_TODAY

    data = tmp_path / "data"
    shutil.copytree(demo_data_dir, data)
    for name in ("interactions", "products", "preferences", "surveys"):
        for path in data.glob(f"{name}.*"):
            path.unlink()
    profiler.build(data, tmp_path / "car", engine="in-memory", today=DEMO_TODAY)
    engine = profiler.open(tmp_path / "car")
    with pytest.raises(LeftOut, match="interactions"):
        engine.breakdown(["interactions"], "channel", None, PERIOD)
    with pytest.raises(LeftOut, match=r"products\.category"):
        engine.breakdown(["net_sales"], "category", None, PERIOD)
    with pytest.raises(LeftOut, match="surveys"):
        engine.breakdown(["nps"], "channel", None, PERIOD)
    with pytest.raises(LeftOut, match="topic_"):
        engine.breakdown(["customers"], "preference_topic")
    by_channel = engine.breakdown(["net_sales"], "channel", None, PERIOD)
    assert math.isclose(by_channel["value"].sum(), engine.value("net_sales", None, PERIOD))
    from profiler import views

    split = views.deep_dive_breakdowns(engine, "Buyers", PERIOD)
    assert {"channel", "country", "region"} <= set(split["dimension"])
    notes = " ".join(split.attrs["notes"])
    for left_out in ("category", "interactions", "nps", "preference_topic"):
        assert left_out in notes


def test_a_bare_four_column_export(tmp_path) -> None:
    import profiler

    data = tmp_path / "bare"
    data.mkdir()
    rows = [
        {"order_id": f"O{i}", "customer_id": f"C{i % 7}", "ordered_at": f"2025-0{1 + i % 6}-1{i % 9}",
         "net_amount": f"{10 + i}.50"}
        for i in range(60)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(data / "order_lines.csv", index=False)
    profiler.build(data, tmp_path / "car", engine="in-memory", today="2025-12-31")
    engine = profiler.open(tmp_path / "car")
    for dimension in ("category", "channel", "country", "price_point"):
        with pytest.raises(LeftOut, match="has no"):
            engine.breakdown(["net_sales"], dimension, None, "2025")
    by_month = engine.breakdown(["net_sales", "orders", "aov"], "month", None, "2025")
    sums = by_month.groupby("metric")["value"].sum()
    assert math.isclose(sums["net_sales"], sum(10.5 + i for i in range(60)))
    assert sums["orders"] == 60


def test_an_old_or_out_of_core_car_says_why(engine) -> None:
    from profiler.cohorts import load_cohort_spec

    old = QueryEngine(
        engine.car,
        engine.activity,
        engine.catalog,
        as_of=engine.as_of,
        cohort_spec=load_cohort_spec(),
        meta={"lines_note": "x"},
    )
    old._lines = {}
    with pytest.raises(ProfilerError, match="No breakdown: x"):
        old.breakdown(["net_sales"], "category")


# -- views, command line, UDF and workbook ----------------------------------------------------


def test_the_deep_dive_shows_every_area_in_full(engine, reference) -> None:
    from profiler import views

    split = views.deep_dive_breakdowns(engine, "Crown jewels", "asof")
    shown = {
        (m, d): set(split[(split["metric"] == m) & (split["dimension"] == d)]["dimension_value"])
        for m, d in zip(split["metric"], split["dimension"], strict=True)
    }
    facts = reference.frame("order_lines")
    interactions = reference.frame("interactions")
    assert shown[("net_sales", "category")] == set(facts["category"].astype(str))
    assert shown[("net_sales", "channel")] == set(facts["channel"].astype(str))
    assert shown[("net_sales", "price_point")] == set(facts["price_point"].astype(str))
    assert shown[("interactions", "channel")] == set(interactions["channel"].dropna().astype(str))
    assert shown[("interactions", "topic")] == set(interactions["topic"].dropna().astype(str))
    topics = {c.removeprefix("topic_") for c in engine.known_columns if c.startswith("topic_")}
    assert len(topics) == 5 and shown[("customers", "preference_topic")] == topics
    opted = split[split["dimension"] == "preference_topic"].set_index("dimension_value")
    members = engine.cohorts.mask("Crown jewels")
    car = engine.ensure_columns([f"topic_{t}" for t in topics])
    for topic in topics:
        assert opted.loc[topic, "value"] == (members & car[f"topic_{topic}"].eq(True)).sum()
    by_category = split[(split["metric"] == "net_sales") & (split["dimension"] == "category")]
    assert math.isclose(by_category["share"].sum(), 1.0)
    assert math.isclose(by_category["base_value"].sum(), engine.value("net_sales", None, "asof"))


def test_views_leave_out_metrics_without_the_dimension(engine) -> None:
    from profiler import views

    table = views.breakdown(engine, "category", [COHORT, "Buyers"], None, PERIOD, vs="2024")
    assert "customers" not in set(table["metric"]) and "net_sales" in set(table["metric"])
    assert any("customers" in note for note in table.attrs["notes"])
    row = table[(table["metric"] == "net_sales") & (table["cohort"] == COHORT)].iloc[0]
    before = engine.breakdown(["net_sales"], "category", COHORT, "2024")
    assert (
        row["vs_value"] == before.set_index("dimension_value").loc[row["dimension_value"], "value"]
    )
    with pytest.raises(ProfilerError, match="their dimensions are"):
        views.breakdown(engine, "colour", [COHORT], ["net_sales", "nps"], PERIOD)


def test_by_on_the_command_line(demo_car_dir, capsys) -> None:
    from workbook.cli import main

    car = str(demo_car_dir)
    assert main(["summary", "--car", car, "--period", "2025", "--by", "Channel"]) == 0
    out = capsys.readouterr().out
    assert "clienteling" in out and "Not broken down by channel" in out
    assert main(["deep-dive", "Crown jewels", "--car", car, "--by", "all"]) == 0
    out = capsys.readouterr().out
    assert "preference_topic" in out and "watches" in out
    args = ["compare", "--car", car, "--cohorts", "crown jewels", "--metrics", "net_sales,aov"]
    assert main([*args, "--period", "2025", "--vs", "2024", "--by", "category", "--csv"]) == 0
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert set(frame["cohort"]) == {"Crown jewels", "All customers"}
    assert {"vs_value", "share", "dimension_value"} <= set(frame.columns)
    assert main([*args, "--by", "colour"]) != 0
    err = capsys.readouterr().err
    assert "colour" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cp_breakdown(engine, monkeypatch) -> None:
    from udfs import profiler_udfs

    monkeypatch.setenv("PROFILER_CAR", str(engine.car_dir))
    table = profiler_udfs.CP_BREAKDOWN("net_sales", "category", COHORT, 2025.0)
    assert table[0] == ["metric", "dimension_value", "value", "customers", "period"]
    expected = engine.breakdown(["net_sales"], "category", COHORT, PERIOD)
    for row, want in zip(table[1:], expected.itertuples(), strict=True):
        assert row[2] == (f"n<{engine.cohorts.min_size}" if want.small else want.value)
    assert profiler_udfs.CP_BREAKDOWN("nps", "category").startswith("#ERROR: Metric 'nps'")


def test_the_breakdown_inputs_on_the_sheets(engine, demo_data_dir, tmp_path) -> None:
    from openpyxl import load_workbook

    from tests import libreoffice
    from workbook.book import FileBook
    from workbook.builder import build_workbook
    from workbook.content import load_layout
    from workbook.inputs import input_cells
    from workbook.macros import refresh_all

    book = build_workbook(engine, tmp_path / "Customer_Profiler.xlsm", data_dir=demo_data_dir)
    cells = input_cells(load_layout())
    wb = load_workbook(book, keep_vba=True)
    sheet, cell, _ = cells["CompareBreakdown"]
    wb[sheet][cell] = "price_point"
    wb.save(book)
    refresh_all(FileBook(book), engine)
    resaved = libreoffice.convert(book, "xlsx", tmp_path / "lo")
    values = load_workbook(resaved, data_only=True)

    def texts(name: str) -> set[str]:
        return {str(c) for row in values[name].iter_rows(values_only=True) for c in row if c}

    dive = texts("Deep Dive")
    assert "Each insight area's breakdowns" in " ".join(dive)
    for value in ("watches", "clienteling", "icon", "craftsmanship"):
        assert value in dive
    compare = texts("Compare")
    assert any("by price_point" in t for t in compare)
    assert {"icon", "entry"} <= compare


def test_a_few_hundred_customers_and_an_out_of_core_build(tmp_path) -> None:
    import profiler
    from profiler import views
    from profiler.demo import generate_demo

    data = tmp_path / "demo300"
    generate_demo(300, 5, data)
    profiler.build(data, tmp_path / "car", engine="in-memory", today="2026-11-22")
    engine = profiler.open(tmp_path / "car")
    split = views.deep_dive_breakdowns(engine, "Crown jewels", "2025")
    assert split["small"].any()  # small cohorts everywhere
    assert (split["small"] == (split["customers"] < engine.cohorts.min_size)).all()
    whole = engine.value("net_sales", "Crown jewels", "2025")
    by = engine.breakdown(["net_sales"], "country", "Crown jewels", "2025")
    assert math.isclose(by["value"].sum(), whole, abs_tol=1e-6)
    profiler.build(data, tmp_path / "ooc", engine="out-of-core", today="2026-11-22")
    ooc = profiler.open(tmp_path / "ooc")
    with pytest.raises(LeftOut, match="out of core"):
        ooc.breakdown(["net_sales"], "category")
    assert ooc.value("net_sales", None, "2025") == engine.value("net_sales", None, "2025")


def test_a_snapshot_hides_small_breakdown_cells(engine, demo_workbook, tmp_path) -> None:
    from openpyxl import load_workbook

    from profiler import views
    from workbook.content import default_inputs, load_layout
    from workbook.snapshot import snapshot

    snap = tmp_path / "snap.xlsx"
    snapshot(demo_workbook, snap)
    inputs = default_inputs(engine, load_layout())
    cohort, period = inputs["DeepDiveCohort"], inputs["DeepDivePeriod"]
    split = views.deep_dive_breakdowns(engine, cohort, period)
    assert split["small"].any()
    rows = list(load_workbook(snap, data_only=True)["Deep Dive"].iter_rows(values_only=True))
    heads = [i for i, row in enumerate(rows) if row and "Value of dimension" in row]
    header = list(rows[heads[0]])
    body: list = []
    for h in heads:  # one block per area and metric, each under its own header
        for row in rows[h + 1 :]:
            if not row or row[0] is None or row[1] is None:  # the end, or the note under it
                break
            body.append(row)
    assert len(body) == len(split)
    value, share = header.index(cohort), header.index("Share")
    for row, small in zip(body, split["small"], strict=True):
        if small:
            assert not isinstance(row[value], int | float), row
            assert not isinstance(row[share], int | float), row
