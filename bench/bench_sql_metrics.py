"""Catalog metrics at scale: every metric x every predefined cohort on a SQL engine, checked
against the query engine the workbook reads (CAR and activity table) for every cohort, and
against the pandas MetricEngine on a sample of cohorts (too slow for all of them at 1M
customers: each value masks ~20M lines).

Usage: python bench/bench_sql_metrics.py --data DIR --car CAR_DIR [--period 2025]
       [--engines duckdb,spark] [--reference-cohorts 8]
(build the CAR first: profiler build --data DIR --out CAR_DIR)

Against the query engine, counts and money (whole pence, summed exactly by every engine) are
compared exactly, everything else within 1e-9 relative (NaN equals NaN); against MetricEngine,
everything within 1e-9.
"""

from __future__ import annotations

import argparse
import math
import resource
import time

from profiler.catalog import load_catalog
from profiler.cohorts import CohortSet
from profiler.facts import pence_column
from profiler.loading import load_sources
from profiler.metrics import MetricEngine
from profiler.query import QueryEngine
from profiler.sql.engines import open_engine
from profiler.sql.facts import FactsShape
from profiler.sql.metrics import car_table, cohort_condition, metric_table
from profiler.store import open_generation

RELATIVE = 1e-9  # means and ratios of parts summed in another order


def differs(want: float, got: float) -> bool:
    if math.isnan(want) or math.isnan(got):
        return not (math.isnan(want) and math.isnan(got))
    return abs(got - want) > 1e-9 * abs(want)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--car", required=True)
    parser.add_argument("--period", default="2025")
    parser.add_argument("--engines", default="duckdb")
    parser.add_argument("--spark-master", default=None)
    parser.add_argument("--reference-cohorts", type=int, default=8)
    args = parser.parse_args()

    started = time.perf_counter()
    source = load_sources(args.data)
    generation = open_generation(args.car)
    car = generation.read_car()
    as_of = generation.meta["as_of"]
    catalog = load_catalog()
    cohorts = CohortSet(car)
    names_all = list(cohorts.names)
    print(
        f"loaded in {time.perf_counter() - started:.1f} s: {len(car):,} customers, "
        f"{len(names_all)} cohorts, {len(catalog.metrics)} metrics",
        flush=True,
    )
    reference = MetricEngine(catalog, source=source, car=car, as_of=as_of)
    span = reference.period(args.period)
    names = [n for n, m in catalog.metrics.items() if span.kind in m.periods]
    conditions = {name: cohort_condition(cohorts, name) for name in names_all}
    table = car_table(cohorts, catalog)

    results = {}
    for engine_name in args.engines.split(","):
        with open_engine(engine_name, spark_master=args.spark_master) as engine:
            engine.register_source(source)
            engine.register("car", table)
            began = time.perf_counter()
            got = metric_table(
                engine,
                names,
                span,
                conditions,
                catalog=catalog,
                shape=FactsShape.of(source),
                as_of=as_of,
            )
            seconds = time.perf_counter() - began
        results[engine_name] = got.set_index("cohort")
        print(
            f"{engine_name}: {len(names)} metrics x {len(names_all)} cohorts "
            f"({len(names) * len(names_all):,} values) in {seconds:.1f} s",
            flush=True,
        )

    # The pandas reference on a spread of cohorts: one from each group, in order.
    sample, groups = [], set()
    for name in names_all:
        group = cohorts.definitions[name].group
        if group not in groups and len(sample) < args.reference_cohorts:
            groups.add(group)
            sample.append(name)
    began = time.perf_counter()
    problems = 0
    for name in sample:
        mask = cohorts.mask(name)
        for metric in names:
            want = float(reference.value(metric, span, mask))
            for engine_name, got in results.items():
                if differs(want, float(got.loc[name, metric])):
                    problems += 1
                    if problems <= 10:
                        print(
                            f"  {engine_name} {metric} [{name}]: pandas {want!r}, "
                            f"SQL {got.loc[name, metric]!r}"
                        )
    print(
        f"pandas reference: {len(names)} metrics x {len(sample)} cohorts in "
        f"{time.perf_counter() - began:.1f} s; {problems} values differ"
    )
    # Every cohort against the query engine the workbook reads (CAR + activity table): money
    # (whole pence in both) and counts to the bit.
    exact = {
        m
        for m in names
        if catalog.get(m).aggregation in ("count", "count_distinct")
        or (
            catalog.get(m).aggregation == "sum"
            and pence_column(catalog.get(m).source, catalog.get(m).column)
        )
    }
    began = time.perf_counter()
    served = QueryEngine.open(args.car).values(names, names_all, args.period)
    served = served.set_index(["cohort", "metric"])["value"]
    for engine_name, got in results.items():
        unequal, worst = [], 0.0
        for c in names_all:
            for m in names:
                want, have = float(served.loc[(c, m)]), float(got.loc[c, m])
                if math.isnan(want) or math.isnan(have):
                    if math.isnan(want) != math.isnan(have):
                        unequal.append((c, m))
                    continue
                relative = abs(have - want) / max(abs(want), 1e-300) if want != have else 0.0
                worst = max(worst, relative)
                if relative > (0.0 if m in exact else RELATIVE):
                    unequal.append((c, m))
        print(
            f"{engine_name} against the query engine, every cohort: {len(names) * len(names_all):,}"
            f" values ({len(exact)} metrics exact), {len(unequal)} unequal {unequal[:5]}, "
            f"largest difference {worst:.1e} ({time.perf_counter() - began:.1f} s)"
        )
    if len(results) > 1:
        first, *others = results.values()
        for other in others:
            unequal = sum(
                differs(float(first.loc[c, m]), float(other.loc[c, m]))
                for c in names_all
                for m in names
            )
            print(f"engines against each other, every cohort: {unequal} values differ")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak {peak:.1f} GB")


if __name__ == "__main__":
    main()
