"""The CAR built by customer parts equals the CAR built whole: every family reads only its
part's rows and the global statistics (profiler/partition.py)."""

from __future__ import annotations

import numpy as np
import pytest

from profiler.car import build_car
from profiler.loading import SourceData
from profiler.outofcore import build_in_parts
from tests import car_data
from tests.car_checks import assert_same_car
from tests.conftest import load_tables


def _edges(ids: np.ndarray, cuts: list[float]) -> np.ndarray:
    """Customer ids at the given fractions of the sorted ids."""
    ids = np.sort(ids)
    return ids[[min(int(f * len(ids)), len(ids) - 1) for f in cuts]]


@pytest.mark.parametrize(
    "cuts",
    [
        [],  # one part
        [0.3, 0.6],
        [0.0, 0.1, 0.1, 0.45, 0.5, 0.93],  # uneven, with an empty part
    ],
)
@pytest.mark.parametrize("as_of", [None, "2024-12-31"])
def test_demo_car_by_parts_equals_the_whole(demo_source: SourceData, cuts, as_of) -> None:
    whole = build_car(demo_source, as_of)
    edges = _edges(whole.customer_ids, cuts) if cuts else np.zeros(0, whole.customer_ids.dtype)
    assert_same_car(whole, build_in_parts(demo_source, edges, as_of))


def test_hand_made_car_by_parts_equals_the_whole(tmp_path) -> None:
    """Five customers, one a part: a part of prospects only, a part with no lines."""
    source = load_tables(tmp_path, car_data.TABLES)
    whole = build_car(source, car_data.AS_OF)
    ids = whole.customer_ids
    for edges in (ids[1:], ids[[2, 4]], np.array([ids[0], ids[0], ids[-1]])):
        assert_same_car(whole, build_in_parts(source, edges, car_data.AS_OF))
