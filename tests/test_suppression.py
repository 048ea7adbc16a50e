"""Suppression applied to computed blocks, checked on hand-made tables."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from workbook.content import Block
from workbook.suppression import COMPLEMENTARY, scrub, suppress_block


def block(values: dict[str, list], counts: dict[str, list], **extra) -> Block:
    frame = pd.DataFrame(values)
    return Block(
        "segments",
        "Net sales by segment",
        frame,
        customers=pd.DataFrame(counts).reindex(columns=frame.columns),
        charts=[{"type": "bar", "x": "Segment", "series": ["Net sales"]}],
        **extra,
    )


def test_a_small_cell_and_its_complement_are_hidden_with_different_marks() -> None:
    b = block(
        {"Segment": ["A", "B", "C", "All"], "Net sales": [700.0, 3300.0, 12000.0, 16000.0]},
        {"Net sales": [7, 33, 120, 160]},
    )
    safe, counts = suppress_block(b, 10)
    assert list(safe.frame["Net sales"]) == ["n<10", COMPLEMENTARY, 12000.0, 16000.0]
    assert (counts.primary, counts.complementary) == (1, 1)
    assert list(b.frame["Net sales"]) == [700.0, 3300.0, 12000.0, 16000.0]  # the input is kept
    # the total less the cells shown cannot give the hidden one alone
    shown = [v for v in safe.frame["Net sales"][:3] if isinstance(v, float)]
    assert 16000.0 - sum(shown) == 700.0 + 3300.0


def test_no_count_no_suppression_and_two_hidden_need_no_complement() -> None:
    b = block(
        {"Segment": ["A", "B", "C"], "Net sales": [1.0, 2.0, 3.0]},
        {"Net sales": [5, 6, 500]},
    )
    safe, counts = suppress_block(b, 10)
    assert list(safe.frame["Net sales"]) == ["n<10", "n<10", 3.0]
    assert counts.complementary == 0
    plain = Block("x", "x", pd.DataFrame({"a": [1.0]}))
    assert suppress_block(plain, 10)[0].frame.equals(plain.frame)


def test_personal_text_is_removed_inside_longer_texts_titles_and_headers() -> None:
    b = Block(
        "portfolios",
        "Portfolio: vip@example.com against All customers",
        pd.DataFrame({"Portfolio": ["Country: +44 20 7946 0958", "Legacy"], "a@b.com": [1.0, 2.0]}),
        charts=[{"type": "bar", "x": "Portfolio", "series": ["a@b.com"], "title": "x@y.org"}],
    )
    safe, counts = suppress_block(b, 10)
    assert safe.title == "Portfolio: (removed) against All customers"
    assert list(safe.frame["Portfolio"]) == ["Country: (removed)", "Legacy"]
    assert list(safe.frame.columns) == ["Portfolio", "(removed)"]
    assert safe.charts[0]["series"] == ["(removed)"] and safe.charts[0]["title"] == "(removed)"
    assert counts.texts == 4
    assert scrub(r"saved in C:\Users\ann\book.xlsm")[0] == "saved in (removed)"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.floats(1, 1e6, allow_nan=False)), min_size=2, max_size=8
    ),
    st.integers(2, 30),
)
def test_no_column_keeps_a_single_hidden_value(rows, k) -> None:
    counts = [n for n, _ in rows]
    values = [v for _, v in rows]
    b = block(
        {
            "Segment": [f"S{i}" for i in range(len(rows))] + ["All"],
            "Net sales": values + [sum(values)],
        },
        {"Net sales": counts + [sum(counts)]},
    )
    safe, _ = suppress_block(b, k)
    shown = list(safe.frame["Net sales"])
    hidden = [i for i, v in enumerate(shown) if isinstance(v, str)]
    for i, n in enumerate(counts + [sum(counts)]):
        if n < k:
            assert shown[i] == f"n<{k}"  # every small value is hidden
    assert len(hidden) != 1  # never one unknown against a total
