"""Reporting periods: half-open day intervals, their labels, shifts and errors."""

from __future__ import annotations

import pandas as pd
import pytest

from profiler.errors import ProfilerError
from profiler.periods import months_between, parse_period


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2024-02", "2024-02-01", "2024-03-01", "2024-02"),
        ("2024-Q4", "2024-10-01", "2025-01-01", "2024-Q4"),
        ("2024", "2024-01-01", "2025-01-01", "2024"),
        ("ytd:2024-11", "2024-01-01", "2024-12-01", "ytd:2024-11"),
        ("r12:2024-11", "2023-12-01", "2024-12-01", "r12:2024-11"),
    ],
)
def test_periods_are_half_open_intervals(text: str, start: str, end: str, label: str) -> None:
    period = parse_period(text)
    assert (period.start, period.end) == (pd.Timestamp(start), pd.Timestamp(end))
    assert period.label == label
    times = pd.Series(pd.to_datetime([start, end]) - pd.Timedelta(seconds=1))
    assert period.contains(times).tolist() == [False, True]  # last second in, the one before out


def test_previous_and_same_period_last_year() -> None:
    assert parse_period("2024-01").previous().label == "2023-12"
    assert parse_period("2024-Q1").previous().label == "2023-Q4"
    assert parse_period("ytd:2024-05").previous().label == "ytd:2023-05"
    assert parse_period("2024-03").last_year().label == "2023-03"
    assert [p.label for p in months_between("2023-11", "2024-02")] == [
        "2023-11",
        "2023-12",
        "2024-01",
        "2024-02",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-13", "has month 13"),
        ("Nov 2024", "expected YYYY-MM, YYYY-Qn, YYYY, ytd:YYYY-MM, r12:YYYY-MM or asof"),
        ("2024-Q5", "not understood"),
    ],
)
def test_bad_periods_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ProfilerError, match=message):
        parse_period(text)
