"""Reporting periods: month, quarter, year, year to date and rolling 12 months.

A period is a half-open interval [start, end) of days, so the last day of a month is in it and
the first day of the next month is not, whatever the time of day.  Periods are written as
``2024-11``, ``2024-Q4``, ``2024``, ``ytd:2024-11`` (January to November 2024) and
``r12:2024-11`` (December 2023 to November 2024).  ``asof`` is the CAR's snapshot date: metrics
of customer state (lifecycle stage, consent, P(alive)) are measured as of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from .errors import ProfilerError, UsageError

KINDS = ("month", "quarter", "year", "ytd", "r12", "asof")
# How far back the previous period starts: year to date and rolling 12 months go back a year.
_PREVIOUS_MONTHS = {"month": 1, "quarter": 3, "year": 12, "ytd": 12, "r12": 12, "asof": 12}
FORMATS = "YYYY-MM, YYYY-Qn, YYYY, ytd:YYYY-MM, r12:YYYY-MM or asof"


@dataclass(frozen=True)
class Period:
    """A named half-open interval of days."""

    kind: str
    start: pd.Timestamp
    end: pd.Timestamp  # exclusive: the first day after the period

    @property
    def label(self) -> str:
        last = self.end - pd.DateOffset(months=1)
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        if self.kind == "year":
            return f"{self.start.year}"
        if self.kind == "asof":
            return f"as of {self.end - pd.Timedelta(days=1):%Y-%m-%d}"
        return f"{self.kind}:{last:%Y-%m}"

    def shifted(self, months: int) -> Period:
        """The same kind of period ``months`` months later (earlier if negative)."""
        offset = pd.DateOffset(months=months)
        return Period(self.kind, self.start + offset, self.end + offset)

    def previous(self) -> Period:
        """The period just before: the previous month, quarter, year; for year to date and
        rolling 12 months, the same span a year earlier."""
        return self.shifted(-_PREVIOUS_MONTHS[self.kind])

    def last_year(self) -> Period:
        """The same period a year earlier."""
        return self.shifted(-12)

    def contains(self, times: pd.Series) -> pd.Series:
        return (times >= self.start) & (times < self.end)


def parse_period(text: str) -> Period:
    """A period from its written form (see the module docstring); one-line error otherwise."""
    raw = str(text).strip()
    if raw.startswith("asof:"):
        day = _date(raw[5:], raw)
        return Period("asof", pd.Timestamp("1900-01-01"), day + pd.Timedelta(days=1))
    match = re.fullmatch(r"(ytd|r12):(\d{4})-(\d{2})", raw)
    if match:
        kind, year, month = match.group(1), int(match.group(2)), int(match.group(3))
        _check_month(month, raw)
        end = pd.Timestamp(year=year, month=month, day=1) + pd.DateOffset(months=1)
        start = (
            pd.Timestamp(year=year, month=1, day=1)
            if kind == "ytd"
            else end - pd.DateOffset(months=12)
        )
        return Period(kind, start, end)
    match = re.fullmatch(r"(\d{4})-(\d{2})", raw)
    if match:
        month = int(match.group(2))
        _check_month(month, raw)
        start = pd.Timestamp(year=int(match.group(1)), month=month, day=1)
        return Period("month", start, start + pd.DateOffset(months=1))
    match = re.fullmatch(r"(\d{4})-[Qq]([1-4])", raw)
    if match:
        start = pd.Timestamp(year=int(match.group(1)), month=3 * int(match.group(2)) - 2, day=1)
        return Period("quarter", start, start + pd.DateOffset(months=3))
    if re.fullmatch(r"\d{4}", raw):
        start = pd.Timestamp(year=int(raw), month=1, day=1)
        return Period("year", start, start + pd.DateOffset(years=1))
    raise ProfilerError(f"Period '{raw}' is not understood; expected {FORMATS}.")


def asof_period(as_of: pd.Timestamp) -> Period:
    """The CAR snapshot: everything up to the end of the as-of day."""
    return Period(
        "asof", pd.Timestamp("1900-01-01"), pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    )


def last_complete_month(as_of: pd.Timestamp) -> pd.Timestamp:
    """The first day of the last month that ended by the as-of day."""
    end = as_of + pd.Timedelta(days=1)  # data runs to the end of the as-of day
    return end.replace(day=1) - pd.DateOffset(months=1)


def months_between(first: str, last: str) -> list[Period]:
    """Every month from ``first`` to ``last`` (YYYY-MM), in order."""
    start, end = parse_period(first), parse_period(last)
    if start.kind != "month" or end.kind != "month":
        raise ProfilerError(f"--from and --to take months (YYYY-MM); got '{first}' and '{last}'.")
    if end.start < start.start:
        raise ProfilerError(f"--from {first} is after --to {last}.")
    out = []
    current = start
    while current.start <= end.start:
        out.append(current)
        current = current.shifted(1)
    return out


def _check_month(month: int, raw: str) -> None:
    if not 1 <= month <= 12:
        raise ProfilerError(f"Period '{raw}' has month {month:02d}; expected 01 to 12.")


def _date(value: str, raw: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(value).normalize()
    except ValueError:
        raise ProfilerError(
            f"Period '{raw}' has no readable date; expected asof:YYYY-MM-DD."
        ) from None


def day_option(flag: str, value: str, *, iso_only: bool = False) -> pd.Timestamp:
    """A day given as an option (``--as-of``, ``--calibration-end``...), or one ``Error:`` line naming the
    flag.  An empty value (which pandas parses as NaT) is no day either; ``iso_only`` refuses
    anything but YYYY-MM-DD, so '09/10/1997' is never read silently in US order."""
    try:
        if iso_only and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        day = pd.Timestamp(value)
        if pd.isna(day):
            raise ValueError(value)
    except ValueError:
        raise UsageError(f"{flag} '{value}' is not a date; expected YYYY-MM-DD.") from None
    return day
