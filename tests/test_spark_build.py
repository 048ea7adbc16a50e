"""The Spark build (profiler/spark_build.py) runs every bucket's families in Spark tasks and
writes the CAR, activity and order days of the in-memory build, column for column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from profiler import store
from profiler.activity import build_activity
from profiler.car import build_car
from profiler.catalog import load_catalog
from profiler.spark_build import build_on_spark
from tests.car_checks import assert_same_frames

pytestmark = pytest.mark.spark


def build_with_spark(data_dir, out, master=None) -> tuple:
    messages: list[str] = []
    with store.building(out) as writer:
        result = build_on_spark(
            data_dir,
            writer,
            load_catalog(),
            master=master,
            today="2026-11-22",
            progress=messages.append,
            loaded=lambda source: writer.write_csv(store.QUARANTINE, source.quarantine),
        )
    return result, messages


def assert_equals_in_memory(demo_source, result, out) -> None:
    whole = build_car(demo_source)
    assert_same_frames(whole.to_frame(), store.read_car(out))
    assert result.engine == "spark" and result.models == whole.models
    generation = store.open_generation(out)
    dictionary = generation.read_csv(store.DICTIONARY, dtype=str, keep_default_na=False)
    assert dictionary.values.tolist() == whole.dictionary().astype(str).values.tolist()
    expected = build_activity(
        demo_source, load_catalog(), pd.Index(whole.customer_ids), whole.as_of
    )
    got = generation.read_activity()
    assert np.array_equal(got.customer, expected.customer)
    for name, values in expected.parts.items():
        assert np.array_equal(got.parts[name], values), name
    orders = generation.read_orders()
    assert np.array_equal(orders.day, expected.orders.day)
    assert [p.name for p in generation.path.iterdir() if p.name.startswith(".")] == []


def test_spark_car_equals_the_in_memory_build(demo_source, spark_engine, tmp_path) -> None:
    result, messages = build_with_spark(demo_source.data_dir, tmp_path / "car")
    assert any(m.startswith("16 customer buckets on local") for m in messages)
    # The demo has objections to profiling: the engines withhold the same scores.
    assert store.read_car(tmp_path / "car")["profiling_opt_out"].sum() > 5
    assert_equals_in_memory(demo_source, result, tmp_path / "car")


def test_spark_empty_buckets_of_text_ids_write_the_schema_of_full_ones(
    spark_engine, tmp_path
) -> None:
    """Ten customers of text ids in 16 buckets: the empty buckets' CAR parts type customer_id
    as text (not null, which made the CAR unreadable), and the CAR is the in-memory build's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from profiler.loading import load_sources
    from tests.test_out_of_core import _sorted_text_id_export

    _sorted_text_id_export(tmp_path / "data", customers=10)
    build_with_spark(tmp_path / "data", tmp_path / "car")
    parts = sorted((store.open_generation(tmp_path / "car").path / store.CAR.name).iterdir())
    assert [pq.read_metadata(p).num_rows for p in parts].count(0) == 6
    assert {pq.read_schema(p).field("customer_id").type for p in parts} == {pa.string()}
    whole = build_car(load_sources(tmp_path / "data", today="2026-11-22"))
    assert_same_frames(whole.to_frame(), store.read_car(tmp_path / "car"))
