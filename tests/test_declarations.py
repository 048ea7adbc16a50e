"""templates/columns.yaml: every CAR column declared once, as data; a mistake is one line naming
its file and line."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

import pytest

from profiler.car import build_car
from profiler.declarations import DEFAULT_COLUMNS, load_declarations, render
from profiler.features import DEFAULT_FEATURES, FeatureSpecError, load_feature_spec
from profiler.loading import SourceData
from tests.test_features import assert_one_line_at, line_of

TEXT = DEFAULT_COLUMNS.read_text()
FAMILIES = Path(__file__).resolve().parents[1] / "profiler" / "families"


def _write(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    assert old in TEXT
    text = TEXT.replace(old, new, 1)
    path = tmp_path / "columns.yaml"
    path.write_text(text)
    return path, text


# Each case: the text replaced, its replacement, the line the error names (the line of the
# needle given, or of the replacement) and what the message says.
LOAD_CASES = [
    # a unit that does not exist
    (
        "          unit: days\n        - name: recency_days",
        "          unit: dayz\n        - name: recency_days",
        "unit: dayz",
        "unit: unknown unit 'dayz'. Did you mean 'days'? Known: gbp",
    ),
    # a missing field: reported on its entry's line
    (
        '        - name: tenure_days\n          description: "Days from the first purchase to D."\n',
        "        - name: tenure_days\n",
        "        - name: tenure_days",
        "missing 'description'.",
    ),
    # a typo in a key
    (
        '        - name: recency_days\n          description: "Days',
        '        - name: recency_days\n          descripton: "Days',
        "descripton",
        "unknown key 'descripton'. Did you mean 'description'?",
    ),
    # a source table the contract does not have
    (
        "      sources: [accounts]\n",
        "      sources: [acounts]\n",
        "[acounts]",
        "unknown table 'acounts'. Did you mean 'accounts'?",
    ),
]


@pytest.mark.parametrize(("old", "new", "at", "says"), LOAD_CASES)
def test_a_mistake_names_its_file_and_line(
    tmp_path: Path, old: str, new: str, at: str, says: str
) -> None:
    path, text = _write(tmp_path, old, new)
    with pytest.raises(FeatureSpecError) as caught:
        load_declarations(path)
    assert_one_line_at(caught.value, path, line_of(text, at), says)


def _has(table: str) -> bool:
    return True


# Mistakes found when a template is filled in: still one line with the entry's file and line.
RENDER_CASES = [
    (
        '"Days from the latest purchase to D."',
        '"Days from the latest purchase to {lifecycle[recency_days]}."',
        "lifecycle",
        "        - name: recency_days",
        "lifecycle column 'recency_days' cannot be filled in (KeyError: 'recency_days')",
    ),
    (
        "parameters: {thresholds: lifecycle}\n        - name: lifecycle_stage_1y_ago",
        "parameters: {thresholds: lifecyle}\n        - name: lifecycle_stage_1y_ago",
        "lifecycle",
        "        - name: lifecycle_stage\n",
        "lifecycle column 'lifecycle_stage' cannot be filled in",
    ),
]


@pytest.mark.parametrize(("old", "new", "family", "at", "says"), RENDER_CASES)
def test_a_template_that_cannot_be_filled_names_its_line(
    tmp_path: Path, old: str, new: str, family: str, at: str, says: str
) -> None:
    path, text = _write(tmp_path, old, new)
    decl = load_declarations(path)
    with pytest.raises(FeatureSpecError) as caught:
        render(family, load_feature_spec(), _has, {}, decl)
    assert_one_line_at(caught.value, path, line_of(text, at), says)


def test_a_measure_without_a_computation_names_its_line(tmp_path: Path) -> None:
    """A new measure is one entry in features.yaml; one the kernels cannot compute says so."""
    text = DEFAULT_FEATURES.read_text()
    text = text.replace(
        "  cancelled_lines: {unit: count",
        '  gift_wrapped: {unit: count, description: "wrapped lines"}\n  cancelled_lines: {unit: count',
    ).replace("measures: [spend]\n", "measures: [spend, gift_wrapped]\n")
    path = tmp_path / "features.yaml"
    path.write_text(text)
    spec = load_feature_spec(path)
    from profiler.families import sales

    with pytest.raises(FeatureSpecError) as caught:
        sales._check_measures(spec)
    line = line_of(text, "measures: [spend, gift_wrapped]")
    assert str(caught.value).startswith(f"{path}:{line}: measure 'gift_wrapped' has no computation")


def test_no_family_module_writes_a_description() -> None:
    for module in FAMILIES.glob("*.py"):
        assert "ColumnDef(" not in module.read_text(), f"{module.name} declares a column in Python"


@pytest.fixture(scope="module")
def built(demo_source: SourceData):
    """The demo CAR, and the same without interactions (the strategy segments without
    engagement)."""
    tables = {k: v for k, v in demo_source.tables.items() if k != "interactions"}
    reports = {k: v for k, v in demo_source.reports.items() if k != "interactions"}
    without = dataclasses.replace(demo_source, tables=tables, reports=reports)
    return build_car(demo_source), build_car(without)


def test_every_column_has_exactly_one_declaration(built) -> None:
    decl = load_declarations()
    entries = {
        f"templates/columns.yaml:{decl.where(c._path).rsplit(':', 1)[1]}"
        for groups in decl.families.values()
        for g in groups
        for c in g.columns
    }
    used = Counter()
    for result in built:
        names = [d.name for d in result.definitions]
        assert len(names) == len(set(names)), "a column is declared twice"
        assert set(result.columns) == set(names)
        for d in result.definitions:
            assert d.origin in entries, f"{d.name} does not come from templates/columns.yaml"
            assert not re.search(r"[{}]", d.name + d.description + d.unit), d
            used[d.origin] += 1
    # Every entry makes a column of the demo (with or without interactions): none is dead.
    assert set(used) == entries, sorted(entries - set(used))


def test_a_new_sales_measure_is_one_entry(tmp_path: Path) -> None:
    """A sum the kernel already makes becomes a measure, with its columns and dictionary
    entries, by one entry under features.yaml `measures` (and the slices that list it)."""
    from tests import car_data
    from tests.conftest import write_table

    for name, rows in car_data.TABLES.items():
        write_table(tmp_path, name, rows)
    from profiler.loading import load_sources

    source = load_sources(tmp_path, today="2026-01-01")
    spec = load_feature_spec()
    spec["measures"]["full_price_spend"] = {"unit": "gbp", "description": "full-price spend"}
    spec["sales"][0]["measures"].append("full_price_spend")
    result = build_car(source, car_data.AS_OF, spec=spec)
    entry = result.dictionary().set_index("column").loc["full_price_spend_l12m"]
    assert entry["description"] == "Full-price spend, in the 12 months to D."
    assert (entry["unit"], entry["source_tables"]) == ("gbp", "order_lines")
    full, share, spend = (
        result.columns[f"{m}_ltd"] for m in ("full_price_spend", "full_price_share", "spend")
    )
    bought = spend > 0
    assert (abs(full[bought] - share[bought] * spend[bought]) < 1e-9).all()


def test_the_declarations_travel_with_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process given the pickled spec (a Spark executor with a zip of profiler/ alone) renders
    the columns without reading templates/columns.yaml."""
    import pickle

    from profiler import declarations as module

    spec = pickle.loads(pickle.dumps(load_feature_spec()))
    want = render("lifecycle", spec, _has, {})
    module.declarations.cache_clear()
    monkeypatch.setattr(module, "DEFAULT_COLUMNS", Path("/nonexistent/columns.yaml"))
    try:
        assert render("lifecycle", spec, _has, {}) == want
        assert [d.definition_hash for d in render("lifecycle", spec, _has, {})] == [
            d.definition_hash for d in want
        ]
    finally:
        module.declarations.cache_clear()
