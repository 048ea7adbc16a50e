"""Shared fixtures: tiny hand-written source tables written to a temporary folder."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

# The standalone Spark cluster's fixtures, for every test module.
from tests.spark_cluster import spark_cluster, spark_on_cluster  # noqa: F401

# The same YAML texts (templates/*.yaml: the metric catalog, cohorts, layout, features) are
# parsed again by every command a test runs, hundreds of times a run, in pure-Python PyYAML.  In
# the tests each text is parsed once per (text, loader) and every caller gets its own deep copy:
# the same objects, free to change; errors are not kept, so a bad text raises every time.
_yaml_load = yaml.load
_parsed: dict[tuple[str, type], object] = {}


def _load_each_text_once(stream, Loader):  # noqa: N803  (yaml.load's own parameter name)
    if not isinstance(stream, str):
        return _yaml_load(stream, Loader)
    key = (stream, Loader)
    if key not in _parsed:
        _parsed[key] = _yaml_load(stream, Loader)
    return copy.deepcopy(_parsed[key])


def pytest_configure(config: pytest.Config) -> None:
    yaml.load = _load_each_text_once


def pytest_unconfigure(config: pytest.Config) -> None:
    yaml.load = _yaml_load


SPARK_FIXTURES = {"spark_engine", "spark_on_cluster", "spark_cluster"}


def uses_spark(item: pytest.Item) -> bool:
    return item.get_closest_marker("spark") is not None or bool(
        SPARK_FIXTURES & set(getattr(item, "fixturenames", ()))
    )


def group_of(item: pytest.Item) -> str:
    """The process a test runs in under pytest-xdist: every Spark test in one (a JVM holds one
    SparkContext), each other module in one (its module fixtures, such as a built workbook or
    a LibreOffice conversion, are made once)."""
    return "spark" if uses_spark(item) else item.nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)  # after the deselection by -m, -k and --deselect
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The Spark tests run first, and those on the standalone Spark cluster
    (tests/spark_cluster.py) last among them: the cluster's session stops the local one the
    other Spark tests share.  An xdist worker writes each test's group for the scheduler."""
    items.sort(
        key=lambda item: (
            not uses_spark(item),
            item.get_closest_marker("spark_cluster") is not None,
        )
    )
    path = os.environ.get(GROUPS_FILE)
    if path and hasattr(config, "workerinput"):
        written = Path(f"{path}.{os.getpid()}")
        written.write_text(json.dumps({item.nodeid: group_of(item) for item in items}))
        written.replace(path)


# pytest-xdist (``-n 2 --dist loadgroup`` in pyproject.toml) ---------------------------------
# xdist's own groups (the xdist_group mark) are lost with pytest 9, which ignores the node id
# xdist 3.8 rewrites; so the workers write every test's group to a file, and the scheduler, a
# LoadScopeScheduling whose work unit is that group, reads it.  Units go out in collection
# order: the Spark group (the longest) first.
GROUPS_FILE = "PROFILER_TEST_GROUPS"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput") and session.config.getvalue("dist") != "no":
        handle, path = tempfile.mkstemp(prefix="profiler-test-groups-", suffix=".json")
        os.close(handle)
        os.environ[GROUPS_FILE] = path  # the workers, started after this, inherit it


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput") and GROUPS_FILE in os.environ:
        Path(os.environ.pop(GROUPS_FILE)).unlink(missing_ok=True)


if importlib.util.find_spec("xdist") is not None:

    def pytest_xdist_make_scheduler(config: pytest.Config, log):
        if config.getvalue("dist") != "loadgroup":
            return None
        from xdist.scheduler import LoadScopeScheduling

        class ByGroup(LoadScopeScheduling):
            groups: dict[str, str] | None = None

            def _split_scope(self, nodeid: str) -> str:
                if self.groups is None:
                    self.groups = json.loads(Path(os.environ[GROUPS_FILE]).read_text())
                return self.groups.get(nodeid, nodeid.split("::", 1)[0])

        return ByGroup(config, log)


CUSTOMERS = [
    {
        "customer_id": "1",
        "created_at": "2023-01-05",
        "home_country": "GB",
        "name": "Ann Smith",
        "email": "ann@example.com",
        "phone": "+44 1",
    },
    {
        "customer_id": "2",
        "created_at": "2023-02-10",
        "home_country": "FR",
        "name": "Bea Martin",
        "email": "bea@example.com",
        "phone": "+33 2",
    },
    {
        "customer_id": "3",
        "created_at": "2023-03-15",
        "home_country": "US",
        "name": "Cy Jones",
        "email": "cy@example.com",
        "phone": "+1 3",
    },
]
PRODUCTS = [
    {"product_id": "P1", "category": "leather goods", "price_point": "core"},
    {"product_id": "P2", "category": "fragrance", "price_point": "entry"},
]
ORDER_LINES = [
    {
        "order_id": "O1",
        "line_id": "1",
        "customer_id": "1",
        "ordered_at": "2024-01-31T10:00:00",
        "channel": "store",
        "product_id": "P1",
        "quantity": "1",
        "net_amount": "1200.00",
        "currency": "GBP",
        "fx_to_reporting": "1",
        "status": "completed",
        "returned_at": "",
    },
    {
        "order_id": "O1",
        "line_id": "2",
        "customer_id": "1",
        "ordered_at": "2024-01-31T10:00:00",
        "channel": "store",
        "product_id": "P2",
        "quantity": "2",
        "net_amount": "240.00",
        "currency": "GBP",
        "fx_to_reporting": "1",
        "status": "returned",
        "returned_at": "2024-02-03T12:00:00",
    },
    {
        "order_id": "O2",
        "line_id": "1",
        "customer_id": "2",
        "ordered_at": "2024-02-01T09:30:00",
        "channel": "web",
        "product_id": "P2",
        "quantity": "1",
        "net_amount": "100.00",
        "currency": "EUR",
        "fx_to_reporting": "0.86",
        "status": "completed",
        "returned_at": "",
    },
    {
        "order_id": "O3",
        "line_id": "1",
        "customer_id": "3",
        "ordered_at": "2024-03-15T15:00:00",
        "channel": "app",
        "product_id": "P1",
        "quantity": "1",
        "net_amount": "1500.00",
        "currency": "USD",
        "fx_to_reporting": "0.79",
        "status": "cancelled",
        "returned_at": "",
    },
]


def write_table(folder: Path, name: str, rows: list[dict]) -> Path:
    """Write rows as ``folder/name.csv`` (every cell as text, as a source system would)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def load_tables(folder: Path, tables: dict[str, list[dict]], today: str = "2026-01-01"):
    """Write hand-made tables to ``folder`` and load them (as of ``today``)."""
    from profiler.loading import load_sources

    for name, rows in tables.items():
        write_table(folder, name, rows)
    return load_sources(folder, today=today)


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    """A folder with customers, products and order lines that all pass validation."""
    data = tmp_path / "data"
    write_table(data, "customers", CUSTOMERS)
    write_table(data, "products", PRODUCTS)
    write_table(data, "order_lines", ORDER_LINES)
    return data


DEMO_TODAY = "2026-11-22"  # the demo's "now": no source date is in the future


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo retailer's source tables: 1,500 customers (seed 21)."""
    from profiler.demo import generate_demo

    folder = tmp_path_factory.mktemp("demo-car")
    generate_demo(1500, 21, folder)
    return folder


@pytest.fixture(scope="session")
def demo_source(demo_data_dir: Path):
    """Loaded demo sources, shared by the CAR and CLV tests."""
    from profiler.loading import load_sources

    return load_sources(demo_data_dir, today=DEMO_TODAY)


@pytest.fixture(scope="session")
def demo_car_dir(demo_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CAR folder (one generation: CAR, dictionary, activity, quarantine, reconciliation, CLV
    holdout, metadata) built from the demo sources as ``profiler build`` builds it."""
    import profiler

    out = tmp_path_factory.mktemp("demo-car-dir")
    profiler.build(demo_data_dir, out, engine="in-memory", today=DEMO_TODAY)
    return out


# Start-up settings for the tests' Spark: the client JIT only (the JVM starts in half the time;
# the queries are tiny) and few shuffle partitions.  The client JIT alone reserves a small code
# cache (48 MB), which a whole run's generated query code can fill ("Out of space in CodeCache
# for adapters" ends the JVM): it gets the server JIT's 240 MB.
SPARK_TEST_CONFIG = {
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC "
    "-XX:ReservedCodeCacheSize=240m",
    "spark.sql.shuffle.partitions": "2",
}


@pytest.fixture(scope="session")
def spark_engine():
    """One local Spark engine for the whole run (start-up takes seconds), stopped at the end;
    the tests that use it are skipped, with the reason, where Java 17 or pyspark is missing."""
    from profiler.sql.spark import SparkEngine, SparkUnavailable, stop_spark

    try:
        engine = SparkEngine("local[2]", config=SPARK_TEST_CONFIG)
    except SparkUnavailable as exc:
        pytest.skip(f"Spark is not available: {exc}")
    yield engine
    engine.close()
    stop_spark()


@pytest.fixture(scope="session")
def demo_workbook(demo_car_dir: Path, demo_data_dir: Path, tmp_path_factory) -> Path:
    """The demo workbook as 'profiler workbook' builds it from ``demo_car_dir`` with the demo's
    data folder, built once per test process and shared by the modules that only read it (a
    test that changes a workbook fills or refreshes a copy, or builds its own)."""
    from profiler.query import QueryEngine
    from workbook.builder import build_workbook

    out = tmp_path_factory.mktemp("demo-workbook") / "Customer_Profiler.xlsm"
    return build_workbook(QueryEngine.open(demo_car_dir), out, data_dir=demo_data_dir)
