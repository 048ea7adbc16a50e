"""Targets (issue 24, item 3) and the balanced executive view (item 5).

Targets: the contract's optional ``targets`` table loaded and quarantined like every table; the
variance, % of target and verdict by polarity, checked against values worked out by hand; the
matching by metric, period and cohort in summary, compare and dashboard, every figure checked
against the engine's value; ``profiler metrics check --targets``; a build stores them, and a
CAR without them shows no target column.  The dashboard's NPS, CSAT, CES and complaint rate
tiles, with their period and polarity, on the demo and left out on a bare export.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

import profiler
from profiler import targets, views
from profiler.catalog import load_catalog
from profiler.query import QueryEngine
from tests import car_data
from tests.built import Built
from tests.conftest import load_tables, write_table
from workbook.cli import main

CATALOG = load_catalog()
# Targets for the hand-made sources of tests/car_data.py (CAR as of 2024-12-31).
HAND_TARGETS = [
    {"metric": "net_sales", "period": "2024", "cohort": "", "target": "5000", "owner": "Finance"},
    # any letter case, the quarter written in lower case: Buyers only
    {"metric": "NET_SALES", "period": "2024-q4", "cohort": "buyers", "target": "6000"},
    {"metric": "net_sales", "period": "2024-Q4", "cohort": "All customers", "target": "5500"},
    {"metric": "nps", "period": "2024", "cohort": "All customers", "target": "-40"},
    {"metric": "complaint_rate", "period": "2023", "cohort": "", "target": "0.25"},
    # a state known only at D: its target's period is asof, whatever the view's period
    {"metric": "customers", "period": "asof", "cohort": "", "target": "4"},
    # names the CAR does not know match nothing (metrics check names them)
    {"metric": "net_sale", "period": "2024", "cohort": "", "target": "1"},
    {"metric": "net_sales", "period": "2024", "cohort": "Nobody", "target": "1"},
]


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> QueryEngine:
    folder = tmp_path_factory.mktemp("hand-targets")
    source = load_tables(folder, car_data.TABLES)
    engine = Built(source, car_data.AS_OF).engine
    targets.set_targets(engine, pd.DataFrame(HAND_TARGETS))
    return engine


# -- variance, % of target and the verdict, worked out by hand --------------------------------


@pytest.mark.parametrize(
    ("metric", "value", "target", "variance", "pct", "verdict"),
    [
        # a total: the plain difference, the ratio; higher is better
        ("net_sales", 5770.0, 5000.0, 770.0, 5770 / 5000, "good"),
        ("net_sales", 4000.0, 5000.0, -1000.0, 0.8, "bad"),
        # a share: the difference in percentage points; lower is better
        ("complaint_rate", 0.06, 0.05, 1.0, 1.2, "bad"),
        ("complaint_rate", 0.04, 0.05, -1.0, 0.8, "good"),
        # a score: points, and no % of target (a ratio of negative numbers means nothing)
        ("nps", -50.0, -40.0, -10.0, math.nan, "bad"),
        ("ces", 3.5, 4.0, -0.5, math.nan, "good"),  # effort: lower is better
        # a neutral metric is never better or worse
        ("customers", 6.0, 5.0, 1.0, 1.2, "neutral"),
        # no % of target where the target is not positive
        ("net_sales", 10.0, 0.0, 10.0, math.nan, "good"),
    ],
)
def test_variance_pct_and_verdict(metric, value, target, variance, pct, verdict) -> None:
    got = targets.against(CATALOG.get(metric), value, target)
    assert float(got["variance"]) == pytest.approx(variance)
    assert (math.isnan(pct) and math.isnan(got["pct_of_target"])) or float(
        got["pct_of_target"]
    ) == pytest.approx(pct)
    assert str(got["verdict"]) == verdict


def _check_rows(engine: QueryEngine, frame: pd.DataFrame, expected: dict) -> None:
    """Every row with a target is one of ``expected`` ((metric, cohort, period) -> target),
    and its value, variance and % of target follow from the engine's own value."""
    rows = frame[frame["target"].notna()]
    got = {(r.metric, r.cohort, r.period): r for r in rows.itertuples()}
    assert set(got) == set(expected)
    for (metric, cohort, period), target in expected.items():
        row = got[(metric, cohort, period)]
        span = "asof" if period.startswith("as of") else period
        value = engine.value(metric, cohort, span)
        assert row.value == pytest.approx(value)
        assert row.target == target
        part = targets.against(engine.metric(metric), value, target)
        assert row.variance == pytest.approx(float(part["variance"]))
        assert row.verdict_vs_target == str(part["verdict"])


def test_summary_matches_targets_by_metric_period_and_cohort(hand: QueryEngine) -> None:
    metrics = ["net_sales", "nps", "customers", "complaint_rate"]
    cohorts = ["All customers", "Buyers"]
    year = views.summary(hand, "2024", cohorts, metrics)
    as_of = "as of 2024-12-31"
    _check_rows(
        hand,
        year,
        {
            ("net_sales", "All customers", "2024"): 5000.0,  # a target for 2025 matches 2025
            ("nps", "All customers", "2024"): -40.0,
            ("customers", "All customers", as_of): 4.0,  # asof: D's value in any period
        },
    )
    row = year[(year["metric"] == "net_sales") & (year["cohort"] == "All customers")].iloc[0]
    assert row.value == 5770 and row.variance == 770 and row.pct_of_target == pytest.approx(1.154)
    assert row.target_owner == "Finance"
    quarter = views.summary(hand, "2024-Q4", cohorts, metrics)
    _check_rows(
        hand,
        quarter,
        {
            ("net_sales", "Buyers", "2024-Q4"): 6000.0,
            ("net_sales", "All customers", "2024-Q4"): 5500.0,
            ("customers", "All customers", as_of): 4.0,
        },
    )
    old = views.summary(hand, "2023", cohorts, metrics)
    row = old[old["metric"] == "complaint_rate"].iloc[0]  # 1 complaint in 1 interaction
    assert row.value == 1.0 and row.variance == pytest.approx(75.0)  # points: 100% - 25%
    assert row.verdict_vs_target == "bad"  # lower is better
    assert row.pct_of_target == pytest.approx(4.0)


def test_compare_and_dashboard_carry_the_targets(hand: QueryEngine) -> None:
    table = views.compare(hand, ["Buyers"], ["net_sales", "aov"], "2024-Q4", vs="2023-Q4")
    _check_rows(hand, table, {("net_sales", "Buyers", "2024-Q4"): 6000.0})
    board = views.dashboard(hand, "2024-Q4")
    board["cohort"] = "All customers"
    rows = board[board["target"].notna()]
    assert list(rows["metric"]) == ["net_sales"]
    assert rows["value"].iloc[0] == 5000 + 180 + 80
    assert rows["variance"].iloc[0] == pytest.approx(5260 - 5500)
    assert rows["pct_of_target"].iloc[0] == pytest.approx(5260 / 5500)
    assert rows["verdict_vs_target"].iloc[0] == "bad"


def test_a_car_without_targets_shows_no_target_columns(tmp_path: Path) -> None:
    source = load_tables(tmp_path / "data", car_data.TABLES)
    engine = Built(source, car_data.AS_OF).engine
    for frame in (
        views.summary(engine, "2024", ["All customers"], ["net_sales"]),
        views.compare(engine, ["Buyers"], ["net_sales"], "2024"),
        views.dashboard(engine, "2024-Q4"),
    ):
        assert not set(targets.COLUMNS) & set(frame.columns)


# -- loading: quarantine with a reason, rows read = accepted + quarantined --------------------

BAD_TARGETS = [
    {"metric": "net_sales", "period": "2025", "cohort": "", "target": "100", "owner": "F"},
    {"metric": "net_sales", "period": "2025-13", "cohort": "", "target": "100", "owner": "F"},
    {"metric": "", "period": "2025", "cohort": "", "target": "100", "owner": "F"},
    {"metric": "aov", "period": "2025", "cohort": "", "target": "lots", "owner": "F"},
    {"metric": "aov", "period": "2025", "cohort": "", "target": "", "owner": "F"},
    # the first row again: any letter case, "All customers" is the empty cohort
    {"metric": "NET_SALES", "period": "2025", "cohort": "all customers", "target": "9"},
    {"metric": "net_sales", "period": "2025", "cohort": "Buyers", "target": "50", "owner": "F"},
    {"metric": "net_sales", "period": "asof", "cohort": "", "target": "50", "owner": "F"},
    {"metric": "bogus", "period": "2025-Q1", "cohort": "", "target": "1", "owner": "F"},
]


def test_bad_rows_are_quarantined_with_a_reason(tmp_path: Path) -> None:
    source = load_tables(tmp_path, {**car_data.TABLES, "targets": BAD_TARGETS})
    report = source.reports["targets"]
    assert report.rows_read == len(BAD_TARGETS) == report.accepted + report.quarantined
    assert report.quarantined == 5
    bad = source.quarantine[source.quarantine["table"] == "targets"].set_index("row")
    assert list(bad.index) == [2, 3, 4, 5, 6]
    assert bad.loc[2, "reason"].startswith("period: expected YYYY-MM")
    assert bad.loc[3, "reason"] == "metric: required value is empty"
    assert bad.loc[4, "reason"] == "target: expected a number, got 'lots'"
    assert bad.loc[5, "reason"] == "target: required value is empty"
    assert bad.loc[6, "reason"] == (
        "duplicate target (metric, period, cohort) = (NET_SALES, 2025, all customers); "
        "first seen at row 1"
    )
    kept = targets.stored_frame(source.tables["targets"])
    assert list(kept["period_key"]) == ["2025", "2025", "asof", "2025-Q1"]


def test_metrics_check_names_file_row_and_column(tmp_path: Path, capsys) -> None:
    path = write_table(tmp_path, "targets", [*BAD_TARGETS, *_unsupported()])
    assert main(["metrics", "check", "--targets", str(path)]) == 1
    out = capsys.readouterr()
    problems = [line for line in out.out.splitlines() if line.startswith("targets.csv")]
    assert problems == [
        "targets.csv: row 2, column period: period: expected YYYY-MM, YYYY-Qn, YYYY, "
        "ytd:YYYY-MM, r12:YYYY-MM or asof, got '2025-13'",
        "targets.csv: row 3, column metric: metric: required value is empty",
        "targets.csv: row 4, column target: target: expected a number, got 'lots'",
        "targets.csv: row 5, column target: target: required value is empty",
        "targets.csv: row 6, column metric, period, cohort: duplicate target (metric, period, "
        "cohort) = (NET_SALES, 2025, all customers); first seen at row 1",
        "targets.csv: row 9, column metric: unknown metric 'bogus'.",
        "targets.csv: row 10, column period: debt_balance is known only at the CAR's date (a "
        "customer state), so its target's period is asof, not '2025'.",
        "targets.csv: row 12, column metric: unknown metric 'net_sale'. Did you mean 'net_sales'?",
    ]
    assert "8 problem(s) in the targets table." in out.err  # stage_active: at the period's end
    # a metric of the period rows defined for some kinds of period only
    import dataclasses

    from profiler.catalog import Catalog

    yearly = dataclasses.replace(CATALOG.metrics["net_sales"], periods=("year",))
    catalog = Catalog({**CATALOG.metrics, "net_sales": yearly}, CATALOG.version)
    assert (
        "targets.csv: row 8, column period: net_sales is not defined for asof periods "
        "('asof'); it takes year."
    ) in targets.check_targets(path, catalog)


def _unsupported() -> list[dict]:
    return [
        {"metric": "debt_balance", "period": "2025", "cohort": "", "target": "1", "owner": ""},
        {"metric": "stage_active", "period": "2025-Q2", "cohort": "", "target": "1", "owner": ""},
        {"metric": "net_sale", "period": "2025", "cohort": "", "target": "1", "owner": ""},
    ]


def test_metrics_check_with_a_car_checks_cohorts(
    demo_car_dir, demo_data_dir, tmp_path: Path, capsys
) -> None:
    rows = [
        {"metric": "net_sales", "period": "2026-Q2", "cohort": "Crown jewels", "target": "1"},
        {"metric": "net_sales", "period": "2026-Q2", "cohort": "Crwn jewels", "target": "1"},
    ]
    data = tmp_path / "data"
    write_table(data, "targets", rows)
    assert main(["metrics", "check", "--data", str(data), "--car", str(demo_car_dir)]) == 1
    out = capsys.readouterr().out
    assert (
        "targets.csv: row 2, column cohort: Unknown cohort 'Crwn jewels'. Did you mean "
        "'Crown jewels'?" in out
    )
    assert "row 1" not in out
    # the demo's own plan passes
    assert main(["metrics", "check", "--data", str(demo_data_dir), "--car", str(demo_car_dir)]) == 0
    assert "targets.parquet: targets checked, no problems" in capsys.readouterr().out


# -- a build stores them; the command line shows them -----------------------------------------


def test_a_build_stores_the_targets_and_the_cli_shows_them(
    source_dir: Path, tmp_path: Path, capsys
) -> None:
    plain = tmp_path / "plain"
    profiler.build(source_dir, plain, engine="in-memory", today="2026-01-01")
    assert targets.targets_of(QueryEngine.open(plain)) is None
    assert main(["dashboard", "--car", str(plain), "--period", "2024-Q1"]) == 0
    assert "target" not in capsys.readouterr().out
    assert main(["summary", "--car", str(plain), "--period", "2024-Q1"]) == 0
    assert "Against target" not in capsys.readouterr().out

    write_table(
        source_dir,
        "targets",
        [
            {"metric": "net_sales", "period": "2024-Q1", "cohort": "", "target": "2000"},
            {"metric": "net_sales", "period": "2024-Q1", "cohort": "", "target": "3000"},
            {"metric": "net_sale", "period": "2024-Q1", "cohort": "", "target": "3000"},
        ],
    )
    said: list[str] = []
    car = tmp_path / "car"
    profiler.build(source_dir, car, engine="in-memory", today="2026-01-01", report=said.append)
    assert "Targets: 2 stored with the CAR" in "\n".join(said)
    assert "Note: targets for metrics the catalog does not have match nothing: net_sale;" in (
        "\n".join(said)
    )
    assert any("quarantined 1" in line for line in said)  # the repeated row
    engine = QueryEngine.open(car)
    stored = targets.targets_of(engine)
    assert stored is not None and list(stored["target"]) == [2000.0, 3000.0]
    value = engine.value("net_sales", "All customers", "2024-Q1")
    assert main(["dashboard", "--car", str(car), "--period", "2024-Q1", "--csv"]) == 0
    board = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("metric")
    assert board.loc["net_sales", "target"] == 2000
    assert board.loc["net_sales", "variance"] == pytest.approx(value - 2000)
    assert board.loc["net_sales", "pct_of_target"] == pytest.approx(value / 2000)
    assert main(["dashboard", "--car", str(car), "--period", "2024-Q1"]) == 0
    table = capsys.readouterr().out
    assert "% of target" in table and "2,000.00" in table
    assert main(["summary", "--car", str(car), "--period", "2024-Q1"]) == 0
    assert "Against target:" in capsys.readouterr().out


def test_out_of_core_builds_store_them_too(source_dir: Path, tmp_path: Path) -> None:
    write_table(
        source_dir,
        "targets",
        [{"metric": "orders", "period": "2024", "cohort": "", "target": "3", "owner": "Ops"}],
    )
    car = tmp_path / "car"
    profiler.build(source_dir, car, engine="out-of-core", today="2026-01-01")
    stored = targets.targets_of(QueryEngine.open(car))
    assert stored is not None and list(stored["owner"]) == ["Ops"]


# -- the balanced executive view ----------------------------------------------------------------

EXPERIENCE = {
    "NPS": ("nps", "higher"),
    "CSAT": ("csat", "higher"),
    "Customer effort (CES)": ("ces", "lower"),
    "Complaint rate": ("complaint_rate", "lower"),
}


def test_dashboard_tiles_beside_the_money(demo_car_dir: Path, tmp_path: Path) -> None:
    engine = QueryEngine.open(demo_car_dir)
    board = views.dashboard(engine, "2026-Q2").set_index("kpi")
    assert list(board.index[:8]) == [
        "Spend",
        "Orders",
        "Active customers",
        "Acquisition",
        "Churn",
        "Reactivation",
        "Debt balance",
        "Bad debt written off",
    ]
    for kpi, (metric, better) in EXPERIENCE.items():
        row = board.loc[kpi]
        assert row["metric"] == metric and row["better"] == better
        assert row["value_period"] == "2026-Q2"
        assert row["value"] == pytest.approx(engine.value(metric, "All customers", "2026-Q2"))
        assert row["prior"] == pytest.approx(engine.value(metric, "All customers", "2026-Q1"))
    assert board.loc["Debt balance", "value_period"] == f"as of {engine.as_of:%Y-%m-%d}"
    # the demo's plan: the experience goals of every quarter, and net sales
    assert board.loc["NPS", "target"] == -15 and board.loc["Spend", "target"] > 0
    assert np.isnan(board.loc["Churn", "target"])
    # complaint rate is complaints over interactions (brute force over the activity parts)
    complaints = engine.value("complaints", "All customers", "2026-Q2")
    contacts = engine.value("interactions", "All customers", "2026-Q2")
    assert board.loc["Complaint rate", "value"] == pytest.approx(complaints / contacts)

    from workbook.builder import build_workbook

    book = build_workbook(engine, tmp_path / "Customer_Profiler.xlsm")
    sheet = load_workbook(book, read_only=True)["Dashboard"]
    cells = {str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None}
    assert {"NPS ↑", "CSAT ↑", "Customer effort (CES) ↓", "Complaint rate ↓", "Spend ↑"} <= cells
    assert {"Period", "Better", "Target", "Variance", "% of target"} <= cells
    assert "lower is better" in cells and "2026-Q2" in cells


def test_without_surveys_or_interactions_the_tiles_are_left_out(tmp_path: Path) -> None:
    bare = {"order_lines": car_data.BARE_TABLES["order_lines"]}
    bare_rows = [
        {k: r[k] for k in ("order_id", "customer_id", "ordered_at", "net_amount")}
        for r in bare["order_lines"]
    ]
    data = tmp_path / "data"
    write_table(data, "order_lines", bare_rows)
    write_table(
        data,
        "targets",
        [{"metric": "net_sales", "period": "2024", "cohort": "", "target": "5000"}],
    )
    car = tmp_path / "car"
    profiler.build(data, car, today="2026-01-01")
    engine = QueryEngine.open(car)
    board = views.dashboard(engine, "2024")
    assert not set(board["metric"]) & {"nps", "csat", "ces", "complaint_rate"}
    note = " ".join(board.attrs["notes"])
    assert "Left out" in note
    for kpi in EXPERIENCE:
        assert kpi in note
    row = board.set_index("metric").loc["net_sales"]
    assert row["target"] == 5000
    assert row["variance"] == pytest.approx(row["value"] - 5000)


def test_a_snapshot_hides_the_variance_with_the_value(hand: QueryEngine) -> None:
    """The variance and % of target would give a hidden value back from its target: they are
    suppressed with it; the target itself (a plan, no customer's data) stays."""
    from workbook.content import load_layout, sheet_content
    from workbook.suppression import suppress

    layout = load_layout()
    sheet = next(s for s in layout["sheets"] if s["name"] == "Dashboard")
    content = sheet_content(hand, sheet, {"DashboardPeriod": "2024-Q4"})
    kpis = content.blocks[0].frame
    spend = kpis.index[kpis["KPI"] == "Spend"][0]
    assert kpis.loc[spend, "Target"] == 5500
    safe, _ = suppress(content, 10)  # every figure of these 5 customers is under 10
    row = safe.blocks[0].frame.iloc[spend]
    assert row["This period"] == "n<10" and row["Variance"] == "n<10"
    assert row["% of target"] == "n<10" and row["Target"] == 5500
