"""templates/features.yaml: typed, and a mistake is one line naming its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from profiler.features import DEFAULT_FEATURES, FeatureSpecError, load_feature_spec

TEXT = DEFAULT_FEATURES.read_text()


def line_of(text: str, needle: str) -> int:
    """The line of the first ``needle`` in ``text``."""
    return text[: text.index(needle)].count("\n") + 1


def assert_one_line_at(error: Exception, path: Path, line: int, says: str) -> None:
    """A template mistake's message: one line, starting ``path:line: ``, saying ``says``."""
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    assert says in message


def test_the_spec_is_the_plain_yaml() -> None:
    assert load_feature_spec() == yaml.safe_load(TEXT)


# Each case: the text replaced, its replacement, the line the error names (the line of the
# replacement's first character, or of the needle given) and what the message says.
CASES = [
    (
        "measures: [spend, orders, units, returns_value]",
        "measures: [spend, spnd, units, returns_value]",
        None,
        "slice 'category' uses unknown measure 'spnd'. Did you mean 'spend'? Known: spend, orders",
    ),
    (
        "spend:           {unit: gbp,",
        "spend:           {unit: gpb,",
        None,
        "measures.spend.unit: expected one of gbp, count, ratio",
    ),
    ("  active_days: 365\n", "", "lifecycle:", "lifecycle: missing 'active_days'."),
    (
        "  lapsed_days: 545",
        "  lapsd_days: 545",
        None,
        "lifecycle: unknown key 'lapsd_days'. Did you mean 'lapsed_days'? Expected: new_days",
    ),
    (
        "periods: [ltd, l12m]\n",
        "periods: [ltd, l21m]\n",
        None,
        "slice 'collection' uses unknown period 'l21m'",
    ),
    ("{tier: gold, top_share: 0.05}", "{tier: gold, top_share: 5}", None, "less than or equal"),
    ("    low/low/low: Dormant\n", "", "  names:\n", "missing: low/low/low; unknown: none"),
    ("rfm:\n", "rfm: [\n", "    - {name: champions", "not valid YAML"),
]


@pytest.mark.parametrize(("old", "new", "at", "says"), CASES)
def test_a_mistake_names_its_file_and_line(
    tmp_path: Path, old: str, new: str, at: str | None, says: str
) -> None:
    assert old in TEXT
    text = TEXT.replace(old, new, 1)
    bad = tmp_path / "features.yaml"
    bad.write_text(text)
    with pytest.raises(FeatureSpecError) as caught:
        load_feature_spec(bad)
    assert_one_line_at(caught.value, bad, line_of(text, at or new), says)


def test_the_packaged_file_is_named_from_the_project() -> None:
    with pytest.raises(FeatureSpecError, match=r"^.*missing\.yaml: cannot be read"):
        load_feature_spec(DEFAULT_FEATURES.parent / "missing.yaml")
