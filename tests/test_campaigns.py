"""Campaigns with a control group (issue 25): the split, the power figure, the register and
the measured uplift, on hand-made data whose answers are known, and the CLI end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from profiler.audience import select_audience, split_control
from profiler.campaigns import (
    campaign_reports,
    control_split,
    customer_responses,
    mean_difference,
    measure,
    minimum_detectable_effect,
    parse_share,
    proportion_difference,
)
from profiler.catalog import load_catalog
from profiler.demo import generate_demo
from profiler.demo.campaigns import CAMPAIGN_LIFTS
from profiler.errors import ProfilerError
from profiler.query import QueryEngine
from tests.built import BARE_COHORTS
from workbook.cli.app import main

Z975 = 1.959963984540054  # the standard normal's 97.5% quantile
Z80 = 0.8416212335729143  # its 80% quantile


def responses_of(treated: tuple[int, int], control: tuple[int, int]) -> pd.DataFrame:
    """Per-customer responses: (customers, responders) per group, spend 0."""
    rows = []
    for group, (n, x) in (("treated", treated), ("control", control)):
        for i in range(n):
            rows.append(
                {
                    "customer_id": f"{group[0]}{i}",
                    "group": group,
                    "responded": i < x,
                    "orders": int(i < x),
                    "spend_pence": 0,
                }
            )
    return pd.DataFrame(rows)


def test_uplift_and_its_wald_interval_by_hand() -> None:
    """200 treated with 60 responders, 200 control with 40: uplift 0.10; Wald standard error
    sqrt(0.3 x 0.7 / 200 + 0.2 x 0.8 / 200) = sqrt(0.00185)."""
    result = measure(responses_of((200, 60), (200, 40)))
    f = result.figures
    half = Z975 * math.sqrt(0.00185)
    assert f["uplift"] == pytest.approx(0.10)
    assert (f["uplift_low"], f["uplift_high"]) == pytest.approx((0.10 - half, 0.10 + half))
    assert half == pytest.approx(0.0843, abs=1e-4)
    assert list(result.groups["response_rate"]) == pytest.approx([0.3, 0.2])
    assert math.isnan(f["roi"]) and result.notes == []  # no cost: no ROI


def test_power_formula_by_hand() -> None:
    """MDE = (z_0.975 + z_0.80) sqrt(p (1-p) (1/n_t + 1/n_c)) (Fleiss, Levin & Paik 4.2)."""
    hand = (Z975 + Z80) * math.sqrt(0.2 * 0.8 * (1 / 900 + 1 / 100))
    assert minimum_detectable_effect(0.2, 900, 100) == pytest.approx(hand, rel=1e-12)
    assert hand == pytest.approx(0.1181, abs=1e-4)  # 2.8016 x 0.042164
    # Cross-check with scipy: at the MDE the two-sided test's power is 80% (the far tail is tiny).
    se = math.sqrt(0.2 * 0.8 * (1 / 900 + 1 / 100))
    power = stats.norm.sf(Z975 - hand / se) + stats.norm.cdf(-Z975 - hand / se)
    assert power == pytest.approx(0.80, abs=1e-4)
    assert math.isnan(minimum_detectable_effect(0.2, 10, 0))


def test_spend_and_incremental_revenue_against_plain_loops() -> None:
    """Kept lines in [sent, sent + window) only: cancelled and returned lines, lines the day
    before and the day the window ends are left out; Welch's interval by its formula."""
    rng = np.random.default_rng(3)
    sent, window = pd.Timestamp("2026-03-10"), 14
    members = pd.DataFrame(
        {"customer_id": [f"C{i}" for i in range(60)], "group": ["treated"] * 40 + ["control"] * 20}
    )
    lines = []
    for _ in range(400):
        lines.append(
            {
                "customer_id": f"C{rng.integers(0, 70)}",  # some are not in the campaign
                "order_id": f"O{rng.integers(0, 250)}",
                "ordered_at": sent + pd.Timedelta(days=int(rng.integers(-3, window + 3)), hours=15),
                "status": rng.choice(["completed", "completed", "returned", "cancelled"]),
                "net_pence": int(rng.integers(100, 90_000)),
            }
        )
    facts = pd.DataFrame(lines)
    got = customer_responses(members, facts, sent, window).set_index("customer_id")
    for customer in members["customer_id"]:
        orders, spend = set(), 0
        for line in lines:
            day = line["ordered_at"].normalize()
            inside = sent <= day < sent + pd.Timedelta(days=window)
            if line["customer_id"] == customer and line["status"] == "completed" and inside:
                orders.add(line["order_id"])
                spend += line["net_pence"]
        assert got.loc[customer, "orders"] == len(orders), customer
        assert got.loc[customer, "spend_pence"] == spend, customer
        assert got.loc[customer, "responded"] == bool(orders), customer
    result = measure(got.reset_index(), cost=250.0)
    f = result.figures
    t = got.loc[got["group"] == "treated", "spend_pence"].to_numpy() / 100
    c = got.loc[got["group"] == "control", "spend_pence"].to_numpy() / 100
    va, vb = t.var(ddof=1) / len(t), c.var(ddof=1) / len(c)
    dof = (va + vb) ** 2 / (va**2 / (len(t) - 1) + vb**2 / (len(c) - 1))  # Welch-Satterthwaite
    half = stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    diff = sum(t) / len(t) - sum(c) / len(c)
    assert f["spend_uplift"] == pytest.approx(diff)
    assert (f["spend_uplift_low"], f["spend_uplift_high"]) == pytest.approx(
        (diff - half, diff + half)
    )
    assert f["incremental_revenue"] == pytest.approx(diff * 40)
    assert f["incremental_revenue_high"] == pytest.approx((diff + half) * 40)
    assert f["roi"] == pytest.approx((diff * 40 - 250) / 250)
    assert f["treated_orders"] == got.loc[got["group"] == "treated", "orders"].sum()
    assert any("20 customers" in n for n in result.notes)  # the control group is small


def test_small_groups_are_flagged() -> None:
    notes = measure(responses_of((40, 10), (5, 1)), min_size=10).notes
    assert len(notes) == 1 and "fewer than the snapshot's minimum of 10" in notes[0]


def test_interval_covers_the_true_uplift_about_95_percent_of_the_time() -> None:
    """2,000 simulated experiments (400 treated, 400 control, response 25% vs 20%)."""
    rng = np.random.default_rng(20261204)
    n, trials = 400, 2000
    x_t = rng.binomial(n, 0.25, trials)
    x_c = rng.binomial(n, 0.20, trials)
    _, low, high = proportion_difference(x_t, n, x_c, n)
    covered = np.mean((low <= 0.05) & (0.05 <= high))
    assert 0.93 <= covered <= 0.97
    # Welch's interval for spend (skewed, as spend is) covers a known difference of means too.
    a = rng.gamma(2.0, 50.0, (trials, 200))  # mean 100
    b = rng.gamma(2.0, 40.0, (trials, 100))  # mean 80
    ci = stats.ttest_ind(a, b, axis=1, equal_var=False).confidence_interval(0.95)
    assert 0.93 <= np.mean((ci.low <= 20) & (20 <= ci.high)) <= 0.97
    assert mean_difference(a[0], b[0])[0] == pytest.approx(a[0].mean() - b[0].mean())


def test_split_is_reproducible_stratified_and_disjoint() -> None:
    rng = np.random.default_rng(1)
    ids = pd.Series([f"C{i:04d}" for i in range(997)])
    strata = pd.Series(
        rng.choice(["gold", "silver", "bronze", "new"], len(ids), p=[0.1, 0.2, 0.3, 0.4])
    )
    control = control_split(ids, strata, 0.1, seed=42)
    assert (control == control_split(ids, strata, 0.1, seed=42)).all()
    assert not (control == control_split(ids, strata, 0.1, seed=43)).all()
    shuffled = rng.permutation(len(ids))  # the order customers come in does not matter
    again = control_split(ids[shuffled], strata[shuffled], 0.1, seed=42)
    assert set(ids[shuffled][again]) == set(ids[control])
    for name in strata.unique():
        size = int((strata == name).sum())
        assert abs(control[strata == name].sum() - 0.1 * size) <= 1, name
    assert abs(control_split(ids, None, 0.25, seed=1).sum() - 249.25) <= 1


@pytest.mark.parametrize(
    ("text", "share"), [("10%", 0.1), ("0.1", 0.1), (" 12.5% ", 0.125), ("0.5", 0.5)]
)
def test_control_share_forms(text: str, share: float) -> None:
    assert parse_share(text) == pytest.approx(share)


@pytest.mark.parametrize("text", ["0", "0%", "100%", "1", "1.5", "-5%", "ten", "nan"])
def test_control_share_refused(text: str) -> None:
    with pytest.raises(ProfilerError, match="--control"):
        parse_share(text)


def hand_engine(n: int = 40) -> QueryEngine:
    """A CAR of ``n`` consented customers, the first 3 of whom objected to profiling."""
    car = pd.DataFrame(
        {
            "customer_id": [f"C{i:02d}" for i in range(n)],
            "lifecycle_stage": "active",
            "contactable": [i % 10 != 9 for i in range(n)],
            "opt_in_email": True,
            "opt_in_sms": False,
            "profiling_opt_out": [i < 3 for i in range(n)],
            "strategy_segment": ["Core", "Growth"] * (n // 2),
            "last_purchase_at": [
                pd.Timestamp("2026-01-31") - pd.Timedelta(days=5 * i) for i in range(n)
            ],
        }
    )
    return QueryEngine(
        car, None, load_catalog(), as_of=pd.Timestamp("2026-01-31"), cohort_spec=BARE_COHORTS
    )


def test_audience_excludes_objectors_and_splits_with_power() -> None:
    engine = hand_engine()
    chosen = select_audience(engine, "All customers", channel="email")
    excluded = dict(zip(chosen.excluded["reason"], chosen.excluded["customers"], strict=True))
    assert excluded["objected to profiling"] == 3
    assert excluded["suppressed (not contactable)"] == 4
    assert len(chosen.selected) + sum(excluded.values()) == 40
    assert not set(chosen.selected["customer_id"]) & {"C00", "C01", "C02"}
    split = split_control(engine, chosen, 0.25, seed=5)
    assert split.stratum_column == "strategy_segment"
    treated, control = (
        set(split.treated_rows["customer_id"]),
        set(split.control_rows["customer_id"]),
    )
    assert not treated & control and len(treated | control) == len(chosen.selected)
    # p: the selected customers who ordered in the 30 days to 2026-01-31 (days 0, 5, ... 25).
    recent = [i for i in range(3, 40) if i % 10 != 9 and 5 * i < 30]
    assert split.response_rate == pytest.approx(len(recent) / len(chosen.selected))
    assert split.mde == pytest.approx(
        minimum_detectable_effect(split.response_rate, len(treated), len(control))
    )
    with pytest.raises(ProfilerError, match="leaves the control group empty"):
        split_control(engine, chosen, 0.01, seed=5)


def test_without_the_objection_column_nobody_is_excluded_for_it() -> None:
    engine = hand_engine()
    engine = QueryEngine(
        engine.car.drop(columns="profiling_opt_out"),
        None,
        engine.catalog,
        as_of=engine.as_of,
        cohort_spec=BARE_COHORTS,
    )
    chosen = select_audience(engine, "All customers", channel="email")
    assert "objected to profiling" not in set(chosen.excluded["reason"])
    assert len(chosen.selected) == 36


# ---------------------------------------------------------------------------------------------
# the CLI end to end on a small built CAR


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 300-customer demo data folder and the CAR built from it."""
    import profiler
    from profiler.demo import generate_demo

    root = tmp_path_factory.mktemp("campaigns")
    data, car = root / "data", root / "car"
    generate_demo(300, 21, data)
    profiler.build(data, car, engine="in-memory", today="2026-11-22")
    return data, car


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_audience_campaign_and_report_end_to_end(built, tmp_path, capsys) -> None:
    from profiler import managed
    from profiler.facts import order_facts
    from profiler.loading import load_sources

    data, car = built
    out = tmp_path / "spring.csv"
    audience = ["audience", "Buyers", "--car", str(car), "--channel", "email", "--out", str(out)]
    code, said, err = run(capsys, *audience, "--control", "20%", "--seed", "7")
    assert code == 0, err
    assert "seed 7, stratified by strategy_segment" in said and "Power: with " in said
    treated = pd.read_csv(out, dtype=str)["customer_id"]
    control = pd.read_csv(tmp_path / "spring.control.csv", dtype=str)["customer_id"]
    about = json.loads((tmp_path / "spring.json").read_text())
    assert not set(treated) & set(control)
    assert (about["treated"], about["control"], about["seed"]) == (len(treated), len(control), 7)
    assert about["car_as_of"] and about["power"]["minimum_detectable_uplift"] > 0
    registered = {e["path"]: e for e in managed.registered(car, "audience")}
    assert registered[str(out.resolve())]["group"] == "treated"
    assert registered[str((tmp_path / "spring.control.csv").resolve())]["seed"] == 7
    # The same seed gives the same split.
    again = tmp_path / "again.csv"
    assert run(capsys, *audience[:-1], str(again), "--control", "0.2", "--seed", "7")[0] == 0
    assert list(pd.read_csv(again, dtype=str)["customer_id"]) == list(treated)

    sent = (pd.Timestamp(about["car_as_of"]) - pd.Timedelta(days=60)).strftime("%Y-%m-%d")
    add = ["campaign", "add", "--audience", str(out), "--channel", "email", "--data", str(data)]
    code, said, err = run(
        capsys, *add, "--name", "Test reactivation", "--sent", sent, "--cost", "300"
    )
    assert code == 0, err
    code, said, _ = run(capsys, "campaign", "list", "--data", str(data), "--json")
    listed = {c["campaign"]: c for c in json.loads(said)}
    assert listed["Test reactivation"]["treated"] == len(treated)

    code, said, err = run(
        capsys, "campaign", "report", "test REACTIVATION", "--data", str(data), "--json"
    )
    assert code == 0, err
    report = json.loads(said)
    assert report["status"] == "complete" and report["window_from"] == sent
    assert (report["treated_customers"], report["control_customers"]) == (
        len(treated),
        len(control),
    )
    # The treated group's spend by plain pandas over the kept lines of the window.
    facts = order_facts(load_sources(data, tables=("order_lines",)), None)
    day = facts["ordered_at"].dt.normalize()
    window = (day >= pd.Timestamp(sent)) & (day < pd.Timestamp(sent) + pd.Timedelta(days=30))
    kept = facts[window & (facts["status"] == "completed")]
    spend = kept[kept["customer_id"].astype(str).isin(set(treated))]["net_pence"].sum()
    assert report["treated_spend_per_customer"] == pytest.approx(spend / 100 / len(treated))
    code, said, _ = run(capsys, "campaign", "report", "Test reactivation", "--data", str(data))
    assert code == 0 and f"sent {sent}" in said and "Uplift in response rate" in said
    code, said, err = run(
        capsys, "campaign", "report", "Test reactivation", "--window", "200d", "--data", str(data)
    )
    assert "incomplete: " in said and " of 200 days observed" in said


def one_line_error(capsys, *args: str) -> str:
    code, _, err = run(capsys, *args)
    assert code != 0 and err.count("\n") == 1 and err.startswith("Error: "), err
    return err


def test_refusals_are_one_line(built, tmp_path, capsys) -> None:
    data, car = built
    out = tmp_path / "a.csv"
    audience = ["audience", "Buyers", "--car", str(car), "--out", str(out)]
    assert "above 0 and below 100%" in one_line_error(capsys, *audience, "--control", "100%")
    assert "above 0" in one_line_error(capsys, *audience, "--control", "0")
    assert "group empty" in one_line_error(capsys, *audience, "--control", "0.1%")
    assert not out.exists()
    assert run(capsys, *audience, "--control", "10%", "--seed", "1")[0] == 0
    add = ["campaign", "add", "--audience", str(out), "--data", str(data)]
    ok = [*add, "--channel", "email", "--sent", "2026-01-05"]
    assert run(capsys, *ok, "--name", "Once")[0] == 0
    assert "already" in one_line_error(capsys, *ok, "--name", "ONCE")
    assert "consent to email" in one_line_error(
        capsys, *add, "--name", "Other", "--channel", "sms", "--sent", "2026-01-05"
    )
    assert "--sent" in one_line_error(
        capsys, *add, "--name", "Other", "--channel", "email", "--sent", "05/01/2026"
    )
    assert "--cost" in one_line_error(capsys, *ok, "--name", "Other", "--cost", "-1")
    (tmp_path / "a.control.csv").unlink()
    assert "control file" in one_line_error(capsys, *ok, "--name", "Other")
    assert "Unknown campaign" in one_line_error(
        capsys, "campaign", "report", "Nope", "--data", str(data)
    )


def test_views_cells_udf_and_sheet_agree(built, tmp_path, capsys, monkeypatch) -> None:
    from profiler import cells, views
    from profiler.campaigns import campaign_report
    from udfs import profiler_udfs
    from workbook.content import load_layout, sheet_content

    data, car = built
    out = tmp_path / "sheet.csv"
    args = ["audience", "Buyers", "--car", str(car), "--out", str(out), "--control", "0.3"]
    assert run(capsys, *args, "--seed", "3")[0] == 0
    add = ["campaign", "add", "--audience", str(out), "--channel", "email", "--data", str(data)]
    assert (
        run(capsys, *add, "--name", "Sheet test", "--sent", "2026-03-01", "--cost", "100")[0] == 0
    )
    report = campaign_report(data, "Sheet test", 30)
    rows = views.campaigns(data, 30).set_index("campaign")
    assert rows.loc["Sheet test", "uplift"] == pytest.approx(report.measured.figures["uplift"])
    assert rows.loc["Sheet test", "window_to"] == "2026-03-30"
    assert cells.campaign("sheet TEST", "uplift", "30", str(data)) == pytest.approx(
        report.measured.figures["uplift"]
    )
    table = cells.campaign("Sheet test", None, None, str(data))
    assert table[0] == ["Figure", "Value"] and ["Sent", "2026-03-01"] in table
    assert cells.campaign("Sheet test", "aov", None, str(data)).startswith("#ERROR: Unknown figure")
    monkeypatch.setenv("PROFILER_DATA", str(data))
    assert profiler_udfs.CP_CAMPAIGN("Sheet test", "roi") == pytest.approx(
        report.measured.figures["roi"]
    )
    monkeypatch.delenv("PROFILER_DATA")
    assert profiler_udfs.CP_CAMPAIGN("Sheet test").startswith("#ERROR: No data folder")

    engine = QueryEngine.open(car)
    spec = next(s for s in load_layout()["sheets"] if s["name"] == "Campaigns")
    content = sheet_content(engine, spec, {"CampaignWindow": "30"}, {"data_dir": str(data)})
    frame = content.blocks[0].frame.set_index("Campaign")
    assert frame.loc["Sheet test", "Uplift"] == pytest.approx(
        report.measured.figures["uplift"] * 100
    )
    assert frame.loc["Sheet test", "Treated"] == report.measured.figures["treated_customers"]
    note = sheet_content(engine, spec, {}, {}).blocks[0].frame["Note"].iloc[0]
    assert "no data folder" in note
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("customers", "order_lines", "products"):
        (empty / f"{name}.parquet").write_bytes((data / f"{name}.parquet").read_bytes())
    note = sheet_content(engine, spec, {}, {"data_dir": str(empty)}).blocks[0].frame["Note"]
    assert "No campaigns" in note.iloc[0]


def test_the_report_finds_the_demo_campaigns_known_lift(tmp_path: Path) -> None:
    """The demo gives treated customers a response lift that is true by construction
    (profiler/demo/campaigns.py, CAMPAIGN_LIFTS): the report's 95% interval holds it."""
    data = tmp_path / "data"
    generate_demo(8000, 42, data)
    reports = {r.campaign: r for r in campaign_reports(data, 30)}
    assert set(reports) == set(CAMPAIGN_LIFTS)
    for name, lift in CAMPAIGN_LIFTS.items():
        figures = reports[name].measured.figures
        assert reports[name].complete
        assert figures["uplift_low"] <= lift <= figures["uplift_high"], (name, figures)
        assert figures["uplift"] == pytest.approx(
            figures["treated_response_rate"] - figures["control_response_rate"]
        )
