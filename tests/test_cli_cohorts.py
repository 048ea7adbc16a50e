"""The cohort commands end to end on a demo CAR: cohorts, summary, profile, compare, retention,
dashboard and audience, with --car or $PROFILER_CAR, tables and CSV."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from profiler.query import QueryEngine
from workbook.cli import main


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
    profile = run_csv(["profile", "Store loyalists", *car, "--period", "r12:2026-06"], capsys)
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
    assert len(chosen) == consented.sum()
    assert f"Selected {len(chosen):,}" in printed and "not opted in to sms" in printed
    for column in ("name", "email", "phone"):
        assert column not in chosen.columns
