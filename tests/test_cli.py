"""The ``profiler`` command: help everywhere, one-line errors, and the demo end to end."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from profiler import store
from workbook.cli import main
from workbook.cli.app import cli


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand of the group, as the words that call it."""
    found = [path]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


COMMANDS = _commands(cli)


def test_the_walk_finds_nested_commands() -> None:
    assert ("metrics", "sql") in COMMANDS and ("clv", "fit") in COMMANDS
    assert ("cohorts", "show") in COMMANDS and ("deep-dive",) in COMMANDS
    assert len(COMMANDS) > 25


# every command, group and subcommand: --help exits 0 and shows an example
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "profiler")
def test_every_command_has_help_with_an_example(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: {' '.join(['profiler', *command])} ")
    assert "--help" in out
    example = out[out.index("Example:") :].splitlines()[1].strip()
    assert example.startswith(f"profiler {' '.join(command)}".strip()), example


def test_profiler_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "workbook.cli", "validate", "--data", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_usage_mistake_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--customers", "many"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and err.count("\n") == 1
    assert err.endswith("(see 'profiler generate --help')\n")


def test_demo_generates_validates_builds_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--customers", "300", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "quarantined 0" in out
    assert "net_sales" in out and "aov" in out and "metric catalog 1.2.0" in out
    # headlines in their metrics' formats: a count whole, money in pence, a share in %
    assert re.search(r"^as of \S+\s+customers\s+300$", out, re.M)
    assert re.search(r"^as of \S+\s+net_sales\s+\d{1,3}(,\d{3})+\.\d\d$", out, re.M)
    assert re.search(r"^as of \S+\s+active_share\s+\d+\.\d%$", out, re.M)
    assert "every cell reconciles" in out
    assert "CAR as of " in out and "x 1," in out  # more than a thousand columns
    assert (tmp_path / "data" / "order_lines.parquet").exists()
    generation = store.open_generation(tmp_path / "car")
    for member in store.MEMBERS:
        assert generation.file(member).exists()


def test_validate_prints_counts_and_writes_quarantine(
    source_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (source_dir / "order_lines.csv").write_text(
        (source_dir / "order_lines.csv").read_text()
        + "O9,1,1,2024-01-02,store,P1,-3,10,GBP,1,completed,\n"
    )
    assert main(["validate", "--data", str(source_dir), "--out", str(tmp_path / "q")]) == 0
    out = capsys.readouterr().out
    assert "Rows read 10 = accepted 9 + quarantined 1" in out
    quarantine = (tmp_path / "q" / "quarantine.csv").read_text()
    assert "negative quantity" in quarantine
    assert (
        main(["validate", "--data", str(source_dir), "--out", str(tmp_path / "q"), "--strict"]) == 1
    )


# clv dates are ISO only: a slashed date is refused in one line, never read in US order
@pytest.mark.parametrize("value", ["09/10/1997", "10.09.1997", "1997-9-10"])
def test_clv_fit_refuses_non_iso_calibration_end(value, tmp_path, capsys):
    from workbook.cli import main

    data = tmp_path / "t.csv"
    data.write_text("c,d,a\n1,1997-01-01,10\n")
    code = main(
        [
            "clv",
            "fit",
            str(data),
            "--customer-col",
            "c",
            "--date-col",
            "d",
            "--amount-col",
            "a",
            "--calibration-end",
            value,
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        f"Error: --calibration-end '{value}' is not a date; expected YYYY-MM-DD. "
        "(see 'profiler clv fit --help')"
    ]


def test_as_of_not_a_date_is_one_error_line(tmp_path, capsys):
    from workbook.cli import main

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "order_lines.csv").write_text(
        "order_id,customer_id,order_date,net_amount\nO1,C1,2024-01-02,10\n"
    )
    code = main(
        [
            "validate",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "o"),
            "--as-of",
            "notadate",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        "Error: --as-of 'notadate' is not a date; expected YYYY-MM-DD. "
        "(see 'profiler validate --help')"
    ]


def test_truncated_gz_is_one_error_line(tmp_path, capsys):
    import gzip

    from workbook.cli import main

    data = tmp_path / "data"
    data.mkdir()
    rows = "".join(f"O{i},C{i % 7},2024-01-02,10\n" for i in range(2000))
    whole = gzip.compress(("order_id,customer_id,order_date,net_amount\n" + rows).encode())
    (data / "order_lines.csv.gz").write_bytes(whole[: len(whole) // 2])
    code = main(["validate", "--data", str(data), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("Error: ") and "order_lines.csv.gz: cannot be read" in err[-1]
    assert not (tmp_path / "o" / "quarantine.csv").exists()


# an empty --as-of parses as NaT: one Error line, not an AttributeError traceback
def test_empty_as_of_is_one_error_line(tmp_path, capsys):
    from workbook.cli import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "order_lines.csv").write_text(
        "order_id,customer_id,ordered_at,net_amount\nO1,C1,2024-01-02,10\n"
    )
    code = main(["build", "--data", str(data), "--out", str(tmp_path / "car"), "--as-of", ""])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("Error: --as-of '' is not a date; expected YYYY-MM-DD.")
    # refused while the command line is read: nothing written, not even the store's lock
    assert not (tmp_path / "car").exists()
