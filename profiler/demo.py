"""A deterministic synthetic luxury retailer: the demo data every feature is tried on.

Latent customer types drive how often people buy, what, where and for how much, so later
features (RFM, lifecycle, CLV, personas) have something true to find.  Repeat purchases follow
a BG/NBD-style process: each customer buys at a Poisson rate drawn from a gamma distribution
and, after each repeat purchase, drops out with a probability drawn from a beta distribution.
Purchases are thinned by a seasonal weight (Q4 and sale-season peaks), and the digital share of
orders grows over the four years.

The ledger is built from the same order lines the way a finance team books them, so it ties to
the order lines except for documented reconciling items (docs/data-contract.md):

* returns are booked in the month the goods come back, not the month of the order;
* cancelled orders placed on a month's last day are booked in that month and reversed in the
  next (they were cancelled after the month closed);
* Finance converts at the month's average rate (``fx_rates``), the order lines at the daily rate;
* a few manual journals (``journals``) are posted to net sales.

Everything is vectorised with numpy so 1M customers (~20M order lines) fit in about a minute.
Larger populations are generated in chunks of customers (``chunk_customers``), each appended to
one file per table, so memory is bounded by one chunk rather than the population.  The same
``customers``, ``seed`` and chunk size give byte-identical files.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .contract import CATEGORIES, INTERACTION_TYPES, PRICE_POINTS, REGIONS, TOPICS, WEALTH_BANDS
from .facts import pounds, to_minor_units
from .outputs import naming, replacing, temporary_beside

# Chunked generation (``chunk_customers``) is what ``profiler generate`` and the benchmark use
# above this many customers: a chunk of 1M customers (~18M order lines) needs no more memory than
# generating 1M customers at once (~7 GB), however many chunks follow.
DEFAULT_CHUNK_CUSTOMERS = 1_000_000
FIRST_ORDER_ID = 1_000_001

START = np.datetime64("2022-07-01")
END = np.datetime64("2026-06-30")  # last day with orders
DAYS = int((END - START).astype(int)) + 1

# Sale seasons (late June-July, Boxing Day-mid January) and the Q4 gifting peak, by day of year.
_SALE_DAYS = [(176, 212), (360, 366), (1, 15)]
_PEAK_DAYS = [(305, 359)]  # November and December before Boxing Day

REAL_CATEGORIES = [c for c in CATEGORIES if c != "unknown"]


@dataclass(frozen=True)
class CustomerType:
    """A latent customer type: the hidden truth behind the generated behaviour."""

    name: str
    share: float
    orders_per_year: float  # mean Poisson purchase rate (gamma-distributed across customers)
    dropout: float  # mean probability of dropping out after each repeat purchase
    extra_lines: float  # mean number of lines beyond the first per order
    price_points: tuple[float, float, float, float]  # entry, core, high, icon
    digital: float  # share of orders online at the start (grows over time)
    clienteling: float  # share of orders through a client adviser
    peak: float  # extra weight in the Q4 gifting peak
    sale: float  # extra weight in sale seasons
    categories: dict[str, float]
    engagement: float  # mean interactions per year
    nps_mean: float
    return_rate: float
    tourist: bool = False


TYPES = (
    CustomerType(
        "top client",
        0.03,
        20.0,
        0.03,
        1.6,
        (0.05, 0.25, 0.40, 0.30),
        0.15,
        0.35,
        0.6,
        0.0,
        {
            "leather goods": 3,
            "jewellery": 3,
            "watches": 2,
            "ready-to-wear": 3,
            "shoes": 2,
            "home": 1,
        },
        14.0,
        9.0,
        0.05,
    ),
    CustomerType(
        "seasonal gifter",
        0.20,
        5.5,
        0.10,
        1.3,
        (0.30, 0.45, 0.20, 0.05),
        0.25,
        0.02,
        3.0,
        0.3,
        {
            "fragrance": 3,
            "small leather goods": 3,
            "silk & scarves": 3,
            "jewellery": 1,
            "beauty": 2,
        },
        2.0,
        7.5,
        0.08,
    ),
    CustomerType(
        "one-off tourist",
        0.22,
        1.0,
        0.60,
        1.2,
        (0.10, 0.40, 0.35, 0.15),
        0.0,
        0.0,
        0.3,
        0.2,
        {
            "leather goods": 4,
            "small leather goods": 2,
            "watches": 1,
            "silk & scarves": 1,
            "eyewear": 1,
        },
        0.3,
        6.5,
        0.04,
        True,
    ),
    CustomerType(
        "aspirational entry buyer",
        0.33,
        4.5,
        0.12,
        1.2,
        (0.60, 0.30, 0.08, 0.02),
        0.35,
        0.0,
        0.5,
        1.5,
        {"beauty": 3, "fragrance": 3, "small leather goods": 2, "eyewear": 2, "accessories": 2},
        1.0,
        6.8,
        0.10,
    ),
    CustomerType(
        "digital native",
        0.22,
        7.5,
        0.10,
        1.5,
        (0.30, 0.45, 0.20, 0.05),
        0.70,
        0.0,
        0.6,
        0.8,
        {"ready-to-wear": 4, "shoes": 3, "accessories": 2, "eyewear": 1, "beauty": 1},
        1.5,
        6.0,
        0.20,
    ),
)

# Home countries: (share, currency, region, language, cities, stores)
COUNTRIES = {
    "GB": (
        0.30,
        "GBP",
        "UK",
        "en",
        ["London", "Manchester", "Edinburgh"],
        ["LON01", "LON02", "MAN01", "EDI01"],
    ),
    "FR": (0.10, "EUR", "Europe", "fr", ["Paris", "Lyon", "Nice"], ["PAR01", "PAR02", "NCE01"]),
    "IT": (0.06, "EUR", "Europe", "it", ["Milan", "Rome"], ["MIL01", "ROM01"]),
    "DE": (0.06, "EUR", "Europe", "de", ["Munich", "Berlin"], ["MUC01", "BER01"]),
    "CH": (0.03, "CHF", "Europe", "de", ["Zurich", "Geneva"], ["ZRH01", "GVA01"]),
    "US": (
        0.15,
        "USD",
        "Americas",
        "en",
        ["New York", "Los Angeles", "Miami"],
        ["NYC01", "LAX01", "MIA01"],
    ),
    "CN": (0.12, "CNY", "Asia Pacific", "zh", ["Shanghai", "Beijing"], ["SHA01", "PEK01"]),
    "JP": (0.06, "JPY", "Asia Pacific", "ja", ["Tokyo", "Osaka"], ["TYO01", "OSA01"]),
    "HK": (0.04, "HKD", "Asia Pacific", "zh", ["Hong Kong"], ["HKG01"]),
    "SG": (0.03, "SGD", "Asia Pacific", "en", ["Singapore"], ["SIN01"]),
    "AE": (0.05, "AED", "Middle East", "ar", ["Dubai", "Abu Dhabi"], ["DXB01", "AUH01"]),
}
TOURIST_DESTINATIONS = ["GB", "FR", "IT"]
FX_BASE = {
    "GBP": 1.0,
    "EUR": 0.86,
    "USD": 0.79,
    "CHF": 0.90,
    "CNY": 0.11,
    "JPY": 0.0055,
    "HKD": 0.101,
    "SGD": 0.59,
    "AED": 0.215,
}

SUB_CATEGORIES = {
    "leather goods": ["handbags", "totes", "travel"],
    "small leather goods": ["wallets", "card holders", "belts"],
    "ready-to-wear": ["dresses", "knitwear", "outerwear", "tailoring"],
    "shoes": ["sneakers", "loafers", "heels", "boots"],
    "jewellery": ["rings", "necklaces", "earrings", "bracelets"],
    "watches": ["automatic", "quartz"],
    "eyewear": ["sunglasses", "optical"],
    "fragrance": ["eau de parfum", "eau de toilette", "home fragrance"],
    "beauty": ["lipstick", "skincare", "make-up"],
    "silk & scarves": ["carrés", "twillies", "shawls"],
    "accessories": ["hats", "gloves", "keyrings"],
    "home": ["tableware", "textiles", "objects"],
}
BASE_PRICE_GBP = {
    "leather goods": 1500,
    "small leather goods": 350,
    "ready-to-wear": 900,
    "shoes": 650,
    "jewellery": 2500,
    "watches": 6000,
    "eyewear": 350,
    "fragrance": 150,
    "beauty": 70,
    "silk & scarves": 400,
    "accessories": 300,
    "home": 500,
}
PRICE_POINT_MULTIPLIER = (0.5, 1.0, 2.0, 4.0)
# Collection names come from a merchandising system where anyone can type; two start with
# characters a spreadsheet would read as a formula, on purpose (see the Excel tests).
COLLECTIONS = [
    "Icons",
    "Resort",
    "Spring-Summer",
    "Autumn-Winter",
    "Holiday",
    "Cruise",
    "=Atelier Capsule",
    "-Archive",
]
FIRST_NAMES = "Amelia Olivia Isla Ava Sophie Emma Chloé Léa Giulia Sofia Hannah Mia Yui Mei Wei Aisha Fatima Noor Grace Charlotte James Oliver Louis Lucas Marco Luca Felix Max Hiro Kenji Jun Omar Ahmed Ethan Liam Noah Arthur Hugo Leon Daniel".split()
LAST_NAMES = "Smith Jones Taylor Brown Martin Bernard Dubois Rossi Russo Ferrari Müller Schmidt Schneider Tanaka Suzuki Wang Li Zhang Chen Al-Farsi Haddad Johnson Williams Garcia Moreau Laurent Bianchi Weber Sato Kim".split()
PORTFOLIOS = [
    "London Private Clients",
    "Paris VIC",
    "Dubai Elite",
    "New York Private Clients",
    "Shanghai VIC",
    "Tokyo Collectors",
    # Names as a source system may hold them: text that a spreadsheet would take for a formula.
    "=Legacy book (migrated)",
    "@Home clienteling",
]
TOPIC_NAMES = [
    "product availability",
    "order status",
    "repair",
    "personal styling",
    "delivery",
    "returns",
    "new collection",
    "event invitation",
]
DEPARTMENTS = ["women", "men", "unisex", "home"]
MOSAIC_GROUPS = {
    "A City Prosperity": ["A01 World-Class Wealth", "A02 Uptown Elite", "A03 Penthouse Chic"],
    "B Prestige Positions": ["B04 Diamond Days", "B05 Alpha Families", "B06 Bank of Mum and Dad"],
    "C Country Living": ["C07 Rural Vogue", "C08 Wealthy Landowners"],
    "D Rural Reality": ["D09 Village Retirement", "D10 Satellite Settlers"],
    "E Senior Security": ["E11 Legacy Elders", "E12 Bungalow Heaven"],
    "F Suburban Stability": ["F13 Family Ties", "F14 Outlying Seniors"],
    "G Domestic Success": ["G15 Cultural Comfort", "G16 Thriving Independence"],
    "H Aspiring Homemakers": ["H17 Contemporary Starts", "H18 Primary Ambitions"],
    "I Urban Cohesion": ["I19 Cultural Diversity", "I20 Community Elders"],
    "J Rental Hubs": ["J21 Student Scene", "J22 Career Builders", "J23 Metro Singles"],
}


@dataclass
class GenerationReport:
    """What was written, for the summary the CLI prints."""

    out_dir: Path
    rows: dict[str, int]
    seconds: float
    chunks: int = 1


def generate_demo(
    customers: int,
    seed: int,
    out_dir: str | Path,
    *,
    file_format: str = "parquet",
    progress: Callable[[str], None] | None = None,
    chunk_customers: int | None = None,
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
        rows = _generate_whole(customers, seed, out, file_format, say)
        chunks = 1
    else:
        rows = _generate_chunked(customers, seed, out, file_format, say, chunk_customers)
        chunks = -(-customers // chunk_customers)
    return GenerationReport(out, rows, time.perf_counter() - started, chunks)


def _generate_whole(
    customers: int, seed: int, out: Path, file_format: str, say: Callable[[str], None]
) -> dict[str, int]:
    """Every table built in memory from one random stream, then written."""
    rng = np.random.default_rng(seed)
    say("customers")
    people = _customers(rng, customers)
    say("products")
    products = _products(rng)
    say("order lines")
    fx = _daily_fx(rng)
    lines = _order_lines(rng, people, products, fx)
    say("interactions, surveys, preferences, enrichment, accounts")
    tables = {
        "customers": _customer_table(rng, people),
        "products": products["table"],
        "order_lines": lines,
        "interactions": _interactions(rng, people),
        "surveys": _surveys(rng, people),
        "preferences": _preferences(rng, people),
        "enrichment": _enrichment(rng, people),
        "accounts": _accounts(rng, people),
    }
    say("ledger")
    tables["fx_rates"] = _fx_rates(fx)
    tables["journals"] = _journals(rng)
    tables["ledger"] = _ledger(lines, products, tables["fx_rates"], tables["journals"])
    rows = {}
    for name, table in tables.items():
        say(f"writing {name}")
        _write(table, out / f"{name}.{file_format}", file_format)
        rows[name] = table.num_rows
    return rows


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
) -> dict[str, int]:
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
    products = _products(shared)
    fx = _daily_fx(shared)
    fx_rates = _fx_rates(fx)
    journals = _journals(shared)
    # Per-customer tables, in the order each chunk draws them from its stream (after the
    # customers themselves and their order lines, as in one stream).
    side_tables: dict[str, Callable[[np.random.Generator, dict], pa.Table]] = {
        "customers": _customer_table,
        "interactions": _interactions,
        "surveys": _surveys,
        "preferences": _preferences,
        "enrichment": _enrichment,
        "accounts": _accounts,
    }
    names = ["order_lines", *side_tables]
    writers = {name: _Appender(out / f"{name}.{file_format}", file_format) for name in names}
    parts: pd.DataFrame | None = None
    next_order_id = FIRST_ORDER_ID
    try:
        for k, (first, count) in enumerate(spans):
            rng = np.random.default_rng(streams[k + 1])
            say(f"chunk {k + 1}/{len(spans)}: customers {first + 1:,} to {first + count:,}")
            people = _customers(rng, count)
            people["first_id"] = first + 1
            lines = _order_lines(rng, people, products, fx, first_order_id=next_order_id)
            if lines.num_rows:
                next_order_id = int(pc.max(lines["order_id"]).as_py()) + 1
            writers["order_lines"].write(lines)
            chunk_parts = _ledger_parts(lines, products, fx_rates)
            parts = chunk_parts if parts is None else parts.add(chunk_parts, fill_value=0.0)
            del lines, chunk_parts
            for name, make in side_tables.items():
                writers[name].write(make(rng, people))
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
        ("ledger", _book_ledger(parts, journals)),
    ):
        say(f"writing {name}")
        _write(table, out / f"{name}.{file_format}", file_format)
        rows[name] = table.num_rows
    return {name: rows[name] for name in _TABLE_ORDER}


# ---------------------------------------------------------------------------------------------
# customers


def _customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    shares = np.array([t.share for t in TYPES])
    ctype = rng.choice(len(TYPES), size=n, p=shares / shares.sum()).astype(np.int8)
    codes = list(COUNTRIES)
    weights = np.array([COUNTRIES[c][0] for c in codes])
    home = rng.choice(len(codes), size=n, p=weights / weights.sum()).astype(np.int8)
    # Tourists mostly live far from the stores they buy in.
    tourist = np.array([t.tourist for t in TYPES])[ctype]
    far = np.array([codes.index(c) for c in ("CN", "US", "AE", "JP", "HK", "SG")])
    home[tourist] = far[rng.integers(0, len(far), tourist.sum())]
    # Acquisition (first purchase) day, slightly more in recent years as the business grows.
    acquired = np.floor(DAYS * rng.power(1.15, n)).astype(np.int32)
    buyer = rng.random(n) >= 0.04  # a few CRM sign-ups never buy
    return {"n": np.array(n), "type": ctype, "home": home, "acquired": acquired, "buyer": buyer}


def _ids(people: dict, index: np.ndarray) -> np.ndarray:
    """Customer ids of positions in ``people``: 1, 2, ... unless the chunk starts further on."""
    return (index + people.get("first_id", 1)).astype(np.int64)


def _customer_table(rng: np.random.Generator, people: dict) -> pa.Table:
    n = int(people["n"])
    codes = list(COUNTRIES)
    home = people["home"]
    ids = _ids(people, np.arange(n))
    lead = rng.integers(0, 200, n) * (rng.random(n) < 0.5)
    created_day = np.maximum(people["acquired"] - lead, 0)
    created = (
        START
        + created_day.astype("timedelta64[D]")
        + rng.integers(9 * 3600, 20 * 3600, n).astype("timedelta64[s]")
    )
    # Non-buyers registered at a random time.
    stores = [COUNTRIES[c][5][0] for c in codes]
    languages = [COUNTRIES[c][3] for c in codes]
    young = people["type"] == 4
    birth = np.where(young, rng.integers(1985, 2003, n), rng.integers(1945, 1995, n)).astype(
        np.float64
    )
    birth[rng.random(n) < 0.15] = np.nan
    gender_idx = rng.choice(4, size=n, p=[0.62, 0.33, 0.01, 0.04])
    first = np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n)]
    names = np.char.add(np.char.add(first, " "), last)
    local = np.char.lower(np.char.add(np.char.add(first, "."), np.char.replace(last, " ", "")))
    email = np.char.add(np.char.add(local, ids.astype(str)), "@example.com")
    phone = np.char.add("+44 7700 ", np.char.zfill(rng.integers(0, 999999, n).astype(str), 6))
    return pa.table(
        {
            "customer_id": ids,
            "created_at": pa.array(created.astype("datetime64[s]")),
            "home_country": _dict(home, codes),
            "home_store": _dict(home, stores),
            "preferred_language": _dict(home, languages),
            "birth_year": _int_array(birth, pa.int32()),
            "gender": _dict(gender_idx, ["female", "male", "other", None]),
            "name": pa.array(names.tolist()),
            "email": pa.array(email.tolist()),
            "phone": pa.array(phone.tolist()),
        }
    )


# ---------------------------------------------------------------------------------------------
# products


def _products(rng: np.random.Generator) -> dict:
    """About 2,400 products: 50 per category x price point, launched over six years."""
    per_group = 50
    cats, pps, launch, price, subs, depts, colls = [], [], [], [], [], [], []
    for ci, cat in enumerate(REAL_CATEGORIES):
        for pi in range(len(PRICE_POINTS)):
            # A core range launched long before the data starts, then steady newness.
            days = np.sort(
                np.concatenate(
                    [
                        rng.integers(-3 * 365, -365, per_group // 5),
                        rng.integers(-365, DAYS - 30, per_group - per_group // 5),
                    ]
                )
            )
            cats.append(np.full(per_group, ci))
            pps.append(np.full(per_group, pi))
            launch.append(days)
            gbp = (
                BASE_PRICE_GBP[cat] * PRICE_POINT_MULTIPLIER[pi] * rng.lognormal(0, 0.25, per_group)
            )
            price.append(np.maximum(5, np.round(gbp / 5) * 5))
            subs.append(rng.integers(0, len(SUB_CATEGORIES[cat]), per_group))
            depts.append(
                np.full(per_group, 3)
                if cat == "home"
                else rng.choice(3, per_group, p=[0.6, 0.3, 0.1])
            )
            colls.append(rng.integers(0, len(COLLECTIONS), per_group))
    cat = np.concatenate(cats)
    pp = np.concatenate(pps)
    launch_day = np.concatenate(launch).astype(np.int32)
    n = len(cat)
    product_id = np.arange(10001, 10001 + n, dtype=np.int64)
    sub_names = [f"{c}|{s}" for c in REAL_CATEGORIES for s in SUB_CATEGORIES[c]]
    sub_index = np.array(
        [
            sub_names.index(f"{REAL_CATEGORIES[c]}|{SUB_CATEGORIES[REAL_CATEGORIES[c]][s]}")
            for c, s in zip(cat, np.concatenate(subs), strict=True)
        ]
    )
    table = pa.table(
        {
            "product_id": product_id,
            "category": _dict(cat, REAL_CATEGORIES),
            "sub_category": _dict(sub_index, [s.split("|")[1] for s in sub_names]),
            "department": _dict(np.concatenate(depts), DEPARTMENTS),
            "collection": _dict(np.concatenate(colls), COLLECTIONS),
            "price_point": _dict(pp, list(PRICE_POINTS)),
            "launch_date": pa.array(
                (START + launch_day.astype("timedelta64[D]")).astype("datetime64[D]")
            ),
        }
    )
    group = cat * len(PRICE_POINTS) + pp  # products are contiguous per group, sorted by launch
    return {
        "table": table,
        "id": product_id,
        "category": cat,
        "price_point": pp,
        "launch": launch_day,
        "price": np.concatenate(price),
        "group": group,
    }


# ---------------------------------------------------------------------------------------------
# orders and order lines


def _season_weight(day: np.ndarray, ctype: np.ndarray) -> np.ndarray:
    doy = (
        (START + day.astype("timedelta64[D]")).astype("datetime64[D]")
        - (START + day.astype("timedelta64[D]")).astype("datetime64[Y]")
    ).astype(int) + 1
    peak = np.zeros(len(day), bool)
    for lo, hi in _PEAK_DAYS:
        peak |= (doy >= lo) & (doy <= hi)
    sale = np.zeros(len(day), bool)
    for lo, hi in _SALE_DAYS:
        sale |= (doy >= lo) & (doy <= hi)
    peak_amp = np.array([t.peak for t in TYPES])[ctype]
    sale_amp = np.array([t.sale for t in TYPES])[ctype]
    return 1.0 + peak_amp * peak + sale_amp * sale


def _daily_fx(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A daily rate to GBP per currency: a gentle random walk around a base rate."""
    rates = {}
    for cur, base in FX_BASE.items():
        if cur == "GBP":
            rates[cur] = np.ones(DAYS)
            continue
        walk = np.cumsum(rng.normal(0, 0.003, DAYS))
        rates[cur] = np.round(base * np.exp(walk - walk.mean()), 6)
    return rates


def _order_lines(
    rng: np.random.Generator,
    people: dict,
    products: dict,
    fx: dict,
    *,
    first_order_id: int = FIRST_ORDER_ID,
) -> pa.Table:
    n = int(people["n"])
    ctype = people["type"]
    buyers = np.flatnonzero(people["buyer"])
    t = ctype[buyers]
    acquired = people["acquired"][buyers]
    # Heterogeneous purchase rates (gamma) and dropout probabilities (beta), as in BG/NBD.
    rate = np.array([x.orders_per_year for x in TYPES])[t] / 365.0
    lam = rng.gamma(1.5, rate / 1.5)
    p_mean = np.array([x.dropout for x in TYPES])[t]
    p = rng.beta(4 * p_mean, 4 * (1 - p_mean))
    exposure = DAYS - acquired - 1
    # Candidate repeat purchases at the peak rate, thinned by the seasonal weight.
    peak_weight = 1.0 + np.array([x.peak + x.sale for x in TYPES])[t]
    candidates = rng.poisson(lam * exposure * peak_weight)
    owner = np.repeat(np.arange(len(buyers)), candidates)
    day = (
        acquired[owner]
        + 1
        + np.floor(rng.random(len(owner)) * np.maximum(exposure[owner], 0)).astype(np.int32)
    )
    keep = rng.random(len(owner)) * peak_weight[owner] < _season_weight(day, t[owner])
    owner, day = owner[keep], day[keep]
    order = np.lexsort((day, owner))
    owner, day = owner[order], day[order]
    # Drop out after the K-th repeat purchase, K ~ Geometric(p).
    starts = np.searchsorted(owner, np.arange(len(buyers)))
    rank = np.arange(len(owner)) - starts[owner] + 1
    lifetime = rng.geometric(p)
    alive = rank <= lifetime[owner]
    owner = np.concatenate([np.arange(len(buyers)), owner[alive]])
    day = np.concatenate([acquired, day[alive]])
    cust = buyers[owner]
    ctype_o = ctype[cust]
    n_orders = len(cust)
    seconds = rng.integers(10 * 3600, 19 * 3600, n_orders)
    ordered = (
        START.astype("datetime64[s]")
        + day.astype("timedelta64[D]")
        + seconds.astype("timedelta64[s]")
    )
    chrono = np.argsort(ordered, kind="stable")
    cust, ctype_o, day, ordered = cust[chrono], ctype_o[chrono], day[chrono], ordered[chrono]
    order_id = np.arange(first_order_id, first_order_id + n_orders, dtype=np.int64)

    # Channel: digital share grows over the years; clienteling for top clients.
    progress = day / DAYS
    digital = np.array([x.digital for x in TYPES])[ctype_o] * (0.6 + 0.8 * progress)
    advised = np.array([x.clienteling for x in TYPES])[ctype_o]
    u = rng.random(n_orders)
    app_share = 0.3 + 0.3 * progress
    channel = np.where(
        u < advised,
        3,
        np.where(u < advised + digital * (1 - app_share), 1, np.where(u < advised + digital, 2, 0)),
    ).astype(np.int8)
    # Where: home country, except tourists, who buy in London, Paris or Milan stores.
    codes = list(COUNTRIES)
    country = people["home"][cust].astype(np.int8)
    is_tourist = np.array([x.tourist for x in TYPES])[ctype_o]
    dest = np.array([codes.index(c) for c in TOURIST_DESTINATIONS])
    country[is_tourist] = dest[rng.integers(0, len(dest), is_tourist.sum())]
    cancelled_order = rng.random(n_orders) < 0.03

    # Lines.
    extra = np.array([x.extra_lines for x in TYPES])[ctype_o]
    n_lines = 1 + rng.poisson(extra)
    line_order = np.repeat(np.arange(n_orders), n_lines)
    n_total = len(line_order)
    first_line = np.cumsum(n_lines) - n_lines
    line_id = (np.arange(n_total) - first_line[line_order] + 1).astype(np.int16)
    l_type = ctype_o[line_order]
    l_day = day[line_order]
    # Category: the type's favourites, with each customer's own favourite weighted up.
    cat_weights = np.array([[x.categories.get(c, 0.3) for c in REAL_CATEGORIES] for x in TYPES])
    cat_cdf = np.cumsum(cat_weights / cat_weights.sum(1, keepdims=True), axis=1)
    favourite = (rng.random(n)[:, None] > cat_cdf[ctype]).sum(1)
    draw = (rng.random(n_total)[:, None] > cat_cdf[l_type]).sum(1)
    l_cust = cust[line_order]
    category = np.where(rng.random(n_total) < 0.4, favourite[l_cust], draw).astype(np.int16)
    category = np.minimum(category, len(REAL_CATEGORIES) - 1)
    pp_cdf = np.cumsum(np.array([x.price_points for x in TYPES]), axis=1)
    price_point = np.minimum((rng.random(n_total)[:, None] > pp_cdf[l_type]).sum(1), 3).astype(
        np.int16
    )
    # Product: among those already launched in the (category, price point) group; digital
    # natives lean to the newest.
    group = category * len(PRICE_POINTS) + price_point
    g_start = np.searchsorted(products["group"], np.arange(products["group"].max() + 1))
    keys = products["group"].astype(np.int64) * 100_000 + products["launch"]
    launched = (
        np.searchsorted(keys, group.astype(np.int64) * 100_000 + l_day, side="right")
        - g_start[group]
    )
    launched = np.maximum(launched, 1)
    newness = np.where(l_type == 4, 3.0, 1.0)
    pick = launched - 1 - np.floor(rng.random(n_total) ** newness * launched).astype(np.int64)
    product = g_start[group] + np.clip(pick, 0, launched - 1)
    # Money: local list price, sale-season discounts on entry and core lines.
    currency_of_country = [COUNTRIES[c][1] for c in codes]
    currencies = list(FX_BASE)
    l_currency = np.array([currencies.index(c) for c in currency_of_country])[country[line_order]]
    base_rate = np.array([FX_BASE[c] for c in currencies])[l_currency]
    # Local list prices are round numbers: whole units, hundreds for yen.
    local_price = products["price"][product] / base_rate
    unit_price = np.where(base_rate < 0.05, np.round(local_price, -2), np.round(local_price, 0))
    gift_or_beauty = np.isin(
        category, [REAL_CATEGORIES.index("fragrance"), REAL_CATEGORIES.index("beauty")]
    )
    quantity = (1 + (rng.random(n_total) < np.where(gift_or_beauty, 0.15, 0.04))).astype(np.int16)
    on_sale = _season_weight(l_day, np.full(n_total, 3, dtype=np.int8)) > 1.0
    discounted = on_sale & (price_point <= 1) & (rng.random(n_total) < 0.35)
    discount = np.where(discounted, np.where(rng.random(n_total) < 0.5, 0.3, 0.4), 0.0)
    net_amount = np.round(quantity * unit_price * (1 - discount), 2)
    fx_rate = np.stack([fx[c] for c in currencies])[l_currency, l_day]
    # Status: whole orders cancelled; lines returned at a rate by type and channel.
    l_channel = channel[line_order]
    ret_p = (
        np.array([x.return_rate for x in TYPES])[l_type] * np.array([0.6, 1.6, 1.3, 0.8])[l_channel]
    )
    returned = (rng.random(n_total) < ret_p) & ~cancelled_order[line_order]
    status = np.where(cancelled_order[line_order], 1, np.where(returned, 2, 0)).astype(np.int8)
    return_delay = rng.integers(2, 35, n_total).astype("timedelta64[D]") + rng.integers(
        0, 8 * 3600, n_total
    ).astype("timedelta64[s]")
    l_ordered = ordered[line_order]
    returned_at = np.where(returned, l_ordered + return_delay, np.datetime64("NaT"))
    store_names = [COUNTRIES[c][5] for c in codes]
    store_pick = rng.integers(0, 4, n_orders)
    store_idx = np.array([sum(len(s) for s in store_names[:i]) for i in range(len(codes))])
    store_code = store_idx[country] + store_pick % np.array([len(s) for s in store_names])[country]
    all_stores = [s for group_ in store_names for s in group_] + [f"WEB-{c}" for c in codes]
    store_code = np.where(
        np.isin(channel, [1, 2]), sum(len(s) for s in store_names) + country, store_code
    )
    return pa.table(
        {
            "order_id": order_id[line_order],
            "line_id": line_id,
            "customer_id": _ids(people, l_cust),
            "ordered_at": pa.array(l_ordered),
            "channel": _dict(l_channel, ["store", "web", "app", "clienteling"]),
            "store_id": _dict(store_code[line_order], all_stores),
            "country": _dict(country[line_order], codes),
            "product_id": products["id"][product],
            "quantity": quantity,
            "unit_price": unit_price,
            "discount": discount,
            "net_amount": net_amount,
            "currency": _dict(l_currency, currencies),
            "fx_to_reporting": fx_rate,
            "status": _dict(status, ["completed", "cancelled", "returned"]),
            "returned_at": pa.array(returned_at, mask=~returned),
        }
    )


# ---------------------------------------------------------------------------------------------
# customer-level side tables


def _engagement(people: dict) -> np.ndarray:
    return np.array([x.engagement for x in TYPES])[people["type"]]


def _interactions(rng: np.random.Generator, people: dict) -> pa.Table:
    years = (DAYS - people["acquired"]) / 365.0
    counts = rng.poisson(_engagement(people) * years * rng.gamma(2.0, 0.5, int(people["n"])))
    who = np.repeat(np.arange(int(people["n"])), counts)
    start = np.maximum(people["acquired"][who] - 60, 0)
    day = start + np.floor(rng.random(len(who)) * (DAYS - start)).astype(np.int32)
    at = (
        START.astype("datetime64[s]")
        + day.astype("timedelta64[D]")
        + rng.integers(9 * 3600, 21 * 3600, len(who)).astype("timedelta64[s]")
    )
    order = np.lexsort((at, who))
    who, at = who[order], at[order]
    ctype = people["type"][who]
    digital = ctype == 4
    itype = np.where(
        digital,
        rng.choice(len(INTERACTION_TYPES), len(who), p=[0.15, 0.05, 0.05, 0.02, 0.45, 0.25, 0.03]),
        rng.choice(len(INTERACTION_TYPES), len(who), p=[0.25, 0.06, 0.2, 0.12, 0.2, 0.1, 0.07]),
    )
    # Channel follows the type of interaction.
    channel_for_type = np.array(
        [1, 1, 0, 5, 2, 2, 0]
    )  # phone, phone, store, event, email, email, store
    channel = channel_for_type[itype]
    chat = (itype <= 1) & (rng.random(len(who)) < np.where(digital, 0.6, 0.3))
    channel = np.where(chat, 3, channel)
    social = (itype == 0) & digital & (rng.random(len(who)) < 0.2)
    channel = np.where(social, 4, channel)
    effort = rng.integers(1, 8, len(who)).astype(np.float64)
    effort[~np.isin(itype, [0, 1, 6]) | (rng.random(len(who)) < 0.5)] = np.nan
    effort = np.where(itype == 1, np.minimum(effort + 2, 7), effort)
    return pa.table(
        {
            "customer_id": _ids(people, who),
            "at": pa.array(at),
            "channel": _dict(channel, ["store", "phone", "email", "chat", "social", "event"]),
            "type": _dict(itype, list(INTERACTION_TYPES)),
            "topic": _dict(rng.integers(0, len(TOPIC_NAMES), len(who)), TOPIC_NAMES),
            "department": _dict(rng.integers(0, len(DEPARTMENTS), len(who)), DEPARTMENTS),
            "effort_score": _int_array(effort, pa.int8()),
        }
    )


def _surveys(rng: np.random.Generator, people: dict) -> pa.Table:
    n = int(people["n"])
    counts = rng.poisson(np.where(people["buyer"], 0.8, 0.05))
    who = np.repeat(np.arange(n), counts)
    day = people["acquired"][who] + np.floor(
        rng.random(len(who)) * (DAYS - people["acquired"][who])
    ).astype(np.int32)
    at = (
        START.astype("datetime64[s]")
        + day.astype("timedelta64[D]")
        + rng.integers(8 * 3600, 22 * 3600, len(who)).astype("timedelta64[s]")
    )
    order = np.lexsort((at, who))
    who, at = who[order], at[order]
    mood = np.array([x.nps_mean for x in TYPES])[people["type"]] + rng.normal(0, 1.5, n)
    nps = np.clip(np.round(mood[who] + rng.normal(0, 1.2, len(who))), 0, 10)
    csat = np.clip(np.round(1 + nps * 0.4 + rng.normal(0, 0.5, len(who))), 1, 5)
    nps[rng.random(len(who)) < 0.1] = np.nan
    csat[rng.random(len(who)) < 0.2] = np.nan
    digital = people["type"][who] == 4
    channel = np.where(
        digital,
        rng.choice(5, len(who), p=[0.15, 0.45, 0.3, 0.0, 0.1]),
        rng.choice(5, len(who), p=[0.6, 0.15, 0.05, 0.1, 0.1]),
    )
    return pa.table(
        {
            "customer_id": _ids(people, who),
            "at": pa.array(at),
            "channel": _dict(channel, ["store", "web", "app", "clienteling", "contact centre"]),
            "nps": _int_array(nps, pa.int8()),
            "csat": _int_array(csat, pa.int8()),
        }
    )


def _preferences(rng: np.random.Generator, people: dict) -> pa.Table:
    n = int(people["n"])
    who = np.flatnonzero(rng.random(n) < 0.9)
    engaged = np.clip(_engagement(people)[who] / 14.0, 0, 1)
    cols: dict[str, object] = {"customer_id": _ids(people, who)}
    for channel, base in (("email", 0.55), ("sms", 0.25), ("phone", 0.3), ("post", 0.2)):
        cols[f"opt_in_{channel}"] = rng.random(len(who)) < base + 0.4 * engaged
    for topic in TOPICS:
        cols[f"topic_{topic.replace(' ', '_')}"] = rng.random(len(who)) < 0.2 + 0.5 * engaged
    cols["preferred_department"] = _dict(
        rng.choice(len(DEPARTMENTS), len(who), p=[0.55, 0.3, 0.1, 0.05]), DEPARTMENTS
    )
    any_opt_in = (
        cols["opt_in_email"] | cols["opt_in_sms"] | cols["opt_in_phone"] | cols["opt_in_post"]
    )
    cols["contactable"] = any_opt_in & (rng.random(len(who)) < 0.95)
    consent_day = people["acquired"][who] + np.floor(
        rng.random(len(who)) * (DAYS - people["acquired"][who])
    ).astype(np.int32)
    cols["consent_updated_at"] = pa.array(
        START.astype("datetime64[s]")
        + consent_day.astype("timedelta64[D]")
        + rng.integers(0, 86400, len(who)).astype("timedelta64[s]")
    )
    return pa.table(cols)


def _enrichment(rng: np.random.Generator, people: dict) -> pa.Table:
    n = int(people["n"])
    who = np.flatnonzero(rng.random(n) < 0.85)
    codes = list(COUNTRIES)
    home = people["home"][who]
    ctype = people["type"][who]
    groups = list(MOSAIC_GROUPS)
    affluent = np.isin(ctype, [0])
    group = np.where(
        affluent,
        rng.integers(0, 2, len(who)),
        rng.choice(
            len(groups), len(who), p=[0.08, 0.1, 0.1, 0.08, 0.08, 0.12, 0.12, 0.12, 0.1, 0.1]
        ),
    )
    types = [t for g in groups for t in MOSAIC_GROUPS[g]]
    first_type = np.cumsum([0] + [len(MOSAIC_GROUPS[g]) for g in groups])[:-1]
    mtype = (
        first_type[group]
        + rng.integers(0, 10, len(who)) % np.array([len(MOSAIC_GROUPS[g]) for g in groups])[group]
    )
    wealth_p = {
        0: [0.35, 0.35, 0.2, 0.08, 0.02],
        1: [0.03, 0.1, 0.3, 0.37, 0.2],
        2: [0.1, 0.2, 0.3, 0.25, 0.15],
        3: [0.01, 0.03, 0.12, 0.34, 0.5],
        4: [0.02, 0.06, 0.2, 0.4, 0.32],
    }
    wealth = np.empty(len(who), dtype=np.int8)
    for k, probs in wealth_p.items():
        mask = ctype == k
        wealth[mask] = rng.choice(5, mask.sum(), p=probs)
    regions = list(REGIONS)
    region = np.array([regions.index(COUNTRIES[c][2]) for c in codes])[home]
    cities = [(i, city) for i, c in enumerate(codes) for city in COUNTRIES[c][4]]
    city_start = np.array(
        [next(j for j, (i, _) in enumerate(cities) if i == k) for k in range(len(codes))]
    )
    city_count = np.array([len(COUNTRIES[c][4]) for c in codes])
    city = city_start[home] + rng.integers(0, 10, len(who)) % city_count[home]
    return pa.table(
        {
            "customer_id": _ids(people, who),
            "mosaic_group": _dict(group, groups),
            "mosaic_type": _dict(mtype, types),
            "wealth_band": _dict(wealth, list(WEALTH_BANDS)),
            "region": _dict(region, regions),
            "city": _dict(city, [c for _, c in cities]),
        }
    )


def _accounts(rng: np.random.Generator, people: dict) -> pa.Table:
    n = int(people["n"])
    p_account = np.where(people["type"] == 0, 0.8, 0.03)
    who = np.flatnonzero((rng.random(n) < p_account) & people["buyer"])
    m = len(who)
    managed = (people["type"][who] == 0) & (rng.random(m) < 0.9)
    portfolio = rng.integers(0, len(PORTFOLIOS), m)
    advisers = [
        f"{f} {ln}"
        for f, ln in zip(
            FIRST_NAMES[: 3 * len(PORTFOLIOS)], LAST_NAMES[: 3 * len(PORTFOLIOS)], strict=True
        )
    ]
    adviser = portfolio * 3 + rng.integers(0, 3, m)
    limit = np.round(
        np.where(
            managed, rng.choice([25_000, 50_000, 100_000], m), rng.choice([2_000, 5_000, 10_000], m)
        ),
        2,
    )
    balance = np.round(limit * rng.beta(1.2, 5, m), 2)
    overdue = np.round(np.where(rng.random(m) < 0.12, balance * rng.uniform(0.1, 0.8, m), 0.0), 2)
    bad_debt = np.round(np.where(rng.random(m) < 0.05, rng.uniform(500, 15_000, m), 0.0), 2)
    return pa.table(
        {
            "customer_id": _ids(people, who),
            "portfolio": _dict(np.where(managed, portfolio, -1), PORTFOLIOS),
            "account_manager": _dict(np.where(managed, adviser, -1), advisers),
            "credit_limit": limit,
            "balance": balance,
            "overdue_amount": overdue,
            "bad_debt_written_off": bad_debt,
            "as_of": pa.array(np.full(m, END).astype("datetime64[D]")),
        }
    )


# ---------------------------------------------------------------------------------------------
# finance: booking rates, journals and the ledger


def _months() -> pd.PeriodIndex:
    return pd.period_range(str(START)[:7], str(END)[:7], freq="M")


def _fx_rates(fx: dict) -> pa.Table:
    days = pd.date_range(str(START), str(END), freq="D")
    month = days.strftime("%Y-%m")
    rows = []
    for cur, daily in fx.items():
        avg = pd.Series(daily).groupby(month).mean().round(6)
        rows.append(pd.DataFrame({"period": avg.index, "currency": cur, "rate": avg.to_numpy()}))
    frame = pd.concat(rows, ignore_index=True)
    return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)


def _journals(rng: np.random.Generator) -> pa.Table:
    months = _months().strftime("%Y-%m")
    reasons = [
        "Loyalty points accrual release",
        "Concession sales correction",
        "Gift card breakage recognised",
        "Price adjustment credit notes",
        "Duty-free refund correction",
        "Year-end sales cut-off adjustment",
    ]
    k = len(reasons)
    return pa.table(
        {
            "journal_id": [f"MJ-{i + 1:04d}" for i in range(k)],
            "period": pa.array(months[rng.integers(0, len(months), k)].tolist()),
            "channel": ["store", "web", "store", "app", "store", "web"],
            "category": pa.array(
                np.array(REAL_CATEGORIES)[rng.integers(0, len(REAL_CATEGORIES), k)].tolist()
            ),
            "amount": np.round(rng.choice([-1, 1], k) * rng.uniform(2_000, 40_000, k), 2),
            "description": reasons,
        }
    )


def _ledger(lines: pa.Table, products: dict, fx_rates: pa.Table, journals: pa.Table) -> pa.Table:
    """Book sales as Finance does; see the module docstring for the reconciling items."""
    return _book_ledger(_ledger_parts(lines, products, fx_rates), journals)


def _ledger_parts(lines: pa.Table, products: dict, fx_rates: pa.Table) -> pd.DataFrame:
    """The ledger's sums over order lines by month x channel x category: sales, late
    cancellations booked and reversed, and returns, in whole pence (each line booked at the
    month's rate and rounded to the penny, as an invoice line is).  Sums, so those of chunks of
    lines add up to those of all the lines."""
    frame = lines.select(
        ["ordered_at", "channel", "product_id", "net_amount", "currency", "status", "returned_at"]
    ).to_pandas()
    cat_of = pd.Series(np.array(REAL_CATEGORIES)[products["category"]], index=products["id"])
    frame["category"] = cat_of.reindex(frame["product_id"].to_numpy()).to_numpy()
    frame["channel"] = frame["channel"].astype(str)
    frame["currency"] = frame["currency"].astype(str)
    rates = fx_rates.to_pandas().set_index(["period", "currency"])["rate"]
    frame["month"] = frame["ordered_at"].dt.to_period("M")
    frame["rate"] = rates.reindex(
        pd.MultiIndex.from_arrays([frame["month"].astype(str), frame["currency"]])
    ).to_numpy()
    keys = ["month", "channel", "category"]
    sold = frame[frame["status"] != "cancelled"]

    def booked(frame: pd.DataFrame, rate: object) -> pd.Series:
        """Whole pence at the booking rate (missing where the month has no rate)."""
        rate = np.asarray(rate, dtype=np.float64)
        known = ~np.isnan(rate)
        pence = np.full(len(rate), np.nan)
        pence[known] = to_minor_units(frame["net_amount"].to_numpy()[known], rate[known])
        return pd.Series(pence, index=frame.index)

    sales = booked(sold, sold["rate"]).groupby([sold[k] for k in keys]).sum()
    # Cancelled after close: booked in the order month, reversed in the next.
    late = frame[(frame["status"] == "cancelled") & (frame["ordered_at"].dt.is_month_end)]
    late_value = booked(late, late["rate"]).groupby([late[k] for k in keys]).sum()
    reversal = late_value.copy()
    reversal.index = reversal.index.set_levels(reversal.index.levels[0] + 1, level=0)
    # Returns at the booking rate of the month they come back.
    back = frame[frame["status"] == "returned"].copy()
    back["month"] = back["returned_at"].dt.to_period("M")
    back_rate = rates.reindex(
        pd.MultiIndex.from_arrays([back["month"].astype(str), back["currency"]])
    ).to_numpy()
    returns = booked(back, back_rate).groupby([back[k] for k in keys]).sum()
    return pd.concat(
        {"sales": sales, "late": late_value, "reversal": -reversal, "returns": returns}, axis=1
    ).fillna(0.0)


def _book_ledger(parts: pd.DataFrame, journals: pa.Table) -> pa.Table:
    """The ledger from the lines' parts (``_ledger_parts``) and the manual journals."""
    keys = ["month", "channel", "category"]
    last_month = _months()[-1]
    jr = journals.to_pandas()
    jr["month"] = pd.PeriodIndex(jr["period"], freq="M")
    jr["pence"] = to_minor_units(jr["amount"].to_numpy()).astype(np.float64)
    journal = jr.groupby(keys)["pence"].sum()
    parts = pd.concat([parts, journal.rename("journal")], axis=1).fillna(0.0)
    parts = parts[parts.index.get_level_values(0) <= last_month]
    net = parts["sales"] + parts["late"] + parts["reversal"] - parts["returns"] + parts["journal"]
    ledger = pd.DataFrame(
        {"net_sales": pounds(net.to_numpy()), "returns": pounds(parts["returns"].to_numpy())},
        index=parts.index,
    ).reset_index()
    ledger["month"] = ledger["month"].astype(str)
    ledger = ledger.rename(columns={"month": "period"}).sort_values(
        ["period", "channel", "category"], kind="stable"
    )
    return pa.Table.from_pandas(ledger, preserve_index=False).replace_schema_metadata(None)


# ---------------------------------------------------------------------------------------------
# writing


def _int_array(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    """Whole numbers from a float array whose NaNs are nulls (null slots hold 0, so files are
    byte-identical from run to run)."""
    missing = np.isnan(values)
    return pa.array(
        np.where(missing, 0, values).astype(kind.to_pandas_dtype()), type=kind, mask=missing
    )


def _dict(codes: np.ndarray, labels: list) -> pa.DictionaryArray:
    """A dictionary-encoded text column; negative codes and None labels become nulls."""
    codes = np.asarray(codes).astype(np.int32)
    has_none = any(label is None for label in labels)
    mask = codes < 0
    if has_none:
        none_codes = [i for i, label in enumerate(labels) if label is None]
        mask |= np.isin(codes, none_codes)
    # Repeated labels (several countries speak English) share one dictionary entry: a dictionary
    # with duplicates is written differently from run to run.
    unique = list(dict.fromkeys(label for label in labels if label is not None)) or [""]
    remap = np.array(
        [unique.index(label) if label is not None else 0 for label in labels], dtype=np.int32
    )
    indices = remap[np.where(mask, 0, codes)]
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, mask=mask), pa.array(unique, pa.string())
    )


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded to their values, for CSV."""
    return pa.table(
        {
            name: (col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col)
            for name, col in zip(table.column_names, table.columns, strict=True)
        }
    )


def _write(table: pa.Table, path: Path, file_format: str) -> None:
    if file_format not in ("parquet", "csv"):
        raise ValueError(f"unknown format {file_format!r}: expected parquet or csv")
    with replacing(path, needs=table.nbytes) as tmp:
        if file_format == "parquet":
            pq.write_table(table, tmp, compression="zstd", write_statistics=False)
        else:
            pacsv.write_csv(_plain(table), tmp)


class _Appender:
    """One table written chunk by chunk to one file (Parquet row groups or CSV rows), with the
    first chunk's schema; the file appears under its name only once complete."""

    def __init__(self, path: Path, file_format: str) -> None:
        self.path = path
        self.file_format = file_format
        self.rows = 0
        self._tmp = temporary_beside(path)
        self._schema: pa.Schema | None = None
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        try:
            self._write(table)
        except OSError as err:
            raise naming(err, self.path) from None

    def _write(self, table: pa.Table) -> None:
        if self.file_format == "csv":
            table = _plain(table)
        if self._writer is None:
            self._schema = table.schema
            if self.file_format == "parquet":
                self._writer = pq.ParquetWriter(
                    self._tmp, table.schema, compression="zstd", write_statistics=False
                )
            else:
                self._writer = pacsv.CSVWriter(self._tmp, table.schema)
        elif not table.schema.equals(self._schema):
            # A chunk can differ only where a column has no values to type it (an empty text
            # column reads as null); a real mismatch fails here rather than in the file.
            table = table.cast(self._schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is None:
            raise ValueError(f"{self.path}: nothing was written")
        self._writer.close()
        self._tmp.replace(self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)
