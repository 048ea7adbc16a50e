"""The engine as spreadsheet cells see it: plain values and 2-D lists, errors as short text.

Each function here is what one Excel function (``udfs/``) or one macro block returns.  They take
what a cell can hold (text, numbers, ranges as lists) and never raise for a user mistake: a
``ProfilerError`` comes back as its one-line message, so the cell shows "Unknown metric 'aov2'.
Did you mean 'aov'?" instead of a traceback.  The engine is loaded once per process and
reloaded when the CAR folder is rebuilt (``engine_for``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from pathlib import Path
from typing import Any

import pandas as pd

from . import store, views
from .customer import PERSONAL_SETTING as PERSONAL_SETTING  # the setting's name, for udfs/
from .customer import customer_profile, personal_allowed
from .errors import ProfilerError, clip
from .query import QueryEngine
from .retention import retention_triangle

_lock = threading.Lock()
_loaded: dict[str, tuple[str | None, QueryEngine]] = {}


def engine_for(car_dir: str | Path | QueryEngine | None = None) -> QueryEngine:
    """The engine of a CAR folder (default $PROFILER_CAR), loaded once, reloaded when a build
    makes another generation current.  An engine given is used as it is (the workbook builder
    works out the functions' example results with the engine it has open)."""
    if isinstance(car_dir, QueryEngine):
        return car_dir
    folder = str(store.car_folder(car_dir).resolve())
    stamp = store.current_name(folder)
    with _lock:
        cached = _loaded.get(folder)
        if cached is None or cached[0] != stamp:
            _loaded[folder] = (stamp, QueryEngine.open(folder))
        return _loaded[folder][1]


def cell_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Return a ProfilerError's message as the cell's value instead of raising it."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ProfilerError as err:
            return f"#ERROR: {err}"

    return wrapper


def as_list(value: Any) -> list[str]:
    """A cell, a range (list or list of lists) or a comma-separated text as a list of names."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Iterable):
        out: list[str] = []
        for item in value:
            out.extend(as_list(item))
        return out
    if isinstance(value, float) and math.isnan(value):
        return []
    return [str(value)]


def _period(value: Any) -> str | None:
    """Excel may hand over 2025 as 2025.0."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def table(frame: pd.DataFrame) -> list[list[Any]]:
    """Header row plus rows, with missing values as empty cells (what a spill range shows)."""
    rows = [[str(c) for c in frame.columns]]
    for record in frame.itertuples(index=False):
        rows.append([_cell(v) for v in record])
    return rows


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


@cell_errors
def metric(name: str, cohort: str | None = None, period: Any = None, car: str | None = None) -> Any:
    """One metric for one cohort (default: the base) and period (default: as of the CAR).

    A cell has no room for a label: a metric known only at the CAR's date, asked for another
    period, is refused with a message saying so, rather than D's value under that period."""
    engine = engine_for(car)
    span = engine.period(_period(period))
    if span.kind != "asof" and engine.timing(str(name)) == "as_of_d":
        raise ProfilerError(
            f"'{clip(str(name))}' is known as of {engine.as_of:%Y-%m-%d} only: ask for period asof."
        )
    row = engine.values([str(name)], [cohort or engine.cohorts.base], span).iloc[0]
    if row["small"]:
        return small_mark(engine)
    return None if math.isnan(row["value"]) else float(row["value"])


@cell_errors
def compare(
    metrics: Any, cohorts: Any, period: Any = None, vs: Any = None, car: str | None = None
) -> list[list[Any]]:
    """Cohorts side by side: metric, label, then each cohort's value (and change with ``vs``)."""

    engine = engine_for(car)
    frame = views.compare(
        engine, as_list(cohorts), as_list(metrics) or None, _period(period), _period(vs)
    )
    frame = frame.assign(value=_hidden(frame, "value", engine))
    value = frame.pivot(index="metric", columns="cohort", values="value")
    order = list(dict.fromkeys(frame["metric"]))
    columns = list(dict.fromkeys(frame["cohort"]))
    out = pd.DataFrame({"metric": order})
    out.insert(1, "label", [engine.metric(m).label for m in order])
    for c in columns:
        out[c] = value.loc[order, c].to_numpy()
    if vs is not None:
        change = frame.pivot(index="metric", columns="cohort", values="change_pct")
        for c in columns:
            out[f"{c} vs {_period(vs)}"] = change.loc[order, c].to_numpy()
    return table(out)


@cell_errors
def deep_dive(
    cohort: str, area: str | None = None, period: Any = None, car: str | None = None
) -> list[list[Any]]:
    """Deep dive of one cohort in one insight area (or all): value, base value and index."""
    engine = engine_for(car)
    frame = views.deep_dive(engine, str(cohort), _period(period), None, as_list(area) or None)
    small = frame["customers"].to_numpy() < engine.cohorts.min_size
    frame = frame.assign(
        value=_hidden(frame, "value", engine, small), index=_hidden(frame, "index", engine, small)
    )
    return table(
        frame[["area", "metric", "label", "period", "value", "base_value", "index", "customers"]]
    )


@cell_errors
def retention(
    grain: str = "month",
    measure: str = "active",
    start: Any = None,
    end: Any = None,
    car: str | None = None,
) -> list[list[Any]]:
    """The retention triangle (acquisition cohorts x periods since acquisition)."""
    engine = engine_for(car)
    frame = retention_triangle(
        engine,
        grain=str(grain or "month"),
        measure=str(measure or "active"),
        start=_period(start),
        end=_period(end),
    )
    # Every cell of an acquisition cohort is computed on its customers.
    small = frame["customers"].to_numpy() < engine.cohorts.min_size
    cells = frame.columns.difference(["acquisition", "customers"], sort=False)
    frame = frame.astype({c: object for c in cells})
    frame.loc[small, cells] = small_mark(engine)
    return table(frame)


@cell_errors
def dashboard(period: Any, car: str | None = None) -> list[list[Any]]:
    """Executive KPIs: period, prior period, last year and the changes (in points for shares
    and scores, relative otherwise: the unit is in ``change_unit``), as the Dashboard sheet
    shows them."""

    frame = views.dashboard(engine_for(car), _period(period))
    columns = ["kpi", "value", "prior", "vs_prior", "last_year", "vs_last_year", "change_unit"]
    return table(frame[[*columns, "note", "value_period", "better"]])


@cell_errors
def definition(name: str, car: str | None = None) -> str:
    """A metric's definition in one line: label, description, unit, owner, version, hash."""
    m = engine_for(car).catalog.get(str(name))
    return f"{m.label}: {m.description} Unit: {m.unit}. Owner: {m.owner}. Version {m.version} ({m.hash})."


@cell_errors
def metrics_list(car: str | None = None) -> list[list[Any]]:
    """Every metric of the catalog: name, label, area, unit, owner."""
    catalog = engine_for(car).catalog
    rows = [[m.name, m.label, m.area, m.unit, m.owner] for m in catalog.metrics.values()]
    return [["metric", "label", "area", "unit", "owner"], *rows]


@cell_errors
def cohorts_list(car: str | None = None) -> list[list[Any]]:
    """Every cohort: name, group, customers."""
    cohorts = engine_for(car).cohorts
    rows = [[d.name, d.group, cohorts.size(d.name)] for d in cohorts.definitions.values()]
    return [["cohort", "group", "customers"], *rows]


@cell_errors
def clv(cohort: str | None = None, car: str | None = None) -> list[list[Any]]:
    """Potential value of a cohort: customers, total and mean 12-month CLV, P(alive)."""
    engine = engine_for(car)
    names = [
        "customers",
        "clv_12m_total",
        "clv_12m_mean",
        "clv_12m_p90",
        "p_alive_mean",
        "expected_orders_12m",
    ]
    frame = engine.values(names, [cohort or engine.cohorts.base], "asof")
    shown = _hidden(frame, "value", engine)
    return [
        ["metric", "value"],
        *[[m, _cell(v)] for m, v in zip(frame["metric"], shown, strict=True)],
    ]


def small_mark(engine: QueryEngine) -> str:
    """What a cell computed on too few customers returns: the snapshots' mark (``n<k``)."""
    from .privacy import mark

    return mark(engine.cohorts.min_size)


def _hidden(frame: pd.DataFrame, column: str, engine: QueryEngine, small: Any = None) -> pd.Series:
    """``column`` with the small-cell mark where the row was computed on too few customers."""
    small = frame["small"].to_numpy() if small is None else small
    return frame[column].astype(object).where(~small, small_mark(engine))


def setting_folder(settings: Mapping[str, str], workbook: Path, key: str) -> Path | None:
    """A folder named by a workbook's setting (PROFILER_CAR, PROFILER_DATA on its settings
    sheet): relative to the workbook's folder unless absolute; None when blank.  A folder that
    is not there is one line saying which setting points where (a workbook moved without its
    data).  Plain values in, so the workbook layer and the UDFs, which each read the sheet their
    own way, resolve it once."""
    value = settings.get(key, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else workbook.parent / path
    if not path.is_dir():
        raise ProfilerError(
            f"{workbook.name}: its {key} setting '{value}' points to {path}, which is not a "
            f"folder here; set {key} on the xlwings.conf sheet (docs/excel-guide.md) or pass "
            f"--{'car' if key == 'PROFILER_CAR' else 'data'} DIR."
        )
    return path


CONF_SHEET = "xlwings.conf"  # xlwings' name for a workbook's settings sheet


def live_settings(book: Any) -> dict[str, str]:
    """Keys and values of a live workbook's xlwings.conf sheet, read by key: a blank value
    (such as Interpreter_Win, which xlwings allows blank) does not end the list.  ``book`` is an
    xlwings Book used by its methods only (the engine never imports xlwings), so the workbook
    layer's ``LiveBook`` and the UDFs read the sheet the same way.  No sheet: no settings."""
    try:
        sheet = book.sheets[CONF_SHEET]
    except Exception:  # xlwings raises its own types for a missing sheet
        return {}
    last = sheet.range("A1").end("down").row if sheet.range("A2").value else 1
    rows = sheet.range((1, 1), (last, 2)).options(ndim=2).value
    return {str(k).strip(): "" if v is None else str(v) for k, v in rows if k is not None}


def _day_cell(value: Any) -> Any:
    """A date cell as a day: Excel hands a date as a datetime, a serial number or text."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return pd.Timestamp("1899-12-30") + pd.Timedelta(days=int(value))  # Excel's day 0
    return value


@cell_errors
def migration(
    axis: Any,
    start: Any,
    end: Any = None,
    measure: Any = "customers",
    car: str | None = None,
    data: str | None = None,
) -> list[list[Any]]:
    """The migration matrix (``views.migration``): segment at ``start`` (rows) x segment at
    ``end`` (columns), customers or their net spend in the 12 months to ``end``
    (``measure``: customers or spend); cells of fewer customers than the minimum cohort size
    show the small-cell mark.  The source data folder (``data``, else $PROFILER_DATA) gives the
    segments at a date before the CAR's."""
    import os

    what = str(measure or "customers").strip().lower()
    if what not in ("customers", "spend"):
        raise ProfilerError(f"Unknown measure '{clip(measure)}'; expected customers or spend.")
    engine = engine_for(car)
    result = views.migration(
        engine,
        str(axis or ""),
        _day_cell(start),
        _day_cell(end),
        data=data or os.environ.get("PROFILER_DATA") or None,
    )
    frame = result.customers if what == "customers" else result.spend
    shown = frame.astype(object).where(~result.small, small_mark(engine))
    corner = f"{result.start:%Y-%m-%d} \\ {result.end:%Y-%m-%d}"
    if what == "spend":
        corner += " (net spend GBP, 12 months to the later date)"
    shown.insert(0, corner, [str(i) for i in shown.index])
    shown.columns = [str(c) for c in shown.columns]
    return table(shown.reset_index(drop=True))


CAMPAIGN_FIGURES = {  # CP_CAMPAIGN's figures: name -> (label, computed on customers of a group)
    "treated_customers": ("Treated customers", False),
    "control_customers": ("Control customers", False),
    "treated_response_rate": ("Treated response rate", True),
    "control_response_rate": ("Control response rate", True),
    "uplift": ("Uplift in response rate", True),
    "uplift_low": ("Uplift, 95% CI low (Wald)", True),
    "uplift_high": ("Uplift, 95% CI high (Wald)", True),
    "treated_orders": ("Treated orders", True),
    "control_orders": ("Control orders", True),
    "treated_spend_per_customer": ("Treated spend per customer (GBP)", True),
    "control_spend_per_customer": ("Control spend per customer (GBP)", True),
    "spend_uplift": ("Uplift in spend per customer (GBP)", True),
    "spend_uplift_low": ("Spend uplift, 95% CI low (Welch)", True),
    "spend_uplift_high": ("Spend uplift, 95% CI high (Welch)", True),
    "incremental_revenue": ("Incremental revenue (GBP)", True),
    "incremental_revenue_low": ("Incremental revenue, 95% CI low", True),
    "incremental_revenue_high": ("Incremental revenue, 95% CI high", True),
    "cost": ("Cost (GBP)", False),
    "roi": ("ROI", True),
    "sent_at": ("Sent", False),
    "window_from": ("Window from", False),
    "window_to": ("Window to", False),
    "status": ("Window", False),
}


@cell_errors
def campaign(
    name: Any, figure: Any = None, window: Any = None, data: str | None = None
) -> list[list[Any]] | Any:
    """A campaign's measured response (``profiler.campaigns.campaign_report`` over the data
    folder ``data``, else $PROFILER_DATA): one ``figure`` (e.g. uplift, incremental_revenue),
    or without it a table of every figure.  ``window`` is the response window in days (default
    30).  Figures computed on a group smaller than the minimum cohort size show the small-cell
    mark; an incomplete window says so in the table (and in the ``status`` figure)."""
    import os

    from .campaigns import campaign_report, parse_window
    from .cohorts import load_cohort_spec
    from .privacy import mark

    folder = data or os.environ.get("PROFILER_DATA") or None
    if not folder:
        raise ProfilerError(
            "No data folder: set PROFILER_DATA on the xlwings.conf sheet (the folder of source "
            "tables holding campaigns.csv)."
        )
    report = campaign_report(folder, str(name or "").strip(), parse_window(window))
    row = report.row()
    k = int(load_cohort_spec().get("min_cohort_size", 10))
    small = min(row["treated_customers"], row["control_customers"]) < k

    def shown(key: str) -> Any:
        value = row[key]
        return mark(k) if small and CAMPAIGN_FIGURES[key][1] else _cell(value)

    if figure not in (None, ""):
        wanted = str(figure).strip().lower()
        if wanted not in CAMPAIGN_FIGURES:
            raise ProfilerError(
                f"Unknown figure '{clip(figure)}'; expected one of {', '.join(CAMPAIGN_FIGURES)}."
            )
        return shown(wanted)
    rows = [[f"{report.campaign} ({report.channel})", row["status"]]]
    rows += [[label, shown(key)] for key, (label, _) in CAMPAIGN_FIGURES.items()]
    if row["notes"]:
        rows.append(["Notes", row["notes"]])
    return [["Figure", "Value"], *rows]


@cell_errors
def customer(
    customer_id: Any, car: str | None = None, personal: Any = None
) -> list[list[Any]] | str:
    """One customer's profile (``profiler.customer.customer_profile``): section, item, value
    (numbers as numbers, the rest in words), when, CAR column, definition.  ``personal`` is the
    workbook's PROFILER_PERSONAL_DATA setting: name, e-mail and phone only when it says yes and
    the CAR folder holds the consented contact table (the setting's key: ``PERSONAL_SETTING``,
    read by udfs/)."""
    profile = customer_profile(engine_for(car), customer_id, personal=personal_allowed(personal))
    return table(profile.sheet_table())


@cell_errors
def breakdown(
    metric: Any, dimension: str, cohort: str | None = None, period: Any = None, car: Any = None
) -> list[list[Any]]:
    """Metrics (a name, a range or comma-separated text) for one cohort (default: the base)
    and period, split by one of their dimensions (``QueryEngine.breakdown``): a table of metric,
    dimension value, value and customers; a value on too few customers is the small-cell mark."""
    engine = engine_for(car)
    names = as_list(metric)
    if not names:
        raise ProfilerError("Name a metric to break down.")
    frame = engine.breakdown(names, str(dimension or ""), cohort or None, _period(period))
    frame = frame.assign(value=_hidden(frame, "value", engine))
    return table(frame[["metric", "dimension_value", "value", "customers", "period"]])
