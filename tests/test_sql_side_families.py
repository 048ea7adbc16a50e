"""The side-table families (voice, engagement, preferences, demographics, accounts) computed by a
SQL engine equal the pandas families: same keys in the same order, same container and dtype,
same categories in the same order, same values (float64 within 1e-9 relative; they are in fact
equal to the bit).

None of the five reads ``ctx.built``, so the contexts carry no earlier family's columns.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from profiler.car import default_as_of
from profiler.car_context import build_context
from profiler.families import accounts, demographics, engagement, preferences, voice
from profiler.features import load_feature_spec
from profiler.sql import accounts as sql_accounts
from profiler.sql import demographics as sql_demographics
from profiler.sql import engagement as sql_engagement
from profiler.sql import preferences as sql_preferences
from profiler.sql import voice as sql_voice
from profiler.sql.engines import DuckDBEngine
from profiler.sql.side_tables import double
from tests import car_data
from tests.conftest import load_tables
from tests.sql_checks import assert_same_columns

FAMILIES = [
    (voice, sql_voice),
    (engagement, sql_engagement),
    (preferences, sql_preferences),
    (demographics, sql_demographics),
    (accounts, sql_accounts),
]
SPEC = load_feature_spec()


def check_families(engine, source, as_of) -> dict[str, dict]:
    """Every side family on ``source`` as of ``as_of``, SQL against pandas; the SQL columns."""
    engine.register_source(source)
    ctx = build_context(source, pd.Timestamp(as_of).normalize(), SPEC)
    out = {}
    for family, sql in FAMILIES:
        out[family.FAMILY] = sql.compute(engine, ctx)
        assert_same_columns(family.compute(ctx), out[family.FAMILY], f"{family.FAMILY} @ {as_of}")
    return out


@pytest.fixture(scope="module")
def engine():
    with DuckDBEngine(threads=2) as duckdb:
        yield duckdb


def test_demo_equal(demo_source, engine) -> None:
    got = check_families(engine, demo_source, default_as_of(demo_source))
    assert all(got[f.FAMILY] for f, _ in FAMILIES)  # every table is in the demo


def test_demo_equal_at_an_earlier_as_of(demo_source, engine) -> None:
    check_families(engine, demo_source, "2025-08-15")


# Hand-made sources: tests/car_data.py, and variants with the edges each family has to cut.
def _survey(cust, at, channel="store", nps="", csat=""):
    return {"customer_id": cust, "at": at, "channel": channel, "nps": nps, "csat": csat}


def _interaction(cust, at, channel="store", kind="enquiry", topic="repair", effort=""):
    return {
        "customer_id": cust,
        "at": at,
        "channel": channel,
        "type": kind,
        "topic": topic,
        "department": "women",
        "effort_score": effort,
    }


def _customer(cust, created, birth, gender="female"):
    return {
        "customer_id": cust,
        "created_at": created,
        "home_country": "GB",
        "birth_year": birth,
        "gender": gender,
        "name": "N",
        "email": "n@example.com",
        "phone": "+44 0",
    }


def _edges() -> dict[str, list[dict]]:
    """car_data plus rows on either side of D, undated consent and accounts, customers outside
    the CAR, age band boundaries, NPS class boundaries, score caps, a topic whose name differs
    only in case (one column, as in pandas), and a full year since the last interaction."""
    tables = copy.deepcopy(car_data.TABLES)
    tables["customers"] += [
        _customer("7", "2024-01-01", "2025", "male"),  # age -1: unknown
        _customer("8", "2024-01-01", "1999"),  # 25 at D: 25-34
        _customer("9", "", "1959", "other"),  # 65 at D: 65+; undated record: in the CAR
    ]
    tables["surveys"] += [
        _survey("3", "2024-12-31T23:59:59", "contact centre", "7", "4"),  # last second of D
        _survey("3", "2025-01-01T00:00:00", "web", "0", "1"),  # after D
        _survey("3", "2024-06-01T08:00:00", "clienteling", "", "2"),
        _survey("4", "2024-10-01", "web", "", "2"),  # no NPS: class none
        _survey("5", "2023-12-31T23:00:00", "app", "6", "5"),  # outside the last 12 months
        _survey("8", "2024-07-01", "clienteling", "9", ""),
        _survey("6", "2024-05-01", "store", "10", "5"),  # customer created after D: ignored
    ]
    clicks = [
        _interaction("4", f"2024-0{m}-02T09:00:00", "email", "email click") for m in range(1, 9)
    ]
    events = [
        _interaction("4", f"2024-1{m}-03T18:00:00", "event", "event attendance", "Repair")
        for m in range(0, 3)
    ]
    tables["interactions"] += (
        clicks
        + events
        + [
            _interaction("4", "2024-12-31T23:59:59", "chat", "complaint", "returns", "7"),
            _interaction("4", "2023-12-31T10:00:00", "social", "email open", "order status", "1"),
            _interaction("4", "2025-01-01T00:00:00", "phone", "enquiry", "late topic", "3"),
            _interaction("5", "2024-01-01T12:00:00", "store", "service repair", "repair", "4"),
            _interaction("8", "2024-12-15", "phone", "appointment", "personal styling"),
            _interaction("8", "2024-12-16", "store", "appointment", "personal styling"),
            _interaction("6", "2024-05-01", "store", "enquiry", "outsider topic"),
        ]
    )
    base = dict(car_data.PREFERENCES[0])
    tables["preferences"] += [
        base | {"customer_id": "4", "consent_updated_at": "", "opt_in_email": "no"},
        base | {"customer_id": "5", "consent_updated_at": "2025-01-01"},  # after D: empty
        base
        | {"customer_id": "8", "consent_updated_at": "2024-12-31T23:59:59", "opt_in_post": "yes"},
        base | {"customer_id": "6", "consent_updated_at": "2024-01-01"},
    ]
    tables["enrichment"] += [dict(car_data.ENRICHMENT[0], customer_id="6", city="Leeds")]
    account = dict(car_data.ACCOUNTS[0])
    tables["accounts"] += [
        account | {"customer_id": "2", "as_of": "", "credit_limit": "0", "portfolio": "Paris VIC"},
        account | {"customer_id": "4", "as_of": "2024-12-31", "account_manager": "Ada Li"},
        account | {"customer_id": "6", "as_of": "2024-12-31", "portfolio": "Gone"},
    ]
    return tables


def _text_keys() -> dict[str, list[dict]]:
    """car_data plus a row of an unknown customer 'X9' in every side table: the loader
    quarantines it, but the keys stay text while the CAR's are integers.  pandas then matches
    no survey, interaction or consent row (ctx.codes_of), and enrichment and accounts as text."""
    tables = _edges()
    tables["surveys"].append(_survey("X9", "2024-01-01", nps="9"))
    tables["interactions"].append(_interaction("X9", "2024-01-01"))
    tables["preferences"].append(dict(car_data.PREFERENCES[0], customer_id="X9"))
    tables["enrichment"].append(dict(car_data.ENRICHMENT[0], customer_id="X9"))
    tables["accounts"].append(dict(car_data.ACCOUNTS[0], customer_id="X9"))
    return tables


def _sparse() -> dict[str, list[dict]]:
    """Optional columns left out (defaults, or empty), no enrichment, no surveys."""

    def drop(rows, *names):
        return [{k: v for k, v in row.items() if k not in names} for row in rows]

    tables = _edges()
    return {
        "customers": drop(
            tables["customers"], "gender", "birth_year", "created_at", "home_country"
        ),
        "order_lines": tables["order_lines"],
        "interactions": drop(tables["interactions"], "topic", "effort_score", "type"),
        "preferences": drop(
            tables["preferences"], "opt_in_email", "topic_events", "preferred_department"
        ),
        "accounts": drop(tables["accounts"], "portfolio", "as_of", "balance"),
    }


def _lines_only() -> dict[str, list[dict]]:
    return {"order_lines": car_data.ORDER_LINES}


def _interactions_only() -> dict[str, list[dict]]:
    """The engagement score without surveys and preferences (their components count 0)."""
    tables = _edges()
    return {name: tables[name] for name in ("customers", "order_lines", "interactions")}


HAND = {
    "car_data": lambda: car_data.TABLES,
    "edges": _edges,
    "text_keys": _text_keys,
    "sparse": _sparse,
    "lines_only": _lines_only,
    "interactions_only": _interactions_only,
}


@pytest.fixture(scope="module")
def hand_sources(tmp_path_factory: pytest.TempPathFactory):
    sources = {}
    for name, make in HAND.items():
        sources[name] = load_tables(tmp_path_factory.mktemp(f"side-{name}"), make())
    return sources


@pytest.mark.parametrize("as_of", [car_data.AS_OF, "2025-01-01", "2025-03-31"])
@pytest.mark.parametrize("name", list(HAND))
def test_hand_made_equal(hand_sources, engine, name, as_of) -> None:
    got = check_families(engine, hand_sources[name], as_of)
    if name == "lines_only":
        assert not any(got.values())  # every side table is missing: no columns


def test_hand_made_edges_by_hand(hand_sources, engine) -> None:
    """A few values worked out by hand, so that equal is also right."""
    got = check_families(engine, hand_sources["edges"], car_data.AS_OF)
    ids = list(
        build_context(hand_sources["edges"], pd.Timestamp(car_data.AS_OF), SPEC).customer_ids
    )
    row = {c: ids.index(c) for c in ids}
    v, e, p, d, a = (got[f.FAMILY] for f, _ in FAMILIES)
    assert v["nps_latest"][row[3]] == 7 and v["nps_class"][row[3]] == "passive"
    assert v["csat_contact_centre_count"][row[3]] == 1 and v["surveys_count"][row[3]] == 2
    assert v["days_since_last_survey"][row[3]] == 0
    assert v["nps_class"][row[4]] == "none" and v["nps_count"][row[4]] == 0
    assert e["interactions_l12m"][row[4]] == 12 and e["interactions_ltd"][row[4]] == 13
    assert "interactions_topic_late_topic_ltd" not in e
    assert e["interactions_topic_outsider_topic_ltd"].sum() == 0  # customer 6 is not in the CAR
    assert e["days_since_last_interaction"][row[5]] == 365
    assert d["age_band"][row[7]] == "unknown" and d["age_band"][row[8]] == "25-34"
    assert d["age_band"][row[9]] == "65+"
    assert pd.isna(p["opt_in_email"][row[5]]) and p["opt_in_post"][row[8]]
    assert a["has_account"][row[2]] and np.isnan(a["credit_utilisation"][row[2]])


def test_text_keys_match_as_pandas_does(hand_sources, engine) -> None:
    source = hand_sources["text_keys"]
    assert source.tables["surveys"]["customer_id"].dtype == object
    got = check_families(engine, source, car_data.AS_OF)
    # codes_of: no survey, interaction or consent row is any CAR customer's
    v, e = got["voice"], got["engagement"]
    assert v["surveys_count"].sum() == 0 and np.isnan(v["days_since_last_survey"]).all()
    assert (v["nps_class"] == "none").all() and v["effort_score_count"].sum() == 0
    assert e["interactions_ltd"].sum() == 0 and np.isnan(e["days_since_last_interaction"]).all()
    assert (e["engagement_score"] == 0).all()
    assert got["preferences"]["opt_in_email"].isna().all()
    assert got["accounts"]["has_account"].sum() == 3  # lookup: as text (1, 2 undated, 4)


# Two NPS answers at the same time: pandas takes the later row of the file; the engine sees the
# file order through the loader's row number, which register_source keeps.
@pytest.mark.parametrize(
    "answers",
    [
        ("3", "8"),
        ("8", "3"),
    ],
)
def test_latest_answer_ties(tmp_path, engine, answers) -> None:
    tables = copy.deepcopy(car_data.TABLES)
    tables["surveys"] += [_survey("4", "2024-11-01T10:00:00", nps=a) for a in answers]
    check_families(engine, load_tables(tmp_path, tables), car_data.AS_OF)


# numpy rounds halves to even (0.5 -> 0, 1.5 -> 2, 2.5 -> 2); SQL's ROUND does not.
HALVES = [0.0, 0.5, 1.5, 2.5, 3.49999, 7.5, 8.5000001, 124.5, 125.5, 999.5, 1000.0, 12.3]


def test_score_rounds_halves_to_even(engine) -> None:
    rows = [exp.select(double(y).as_("y")) for y in HALVES]
    values = rows[0]
    for r in rows[1:]:
        values = exp.union(values, r, distinct=False)
    rint = sql_engagement._round_half_even(exp.column("y", quoted=True))
    table = engine.run(
        exp.select(exp.column("y", quoted=True), rint.as_("r")).from_(values.subquery("v"))
    )
    got = dict(zip(table.column("y").to_pylist(), table.column("r").to_pylist(), strict=True))
    assert [got[y] for y in HALVES] == list(np.rint(HALVES))


class RecordingEngine(DuckDBEngine):
    """DuckDB, keeping every tree it runs."""

    def __init__(self) -> None:
        super().__init__(threads=2)
        self.trees: list[exp.Expression] = []

    def run(self, query):
        self.trees.append(query.copy())
        return super().run(query)


def test_trees_render_for_spark(hand_sources) -> None:
    """Every tree renders in Spark's dialect without a feature sqlglot cannot translate."""
    with RecordingEngine() as recording:
        check_families(recording, hand_sources["edges"], car_data.AS_OF)
        assert len(recording.trees) >= 10
        for tree in recording.trees:
            tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
