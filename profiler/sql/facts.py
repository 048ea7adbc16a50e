"""Order facts in SQL: the relation every sales figure starts from, as profiler/facts.py defines it.

``order_facts`` is every accepted order line joined to its product, in GBP (the metric catalog's
rows).  ``car_facts`` cuts them at the as-of day D and adds the line's state as of D, as
profiler/car_context.py does: a line returned after D is still kept, and ``population`` is every
customer with a line or an account opened on or before D.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlglot import exp

from ..contract import TABLES
from ..facts import PRODUCT_ATTRIBUTES

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
        )


def _product_attribute(name: str, shape: FactsShape) -> exp.Expression:
    """A product attribute of the line: the contract's default when the product is unknown."""
    default = TABLES["products"].column(name).default
    if not shape.has_products:
        return text(default) if default is not None else exp.cast(exp.null(), "TIMESTAMP")
    value = col(name, "p")
    return exp.func("COALESCE", value, text(default)) if default is not None else value


def order_facts(shape: FactsShape) -> exp.Select:
    """Every accepted order line with its product's attributes and GBP amounts."""
    fx = col("fx_to_reporting", "l")
    net = exp.Mul(this=col("net_amount", "l"), expression=fx)
    if shape.has_unit_price:
        list_value = exp.Mul(
            this=exp.Mul(this=as_double(col("quantity", "l")), expression=col("unit_price", "l")),
            expression=fx,
        )
        gross = exp.func("COALESCE", list_value, net.copy())
    else:
        keep = exp.paren(exp.Sub(this=number(1.0), expression=col("discount", "l")))
        gross = case(
            exp.GT(this=keep, expression=number(0)),
            exp.Div(this=net.copy(), expression=keep.copy()),
            net.copy(),
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
        "status",
        "returned_at",
    ]
    select = exp.select(
        *(col(c, "l").as_(c) for c in line_columns),
        *(_product_attribute(a, shape).as_(a) for a in PRODUCT_ATTRIBUTES),
        net.as_("net_gbp"),
        gross.as_("gross_gbp"),
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
    return select


def car_facts(shape: FactsShape, as_of: pd.Timestamp) -> exp.Select:
    """Order facts ordered on or before D, with each line's state as of D.

    kept: completed, or returned after D (or with no return date); returned: came back on or
    before D; cancelled: cancelled.
    """
    cutoff = timestamp(as_of + DAY)
    status = col("status")
    back_by_d = exp.func(
        "COALESCE", exp.LT(this=col("returned_at"), expression=cutoff.copy()), exp.false()
    )
    is_returned = exp.EQ(this=status.copy(), expression=text("returned"))
    kept = exp.or_(
        exp.EQ(this=status.copy(), expression=text("completed")),
        exp.and_(is_returned.copy(), exp.not_(back_by_d.copy())),
    )
    return (
        exp.select(
            exp.Star(),
            exp.func("COALESCE", kept, exp.false()).as_("kept"),
            exp.func("COALESCE", exp.and_(is_returned, back_by_d), exp.false()).as_("returned"),
            exp.func(
                "COALESCE", exp.EQ(this=status.copy(), expression=text("cancelled")), exp.false()
            ).as_("cancelled"),
        )
        .from_(order_facts(shape).subquery("facts"))
        .where(exp.LT(this=col("ordered_at"), expression=cutoff))
    )


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
