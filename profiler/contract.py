"""The source data contract, encoded once: tables, columns, types, keys and allowed values.

``docs/data-contract.md`` explains it in words; loading, validation, the demo generator and
every later feature read the contract from here.  Only ``order_lines`` is required, and in it
only order_id, customer_id, ordered_at and net_amount: every other table and column is
optional and has a documented default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REPORTING_CURRENCY = "GBP"
EARLIEST_DATE = "1990-01-01"

# ISO 4217 codes the retailer trades or might trade in; anything else is quarantined.
KNOWN_CURRENCIES = (
    "GBP EUR USD JPY CNY HKD CHF AED SGD KRW AUD CAD SAR QAR KWD TWD THB MYR "
    "SEK NOK DKK PLN CZK TRY INR BRL MXN RUB ZAR NZD"
).split()

ORDER_CHANNELS = ("store", "web", "app", "clienteling", "unknown")
ORDER_STATUSES = ("completed", "cancelled", "returned")
CATEGORIES = (
    "leather goods",
    "small leather goods",
    "ready-to-wear",
    "shoes",
    "jewellery",
    "watches",
    "eyewear",
    "fragrance",
    "beauty",
    "silk & scarves",
    "accessories",
    "home",
    "unknown",
)
PRICE_POINTS = ("entry", "core", "high", "icon")
INTERACTION_CHANNELS = ("store", "phone", "email", "chat", "social", "event")
INTERACTION_TYPES = (
    "enquiry",
    "complaint",
    "appointment",
    "event attendance",
    "email open",
    "email click",
    "service repair",
)
SURVEY_CHANNELS = ("store", "web", "app", "clienteling", "contact centre")
GENDERS = ("female", "male", "other")
WEALTH_BANDS = ("ultra high", "very high", "high", "affluent", "mass affluent")
REGIONS = ("UK", "Europe", "Americas", "Middle East", "Asia Pacific")
OPT_IN_CHANNELS = ("email", "sms", "phone", "post")
CAMPAIGN_GROUPS = ("treated", "control")
TOPICS = ("new collections", "events", "offers", "services", "craftsmanship")


@dataclass(frozen=True)
class Column:
    """One column of a source table.

    kind is one of: key (id: integer or text), text, int, float, bool, timestamp, date,
    month (``YYYY-MM``).  ``default`` is used when the column is absent from the file.
    """

    name: str
    kind: str
    description: str
    required: bool = False
    nullable: bool = True
    default: object = None
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pii: bool = False


@dataclass(frozen=True)
class Table:
    """One source table: its columns, primary key and references to other tables."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    required: bool = False
    references: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _opt_ins() -> tuple[Column, ...]:
    return tuple(
        Column(f"opt_in_{c}", "bool", f"Consented to be contacted by {c}.", default=False)
        for c in OPT_IN_CHANNELS
    )


def _topics() -> tuple[Column, ...]:
    return tuple(
        Column(
            f"topic_{t.replace(' ', '_')}",
            "bool",
            f"Interested in hearing about {t}.",
            default=False,
        )
        for t in TOPICS
    )


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "customers",
            "One row per customer known to the CRM. Name, email and phone are personal data: "
            "never in the CAR or a snapshot; kept only for customers whose consent allows "
            "contact, for the single-customer view (see Personal data).",
            (
                Column("customer_id", "key", "Customer identifier.", required=True, nullable=False),
                Column("created_at", "timestamp", "When the customer record was created."),
                Column("home_country", "text", "ISO country code of residence.", default="unknown"),
                Column(
                    "home_store", "text", "Store the customer is attached to.", default="unknown"
                ),
                Column(
                    "preferred_language",
                    "text",
                    "Preferred language (ISO 639-1).",
                    default="unknown",
                ),
                Column("birth_year", "int", "Year of birth.", minimum=1900, maximum=2025),
                Column("gender", "text", "Self-declared gender.", allowed=GENDERS),
                Column("name", "text", "Full name.", pii=True),
                Column("email", "text", "Email address.", pii=True),
                Column("phone", "text", "Phone number.", pii=True),
            ),
            key=("customer_id",),
        ),
        Table(
            "order_lines",
            "One row per order line. The only required table.",
            (
                Column("order_id", "key", "Order identifier.", required=True, nullable=False),
                Column(
                    "line_id",
                    "key",
                    "Line number within the order (default: position in the file).",
                ),
                Column(
                    "customer_id",
                    "key",
                    "Customer who placed the order.",
                    required=True,
                    nullable=False,
                ),
                Column(
                    "ordered_at",
                    "timestamp",
                    "When the order was placed.",
                    required=True,
                    nullable=False,
                ),
                Column(
                    "channel", "text", "Sales channel.", default="unknown", allowed=ORDER_CHANNELS
                ),
                Column(
                    "store_id",
                    "text",
                    "Store of sale (web/app: the fulfilling hub).",
                    default="unknown",
                ),
                Column("country", "text", "ISO country code of the sale.", default="unknown"),
                Column("product_id", "key", "Product sold.", default="unknown"),
                Column("quantity", "int", "Units on the line.", default=1, minimum=0),
                Column("unit_price", "float", "List price per unit, in the line currency."),
                Column(
                    "discount",
                    "float",
                    "Discount as a fraction of list value (0-1).",
                    default=0.0,
                    minimum=0,
                    maximum=1,
                ),
                Column(
                    "net_amount",
                    "float",
                    "Amount paid for the line after discount, in the line currency.",
                    required=True,
                    nullable=False,
                ),
                Column(
                    "currency",
                    "text",
                    "ISO 4217 currency of the line.",
                    default=REPORTING_CURRENCY,
                    allowed=tuple(KNOWN_CURRENCIES),
                ),
                Column(
                    "fx_to_reporting",
                    "float",
                    "Daily rate converting the line currency to GBP.",
                    default=1.0,
                    minimum=0,
                ),
                Column(
                    "status", "text", "Line status.", default="completed", allowed=ORDER_STATUSES
                ),
                Column(
                    "returned_at",
                    "timestamp",
                    "When a returned line came back (only for status returned).",
                ),
                Column(
                    "cost",
                    "float",
                    "Cost of goods of the whole line, in the line currency (optional: gives "
                    "margin; else quantity x products.unit_cost).",
                    minimum=0,
                ),
            ),
            key=("order_id", "line_id"),
            required=True,
            references={"customer_id": "customers", "product_id": "products"},
        ),
        Table(
            "products",
            "The product master.",
            (
                Column("product_id", "key", "Product identifier.", required=True, nullable=False),
                Column(
                    "category",
                    "text",
                    "Merchandise category.",
                    default="unknown",
                    allowed=CATEGORIES,
                ),
                Column(
                    "sub_category", "text", "Sub-category within the category.", default="unknown"
                ),
                Column(
                    "department",
                    "text",
                    "Department (women, men, unisex, home).",
                    default="unknown",
                ),
                Column(
                    "collection",
                    "text",
                    "Collection or capsule the product launched in.",
                    default="unknown",
                ),
                Column(
                    "price_point",
                    "text",
                    "Price architecture tier.",
                    default="core",
                    allowed=PRICE_POINTS,
                ),
                Column("launch_date", "date", "Date the product was launched."),
                Column(
                    "unit_cost",
                    "float",
                    "Cost of goods of one unit, in GBP (optional: gives margin).",
                    minimum=0,
                ),
            ),
            key=("product_id",),
        ),
        Table(
            "interactions",
            "Contacts with the customer outside purchases: service, clienteling, events, email.",
            (
                Column("customer_id", "key", "Customer.", required=True, nullable=False),
                Column(
                    "at",
                    "timestamp",
                    "When the interaction happened.",
                    required=True,
                    nullable=False,
                ),
                Column(
                    "channel",
                    "text",
                    "Interaction channel.",
                    default="store",
                    allowed=INTERACTION_CHANNELS,
                ),
                Column(
                    "type",
                    "text",
                    "Interaction type.",
                    default="enquiry",
                    allowed=INTERACTION_TYPES,
                ),
                Column("topic", "text", "What the interaction was about.", default="unknown"),
                Column("department", "text", "Department concerned.", default="unknown"),
                Column(
                    "effort_score",
                    "int",
                    "Customer effort score, 1 (easy) to 7 (hard).",
                    minimum=1,
                    maximum=7,
                ),
            ),
            references={"customer_id": "customers"},
        ),
        Table(
            "surveys",
            "Survey responses: NPS and CSAT, by the channel being rated.",
            (
                Column("customer_id", "key", "Customer.", required=True, nullable=False),
                Column(
                    "at",
                    "timestamp",
                    "When the survey was answered.",
                    required=True,
                    nullable=False,
                ),
                Column(
                    "channel",
                    "text",
                    "Channel the survey rates.",
                    default="store",
                    allowed=SURVEY_CHANNELS,
                ),
                Column("nps", "int", "Likelihood to recommend, 0-10.", minimum=0, maximum=10),
                Column("csat", "int", "Satisfaction, 1-5.", minimum=1, maximum=5),
            ),
            references={"customer_id": "customers"},
        ),
        Table(
            "preferences",
            "Consent and stated preferences, one row per customer.",
            (
                Column("customer_id", "key", "Customer.", required=True, nullable=False),
                *_opt_ins(),
                *_topics(),
                Column(
                    "preferred_department",
                    "text",
                    "Department the customer prefers.",
                    default="unknown",
                ),
                Column(
                    "contactable",
                    "bool",
                    "May be contacted at all (no suppression).",
                    default=False,
                ),
                Column(
                    "consent_updated_at", "timestamp", "When consent was last given or changed."
                ),
                Column(
                    "profiling_opt_out",
                    "bool",
                    "Objected to profiling: no model scores, personas, strategy segment, "
                    "audiences or campaigns; still counted in anonymous totals.",
                    default=False,
                ),
            ),
            key=("customer_id",),
            references={"customer_id": "customers"},
        ),
        Table(
            "enrichment",
            "Third-party enrichment: a Mosaic-like geo-demographic code and wealth band.",
            (
                Column("customer_id", "key", "Customer.", required=True, nullable=False),
                Column(
                    "mosaic_group",
                    "text",
                    "Geo-demographic group (letter and name).",
                    default="unknown",
                ),
                Column(
                    "mosaic_type",
                    "text",
                    "Geo-demographic type within the group.",
                    default="unknown",
                ),
                Column(
                    "wealth_band",
                    "text",
                    "Estimated wealth band.",
                    default="unknown",
                    allowed=WEALTH_BANDS + ("unknown",),
                ),
                Column(
                    "region",
                    "text",
                    "Region of residence.",
                    default="unknown",
                    allowed=REGIONS + ("unknown",),
                ),
                Column("city", "text", "City of residence.", default="unknown"),
            ),
            key=("customer_id",),
            references={"customer_id": "customers"},
        ),
        Table(
            "accounts",
            "Credit accounts: balances, overdue amounts and write-offs, in GBP.",
            (
                Column("customer_id", "key", "Customer.", required=True, nullable=False),
                Column("portfolio", "text", "Account-managed book the customer belongs to."),
                Column("account_manager", "text", "Client adviser managing the account."),
                Column("credit_limit", "float", "Credit limit.", default=0.0, minimum=0),
                Column("balance", "float", "Outstanding balance.", default=0.0),
                Column(
                    "overdue_amount",
                    "float",
                    "Part of the balance past its due date.",
                    default=0.0,
                    minimum=0,
                ),
                Column(
                    "bad_debt_written_off",
                    "float",
                    "Debt written off as bad, to date.",
                    default=0.0,
                    minimum=0,
                ),
                Column("as_of", "date", "Date the balances were taken."),
            ),
            key=("customer_id",),
            references={"customer_id": "customers"},
        ),
        Table(
            "ledger",
            "Finance's booked figures per month, channel and category, in GBP.",
            (
                Column(
                    "period", "month", "Accounting month, YYYY-MM.", required=True, nullable=False
                ),
                Column(
                    "channel", "text", "Sales channel.", default="unknown", allowed=ORDER_CHANNELS
                ),
                Column(
                    "category",
                    "text",
                    "Merchandise category.",
                    default="unknown",
                    allowed=CATEGORIES,
                ),
                Column(
                    "net_sales",
                    "float",
                    "Net sales booked: sales less returns booked in the month, plus journals.",
                    required=True,
                    nullable=False,
                ),
                Column("returns", "float", "Returns booked in the month.", default=0.0),
            ),
            key=("period", "channel", "category"),
        ),
        Table(
            "fx_rates",
            "Finance's monthly booking rates (the month's average of daily rates), used by the ledger.",
            (
                Column(
                    "period", "month", "Accounting month, YYYY-MM.", required=True, nullable=False
                ),
                Column(
                    "currency",
                    "text",
                    "ISO 4217 currency.",
                    required=True,
                    nullable=False,
                    allowed=tuple(KNOWN_CURRENCIES),
                ),
                Column(
                    "rate",
                    "float",
                    "Rate to GBP used for the month.",
                    required=True,
                    nullable=False,
                    minimum=0,
                ),
            ),
            key=("period", "currency"),
        ),
        Table(
            "journals",
            "Manual journals Finance posted to net sales (reconciling items).",
            (
                Column("journal_id", "key", "Journal reference.", required=True, nullable=False),
                Column(
                    "period", "month", "Accounting month, YYYY-MM.", required=True, nullable=False
                ),
                Column(
                    "channel", "text", "Sales channel.", default="unknown", allowed=ORDER_CHANNELS
                ),
                Column(
                    "category",
                    "text",
                    "Merchandise category.",
                    default="unknown",
                    allowed=CATEGORIES,
                ),
                Column(
                    "amount",
                    "float",
                    "Amount posted to net sales, GBP.",
                    required=True,
                    nullable=False,
                ),
                Column("description", "text", "Why the journal was posted.", default=""),
            ),
            key=("journal_id",),
        ),
        Table(
            "targets",
            "Plan figures the views compare actuals with: one row per metric, period and cohort "
            "(a repeated one is quarantined). Checked against the catalog and the cohorts by "
            "'profiler metrics check --targets FILE'.",
            (
                Column(
                    "metric",
                    "text",
                    "Catalog metric name (any letter case).",
                    required=True,
                    nullable=False,
                ),
                Column(
                    "period",
                    "text",
                    "YYYY-MM, YYYY-Qn, YYYY, ytd:YYYY-MM, r12:YYYY-MM, or asof for a metric known "
                    "only at the CAR's date.",
                    required=True,
                    nullable=False,
                ),
                Column(
                    "cohort",
                    "text",
                    "Cohort name; empty or 'All customers' = the whole base.",
                    default="",
                ),
                Column(
                    "target",
                    "float",
                    "The target value, in the metric's unit (a share as a fraction: 0.05 = 5%).",
                    required=True,
                    nullable=False,
                ),
                Column("owner", "text", "Who answers for the target.", default=""),
            ),
        ),
        Table(
            "campaigns",
            "The campaign register: one row per campaign and audience customer, treated or held "
            "out as control. Written by 'profiler campaign add'; read by 'profiler campaign "
            "report', which measures the response in the order lines after the send.",
            (
                Column("campaign", "text", "Campaign name.", required=True, nullable=False),
                Column("customer_id", "key", "Customer.", required=True, nullable=False),
                Column(
                    "group",
                    "text",
                    "treated (contacted) or control (held out at random).",
                    required=True,
                    nullable=False,
                    allowed=CAMPAIGN_GROUPS,
                ),
                Column(
                    "channel",
                    "text",
                    "Channel the treated customers were contacted on.",
                    required=True,
                    nullable=False,
                    allowed=OPT_IN_CHANNELS,
                ),
                Column(
                    "sent_at", "date", "Day the campaign was sent.", required=True, nullable=False
                ),
                Column(
                    "cost",
                    "float",
                    "The campaign's whole cost in GBP, the same on each of its rows.",
                    default=0.0,
                    minimum=0,
                ),
                Column("audience", "text", "Audience file the customers came from.", default=""),
                Column("seed", "int", "Seed of the audience's random control split."),
            ),
            key=("campaign", "customer_id"),
            references={"customer_id": "customers"},
        ),
    )
}

# Parents are loaded before the tables that reference them.
LOAD_ORDER = (
    "customers",
    "products",
    "order_lines",
    "interactions",
    "surveys",
    "preferences",
    "enrichment",
    "accounts",
    "ledger",
    "fx_rates",
    "journals",
    "targets",
    "campaigns",
)

PII_COLUMNS = {t.name: [c.name for c in t.columns if c.pii] for t in TABLES.values()}


def contract_markdown() -> str:
    """The tables of the contract as Markdown, for docs/data-contract.md (a test keeps them equal)."""
    out = []
    for name in LOAD_ORDER:
        table = TABLES[name]
        need = "required" if table.required else "optional"
        out.append(f"### `{name}` ({need})\n")
        out.append(table.description + "\n")
        if table.key:
            out.append(f"Key: {', '.join(table.key)}.")
        if table.references:
            refs = ", ".join(f"{c} → {t}" for c, t in table.references.items())
            out.append(f" References: {refs}.")
        out.append("\n\n| column | type | required | default | allowed / range | description |\n")
        out.append("|---|---|---|---|---|---|\n")
        for c in table.columns:
            allowed = ", ".join(c.allowed) if c.allowed else ""
            if c.minimum is not None or c.maximum is not None:
                lo = "" if c.minimum is None else f"≥ {c.minimum:g}"
                hi = "" if c.maximum is None else f"≤ {c.maximum:g}"
                allowed = " ".join(x for x in (lo, hi) if x)
            required = "yes" if c.required else ("non-empty" if not c.nullable else "")
            default = "" if c.default is None else f"`{c.default}`"
            description = c.description + (" **Personal data.**" if c.pii else "")
            out.append(
                f"| {c.name} | {c.kind} | {required} | {default} | {allowed} | {description} |\n"
            )
        out.append("\n")
    return "".join(out)
