"""The catalog lock: a metric's definition cannot change under its version (docs/metrics.md)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from profiler.catalog import DEFAULT_CATALOG, load_catalog
from profiler.catalog_lock import LOCK_NAME, check_lock, lock_text, read_lock
from workbook.cli import main
from workbook.definitions import definitions_content

NET_SALES_FILTER = """  filter: 'status == "completed"'\n  dimensions: [channel"""
NEW_FILTER = (
    """  filter: 'status == "completed" and channel != "marketplace"'\n  dimensions: [channel"""
)


def test_the_committed_lock_matches_the_catalog() -> None:
    """CI fails when someone edits a metric without 'profiler metrics release'."""
    catalog = load_catalog()
    path = DEFAULT_CATALOG / LOCK_NAME
    lock = read_lock(path)
    assert lock is not None, f"{path} is missing: run 'profiler metrics release'"
    assert [str(f) for f in check_lock(catalog, lock)] == []
    assert path.read_text() == lock_text(catalog), (
        f"{path} is stale: run 'profiler metrics release' and commit it"
    )
    assert lock.catalog_version == catalog.version
    assert set(lock.metrics) == set(catalog.metrics)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped catalog and its lock, to edit."""
    out = tmp_path / "metrics"
    shutil.copytree(DEFAULT_CATALOG, out)
    return out


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1))


def _line_of(path: Path, metric: str, key: str) -> int:
    """The line of ``key:`` in the entry of ``metric`` (1-based)."""
    lines = path.read_text().splitlines()
    start = lines.index(f"- name: {metric}")
    return next(i for i in range(start, len(lines)) if lines[i].startswith(f"  {key}:")) + 1


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["metrics", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_drift_fails_until_the_version_is_raised_and_released(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sales, lock = folder / "sales.yaml", folder / LOCK_NAME
    released = lock.read_text()
    _edit(sales, NET_SALES_FILTER, NEW_FILTER)

    # the filter changed, the version did not: check and release both fail, naming the place
    code, _, err = _run(capsys, "check", "--catalog", str(folder))
    assert code == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert errors == [
        f"Error: {sales}:{_line_of(sales, 'net_sales', 'filter')}: net_sales: definition changed "
        "(filter) but version is still 1, as released; raise its version to 2 (and its "
        "changelog), then run 'profiler metrics release'"
    ]
    code, _, err = _run(capsys, "release", "--catalog", str(folder))
    assert code == 1 and "net_sales: definition changed (filter)" in err
    assert lock.read_text() == released  # a release cannot hide drift

    # the version raised: a warning until released
    version_line = _line_of(sales, "net_sales", "version")
    _edit(
        sales,
        "  version: 1\n  changelog: 'First agreed definition.'",
        "  version: 2\n  changelog: 'Marketplace out.'",
    )
    code, out, err = _run(capsys, "check", "--catalog", str(folder))
    assert code == 0 and "Error" not in err
    assert (
        f"Warning: {sales}:{version_line}: net_sales: version 2 (definition changed: filter) is "
        "not released (the lock has version 1); run 'profiler metrics release'"
    ) in err.splitlines()

    # diff against the lock shows the released and the current filter
    code, out, _ = _run(capsys, "diff", "--catalog", str(folder))
    assert code == 0
    assert f"  changed  net_sales ({sales}:" in out
    assert "version: 1 -> 2" in out
    assert 'released: sum(net_gbp) over order_lines where status == "completed", dated' in out
    assert (
        'now:      sum(net_gbp) over order_lines where status == "completed" and channel != '
        '"marketplace", dated'
    ) in out
    assert "0 added, 0 removed, 1 changed, 0 re-versioned" in out

    # the catalog version was released already: raise it, then release
    code, _, err = _run(capsys, "release", "--catalog", str(folder))
    assert code == 1 and "catalog version 1.2.0 is already released and net_sales changed" in err
    assert lock.read_text() == released
    _edit(folder / "catalog.yaml", "version: 1.2.0", "version: 1.3.0")
    code, out, _ = _run(capsys, "release", "--catalog", str(folder))
    assert code == 0 and "Released metric catalog 1.3.0" in out and "version: 1 -> 2" in out

    code, out, err = _run(capsys, "check", "--catalog", str(folder))
    assert code == 0 and err == "" and f"as released in {lock}" in out
    text = lock.read_text()
    assert "catalog_version: 1.3.0" in text
    assert 'filter: (status == "completed") and (channel != "marketplace")' in text
    code, out, _ = _run(capsys, "diff", "--catalog", str(folder))
    assert "no metric added, removed, changed or re-versioned since the release." in out


def test_diff_of_two_catalogs_still_works_and_shows_both_filters(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(folder / "sales.yaml", NET_SALES_FILTER, NEW_FILTER)
    code, out, _ = _run(capsys, "diff", str(DEFAULT_CATALOG), str(folder))
    assert code == 0
    assert "  changed  net_sales" in out and "1 changed" in out
    assert 'old: sum(net_gbp) over order_lines where status == "completed", dated' in out
    assert 'channel != "marketplace"' in out.split("new: ", 1)[1]
    code, _, err = _run(capsys, "diff", str(folder))
    assert code == 2 and err.startswith("Error: give both OLD and NEW") and err.count("\n") == 1


def test_what_does_not_define_the_number_needs_no_version(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sales = folder / "sales.yaml"
    _edit(sales, "  label: Net sales\n", "  label: Net sales (kept)\n  approved_by: Jane Roe\n")
    code, out, err = _run(capsys, "check", "--catalog", str(folder))
    assert code == 0 and err == "" and "as released" in out


def _remove(folder: Path, name: str) -> tuple[Path, str]:
    """Delete the entry of metric ``name`` from its file; the file and its text before."""
    m = load_catalog(folder).metrics[name]
    path = Path(m.file)
    before = path.read_text()
    lines = before.splitlines(keepends=True)
    first = m.line - 1
    after = [i for i in range(first + 1, len(lines)) if lines[i].startswith("- name: ")]
    path.write_text("".join(lines[:first] + lines[after[0] if after else len(lines) :]))
    return path, before


def test_new_removed_and_lowered_metrics(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sales = folder / "sales.yaml"
    text = sales.read_text()
    block = text[text.index("- name: gross_sales\n") : text.index("- name: returns_booked\n")]
    _edit(sales, block, block + block.replace("name: gross_sales", "name: gross_sales_web"))
    catalog = load_catalog(folder)
    parts = {p for m in catalog.metrics.values() for p in m.parts}
    gone = next(n for n in sorted(catalog.metrics) if n not in parts and n != "gross_sales_web")
    released_at = read_lock(folder / LOCK_NAME).metrics[gone].where()  # type: ignore[union-attr]
    removed_from, before = _remove(folder, gone)
    new_at = sales.read_text().splitlines().index("- name: gross_sales_web") + 1

    code, _, err = _run(capsys, "check", "--catalog", str(folder))
    assert code == 0, err
    assert (
        f"Note: {sales}:{new_at}: gross_sales_web: new "
        "metric (version 1), not in the lock yet; run 'profiler metrics release' to record it"
    ) in err.splitlines()
    assert (
        f"Warning: {released_at}: {gone}: released metric (version 1) is no longer in the "
        "catalog; run 'profiler metrics release' to record its removal"
    ) in err.splitlines()

    # a new metric may join the released catalog version; a removal may not
    code, _, err = _run(capsys, "release", "--catalog", str(folder))
    assert code == 1 and err.startswith(
        f"Error: {folder / 'catalog.yaml'}:4: catalog version 1.2.0 is already released and "
        f"{gone} changed since"
    )
    removed_from.write_text(before)
    code, out, err = _run(capsys, "release", "--catalog", str(folder))
    assert code == 0 and err == "" and "  added    gross_sales_web (version 1)" in out
    assert "gross_sales_web:" in (folder / LOCK_NAME).read_text()

    _edit(sales, "  version: 1\n", "  version: 0\n")  # the first entry: net_sales
    code, _, err = _run(capsys, "check", "--catalog", str(folder))
    assert code == 1 and "net_sales: version 0 is below the released version 1" in err


def test_without_a_lock_check_passes_with_a_note(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = folder / LOCK_NAME
    lock.unlink()
    code, out, err = _run(capsys, "check", "--catalog", str(folder))
    assert code == 0 and err == (
        f"Note: no lock file {lock}: nothing released to compare with; 'profiler metrics "
        "release' writes it.\n"
    )
    code, _, err = _run(capsys, "diff", "--catalog", str(folder))
    assert code == 1 and err.startswith(f"Error: no lock file {lock}") and err.count("\n") == 1
    code, out, _ = _run(capsys, "release", "--catalog", str(folder))
    assert code == 0 and "first lock" in out
    assert lock.read_text() == (DEFAULT_CATALOG / LOCK_NAME).read_text()


def test_a_lock_edited_by_hand_is_an_error(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = folder / LOCK_NAME
    # the drift hidden in the lock: its filter changed, its hash did not
    _edit(
        lock, 'filter: status == "completed"\n      source', 'filter: status != "x"\n      source'
    )
    code, _, err = _run(capsys, "check", "--catalog", str(folder))
    assert code == 1
    assert "does not match its definition_hash (edited by hand?)" in err
    # malformed: one Error line naming the file and line
    lock.write_text("catalog_version: 1.1.0\nmetrics:\n  net_sales: [1, 2]\n")
    code, _, err = _run(capsys, "check", "--catalog", str(folder))
    assert code == 1 and err.startswith(f"Error: {lock}:3: net_sales: expected version")
    assert err.count("\n") == 1
    lock.write_text(
        "catalog_version: 1.1.0\nmetrics:\n  aov:\n    version: 1\n    definition_hash: x\n    definition:\n      filter: [1]\n"
    )
    code, _, err = _run(capsys, "check", "--catalog", str(folder))
    assert code == 1 and err.startswith(f"Error: {lock}:3: aov: filter has the wrong type")
    lock.write_text("metrics: [\n")
    code, _, err = _run(capsys, "release", "--catalog", str(folder))
    assert code == 1 and err.startswith(f"Error: {lock}:") and "not valid YAML" in err


def test_the_definitions_sheet_shows_who_approved_and_when(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    shutil.copytree(DEFAULT_CATALOG, folder)
    _edit(
        folder / "sales.yaml",
        "  label: Net sales\n",
        "  label: Net sales\n  approved_by: Jane Roe (CFO)\n  approved_on: 2026-11-30\n",
    )
    catalog = load_catalog(folder)
    engine = SimpleNamespace(
        catalog=catalog,
        metric=catalog.get,
        cohorts=SimpleNamespace(definitions={}),
        stamp=catalog.stamp,
    )
    content = definitions_content(engine, ["net_sales", "aov"])  # type: ignore[arg-type]
    frame = content.blocks[0].frame.set_index("Metric")
    assert list(frame.columns[6:8]) == ["Approved by", "Approved on"]
    assert frame.loc["net_sales", "Approved by"] == "Jane Roe (CFO)"
    assert frame.loc["net_sales", "Approved on"] == "2026-11-30"
    assert frame.loc["aov", "Approved by"] == "" and frame.loc["aov", "Approved on"] == ""
