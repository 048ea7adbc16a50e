"""The out-of-core build (profiler/sql/ranged.py) equals the whole build, column for column.

Ranges of 400 customers split the 1,500 demo customers in four; the order lines come staged
from disk in batches, as ``profiler build --engine duckdb`` runs them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from profiler import store
from profiler.activity import build_activity
from profiler.car import build_car
from profiler.catalog import load_catalog
from profiler.sql.engines import DuckDBEngine
from profiler.sql.ranged import build_car_in_ranges
from profiler.staging import stage_sources


@pytest.fixture(scope="module")
def ranged(demo_source, tmp_path_factory: pytest.TempPathFactory):
    staged = stage_sources(
        demo_source.data_dir, tmp_path_factory.mktemp("stage"), today="2026-11-22", batch_rows=4000
    )
    out = tmp_path_factory.mktemp("ranged")
    messages: list[str] = []
    with DuckDBEngine(threads=2) as engine, store.building(out) as writer:
        writer.write_csv(store.QUARANTINE, staged.quarantine)
        result = build_car_in_ranges(
            staged,
            writer,
            load_catalog(),
            engine=engine,
            range_customers=400,
            progress=messages.append,
        )
    return result, out, messages


def test_ranged_car_equals_the_whole_build(demo_source, ranged) -> None:
    result, out, messages = ranged
    with DuckDBEngine(threads=2) as engine:
        whole = build_car(demo_source, None, engine=engine)
    expected, got = whole.to_frame(), store.read_car(out)
    assert list(got.columns) == list(expected.columns)
    assert len(got.columns) >= 1200
    units = {d.name: d.unit for d in whole.definitions}
    for name in expected.columns:
        want, have = expected[name], got[name]
        if isinstance(want.dtype, pd.CategoricalDtype):
            # Values equal; categories come back in the parts' order of appearance.
            assert want.astype(object).equals(have.astype(object)), name
            assert set(want.cat.categories) >= set(have.cat.categories), name
        elif want.dtype == np.float64 and units[name] != "count":
            np.testing.assert_allclose(have, want, rtol=1e-9, atol=0, equal_nan=True, err_msg=name)
        else:
            assert want.equals(have), name
    assert any(m.startswith("customers 1,201 to 1,500 (4/4; ") for m in messages)
    generation = store.open_generation(out)
    dictionary = generation.read_csv(store.DICTIONARY, dtype=str, keep_default_na=False)
    assert dictionary.values.tolist() == whole.dictionary().astype(str).values.tolist()
    assert result.as_of == whole.as_of and result.engine == "duckdb"
    assert result.models["potential_value"] == whole.models["potential_value"]


def test_ranged_activity_equals_the_whole_table(demo_source, ranged) -> None:
    result, out, _ = ranged
    ids = pd.Index(result.customer_ids)
    expected = build_activity(demo_source, load_catalog(), ids, result.as_of)
    generation = store.open_generation(out)
    got = generation.read_activity()
    assert np.array_equal(got.customer, expected.customer)
    assert np.array_equal(got.month, expected.month)
    assert sorted(got.parts) == sorted(expected.parts)
    for name, values in expected.parts.items():
        assert np.array_equal(got.parts[name], values), name
    assert [p.name for p in generation.path.iterdir() if p.name.startswith(".")] == []
