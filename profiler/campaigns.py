"""Campaigns with a random control group: the register and the measured response.

A campaign's audience is split at random into *treated* (contacted) and *control* (held out,
never contacted) by ``profiler audience --control``; ``profiler campaign add`` appends both groups
to the data folder's ``campaigns.csv`` (the contract's ``campaigns`` table); ``profiler campaign
report`` compares what the two groups bought in the window after the send.  Because the split is
random, the difference between the groups estimates what the campaign caused (the uplift), not
what its customers would have bought anyway.

Everything is computed here, once: the pure functions (``proportion_difference``,
``mean_difference``, ``minimum_detectable_effect``, ``control_split``, ``customer_responses``,
``measure``) work on small frames and arrays, so tests check them on hand-made data; the loaders
(``campaign_report``, ``campaign_reports``) read the data folder through the engine's loader
(``profiler.loading.load_sources``: the contract's rules and any withholding apply) and the
money through ``profiler.facts.order_facts`` (the catalog's net sales rule: kept lines only, in
whole pence).

Statistics
----------
- Response-rate uplift: difference of two independent proportions with the Wald (unpooled
  normal approximation) interval, Newcombe (1998) method 1 in "Interval estimation for the
  difference between independent proportions", Statistics in Medicine 17:873-890.
- Spend per customer uplift: difference of two means with Welch's t-interval (Welch 1947,
  "The generalization of Student's problem when several different population variances are
  involved", Biometrika 34:28-35), from ``scipy.stats.ttest_ind(equal_var=False)``.
- Power: the minimum detectable effect of a two-sample test of proportions, normal
  approximation (Fleiss, Levin & Paik, Statistical Methods for Rates and Proportions, 3rd ed.,
  2003, section 4.2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .contract import CAMPAIGN_GROUPS, OPT_IN_CHANNELS
from .errors import ProfilerError, clip
from .safecsv import FORMULA_STARTS

SMALL_GROUP = 30  # fewer customers in a group: normal approximations are rough, figures flagged
DEFAULT_WINDOW = 30  # days after the send in which an order counts as a response
REGISTER_COLUMNS = [
    "campaign",
    "customer_id",
    "group",
    "channel",
    "sent_at",
    "cost",
    "audience",
    "seed",
]


# ---------------------------------------------------------------------------------------------
# statistics


def z_value(level: float) -> float:
    """The two-sided normal quantile of a confidence ``level`` (1.959964 for 0.95)."""
    return float(stats.norm.ppf(0.5 + level / 2))


def minimum_detectable_effect(
    p: float, n_treated: int, n_control: int, *, alpha: float = 0.05, power: float = 0.80
) -> float:
    """The smallest difference in response rate a split of ``n_treated`` and ``n_control``
    customers detects with probability ``power`` at two-sided significance ``alpha``, when the
    response rate is ``p``: (z_{1-alpha/2} + z_{power}) x sqrt(p (1 - p) (1/n_t + 1/n_c)).

    Two-sample normal approximation for proportions (Fleiss, Levin & Paik, Statistical Methods
    for Rates and Proportions, 3rd ed., 2003, section 4.2), with the same ``p`` in both groups.
    NaN when a group is empty."""
    if n_treated <= 0 or n_control <= 0:
        return math.nan
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z * math.sqrt(p * (1 - p) * (1 / n_treated + 1 / n_control)))


def proportion_difference(
    x_treated: Any, n_treated: Any, x_control: Any, n_control: Any, *, level: float = 0.95
) -> tuple[Any, Any, Any]:
    """Difference of two independent proportions x_t/n_t - x_c/n_c with its Wald interval
    (unpooled standard error sqrt(p_t(1-p_t)/n_t + p_c(1-p_c)/n_c); Newcombe 1998, method 1).
    Works on numbers or numpy arrays (the simulation test draws thousands at once)."""
    n_t = np.asarray(n_treated, dtype=float)
    n_c = np.asarray(n_control, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_t = np.asarray(x_treated, dtype=float) / n_t
        p_c = np.asarray(x_control, dtype=float) / n_c
        se = np.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    diff = p_t - p_c
    half = z_value(level) * se
    return _plain(diff), _plain(diff - half), _plain(diff + half)


def mean_difference(
    treated: np.ndarray, control: np.ndarray, *, level: float = 0.95
) -> tuple[float, float, float]:
    """Difference of two means with Welch's t-interval (unequal variances; scipy's
    ``ttest_ind(equal_var=False)``).  The interval is NaN with fewer than 2 customers in a
    group, or when neither group varies (then the difference is exact)."""
    a, b = np.asarray(treated, dtype=float), np.asarray(control, dtype=float)
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan, math.nan
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return diff, math.nan, math.nan
    if a.var() == 0 and b.var() == 0:
        return diff, diff, diff
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
    return diff, float(ci.low), float(ci.high)


def _plain(value: np.ndarray) -> Any:
    return float(value) if np.ndim(value) == 0 else value


# ---------------------------------------------------------------------------------------------
# the control split


def parse_share(text: Any) -> float:
    """A control share written 10% or 0.1, strictly between 0 and 1; one line otherwise."""
    raw = str(text).strip()
    try:
        share = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ProfilerError(
            f"--control: '{clip(raw)}' is not a share; write it as 10% or 0.1."
        ) from None
    if not 0 < share < 1 or math.isnan(share):
        raise ProfilerError(
            f"--control: {clip(raw)} leaves no one in a group; give a share above 0 and below "
            "100% (e.g. 10%)."
        )
    return share


def control_split(
    customer_ids: pd.Series | np.ndarray,
    strata: pd.Series | np.ndarray | None,
    share: float,
    seed: int,
) -> np.ndarray:
    """Which customers are held out as control: in each stratum (all customers as one when
    ``strata`` is None) round(share x its size) customers drawn at random without replacement.

    Reproducible: customers are put in id order within a stratum and strata in name order
    before ``numpy.random.default_rng(seed)`` draws, so the same customers and seed give the
    same split whatever order they came in."""
    ids = pd.Series(np.asarray(customer_ids)).astype(str).to_numpy()
    groups = (
        np.zeros(len(ids), dtype=object)
        if strata is None
        else pd.Series(np.asarray(strata, dtype=object)).fillna("(none)").astype(str).to_numpy()
    )
    rng = np.random.default_rng(seed)
    control = np.zeros(len(ids), dtype=bool)
    for stratum in sorted(set(groups.tolist())):
        members = np.flatnonzero(groups == stratum)
        members = members[np.argsort(ids[members], kind="stable")]
        take = int(np.floor(share * len(members) + 0.5))
        control[rng.choice(members, size=take, replace=False)] = True
    return control


# ---------------------------------------------------------------------------------------------
# the response of each customer


def window_end(sent_at: pd.Timestamp, days: int) -> pd.Timestamp:
    """The window's last day: orders on days sent_at <= day < sent_at + days count."""
    return pd.Timestamp(sent_at).normalize() + pd.Timedelta(days=days - 1)


def customer_responses(
    members: pd.DataFrame, facts: pd.DataFrame, sent_at: Any, days: int
) -> pd.DataFrame:
    """One row per member (``customer_id``, ``group``) with ``responded`` (at least one kept
    line ordered in the window), ``orders`` (orders with a kept line in the window) and
    ``spend_pence`` (net amount of the kept lines, whole pence).  ``facts`` are order facts
    (``profiler.facts.order_facts``): kept lines are those with status ``completed``, the
    catalog's rule for net sales and orders (returned and cancelled lines are not sales)."""
    start = pd.Timestamp(sent_at).normalize()
    stop = start + pd.Timedelta(days=days)
    ids = members["customer_id"].astype(str)
    # The window first (midnight to midnight, so no day rounding): the ids of its few lines are
    # then compared as text, the register's type, without converting every line's id.
    at = pd.to_datetime(facts["ordered_at"])
    inside = ((at >= start) & (at < stop)).to_numpy()
    inside = inside & (facts["status"] == "completed").to_numpy()
    near = facts.loc[inside, ["customer_id", "order_id", "net_pence"]]
    lines = near[near["customer_id"].astype(str).isin(set(ids)).to_numpy()]
    lines = lines.assign(customer_id=lines["customer_id"].astype(str))
    per = lines.groupby("customer_id").agg(
        orders=("order_id", "nunique"), spend_pence=("net_pence", "sum")
    )
    out = pd.DataFrame({"customer_id": ids.to_numpy(), "group": members["group"].to_numpy()})
    out["orders"] = ids.map(per["orders"]).fillna(0).astype("int64").to_numpy()
    out["spend_pence"] = ids.map(per["spend_pence"]).fillna(0).astype("int64").to_numpy()
    out["responded"] = out["orders"] > 0
    return out


# ---------------------------------------------------------------------------------------------
# the measured figures


@dataclass
class Measured:
    """What one campaign did: per group and the differences, with notes."""

    groups: pd.DataFrame  # group, customers, responders, response_rate, orders, spend_per_customer
    figures: dict[str, float]
    notes: list[str] = field(default_factory=list)


def measure(
    responses: pd.DataFrame,
    *,
    cost: float = 0.0,
    level: float = 0.95,
    min_size: int = 10,
) -> Measured:
    """Per group: customers, responders, response rate, orders and spend per customer (GBP);
    the response-rate uplift (treated - control) with its Wald interval, the spend per customer
    uplift with Welch's interval, the incremental revenue (spend uplift x treated customers,
    interval likewise) and the ROI ((incremental revenue - cost) / cost; NaN when the cost is
    0).  ``responses`` is ``customer_responses``'s frame; ``min_size`` is the snapshot's k."""
    rows = []
    spend: dict[str, np.ndarray] = {}
    for group in CAMPAIGN_GROUPS:
        part = responses[responses["group"] == group]
        spend[group] = part["spend_pence"].to_numpy(dtype=float) / 100
        n = len(part)
        rows.append(
            {
                "group": group,
                "customers": n,
                "responders": int(part["responded"].sum()),
                "response_rate": part["responded"].mean() if n else math.nan,
                "orders": int(part["orders"].sum()),
                "spend_per_customer": spend[group].mean() if n else math.nan,
            }
        )
    groups = pd.DataFrame(rows)
    t, c = rows
    uplift, low, high = proportion_difference(
        t["responders"], t["customers"], c["responders"], c["customers"], level=level
    )
    s_up, s_low, s_high = mean_difference(spend["treated"], spend["control"], level=level)
    n_t = t["customers"]
    figures = {
        "treated_customers": n_t,
        "control_customers": c["customers"],
        "treated_responders": t["responders"],
        "control_responders": c["responders"],
        "treated_response_rate": t["response_rate"],
        "control_response_rate": c["response_rate"],
        "treated_orders": t["orders"],
        "control_orders": c["orders"],
        "treated_spend_per_customer": t["spend_per_customer"],
        "control_spend_per_customer": c["spend_per_customer"],
        "uplift": uplift,
        "uplift_low": low,
        "uplift_high": high,
        "spend_uplift": s_up,
        "spend_uplift_low": s_low,
        "spend_uplift_high": s_high,
        "incremental_revenue": s_up * n_t,
        "incremental_revenue_low": s_low * n_t,
        "incremental_revenue_high": s_high * n_t,
        "cost": float(cost),
    }
    for key in ("", "_low", "_high"):
        revenue = figures[f"incremental_revenue{key}"]
        figures[f"roi{key}"] = (revenue - cost) / cost if cost > 0 else math.nan
    notes = []
    for row in rows:
        if row["customers"] < min_size:
            notes.append(
                f"The {row['group']} group has {row['customers']} customers, fewer than the "
                f"snapshot's minimum of {min_size}: a snapshot would not show its figures."
            )
        elif row["customers"] < SMALL_GROUP:
            notes.append(
                f"The {row['group']} group has {row['customers']} customers (< {SMALL_GROUP}): "
                "the intervals are rough."
            )
    return Measured(groups, figures, notes)


# ---------------------------------------------------------------------------------------------
# audience files and the register


def audience_files(path: str | Path) -> tuple[Path, Path, Path]:
    """An audience's three files: FILE.csv (treated), FILE.control.csv and FILE.json."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix.lower() == ".csv" else path
    return path, Path(f"{base}.control.csv"), Path(f"{base}.json")


def read_audience(path: str | Path) -> tuple[list[str], list[str], dict[str, Any]]:
    """The treated and control customer ids and the sidecar of an audience written with
    ``profiler audience --control``; one line naming the missing file otherwise."""
    treated_file, control_file, sidecar_file = audience_files(path)
    for file, what in (
        (treated_file, "audience file"),
        (control_file, "control file"),
        (sidecar_file, "sidecar"),
    ):
        if not file.is_file():
            raise ProfilerError(
                f"No {what} {file}: a campaign needs an audience written by 'profiler audience "
                "--control', which writes FILE.csv, FILE.control.csv and FILE.json together."
            )
    try:
        about = json.loads(sidecar_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ProfilerError(
            f"{sidecar_file}: not the JSON 'profiler audience' writes ({err})."
        ) from None
    ids = []
    for file in (treated_file, control_file):
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
        if "customer_id" not in frame.columns:
            raise ProfilerError(f"{file}: no customer_id column; expected an audience file.")
        ids.append(frame["customer_id"].str.lstrip("'").tolist())
    return ids[0], ids[1], about


def _register_file(data_dir: Path) -> Path:
    """The register's file: the one the data folder has (CSV or Parquet), else campaigns.csv."""
    from .mapping import find_source_file

    found = find_source_file(data_dir, "campaigns")
    if found is not None and found.suffix.lower() not in (".csv", ".parquet"):
        raise ProfilerError(
            f"{found}: the campaign register is kept as campaigns.csv or campaigns.parquet; "
            "'profiler campaign add' does not rewrite this format."
        )
    return found or data_dir / "campaigns.csv"


def read_register(data_dir: str | Path) -> pd.DataFrame:
    """The register's rows as written (text), for appending and listing."""
    file = _register_file(Path(data_dir))
    if not file.exists():
        return pd.DataFrame(columns=REGISTER_COLUMNS)
    if file.suffix.lower() == ".parquet":
        frame = pd.read_parquet(file)
        for column in ("sent_at",):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
        return frame.astype(str).replace({"None": "", "nan": "", "<NA>": ""})
    return pd.read_csv(file, dtype=str, keep_default_na=False)


def add_campaign(
    data_dir: str | Path,
    name: str,
    audience: str | Path,
    channel: str,
    sent_at: Any,
    cost: float = 0.0,
) -> pd.DataFrame:
    """Append a campaign's treated and control customers to DATA/campaigns.csv (rewritten whole
    or not at all) and return the rows added.  One line refuses: a name already used (any
    letter case), a channel other than the one the audience's consent was checked for, a
    missing control file or sidecar, a bad date, a negative cost."""
    from .outputs import replacing
    from .safecsv import write_csv
    from .source_files import source_folder

    folder = source_folder(data_dir)
    name = str(name).strip()
    if not name or name.startswith(FORMULA_STARTS):
        raise ProfilerError(
            f"--name: '{clip(name)}' cannot name a campaign; give a name that does not start "
            "with = + - or @."
        )
    if channel not in OPT_IN_CHANNELS:
        raise ProfilerError(
            f"--channel: '{clip(channel)}'; expected one of {', '.join(OPT_IN_CHANNELS)}."
        )
    try:
        cost = float(cost)
    except (TypeError, ValueError):
        raise ProfilerError(f"--cost: '{clip(cost)}' is not an amount in GBP.") from None
    if not cost >= 0 or math.isinf(cost):
        raise ProfilerError(f"--cost: {cost:g} is not a cost; give 0 or more (GBP).")
    sent = _day(sent_at)
    treated, control, about = read_audience(audience)
    if about.get("channel") != channel:
        raise ProfilerError(
            f"--channel {channel}: the audience {Path(audience).name} was selected with consent "
            f"to {about.get('channel')}; contact its customers on {about.get('channel')} only."
        )
    register = read_register(folder)
    used = {str(n).casefold(): str(n) for n in register.get("campaign", [])}
    if name.casefold() in used:
        raise ProfilerError(
            f"--name: a campaign '{clip(used[name.casefold()])}' is already in "
            f"{_register_file(folder)}; give each campaign its own name."
        )
    rows = pd.DataFrame(
        {
            "campaign": name,
            "customer_id": treated + control,
            "group": ["treated"] * len(treated) + ["control"] * len(control),
            "channel": channel,
            "sent_at": f"{sent:%Y-%m-%d}",
            "cost": f"{cost:.2f}",
            "audience": Path(audience).name,
            "seed": "" if about.get("seed") is None else str(about["seed"]),
        }
    )
    target = _register_file(folder)
    if target.suffix.lower() == ".parquet":
        _append_parquet(target, rows)
        return rows
    combined = pd.concat([register, rows], ignore_index=True) if len(register) else rows
    with replacing(target) as tmp:
        write_csv(combined, tmp)
    return rows


def _append_parquet(target: Path, rows: pd.DataFrame) -> None:
    """Append ``rows`` (text) to a Parquet register in its own schema, rewritten whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .outputs import replacing

    existing = pq.read_table(target)
    columns = {}
    for schema_field in existing.schema:
        values = rows.get(schema_field.name)
        texts = [None] * len(rows) if values is None else [v if v != "" else None for v in values]
        columns[schema_field.name] = pa.array(texts, type=pa.string()).cast(schema_field.type)
    added = pa.table(columns, schema=existing.schema)
    with replacing(target) as tmp:
        pq.write_table(pa.concat_tables([existing, added]), tmp)


def _day(value: Any) -> pd.Timestamp:
    if isinstance(value, pd.Timestamp):
        return value.normalize()
    text = str(value).strip()
    try:
        day = pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d"))
    except (ValueError, TypeError):
        raise ProfilerError(f"--sent: '{clip(text)}' is not a day written YYYY-MM-DD.") from None
    return day


def campaign_list(data_dir: str | Path) -> pd.DataFrame:
    """One row per campaign in the register: name, channel, sent, cost, treated and control
    customers (as written, in the order added)."""
    register = read_register(data_dir)
    if register.empty:
        return pd.DataFrame(
            columns=["campaign", "channel", "sent_at", "cost", "treated", "control", "audience"]
        )
    return (
        register.groupby("campaign", sort=False)
        .agg(
            channel=("channel", "first"),
            sent_at=("sent_at", "first"),
            cost=("cost", "first"),
            treated=("group", lambda g: int((g == "treated").sum())),
            control=("group", lambda g: int((g == "control").sum())),
            audience=("audience", "first"),
        )
        .reset_index()
    )


# ---------------------------------------------------------------------------------------------
# the report over a data folder


@dataclass
class CampaignReport:
    """A campaign's measured response in its window."""

    campaign: str
    channel: str
    sent_at: pd.Timestamp
    window_days: int
    observed_days: int
    data_end: pd.Timestamp
    measured: Measured

    @property
    def window_last(self) -> pd.Timestamp:
        return window_end(self.sent_at, self.window_days)

    @property
    def complete(self) -> bool:
        return self.observed_days >= self.window_days

    @property
    def title(self) -> str:
        label = (
            f"Campaign '{self.campaign}' ({self.channel}), sent {self.sent_at:%Y-%m-%d}: orders "
            f"{self.sent_at:%Y-%m-%d} to {self.window_last:%Y-%m-%d} ({self.window_days} days)"
        )
        if not self.complete:
            label += f", incomplete: {self.observed_days} of {self.window_days} days observed"
        return label

    def row(self) -> dict[str, Any]:
        """The report as one flat row (the Campaigns sheet, --json, CP_CAMPAIGN)."""
        return {
            "campaign": self.campaign,
            "channel": self.channel,
            "sent_at": f"{self.sent_at:%Y-%m-%d}",
            "window_from": f"{self.sent_at:%Y-%m-%d}",
            "window_to": f"{self.window_last:%Y-%m-%d}",
            "window_days": self.window_days,
            "observed_days": self.observed_days,
            "status": "complete"
            if self.complete
            else f"incomplete: {self.observed_days} of {self.window_days} days observed",
            **self.measured.figures,
            "notes": " ".join(self.measured.notes),
        }


FIGURES = (
    "treated_customers",
    "control_customers",
    "treated_responders",
    "control_responders",
    "treated_response_rate",
    "control_response_rate",
    "treated_orders",
    "control_orders",
    "treated_spend_per_customer",
    "control_spend_per_customer",
    "uplift",
    "uplift_low",
    "uplift_high",
    "spend_uplift",
    "spend_uplift_low",
    "spend_uplift_high",
    "incremental_revenue",
    "incremental_revenue_low",
    "incremental_revenue_high",
    "cost",
    "roi",
    "roi_low",
    "roi_high",
    "observed_days",
    "status",
    "window_from",
    "window_to",
    "sent_at",
    "channel",
)


def parse_window(text: Any) -> int:
    """A window in days written 30d or 30 (1 or more)."""
    raw = str(text if text not in (None, "") else DEFAULT_WINDOW).strip().lower()
    try:
        days = float(raw[:-1] if raw.endswith("d") else raw)
    except ValueError:
        days = math.nan
    if not days >= 1 or days != int(days):
        raise ProfilerError(f"--window: '{clip(raw)}' is not a number of days, e.g. 30d.")
    return int(days)


def load_campaign_data(data_dir: str | Path, today: Any = None) -> tuple[Any, pd.DataFrame]:
    """The data folder's sources (order lines and campaigns, through the engine's loader) and
    their order facts as the data stands (every return known)."""
    from .facts import order_facts
    from .loading import load_sources

    source = load_sources(data_dir, today=today, tables=("order_lines", "campaigns"))
    if "campaigns" not in source.tables:
        return source, pd.DataFrame()
    return source, order_facts(source, None)


def campaign_reports(
    data_dir: str | Path,
    window_days: int = DEFAULT_WINDOW,
    *,
    names: list[str] | None = None,
    today: Any = None,
    min_size: int | None = None,
) -> list[CampaignReport]:
    """Every campaign of the data folder's register (or those ``names``, any letter case),
    measured over ``window_days`` after its send, in the order added."""
    source, facts = load_campaign_data(data_dir, today)
    if "campaigns" not in source.tables:
        if names:
            raise ProfilerError(
                f"No campaigns in {source.data_dir}: add one with 'profiler campaign add'."
            )
        return []
    register = source.tables["campaigns"]
    known = {str(n).casefold(): str(n) for n in register["campaign"].unique()}
    wanted = list(known.values())
    if names:
        from .names import did_you_mean

        wanted = []
        for name in names:
            if str(name).strip().casefold() not in known:
                raise ProfilerError(
                    f"Unknown campaign '{clip(name)}'.{did_you_mean(str(name), list(known.values()))}"
                    " See 'profiler campaign list'."
                )
            wanted.append(known[str(name).strip().casefold()])
    if min_size is None:
        from .cohorts import load_cohort_spec

        min_size = int(load_cohort_spec().get("min_cohort_size", 10))
    data_end = pd.Timestamp(source.latest("order_lines", "ordered_at")).normalize()
    reports = []
    for name in wanted:
        rows = register[register["campaign"].astype(str) == name]
        sent = pd.Timestamp(rows["sent_at"].iloc[0]).normalize()
        observed = int(min(window_days, max(0, (data_end - sent).days + 1)))
        responses = customer_responses(
            rows[["customer_id", "group"]].astype(str), facts, sent, window_days
        )
        cost = float(pd.to_numeric(rows["cost"], errors="coerce").fillna(0).iloc[0])
        measured = measure(responses, cost=cost, min_size=min_size)
        report = CampaignReport(
            name, str(rows["channel"].iloc[0]), sent, window_days, observed, data_end, measured
        )
        if not report.complete:
            measured.notes.insert(
                0,
                f"Incomplete: {observed} of {window_days} days observed (the data ends "
                f"{data_end:%Y-%m-%d}).",
            )
        reports.append(report)
    return reports


def campaign_report(
    data_dir: str | Path, name: str, window_days: int = DEFAULT_WINDOW, *, today: Any = None
) -> CampaignReport:
    """One campaign's report (``campaign_reports``)."""
    return campaign_reports(data_dir, window_days, names=[name], today=today)[0]
