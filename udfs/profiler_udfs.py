"""Excel functions of the Customer Profiler (xlwings UDFs): one engine call each.

Import them once in Excel (xlwings add-in or ribbon: "Import Functions"); the workbook's
``xlwings.conf`` sheet names this module under "UDF Modules".  The CAR folder comes from the
``PROFILER_CAR`` key of that sheet or the environment variable of the same name.  ``caller`` is
xlwings' reserved argument (the calling cell, hidden from Excel): it is how a function finds its
workbook's settings.  Every function
returns the engine's value, a 2-D table (a plain array: it spills natively in Excel 365 and
2021), or a short error message for the cell.  A value computed on fewer customers than the
minimum cohort size returns the same mark a snapshot shows (``n<10``), never the number.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import xlwings as xw

from profiler import cells

PERIOD_DOC = (
    "YYYY-MM, YYYY-Qn, YYYY, ytd:YYYY-MM, r12:YYYY-MM or asof (default: as of the CAR's date)"
)
COHORT_DOC = "Cohort name, e.g. 'Treasured clients' (default: All customers); 'A & B' is both"


def documented(**docs: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register each argument's help for Excel's Function Wizard, and keep it for tests."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        for name, doc in docs.items():
            fn = xw.arg(name, doc=doc)(fn)
        fn.__arg_docs__ = docs  # type: ignore[attr-defined]
        return xw.func(category="Customer Profiler")(fn)

    return wrap


def _folder(caller: Any, key: str) -> str | None:
    """A folder setting (PROFILER_CAR, PROFILER_DATA) of the calling workbook's xlwings.conf
    sheet; None: the environment variable of the same name, read by the engine."""
    try:
        book = caller.sheet.book
        folder = cells.setting_folder(cells.live_settings(book), Path(book.fullname), key)
        if folder is not None:
            return str(folder)
    except Exception:  # no caller outside Excel, or no such key: fall back to the environment
        pass
    return None


def _car(caller: Any = None) -> str | None:
    """The CAR folder of the calling workbook (engine_for falls back to $PROFILER_CAR)."""
    return _folder(caller, "PROFILER_CAR")


@documented(
    metric="Metric name, e.g. net_sales (see CP_METRICS())", cohort=COHORT_DOC, period=PERIOD_DOC
)
def CP_METRIC(metric, cohort=None, period=None, caller=None):
    """One catalog metric for one cohort and period."""
    return cells.metric(metric, cohort, period, _car(caller))


@documented(
    metrics="Metric names: a range or comma-separated text",
    cohorts="Up to 8 cohort names: a range or comma-separated text",
    period=PERIOD_DOC,
    vs_period="Optional comparison period; adds the change against it",
)
def CP_COMPARE(metrics, cohorts, period=None, vs_period=None, caller=None):
    """Cohorts side by side for a period (spills a table: metric, label, one column per cohort)."""
    return cells.compare(metrics, cohorts, period, vs_period, _car(caller))


@documented(
    cohort=COHORT_DOC,
    area="sales, product, lifecycle, engagement, preferences, interests, demographics or potential (default: all)",
    period=PERIOD_DOC,
)
def CP_DEEP_DIVE(cohort, area=None, period=None, caller=None):
    """Deep dive: one cohort against the base across an insight area (index = cohort / base x 100)."""
    return cells.deep_dive(cohort, area, period, _car(caller))


@documented(
    grain="month or quarter",
    measure="active, revenue or cumulative_spend",
    start="First acquisition cohort (YYYY-MM or YYYY-Qn), optional",
    end="Last acquisition cohort, optional",
)
def CP_RETENTION(grain="month", measure="active", start=None, end=None, caller=None):
    """Retention triangle: acquisition cohorts x periods since acquisition."""
    return cells.retention(grain, measure, start, end, _car(caller))


@documented(period="A month, quarter, year, ytd: or r12: period")
def CP_DASHBOARD(period, caller=None):
    """Executive KPIs for a period against the prior period and last year."""
    return cells.dashboard(period, _car(caller))


@documented(metric="Metric name")
def CP_DEFINITION(metric, caller=None):
    """A metric's agreed definition: label, description, unit, owner, version and hash."""
    return cells.definition(metric, _car(caller))


@documented()
def CP_METRICS(caller=None):
    """Every metric of the catalog (spills: metric, label, area, unit, owner)."""
    return cells.metrics_list(_car(caller))


@documented()
def CP_COHORTS(caller=None):
    """Every cohort (spills: cohort, group, customers)."""
    return cells.cohorts_list(_car(caller))


@documented(cohort=COHORT_DOC)
def CP_CLV(cohort=None, caller=None):
    """Potential value of a cohort: customers, 12-month CLV total, mean and p90, P(alive)."""
    return cells.clv(cohort, _car(caller))


def _data(caller: Any = None) -> str | None:
    """The source data folder of the calling workbook (else $PROFILER_DATA)."""
    return _folder(caller, "PROFILER_DATA")


@documented(
    axis="strategy, lifecycle or value_tier",
    start="The earlier date (rows), YYYY-MM-DD",
    end="The later date (columns), YYYY-MM-DD (default: the CAR's date)",
    measure="customers, or spend (net spend in the 12 months to the later date)",
)
def CP_MIGRATION(axis, start, end=None, measure="customers", caller=None):
    """Segment migration: customers by segment at one date (rows) and at a later one (columns)."""
    return cells.migration(axis, start, end, measure, _car(caller), _data(caller))


def _personal(caller: Any = None) -> str | None:
    """The PROFILER_PERSONAL_DATA setting of the calling workbook (blank: no personal data)."""
    try:
        return cells.live_settings(caller.sheet.book).get(cells.PERSONAL_SETTING)
    except Exception:  # no caller outside Excel, or no settings sheet: no personal data
        return None


@documented(customer_id="A customer id, as in the CAR (e.g. 1042)")
def CP_CUSTOMER(customer_id, caller=None):
    """One customer's profile in plain words: segment, lifecycle, value, orders, consent, survey, service topics."""
    return cells.customer(customer_id, _car(caller), _personal(caller))


@documented(
    name="Campaign name, as in 'profiler campaign list'",
    figure="Optional: uplift, uplift_low, uplift_high, incremental_revenue, roi, ... (default: every figure)",
    window="Response window in days (default 30)",
)
def CP_CAMPAIGN(name, figure=None, window=None, caller=None):
    """A campaign's measured response: treated against the random control group, uplift with its 95% interval, incremental revenue and ROI."""
    return cells.campaign(name, figure, window, _data(caller))


UDFS = [
    CP_METRIC,
    CP_COMPARE,
    CP_DEEP_DIVE,
    CP_RETENTION,
    CP_DASHBOARD,
    CP_DEFINITION,
    CP_METRICS,
    CP_COHORTS,
    CP_CLV,
    CP_MIGRATION,
    CP_CUSTOMER,
    CP_CAMPAIGN,
]


@documented(
    metric="Metric name(s): one, a range or comma-separated text (e.g. net_sales)",
    dimension="A dimension the metric declares: channel, category, price_point, month, topic, region...",
    cohort=COHORT_DOC,
    period=PERIOD_DOC,
)
def CP_BREAKDOWN(metric, dimension, cohort=None, period=None, caller=None):
    """A metric split by one of its dimensions for a cohort and period (spills: metric, value of
    the dimension, value, customers, period)."""
    return cells.breakdown(metric, dimension, cohort, period, _car(caller))


UDFS.append(CP_BREAKDOWN)
