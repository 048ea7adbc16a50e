"""The engine's public entry points: build a CAR folder from source tables, open one for queries.

``profiler build``, the benches and the tests all run ``build``; nothing else assembles the load,
build and write chain.  The engine never prints: what a build has to say (the engine chosen, the
rows read, the activity table, the potential-value models, the CAR written) goes to ``report``,
one line per call, and the command line prints it.  The workbook's entry point is
``workbook.write`` (the engine never imports the workbook layer: docs/api.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from . import data_rights, store
from .activity import build_activity
from .car import CarResult, build_car
from .catalog import Catalog, load_catalog
from .clv import holdout_check
from .customer import consented_contacts
from .engine_choice import ENGINES, FORMER_NAMES, choose_engine
from .errors import ProfilerError, clip
from .features import load_feature_spec
from .lines import NOTE as LINES_NOTE
from .lines import build_lines
from .load_report import load_counts
from .loading import SourceData, load_sources, today_or_default
from .margin import current_value_fallback
from .metrics import MetricEngine
from .outofcore import build_out_of_core
from .outputs import stage
from .periods import day_option
from .query import QueryEngine
from .reconcile import recent_reconciliation
from .spark_build import build_on_spark
from .targets import unknown_metrics, write_targets

Report = Callable[[str], None]


def build(
    data: str | Path,
    out: str | Path,
    *,
    as_of: str | None = None,
    engine: str = "auto",
    features: str | Path | None = None,
    spark_master: str | None = None,
    wait: float = 0,
    keep: int = store.KEEP,
    raw: bool = False,
    today: str | None = None,
    progress: Report | None = None,
    family_progress: Callable[[str, int, int], None] | None = None,
    report: Report | None = None,
) -> CarResult:
    """Load and validate the sources in ``data``, build the Customer Analytic Record as of
    ``as_of`` and write it as a new generation of the CAR folder ``out``, made current in one
    step (what ``profiler build`` does).

    Parameters
    ----------
    data : folder with the source tables (CSV or Parquet, docs/data-contract.md).
    out : the CAR folder (created if missing; docs/store.md).
    as_of : YYYY-MM-DD; only data on or before this day is used (default: the day after the
        last order line).
    engine : ``auto``, ``in-memory``, ``out-of-core`` or ``spark`` (docs/engines.md).
    features : feature definitions YAML (default: templates/features.yaml).
    spark_master : Spark master URL for ``engine="spark"``.
    wait : seconds to wait for another build of ``out`` to finish.
    keep : generations kept, the new one included.
    raw : write quarantine.csv exactly as read (no quote before formula-like cells).
    today : YYYY-MM-DD; source dates after it are in the future and quarantined (default: now).
    progress : called with a short message as each step starts (loading, buckets).
    family_progress : called with (family, done, total) as the in-memory build computes.
    report : called with each line a build tells its user (default: nothing is said).

    Returns
    -------
    The ``CarResult``: as-of date, customers, column definitions, models, and ``timings``
    (seconds from the start to each step: ``loaded``, ``computed``, ``car_written``,
    ``activity_written``, ``checked``, ``files``, ``total``).  Its columns are released once
    written: read them back with ``profiler.open(out)``.
    """
    say = report or _silent
    started = time.perf_counter()
    timings: dict[str, float] = {}
    with store.building(out, wait=wait, keep=keep) as writer:
        result = build_into(
            writer,
            data,
            as_of=as_of,
            engine=engine,
            features=features,
            spark_master=spark_master,
            raw=raw,
            today=today,
            progress=progress,
            family_progress=family_progress,
            report=say,
            timings=timings,
            started=started,
        )
        timings["files"] = time.perf_counter() - started
    timings["total"] = time.perf_counter() - started
    result.timings = timings
    report_models(result, say)
    left = f"; left out: {', '.join(result.left_out)}" if result.left_out else ""
    say(
        f"CAR as of {result.as_of:%Y-%m-%d}: {len(result.customer_ids):,} customers x "
        f"{result.n_columns:,} columns in {result.seconds:.1f} s -> {out} "
        f"(current: {store.current_name(out)}){left}"
    )
    return result


def build_into(
    writer: store.GenerationWriter,
    data: str | Path,
    *,
    as_of: str | None = None,
    engine: str = "auto",
    features: str | Path | None = None,
    spark_master: str | None = None,
    raw: bool = False,
    today: str | None = None,
    progress: Report | None = None,
    family_progress: Callable[[str, int, int], None] | None = None,
    report: Report | None = None,
    timings: dict[str, float] | None = None,
    started: float | None = None,
) -> CarResult:
    """``build``'s work inside an open generation ``writer`` (``store.building``): every member
    written, nothing committed.  ``timings`` receives the seconds from ``started`` to each
    step; the result's ``seconds`` are this function's."""
    say = report or _silent
    begun = time.perf_counter()
    started = begun if started is None else started
    timings = {} if timings is None else timings

    def mark(step: str) -> None:
        timings[step] = time.perf_counter() - started

    if as_of is not None:
        day_option("--as-of", as_of)
    spec = load_feature_spec(features)
    writer.meta["lifecycle"] = dict(spec["lifecycle"])  # state metrics at any date use them
    if features is not None:  # a rebuild ('profiler forget') builds with the same definitions
        writer.meta["features"] = str(Path(features).resolve())
    engine = FORMER_NAMES.get(engine, engine)
    if engine not in ENGINES:
        raise ProfilerError(f"Unknown engine '{engine}'; expected one of {', '.join(ENGINES)}.")
    if engine == "auto":
        engine, why = choose_engine(data)
        say(f"Engine: {engine} ({why}; choose with --engine)")
    catalog = load_catalog()

    def loaded(source: SourceData) -> None:
        mark("loaded")
        stage("read")
        fallback = current_value_fallback(spec, source)  # profiler/margin.py
        if fallback:
            writer.meta["current_value_note"] = fallback
        write_quarantine(writer, source, raw=raw, report=say)
        writer.meta["data_rights"] = data_rights.build_note(source, today_or_default(today))
        stored = write_targets(writer, source)
        if stored:
            say(f"Targets: {stored:,} stored with the CAR (the views show actuals against them)")
        unknown = unknown_metrics(source, catalog)
        if unknown:
            say(
                f"Note: targets for metrics the catalog does not have match nothing: "
                f"{', '.join(clip(n) for n in unknown[:5])}; 'profiler metrics check --data "
                f"{data}' names each row"
            )

    if engine == "out-of-core":
        result = build_out_of_core(
            data,
            writer,
            catalog,
            as_of=as_of,
            spec=spec,
            today=today,
            progress=progress,
            loaded=loaded,
        )
        say("Activity: written by customer bucket")
        _in_memory_only(writer, "out of core")
    elif engine == "spark":
        result = build_on_spark(
            data,
            writer,
            catalog,
            as_of=as_of,
            spec=spec,
            master=spark_master,
            today=today,
            progress=progress,
            loaded=loaded,
        )
        say("Activity: written by customer bucket on Spark")
        _in_memory_only(writer, "on Spark")
    else:
        source = load_sources(data, today=today, progress=progress)
        loaded(source)
        result = build_car(source, as_of, spec=spec, progress=family_progress)
        stage("computed")
        mark("computed")
        writer.write_car(result)
        write_contacts(writer, source, result)
        result.columns.clear()  # persisted: free the CAR's memory before the activity table
        mark("car_written")
        facts = MetricEngine(catalog, source=source, as_of=result.as_of)
        activity = build_activity(source, catalog, result.customer_ids, result.as_of, engine=facts)
        writer.write_activity(activity)
        mark("activity_written")
        say(
            f"Activity: {len(activity):,} customer-months x {len(activity.parts)} metric parts "
            f"in {timings['activity_written'] - timings['car_written']:.1f} s"
        )
        del activity  # written: free it before the rows breakdowns read are gathered
        writer.write_lines(build_lines(facts, catalog, result.customer_ids, result.as_of))
        mark("lines_written")
        say(f"Rows for breakdowns: {timings['lines_written'] - timings['activity_written']:.1f} s")
        write_source_checks(writer, source, catalog, result.as_of, facts)
        del facts
        mark("checked")
    result.seconds = time.perf_counter() - begun
    return result


def write_contacts(writer: store.GenerationWriter, source: SourceData, result: CarResult) -> None:
    """The consented contact table (``profiler.customer.consented_contacts``), when the
    customers table has contact columns and the CAR knows consent; nothing otherwise."""
    contacts = consented_contacts(
        source.tables.get("customers"), result.customer_ids, result.columns
    )
    if contacts is not None:
        writer.write_frame(store.CONTACTS, contacts)


def write_quarantine(
    writer: store.GenerationWriter,
    source: SourceData,
    *,
    raw: bool = False,
    report: Report | None = None,
) -> None:
    """The quarantine into the new generation, and rows read = accepted + quarantined."""
    counts = load_counts(source)
    read, quarantined = int(counts["rows_read"].sum()), int(counts["quarantined"].sum())
    writer.write_csv(store.QUARANTINE, source.quarantine, raw=raw)
    (report or _silent)(
        f"Rows read {read:,} = accepted {read - quarantined:,} + quarantined {quarantined:,} "
        f"(see {store.QUARANTINE.name} in the CAR folder)"
    )


def source_checks(
    source: SourceData,
    catalog: Catalog,
    as_of: pd.Timestamp,
    facts: MetricEngine | None = None,
) -> dict[str, Any]:
    """What the sources add to the workbook, computed once at build time: the reconciliation of
    the last 12 complete months to the ledger (``reconciliation``, or ``reconciliation_note``
    saying why not) and the CLV model's holdout check (``holdout``, or ``holdout_error``).

    Both read the order facts as of D of one ``MetricEngine`` (``facts``: the build's, whose
    facts the activity table already made; else one made here), made before the side thread
    starts and only read after.  The holdout check runs on that side thread while the
    reconciliation runs here: each leaves much of the second core free (at 1M customers that
    took the pair from about 17 s to 13 s)."""
    day = pd.Timestamp(as_of).normalize()  # the CAR's D, as its readers see it
    facts = facts or MetricEngine(catalog, source=source, as_of=day)
    lines = facts.frame("order_lines")
    checks: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=1) as side:
        holdout = side.submit(_holdout, lines, day)
        if not source.has("ledger"):  # optional: the sheet says what would bring it
            checks["reconciliation_note"] = (
                f"{source.data_dir}: no ledger table, so no reconciliation (add ledger.csv or "
                "ledger.parquet: docs/data-contract.md)."
            )
        else:
            try:
                checks["reconciliation"] = recent_reconciliation(source, catalog, day, engine=facts)
            except ProfilerError as err:
                checks["reconciliation_note"] = str(err)
        checks.update(holdout.result())
    return checks


def _holdout(facts: pd.DataFrame, day: pd.Timestamp) -> dict[str, Any]:
    """The CLV holdout check (``holdout``), or why it failed (``holdout_error``), on the order
    facts as the CAR saw them at its date."""
    try:
        return {"holdout": holdout_check(facts[facts["status"] == "completed"], day)}
    except ProfilerError as err:
        return {"holdout_error": str(err)}


def write_source_checks(
    writer: store.GenerationWriter,
    source: SourceData,
    catalog: Catalog,
    as_of: pd.Timestamp,
    facts: MetricEngine | None = None,
) -> None:
    """``source_checks`` into the new generation (read back by ``store.read_source_checks``)."""
    checks = source_checks(source, catalog, as_of, facts)
    notes = {"computed": True}
    for key, value in checks.items():
        if key in store.SOURCE_CHECKS:
            writer.write_frame(store.SOURCE_CHECKS[key], value)
        else:
            notes[key] = value
    writer.meta["source_checks"] = notes


def _in_memory_only(writer: store.GenerationWriter, how: str) -> None:
    """The notes of what only an in-memory build stores (the reconciliation, the rows
    breakdowns read), for a CAR built ``how`` ("out of core", "on Spark")."""
    writer.meta["source_checks"] = {
        "reconciliation_note": (
            f"Not available: the reconciliation to the ledger is computed by in-memory builds "
            f"('profiler build --engine in-memory'); this CAR was built {how}."
        )
    }
    writer.meta["lines_note"] = LINES_NOTE.format(how=how)


def report_models(result: CarResult, report: Report | None = None) -> None:
    """The potential-value models fitted by the build, or why their columns are empty."""
    say = report or _silent
    potential = result.models.get("potential_value")
    if potential and "error" in potential:
        say(f"Note: potential-value columns are empty: {potential['error']}")
    elif potential:
        bg, gg = potential["bgnbd"], potential["gamma_gamma"]
        say(
            f"Potential value: BG/NBD fitted on {potential['customers']:,} buyers (log-likelihood {bg['loglik']:,.1f})"
            + (
                f"; spend and CLV columns are empty: {gg['error']}"
                if "error" in gg
                else f", Gamma-Gamma on {gg['customers']:,} repeat buyers"
            )
        )


def open(car: str | Path | None = None) -> QueryEngine:  # noqa: A001  (profiler.open)
    """The query engine of a CAR folder written by ``build``: ``car``, else $PROFILER_CAR
    (``store.car_folder``)."""
    return QueryEngine.open(store.car_folder(car))


def _silent(message: str) -> None:
    pass
