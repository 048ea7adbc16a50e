"""The out-of-core build (profiler/outofcore.py) writes the CAR, activity and order days of
the whole build, column for column: the demo's 1,500 customers in 16 buckets, the order lines
staged from disk in batches of 4,000, two worker processes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from profiler import store
from profiler.activity import build_activity
from profiler.car import build_car
from profiler.catalog import load_catalog
from profiler.outofcore import _write_ipc, build_out_of_core, write_activity
from tests.car_checks import assert_same_frames


@pytest.fixture(scope="module")
def out_of_core(demo_source, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("out-of-core")
    messages: list[str] = []
    with store.building(out) as writer:
        result = build_out_of_core(
            demo_source.data_dir,
            writer,
            load_catalog(),
            workers=2,
            today="2026-11-22",
            batch_rows=4000,
            progress=messages.append,
            loaded=lambda source: writer.write_csv(store.QUARANTINE, source.quarantine),
        )
    return result, out, messages


def test_out_of_core_car_equals_the_whole_build(demo_source, out_of_core) -> None:
    result, out, messages = out_of_core
    whole = build_car(demo_source)
    # The demo has objections to profiling: the engines withhold the same scores.
    assert whole.to_frame()["profiling_opt_out"].sum() > 5
    assert_same_frames(whole.to_frame(), store.read_car(out))
    assert "16 customer buckets, 2 worker(s)" in messages
    generation = store.open_generation(out)
    dictionary = generation.read_csv(store.DICTIONARY, dtype=str, keep_default_na=False)
    assert dictionary.values.tolist() == whole.dictionary().astype(str).values.tolist()
    assert result.as_of == whole.as_of and result.engine == "out-of-core"
    assert result.models == whole.models
    assert [p.name for p in generation.path.iterdir() if p.name.startswith(".")] == []


def test_out_of_core_activity_and_orders_equal_the_whole(demo_source, out_of_core) -> None:
    result, out, _ = out_of_core
    ids = pd.Index(build_car(demo_source).customer_ids)
    expected = build_activity(demo_source, load_catalog(), ids, result.as_of)
    generation = store.open_generation(out)
    got = generation.read_activity()
    assert np.array_equal(got.customer, expected.customer)
    assert np.array_equal(got.month, expected.month)
    assert sorted(got.parts) == sorted(expected.parts)
    for name, values in expected.parts.items():
        assert np.array_equal(got.parts[name], values), name
    orders = generation.read_orders()
    for field in ("row", "day", "gone"):
        assert np.array_equal(getattr(orders, field), getattr(expected.orders, field)), field


def test_build_command_out_of_core_then_the_views_read_it(demo_source, tmp_path, capsys) -> None:
    """``profiler build --engine out-of-core`` writes the CAR every reader takes as it is: the
    same columns as an in-memory build, its engine in car_meta.json, and the views agree."""
    from workbook.cli import main

    data = demo_source.data_dir
    out = {}
    for engine in ("in-memory", "out-of-core"):
        out[engine] = tmp_path / engine
        args = ["build", "--data", str(data), "--out", str(out[engine]), "--as-of", "2026-06-30"]
        assert main([*args, "--engine", engine]) == 0
    printed = capsys.readouterr().out
    assert "Activity: written by customer bucket" in printed
    meta = store.open_generation(out["out-of-core"]).meta
    assert meta["engine"] == "out-of-core"
    # What the sources add to the workbook is computed by in-memory builds; this one says so.
    checks = store.read_source_checks(out["out-of-core"], meta)
    assert set(checks) == {"reconciliation_note"}
    assert "computed by in-memory builds" in checks["reconciliation_note"]
    assert_same_frames(store.read_car(out["in-memory"]), store.read_car(out["out-of-core"]))
    summaries = {}
    for engine, car_dir in out.items():
        assert main(["summary", "--car", str(car_dir), "--period", "2025", "--csv"]) == 0
        summaries[engine] = capsys.readouterr().out
    assert summaries["out-of-core"] == summaries["in-memory"]
    assert len(summaries["out-of-core"].splitlines()) > 2


class _Written:
    """A generation writer's ``write_arrow`` alone: the merged activity file, kept."""

    def __init__(self, folder) -> None:  # noqa: ANN001
        self.path = folder / "activity.arrow"

    def write_arrow(self, member, schema, batches):  # noqa: ANN001, ANN201
        with pa.OSFile(str(self.path), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
            for batch in batches:
                w.write_batch(batch)
        return self.path


@pytest.mark.parametrize("sizes", [[0, 0, 0], [5, 0, 7], [900, 1400, 1100]])
def test_the_activity_merge_is_a_stable_sort_by_month(tmp_path, sizes) -> None:  # noqa: ANN001
    """Buckets' activity (each in month order, later rows in later buckets; some empty) merge
    into one record batch equal to a stable sort of them laid end to end."""
    rng = np.random.default_rng(len(sizes) + sum(sizes))
    buckets = []
    for k, n in enumerate(sizes):
        table = pa.table(
            {
                "row": pa.array(np.arange(n, dtype=np.int32) + 10_000 * k),
                "month": pa.array(np.sort(rng.integers(0, 6, n)).astype(np.int32)),
                "sales.pence": pa.array(rng.integers(0, 10**12, n)),
                "units.sum": pa.array(rng.random(n).astype(np.float32)),
            }
        )
        _write_ipc(table, tmp_path / f"activity-{k:05d}.arrow")
        buckets.append(table)
    whole = pa.concat_tables(buckets)
    expected = whole.take(pa.array(np.argsort(whole.column("month").to_numpy(), kind="stable")))
    written = _Written(tmp_path)
    write_activity(tmp_path, len(sizes), written)
    merged = pa.ipc.open_file(pa.memory_map(str(written.path), "r"))
    assert merged.num_record_batches == 1
    assert merged.read_all().equals(expected)


def _sorted_text_id_export(folder, customers: int = 300) -> None:  # noqa: ANN001
    """A bare four-column export of text customer ids ("C0001"...), sorted by customer as many
    exports are: a CSV's bucket edges come from its first batch, so a small first batch (few
    customers) splits into repeated edges, and the buckets between them have no customer."""
    rng = np.random.default_rng(24)
    rows = [
        {
            "order_id": f"O{c:04d}-{k}",
            "customer_id": f"C{c:04d}",
            "ordered_at": str(pd.Timestamp("2025-01-01") + pd.Timedelta(days=int(day))),
            "net_amount": f"{rng.integers(500, 20_000) / 100:.2f}",
        }
        for c in range(1, customers + 1)
        for k, day in enumerate(rng.integers(0, 600, rng.integers(1, 4)))
    ]
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "order_lines.csv", index=False)


def test_empty_buckets_of_text_ids_write_the_schema_of_full_ones(tmp_path) -> None:  # noqa: ANN001
    """Buckets without customers write CAR parts of the full parts' schema (customer_id text,
    not Arrow's null type, which made the CAR unreadable), and the CAR, activity and order
    days equal the in-memory build's."""
    import pyarrow.parquet as pq

    from profiler.loading import load_sources

    data, out = tmp_path / "data", tmp_path / "out"
    _sorted_text_id_export(data)
    with store.building(out) as writer:
        build_out_of_core(
            data,
            writer,
            load_catalog(),
            workers=2,
            today="2026-11-22",
            batch_rows=20,
            loaded=lambda source: writer.write_csv(store.QUARANTINE, source.quarantine),
        )
    generation = store.open_generation(out)
    parts = sorted((generation.path / store.CAR.name).iterdir())
    rows = [pq.read_metadata(p).num_rows for p in parts]
    assert len(parts) == 16 and rows[0] == 0 and rows.count(0) >= 2, rows  # empty buckets
    schemas = [pq.read_schema(p) for p in parts]
    assert schemas[0].field("customer_id").type == pa.string()
    assert all(s.equals(schemas[-1], check_metadata=False) for s in schemas)

    source = load_sources(data, today="2026-11-22")
    whole = build_car(source)
    got = store.read_car(out)
    assert_same_frames(whole.to_frame(), got)
    assert got["customer_id"].iloc[[0, -1]].tolist() == ["C0001", "C0300"]
    expected = build_activity(source, load_catalog(), pd.Index(whole.customer_ids), whole.as_of)
    activity, orders = generation.read_activity(), generation.read_orders()
    assert np.array_equal(activity.customer, expected.customer)
    assert np.array_equal(activity.month, expected.month)
    assert sorted(activity.parts) == sorted(expected.parts)
    for name, values in expected.parts.items():
        assert np.array_equal(activity.parts[name], values), name
    for field in ("row", "day", "gone"):
        assert np.array_equal(getattr(orders, field), getattr(expected.orders, field)), field
