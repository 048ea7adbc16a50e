"""The demo's tables drawn from a population: products, order lines and the per-customer tables.

Each builder takes the random stream and the people drawn by ``profiles.draw_customers`` and
returns one Arrow table in the data contract's columns (docs/data-contract.md).  Repeat
purchases follow a BG/NBD-style process: each customer buys at a Poisson rate drawn from a gamma
distribution and, after each repeat purchase, drops out with a probability drawn from a beta
distribution.  Purchases are thinned by a seasonal weight (Q4 and sale-season peaks), and the
digital share of orders grows over the four years.  The order in which a builder draws from the
stream is part of the output: changing it changes every later byte.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..contract import INTERACTION_TYPES, PRICE_POINTS, REGIONS, TOPICS, WEALTH_BANDS
from .profiles import (
    COUNTRIES,
    DAYS,
    END,
    FX_BASE,
    REAL_CATEGORIES,
    START,
    TOURIST_DESTINATIONS,
    TYPES,
    customer_ids,
    season_weight,
)

FIRST_ORDER_ID = 1_000_001
CANCEL_RATE = 0.03  # share of orders cancelled whole

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
# Gross margin at list price by category (luxury: 55-70%); each product's cost of goods is its
# list price x (1 - margin +- up to 3 points), drawn from its own generator (COST_SEED), so the
# other tables' random stream and values are the same with or without costs.
GROSS_MARGIN = {
    "leather goods": 0.68,
    "small leather goods": 0.66,
    "ready-to-wear": 0.58,
    "shoes": 0.60,
    "jewellery": 0.62,
    "watches": 0.55,
    "eyewear": 0.63,
    "fragrance": 0.70,
    "beauty": 0.69,
    "silk & scarves": 0.67,
    "accessories": 0.64,
    "home": 0.57,
}
COST_SEED = 244  # issue 24, item 4
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


# ---------------------------------------------------------------------------------------------
# customers


def customer_table(rng: np.random.Generator, people: dict) -> pa.Table:
    n = int(people["n"])
    codes = list(COUNTRIES)
    home = people["home"]
    ids = customer_ids(people, np.arange(n))
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


def draw_products(rng: np.random.Generator) -> dict:
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
            "unit_cost": unit_costs(cat, np.concatenate(price)),
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


def unit_costs(cat: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Each product's cost of goods in GBP, to the penny: list price x (1 - its category's
    gross margin, +- 3 points), from a generator of its own (the main stream is untouched)."""
    rng = np.random.default_rng(COST_SEED)
    margin = np.array([GROSS_MARGIN[REAL_CATEGORIES[c]] for c in cat])
    margin = margin + rng.uniform(-0.03, 0.03, len(cat))
    return np.round(price * (1 - margin), 2)


# ---------------------------------------------------------------------------------------------
# order lines


def order_lines_table(
    rng: np.random.Generator,
    people: dict,
    products: dict,
    fx: dict,
    *,
    first_order_id: int = FIRST_ORDER_ID,
) -> tuple[pa.Table, np.ndarray]:
    """Every customer's orders (``draw_orders``) and their lines (``draw_lines``), in the order
    of the stream; also each customer's favourite category, for orders drawn later."""
    cust, day, ordered = draw_orders(rng, people)
    return draw_lines(rng, people, products, fx, cust, day, ordered, first_order_id=first_order_id)


def draw_orders(
    rng: np.random.Generator, people: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """When each buyer orders (BG/NBD-style, see the module docstring): the customer index,
    day and time of every order, in time order."""
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
    keep = rng.random(len(owner)) * peak_weight[owner] < season_weight(day, t[owner])
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
    seconds = rng.integers(10 * 3600, 19 * 3600, len(cust))
    ordered = (
        START.astype("datetime64[s]")
        + day.astype("timedelta64[D]")
        + seconds.astype("timedelta64[s]")
    )
    chrono = np.argsort(ordered, kind="stable")
    return cust[chrono], day[chrono], ordered[chrono]


def draw_lines(
    rng: np.random.Generator,
    people: dict,
    products: dict,
    fx: dict,
    cust: np.ndarray,
    day: np.ndarray,
    ordered: np.ndarray,
    *,
    first_order_id: int = FIRST_ORDER_ID,
    favourite: np.ndarray | None = None,
    cancel_rate: float = CANCEL_RATE,
) -> tuple[pa.Table, np.ndarray]:
    """The lines of the orders placed by customers ``cust`` (indexes into ``people``) on
    ``day`` at ``ordered``, numbered from ``first_order_id``: channel, store, products, prices,
    currency, status.  Each customer's favourite category is drawn here unless given (orders
    drawn later buy in the same taste); it is returned with the lines."""
    n = int(people["n"])
    ctype = people["type"]
    ctype_o = ctype[cust]
    n_orders = len(cust)
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
    cancelled_order = rng.random(n_orders) < cancel_rate

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
    if favourite is None:
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
    on_sale = season_weight(l_day, np.full(n_total, 3, dtype=np.int8)) > 1.0
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
            "customer_id": customer_ids(people, l_cust),
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
    ), favourite


# ---------------------------------------------------------------------------------------------
# customer-level side tables


def _engagement(people: dict) -> np.ndarray:
    return np.array([x.engagement for x in TYPES])[people["type"]]


def interactions_table(rng: np.random.Generator, people: dict) -> pa.Table:
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
            "customer_id": customer_ids(people, who),
            "at": pa.array(at),
            "channel": _dict(channel, ["store", "phone", "email", "chat", "social", "event"]),
            "type": _dict(itype, list(INTERACTION_TYPES)),
            "topic": _dict(rng.integers(0, len(TOPIC_NAMES), len(who)), TOPIC_NAMES),
            "department": _dict(rng.integers(0, len(DEPARTMENTS), len(who)), DEPARTMENTS),
            "effort_score": _int_array(effort, pa.int8()),
        }
    )


def surveys_table(rng: np.random.Generator, people: dict) -> pa.Table:
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
            "customer_id": customer_ids(people, who),
            "at": pa.array(at),
            "channel": _dict(channel, ["store", "web", "app", "clienteling", "contact centre"]),
            "nps": _int_array(nps, pa.int8()),
            "csat": _int_array(csat, pa.int8()),
        }
    )


def preferences_table(rng: np.random.Generator, people: dict) -> pa.Table:
    n = int(people["n"])
    who = np.flatnonzero(rng.random(n) < 0.9)
    engaged = np.clip(_engagement(people)[who] / 14.0, 0, 1)
    cols: dict[str, object] = {"customer_id": customer_ids(people, who)}
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


def enrichment_table(rng: np.random.Generator, people: dict) -> pa.Table:
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
            "customer_id": customer_ids(people, who),
            "mosaic_group": _dict(group, groups),
            "mosaic_type": _dict(mtype, types),
            "wealth_band": _dict(wealth, list(WEALTH_BANDS)),
            "region": _dict(region, regions),
            "city": _dict(city, [c for _, c in cities]),
        }
    )


def accounts_table(rng: np.random.Generator, people: dict) -> pa.Table:
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
            "customer_id": customer_ids(people, who),
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
# Arrow columns


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
