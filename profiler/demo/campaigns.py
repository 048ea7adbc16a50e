"""The demo retailer's campaigns, each with a response lift that is true by construction.

Two campaigns (``CAMPAIGNS``), in date order:

* "Autumn lookbook", a printed lookbook by post to lapsing clients (two or more orders, the
  last 6 to 18 months before the send), sent 2025-09-18;
* "Private view", an e-mail invitation to active high-value clients (at least
  ``HIGH_VALUE_GBP`` of kept orders in the 12 months before the send), sent 2026-04-01, three
  months before the data end.

The audience of each is its cohort among customers who can be reached on its channel: a
preferences row with ``opt_in_<channel>`` and ``contactable``, and no objection to profiling
(``profiling_opt_out``, drawn here for ``PROFILING_OPT_OUT_SHARE`` of the preferences rows).
``CONTROL_SHARE`` of the audience is held out as control at random, stratified by spend band
over the two years before the send (within a band of s customers, floor(share x s + u)
controls, u uniform, so the expected share is exact).  A cohort is read from the orders as
they stand at the send (an earlier campaign's responses included).

What is true by construction, for each campaign with lift ``L = CAMPAIGN_LIFTS[name]``:

* **Response lift.**  A customer responds when they place an order that is not cancelled in
  the response window, ``RESPONSE_DAYS`` days from ``sent_at`` (the send day included).  Let
  p0 be the treated group's response rate in the counterfactual, the orders the generator would
  have written without this campaign (it knows them).  Each treated customer who did not
  respond there gets one extra order in the window with probability L / (1 - p0), so the
  expected number of new responders is L x treated: the treated group's response rate rises by
  exactly L in expectation.  The control group, and everyone's orders outside the windows of
  the treated, are untouched, so treated minus control estimates L without bias.
* **Spend lift, which follows.**  An extra order is drawn with the demo's own line drawing
  (``tables.draw_lines``: the customer's market, currency and tastes, price points, sale
  discounts, returns), never cancelled, on a day in the window that decays from the send
  (truncated exponential, mean ``RESPONSE_DECAY_DAYS``).  The expected extra spend per treated
  customer is L x the mean value of such an order: not a constant, it depends on who the
  audience is.

Streams: everything here draws from generators of its own, seeded by (seed,
``CAMPAIGN_SEED``, chunk, k) with k = 0 for the profiling objections and k = 1, 2, ... for each
campaign, so the tables drawn from the main stream are as they were without campaigns, and a
campaign's draws do not depend on another's lift.  Only the order lines (and what is booked
from them: ledger, targets) change, and the campaigns table is added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .profiles import DAYS, START
from .tables import draw_lines

RESPONSE_DAYS = 30
RESPONSE_DECAY_DAYS = 7.0  # mean delay of a response order after the send, before truncation
CONTROL_SHARE = 0.15
HIGH_VALUE_GBP = 5_000.0
PROFILING_OPT_OUT_SHARE = 0.01
# Stratification of the control split: spend in GBP over the two years before the send.
SPEND_BANDS = (1_000.0, 5_000.0, 20_000.0)
CAMPAIGN_SEED = 25  # issue 25


@dataclass(frozen=True)
class Campaign:
    name: str
    channel: str  # one of contract.OPT_IN_CHANNELS
    sent_at: str  # ISO day
    cohort: str  # "lapsing" or "active high value"
    cost_per_contact: float  # GBP per treated customer
    audience: str  # the audience file the campaign was sent from

    @property
    def sent_day(self) -> int:
        """Days from the demo's first day to the send."""
        return int((np.datetime64(self.sent_at) - START).astype(int))


CAMPAIGNS = (
    Campaign(
        "Autumn lookbook", "post", "2025-09-18", "lapsing", 1.85, "autumn-lookbook-lapsing.csv"
    ),
    Campaign(
        "Private view",
        "email",
        "2026-04-01",
        "active high value",
        0.08,
        "private-view-high-value.csv",
    ),
)
# The known lift of each campaign: the rise in the treated group's probability of ordering in
# the response window (see the module docstring).
CAMPAIGN_LIFTS = {"Autumn lookbook": 0.03, "Private view": 0.06}
for _c in CAMPAIGNS:
    assert _c.sent_day + RESPONSE_DAYS <= DAYS, f"{_c.name}: the window ends after the data"


@dataclass
class CampaignDraw:
    """One campaign's audience in one chunk of customers, and what its lift added."""

    campaign: Campaign
    customer_ids: np.ndarray
    control: np.ndarray  # bool, per audience customer
    counterfactual_responders: int  # treated customers who respond without the campaign
    added_responders: int  # treated customers given a response order

    @property
    def treated(self) -> int:
        return int((~self.control).sum())


def campaign_rng(seed: int, chunk: int, k: int) -> np.random.Generator:
    """The generator of draw ``k`` of chunk ``chunk`` (see the module docstring)."""
    return np.random.default_rng([seed, CAMPAIGN_SEED, chunk, k])


def with_profiling_objections(rng: np.random.Generator, preferences: pa.Table) -> pa.Table:
    """The preferences with ``profiling_opt_out``: a few customers object to profiling."""
    objects = rng.random(preferences.num_rows) < PROFILING_OPT_OUT_SHARE
    return preferences.append_column("profiling_opt_out", pa.array(objects))


class _Orders:
    """Per-order arrays of order lines (one entry per order that is not cancelled), to read
    cohorts and responses from; extra orders are appended as they are drawn."""

    def __init__(self, lines: pa.Table, first_id: int) -> None:
        self.cust = np.empty(0, np.int64)
        self.day = np.empty(0, np.int32)
        self.gbp = np.empty(0, np.float64)
        self.add(lines, first_id)

    def add(self, lines: pa.Table, first_id: int) -> None:
        if lines.num_rows == 0:
            return
        kept = pc.not_equal(lines["status"].cast(pa.string()), "cancelled").to_numpy(
            zero_copy_only=False
        )
        order_id = lines["order_id"].to_numpy()[kept]
        gbp = (lines["net_amount"].to_numpy() * lines["fx_to_reporting"].to_numpy())[kept]
        # Lines of an order are contiguous: sum them per order.
        starts = np.flatnonzero(np.r_[True, order_id[1:] != order_id[:-1]])
        at = lines["ordered_at"].to_numpy().astype("datetime64[s]")[kept][starts]
        day = (at - START.astype("datetime64[s]")).astype("timedelta64[D]").astype(np.int32)
        cust = lines["customer_id"].to_numpy()[kept][starts] - first_id
        self.cust = np.concatenate([self.cust, cust])
        self.day = np.concatenate([self.day, day])
        self.gbp = np.concatenate([self.gbp, np.add.reduceat(gbp, starts) if len(gbp) else gbp])

    def in_days(self, n: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Per customer: orders and GBP spent on days lo <= day < hi."""
        inside = (self.day >= lo) & (self.day < hi)
        cust = self.cust[inside]
        return np.bincount(cust, minlength=n), np.bincount(
            cust, weights=self.gbp[inside], minlength=n
        )

    def last_day_before(self, n: int, day: int) -> np.ndarray:
        """Per customer: the day of the last order before ``day`` (-1: none)."""
        last = np.full(n, -1, np.int32)
        before = self.day < day
        np.maximum.at(last, self.cust[before], self.day[before])
        return last


def _cohort(campaign: Campaign, orders: _Orders, n: int) -> np.ndarray:
    sent = campaign.sent_day
    if campaign.cohort == "active high value":
        _, spend = orders.in_days(n, sent - 365, sent)
        return spend >= HIGH_VALUE_GBP
    if campaign.cohort == "lapsing":
        count, _ = orders.in_days(n, 0, sent)
        last = orders.last_day_before(n, sent)
        return (count >= 2) & (last >= sent - 540) & (last < sent - 180)
    raise ValueError(f"unknown cohort {campaign.cohort!r}")


def _reachable(preferences: pa.Table, channel: str, n: int, first_id: int) -> np.ndarray:
    """Per customer: may be contacted on ``channel`` (opted in, contactable, no objection)."""
    ok = np.zeros(n, bool)
    index = preferences["customer_id"].to_numpy() - first_id
    ok[index] = (
        preferences[f"opt_in_{channel}"].to_numpy(zero_copy_only=False)
        & preferences["contactable"].to_numpy(zero_copy_only=False)
        & ~preferences["profiling_opt_out"].to_numpy(zero_copy_only=False)
    )
    return ok


def _split(rng: np.random.Generator, spend: np.ndarray) -> np.ndarray:
    """Control flags of an audience, CONTROL_SHARE at random within each spend band."""
    band = np.searchsorted(SPEND_BANDS, spend, side="right")
    key = rng.random(len(spend))
    rounding = rng.random(len(SPEND_BANDS) + 1)
    control = np.zeros(len(spend), bool)
    for b in range(len(SPEND_BANDS) + 1):
        members = np.flatnonzero(band == b)
        count = int(np.floor(CONTROL_SHARE * len(members) + rounding[b]))
        control[members[np.argsort(key[members], kind="stable")[:count]]] = True
    return control


def draw_campaigns(
    seed: int,
    chunk: int,
    people: dict,
    products: dict,
    fx: dict,
    lines: pa.Table,
    favourite: np.ndarray,
    preferences: pa.Table,
    lifts: dict[str, float] | None = None,
) -> tuple[list[CampaignDraw], pa.Table]:
    """Each campaign's audience and split, and the order lines with its response orders
    (order ids renumbered in time order from the first of ``lines``)."""
    lifts = CAMPAIGN_LIFTS if lifts is None else lifts
    n = int(people["n"])
    first_id = int(people.get("first_id", 1))
    orders = _Orders(lines, first_id)
    if lines.num_rows == 0:
        return [
            CampaignDraw(c, np.empty(0, np.int64), np.empty(0, bool), 0, 0) for c in CAMPAIGNS
        ], lines
    first_order = int(pc.min(lines["order_id"]).as_py())
    next_order = int(pc.max(lines["order_id"]).as_py()) + 1
    extras: list[pa.Table] = []
    draws: list[CampaignDraw] = []
    for k, campaign in enumerate(CAMPAIGNS, start=1):
        rng = campaign_rng(seed, chunk, k)
        sent = campaign.sent_day
        audience = np.flatnonzero(
            _cohort(campaign, orders, n) & _reachable(preferences, campaign.channel, n, first_id)
        )
        _, spend = orders.in_days(n, sent - 730, sent)
        control = _split(rng, spend[audience])
        treated = audience[~control]
        window, _ = orders.in_days(n, sent, sent + RESPONSE_DAYS)
        responded = window[treated] > 0
        p0 = responded.mean() if len(treated) else 0.0
        lift = float(lifts.get(campaign.name, 0.0))
        chance = min(1.0, lift / (1.0 - p0)) if p0 < 1 else 0.0
        gets = ~responded & (rng.random(len(treated)) < chance)
        cust = treated[gets]
        u = rng.random(len(cust))
        tail = 1.0 - np.exp(-RESPONSE_DAYS / RESPONSE_DECAY_DAYS)
        offset = np.floor(-RESPONSE_DECAY_DAYS * np.log1p(-u * tail)).astype(np.int32)
        day = sent + np.minimum(offset, RESPONSE_DAYS - 1)
        ordered = (
            START.astype("datetime64[s]")
            + day.astype("timedelta64[D]")
            + rng.integers(10 * 3600, 19 * 3600, len(cust)).astype("timedelta64[s]")
        )
        chrono = np.lexsort((cust, ordered))
        cust, day, ordered = cust[chrono], day[chrono], ordered[chrono]
        if len(cust):
            extra, _ = draw_lines(
                rng,
                people,
                products,
                fx,
                cust,
                day,
                ordered,
                first_order_id=next_order,
                favourite=favourite,
                cancel_rate=0.0,
            )
            next_order += len(cust)
            extras.append(extra)
            orders.add(extra, first_id)
        draws.append(
            CampaignDraw(
                campaign,
                (audience + first_id).astype(np.int64),
                control,
                int(responded.sum()),
                len(cust),
            )
        )
    return draws, _in_time_order(lines, extras, first_order)


def _in_time_order(lines: pa.Table, extras: list[pa.Table], first_order: int) -> pa.Table:
    """The order lines and the extra orders' lines in one table, order ids renumbered from
    ``first_order`` in time order (ties: the earlier id first, so ``lines`` alone keep theirs)."""
    if not extras:
        return lines
    table = pa.concat_tables([lines, *extras])
    order_id = table["order_id"].to_numpy()
    at = table["ordered_at"].cast(pa.int64()).to_numpy()
    rows = np.lexsort((table["line_id"].to_numpy(), order_id, at))
    sorted_id = order_id[rows]
    new_order = np.r_[True, sorted_id[1:] != sorted_id[:-1]]
    renumbered = first_order + np.cumsum(new_order) - 1
    table = table.take(pa.array(rows))
    column = table.schema.get_field_index("order_id")
    return table.set_column(column, "order_id", pa.array(renumbered.astype(np.int64)))


def campaigns_table(draws: list[CampaignDraw], seed: int) -> pa.Table:
    """The campaigns table (contract ``campaigns``) from every chunk's draws: one row per
    campaign and audience customer; the cost is the cost per contact x all treated."""
    columns: dict[str, list] = {name: [] for name in _COLUMNS}
    for campaign in CAMPAIGNS:
        mine = [d for d in draws if d.campaign is campaign]
        ids = np.concatenate([np.empty(0, np.int64), *(d.customer_ids for d in mine)])
        control = np.concatenate([np.empty(0, bool), *(d.control for d in mine)])
        m = len(ids)
        cost = round(campaign.cost_per_contact * int((~control).sum()), 2)
        columns["campaign"].append(np.full(m, campaign.name, object))
        columns["customer_id"].append(ids)
        columns["group"].append(np.where(control, "control", "treated").astype(object))
        columns["channel"].append(np.full(m, campaign.channel, object))
        columns["sent_at"].append(np.full(m, np.datetime64(campaign.sent_at, "D")))
        columns["cost"].append(np.full(m, cost))
        columns["audience"].append(np.full(m, campaign.audience, object))
        columns["seed"].append(np.full(m, seed, np.int64))
    return pa.table(
        {name: pa.array(np.concatenate(parts), _COLUMNS[name]) for name, parts in columns.items()}
    )


_COLUMNS = {
    "campaign": pa.string(),
    "customer_id": pa.int64(),
    "group": pa.string(),
    "channel": pa.string(),
    "sent_at": pa.date32(),
    "cost": pa.float64(),
    "audience": pa.string(),
    "seed": pa.int64(),
}
