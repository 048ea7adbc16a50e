"""Who the demo's customers are and the world they buy in: the hidden truth the data come from.

Latent customer types (``TYPES``) drive how often people buy, what, where and for how much, so
later features (RFM, lifecycle, CLV, personas) have something true to find.  This module holds
those types, the markets (countries, currencies and their daily rates), the calendar with its
sale and gifting seasons, and the draw of a population; the tables are built from them in
``tables`` and booked in ``ledger``.  Kept apart so the assumptions can be read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract import CATEGORIES

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


# ---------------------------------------------------------------------------------------------
# population


def draw_customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
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


def customer_ids(people: dict, index: np.ndarray) -> np.ndarray:
    """Customer ids of positions in ``people``: 1, 2, ... unless the chunk starts further on."""
    return (index + people.get("first_id", 1)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# calendar and markets


def season_weight(day: np.ndarray, ctype: np.ndarray) -> np.ndarray:
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


def daily_fx(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A daily rate to GBP per currency: a gentle random walk around a base rate."""
    rates = {}
    for cur, base in FX_BASE.items():
        if cur == "GBP":
            rates[cur] = np.ones(DAYS)
            continue
        walk = np.cumsum(rng.normal(0, 0.003, DAYS))
        rates[cur] = np.round(base * np.exp(walk - walk.mean()), 6)
    return rates
