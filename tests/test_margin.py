"""Margin (issue 24 item 4): a cost of goods from products.unit_cost and/or order_lines.cost
gives the catalog's cost, gross margin and margin rate, the CAR's margin columns, and a margin
basis for the strategy segments; without one they are left out with a note.

The line cost rule (profiler/margin.py): order_lines.cost (whole line, line currency, at the
line's rate) when given, else quantity x products.unit_cost (GBP), else no known cost; a line
without a known cost is in neither side of the margin (gross margin = net sales of kept lines
with a known cost - their cost; cost_coverage says how much of net sales that is).  Returned
and cancelled lines count as net sales counts them: not at all.

The hand-made rows (CAR as of 2024-12-31):
  products: P1 leather goods unit cost 40; P2 fragrance unit cost 10; P3 watches no cost.
  c1: L1 O1 2024-03-01 store P1 x1 100 kept (cost 40 from the product);
      L2 O1 P2 x2 50 kept, order_lines.cost 12 (beats 2 x 10);
      L3 O2 2024-05-01 web P1 x1 100 returned 2024-05-10 (cost 40: out);
  c2: L4 O3 2024-06-01 store P2 x1 30 cancelled (out); L5 O4 2024-07-01 store P3 x1 500 kept,
      no known cost;
  c3: L6 O5 2024-08-01 web P2 x3 90 EUR at 0.8 = 72 GBP, order_lines.cost 20 EUR = 16 GBP;
      L7 O6 2023-02-01 store P1 x1 120 kept (cost 40).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler import margin
from profiler.loading import load_sources
from tests.built import Built
from tests.conftest import write_table

AS_OF = "2024-12-31"

PRODUCTS = [
    {"product_id": "P1", "category": "leather goods", "unit_cost": "40"},
    {"product_id": "P2", "category": "fragrance", "unit_cost": "10"},
    {"product_id": "P3", "category": "watches", "unit_cost": ""},
]


def _line(order, line, customer, at, product, qty, net, *, status="completed", returned="",
          cost="", currency="GBP", fx="1", channel="store"):  # fmt: skip
    return {
        "order_id": order,
        "line_id": line,
        "customer_id": customer,
        "ordered_at": at,
        "channel": channel,
        "product_id": product,
        "quantity": str(qty),
        "net_amount": str(net),
        "currency": currency,
        "fx_to_reporting": fx,
        "status": status,
        "returned_at": returned,
        "cost": cost,
    }


LINES = [
    _line("O1", 1, "c1", "2024-03-01 10:00", "P1", 1, 100),
    _line("O1", 2, "c1", "2024-03-01 10:00", "P2", 2, 50, cost="12"),
    _line(
        "O2",
        1,
        "c1",
        "2024-05-01 10:00",
        "P1",
        1,
        100,
        status="returned",
        returned="2024-05-10 10:00",
        channel="web",
    ),  # fmt: skip
    _line("O3", 1, "c2", "2024-06-01 10:00", "P2", 1, 30, status="cancelled"),
    _line("O4", 1, "c2", "2024-07-01 10:00", "P3", 1, 500),
    _line(
        "O5",
        1,
        "c3",
        "2024-08-01 10:00",
        "P2",
        3,
        90,
        cost="20",
        currency="EUR",
        fx="0.8",
        channel="web",
    ),  # fmt: skip
    _line("O6", 1, "c3", "2023-02-01 10:00", "P1", 1, 120),
]


def write(folder: Path, lines: list[dict], products: list[dict] | None) -> Path:
    write_table(folder, "order_lines", lines)
    if products is not None:
        write_table(folder, "products", products)
    return folder


def built(folder: Path, lines=LINES, products=PRODUCTS) -> Built:  # noqa: ANN001
    return Built(load_sources(write(folder, lines, products), today="2026-01-01"), AS_OF)


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> Built:  # noqa: ANN001
    return built(tmp_path_factory.mktemp("both"))


# -- the catalog ------------------------------------------------------------------------------

# 2024: kept lines L1, L2, L5, L6 (net 100 + 50 + 500 + 72 = 722); with a known cost L1, L2, L6
# (222), costing 40 + 12 + 16 = 68.
GOLDEN = [
    ("net_sales", "2024", 722),
    ("cost_of_sales", "2024", 68),
    ("costed_sales", "2024", 222),
    ("gross_margin", "2024", 222 - 68),
    ("margin_rate", "2024", (222 - 68) / 222),
    ("cost_coverage", "2024", 222 / 722),
    ("gross_margin", "2023", 120 - 40),
    ("gross_margin", "2024-05", 0),  # the returned line is out, sales and cost
    ("gross_margin", "asof", 222 - 68 + 80),
]


@pytest.mark.parametrize(("metric", "period", "want"), GOLDEN)
def test_margin_metrics_golden(both: Built, metric: str, period: str, want: float) -> None:
    got = both.engine.value(metric, "All customers", period)
    assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-9), (metric, period, got)
    # the reference engine over the sources gives the same
    ref = both.reference.value(metric, period)
    assert math.isclose(float(ref), want, rel_tol=1e-12, abs_tol=1e-9), (metric, period, ref)


def brute_force(folder: Path) -> dict[str, float]:
    """The margin of 2024 from the CSV files, by the rule, with pandas."""
    lines = pd.read_csv(folder / "order_lines.csv", dtype=str, keep_default_na=False)
    products = pd.read_csv(folder / "products.csv", dtype=str, keep_default_na=False)
    unit = dict(zip(products["product_id"], products["unit_cost"], strict=True))
    sales = cost = 0
    for _, r in lines.iterrows():
        if r["status"] != "completed" or not r["ordered_at"].startswith("2024"):
            continue
        fx = float(r["fx_to_reporting"])
        if r["cost"]:
            c = round(float(r["cost"]) * fx * 100)
        elif unit.get(r["product_id"]):
            c = round(int(r["quantity"]) * float(unit[r["product_id"]]) * 100)
        else:
            continue
        sales += round(float(r["net_amount"]) * fx * 100)
        cost += c
    return {"gross_margin": (sales - cost) / 100, "margin_rate": (sales - cost) / sales}


def test_brute_force_agrees(both: Built, tmp_path: Path) -> None:
    folder = write(tmp_path, LINES, PRODUCTS)
    for metric, want in brute_force(folder).items():
        assert math.isclose(both.engine.value(metric, "All customers", "2024"), want)


def test_by_dimension_and_cohort(both: Built) -> None:
    """Margin splits like net sales: by category (fragrance 50 - 12 + 72 - 16; leather 100 - 40)."""
    by = both.reference.value("gross_margin", "2024", by="category")
    assert math.isclose(by["fragrance"], 50 - 12 + 72 - 16) and math.isclose(
        by["leather goods"], 60
    )


# -- the CAR ----------------------------------------------------------------------------------


def test_car_margin_columns(both: Built) -> None:
    car = both.car.set_index("customer_id")
    assert car.loc["c1", "margin_ltd"] == 150 - 52 and car.loc["c1", "cost_ltd"] == 52
    assert car.loc["c2", "margin_ltd"] == 0 and math.isnan(car.loc["c2", "margin_rate_l12m"])
    assert car.loc["c3", "margin_ltd"] == 56 + 80 and car.loc["c3", "margin_l12m"] == 56
    assert math.isclose(car.loc["c3", "margin_rate_l12m"], 56 / 72)
    assert math.isclose(car.loc["c3", "margin_rate_ltd"], 136 / 192)
    names = {d.name for d in both.result.definitions}
    assert {"margin_ltd", "margin_l12m", "margin_rate_l12m", "cost_ltd"} <= names
    assert "margin" not in both.result.left_out


# -- cost sources one at a time, partial costs, quarantine ------------------------------------


def test_products_missing_line_cost_only(tmp_path: Path) -> None:
    """No products table: order_lines.cost alone gives the margin of the lines that carry one
    (L2 and L6); the rest have no known cost."""
    b = built(tmp_path, products=None)
    assert math.isclose(b.engine.value("cost_of_sales", "All customers", "2024"), 12 + 16)
    assert math.isclose(b.engine.value("costed_sales", "All customers", "2024"), 50 + 72)
    assert math.isclose(b.engine.value("gross_margin", "All customers", "2024"), 122 - 28)
    car = b.car.set_index("customer_id")
    assert car.loc["c3", "margin_ltd"] == 56  # L7 has no cost without the product master


def test_unit_cost_only(tmp_path: Path) -> None:
    """No cost column: quantity x unit cost for every line (L2: 2 x 10; L6: 3 x 10 GBP)."""
    lines = [{k: v for k, v in line.items() if k != "cost"} for line in LINES]
    b = built(tmp_path, lines=lines)
    assert math.isclose(b.engine.value("cost_of_sales", "All customers", "2024"), 40 + 20 + 30)
    assert math.isclose(b.engine.value("gross_margin", "All customers", "2024"), 222 - 90)


def test_negative_cost_is_quarantined(tmp_path: Path) -> None:
    lines = [*LINES, _line("O7", 1, "c3", "2024-09-01 10:00", "P1", 1, 100, cost="-5")]
    products = [*PRODUCTS, {"product_id": "P4", "category": "home", "unit_cost": "-1"}]
    source = load_sources(write(tmp_path, lines, products), today="2026-01-01")
    q = source.quarantine
    line = q[(q["table"] == "order_lines") & (q["column"] == "cost")]
    assert line["reason"].tolist() == ["negative cost: expected ≥ 0, got -5"]
    product = q[(q["table"] == "products") & (q["column"] == "unit_cost")]
    assert product["reason"].tolist() == ["negative unit_cost: expected ≥ 0, got -1"]


# -- without a cost ---------------------------------------------------------------------------

MARGIN_METRICS = ["cost_of_sales", "costed_sales", "gross_margin", "margin_rate", "cost_coverage"]


def _no_cost(lines: list[dict], keep: tuple[str, ...] | None = None) -> list[dict]:
    drop = {"cost"} if keep is None else set(lines[0]) - set(keep)
    return [{k: v for k, v in line.items() if k not in drop} for line in lines]


@pytest.mark.parametrize("case", ["no cost columns", "bare four columns"])
def test_without_cost_margin_is_left_out(tmp_path: Path, case: str) -> None:
    from profiler import availability, views

    if case == "bare four columns":
        bare = ("order_id", "customer_id", "ordered_at", "net_amount")
        b = built(tmp_path, lines=_no_cost(LINES, bare), products=None)
    else:
        b = built(tmp_path, lines=_no_cost(LINES), products=[
            {k: v for k, v in p.items() if k != "unit_cost"} for p in PRODUCTS
        ])  # fmt: skip
    engine = b.engine
    for name in MARGIN_METRICS:
        assert engine.left_out_metric(name) == margin.NOTE, name
    assert not {"margin_ltd", "margin_l12m", "cost_ltd"} & set(b.car.columns)
    assert b.result.left_out["margin"] == f"left out: {margin.NOTE}"
    lines = dict(availability.left_out(engine))
    assert lines["Metric gross_margin"] == margin.NOTE
    table = views.summary(engine, "2024", metrics=["net_sales", "gross_margin", "margin_rate"])
    assert set(table["metric"]) == {"net_sales"}
    assert "gross_margin, margin_rate" in table.attrs["notes"][0]
    ranked = views.summary(engine, "2024", metrics=["net_sales"], rank_by="gross_margin")
    assert f"Not ranked by gross_margin: {margin.NOTE}." in ranked.attrs["notes"]


# -- the strategy segments' current value -----------------------------------------------------


def _spec(tmp_path: Path, basis: str):  # noqa: ANN202
    from profiler.features import DEFAULT_FEATURES, load_feature_spec

    text = DEFAULT_FEATURES.read_text().replace(
        "current_value_basis: spend", f"current_value_basis: {basis}"
    )
    path = tmp_path / f"features-{basis}.yaml"
    path.write_text(text)
    return load_feature_spec(path)


@pytest.mark.parametrize(
    ("basis", "lines", "bands"),
    [
        # spend in the last 12 months: c2 500, c1 150, c3 72
        ("spend", LINES, {"c2": "high", "c1": "medium", "c3": "low"}),
        # margin in the last 12 months: c1 98, c3 56, c2 0 (no known cost)
        ("margin", LINES, {"c1": "high", "c3": "medium", "c2": "low"}),
        # margin asked, no cost in the data: spend, and the note says so
        ("margin", _no_cost(LINES), {"c2": "high", "c1": "medium", "c3": "low"}),
    ],
)
def test_current_value_basis(tmp_path: Path, basis: str, lines: list, bands: dict) -> None:
    from profiler.car import build_car

    products = PRODUCTS if lines is LINES else None
    source = load_sources(write(tmp_path, lines, products), today="2026-01-01")
    spec = _spec(tmp_path, basis)
    car = build_car(source, AS_OF, spec=spec).to_frame().set_index("customer_id")
    assert car["current_value_band"].astype(str).to_dict() == bands
    fallback = margin.current_value_fallback(spec, source)
    assert (fallback is not None) == (basis == "margin" and lines is not LINES)


def test_features_refuse_an_unknown_basis(tmp_path: Path) -> None:
    from profiler.features import FeatureSpecError

    with pytest.raises(FeatureSpecError, match="current_value_basis"):
        _spec(tmp_path, "profit")


def test_a_built_folder_says_what_is_left_out(tmp_path: Path) -> None:
    """``profiler build`` on a bare export: the About sheet's lines name the margin family and
    metrics with the note; the command line's summary ranks nothing and says why."""
    import profiler
    from profiler import availability
    from workbook.cli import main

    bare = ("order_id", "customer_id", "ordered_at", "net_amount")
    data = write(tmp_path / "data", _no_cost(LINES, bare), None)
    profiler.build(data, tmp_path / "car", engine="in-memory", as_of=AS_OF, today="2026-01-01")
    lines = dict(availability.left_out(profiler.open(tmp_path / "car")))
    assert lines["CAR family margin"] == margin.NOTE
    assert lines["Metric margin_rate"] == margin.NOTE
    code = main(["summary", "--car", str(tmp_path / "car"), "--period", "2024",
                 "--cohorts", "All customers", "--rank-by", "gross_margin"])  # fmt: skip
    assert code == 0


# -- the other engines: SQL (DuckDB) and the out-of-core build ---------------------------------


def _sql_values(b: Built, metrics: list[str], period: str) -> dict[str, float]:
    from profiler.sql.engines import DuckDBEngine
    from profiler.sql.facts import FactsShape
    from profiler.sql.metrics import CAR_TABLE, car_table, metric_table

    with DuckDBEngine(threads=1) as sql:
        sql.register_source(b.source)
        sql.register(CAR_TABLE, car_table(b.engine.cohorts, b.engine.catalog))
        table = metric_table(
            sql,
            metrics,
            period,
            catalog=b.engine.catalog,
            shape=FactsShape.of(b.source),
            as_of=b.engine.as_of,
        )
    return table.iloc[0][metrics].to_dict()


@pytest.mark.parametrize("case", ["both", "line cost only", "unit cost only"])
def test_sql_gives_the_same_margin(tmp_path: Path, case: str) -> None:
    if case == "both":
        b = built(tmp_path)
    elif case == "line cost only":
        b = built(tmp_path, products=None)
    else:
        b = built(tmp_path, lines=_no_cost(LINES))
    for period in ("2024", "2023", "asof"):
        got = _sql_values(b, MARGIN_METRICS, period)
        for name in MARGIN_METRICS:
            want = b.engine.value(name, "All customers", period)
            if math.isnan(want):  # no costed sales: no rate, on both
                assert math.isnan(got[name]), (case, name, period)
                continue
            assert math.isclose(got[name], want, rel_tol=1e-12, abs_tol=1e-9), (case, name, period)


def test_sql_without_cost_leaves_margin_out(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from profiler.errors import LeftOut

    b = built(tmp_path, lines=_no_cost(LINES), products=None)
    with pytest.raises(LeftOut, match="needs a cost of goods"):
        _sql_values(b, ["gross_margin"], "2024")


def test_demo_margin(demo_car_dir: Path, demo_source) -> None:  # noqa: ANN001
    """The demo's products carry a cost of goods: luxury margins by category, on every engine."""
    from profiler.query import QueryEngine
    from profiler.sql.engines import DuckDBEngine
    from profiler.sql.facts import FactsShape
    from profiler.sql.metrics import CAR_TABLE, car_table, cohort_condition, metric_table
    from profiler.store import open_generation

    engine = QueryEngine.open(demo_car_dir)
    assert engine.left_out_metric("gross_margin") is None
    rate = engine.value("margin_rate", "All customers", "2025")
    assert 0.5 < rate < 0.7 and engine.value("cost_coverage", "All customers", "2025") == 1.0
    car = open_generation(demo_car_dir).read_car()
    assert {"margin_ltd", "margin_l12m", "margin_rate_l12m"} <= set(car.columns)
    buyers = car["spend_ltd"] > 0
    assert (car.loc[buyers, "margin_ltd"] <= car.loc[buyers, "spend_ltd"]).all()
    # the query engine's margin of the strategy segments = the SQL compile's
    cohorts = ["All customers", "Buyers", "Crown jewels"]
    conditions = {name: cohort_condition(engine.cohorts, name) for name in cohorts}
    with DuckDBEngine(threads=1) as sql:
        sql.register_source(demo_source)
        sql.register(CAR_TABLE, car_table(engine.cohorts, engine.catalog))
        table = metric_table(
            sql,
            ["gross_margin", "margin_rate"],
            "2025",
            conditions,
            catalog=engine.catalog,
            shape=FactsShape.of(demo_source),
            as_of=engine.as_of,
        ).set_index("cohort")
    for row in engine.values(["gross_margin", "margin_rate"], cohorts, "2025").itertuples():
        got = table.loc[row.cohort, row.metric]
        if row.metric == "gross_margin":
            assert round(got * 100) == round(row.value * 100), row
        else:
            assert math.isclose(got, row.value, rel_tol=1e-12), row


def test_most_profitable_segments(demo_car_dir: Path, capsys) -> None:  # noqa: ANN001
    from profiler import views
    from profiler.query import QueryEngine
    from workbook.cli import main

    engine = QueryEngine.open(demo_car_dir)
    table = views.summary(engine, "2025", metrics=["net_sales"], rank_by="Gross_Margin")
    margins = table[table["metric"] == "gross_margin"]["value"].to_numpy(dtype=float)
    shown = margins[~np.isnan(margins)]
    assert len(shown) > 3 and (np.diff(shown) <= 0).all()
    assert table.attrs["ranked_by"] == "gross_margin"
    assert main(["summary", "--car", str(demo_car_dir), "--period", "2025",
                 "--rank-by", "gross_margin"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "Cohorts ranked by gross_margin, highest first." in out


def test_out_of_core_build_gives_the_same_margin(tmp_path: Path) -> None:
    """The out-of-core build (customer buckets, staged lines) = the whole build, margin and
    the margin basis of the current value included."""
    from profiler import store
    from profiler.catalog import load_catalog
    from profiler.outofcore import build_out_of_core

    # integer ids: with text ids an empty customer bucket writes customer_id as a null column
    # (found here, not a margin matter: reported)
    lines = [{**line, "customer_id": line["customer_id"][1:]} for line in LINES]
    data = write(tmp_path / "data", lines, PRODUCTS)
    whole = built(tmp_path / "whole", lines=lines)
    out = tmp_path / "ooc"
    with store.building(out) as writer:
        build_out_of_core(
            data,
            writer,
            load_catalog(),
            as_of=AS_OF,
            workers=1,
            today="2026-01-01",
            batch_rows=2,
            loaded=lambda source: writer.write_csv(store.QUARANTINE, source.quarantine),
        )
    car = store.read_car(out).set_index("customer_id")
    want = whole.car.set_index("customer_id")
    columns = ["cost_ltd", "cost_l12m", "margin_ltd", "margin_l12m", "margin_rate_l12m"]
    pd.testing.assert_frame_equal(car[columns], want[columns])
    activity = store.open_generation(out).read_activity()
    for name in ("cost_of_sales.pence", "costed_sales.pence"):
        assert activity.parts[name].sum() == whole.activity.parts[name].sum(), name


def test_metrics_sql_reads_costs_only_for_margin(demo_car_dir: Path, capsys) -> None:  # noqa: ANN001
    from workbook.cli import main

    base = ["--cohort", "Buyers", "--period", "2025", "--dialect", "duckdb"]
    base += ["--car", str(demo_car_dir)]
    assert main(["metrics", "sql", "margin_rate", *base]) == 0
    assert "unit_cost" in capsys.readouterr().out
    assert main(["metrics", "sql", "margin_rate", *base, "--line-cost"]) == 0
    printed = capsys.readouterr().out
    assert "cost" in printed.replace("unit_cost", "") and "unit_cost" in printed
    assert main(["metrics", "sql", "net_sales", *base]) == 0
    assert "cost" not in capsys.readouterr().out
    assert main(["metrics", "sql", "gross_margin", *base, "--no-unit-cost"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and margin.NOTE in err[0]
