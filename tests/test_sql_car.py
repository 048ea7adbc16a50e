"""The CAR built with a SQL engine equals the CAR built in pandas, column for column.

Counts, dates and the sales grids' money exactly (money is summed in whole pence by every
engine), other float64 measures within 1e-9 relative (sums added in another order), float32
columns to the bit (see profiler/sql/sales.py).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from profiler.car import SQL_FAMILIES, CarResult, build_car
from profiler.features import load_feature_spec
from profiler.sql.engines import DuckDBEngine, SqlEngineError, open_engine
from profiler.store import open_generation, read_car
from tests import car_data
from tests.conftest import load_tables


def assert_same_car(expected: CarResult, got: CarResult) -> None:
    """Every column equal: exactly (the sales grids' money is whole pence / 100 in both: to the
    bit), or within 1e-9 relative for other float64 measures (sums of ratios and fitted values
    added in another order)."""
    assert np.array_equal(expected.customer_ids, got.customer_ids)
    assert [d.name for d in expected.definitions] == [d.name for d in got.definitions]
    units = {d.name: d.unit for d in expected.definitions}
    families = {d.name: d.family for d in expected.definitions}
    money = [n for n in expected.columns if families[n] == "sales" and units[n] == "gbp"]
    assert len(money) > 100
    for name, want in expected.columns.items():
        want, have = pd.Series(want), pd.Series(got.columns[name])
        if name in money:
            assert want.dtype == have.dtype == np.float64, name
            assert want.equals(have), name  # to the penny, and to the bit
        elif want.dtype == np.float64 and units[name] != "count":
            assert have.dtype == np.float64, name
            np.testing.assert_allclose(have, want, rtol=1e-9, atol=0, equal_nan=True, err_msg=name)
        else:  # same dtype, same values, missing in the same places
            assert want.equals(have), name


@pytest.fixture(scope="module")
def duckdb_engine():
    with DuckDBEngine(threads=2) as engine:
        yield engine


def test_demo_car_equal_on_duckdb(demo_source, duckdb_engine) -> None:
    expected = build_car(demo_source, None)
    got = build_car(demo_source, None, engine=duckdb_engine)
    assert len(got.columns) >= 1200
    assert_same_car(expected, got)


def test_demo_car_equal_at_an_earlier_as_of(demo_source, duckdb_engine) -> None:
    """Another D moves every period boundary; ytd and the quarters then cut other months."""
    expected = build_car(demo_source, "2025-08-15")
    assert_same_car(expected, build_car(demo_source, "2025-08-15", engine=duckdb_engine))


@pytest.fixture(scope="module")
def hand_source(tmp_path_factory: pytest.TempPathFactory):
    return load_tables(tmp_path_factory.mktemp("hand-sql"), car_data.TABLES)


def test_hand_made_edges_equal_on_duckdb(hand_source, duckdb_engine) -> None:
    """23:59:59 on D is in, midnight after D is out, a return after D is still kept, a customer
    created after D is not in the CAR: the SQL grid agrees with the pandas one on each."""
    expected = build_car(hand_source, car_data.AS_OF)
    got = build_car(hand_source, car_data.AS_OF, engine=duckdb_engine)
    assert_same_car(expected, got)
    assert got.columns["spend_ltd"].sum() > 0


def test_without_products_and_unit_price(tmp_path, duckdb_engine) -> None:
    """Without a product master every line takes the contract's default product attributes,
    and without unit prices the list value comes from the discount."""
    source = load_tables(tmp_path / "data", car_data.BARE_TABLES)
    expected = build_car(source, car_data.AS_OF)
    assert_same_car(expected, build_car(source, car_data.AS_OF, engine=duckdb_engine))


def test_sql_families() -> None:
    assert {"sales", "potential"} <= set(SQL_FAMILIES)


def test_unknown_engine_is_one_line() -> None:
    with pytest.raises(SqlEngineError, match="Unknown SQL engine 'oracle'; expected one of"):
        open_engine("oracle")


@pytest.mark.spark
def test_demo_car_equal_on_spark(demo_source, request) -> None:
    """Every family on Spark, with the sales grid cut to three slices: Spark plans each wide
    grid query for tens of seconds in local mode, whatever the data size (the full grid is
    compared at scale by bench/bench_engines.py)."""
    engine = request.getfixturevalue("spark_engine")
    spec = copy.deepcopy(load_feature_spec())
    spec["sales"] = [g for g in spec["sales"] if g["slice"] in ("total", "channel", "collection")]
    expected = build_car(demo_source, None, spec=spec)
    assert_same_car(expected, build_car(demo_source, None, spec=spec, engine=engine))


def test_build_command_with_duckdb_then_the_views_read_it(demo_source, tmp_path, capsys) -> None:
    """``profiler build --engine duckdb`` writes the CAR every reader takes as it is: the same
    columns as a pandas build, its engine in car_meta.json, and the cohort views work on it."""
    from workbook.cli import main

    data = demo_source.data_dir
    out = {}
    for engine in ("pandas", "duckdb"):
        out[engine] = tmp_path / engine
        args = ["build", "--data", str(data), "--out", str(out[engine]), "--as-of", "2026-06-30"]
        assert main([*args, "--engine", engine]) == 0
    printed = capsys.readouterr().out
    assert "Engine: duckdb computes sales, lifecycle" in printed
    meta = open_generation(out["duckdb"]).meta
    assert meta["engine"] == "duckdb"
    pandas_car, duckdb_car = read_car(out["pandas"]), read_car(out["duckdb"])
    assert list(pandas_car.columns) == list(duckdb_car.columns)
    summaries = {}
    for engine, car_dir in out.items():
        assert main(["summary", "--car", str(car_dir), "--period", "2025", "--csv"]) == 0
        summaries[engine] = capsys.readouterr().out
    assert summaries["duckdb"] == summaries["pandas"]
    assert len(summaries["duckdb"].splitlines()) > 2
