"""Order facts in SQL: the relation every sales figure starts from, as profiler/facts.py defines it.

``order_facts`` is ``facts.order_facts`` written in SQL, for engines that hold the order lines
(they never enter this process): every accepted order line ordered on or before D, joined to its
product, in whole pence and pounds of GBP (``minor_units``: the same rounding, to the bit), with
its status as of D (a line returned after D is completed, its returned_at empty).  ``car_facts``
adds the line's state as booleans (kept, returned, cancelled), as profiler/car_context.py does,
and ``population`` is every customer with a line or an account opened on or before D.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlglot import exp

from ..contract import TABLES
from ..facts import HALF_TOLERANCE, PENCE, PRODUCT_ATTRIBUTES

DAY = pd.Timedelta(days=1)


def col(name: str, table: str | None = None) -> exp.Column:
    """A quoted column reference (names come from definitions, never from pasted text)."""
    return exp.column(name, table=table, quoted=True)


def text(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def number(value: float | int) -> exp.Expression:
    return exp.Literal.number(value)


def timestamp(value: pd.Timestamp) -> exp.Cast:
    """A timestamp literal, the same in every dialect."""
    return exp.cast(text(pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")), "TIMESTAMP")


def as_double(node: exp.Expression) -> exp.Cast:
    return exp.cast(node, "DOUBLE")


def case(condition: exp.Expression, then: exp.Expression, default: exp.Expression | None = None):
    """CASE WHEN condition THEN then [ELSE default] END."""
    node = exp.Case().when(condition, then)
    return node.else_(default) if default is not None else node


def paren(node: exp.Expression) -> exp.Expression:
    """``node`` in parentheses unless it is a column or a literal: sqlglot renders a tree as it
    stands, so an operand that is itself an operation needs them to keep its meaning."""
    return node if isinstance(node, exp.Column | exp.Literal) else exp.paren(node)


def ratio(num: exp.Expression, den: exp.Expression) -> exp.Expression:
    """num / den as DOUBLE, NULL (NaN in the CAR) where den is not positive or missing
    (``families._util.ratio``)."""
    return case(
        exp.GT(this=den, expression=number(0)),
        exp.Div(this=as_double(num), expression=as_double(den.copy())),
    )


def window(
    func: exp.Expression,
    partition: list[exp.Expression],
    order: list[exp.Expression],
    *,
    nulls_first: bool = False,
) -> exp.Window:
    """func OVER (PARTITION BY partition ORDER BY order), missing values last or first."""
    return exp.Window(
        this=func,
        partition_by=partition,
        order=exp.Order(expressions=[exp.Ordered(this=o, nulls_first=nulls_first) for o in order]),
    )


def day_of(node: exp.Expression) -> exp.Cast:
    """The calendar day of a timestamp."""
    return exp.cast(node, "DATE")


def as_of_day(as_of: pd.Timestamp) -> exp.Cast:
    """D as a DATE literal."""
    return exp.cast(text(pd.Timestamp(as_of).strftime("%Y-%m-%d")), "DATE")


def days_from(start: exp.Expression, end: exp.Expression) -> exp.DateDiff:
    """Whole days from the date ``start`` to the date ``end`` (no unit: Spark's DATEDIFF then
    counts calendar days)."""
    return exp.DateDiff(this=end, expression=start)


@dataclass(frozen=True)
class FactsShape:
    """What the sources provide, which decides how a fact column is made."""

    has_products: bool
    has_unit_price: bool
    product_id_as_text: bool  # order lines and products key products with different types
    # A cost of goods (profiler/margin.py): products.unit_cost, order_lines.cost.
    has_unit_cost: bool = False
    has_line_cost: bool = False

    @property
    def has_cost(self) -> bool:
        return (self.has_products and self.has_unit_cost) or self.has_line_cost

    @classmethod
    def of(cls, source) -> FactsShape:  # noqa: ANN001 (a SourceData)
        has_products = source.has("products")
        same_type = has_products and source.column_type(
            "products", "product_id"
        ) == source.column_type("order_lines", "product_id")
        return cls(
            has_products=has_products,
            has_unit_price=source.has_column("order_lines", "unit_price"),
            product_id_as_text=has_products and not same_type,
            has_unit_cost=source.has_column("products", "unit_cost"),
            has_line_cost=source.has_column("order_lines", "cost"),
        )


def _product_attribute(name: str, shape: FactsShape) -> exp.Expression:
    """A product attribute of the line: the contract's default when the product is unknown."""
    default = TABLES["products"].column(name).default
    if not shape.has_products:
        return text(default) if default is not None else exp.cast(exp.null(), "TIMESTAMP")
    value = col(name, "p")
    return exp.func("COALESCE", value, text(default)) if default is not None else value


def double_literal(value: float) -> exp.Cast:
    """A DOUBLE literal with exactly the bits of ``value`` (its shortest repr, parsed)."""
    return exp.cast(text(repr(float(value))), "DOUBLE")


def minor_units(amount: exp.Expression, rate: exp.Expression) -> exp.Cast:
    """``facts.to_minor_units`` in SQL: amount x rate in whole pence (BIGINT), half away from
    zero, with the same doubles in the same order, so every engine gets the same pence."""
    value = exp.Mul(
        this=exp.Mul(this=paren(amount), expression=paren(rate)), expression=double_literal(PENCE)
    )
    size = exp.Abs(this=value)
    whole = as_double(exp.Floor(this=size.copy()))
    near_half = exp.Sub(
        this=double_literal(0.5),
        expression=exp.Mul(this=size.copy(), expression=double_literal(HALF_TOLERANCE)),
    )
    up = case(
        exp.GTE(this=exp.Sub(this=size.copy(), expression=whole.copy()), expression=near_half),
        double_literal(1.0),
        double_literal(0.0),
    )
    magnitude = exp.paren(exp.Add(this=whole.copy(), expression=up))
    signed = case(
        exp.LT(this=value.copy(), expression=double_literal(0.0)),
        exp.Neg(this=magnitude),
        magnitude.copy(),
    )
    return exp.cast(signed, "BIGINT")


def pounds(pence: exp.Expression) -> exp.Div:
    """Whole pence as pounds: pence / 100 in doubles (``facts.pounds``)."""
    return exp.Div(this=as_double(pence), expression=double_literal(PENCE))


def _cost_columns(shape: FactsShape) -> list[exp.Expression]:
    """cost_pence, cost_gbp and costed by ``margin.line_cost``'s rule: order_lines.cost at the
    line's rate when given, else quantity x products.unit_cost (GBP), else no known cost (0
    pence, costed false); none without a cost of goods."""
    if not shape.has_cost:
        return []
    from_product = (
        exp.Mul(this=as_double(col("quantity", "l")), expression=as_double(col("unit_cost", "p")))
        if shape.has_products and shape.has_unit_cost
        else exp.cast(exp.null(), "DOUBLE")
    )
    if shape.has_line_cost:
        given = exp.Not(this=exp.Is(this=col("cost", "l"), expression=exp.null()))
        amount = case(given, as_double(col("cost", "l")), from_product)
        rate = case(given.copy(), col("fx_to_reporting", "l"), double_literal(1.0))
    else:
        amount, rate = from_product, double_literal(1.0)
    known = exp.Not(this=exp.Is(this=paren(amount.copy()), expression=exp.null()))
    cost_pence = minor_units(exp.func("COALESCE", amount, double_literal(0.0)), rate)
    return [
        cost_pence.as_("cost_pence"),
        pounds(cost_pence.copy()).as_("cost_gbp"),
        known.as_("costed"),
    ]


def order_facts(shape: FactsShape, as_of: pd.Timestamp | None = None) -> exp.Select:
    """Every accepted order line ordered on or before D, in its state as of D, with its
    product's attributes and GBP amounts (``facts.order_facts``); ``as_of=None``: every line as
    the data stands."""
    fx = col("fx_to_reporting", "l")
    net = col("net_amount", "l")
    if shape.has_unit_price:
        list_value = exp.Mul(
            this=as_double(col("quantity", "l")), expression=col("unit_price", "l")
        )
        gross = exp.func("COALESCE", list_value, net.copy())
    else:
        keep = exp.paren(exp.Sub(this=double_literal(1.0), expression=col("discount", "l")))
        gross = case(
            exp.GT(this=keep, expression=number(0)),
            exp.Div(this=net.copy(), expression=keep.copy()),
            net.copy(),
        )
    status, returned_at = col("status", "l"), col("returned_at", "l")
    if as_of is not None:
        cutoff = timestamp(pd.Timestamp(as_of).normalize() + DAY)
        back = exp.func("COALESCE", exp.LT(this=returned_at, expression=cutoff), exp.false())
        not_back = exp.and_(
            exp.EQ(this=col("status", "l"), expression=text("returned")), exp.not_(back)
        )
        status = case(not_back, text("completed"), col("status", "l"))
        returned_at = case(
            not_back.copy(), exp.cast(exp.null(), "TIMESTAMP"), col("returned_at", "l")
        )
    line_columns = [
        "customer_id",
        "order_id",
        "line_id",
        "ordered_at",
        "channel",
        "store_id",
        "country",
        "product_id",
        "quantity",
        "discount",
        "currency",
        "net_amount",
    ]
    net_pence = minor_units(net.copy(), fx)
    gross_pence = minor_units(gross, fx.copy())
    select = exp.select(
        *(col(c, "l").as_(c) for c in line_columns),
        status.as_("status"),
        returned_at.as_("returned_at"),
        *(_product_attribute(a, shape).as_(a) for a in PRODUCT_ATTRIBUTES),
        net_pence.as_("net_pence"),
        gross_pence.as_("gross_pence"),
        pounds(net_pence.copy()).as_("net_gbp"),
        pounds(gross_pence.copy()).as_("gross_gbp"),
        *_cost_columns(shape),
        exp.TimestampTrunc(this=col("ordered_at", "l"), unit=exp.var("MONTH")).as_("month"),
    ).from_(exp.to_table("order_lines").as_("l"))
    if shape.has_products:
        left, right = col("product_id", "l"), col("product_id", "p")
        if shape.product_id_as_text:
            left, right = exp.cast(left, "VARCHAR"), exp.cast(right, "VARCHAR")
        select = select.join(
            exp.to_table("products").as_("p"),
            on=exp.EQ(this=left, expression=right),
            join_type="LEFT",
        )
    if as_of is not None:
        cutoff = timestamp(pd.Timestamp(as_of).normalize() + DAY)
        select = select.where(exp.LT(this=col("ordered_at", "l"), expression=cutoff))
    return select


def car_facts(shape: FactsShape, as_of: pd.Timestamp) -> exp.Select:
    """Order facts as of D with each line's state as booleans: kept (completed as of D),
    returned (came back on or before D), cancelled."""

    def flag(name: str) -> exp.Expression:
        is_it = exp.EQ(this=col("status"), expression=text(name))
        return exp.func("COALESCE", is_it, exp.false())

    return exp.select(
        exp.Star(),
        flag("completed").as_("kept"),
        flag("returned").as_("returned"),
        flag("cancelled").as_("cancelled"),
    ).from_(order_facts(shape, as_of).subquery("facts"))


def population(has_customers: bool, as_of: pd.Timestamp) -> exp.Expression:
    """Customer ids of the CAR as of D (unsorted): buyers on or before D, and customers whose
    account was opened on or before D (or carries no date)."""
    cutoff = timestamp(as_of + DAY)
    buyers = (
        exp.select(col("customer_id"))
        .from_("order_lines")
        .where(exp.LT(this=col("ordered_at"), expression=cutoff))
    )
    if not has_customers:
        return buyers.distinct()
    created = col("created_at")
    opened = (
        exp.select(col("customer_id"))
        .from_("customers")
        .where(
            exp.or_(
                exp.Is(this=created, expression=exp.null()),
                exp.LT(this=created.copy(), expression=cutoff.copy()),
            )
        )
    )
    return exp.union(buyers, opened, distinct=True)
