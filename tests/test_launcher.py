"""The ``profiler`` command re-executes itself once with glibc's allocator tuned
(profiler.memory.relaunch_tuned)."""

import os
import subprocess
import sys

import pytest

from profiler import memory
from workbook.cli import launcher


def test_relaunches_with_the_allocator_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    if not (sys.platform.startswith("linux") and memory._glibc()):
        pytest.skip("glibc only")
    for name in memory.MALLOC_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the user's own setting is kept
    monkeypatch.setattr(sys, "argv", ["profiler", "summary", "--car", "x"])
    calls = []
    monkeypatch.setattr(os, "execve", lambda path, args, env: calls.append((path, args, env)))
    monkeypatch.setattr("workbook.cli.main", lambda: 0)
    launcher.main()
    path, args, env = calls[0]
    assert args[1:] == ["-P", "-m", "workbook.cli", "summary", "--car", "x"]
    assert env["MALLOC_MMAP_MAX_"] == "0" and env["MALLOC_ARENA_MAX"] == "4"


def test_runs_in_place_once_tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in memory.MALLOC_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(os, "execve", lambda *a: pytest.fail("re-executed twice"))
    monkeypatch.setattr("workbook.cli.main", lambda: 7)
    assert launcher.main() == 7


def test_the_command_runs_end_to_end(tmp_path) -> None:  # noqa: ANN001
    """From a folder holding a 'profiler' directory, which must not shadow the package."""
    (tmp_path / "profiler").mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from workbook.cli.launcher import main; sys.exit(main())",
            "--help",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")},
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: profiler" in done.stdout


def test_the_launcher_relaunches_before_anything_heavy_loads() -> None:
    """Importing the launcher (and with it profiler.memory and profiler's package) loads
    neither pandas nor numpy: the process it replaces has paid for nothing."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, workbook.cli.launcher; "
            "print(sorted({'pandas', 'numpy', 'pyarrow'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_relaunch_tuned_keeps_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benches call it with their own command line."""
    if not (sys.platform.startswith("linux") and memory._glibc()):
        pytest.skip("glibc only")
    for name in memory.MALLOC_ENV:
        monkeypatch.delenv(name, raising=False)
    calls = []
    monkeypatch.setattr(os, "execve", lambda path, args, env: calls.append((path, args, env)))
    memory.relaunch_tuned([sys.executable, "bench/bench_car.py", "--data", "d"])
    path, args, env = calls[0]
    assert path == sys.executable and args[1:] == ["bench/bench_car.py", "--data", "d"]
    assert {k: env[k] for k in memory.MALLOC_ENV} == memory.MALLOC_ENV
