"""Reconciliation: the catalog's net sales and returns tied to Finance's ledger, as of a day D.

For each month x channel (x category, where the ledger has categories) the ledger's booked net
sales differ from the catalog's ``net_sales`` by the known reconciling items of
docs/data-contract.md, each computed here from the order facts as of D (``facts.order_facts``,
the same view the catalog and the CAR read), fx_rates and journals:

- returns timing: the ledger keeps returned lines in the month they were ordered and takes
  the return off in the month the goods came back; ``net_sales`` as of D leaves a line returned
  by D out of its order month (restated with the returns known at D).  Item = lines of the month
  returned by D - returns booked in the month (by D).
- late cancellations: orders placed on a month's last day and cancelled later were booked in
  that month and reversed in the next.  Item = those of the month - those of the month before.
- FX: the ledger converts at the month's average rate, the profiler at each line's daily rate.
- manual journals posted to the month.

Every amount is whole pence (each line converted and rounded as profiler/facts.py does, the
ledger's and journals' figures rounded to pence), so the items and the residual are exact; the
table shows them in pounds.  What is left, the unexplained residual, must be within the tolerance
(a share of the ledger figure; a penny at least).  Returns are tied the same way: the ledger's
returns against the catalog's ``returns_booked`` (dated by the return), the difference being FX.

D defaults to the last day of the data (every return known); with a CAR it is the CAR's D, so
the reconciliation explains exactly the figures the CAR's views show.  A month that starts after
D is refused: nothing of it is known at D.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .activity import month_number
from .catalog import Catalog
from .errors import ProfilerError
from .facts import PENCE, data_end, pounds, to_minor_units
from .loading import SourceData
from .metrics import MetricEngine
from .periods import Period, last_complete_month, months_between, parse_period

ITEMS = ("returns_timing", "late_cancellations", "fx", "journals")
MONEY = ("profiler", "ledger", "difference", *ITEMS, "explained", "residual")
COLUMNS = [
    "period",
    "channel",
    "category",
    "measure",
    "profiler",
    "ledger",
    "difference",
    *ITEMS,
    "explained",
    "residual",
    "residual_pct",
    "status",
]


@dataclass
class Reconciliation:
    """One row per cell and measure; ``passed`` when every residual is within tolerance."""

    table: pd.DataFrame
    tolerance_pct: float
    catalog: str
    as_of: pd.Timestamp

    @property
    def failures(self) -> pd.DataFrame:
        return self.table[self.table["status"] == "fail"]

    @property
    def passed(self) -> bool:
        return self.failures.empty


def reconcile(
    source: SourceData,
    catalog: Catalog,
    months: list[Period] | None = None,
    tolerance_pct: float = 0.1,
    as_of: str | pd.Timestamp | None = None,
    engine: MetricEngine | None = None,
) -> Reconciliation:
    """Tie net sales and returns to the ledger for the given months (default: the ledger's, up
    to D), as of the end of day ``as_of`` (default: the last day of the data).  ``engine``: a
    ``MetricEngine`` over the same sources and catalog as of that day, whose order facts are
    already made (the build's), else one is made here."""
    if not source.has("ledger"):
        raise ProfilerError(
            f"{source.data_dir}: no ledger table; reconciliation needs ledger.csv or ledger.parquet (see docs/data-contract.md)."
        )
    day = pd.Timestamp(as_of).normalize() if as_of is not None else data_end(source)
    ledger = source.tables["ledger"].copy()
    ledger["period"] = ledger["period"].astype(str)
    if months is None:
        periods = sorted(ledger["period"].unique())
        if not periods:
            raise ProfilerError(f"{source.data_dir}: the ledger has no rows.")
        months = [m for m in months_between(periods[0], periods[-1]) if m.start <= day]
    late = [m.label for m in months if m.start > day]
    if late:
        raise ProfilerError(
            f"Month {late[0]} starts after the as-of date {day:%Y-%m-%d}: nothing of it is known "
            "then. Reconcile earlier months, or give a later --as-of."
        )
    by_category = (ledger["category"].astype(str) != "unknown").any()
    keys = ["channel", "category"] if by_category else ["channel"]
    for name in ("net_sales", "returns"):
        ledger[name] = to_minor_units(ledger[name].to_numpy(dtype=np.float64))
    engine = engine or MetricEngine(catalog, source=source, as_of=day)
    lines = _lines(engine, source, months)
    journals = _journals(source)
    frames = []
    for month in months:
        frames.append(_month(engine, lines, journals, ledger, month, keys))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    if not by_category:
        table["category"] = "(all)"
    for name in MONEY:  # whole pence, exact, shown in pounds
        table[name] = pounds(table[name].to_numpy(dtype=np.int64))
    limit = np.maximum(table["ledger"].abs() * tolerance_pct / 100, 0.01)
    table["residual_pct"] = table["residual"] / table["ledger"].where(table["ledger"] != 0) * 100
    table["status"] = np.where(table["residual"].abs() <= limit, "pass", "fail")
    table = table[COLUMNS]
    table.attrs["catalog"] = catalog.stamp
    table.attrs["as_of"] = f"{day:%Y-%m-%d}"
    return Reconciliation(table, tolerance_pct, catalog.stamp, day)


def recent_reconciliation(
    source: SourceData,
    catalog: Catalog,
    as_of: pd.Timestamp,
    months: int = 12,
    engine: MetricEngine | None = None,
) -> pd.DataFrame:
    """The reconciliation table of the last ``months`` complete months by ``as_of``, as of that
    day (the CAR's D: it explains the figures the workbook's other sheets show).  ``profiler
    build`` stores it in the CAR folder for the workbook's Reconciliation sheet."""
    last = last_complete_month(as_of)
    span = months_between(f"{last - pd.DateOffset(months=months - 1):%Y-%m}", f"{last:%Y-%m}")
    return reconcile(source, catalog, span, as_of=as_of, engine=engine).table


def _lines(engine: MetricEngine, source: SourceData, months: list[Period]) -> pd.DataFrame:
    """The order facts as of D that the reconciling items of ``months`` read (ordered in one of
    them or the month before it, or returned in one of them), with what the items need, in
    whole pence: the amount at the line's daily rate (``net``) and at the booking rates of its
    order and return months.  Months are numbers (``activity.month_number``); channel and category
    stay categorical, and the status is read as flags, so the tens of millions of lines of a
    large population are never turned into strings."""
    facts = engine.frame("order_lines")
    order_month = month_number(facts["ordered_at"])
    return_month = month_number(facts["returned_at"])
    wanted = np.array([month_number(m.start) for m in months], dtype=np.int64)
    read = np.isin(order_month, np.concatenate([wanted, wanted - 1])) | np.isin(
        return_month, wanted
    )
    rows = np.flatnonzero(read)
    status = facts["status"]
    ordered_at = facts["ordered_at"].to_numpy()[rows]
    cancelled = (status == "cancelled").to_numpy(dtype=bool)[rows]
    last_day = ordered_at.astype("datetime64[D]")
    month_end = (last_day + 1).astype("datetime64[M]") != last_day.astype("datetime64[M]")
    lines = pd.DataFrame(
        {
            "channel": facts["channel"].array[rows],
            "category": facts["category"].array[rows],
            "net": facts["net_pence"].to_numpy()[rows],
            "order_month": order_month[rows],
            "return_month": return_month[rows],
            "returned": (status == "returned").to_numpy(dtype=bool)[rows],
            "cancelled": cancelled,
            "late_cancelled": cancelled & month_end,  # placed on a month's last day
        }
    )
    for when in ("order", "return"):
        lines[f"{when}_booked"] = lines["net"]
    if source.has("fx_rates"):
        local = facts["net_amount"].to_numpy(dtype=np.float64)[rows]
        currency = pd.Categorical(facts["currency"].array[rows])
        rates = source.tables["fx_rates"]
        # The booking rate of each (month, currency) the lines have, by their codes: a grid of
        # months x currencies, NaN where the table has none.
        period = rates["period"].astype(str)
        starts = pd.to_datetime(period, format="%Y-%m", errors="coerce")
        rate_months = month_number(starts.where(starts.dt.strftime("%Y-%m") == period))
        rate_codes = currency.categories.get_indexer(rates["currency"].astype(str))
        for when in ("order", "return"):
            month = lines[f"{when}_month"].to_numpy()
            booked = np.full(len(lines), np.nan)
            given = (month >= 0) & (currency.codes >= 0)
            if given.any():
                first = month[given].min()
                grid = np.full((month[given].max() - first + 1, len(currency.categories)), np.nan)
                inside = (rate_months >= first) & (rate_months - first < len(grid))
                inside &= rate_codes >= 0
                grid[rate_months[inside] - first, rate_codes[inside]] = rates["rate"].to_numpy(
                    dtype=np.float64
                )[inside]
                booked[given] = grid[month[given] - first, currency.codes[given]]
            # Without a booking rate Finance's figure is unknown: assume the daily rate (no item).
            known = ~np.isnan(booked)
            amounts = lines[f"{when}_booked"].to_numpy().copy()
            amounts[known] = to_minor_units(local[known], booked[known])
            lines[f"{when}_booked"] = amounts
    return lines


def _journals(source: SourceData) -> pd.DataFrame:
    if not source.has("journals"):
        return pd.DataFrame(
            {
                "period": pd.Series(dtype=str),
                "channel": pd.Series(dtype=str),
                "category": pd.Series(dtype=str),
                "amount": pd.Series(dtype=np.int64),
            }
        )
    j = source.tables["journals"]
    return pd.DataFrame(
        {
            "period": j["period"].astype(str),
            "channel": j["channel"].astype(str),
            "category": j["category"].astype(str),
            "amount": to_minor_units(j["amount"].to_numpy(dtype=np.float64)),
        }
    )


def _sum(frame: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    return frame.groupby(keys, observed=True)[column].sum()


def _line_sum(lines: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """``_sum`` of the lines (categorical keys), labelled by the keys as strings."""
    out = _sum(lines, keys, column)
    if isinstance(out.index, pd.MultiIndex):
        out.index = out.index.set_levels([level.astype(str) for level in out.index.levels])
    else:
        out.index = out.index.astype(str)
    out.index.names = keys
    return out


def _month(
    engine: MetricEngine,
    lines: pd.DataFrame,
    journals: pd.DataFrame,
    ledger: pd.DataFrame,
    month: Period,
    keys: list[str],
) -> pd.DataFrame:
    """One month's cells, every amount in whole pence."""
    label = month.label
    number = month_number(month.start)
    net = _as_pence(engine.value("net_sales", month, by=keys), keys)
    booked = _as_pence(engine.value("returns_booked", month, by=keys), keys)
    order_month = lines["order_month"].to_numpy()
    of_month = order_month == number
    ordered = lines[of_month]
    back = lines[lines["returned"].to_numpy() & (lines["return_month"].to_numpy() == number)]
    returned_of_month = _line_sum(ordered[ordered["returned"]], keys, "net")
    timing = returned_of_month.sub(_line_sum(back, keys, "net"), fill_value=0)
    late_cancelled = lines["late_cancelled"].to_numpy()
    late_now = lines[late_cancelled & of_month]
    late_before = lines[late_cancelled & (order_month == number - 1)]
    late = _line_sum(late_now, keys, "order_booked").sub(
        _line_sum(late_before, keys, "order_booked"), fill_value=0
    )
    sold = ordered[~ordered["cancelled"]]
    fx_sales = _line_sum(sold.assign(d=sold["order_booked"] - sold["net"]), keys, "d")
    fx_returns = _line_sum(back.assign(d=back["return_booked"] - back["net"]), keys, "d")
    journal = _sum(journals[journals["period"] == label], keys, "amount")
    book = ledger[ledger["period"] == label]
    ledger_net = _sum(book, keys, "net_sales")
    ledger_returns = _sum(book, keys, "returns")

    sales = pd.concat(
        {
            "profiler": net,
            "ledger": ledger_net,
            "returns_timing": timing,
            "late_cancellations": late,
            "fx": fx_sales.sub(fx_returns, fill_value=0),
            "journals": journal,
        },
        axis=1,
    )
    sales["measure"] = "net_sales"
    returns = pd.concat({"profiler": booked, "ledger": ledger_returns, "fx": fx_returns}, axis=1)
    for item in ("returns_timing", "late_cancellations", "journals"):
        returns[item] = 0
    returns["measure"] = "returns"
    out = pd.concat([sales, returns]).reset_index()
    out["period"] = label
    if "category" not in out:
        out["category"] = "(all)"
    for name in ("profiler", "ledger", *ITEMS):
        out[name] = out[name].fillna(0).astype(np.int64)
    out["difference"] = out["ledger"] - out["profiler"]
    out["explained"] = out[list(ITEMS)].sum(axis=1)
    out["residual"] = out["difference"] - out["explained"]
    return out.sort_values(["measure", *keys], kind="stable")


def _as_pence(values: object, keys: list[str]) -> pd.Series:
    """A catalog money metric by ``keys`` (pounds, each a sum of whole pence / 100) back in
    whole pence: the nearest integer is exact."""
    series = values if isinstance(values, pd.Series) else pd.Series(dtype=float)
    if isinstance(series.index, pd.MultiIndex):
        series.index = series.index.set_levels([level.astype(str) for level in series.index.levels])
    else:
        series.index = series.index.astype(str)
    series.index.names = keys
    return pd.Series(
        np.rint(series.to_numpy(dtype=np.float64) * PENCE).astype(np.int64), index=series.index
    )


def parse_months(period: str | None, first: str | None, last: str | None) -> list[Period] | None:
    """The months of ``--period`` (a month, quarter, year, year to date or rolling 12 months)
    or ``--from``/``--to``."""
    if period and (first or last):
        raise ProfilerError("Give either --period or --from/--to, not both.")
    if period:
        span = parse_period(period)
        if span.kind == "asof":  # no first month: every period of the grammar but this one
            raise ProfilerError(
                f"--period takes YYYY-MM, YYYY-Qn, YYYY, ytd:YYYY-MM or r12:YYYY-MM; got '{period}'."
            )
        months = [Period("month", span.start, span.start + pd.DateOffset(months=1))]
        while months[-1].end < span.end:
            months.append(months[-1].shifted(1))
        return months
    if first or last:
        if not (first and last):
            raise ProfilerError("Give both --from and --to (YYYY-MM).")
        return months_between(first, last)
    return None
