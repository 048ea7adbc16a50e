"""The options every command shares (workbook/cli/options.py) and names in any letter case
(profiler/names.py): a bad date, period or choice is one usage line (exit 2) before anything
is read; --csv and --json exclude each other; cohort, group, metric and sheet names match in any
letter case, and an unknown one says which known name is closest."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from profiler.names import UnknownName, resolve
from workbook.cli import main


def usage_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run a command that must be refused as a usage mistake: one line, exit 2."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    return err.strip()


def error_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """Run a command that must fail with the engine's one-line error: exit 1."""
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    return err.strip()


# ---------------------------------------------------------------------------------------------
# profiler.names


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Crown jewels", "Crown jewels"), ("crown JEWELS", "Crown jewels"), (" buyers ", "Buyers")],
)
def test_resolve_matches_any_letter_case(given: str, expected: str) -> None:
    assert resolve(given, ["Crown jewels", "Buyers"], "cohort") == expected


def test_resolve_suggests_the_closest_name() -> None:
    with pytest.raises(UnknownName) as info:
        resolve("Crown jewel", ["Crown jewels", "Buyers"], "cohort", hint="See cohorts.yaml.")
    assert str(info.value) == (
        "Unknown cohort 'Crown jewel'. Did you mean 'Crown jewels'? See cohorts.yaml."
    )
    with pytest.raises(UnknownName, match=r"^Unknown metric 'zzz'\.$"):
        resolve("zzz", ["aov"], "metric")


# ---------------------------------------------------------------------------------------------
# dates, periods and choices: refused while the command line is read (no CAR, no data needed)


# a date that is not YYYY-MM-DD, for every command that takes one
@pytest.mark.parametrize(
    "args",
    [
        ["build", "--data", "nowhere", "--out", "nowhere", "--as-of", "31/12/2025"],
        ["validate", "--data", "nowhere", "--as-of", "2025-13-01"],
        ["reconcile", "--data", "nowhere", "--as-of", "tomorrow"],
        ["metrics", "sql", "aov", "--period", "2025", "--dialect", "duckdb", "--as-of", "1/2/2026"],
    ],
)
def test_a_bad_date_is_one_usage_line(args: list[str], capsys) -> None:
    line = usage_line(capsys, args)
    assert "--as-of '" in line and "is not a date; expected YYYY-MM-DD." in line
    command = " ".join(args[:2] if args[0] == "metrics" else args[:1])
    assert line.endswith(f"(see 'profiler {command} --help')")


# a period outside the one grammar, wherever a period is taken
@pytest.mark.parametrize(
    "args",
    [
        ["summary", "--period", "2025-13"],
        ["compare", "--cohorts", "Buyers", "--vs", "last year"],
        ["dashboard", "--period", "Q2"],
        ["retention", "--from", "2025/01"],
        ["reconcile", "--data", "nowhere", "--period", "2025-Q5"],
        ["metrics", "sql", "aov", "--period", "r13:2025-01", "--dialect", "duckdb"],
    ],
)
def test_a_bad_period_is_one_usage_line(args: list[str], capsys) -> None:
    line = usage_line(capsys, args)
    assert "Period '" in line and f"(see 'profiler {args[0]}" in line


def test_csv_and_json_exclude_each_other_and_raw_goes_with_csv(capsys) -> None:
    line = usage_line(capsys, ["reconcile", "--data", "nowhere", "--csv", "--json"])
    assert "--csv and --json cannot be used together." in line
    line = usage_line(capsys, ["cohorts", "list", "--raw"])
    assert "--raw goes with --csv." in line
    assert "--json" in usage_line(capsys, ["summary", "--json"])  # no such option there


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["audience", "Buyers", "--out", "a.csv", "--channel", "emial"], "'email'"),
        (["build", "--out", "nowhere", "--engine", "in-memry"], "'in-memory'"),
        (["retention", "--grain", "quartr"], "'quarter'"),
    ],
)
def test_a_choice_is_any_letter_case_with_did_you_mean(args, suggestion, capsys) -> None:
    line = usage_line(capsys, args)
    assert f"Did you mean {suggestion}?" in line and "Expected one of" in line


def test_snapshot_takes_one_password_source(capsys) -> None:
    line = usage_line(
        capsys, ["snapshot", "b.xlsm", "--out", "s.xlsx", "--encrypt", "--password", "x"]
    )
    assert "--encrypt and --password cannot be used together." in line


# ---------------------------------------------------------------------------------------------
# names in the engine: cohorts, groups, metrics (sheets: tests/test_workbook.py)


def test_cohort_and_group_names_in_any_letter_case(demo_car_dir: Path, capsys) -> None:
    car = ["--car", str(demo_car_dir)]
    assert main(["cohorts", "show", "store LOYALISTS", *car]) == 0
    assert capsys.readouterr().out.startswith("Store loyalists: ")
    assert main(["cohorts", "list", "--group", "strategy segments", "--csv", *car]) == 0
    listed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(listed["group"]) == {"Strategy segments"}
    assert main(["summary", "--cohorts", "buyers,crown jewels", "--csv", *car]) == 0
    summary = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(dict.fromkeys(summary["cohort"])) == ["Buyers", "Crown jewels"]
    line = error_line(capsys, ["cohorts", "show", "Store loyalist", *car])
    assert line == "Error: Unknown cohort 'Store loyalist'. Did you mean 'Store loyalists'?"
    line = error_line(capsys, ["cohorts", "list", "--group", "Strategy segmnts", *car])
    assert "Did you mean 'Strategy segments'?" in line


def test_metric_names_in_any_letter_case(demo_car_dir: Path, capsys) -> None:
    assert main(["metrics", "show", "AOV"]) == 0
    assert "(aov)" in capsys.readouterr().out.splitlines()[0]
    line = error_line(capsys, ["metrics", "show", "aovv"])
    assert line == "Error: Unknown metric 'aovv'. Did you mean 'aov'?"
    args = ["compare", "--car", str(demo_car_dir), "--cohorts", "Buyers", "--metrics", "AOV"]
    assert main([*args, "--period", "2025", "--csv"]) == 0
    assert set(pd.read_csv(io.StringIO(capsys.readouterr().out))["metric"]) == {"aov"}
