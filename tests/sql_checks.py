"""One comparison for a SQL family's columns against its pandas family's."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd


def assert_same_columns(
    want: dict, have: dict, what: str = "", *, close: Collection[str] | None = None
) -> None:
    """Same names in the same order, same types, dtypes and categories (in order), missing in the
    same places; values equal, except float64 columns in ``close`` (default: every float64
    column), which are sums added in another order and agree within 1e-9 relative."""
    assert list(have) == list(want), what
    for name, expected in want.items():
        got = have[name]
        label = f"{what}: {name}" if what else name
        assert type(got) is type(expected), label
        w, h = pd.Series(expected), pd.Series(got)
        assert h.dtype == w.dtype, label
        if isinstance(w.dtype, pd.CategoricalDtype):  # dtype equality ignores category order
            assert list(h.cat.categories) == list(w.cat.categories), label
            assert h.cat.categories.dtype == w.cat.categories.dtype, label
        if w.dtype == np.float64 and (close is None or name in close):
            np.testing.assert_allclose(h, w, rtol=1e-9, atol=0, equal_nan=True, err_msg=label)
        else:
            assert w.equals(h), label
