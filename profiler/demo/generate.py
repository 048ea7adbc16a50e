"""Generating the demo: every table in memory from one random stream, or customers in chunks.

This is the one place that fixes the order in which tables are drawn from the random streams
and which stream each chunk uses, so the same ``customers``, ``seed`` and chunk size give
byte-identical files.

The main stream (``default_rng(seed)``, or a chunk's spawned stream) draws customers, products,
fx, the orders and their lines, then the per-customer tables.  The campaigns (campaigns.py)
come after, from streams of their own seeded by (seed, chunk): they add ``profiling_opt_out`` to
the preferences, pick each audience and its control group, and add the treated customers'
response orders to the order lines (renumbered in time order).  So every table but the order
lines, what is booked from them (ledger, targets) and the campaigns is what it was without
campaigns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .campaigns import (
    CampaignDraw,
    campaign_rng,
    campaigns_table,
    draw_campaigns,
    with_profiling_objections,
)
from .ledger import book_ledger, book_parts, draw_journals, ledger_parts, monthly_fx_rates
from .plan import plan_parts, plan_table
from .profiles import daily_fx, draw_customers
from .tables import (
    FIRST_ORDER_ID,
    accounts_table,
    customer_table,
    draw_products,
    enrichment_table,
    interactions_table,
    order_lines_table,
    preferences_table,
    surveys_table,
)
from .writer import Appender, write_table

# Chunked generation (``chunk_customers``) is what ``profiler generate`` and the benchmark use
# above this many customers: a chunk of 1M customers (~18M order lines) needs no more memory than
# generating 1M customers at once (~7 GB), however many chunks follow.
DEFAULT_CHUNK_CUSTOMERS = 1_000_000


@dataclass
class GenerationReport:
    """What was written, for the summary the CLI prints."""

    out_dir: Path
    rows: dict[str, int]
    seconds: float
    chunks: int = 1
    campaigns: dict[str, dict[str, int]] = field(default_factory=dict)


def generate_demo(
    customers: int,
    seed: int,
    out_dir: str | Path,
    *,
    file_format: str = "parquet",
    progress: Callable[[str], None] | None = None,
    chunk_customers: int | None = None,
    campaign_lifts: dict[str, float] | None = None,
) -> GenerationReport:
    """Write the demo tables (one file each) to ``out_dir`` and return their row counts.

    Parameters
    ----------
    customers, seed
        The population size and random seed; with the chunk size they fix every byte written.
    chunk_customers
        When ``customers`` exceeds it, customers are generated this many at a time, each chunk
        from its own random stream (``np.random.SeedSequence(seed).spawn``) and appended to one
        file per table, so peak memory is that of one chunk.  Customer and order ids run on
        across chunks; products, fx rates and journals are generated once and the ledger is
        booked from every chunk's lines.  ``None`` (or a population that fits in one chunk)
        generates everything in memory, exactly as before.
    campaign_lifts
        The response lift of each campaign (campaigns.py); ``None``: ``CAMPAIGN_LIFTS``.  A lift
        of 0 writes the counterfactual: the same audiences, with no response orders.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if chunk_customers is not None and chunk_customers < 1:
        raise ValueError(f"chunk_customers must be at least 1, not {chunk_customers}")
    if file_format not in ("parquet", "csv"):
        raise ValueError(f"unknown format {file_format!r}: expected parquet or csv")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    if chunk_customers is None or customers <= chunk_customers:
        rows, draws = _generate_whole(customers, seed, out, file_format, say, campaign_lifts)
        chunks = 1
    else:
        rows, draws = _generate_chunked(
            customers, seed, out, file_format, say, chunk_customers, campaign_lifts
        )
        chunks = -(-customers // chunk_customers)
    return GenerationReport(
        out, rows, time.perf_counter() - started, chunks, _campaign_summary(draws)
    )


def _campaign_summary(draws: list[CampaignDraw]) -> dict[str, dict[str, int]]:
    """Per campaign, summed over chunks: audience, treated, and the treated customers who
    respond in the counterfactual and those given a response order."""
    summary: dict[str, dict[str, int]] = {}
    for d in draws:
        got = summary.setdefault(
            d.campaign.name,
            {"audience": 0, "treated": 0, "counterfactual_responders": 0, "added_responders": 0},
        )
        got["audience"] += len(d.customer_ids)
        got["treated"] += d.treated
        got["counterfactual_responders"] += d.counterfactual_responders
        got["added_responders"] += d.added_responders
    return summary


def _generate_whole(
    customers: int,
    seed: int,
    out: Path,
    file_format: str,
    say: Callable[[str], None],
    campaign_lifts: dict[str, float] | None,
) -> tuple[dict[str, int], list[CampaignDraw]]:
    """Every table built in memory from one random stream, then written."""
    rng = np.random.default_rng(seed)
    say("customers")
    people = draw_customers(rng, customers)
    say("products")
    products = draw_products(rng)
    say("order lines")
    fx = daily_fx(rng)
    lines, favourite = order_lines_table(rng, people, products, fx)
    say("interactions, surveys, preferences, enrichment, accounts")
    tables = {
        "customers": customer_table(rng, people),
        "products": products["table"],
        "order_lines": lines,
        "interactions": interactions_table(rng, people),
        "surveys": surveys_table(rng, people),
        "preferences": preferences_table(rng, people),
        "enrichment": enrichment_table(rng, people),
        "accounts": accounts_table(rng, people),
    }
    say("campaigns")
    # From streams of their own (campaigns.py): the tables above are as without campaigns.
    tables["preferences"] = with_profiling_objections(
        campaign_rng(seed, 0, 0), tables["preferences"]
    )
    draws, lines = draw_campaigns(
        seed, 0, people, products, fx, lines, favourite, tables["preferences"], campaign_lifts
    )
    tables["order_lines"] = lines
    say("ledger")
    tables["fx_rates"] = monthly_fx_rates(fx)
    tables["journals"] = draw_journals(rng)
    tables["ledger"] = book_ledger(lines, products, tables["fx_rates"], tables["journals"])
    tables["targets"] = plan_table(plan_parts(lines))  # no draw: the streams above are unchanged
    tables["campaigns"] = campaigns_table(draws, seed)
    rows = {}
    for name, table in tables.items():
        say(f"writing {name}")
        write_table(table, out / f"{name}.{file_format}", file_format)
        rows[name] = table.num_rows
    return rows, draws


_TABLE_ORDER = (
    "customers",
    "products",
    "order_lines",
    "interactions",
    "surveys",
    "preferences",
    "enrichment",
    "accounts",
    "fx_rates",
    "journals",
    "ledger",
    "targets",
    "campaigns",
)


def _chunks(customers: int, size: int) -> Iterator[tuple[int, int]]:
    """(first customer index, count) of each chunk."""
    for first in range(0, customers, size):
        yield first, min(size, customers - first)


def _generate_chunked(
    customers: int,
    seed: int,
    out: Path,
    file_format: str,
    say: Callable[[str], None],
    chunk_customers: int,
    campaign_lifts: dict[str, float] | None,
) -> tuple[dict[str, int], list[CampaignDraw]]:
    """Customers a chunk at a time, each chunk's tables appended to one file per table.

    Stream 0 of the seed's spawned streams draws what is shared (products, daily fx, journals);
    stream ``k + 1`` draws chunk ``k``, so a chunk's data depend only on the seed, its number
    and its size.  The ledger's parts are additive over lines, so they are summed over chunks
    and booked once at the end.
    """
    spans = list(_chunks(customers, chunk_customers))
    streams = np.random.SeedSequence(seed).spawn(1 + len(spans))
    shared = np.random.default_rng(streams[0])
    say("products, fx rates, journals")
    products = draw_products(shared)
    fx = daily_fx(shared)
    fx_rates = monthly_fx_rates(fx)
    journals = draw_journals(shared)
    # Per-customer tables, in the order each chunk draws them from its stream (after the
    # customers themselves and their order lines, as in one stream).
    side_tables: dict[str, Callable[[np.random.Generator, dict], pa.Table]] = {
        "customers": customer_table,
        "interactions": interactions_table,
        "surveys": surveys_table,
        "preferences": preferences_table,
        "enrichment": enrichment_table,
        "accounts": accounts_table,
    }
    names = ["order_lines", *side_tables]
    writers = {name: Appender(out / f"{name}.{file_format}", file_format) for name in names}
    parts: pd.DataFrame | None = None
    plan: pd.DataFrame | None = None
    draws: list[CampaignDraw] = []
    next_order_id = FIRST_ORDER_ID
    try:
        for k, (first, count) in enumerate(spans):
            rng = np.random.default_rng(streams[k + 1])
            say(f"chunk {k + 1}/{len(spans)}: customers {first + 1:,} to {first + count:,}")
            people = draw_customers(rng, count)
            people["first_id"] = first + 1
            lines, favourite = order_lines_table(
                rng, people, products, fx, first_order_id=next_order_id
            )
            side = {name: make(rng, people) for name, make in side_tables.items()}
            # Campaigns from streams of their own (campaigns.py), chunk k's: (seed, _, k, _).
            side["preferences"] = with_profiling_objections(
                campaign_rng(seed, k, 0), side["preferences"]
            )
            chunk_draws, lines = draw_campaigns(
                seed, k, people, products, fx, lines, favourite, side["preferences"], campaign_lifts
            )
            draws.extend(chunk_draws)
            if lines.num_rows:
                next_order_id = int(pc.max(lines["order_id"]).as_py()) + 1
            writers["order_lines"].write(lines)
            chunk_parts = ledger_parts(lines, products, fx_rates)
            parts = chunk_parts if parts is None else parts.add(chunk_parts, fill_value=0.0)
            chunk_plan = plan_parts(lines)
            plan = chunk_plan if plan is None else plan.add(chunk_plan, fill_value=0.0)
            del lines, chunk_parts
            for name, table in side.items():
                writers[name].write(table)
            del side
        for writer in writers.values():
            writer.close()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    assert parts is not None
    say("ledger")
    rows = {name: writer.rows for name, writer in writers.items()}
    for name, table in (
        ("products", products["table"]),
        ("fx_rates", fx_rates),
        ("journals", journals),
        ("ledger", book_parts(parts, journals)),
        ("targets", plan_table(plan if plan is not None else pd.DataFrame())),
        ("campaigns", campaigns_table(draws, seed)),
    ):
        say(f"writing {name}")
        write_table(table, out / f"{name}.{file_format}", file_format)
        rows[name] = table.num_rows
    return {name: rows[name] for name in _TABLE_ORDER}, draws
