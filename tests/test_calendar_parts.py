"""Months and days through distinct-day lookups equal numpy's calendar conversion."""

import numpy as np

from profiler.calendar_parts import month_and_day, month_of_year, month_start


def test_calendar_parts_equal_numpy() -> None:
    rng = np.random.default_rng(2)
    start = np.datetime64("2019-12-31T23:59:59", "ns").astype(np.int64)
    times = (start + rng.integers(0, 3 * 365 * 86_400 * 10**9, 5_000)).astype("datetime64[ns]")
    times[[4, 9]] = np.datetime64("NaT")
    ok = ~np.isnat(times)
    assert (month_start(times)[ok] == times[ok].astype("datetime64[M]")).all()
    assert np.isnat(month_start(times)[~ok]).all()
    month, day = month_and_day(times)
    days = times.astype("datetime64[D]")
    assert (month[ok] == times[ok].astype("datetime64[M]").astype(np.int64) % 12 + 1).all()
    assert (day[ok] == (days - days.astype("datetime64[M]")).astype(np.int64)[ok] + 1).all()
    assert (month[~ok] == 0).all() and (day[~ok] == 0).all()
    assert (month_of_year(times) == month).all()
    assert np.isnat(month_start(np.array(["NaT"], dtype="datetime64[ns]"))).all()
