"""The cohort commands end to end on a demo CAR: cohorts, summary, profile, compare, retention,
dashboard and audience, with --car or $PROFILER_CAR, tables and CSV."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest

from profiler import views
from profiler.catalog import Metric, load_catalog
from profiler.periods import parse_period
from profiler.query import QueryEngine
from workbook.cli import main
from workbook.cli.output import CHANGE, change_format, display_format


@pytest.fixture(scope="module")
def engine(demo_car_dir: Path) -> QueryEngine:
    return QueryEngine.open(demo_car_dir)


def run_csv(args: list[str], capsys: pytest.CaptureFixture[str]) -> pd.DataFrame:
    assert main([*args, "--csv"]) == 0
    return pd.read_csv(io.StringIO(capsys.readouterr().out))


def test_cohorts_list_reads_the_car_from_the_environment(
    demo_car_dir, engine, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("PROFILER_CAR", str(demo_car_dir))
    frame = run_csv(["cohorts", "list"], capsys)
    assert len(frame) == len(engine.cohorts.names)
    assert frame.set_index("cohort").loc["Buyers", "customers"] == engine.cohorts.size("Buyers")
    assert main(["cohorts", "show", "Store loyalists"]) == 0
    assert "stands out:" in capsys.readouterr().out


def test_missing_car_is_a_one_line_error(capsys, monkeypatch) -> None:
    monkeypatch.delenv("PROFILER_CAR", raising=False)
    assert main(["dashboard", "--period", "2025"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: No CAR given") and err.count("\n") == 1


def test_compare_csv_equals_the_engine(demo_car_dir, engine, capsys) -> None:
    frame = run_csv(
        [
            "compare",
            "--car",
            str(demo_car_dir),
            "--cohorts",
            "Region: Europe,Cross-channel explorers",
            "--metrics",
            "net_sales,aov",
            "--period",
            "2025",
            "--vs",
            "2024",
        ],
        capsys,
    )
    assert len(frame) == 4
    row = frame[(frame["cohort"] == "Cross-channel explorers") & (frame["metric"] == "aov")].iloc[0]
    assert row["value"] == pytest.approx(engine.value("aov", "Cross-channel explorers", "2025"))
    assert row["vs_value"] == pytest.approx(engine.value("aov", "Cross-channel explorers", "2024"))
    assert (
        main(
            [
                "compare",
                "--car",
                str(demo_car_dir),
                "--cohorts",
                "Region: Europe",
                "--metrics",
                "aov2",
            ]
        )
        == 1
    )
    assert "Did you mean 'aov'" in capsys.readouterr().err


def test_summary_profile_and_dashboard(demo_car_dir, engine, capsys) -> None:
    car = ["--car", str(demo_car_dir)]
    summary = run_csv(["summary", *car, "--period", "2025", "--group", "Lifecycle stages"], capsys)
    assert set(summary["cohort"]) == set(engine.cohorts.group_names("Lifecycle stages"))
    profile = run_csv(["deep-dive", "Store loyalists", *car, "--period", "r12:2026-06"], capsys)
    assert {"area", "index", "base_value"} <= set(profile.columns)
    board = run_csv(["dashboard", *car, "--period", "2026-Q1"], capsys)
    assert list(board["kpi"])[:2] == ["Spend", "Orders"]
    assert main(["summary", *car, "--period", "2025"]) == 0  # the aligned table
    assert "metric catalog" in capsys.readouterr().out


def test_retention_csv_is_one_row_per_cohort_with_fractions(demo_car_dir, engine, capsys) -> None:
    frame = run_csv(["retention", "--car", str(demo_car_dir), "--grain", "quarter"], capsys)
    cohorts = frame[frame["acquisition"] != "Weighted mean"]
    assert (cohorts["0"] == 1.0).all()
    values = cohorts.drop(columns=["acquisition", "customers"]).to_numpy(dtype=float)
    assert ((values[~pd.isna(values)] >= 0) & (values[~pd.isna(values)] <= 1)).all()
    ever_active = engine.values(["active_customers"], ["All customers"], "asof")["value"].iloc[0]
    assert cohorts["customers"].sum() == ever_active


def test_audience_exports_only_consented_customers(demo_car_dir, engine, tmp_path, capsys) -> None:
    out = tmp_path / "audience.csv"
    args = ["audience", "Buyers", "--car", str(demo_car_dir), "--out", str(out), "--channel", "sms"]
    assert main([*args, "--fields", "clv_12m,region", "--order-by", "clv_12m"]) == 0
    printed = capsys.readouterr().out
    chosen = pd.read_csv(out)
    assert list(chosen.columns) == ["customer_id", "clv_12m", "region"]
    car = engine.car.set_index("customer_id")
    ids = chosen["customer_id"].astype(car.index.dtype)
    assert (
        car.loc[ids, "opt_in_sms"].astype(bool).all()
        and car.loc[ids, "contactable"].astype(bool).all()
    )
    assert chosen["clv_12m"].is_monotonic_decreasing
    buyers = engine.cohorts.mask("Buyers")
    consented = (
        buyers
        & car["opt_in_sms"].fillna(False).astype(bool).to_numpy()
        & car["contactable"].fillna(False).astype(bool).to_numpy()
    )
    objected = car["profiling_opt_out"].to_numpy(dtype=bool)
    assert (consented & objected).any()  # the demo has objections to profiling: left out
    assert len(chosen) == (consented & ~objected).sum()
    assert f"Selected {len(chosen):,}" in printed and "not opted in to sms" in printed
    assert "objected to profiling" in printed
    for column in ("name", "email", "phone"):
        assert column not in chosen.columns


# ---------------------------------------------------------------------------------------------
# human tables: formats, side by side, small flags, periods outside the data


def run_table(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 0
    return capsys.readouterr().out


def table_rows(out: str, header_at: int = 0) -> tuple[list[str], list[list[str]]]:
    """The header and body cells of the first table printed (cells are 2+ spaces apart)."""
    lines = out.splitlines()
    header = re.split(r"\s{2,}", lines[header_at].strip())
    body = []
    for line in lines[header_at + 1 :]:
        if not line.strip() or line.startswith("* "):
            break
        body.append(re.split(r"\s{2,}", line.strip()))
    return header, body


def small_cohort(engine: QueryEngine) -> str:
    """A cohort with customers, but fewer than the spec's min_cohort_size."""
    names = [
        n
        for n in engine.cohorts.names
        if 0 < engine.cohorts.size(n) < engine.cohorts.min_size and "," not in n
    ]
    assert names, "the demo CAR has no small cohort"
    return names[0]


def month_label(month: int) -> str:
    """A month_number as YYYY-MM."""
    return f"{1970 + month // 12}-{month % 12 + 1:02d}"


# A metric's display comes from its catalog unit and Excel format, never its name.
@pytest.mark.parametrize(
    ("unit", "number_format", "value", "shown"),
    [
        ("customers", "#,##0", 20000.0, "20,000"),
        ("orders", "#,##0", 1234.0, "1,234"),
        ("GBP", "#,##0", 1234567.891, "1,234,567.89"),
        ("GBP", "#,##0.00", -0.001, "0.00"),
        ("%", "0.0%", 0.5714, "57.1%"),
        ("%", "0%", 0.5714, "57%"),
        ("%", "", 0.5, "50.0%"),
        ("index", "0", 103.6, "104"),
        ("score", "0.0", -22.39, "-22.4"),
        ("orders", "0.00", 2.346, "2.35"),
        ("years", "", 3.14159, "3.14"),
        ("customers", "#,##0", float("nan"), ""),
        ("GBP", "#,##0", float("inf"), ""),
    ],
)
def test_display_format_follows_the_catalog_unit_and_format(
    unit: str, number_format: str, value: float, shown: str
) -> None:
    metric = Metric(name="anything", unit=unit, format=number_format)
    assert display_format(metric)(value) == shown


def test_changes_are_signed_percentages_and_every_catalog_metric_has_a_display() -> None:
    assert CHANGE(0.63) == "+63.0%" and CHANGE(-0.1234) == "-12.3%" and CHANGE(-0.00001) == "0.0%"
    assert change_format(Metric(name="s", unit="%", format="0.0%"))(2.71) == "+2.7 pp"
    assert change_format(Metric(name="n", unit="score", format="0.0"))(19.44) == "+19.4 pts"
    assert change_format(Metric(name="g", unit="GBP", aggregation="sum"))(0.652) == "+65.2%"
    for metric in load_catalog().metrics.values():
        kind = display_format(metric).kind
        assert (kind == "percent") == (metric.unit == "%"), metric.name
        assert (kind == "money") == (metric.unit == "GBP"), metric.name
        if metric.format == "#,##0" and metric.unit != "GBP":
            assert kind == "count", metric.name


def test_summary_shows_counts_whole_money_in_pence_and_shares_as_percentages(
    demo_car_dir, engine, capsys
) -> None:
    car = ["--car", str(demo_car_dir)]
    out = run_table(["summary", *car, "--period", "2025", "--cohorts", "All customers"], capsys)
    header, body = table_rows(out)
    shown = dict(zip(header, body[0], strict=True))
    values = views.summary(engine, "2025", ["All customers"]).set_index("metric")["value"]
    assert shown["cohort"] == "All customers"
    assert shown["customers"] == f"{int(values['customers']):,}"
    assert shown["orders"] == f"{int(values['orders']):,}"
    assert shown["net_sales"] == f"{values['net_sales']:,.2f}" and "," in shown["net_sales"]
    assert shown["aov"] == f"{values['aov']:,.2f}"
    assert shown["return_rate"] == f"{values['return_rate'] * 100:.1f}%"
    assert shown["retention_rate"].endswith("%")


def test_compare_puts_the_cohorts_side_by_side(demo_car_dir, engine, capsys) -> None:
    cohorts = ["Region: Europe", "Cross-channel explorers"]
    args = ["compare", "--car", str(demo_car_dir), "--cohorts", ",".join(cohorts)]
    args += ["--metrics", "customers,net_sales,aov,return_rate", "--period", "2025", "--vs", "2024"]
    out = run_table(args, capsys)
    groups = re.split(r"\s{2,}", out.splitlines()[0].strip())
    assert groups == [*cohorts, "All customers"]
    header, body = table_rows(out, header_at=1)
    assert header == ["metric", "period", *["value", "vs 2024", "index"] * 2, "value"]
    assert [row[0] for row in body] == ["customers", "net_sales", "aov", "return_rate"]
    frame = views.compare(
        engine, cohorts, ["customers", "net_sales", "aov", "return_rate"], "2025", "2024"
    ).set_index(["cohort", "metric"])
    aov = next(row for row in body if row[0] == "aov")
    words = {"good": "better", "bad": "worse"}
    for at, cohort in ((2, cohorts[0]), (6, cohorts[1])):  # value, change, index, verdict
        expected = frame.loc[(cohort, "aov")]
        assert aov[at] == f"{expected['value']:,.2f}"
        assert aov[at + 1] == f"{expected['change_pct'] * 100:+.1f}%"
        assert aov[at + 2] == f"{expected['index_vs_base']:.0f}"
        assert aov[at + 3] == words[expected["verdict_vs_base"]]  # AOV: higher is better
    assert aov[10] == f"{frame.loc[(cohorts[0], 'aov'), 'base_value']:,.2f}"
    rate = next(row for row in body if row[0] == "return_rate")
    assert rate[2].endswith("%") and rate[10].endswith("%")
    # a share changes in percentage points, as on the workbook's Compare sheet
    assert rate[3] == f"{frame.loc[(cohorts[0], 'return_rate'), 'change_vs']:+.1f} pp"
    assert "index: cohort / All customers x 100" in out and "vs 2024: the change from 2024:" in out


def test_small_cohorts_are_flagged_in_every_table(demo_car_dir, engine, capsys) -> None:
    car = ["--car", str(demo_car_dir)]
    small = small_cohort(engine)
    size = engine.cohorts.size(small)
    footnote = f"* fewer than {engine.cohorts.min_size} customers"
    out = run_table(["summary", *car, "--period", "asof", "--cohorts", f"Buyers,{small}"], capsys)
    _, body = table_rows(out)
    assert body[0][0] == "Buyers" and not any(c.endswith("*") for c in body[0])
    assert body[1][0] == small and body[1][1] == f"{size}*" and footnote in out
    out = run_table(["deep-dive", small, *car, "--period", "asof", "--area", "sales"], capsys)
    header, body = table_rows(out)
    at = header.index("value")  # a neutral metric's verdict cell is empty: count from the left
    values = [row[at] for row in body if len(row) >= 7]
    assert values and all(v.endswith("*") for v in values) and footnote in out
    out = run_table(["compare", *car, "--cohorts", small, "--metrics", "customers"], capsys)
    assert f" {size}*" in out.splitlines()[2] and footnote in out
    out = run_table(["cohorts", "list", *car], capsys)
    _, body = table_rows(out)
    row = next(r for r in body if r[0] == small)
    assert row[2] == f"{size}*" and footnote in out


def test_retention_flags_small_acquisition_cohorts(demo_car_dir, engine, capsys) -> None:
    args = ["retention", "--car", str(demo_car_dir), "--grain", "quarter", "--by", "region"]
    frame = run_csv(args, capsys)
    out = run_table(args, capsys)
    _, body = table_rows(out)
    shown = {(row[0], row[1]): row[2] for row in body}
    small = frame[frame["customers"] < engine.cohorts.min_size]
    assert len(small) and len(small) < len(frame)
    for row in frame.itertuples(index=False):
        flag = "*" if row.customers < engine.cohorts.min_size else ""
        assert shown[(str(row.segment), row.acquisition)] == f"{row.customers:,}{flag}"
    assert f"* fewer than {engine.cohorts.min_size} customers" in out
    assert all(c.endswith("%") for r in body for c in r[3:] if c)  # shares as percentages


def test_has_data_is_the_months_from_the_first_activity_to_the_car_date(engine) -> None:
    first = int(engine.activity.month[0])
    assert views.has_data(engine, parse_period(month_label(first)))
    assert not views.has_data(engine, parse_period(month_label(first - 1)))
    assert views.has_data(engine, parse_period(f"{engine.as_of:%Y-%m}"))
    after = engine.as_of + pd.offsets.MonthBegin(1)
    assert not views.has_data(engine, parse_period(f"{after:%Y-%m}"))
    assert views.has_data(engine, parse_period(f"r12:{after:%Y-%m}"))  # ends after, starts in
    assert views.has_data(engine, engine.period("asof"))


# A period outside the data is one line, exit 0, for every command taking --period.
@pytest.mark.parametrize(
    "command",
    [["summary"], ["deep-dive", "Buyers"], ["compare", "--cohorts", "Buyers"], ["dashboard"]],
)
def test_a_period_outside_the_data_says_no_data(
    command, demo_car_dir, engine, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("PROFILER_CAR", str(demo_car_dir))
    before = month_label(int(engine.activity.month[0]) - 1)
    for period in ("2030", "r12:2030-06", before):
        assert main([*command, "--period", period]) == 0
        label = parse_period(period).label
        assert capsys.readouterr().out == f"no data in {label}\n"
        # CSV stays the values as computed; the line goes to stderr
        assert main([*command, "--period", period, "--csv"]) == 0
        said = capsys.readouterr()
        assert said.err.splitlines()[0] == f"no data in {label}"
        assert len(pd.read_csv(io.StringIO(said.out)))


def test_compare_with_a_comparison_period_outside_the_data(demo_car_dir, capsys) -> None:
    args = ["compare", "--car", str(demo_car_dir), "--cohorts", "Buyers", "--period", "2025"]
    assert run_table([*args, "--vs", "2019"], capsys) == "no data in 2019\n"


def test_dashboard_leaves_periods_before_the_data_empty(demo_car_dir, engine, capsys) -> None:
    first = parse_period(month_label(int(engine.activity.month[0])))
    quarter = f"{first.start.year}-Q{(first.start.month - 1) // 3 + 1}"
    out = run_table(["dashboard", "--car", str(demo_car_dir), "--period", quarter], capsys)
    span = parse_period(quarter)
    header, body = table_rows(out)
    assert header[:4] == ["kpi", quarter, span.previous().label, "vs prior"]
    assert f"no data in {span.previous().label} or {span.last_year().label}" in out
    spend = body[0]
    assert spend[0] == "Spend" and len(spend) == 3 and re.fullmatch(r"[\d,]+\.\d\d\*?", spend[1])
    assert spend[2] == "higher"  # the KPI's polarity, last


def test_retention_outside_the_data_says_no_data(demo_car_dir, capsys) -> None:
    args = ["retention", "--car", str(demo_car_dir), "--grain", "quarter"]
    assert run_table([*args, "--from", "2030-Q1"], capsys) == "no data from 2030-Q1\n"
    assert run_table([*args, "--to", "2010-Q4"], capsys) == "no data up to 2010-Q4\n"
    out = run_table([*args, "--from", "2010-Q1", "--to", "2010-Q4"], capsys)
    assert out == "no data in 2010-Q1 to 2010-Q4\n"


def test_a_group_is_named_in_any_letter_case(engine) -> None:
    assert engine.cohorts.group_names("strategy segments") == engine.cohorts.group_names(
        "Strategy segments"
    )
