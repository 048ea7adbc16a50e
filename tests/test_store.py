"""The CAR folder's store: generations switched in one step, checked by build id, kept, rolled
back; builds killed at every stage boundary; two builds and two refreshes at once.

Builds run in forked processes (the parent's imports and compiled kernels are inherited, so a
build of the tiny sources takes a fraction of a second); ``PROFILER_STOP_AT`` makes a build kill
(or pause) itself at a named stage, so every case is deterministic, without sleeps."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from profiler import store
from profiler.car import CarResult
from profiler.errors import ProfilerError
from profiler.outputs import STOP_ENV
from profiler.query import QueryEngine
from tests.conftest import CUSTOMERS, ORDER_LINES, PRODUCTS, write_table
from workbook.cli import main

# A build's stage boundaries, in order; the pointer is replaced between the last two of
# BEFORE_SWAP and "swapped".
BEFORE_SWAP = [
    "locked",
    "read",
    "wrote:quarantine.csv",
    "computed",
    "wrote:car.parquet",
    "wrote:car_dictionary.csv",
    "wrote:activity.arrow",
    "wrote:orders.arrow",
    "wrote:car_meta.json",
    "renamed",
    "pointer-written",
]
AFTER_SWAP = ["swapped", "pruned"]


# ---------------------------------------------------------------------------------------------
# helpers


def run_forked(args: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start ``profiler ARGS`` in a forked child writing its output to ``log``; its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            os.environ.update(env or {})
            sys.stdout = sys.stderr = open(log, "w", encoding="utf-8")  # noqa: SIM115
            code = main(args)
        finally:
            sys.stdout.flush()
            os._exit(code)
    return pid


def exit_code(pid: int) -> int:
    """The child's exit status (negative: the signal that ended it)."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def wait_until_paused(pid: int) -> None:
    _, status = os.waitpid(pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), f"child {pid} ended instead of pausing"


def figures(folder: Path) -> tuple[str, float, float]:
    """What a reader of the folder gets, through the store as ``QueryEngine.open`` reads it: the
    build it opened, a number from the CAR and one from the activity table."""
    generation = store.open_generation(folder)
    car = generation.read_car(["customer_id", "orders_ltd"])
    activity = generation.read_activity()
    return (
        generation.build_id,
        float(car["orders_ltd"].sum()),
        float(activity.parts["net_sales.pence"].sum()),
    )


def leftovers(folder: Path) -> list[str]:
    """Temporary files and unfinished generations."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != ".lock")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two versions of a tiny retailer's sources: B has one more customer and order than A."""
    root = tmp_path_factory.mktemp("store-sources")
    extra_customer = {**CUSTOMERS[0], "customer_id": "4", "email": "dee@example.com"}
    extra_line = {**ORDER_LINES[0], "order_id": "O4", "customer_id": "4", "net_amount": "500.00"}
    for name, customers, lines in (
        ("A", CUSTOMERS, ORDER_LINES),
        ("B", [*CUSTOMERS, extra_customer], [*ORDER_LINES, extra_line]),
    ):
        write_table(root / name, "customers", customers)
        write_table(root / name, "products", PRODUCTS)
        write_table(root / name, "order_lines", lines)
    return {"A": root / "A", "B": root / "B"}


def build_args(data: Path, out: Path, *more: str) -> list[str]:
    return ["build", "--data", str(data), "--out", str(out), "--as-of", "2024-12-31", *more]


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory) -> dict[str, Path]:
    """Complete builds of A and of B (in this process: the forked builds inherit its
    compiled kernels)."""
    root = tmp_path_factory.mktemp("store-built")
    folders = {}
    for name in ("A", "B"):
        folders[name] = root / name
        assert main(build_args(sources[name], folders[name])) == 0
    return folders


def tiny_result(value: float) -> CarResult:
    ids = np.array(["1", "2"])
    return CarResult(pd.Timestamp("2024-12-31"), ids, {"x": np.array([value, value])}, [], {}, 0.0)


def write_generation(folder: Path, value: float, more=None, **options) -> str:
    """A small complete generation whose CAR column ``x`` holds ``value`` (``more(writer)``
    writes any further member)."""
    with store.building(folder, **options) as writer:
        writer.write_csv(store.QUARANTINE, pd.DataFrame({"table": [], "reason": []}))
        writer.write_car(tiny_result(value))
        writer.write_table(store.ACTIVITY, pa.table({"row": [0], "month": [660]}))
        writer.write_table(store.ORDERS, pa.table({"row": [0], "day": [20000], "gone": [20001]}))
        if more:
            more(writer)
    return store.current_name(folder)


# ---------------------------------------------------------------------------------------------
# generations


def test_a_build_makes_a_new_generation_current_and_keeps_the_last_two(tmp_path: Path) -> None:
    folder = tmp_path / "car"
    names = [write_generation(folder, v) for v in (1.0, 2.0, 3.0)]
    assert store.generations(folder) == [names[2], names[1]]
    assert sorted(p.name for p in folder.glob("gen-*")) == sorted(names[1:])
    assert store.read_car(folder)["x"].tolist() == [3.0, 3.0]
    assert leftovers(folder) == []
    generation = store.rollback(folder)
    assert generation.name == names[1] and store.read_car(folder)["x"].tolist() == [2.0, 2.0]
    with pytest.raises(ProfilerError, match="no earlier generation is kept"):
        store.rollback(folder)
    # The next build forgets the generation rolled away from, and keeps the one rolled back to.
    fourth = write_generation(folder, 4.0, keep=3)
    assert store.generations(folder) == [fourth, names[1]]
    assert sorted(p.name for p in folder.glob("gen-*")) == sorted([fourth, names[1]])


def test_every_member_carries_the_build_id_and_a_reader_refuses_a_mix(tmp_path: Path) -> None:
    folder = tmp_path / "car"
    old, new = write_generation(folder, 1.0), write_generation(folder, 2.0)
    meta = json.loads((folder / new / "car_meta.json").read_text())
    assert set(meta["members"]) == {m.name for m in store.REQUIRED}
    # An activity table of another build copied in (what a killed in-place write left before).
    shutil.copy(folder / old / "activity.arrow", folder / new / "activity.arrow")
    with pytest.raises(ProfilerError) as err:
        store.open_generation(folder)
    message = str(err.value)
    assert f"belongs to build {old.removeprefix('gen-')}" in message
    assert "--rollback" in message and "\n" not in message
    # A CSV member cut short.
    store.rollback(folder)
    dictionary = folder / old / "car_dictionary.csv"
    dictionary.write_text(dictionary.read_text()[:-10])
    with pytest.raises(ProfilerError, match="car_dictionary.csv: is missing, cut short"):
        store.open_generation(folder)
    # A CAR part of another build.
    for part in (folder / old / "car.parquet").iterdir():
        part.unlink()
    with pytest.raises(ProfilerError, match="car.parquet: is missing, cut short"):
        QueryEngine.open(folder)


def test_a_new_member_is_one_declaration_and_is_checked_like_the_others(
    tmp_path: Path, monkeypatch
) -> None:
    """What another stream adds (e.g. an order-history file): one line in ``MEMBERS``."""
    history = store.Member("order_history.parquet", "parquet", "order history, for state at D")
    monkeypatch.setattr(store, "MEMBERS", (*store.MEMBERS, history))
    monkeypatch.setattr(store, "REQUIRED", (*store.REQUIRED, history))
    folder = tmp_path / "car"
    old = write_generation(folder, 1.0)  # built before the member existed
    with pytest.raises(ProfilerError, match="the current build has no order_history.parquet"):
        store.open_generation(folder).read_parquet(history)
    table = pa.table({"customer_id": ["1", "2"], "orders": [3, 4]})
    new = write_generation(
        folder, 2.0, lambda w: w.write_parquet(history, table), required=store.REQUIRED
    )
    assert store.open_generation(folder).read_parquet(history).equals(table)
    with pytest.raises(AssertionError, match="order_history.parquet"):
        write_generation(folder, 3.0, required=store.REQUIRED)  # a build that forgets it
    part = folder / new / history.name / "part-00000.parquet"
    part.write_bytes((folder / new / "car.parquet" / "part-00000.parquet").read_bytes())
    with pytest.raises(ProfilerError, match="order_history.parquet: is missing"):
        store.open_generation(folder)  # same build id, but cut short / not this member's
    assert old != new


def test_a_failed_build_leaves_the_current_generation_and_no_temporary_file(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "car"
    first = write_generation(folder, 1.0)
    with pytest.raises(RuntimeError, match="boom"):
        with store.building(folder) as writer:
            writer.write_car(tiny_result(2.0))
            raise RuntimeError("boom")
    assert store.current_name(folder) == first and leftovers(folder) == []
    assert store.read_car(folder)["x"].tolist() == [1.0, 1.0]
    with pytest.raises(AssertionError, match="not written"):
        with store.building(folder) as writer:
            writer.write_car(tiny_result(2.0))  # no activity table, no quarantine
    assert store.current_name(folder) == first and leftovers(folder) == []


def test_a_folder_of_the_old_layout_is_refused_then_replaced_by_a_build(
    tmp_path: Path, capsys
) -> None:
    """Decision: a folder written before generations is not read (it cannot show which build
    each file came from); one line asks for a rebuild, and the build removes the old files."""
    folder = tmp_path / "car"
    write_generation(folder, 1.0)
    legacy = tmp_path / "legacy"
    shutil.copytree(folder / store.current_name(folder), legacy)
    (legacy / store.ORDERS.name).unlink()  # the old layout had no order days
    (legacy / ".car.parquet.tmp").mkdir()
    assert main(["summary", "--car", str(legacy), "--period", "2024"]) == 1
    err = capsys.readouterr().err
    assert "written by an older profiler" in err and "profiler build" in err
    assert err.count("\n") == 1
    write_generation(legacy, 2.0)
    assert sorted(p.name for p in legacy.iterdir()) == [
        ".lock",
        "CURRENT",
        store.current_name(legacy),
    ]


def test_build_out_that_is_a_file_and_rollback_without_generations(tmp_path: Path, capsys) -> None:
    target = tmp_path / "car"
    target.write_text("not a folder")
    assert main(["build", "--data", str(tmp_path), "--out", str(target)]) == 1
    assert (
        capsys.readouterr().err
        == f"Error: {target}: is a file, not a folder; give --out a folder.\n"
    )
    assert main(["build", "--rollback", "--out", str(tmp_path / "none")]) == 1
    assert "no CAR folder here to roll back" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# builds killed at every stage boundary


@pytest.mark.parametrize("stage", BEFORE_SWAP + AFTER_SWAP)
def test_a_build_killed_at_any_stage_leaves_one_whole_generation(
    stage: str, sources, built, tmp_path: Path
) -> None:
    """Kill (SIGKILL) a build of B over a folder of A at each stage boundary: a reader then
    gets A's numbers before the pointer is replaced and B's after, never a mix; the next build
    removes what the killed one left."""
    folder = tmp_path / "car"
    shutil.copytree(built["A"], folder)
    pid = run_forked(build_args(sources["B"], folder), tmp_path / "killed.log", {STOP_ENV: stage})
    assert exit_code(pid) == -signal.SIGKILL
    expected = "B" if stage in AFTER_SWAP else "A"
    got, want = figures(folder), figures(built[expected])
    assert got[1:] == want[1:], f"killed at {stage}: expected {expected}'s numbers"
    assert got[0] == (want[0] if expected == "A" else store.open_generation(folder).build_id)
    # The next build (the same store code, on a small generation) removes what was left.
    write_generation(folder, 1.0)
    assert leftovers(folder) == [] and len(list(folder.glob("gen-*"))) == 2


# ---------------------------------------------------------------------------------------------
# two writers at once


def test_two_builds_at_once_one_waits_or_says_who_holds_the_folder(
    sources, built, tmp_path: Path
) -> None:
    folder = tmp_path / "car"
    shutil.copytree(built["A"], folder)
    first = run_forked(
        build_args(sources["B"], folder), tmp_path / "first.log", {STOP_ENV: "read:pause"}
    )
    wait_until_paused(first)  # holds the folder's lock, mid-build
    second = run_forked(build_args(sources["A"], folder), tmp_path / "second.log")
    assert exit_code(second) == 1
    message = (tmp_path / "second.log").read_text().splitlines()[-1]
    assert message.startswith(f"Error: {folder}: busy: 'profiler ")
    assert f"(pid {first}, started " in message and "--wait SECONDS" in message
    assert figures(folder)[1:] == figures(built["A"])[1:]  # readers never block
    # A third one that waits gets its turn once the first has finished.
    third = run_forked(build_args(sources["A"], folder, "--wait", "120"), tmp_path / "third.log")
    os.kill(first, signal.SIGCONT)
    assert exit_code(first) == 0, (tmp_path / "first.log").read_text()
    assert exit_code(third) == 0, (tmp_path / "third.log").read_text()
    assert figures(folder)[1:] == figures(built["A"])[1:]
    assert leftovers(folder) == [] and len(list(folder.glob("gen-*"))) == 2


def test_two_refreshes_of_one_workbook_at_once(demo_car_dir, tmp_path: Path) -> None:
    """Before: two refreshes shared the temporary name '.X.refresh.xlsm' and one died with
    FileNotFoundError.  Now the second waits for the first (or says who holds the file)."""
    from openpyxl import load_workbook

    book = tmp_path / "X.xlsm"
    assert main(["workbook", "--car", str(demo_car_dir), "--out", str(book)]) == 0
    refresh = ["refresh", str(book), "--car", str(demo_car_dir)]
    first = run_forked(refresh, tmp_path / "first.log", {STOP_ENV: "refresh:locked:pause"})
    wait_until_paused(first)
    busy = run_forked(refresh, tmp_path / "busy.log")
    assert exit_code(busy) == 1
    message = (tmp_path / "busy.log").read_text().splitlines()[-1]
    assert message.startswith(f"Error: {book}: busy: ") and f"(pid {first}," in message
    waiting = run_forked([*refresh, "--wait", "120"], tmp_path / "waiting.log")
    os.kill(first, signal.SIGCONT)
    assert exit_code(first) == 0, (tmp_path / "first.log").read_text()
    assert exit_code(waiting) == 0, (tmp_path / "waiting.log").read_text()
    load_workbook(book)  # whole
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".X.xlsm.lock"]


def test_parts_of_one_member_must_share_one_schema(tmp_path: Path) -> None:
    """A part whose types differ from the first's (an empty customer bucket's ids typed null)
    fails the build when the member is recorded, naming the part and the column; the current
    generation stays."""
    car = CarResult(pd.Timestamp("2026-01-01"), np.array(["C1"], dtype=object), {}, [], {}, 0.0)
    with pytest.raises(
        AssertionError, match=r"part-00001.parquet: customer_id is string here but null"
    ):
        with store.building(tmp_path / "out") as writer:
            writer.write_car_part(0, pa.table({"customer_id": pa.array([], pa.null())}))
            writer.write_car_part(1, car.to_arrow())
            writer.finish_car(car, 1)
    assert store.generations(tmp_path / "out") == []
    # no customers: text ids (object) are typed as text all the same, not by their values
    empty = CarResult(car.as_of, np.array([], dtype=object), {}, [], {}, 0.0)
    assert empty.to_arrow().schema.field("customer_id").type == pa.string()
