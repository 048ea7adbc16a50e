"""A Spark standalone cluster on this machine, for tests: one master and two workers, started from
pyspark's own launcher (``bin/spark-class``), as separate processes.

tests/conftest.py imports its fixtures for every test module.  ``spark_cluster`` (session scope) yields a ``Cluster``: the master URL, the workers' process ids
and the folders of the run.  ``spark_on_cluster`` (module scope) yields a SparkSession whose
executors run there, in this interpreter with this repository on their PYTHONPATH (a real cluster
ships the package instead: docs/engines.md).  A JVM holds one SparkContext, so the session stops
any other running in this process (tests/conftest.py runs the cluster tests last).

The processes are started in process groups of their own and the whole groups (executors and
Python workers included) are killed at teardown, also when the start fails; an ``atexit`` hook
does it too if the session is cut short.  Without Java 17 or pyspark the tests are skipped, with
the reason.  By hand, the same cluster is::

    SPARK_HOME=$(python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
    $SPARK_HOME/bin/spark-class org.apache.spark.deploy.master.Master --host 127.0.0.1 \\
        --port 7077 --webui-port 8080 &
    $SPARK_HOME/bin/spark-class org.apache.spark.deploy.worker.Worker spark://127.0.0.1:7077 \\
        --host 127.0.0.1 --cores 1 --memory 1g --webui-port 8081 --work-dir /tmp/spark-work-1 &
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKERS = 2
START_TIMEOUT = 120.0  # seconds for the master and both workers (a busy 2-core machine)
# The daemons' JVMs: small heaps, quick start (the client JIT is enough for a test).
DAEMON_JAVA_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Duser.timezone=UTC"
QUICK_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=240m"


@dataclass
class Cluster:
    """A running standalone cluster."""

    master_url: str
    webui_url: str
    folder: Path
    worker_pids: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)  # running
    groups: list[int] = field(default_factory=list)  # every process group started

    def state(self) -> dict:
        """The master's status page as JSON (workers, applications)."""
        with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=5) as reply:
            return json.load(reply)

    def logs(self) -> str:
        """The last lines of every daemon's log (for a failure message)."""
        tails = []
        for path in sorted(self.folder.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            tails.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(tails)

    def survivors(self) -> list[str]:
        """Live processes (not zombies) left in the cluster's process groups, as "pid command"."""
        groups = set(self.groups)
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                name, rest = stat.read_text().rsplit(")", 1)
                fields = rest.split()
                if fields[0] != "Z" and int(fields[2]) in groups:
                    found.append(f"{stat.parent.name} {name.split('(', 1)[1]}")
        return found

    def stop(self) -> None:
        """Kill every process group (daemon, its executors and their Python workers)."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # the group's stragglers, if any
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.processes.clear()
        # The group leader is reaped, but its children (the JVM spark-class started first to
        # build the command line) may take a moment more to die of the SIGKILL.
        deadline = time.monotonic() + 10
        while self.survivors() and time.monotonic() < deadline:
            time.sleep(0.05)


def free_port() -> int:
    """A TCP port free now on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spark_home() -> Path:
    """pyspark's folder, which holds ``bin/spark-class`` and the jars."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def start_cluster(folder: Path, workers: int = WORKERS, timeout: float = START_TIMEOUT) -> Cluster:
    """Start a master and ``workers`` workers (1 core, 1 GB each) and wait up to ``timeout``
    seconds until every worker has registered; on failure nothing is left running."""
    home = spark_home()
    spark_class = home / "bin" / "spark-class"
    port, webui = free_port(), free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_DAEMON_JAVA_OPTS": DAEMON_JAVA_OPTS,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(folder / "local"),
        # Executors inherit the worker's environment: this interpreter and this checkout.
        "PYSPARK_PYTHON": sys.executable,
    }
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{webui}", folder)
    _running.append(cluster)

    def launch(name: str, *args: str) -> subprocess.Popen:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115  (the process owns it)
        process = subprocess.Popen(
            [str(spark_class), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=folder,
            start_new_session=True,  # a process group of its own, killed whole at teardown
        )
        log.close()
        cluster.processes.append(process)
        cluster.groups.append(process.pid)
        return process

    try:
        launch(
            "master",
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(webui)),
        )
        for number in range(1, workers + 1):
            work = folder / f"work-{number}"
            work.mkdir()
            process = launch(
                f"worker-{number}",
                "org.apache.spark.deploy.worker.Worker",
                cluster.master_url,
                *("--host", "127.0.0.1", "--cores", "1", "--memory", "1g"),
                *("--webui-port", str(free_port()), "--work-dir", str(work)),
            )
            cluster.worker_pids.append(process.pid)  # spark-class execs the JVM
        _wait_for_workers(cluster, workers, timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_for_workers(cluster: Cluster, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    alive = 0
    while time.monotonic() < deadline:
        for process in cluster.processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"a Spark daemon exited with code {process.returncode} while starting:\n"
                    f"{cluster.logs()}"
                )
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            state = cluster.state()
            alive = sum(1 for worker in state.get("workers", []) if worker["state"] == "ALIVE")
            if alive >= workers:
                return
        time.sleep(0.5)
    raise RuntimeError(
        f"{alive} of {workers} Spark workers registered in {timeout:g} s:\n{cluster.logs()}"
    )


_running: list[Cluster] = []


@atexit.register
def _stop_all() -> None:
    """A session cut short (Ctrl-C, a crash in a fixture) still leaves no JVM behind."""
    for cluster in _running:
        cluster.stop()


def cluster_config(cluster: Cluster) -> dict[str, str]:
    """Settings for a driver on this machine whose executors run on ``cluster``."""
    return {
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.pyspark.python": sys.executable,
        # The executors import this checkout's profiler (a real cluster ships it instead).
        "spark.executorEnv.PYTHONPATH": str(REPO),
        "spark.executor.memory": "512m",
        "spark.executor.cores": "1",
        "spark.cores.max": str(WORKERS),
        # The first job waits for both executors, so its tasks spread over both workers.
        "spark.scheduler.minRegisteredResourcesRatio": "1.0",
        "spark.scheduler.maxRegisteredResourcesWaitingTime": "60s",
        "spark.driver.extraJavaOptions": QUICK_JVM,
        "spark.executor.extraJavaOptions": QUICK_JVM,
        "spark.sql.shuffle.partitions": "2",
        # A failing test task fails at once (a cluster retries a task 4 times by default).
        "spark.task.maxFailures": "1",
        "spark.local.dir": str(cluster.folder / "local"),
    }


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A standalone master and two workers for the whole test session."""
    from profiler.spark_session import SparkUnavailable, require_java, require_pyspark

    try:
        require_java(require_pyspark())
    except SparkUnavailable as exc:
        pytest.skip(f"Spark is not available: {exc}")
    cluster = start_cluster(tmp_path_factory.mktemp("spark-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()
        _running.remove(cluster)
    left = cluster.survivors()
    if left:
        raise RuntimeError(f"the Spark cluster left processes running: {left}")


@pytest.fixture(scope="module")
def spark_on_cluster(spark_cluster: Cluster):
    """A SparkSession whose executors run on ``spark_cluster`` (any other session of this
    process is stopped first: one SparkContext per JVM)."""
    from profiler.spark_session import get_spark, stop_spark

    stop_spark()
    spark = get_spark(
        spark_cluster.master_url, app_name="profiler-tests", config=cluster_config(spark_cluster)
    )
    try:
        yield spark
    finally:
        stop_spark()
