"""The single-customer view: one customer's CAR profile in plain words, for customer service.

``customer_profile(engine, customer_id)`` reads one row of the CAR the engine was opened on and
returns it as rows a service adviser can read: section, plain label, the value as words, when
the value holds ("as of D" for a state at the CAR's date, "12 months to D", "lifetime to D"),
the CAR column it comes from and that column's definition (car_dictionary.csv).  The command
line (``profiler customer``), the workbook's Customer sheet and ``CP_CUSTOMER`` all show this
table; none of them computes a value.

Rows whose column this CAR does not hold (a source table was not provided: a bare export of
order lines has no preferences, surveys or interactions) are left out, and ``notes`` says which
families were left out and why.

Personal data.  The CAR holds no name, e-mail or phone (profiler/car.py checks it).  An
in-memory build also writes ``contacts.arrow`` (``consented_contacts``): the name, e-mail and
phone of customers whose consent at D allows contact, and of no one else; an e-mail only for
customers opted in to e-mail, a phone only for those opted in to phone or SMS.  The view adds
those rows only when asked (``personal=True``: a workbook setting or a command-line flag) and
the CAR folder holds that table.  An unknown id is one line; its hint never names another
customer's id unless the one typed differs from it only in letter case, spaces or leading zeros.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from . import store
from .contract import OPT_IN_CHANNELS
from .errors import ProfilerError, clip
from .families import privacy
from .query import QueryEngine

COLUMNS = ["section", "item", "value", "text", "when", "column", "definition"]
CONTACT_FIELDS = ("name", "email", "phone")
# Which consent lets a contact detail be kept (``consented_contacts``).
CONTACT_CONSENT = {
    "name": tuple(f"opt_in_{c}" for c in OPT_IN_CHANNELS),
    "email": ("opt_in_email",),
    "phone": ("opt_in_phone", "opt_in_sms"),
}
PERSONAL_SETTING = "PROFILER_PERSONAL_DATA"  # the workbook setting that allows personal data
YES_WORDS = {"yes", "true", "1", "on", "y"}


class UnknownCustomer(ProfilerError):
    """A customer id that is not in the CAR."""


@dataclass(frozen=True)
class Item:
    """One row of the view: ``when`` is asof, l12m or ltd; ``missing`` is what an empty value
    says in words."""

    section: str
    label: str
    column: str
    when: str = "asof"
    missing: str = "not known"


SEGMENT = "Segment and value"
LIFECYCLE = "Lifecycle"
ORDERS = "Recent orders"
PREFERENCES = "Preferences and consent"
SURVEY = "Last survey"
SERVICE = "Service topics"
CONTACT = "Contact details"
NO_CONSENT = "no consent record"

ITEMS: tuple[Item, ...] = (
    Item(SEGMENT, "Strategy segment", "strategy_segment", missing="not assigned"),
    Item(SEGMENT, "Value tier (spend, last 12 months)", "value_tier"),
    Item(SEGMENT, "Current value band", "current_value_band"),
    Item(SEGMENT, "Potential value tier", "potential_value_tier"),
    Item(SEGMENT, "Engagement band", "engagement_band"),
    Item(SEGMENT, "RFM segment", "rfm_segment", missing="not assigned"),
    Item(SEGMENT, "Expected value, next 12 months (CLV)", "clv_12m"),
    Item(SEGMENT, "Chance the customer is still active", "p_alive"),
    Item(SEGMENT, "Expected purchases, next 12 months", "expected_orders_12m"),
    Item(LIFECYCLE, "Lifecycle stage", "lifecycle_stage"),
    Item(LIFECYCLE, "Lifecycle stage a year earlier", "lifecycle_stage_1y_ago"),
    Item(LIFECYCLE, "First purchase", "first_purchase_at", missing="no purchase yet"),
    Item(LIFECYCLE, "Acquired in", "acquisition_month", missing="no purchase yet"),
    Item(ORDERS, "Orders, last 12 months", "orders_l12m", "l12m"),
    Item(ORDERS, "Spend, last 12 months", "spend_l12m", "l12m"),
    Item(ORDERS, "Average order value, last 12 months", "aov_l12m", "l12m", "no order"),
    Item(ORDERS, "Returns, last 12 months", "returns_value_l12m", "l12m"),
    Item(ORDERS, "Last order", "last_purchase_at", missing="no purchase yet"),
    Item(ORDERS, "Days since the last order", "recency_days", missing="no purchase yet"),
    Item(ORDERS, "Orders, lifetime", "orders_ltd", "ltd"),
    Item(ORDERS, "Spend, lifetime", "spend_ltd", "ltd"),
    Item(ORDERS, "Favourite category", "favourite_category", "ltd", "not known"),
    Item(ORDERS, "Preferred price point", "preferred_price_point", "ltd", "not known"),
    Item(ORDERS, "Preferred channel", "preferred_channel", "ltd", "not known"),
    Item(PREFERENCES, "May be contacted at all", "contactable", missing=NO_CONSENT),
    *(
        Item(
            PREFERENCES,
            f"Opted in to {c if c != 'email' else 'e-mail'}",
            f"opt_in_{c}",
            missing=NO_CONSENT,
        )
        for c in OPT_IN_CHANNELS
    ),
    Item(PREFERENCES, "Interested in new collections", "topic_new_collections", missing=NO_CONSENT),
    Item(PREFERENCES, "Interested in events", "topic_events", missing=NO_CONSENT),
    Item(PREFERENCES, "Interested in offers", "topic_offers", missing=NO_CONSENT),
    Item(PREFERENCES, "Interested in services", "topic_services", missing=NO_CONSENT),
    Item(PREFERENCES, "Interested in craftsmanship", "topic_craftsmanship", missing=NO_CONSENT),
    Item(PREFERENCES, "Preferred department", "preferred_department"),
    Item(
        PREFERENCES,
        "Days since consent was last given or changed",
        "consent_age_days",
        missing=NO_CONSENT,
    ),
    Item(PREFERENCES, "Preferred language", "preferred_language"),
    Item(PREFERENCES, "Home store", "home_store"),
    Item(PREFERENCES, "Country of residence", "home_country"),
    Item(
        SURVEY,
        "Days since the last survey answer",
        "days_since_last_survey",
        missing="no survey answered",
    ),
    Item(SURVEY, "Latest likelihood to recommend (0-10)", "nps_latest", missing="no answer"),
    Item(SURVEY, "Latest answer's class", "nps_class", missing="no answer"),
    Item(SURVEY, "Mean satisfaction (1-5)", "csat_mean", "ltd", "no answer"),
    Item(SURVEY, "Surveys answered", "surveys_count", "ltd"),
    Item(SERVICE, "Complaints, last 12 months", "interactions_type_complaint_l12m", "l12m"),
    Item(
        SERVICE, "Service repairs, last 12 months", "interactions_type_service_repair_l12m", "l12m"
    ),
    Item(SERVICE, "Interactions, last 12 months", "interactions_l12m", "l12m"),
    Item(
        SERVICE,
        "Days since the last interaction",
        "days_since_last_interaction",
        missing="no interaction",
    ),
    Item(
        SERVICE, "Mean effort score (1 easy - 7 hard)", "effort_score_mean", "ltd", "no score given"
    ),
)
TOPIC_PREFIX, TOPIC_SUFFIX = "interactions_topic_", "_ltd"
# How a dictionary unit is shown on a sheet (workbook number formats) and in words.
SHEET_UNITS = {
    "gbp": "GBP",
    "ratio": "%",
    "probability": "%",
    "days": "days",
    "count": "count",
    "purchases": "average",
    "score": "score",
    "index": "index",
    "years": "years",
}


@dataclass
class CustomerProfile:
    """One customer's rows (``COLUMNS``), the CAR's date, and what was left out and why."""

    customer_id: str
    as_of: pd.Timestamp
    rows: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)  # each row's sheet unit ('' for text)

    @property
    def cells(self) -> list[Any]:
        """Each row's value for a spreadsheet cell: numbers as numbers (their unit in
        ``units``), everything else in words."""
        return [
            value if unit else text
            for value, text, unit in zip(
                self.rows["value"], self.rows["text"], self.units, strict=True
            )
        ]

    def sheet_table(self) -> pd.DataFrame:
        """The profile as the Customer sheet and ``CP_CUSTOMER`` show it: section, item, value
        (``cells``), when, CAR column, definition."""
        return pd.DataFrame(
            {
                "Section": self.rows["section"],
                "Item": self.rows["item"],
                "Value": self.cells,
                "When": self.rows["when"],
                "CAR column": self.rows["column"],
                "Definition": self.rows["definition"],
            }
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "as_of": f"{self.as_of:%Y-%m-%d}",
            "rows": [
                {k: _plain(v) for k, v in row.items()} for row in self.rows.to_dict("records")
            ],
            "notes": list(self.notes),
        }


def personal_allowed(value: Any) -> bool:
    """Whether a setting's value allows personal data (yes, true, 1, on); blank is no."""
    return str(value if value is not None else "").strip().lower() in YES_WORDS


def customer_profile(
    engine: QueryEngine, customer_id: Any, *, personal: bool = False
) -> CustomerProfile:
    """The profile of ``customer_id`` in the CAR ``engine`` reads (module docstring).

    ``personal``: add the consented contact details (name, e-mail, phone) when the CAR folder
    holds them; without it no personal data is read."""
    text = _id_text(customer_id)
    position = find_customer(engine, text)
    d = f"{engine.as_of:%Y-%m-%d}"
    definitions = _definitions(engine)
    known = set(engine.known_columns)
    topics = sorted(c for c in known if c.startswith(TOPIC_PREFIX) and c.endswith(TOPIC_SUFFIX))
    wanted = [i.column for i in ITEMS if i.column in known] + topics
    row = _car_row(engine, position, wanted)
    records, units = [], []
    for item in ITEMS:
        if item.column not in known:
            continue
        unit = str(definitions.get(item.column, ("", ""))[1])
        value = _value(row[item.column])
        records.append(
            {
                "section": item.section,
                "item": item.label,
                "value": value,
                "text": _words(value, unit, item.missing),
                "when": _when(item.when, d),
                "column": item.column,
                "definition": definitions.get(item.column, ("", ""))[0],
            }
        )
        units.append(_sheet_unit(value, unit))
    if "profiling_opt_out" in known and _value(
        _car_row(engine, position, ["profiling_opt_out"])["profiling_opt_out"]
    ):
        records, units = _objected(engine, records, units, row, d)
    raised = [(c, _value(row[c])) for c in topics]
    raised = [(c, v) for c, v in raised if isinstance(v, float) and v > 0]
    for column, count in sorted(raised, key=lambda cv: (-cv[1], cv[0])):
        topic = column[len(TOPIC_PREFIX) : -len(TOPIC_SUFFIX)].replace("_", " ")
        records.append(
            {
                "section": SERVICE,
                "item": f"Topic raised: {topic}",
                "value": count,
                "text": _words(count, "count", ""),
                "when": _when("ltd", d),
                "column": column,
                "definition": definitions.get(column, ("", ""))[0],
            }
        )
        units.append("count")
    notes = _left_out(engine)
    if topics and not raised:
        notes.append(f"No service topic raised by this customer to {d}.")
    if topics:
        notes.append(
            "Service topics: the interactions table has no open or closed status, so topics are "
            f"those the customer raised to {d}, with complaints and repairs of the last 12 months."
        )
    if personal:
        contact, why = _contact(engine, text)
        if why:
            notes.append(why)
        for name in CONTACT_FIELDS:
            if name in contact:
                records.append(
                    {
                        "section": CONTACT,
                        "item": {"name": "Name", "email": "E-mail", "phone": "Phone"}[name],
                        "value": contact[name],
                        "text": contact[name],
                        "when": f"consented as of {d}",
                        "column": f"{store.CONTACTS.name}:{name}",
                        "definition": CONTACT_DEFINITIONS[name],
                    }
                )
                units.append("")
    return CustomerProfile(
        text, engine.as_of, pd.DataFrame(records, columns=COLUMNS, dtype=object), notes, units
    )


def _objected(
    engine: QueryEngine, records: list[dict], units: list[str], row: dict[str, Any], d: str
) -> tuple[list[dict], list[str]]:
    """For a customer who objected to profiling: one row saying so (and since when, as far as
    the consent record tells), in place of the scores and segments the CAR withholds."""
    table = _dictionary(engine)
    families = {} if table is None else dict(zip(table["column"], table["family"], strict=True))
    withheld = set(privacy.withheld_names(families))
    # The withheld columns (blank for this customer: without a dictionary, the blank segment rows).
    kept = [
        (r, u)
        for r, u in zip(records, units, strict=True)
        if r["column"] not in withheld and not (r["section"] == SEGMENT and r["value"] is None)
    ]
    age = _value(row.get("consent_age_days"))
    since = (
        f"on {engine.as_of - pd.Timedelta(days=age):%Y-%m-%d} (the consent record's last change)"
        if isinstance(age, float)
        else "(date not recorded)"
    )
    text = f"Objected to profiling {since}: no segment, scores or persona are held."
    first = {
        "section": SEGMENT,
        "item": "Profiling",
        "value": text,
        "text": text,
        "when": _when("asof", d),
        "column": "profiling_opt_out",
        "definition": _definitions(engine).get("profiling_opt_out", ("", ""))[0],
    }
    return [first, *(r for r, _ in kept)], ["", *(u for _, u in kept)]


CONTACT_DEFINITIONS = {
    "name": "Full name (customers table), kept only for customers who may be contacted and "
    "opted in to a channel at D.",
    "email": "E-mail address (customers table), kept only for customers who may be contacted "
    "and opted in to e-mail at D.",
    "phone": "Phone number (customers table), kept only for customers who may be contacted "
    "and opted in to phone or SMS at D.",
}


# -- finding the customer ----------------------------------------------------------------------

_index: weakref.WeakKeyDictionary[QueryEngine, dict[str, int]] = weakref.WeakKeyDictionary()


def _id_text(customer_id: Any) -> str:
    """An id as typed or handed over by a cell (Excel gives 17 as 17.0)."""
    if customer_id is None or (isinstance(customer_id, float) and math.isnan(customer_id)):
        return ""
    if isinstance(customer_id, float) and customer_id.is_integer():
        return str(int(customer_id))
    return str(customer_id).strip()


def _ids(engine: QueryEngine) -> dict[str, int]:
    """Each customer id as text -> its row in the CAR (built once per engine)."""
    found = _index.get(engine)
    if found is None:
        ids = engine.car["customer_id"].astype(str).to_numpy()
        found = dict(zip(ids, range(len(ids)), strict=True))
        _index[engine] = found
    return found


def find_customer(engine: QueryEngine, customer_id: Any) -> int:
    """The CAR row of ``customer_id``, or one line saying it is not there."""
    text = _id_text(customer_id)
    if not text:
        raise UnknownCustomer("No customer id given: type the id of one customer.")
    ids = _ids(engine)
    if text in ids:
        return ids[text]
    raise UnknownCustomer(
        f"Unknown customer id '{clip(text)}': not among the {len(ids):,} customers of the CAR "
        f"as of {engine.as_of:%Y-%m-%d}.{_hint(engine, text, ids)}"
    )


def _normal(ids: pd.Series) -> pd.Series:
    """Ids with letter case, spaces, dashes, underscores and leading zeros set aside."""
    folded = ids.str.casefold().str.replace(r"[\s_-]+", "", regex=True)
    return folded.str.replace(r"(?<!\d)0+(?=\d)", "", regex=True)


@dataclass(frozen=True)
class _Shapes:
    """What an unknown id's hint may use, worked out once per engine on the first unknown id."""

    ids: np.ndarray  # every id, and beside it the same id normalised (``_normal``)
    normal: np.ndarray
    low: int
    high: int
    digits: bool


_shapes: weakref.WeakKeyDictionary[QueryEngine, _Shapes] = weakref.WeakKeyDictionary()


def _shapes_of(engine: QueryEngine, ids: dict[str, int]) -> _Shapes:
    found = _shapes.get(engine)
    if found is None:
        every = pd.Series(list(ids), dtype=object)
        lengths = every.str.len()
        found = _Shapes(
            every.to_numpy(),
            _normal(every).to_numpy(dtype=object),
            int(lengths.min()) if len(every) else 0,
            int(lengths.max()) if len(every) else 0,
            bool(len(every)) and bool(every.str.isdigit().all()),
        )
        _shapes[engine] = found
    return found


def _hint(engine: QueryEngine, text: str, ids: dict[str, int]) -> str:
    """A hint that names no other customer: the id the text stands for when only its letter
    case, spaces or leading zeros differ, else the shape of the ids here."""
    if not ids:
        return ""
    shapes = _shapes_of(engine, ids)
    if len(text) <= 64:
        wanted = _normal(pd.Series([text], dtype=object)).iloc[0]
        same = shapes.ids[shapes.normal == wanted]
        if len(same) == 1:
            return f" Did you mean '{same[0]}'? (ids are matched exactly as written)"
    size = f"{shapes.low}" if shapes.low == shapes.high else f"{shapes.low} to {shapes.high}"
    if shapes.digits:
        return f" Customer ids here are whole numbers of {size} digits."
    return f" Customer ids here are texts of {size} characters."


# -- reading one row -----------------------------------------------------------------------------


def _car_row(engine: QueryEngine, position: int, columns: list[str]) -> dict[str, Any]:
    """Columns of one CAR row: from the engine where it holds them, else read from the one
    Parquet row group that holds the row (never the whole column)."""
    loaded = [c for c in columns if c in engine.car.columns]
    out = {c: engine.car[c].iloc[position] for c in loaded}
    missing = [c for c in columns if c not in engine.car.columns]
    if not missing:
        return out
    if engine.generation is None:
        frame = engine.ensure_columns(missing)
        return {**out, **{c: frame[c].iloc[position] for c in missing}}
    start = 0
    for part in sorted(engine.generation.file(store.CAR).glob("*.parquet")):
        reader = pq.ParquetFile(part)
        for group in range(reader.metadata.num_row_groups):
            rows = reader.metadata.row_group(group).num_rows
            if position < start + rows:
                table = reader.read_row_group(group, columns=missing)
                one = table.slice(position - start, 1).to_pandas()
                return {**out, **{c: one[c].iloc[0] for c in missing}}
            start += rows
    raise ProfilerError(f"{engine.car_dir}: the CAR has fewer rows than its customers; rebuild it.")


_dictionaries: weakref.WeakKeyDictionary[QueryEngine, dict[str, tuple[str, str]]] = (
    weakref.WeakKeyDictionary()
)


def _dictionary(engine: QueryEngine) -> pd.DataFrame | None:
    if engine.generation is None:
        return None
    return engine.generation.read_csv(store.DICTIONARY, keep_default_na=False)


def _definitions(engine: QueryEngine) -> dict[str, tuple[str, str]]:
    """Each built column's (definition, unit), from car_dictionary.csv (read once)."""
    found = _dictionaries.get(engine)
    if found is None:
        table = _dictionary(engine)
        found = {}
        if table is not None:
            built = table[table["status"] == "built"]
            found = {
                str(c): (str(d), str(u))
                for c, d, u in zip(
                    built["column"], built["description"], built["unit"], strict=True
                )
            }
        _dictionaries[engine] = found
    return found


def _left_out(engine: QueryEngine) -> list[str]:
    """One line naming the CAR's left-out families and why (a source table not provided)."""
    table = _dictionary(engine)
    if table is None:
        return []
    out = table[table["status"] == "left out"]
    if not len(out):
        return []
    reasons = "; ".join(
        f"{f} ({r})" for f, r in zip(out["family"], out["description"], strict=True)
    )
    return [f"Not in this profile, as the CAR left them out: {reasons}."]


def _contact(engine: QueryEngine, customer_id: str) -> tuple[dict[str, str], str]:
    """The customer's consented contact details, or why there are none."""
    generation = engine.generation
    if generation is None or store.CONTACTS.name not in generation.meta.get("members", {}):
        return {}, (
            "Contact details not shown: this CAR folder holds no consented contact table (it is "
            "written by in-memory builds from a customers table with name, e-mail or phone, and "
            "a preferences table)."
        )
    table = generation.read_frame(store.CONTACTS)
    hit = table[table["customer_id"].astype(str) == customer_id]
    if not len(hit):
        return {}, "Contact details not shown: this customer's consent at D does not allow contact."
    record = hit.iloc[0]
    return {
        name: str(record[name])
        for name in CONTACT_FIELDS
        if name in table.columns and isinstance(record[name], str) and record[name]
    }, ""


# -- values in words -----------------------------------------------------------------------------


def _value(value: Any) -> Any:
    """A CAR cell as a plain Python value: None when empty, a day as YYYY-MM-DD."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        stamp = pd.Timestamp(value)
        return None if pd.isna(stamp) else f"{stamp:%Y-%m-%d}"
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return float(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(float(value)) else float(value)
    return str(value)


def _plain(value: Any) -> Any:
    """A value for JSON: plain Python, empty as null (never NaN)."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


def _when(kind: str, d: str) -> str:
    return {"l12m": f"12 months to {d}", "ltd": f"lifetime to {d}"}.get(kind, f"as of {d}")


def _sheet_unit(value: Any, unit: str) -> str:
    if isinstance(value, bool) or not isinstance(value, float):
        return ""
    return SHEET_UNITS.get(unit, "")


def _words(value: Any, unit: str, missing: str) -> str:
    """A value as a service adviser reads it."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str):
        return missing if value == "none" else value  # nps_class "none": no answer
    if unit == "gbp":
        return f"£{value:,.2f}"
    if unit in ("ratio", "probability"):
        return f"{value * 100:.1f}%"
    if unit == "days":
        return f"{value:,.0f} day{'s' if value != 1 else ''}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}" if unit in ("purchases", "count") else f"{value:,.1f}"


# -- the consented contact table (written by the build) ------------------------------------------


def consented_contacts(
    customers: pd.DataFrame | None, customer_ids: Any, columns: dict[str, Any]
) -> pd.DataFrame | None:
    """The contact details an in-memory build keeps (``contacts.arrow``): for customers who may
    be contacted at D (``contactable``) and opted in to a channel, their name, their e-mail
    only if opted in to e-mail, their phone only if opted in to phone or SMS; nobody else and
    nothing else.  None when the customers table has no contact column or the CAR no consent."""
    if customers is None or "customer_id" not in customers.columns:
        return None
    fields = [c for c in CONTACT_FIELDS if c in customers.columns]
    if not fields or "contactable" not in columns:
        return None

    def flag(name: str) -> np.ndarray:
        if name not in columns:
            return np.zeros(len(customer_ids), dtype=bool)
        return pd.Series(columns[name]).fillna(False).astype(bool).to_numpy()

    contactable = flag("contactable")
    allowed = {
        name: contactable & np.logical_or.reduce([flag(c) for c in CONTACT_CONSENT[name]])
        for name in fields
    }
    keep = np.logical_or.reduce(list(allowed.values()))
    ids = pd.Series(np.asarray(customer_ids)).astype(str)
    details = customers[["customer_id", *fields]].copy()
    details["customer_id"] = details["customer_id"].astype(str)
    details = details.drop_duplicates("customer_id").set_index("customer_id")
    chosen = ids[keep]
    out = pd.DataFrame({"customer_id": chosen.to_numpy()})
    for name in fields:
        values = details[name].reindex(chosen.to_numpy()).astype(object)
        values = values.where(allowed[name][keep], None)
        out[name] = [v if isinstance(v, str) and v.strip() else None for v in values]
    present = out[fields].notna().any(axis=1)
    return out[present.to_numpy()].reset_index(drop=True)
