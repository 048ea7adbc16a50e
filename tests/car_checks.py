"""One CAR equal to another: the in-memory build is the reference for every other way of
building it (by customer parts in this process, out of core, on Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from profiler.car import CarResult


def assert_same_frames(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """Column for column and row for row: numbers and dates to the bit (missing where missing),
    categories and text by value."""
    assert list(expected.columns) == list(got.columns)
    assert len(expected) == len(got)
    for name in expected.columns:
        want, have = expected[name], got[name]
        if isinstance(want.dtype, pd.CategoricalDtype) or want.dtype == object:
            assert _values(want) == _values(have), name
            continue
        assert want.dtype == have.dtype, (name, want.dtype, have.dtype)
        a, b = want.to_numpy(), have.to_numpy()
        if a.dtype.kind in "fM":
            same = (a == b) | (pd.isna(a) & pd.isna(b))
        else:
            same = np.asarray(
                pd.Series(a).eq(pd.Series(b)) | (want.isna() & have.isna()).to_numpy()
            )
        assert same.all(), f"{name}: {int((~same).sum())} rows differ"


def _values(column: pd.Series) -> list:
    return [None if pd.isna(v) else str(v) for v in column.astype(object)]


def assert_same_car(expected: CarResult, got: CarResult) -> None:
    """The same customers, columns, definitions, values and fitted models."""
    assert [d.name for d in expected.definitions] == [d.name for d in got.definitions]
    assert [d.definition_hash for d in expected.definitions] == [
        d.definition_hash for d in got.definitions
    ]
    assert expected.left_out == got.left_out
    assert expected.models == got.models
    assert_same_frames(expected.to_frame(), got.to_frame())


def assert_same_markers(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """The catalog's purchase markers of two engines line for line: kept and first purchase by
    value, the days since the previous purchase and the lapse days to the bit."""
    for name in ["kept", "first_purchase"]:
        assert got[name].astype(bool).tolist() == want[name].astype(bool).tolist(), name
    np.testing.assert_array_equal(
        got["days_since_previous_purchase"].to_numpy(dtype=float),
        want["days_since_previous_purchase"].to_numpy(dtype=float),
    )
    assert np.array_equal(
        got["lapses_at"].to_numpy(dtype="datetime64[ns]"),
        want["lapses_at"].to_numpy(dtype="datetime64[ns]"),
        equal_nan=True,
    )
    for name in ["days_to_next_purchase", "days_to_as_of"]:  # present where both have it
        if name in got and name in want:
            np.testing.assert_array_equal(
                got[name].to_numpy(dtype=float), want[name].to_numpy(dtype=float), err_msg=name
            )
