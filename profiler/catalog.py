"""The metric catalog: every metric declared once, as data, with its owner, status and version.

Metrics live in ``templates/metrics/*.yaml`` (one file per insight area; ``catalog.yaml`` holds
the catalog version).  Loading keeps the file and line of every metric and field, so validation
can report every problem at once as ``file:line: message``.  Each metric has a content hash of
its normalised definition (expressions are re-rendered, so spacing and quoting do not count);
the catalog's stamp, version plus a hash over all metrics, goes on every table the engine
returns.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import expressions, yaml_lines
from .contract import TABLES
from .errors import ProfilerError, clip
from .facts import PRODUCT_ATTRIBUTES
from .names import did_you_mean, resolve  # did_you_mean: re-exported for the engine
from .periods import KINDS

DEFAULT_CATALOG = Path(__file__).resolve().parent.parent / "templates" / "metrics"

AGGREGATIONS = (
    "sum",
    "count",
    "count_distinct",
    "mean",
    "median",
    "percentile",
    "ratio",
    "rate",
    "derived",
)
NON_ADDITIVE = {"count_distinct", "mean", "median", "percentile", "ratio", "rate", "derived"}
COLUMN_AGGREGATIONS = {"sum", "count_distinct", "mean", "median", "percentile"}
STATUSES = ("draft", "proposed", "approved", "deprecated")
PRIORITIES = ("must", "should", "could", "wont")
AREAS = (
    "sales",
    "product",
    "engagement",
    "preferences",
    "lifecycle",
    "demographics",
    "interests",
    "potential",
)
# Each area's sub-topics: what a metric's ``topic`` may say (docs/metrics.md, "Sub-topics").
TOPICS: dict[str, tuple[str, ...]] = {
    "sales": (
        "value",
        "channel",
        "category",
        "debt",
        "returns",
        "cancellations",
        "discount",
        "margin",
    ),
    "product": ("volume", "frequency", "category", "price_point", "breadth"),
    "engagement": ("activities", "channels", "topics", "satisfaction", "advocacy", "effort"),
    "preferences": ("topics", "channels", "departments", "contactability", "base"),
    "lifecycle": ("new", "active", "lapsing", "lapsed", "reactivated", "repeat", "retention"),
    "demographics": ("wealth", "location", "mosaic", "age"),
    "interests": ("product_type", "price_point", "reasons_to_buy"),
    "potential": ("value", "survival", "frequency"),
}
# The sub-topics the brief names for each insight area: each needs at least one metric of
# ``priority: must`` that is not deprecated (``topic_gaps``; tests/test_catalog_completeness.py).
BRIEF_TOPICS: dict[str, tuple[str, ...]] = {
    "sales": ("channel", "category", "debt"),
    "product": ("volume", "frequency", "category"),
    "engagement": ("activities", "channels", "topics"),
    "preferences": ("topics", "channels", "departments", "contactability"),
    "lifecycle": ("new", "lapsing"),
    "demographics": ("wealth", "location", "mosaic"),
    "interests": ("product_type", "price_point", "reasons_to_buy"),
}
REQUIRED = (
    "name",
    "label",
    "description",
    "owner",
    "unit",
    "format",
    "area",
    "aggregation",
    "better",
)
# Which way is good: what colours, arrows and verdicts follow (profiler/indices.py).
POLARITIES = ("higher", "lower", "neutral")
# The fields that define the number: the lock (catalog.lock) hashes these and only these, so a
# new label, owner, format, polarity or approval never asks for a new version, and a new filter,
# column, source or expression always does.
DEFINING = (
    "aggregation",
    "source",
    "column",
    "date",
    "filter",
    "numerator",
    "denominator",
    "base",
    "expression",
    "percentile",
    "unit",
    "additive",
)
FIELDS = (
    *REQUIRED,
    "source",
    "column",
    "date",
    "filter",
    "numerator",
    "denominator",
    "base",
    "expression",
    "percentile",
    "dimensions",
    "periods",
    "priority",
    "status",
    "version",
    "changelog",
    "additive",
    "approved_by",
    "approved_on",
    "topic",
)
# Where a metric's rows come from, and the date that places a row in a period.
SOURCES = {
    "order_lines": "ordered_at",
    "surveys": "at",
    "interactions": "at",
    "customers": None,  # the CAR: one row per customer, as of its date
}
# Columns the engine adds to the order facts (profiler/metrics.py).
FACT_COLUMNS = (
    "net_gbp",
    "gross_gbp",
    "cost_gbp",  # with a cost of goods only (profiler/margin.py)
    "costed",
    "month",
    *PRODUCT_ATTRIBUTES,
    "kept",
    "first_purchase",
    "days_since_previous_purchase",
    "lapses_at",
    "days_to_next_purchase",
    "days_to_as_of",
)


class CatalogError(ProfilerError):
    """The catalog cannot be loaded."""


@dataclass(frozen=True)
class Metric:
    """One metric as declared (see docs/metrics.md for the fields)."""

    name: str
    label: str = ""
    description: str = ""
    owner: str = ""
    unit: str = ""
    format: str = ""
    area: str = ""
    aggregation: str = ""
    better: str = ""
    source: str | None = None
    column: str | None = None
    date: str | None = None
    filter: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    base: str | None = None
    expression: str | None = None
    percentile: float | None = None
    dimensions: tuple[str, ...] = ()
    periods: tuple[str, ...] = KINDS
    priority: str = "should"
    status: str = "draft"
    version: int = 1
    changelog: str = ""
    additive: bool = False
    approved_by: str = ""
    approved_on: str = ""
    topic: str = ""  # the area's sub-topic (TOPICS)
    file: str = ""
    line: int = 0
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    # The filter and expression parsed once, as the metric is made (the catalog loads): every
    # consumer evaluates these trees.  A text that does not parse has none; ``tree`` raises its
    # one-line error and ``validate`` reports it with its line.
    trees: dict[str, expressions.Node] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        for name in ("filter", "expression"):
            text = getattr(self, name)
            if text:
                try:
                    self.trees[name] = expressions.parse(text)
                except expressions.ExpressionError:
                    pass

    def tree(self, field_name: str) -> expressions.Node:
        """The parsed ``filter`` or ``expression``; its ``ExpressionError`` if it does not parse."""
        found = self.trees.get(field_name)
        return found if found is not None else expressions.parse(getattr(self, field_name) or "")

    @property
    def date_column(self) -> str | None:
        return self.date or SOURCES.get(self.source or "")

    @property
    def parts(self) -> list[str]:
        """The metrics this one is computed from."""
        if self.aggregation in ("ratio", "rate"):
            return [m for m in (self.numerator, self.denominator or self.base) if m]
        if self.aggregation == "derived" and self.expression:
            try:
                return sorted(expressions.names(self.tree("expression")))
            except expressions.ExpressionError:
                return []
        return []

    @functools.cached_property
    def columns_read(self) -> set[str]:
        """The columns of its source the metric reads: its column and its filter's names
        (found once per metric: the query engine asks on every plan)."""
        names = {self.column} if self.column else set()
        if self.filter:
            names |= expressions.names(self.tree("filter"))
        return names

    @property
    def reads_products(self) -> bool:
        """Whether an order-lines metric's filter or column reads a product attribute (category,
        price point...): only the products table gives those (without it every line's are the
        contract's defaults, 'unknown'), so without it the metric is left out."""
        return self.source == "order_lines" and bool(self.columns_read & set(PRODUCT_ATTRIBUTES))

    def definition(self) -> dict[str, Any]:
        """The normalised definition the hash is taken over (no file positions)."""
        out: dict[str, Any] = {}
        for name in FIELDS:
            value = getattr(self, name)
            if name in self.trees:
                value = expressions.to_text(self.trees[name])
            if isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    @property
    def hash(self) -> str:
        text = json.dumps(self.definition(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def definition_hash(self) -> str:
        """Hash of what defines the number (``DEFINING``), as the lock records it."""
        full = self.definition()
        text = json.dumps({k: full[k] for k in DEFINING}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def where(self, field_name: str | None = None) -> str:
        line = self.lines.get(field_name, self.line) if field_name else self.line
        return f"{self.file}:{line}"


@dataclass
class Catalog:
    """All metrics, by name, with the catalog version."""

    metrics: dict[str, Metric]
    version: str
    problems: list[str] = field(default_factory=list)  # found while loading (duplicates, types)
    version_at: str = ""  # file:line of 'version:' (catalog.yaml), for the lock's messages

    @property
    def content_hash(self) -> str:
        text = "".join(f"{name}:{m.hash};" for name, m in sorted(self.metrics.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    @property
    def stamp(self) -> str:
        """What every table, workbook and snapshot carries: 'metric catalog 1.0.0 (3f2a9c1b)'."""
        return f"metric catalog {self.version} ({self.content_hash})"

    def get(self, name: str) -> Metric:
        """The metric ``name`` names, in any letter case; one line with a suggestion if none."""
        return self.metrics[resolve(name, self.metrics, "metric")]

    def reads_state(self, name: str) -> bool:
        """Whether a metric, or any metric it is computed from, reads the CAR (a customer state,
        which only the query engine takes at a period's end: ``QueryEngine.timing``)."""
        m = self.get(name)
        return m.source == "customers" or any(self.reads_state(p) for p in m.parts)


def definition_text(m: Metric) -> str:
    """The definition as one readable line, e.g. sum(net_gbp) over order_lines where ..."""
    if m.aggregation in ("ratio", "rate"):
        return f"{m.numerator} / {m.denominator or m.base}"
    if m.aggregation == "derived":
        return str(m.expression)
    target = m.column or "*"
    if m.aggregation == "percentile":
        head = f"percentile({target}, {m.percentile})"
    else:
        head = f"{m.aggregation}({target})"
    when = f", dated by {m.date_column}" if m.date_column else ", as of the CAR date"
    where = f" where {m.filter}" if m.filter else ""
    return f"{head} over {m.source}{where}{when}"


# ---------------------------------------------------------------------------------------------
# loading


class _LineLoader(yaml_lines.SafeLoader):
    """Safe YAML that remembers the line of every mapping and of each of its keys."""


def _mapping_with_lines(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__lines__"] = {
        str(key.value): key.start_mark.line + 1 for key, _ in node.value if hasattr(key, "value")
    }
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_lines)
# Dates stay text ('approved_on: 2026-11-30'), so a bad one is a problem with its line, not a
# traceback from YAML's own date parser.
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_scalar)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load a catalog folder (every ``*.yaml`` in it) or a single YAML file.

    Problems that stop a metric from being read (a duplicate name, a field of the wrong type)
    are collected in ``Catalog.problems``; ``validate`` adds the rest.
    """
    root = Path(path) if path else DEFAULT_CATALOG
    if not root.exists():
        raise CatalogError(f"{root}: no such file or folder.")
    files = sorted(root.glob("*.yaml")) if root.is_dir() else [root]
    if not files:
        raise CatalogError(f"{root}: no .yaml files in this folder.")
    metrics: dict[str, Metric] = {}
    problems: list[str] = []
    version = version_at = ""
    for file in files:
        try:
            doc = yaml.load(file.read_text(), Loader=_LineLoader) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            problems.append(f"{file}{line}: not valid YAML ({str(exc).splitlines()[0]})")
            continue
        if not isinstance(doc, dict):
            problems.append(f"{file}:1: expected a mapping with 'metrics:'")
            continue
        if "version" in doc:
            version = str(doc["version"])
            version_at = f"{file}:{doc.get('__lines__', {}).get('version', 1)}"
        for entry in doc.get("metrics") or []:
            metric = _metric(entry, file, problems)
            if metric is None:
                continue
            if metric.name in metrics:
                first = metrics[metric.name]
                problems.append(
                    f"{metric.where()}: duplicate metric name '{metric.name}' (first defined at {first.where()})"
                )
                continue
            metrics[metric.name] = metric
    if not version:
        problems.append(f"{root}: no catalog version (add 'version: 1.0.0' to catalog.yaml)")
    return Catalog(metrics, version or "unversioned", problems, version_at)


def _metric(entry: Any, file: Path, problems: list[str]) -> Metric | None:
    if not isinstance(entry, dict):
        problems.append(f"{file}: each metric must be a mapping of fields")
        return None
    line = entry.get("__line__", 0)
    lines = entry.get("__lines__", {})
    where = f"{file}:{line}"
    unknown = [k for k in entry if k not in FIELDS and not k.startswith("__")]
    for key in unknown:
        problems.append(
            f"{file}:{lines.get(key, line)}: unknown field '{key}'.{did_you_mean(key, FIELDS)}"
        )
    name = entry.get("name")
    if not name or not isinstance(name, str):
        problems.append(f"{where}: metric without a name")
        return None
    values: dict[str, Any] = {k: entry[k] for k in FIELDS if k in entry}
    better = values.get("better")
    if better not in POLARITIES:
        problems.append(
            f"{file}:{lines.get('better', line)}: {name}: "
            + (
                f"unknown polarity 'better: {clip(better)}'"
                if better is not None
                else "missing better"
            )
            + f"; say which way is good: better: {' | '.join(POLARITIES)}"
        )
        values.pop("better", None)
    for key in ("dimensions", "periods"):
        if key in values:
            raw = values[key]
            if raw == "all" and key == "periods":
                values[key] = KINDS
            elif isinstance(raw, list):
                values[key] = tuple(str(v) for v in raw)
            else:
                problems.append(f"{file}:{lines.get(key, line)}: {key} of '{name}' must be a list")
                values.pop(key)
    if "version" in values and not isinstance(values["version"], int):
        problems.append(
            f"{file}:{lines.get('version', line)}: version of '{name}' must be a whole number"
        )
        values.pop("version")
    if "additive" in values and not isinstance(values["additive"], bool):
        problems.append(
            f"{file}:{lines.get('additive', line)}: additive of '{name}' must be true or false"
        )
        values.pop("additive")
    for key, value in list(values.items()):
        if key in ("dimensions", "periods", "version", "additive", "percentile"):
            continue
        if value is not None and not isinstance(value, str):
            values[key] = str(value)
    return Metric(**values, file=str(file), line=line, lines=dict(lines))


# ---------------------------------------------------------------------------------------------
# validation


def validate(catalog: Catalog, car_columns: Iterable[str] | None = None) -> list[str]:
    """Every problem of the catalog at once, each as 'file:line: message', in file order.

    ``car_columns`` are the CAR columns 'customers' metrics may read; without them those
    column references are not checked.
    """
    problems = list(catalog.problems)
    car = set(car_columns) if car_columns is not None else None
    for metric in catalog.metrics.values():
        problems += _check_metric(metric, catalog, car)
    problems += _check_cycles(catalog)
    return sorted(set(problems), key=_position)


def _position(problem: str) -> tuple[str, int, str]:
    head, _, rest = problem.partition(": ")
    file, _, line = head.rpartition(":")
    return (file, int(line) if line.isdigit() else 0, rest)


def source_columns(source: str) -> set[str] | None:
    """The columns a metric on this source may read (None: the CAR's, known at run time)."""
    if source == "order_lines":
        return set(TABLES["order_lines"].column_names) | set(FACT_COLUMNS)
    if source in ("surveys", "interactions"):
        return set(TABLES[source].column_names)
    return None


def _check_metric(m: Metric, catalog: Catalog, car: set[str] | None) -> list[str]:
    out: list[str] = []

    def say(field_name: str | None, message: str) -> None:
        out.append(f"{m.where(field_name)}: {m.name}: {message}")

    for name in REQUIRED:
        if name != "better" and not getattr(m, name):  # polarity: checked as it loads
            say(None, f"missing {name}")
    if m.aggregation and m.aggregation not in AGGREGATIONS:
        say(
            "aggregation",
            f"unknown aggregation '{m.aggregation}'; expected one of {', '.join(AGGREGATIONS)}",
        )
    if m.area and m.area not in AREAS:
        say("area", f"unknown area '{m.area}'; expected one of {', '.join(AREAS)}")
    if m.topic and m.area in TOPICS and m.topic not in TOPICS[m.area]:
        say(
            "topic",
            f"unknown topic '{clip(m.topic)}' for area {m.area}; expected one of "
            f"{', '.join(TOPICS[m.area])}.{did_you_mean(m.topic, TOPICS[m.area])}",
        )
    if m.approved_on and not _is_iso_date(m.approved_on):
        say("approved_on", f"approved_on '{m.approved_on}' must be a date, YYYY-MM-DD")
    if m.approved_on and not m.approved_by:
        say("approved_on", "approved_on without approved_by: say who approved it")
    if m.status not in STATUSES:
        say("status", f"unknown status '{m.status}'; expected one of {', '.join(STATUSES)}")
    if m.priority not in PRIORITIES:
        say("priority", f"unknown priority '{m.priority}'; expected one of {', '.join(PRIORITIES)}")
    for kind in m.periods:
        if kind not in KINDS:
            say("periods", f"unknown period kind '{kind}'; expected {', '.join(KINDS)} or all")
    if m.additive and m.aggregation in NON_ADDITIVE:
        say(
            "additive",
            f"a {m.aggregation} is never additive: it is recomputed from its parts, not summed",
        )
    if m.aggregation in ("ratio", "rate", "derived"):
        out += _check_composite(m, catalog, say)
    elif m.aggregation in AGGREGATIONS:
        out += _check_rows(m, car, say)
    return out


def topic_gaps(catalog: Catalog) -> list[tuple[str, str]]:
    """The (area, topic) pairs of ``BRIEF_TOPICS`` with no metric of ``priority: must`` that is
    not deprecated: what the catalog still owes the brief."""
    covered = {
        (m.area, m.topic)
        for m in catalog.metrics.values()
        if m.priority == "must" and m.status != "deprecated" and m.topic
    }
    return [(a, t) for a, topics in BRIEF_TOPICS.items() for t in topics if (a, t) not in covered]


def _is_iso_date(text: str) -> bool:
    import datetime as dt

    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _check_composite(m: Metric, catalog: Catalog, say: Any) -> list[str]:
    if m.aggregation == "derived":
        if not m.expression:
            say(None, "a derived metric needs an expression")
            return []
        try:
            node = m.tree("expression")
            expressions.check_names(m.expression, node, catalog.metrics, kind="metric")
        except expressions.ExpressionError as exc:
            say("expression", str(exc))
        return []
    second = "denominator" if m.aggregation == "ratio" else "base"
    for role in ("numerator", second):
        value = getattr(m, role)
        if not value:
            say(None, f"a {m.aggregation} needs a {role}")
        elif value not in catalog.metrics:
            say(role, f"unknown metric '{value}' as {role}.{did_you_mean(value, catalog.metrics)}")
    return []


def _check_rows(m: Metric, car: set[str] | None, say: Any) -> list[str]:
    if m.source not in SOURCES:
        say(
            "source",
            f"unknown source '{m.source}'; expected one of {', '.join(SOURCES)}"
            if m.source
            else f"needs a source ({', '.join(SOURCES)})",
        )
        return []
    known = source_columns(m.source) if m.source != "customers" else car
    if m.aggregation in COLUMN_AGGREGATIONS and not m.column:
        say(None, f"a {m.aggregation} needs a column")
    if m.aggregation == "percentile" and not (
        isinstance(m.percentile, int | float) and 0 <= m.percentile <= 100
    ):
        say("percentile", "a percentile needs 'percentile: P' with P between 0 and 100")
    if m.source == "customers" and any(k != "asof" for k in m.periods):
        say("periods", "a metric of the CAR is measured as of its date: periods must be [asof]")
    if known is None:
        return []
    if m.column and m.column not in known:
        say("column", f"unknown column '{m.column}' in {m.source}.{did_you_mean(m.column, known)}")
    if m.date and m.date not in known:
        say("date", f"unknown date column '{m.date}' in {m.source}.{did_you_mean(m.date, known)}")
    for dim in m.dimensions:
        if dim not in known:
            say("dimensions", f"unknown dimension '{dim}' in {m.source}.{did_you_mean(dim, known)}")
    if m.filter:
        try:
            node = m.tree("filter")
            expressions.check_names(m.filter, node, known, kind="column")
        except expressions.ExpressionError as exc:
            say("filter", str(exc))
    return []


def _check_cycles(catalog: Catalog) -> list[str]:
    """Metrics that depend on themselves through ratios, rates or derived expressions."""
    out: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2 or name not in catalog.metrics:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name) :] + [name]
            m = catalog.metrics[name]
            out.append(f"{m.where()}: {name}: cycle among derived metrics: {' -> '.join(cycle)}")
            return
        state[name] = 1
        for part in catalog.metrics[name].parts:
            visit(part, [*path, name])
        state[name] = 2

    for name in catalog.metrics:
        visit(name, [])
    return out


# ---------------------------------------------------------------------------------------------
# diff


def diff(old: Catalog, new: Catalog) -> list[dict[str, Any]]:
    """Added, removed and changed metrics, with the fields that changed (old -> new): what
    Finance signs off."""
    rows: list[dict[str, Any]] = []
    for name in sorted(set(old.metrics) | set(new.metrics)):
        before, after = old.metrics.get(name), new.metrics.get(name)
        row = {
            "metric": name,
            "old_hash": before.hash if before else "",
            "new_hash": after.hash if after else "",
        }
        if before is None:
            rows.append({**row, "change": "added", "fields": "", "details": []})
        elif after is None:
            rows.append({**row, "change": "removed", "fields": "", "details": []})
        elif before.hash != after.hash:
            a, b = before.definition(), after.definition()
            changed = [k for k in FIELDS if a.get(k) != b.get(k)]
            details = [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in changed]
            rows.append(
                {**row, "change": "changed", "fields": ", ".join(changed), "details": details}
            )
    return rows
