"""The public API (docs/api.md): its examples run as written, the CAR folder is found by one
function, and the sources' checks are stored by the build and only read by the workbook."""

from __future__ import annotations

import doctest
from pathlib import Path

import pandas as pd
import pytest

import profiler
from profiler import store
from profiler.errors import ProfilerError
from workbook.content import load_layout, sheet_content
from workbook.macros import extras_for

ROOT = Path(__file__).resolve().parents[1]


def test_the_api_doc_examples_run(tmp_path: Path, monkeypatch) -> None:
    """docs/api.md's examples, in an empty folder, on a 300-customer demo."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(store.CAR_ENV, "replaced by the examples")  # and restored after them
    failures, tried = doctest.testfile(
        str(ROOT / "docs" / "api.md"),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    assert tried > 10 and failures == 0


# Where the CAR folder is: the argument, else $PROFILER_CAR, else one line saying what to do.
def test_the_car_folder_is_the_argument_else_the_environment(
    demo_car_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv(store.CAR_ENV, str(demo_car_dir))
    assert store.car_folder() == demo_car_dir
    assert store.car_folder(str(demo_car_dir)) == demo_car_dir
    with pytest.raises(ProfilerError, match="no CAR here"):
        store.car_folder(tmp_path)  # given: the environment is not consulted
    monkeypatch.delenv(store.CAR_ENV)
    with pytest.raises(
        ProfilerError, match=r"^No CAR given: pass --car DIR .* set PROFILER_CAR\.$"
    ):
        profiler.open()


def test_the_build_stores_the_sources_checks_and_the_workbook_reads_them(
    demo_car_dir: Path, demo_source
) -> None:
    """Computed by the engine's one implementation (reconcile.py, clv.py), stored in the
    generation, read back as written."""
    from profiler.catalog import load_catalog
    from profiler.clv import holdout_check
    from profiler.facts import order_facts
    from profiler.reconcile import recent_reconciliation

    engine = profiler.open(demo_car_dir)
    checks = store.read_source_checks(engine.car_dir, engine.meta)
    assert set(checks) == {"reconciliation", "holdout"}
    expected = recent_reconciliation(demo_source, load_catalog(), engine.as_of)
    pd.testing.assert_frame_equal(checks["reconciliation"], expected, check_exact=True)
    facts = order_facts(demo_source, engine.as_of)
    holdout = holdout_check(facts[facts["status"] == "completed"], engine.as_of)
    pd.testing.assert_frame_equal(checks["holdout"], holdout, check_exact=True)
    extras = extras_for(engine, None)  # no data folder: the CAR has them
    assert extras["reconciliation"] is not None and "Predicted" in extras["holdout"]


def test_a_car_built_before_the_checks_shows_the_notes(demo_source, tmp_path: Path) -> None:
    """A CAR without the stored checks (built before them): the sheets show their notes, even
    with a data folder; nothing is computed at refresh."""
    from profiler.activity import build_activity
    from profiler.car import build_car
    from profiler.catalog import load_catalog

    out = tmp_path / "car"
    with store.building(out) as writer:  # a generation as builds wrote it before
        writer.write_csv(store.QUARANTINE, demo_source.quarantine)
        result = build_car(demo_source, None)
        writer.write_car(result)
        writer.write_activity(
            build_activity(demo_source, load_catalog(), result.customer_ids, result.as_of)
        )
    engine = profiler.open(out)
    extras = extras_for(engine, demo_source.data_dir)
    assert set(extras) == {"data_dir"}
    sheets = {s.get("view"): s for s in load_layout()["sheets"]}
    recon = sheet_content(engine, sheets["reconciliation"], {}, extras)
    assert "no data folder" in recon.blocks[0].frame["Note"][0]
