"""The filter / derived-metric expression language: parsing, evaluation and its error messages."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from profiler.errors import ProfilerError
from profiler.expressions import (
    Binary,
    Bool,
    Date,
    ExpressionError,
    InList,
    IsNull,
    Name,
    Number,
    String,
    Unary,
    check_names,
    evaluate_mask,
    evaluate_number,
    names,
    parse,
    to_text,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": pd.Categorical(["Europe", "Asia", None, "Europe", "Americas"]),
            "country": ["FR", "JP", None, "DE", "US"],
            "rfm_score": [5, 3, np.nan, 4, 1],
            "lifecycle_stage": ["active", "lapsed", "active", "reactivated", None],
            "contactable": [True, False, True, True, False],
            "first_order": pd.to_datetime(
                ["2024-01-01", "2023-05-01", None, "2024-06-30", "2022-02-02"]
            ),
            "net_sales": [100.0, 50.0, 0.0, 10.0, 5.0],
            "returns_value": [10.0, 0.0, 0.0, 10.0, 5.0],
            "spend_l12m_category_shoes": [1.0, 0.0, 2.0, 0.0, 3.0],
            "orders count": [1, 2, 3, 4, 5],
        },
        index=[10, 20, 30, 40, 50],  # a non-default index must not matter
    )


def mask(text: str, frame: pd.DataFrame) -> list[bool]:
    result = evaluate_mask(parse(text), frame, text)
    assert isinstance(result, np.ndarray) and result.dtype == bool and len(result) == len(frame)
    return result.tolist()


def error(text: str, frame: pd.DataFrame | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        node = parse(text)
        if frame is not None:
            evaluate_mask(node, frame, text)
    err = info.value
    assert "\n" not in str(err)
    assert str(err).startswith(f"expression '{text}'")
    return err


# -- parsing -------------------------------------------------------------------------------------


def test_arithmetic_precedence() -> None:
    assert parse("1 + 2 * 3") == Binary("+", Number(1), Binary("*", Number(2), Number(3)))
    assert parse("(1 + 2) * 3") == Binary("*", Binary("+", Number(1), Number(2)), Number(3))
    assert parse("a - b - c") == Binary("-", Binary("-", Name("a"), Name("b")), Name("c"))
    assert evaluate_number(parse("1 + 2 * 3"), lambda n: 0.0) == 7.0
    assert evaluate_number(parse("8 / 4 / 2"), lambda n: 0.0) == 1.0


def test_boolean_precedence() -> None:
    a, b, c = Name("a"), Name("b"), Name("c")
    assert parse("not a and b or c") == Binary("or", Binary("and", Unary("not", a), b), c)
    assert parse("a or b and c") == Binary("or", a, Binary("and", b, c))
    assert parse("not a == 1") == Unary("not", Binary("==", a, Number(1)))
    assert parse("a + 1 > b * 2") == Binary(
        ">", Binary("+", a, Number(1)), Binary("*", b, Number(2))
    )


def test_literals_and_names() -> None:
    assert parse("1_000") == Number(1000)
    assert parse("1e3") == Number(1000.0)
    assert parse("3.5") == Number(3.5)
    assert parse("-2") == Number(-2)
    assert parse("'it\\'s'") == String("it's")
    assert parse('"say \\"hi\\""') == String('say "hi"')
    assert parse("true") == Bool(True) and parse("false") == Bool(False)
    assert parse('date("2024-01-31")') == Date(dt.date(2024, 1, 31))
    assert parse("`orders count`") == Name("orders count")
    assert parse("`and`") == Name("and")
    assert parse("spend_l12m_category_shoes") == Name("spend_l12m_category_shoes")
    assert parse("x in (1, -2, 'a',)") == InList(
        Name("x"), (Number(1), Number(-2), String("a")), False
    )
    assert parse("x not in (true)") == InList(Name("x"), (Bool(True),), True)
    assert parse("x is null") == IsNull(Name("x"), False)
    assert parse("x is not null") == IsNull(Name("x"), True)


def test_names_and_positions() -> None:
    node = parse('region == "Europe" and rfm_score >= 4 or `orders count` > 1')
    assert names(node) == {"region", "rfm_score", "orders count"}
    assert parse("  abc").pos == 2


def test_to_text_normalises_spelling() -> None:
    one = parse("region=='Europe'   and(rfm_score>=4)")
    two = parse('region == "Europe" and rfm_score >= 4')
    assert one == two
    assert to_text(one) == to_text(two) == '(region == "Europe") and (rfm_score >= 4)'
    assert to_text(parse("x in ('a','b',)")) == 'x in ("a", "b")'
    assert to_text(parse("-(a + b)")) == "-(a + b)"
    assert to_text(parse("a - -1")) == "a - -1"
    assert to_text(parse("`orders count` is not null")) == "`orders count` is not null"
    assert to_text(parse("not not a")) == "not (not a)"


@pytest.mark.parametrize(
    "text",
    [
        'not a and b or c in (1, 2.5, "x\\"y", true, date("2024-01-31"))',
        "(net_sales - returns_value) / customers",
        "-(a * -b) + 1e3 - 1_000",
        "`weird name` is null or x not in ('a\\\\b')",
        "a / (b / c)",
        "(a == 1) == (b != 2)",
    ],
)
def test_to_text_round_trips(text: str) -> None:
    node = parse(text)
    assert parse(to_text(node)) == node
    assert to_text(parse(to_text(node))) == to_text(node)


# -- masks ---------------------------------------------------------------------------------------


def test_cohort_filter(frame: pd.DataFrame) -> None:
    text = 'region == "Europe" and rfm_score >= 4 and lifecycle_stage in ("active", "reactivated")'
    assert mask(text, frame) == [True, False, False, True, False]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rfm_score == 4", [False, False, False, True, False]),
        ("rfm_score != 4", [True, True, False, False, True]),
        ("rfm_score < 4", [False, True, False, False, True]),
        ("rfm_score <= 4", [False, True, False, True, True]),
        ("rfm_score > 4", [True, False, False, False, False]),
        ("rfm_score >= 4", [True, False, False, True, False]),
        ("net_sales - returns_value > 10", [True, True, False, False, False]),
        ("net_sales + returns_value == 20", [False, False, False, True, False]),
        ("net_sales * 2 == 20", [False, False, False, True, False]),
        ("-net_sales < -20", [True, True, False, False, False]),
        ("returns_value / net_sales == 1", [False, False, False, True, True]),
        ("spend_l12m_category_shoes > 0", [True, False, True, False, True]),
        ("`orders count` >= 4", [False, False, False, True, True]),
        ("1 < 2", [True] * 5),
        ("false", [False] * 5),
    ],
)
def test_operators(text: str, expected: list[bool], frame: pd.DataFrame) -> None:
    assert mask(text, frame) == expected


def test_logic_and_precedence(frame: pd.DataFrame) -> None:
    # not contactable and rfm_score > 2 or country == "US" -> ((not c) and r > 2) or US
    assert mask('not contactable and rfm_score > 2 or country == "US"', frame) == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert mask('not (contactable and rfm_score > 2 or country == "US")', frame) == [
        False,
        True,
        False,
        False,
        False,
    ]


def test_in_and_not_in(frame: pd.DataFrame) -> None:
    assert mask('country in ("FR", "US")', frame) == [True, False, False, False, True]
    assert mask('country not in ("FR", "US")', frame) == [False, True, False, True, False]
    assert mask("rfm_score in (1, 5.0)", frame) == [True, False, False, False, True]
    assert mask("rfm_score not in (1, 5)", frame) == [False, True, False, True, False]
    assert mask('region in ("Asia",)', frame) == [False, True, False, False, False]
    assert mask("contactable in (false)", frame) == [False, True, False, False, True]


def test_is_null(frame: pd.DataFrame) -> None:
    assert mask("region is null", frame) == [False, False, True, False, False]
    assert mask("rfm_score is not null", frame) == [True, True, False, True, True]
    assert mask("lifecycle_stage is null or country is null", frame) == [
        False,
        False,
        True,
        False,
        True,
    ]
    assert mask("first_order is null", frame) == [False, False, True, False, False]


def test_missing_values_never_match(frame: pd.DataFrame) -> None:
    # Row 3 has no region, rfm_score or first_order: no comparison holds, not even != or not.
    assert mask('region != "Asia"', frame)[2] is False
    assert mask("rfm_score != 100", frame)[2] is False
    assert mask("not rfm_score == 100", frame)[2] is False
    assert mask("rfm_score > 0 or contactable", frame)[2] is True
    nullable = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "s": pd.array(["a", None, "c"], dtype="string"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "o": pd.Series([None, None, None], dtype=object),
        }
    )
    assert mask("n >= 1", nullable) == [True, False, True]
    assert mask('s != "a"', nullable) == [False, False, True]
    assert mask("b", nullable) == [True, False, False]
    assert mask("not b", nullable) == [False, False, True]
    assert mask("o == 1 or o is null", nullable) == [True, True, True]


def test_dates_against_datetime_column(frame: pd.DataFrame) -> None:
    assert mask('first_order >= date("2024-01-01")', frame) == [True, False, False, True, False]
    assert mask("first_order < '2024-01-01'", frame) == [False, True, False, False, True]
    assert mask('first_order == "2024-06-30"', frame) == [False, False, False, True, False]
    assert mask('first_order in (date("2022-02-02"), "2024-01-01")', frame) == [
        True,
        False,
        False,
        False,
        True,
    ]
    aware = pd.DataFrame({"t": pd.to_datetime(["2024-01-01 12:00"]).tz_localize("Europe/Paris")})
    assert mask('t > date("2024-01-01")', aware) == [True]


def test_categorical_columns(frame: pd.DataFrame) -> None:
    assert mask('region == "Europe"', frame) == [True, False, False, True, False]
    assert mask('region != "Europe"', frame) == [False, True, False, False, True]
    assert mask('region < "B"', frame) == [False, True, False, False, True]
    assert mask("region == country", frame) == [False] * 5
    numbers = pd.DataFrame({"tier": pd.Categorical([1, 2, 3])})
    assert mask("tier >= 2", numbers) == [False, True, True]


def test_bare_booleans(frame: pd.DataFrame) -> None:
    assert mask("contactable and rfm_score >= 4", frame) == [True, False, False, True, False]
    assert mask("not contactable", frame) == [False, True, False, False, True]
    assert mask("contactable == false", frame) == [False, True, False, False, True]


def test_result_is_vectorised_for_a_larger_frame() -> None:
    big = pd.DataFrame({"x": np.arange(100_000, dtype=float)})
    result = evaluate_mask(parse("x >= 50000 and x / 2 < 30000"), big)
    assert result.sum() == 10_000


# -- numbers -------------------------------------------------------------------------------------


def test_evaluate_number() -> None:
    values = {"net_sales": 120.0, "returns_value": 20.0, "customers": 4.0, "zero": 0.0}
    lookup = values.__getitem__
    assert evaluate_number(parse("(net_sales - returns_value) / customers"), lookup) == 25.0
    assert evaluate_number(parse("-customers * 2 + 1"), lookup) == -7.0
    assert math.isnan(evaluate_number(parse("net_sales / zero"), lookup))
    assert math.isnan(evaluate_number(parse("1 / (customers - 4)"), lookup))
    assert math.isnan(
        evaluate_number(
            parse("net_sales + missing"), {"net_sales": 1.0, "missing": float("nan")}.__getitem__
        )
    )


def test_evaluate_number_per_group() -> None:
    groups = {"a": pd.Series([1.0, 6.0]), "b": pd.Series([0.0, 3.0])}
    result = evaluate_number(parse("a / b"), groups.__getitem__)
    assert math.isnan(result.iloc[0]) and result.iloc[1] == 2.0


def test_evaluate_number_rejects_logic() -> None:
    for text in ("a > 1", "a and b", "not a", 'a + "x"', "a in (1)", "a is null", "true"):
        with pytest.raises(ExpressionError, match="only arithmetic is allowed here"):
            evaluate_number(parse(text), lambda n: 1.0, text)


def test_evaluate_number_unknown_metric() -> None:
    with pytest.raises(ExpressionError, match="unknown metric 'b'") as info:
        evaluate_number(parse("a + b"), {"a": 1.0}.__getitem__, "a + b")
    assert info.value.position == 4


# -- errors --------------------------------------------------------------------------------------


def test_error_is_a_profiler_error() -> None:
    assert issubclass(ExpressionError, ProfilerError)


def test_unknown_column_did_you_mean(frame: pd.DataFrame) -> None:
    err = error("rfm_scor >= 4", frame)
    assert err.position == 0
    assert str(err) == (
        "expression 'rfm_scor >= 4' at position 0: unknown column 'rfm_scor'."
        " Did you mean 'rfm_score'?"
    )
    err = error("region == Europa and x", frame)
    assert err.position == 10
    assert "unknown column 'Europa'. Did you mean 'Europe'?" in str(err)


def test_check_names() -> None:
    node = parse("net_sales / custmers")
    check_names("net_sales / customers", parse("net_sales / customers"), ["net_sales", "customers"])
    with pytest.raises(ExpressionError) as info:
        check_names("net_sales / custmers", node, ["net_sales", "customers"], kind="metric")
    assert info.value.position == 12
    assert str(info.value).endswith("unknown metric 'custmers'. Did you mean 'customers'?")
    with pytest.raises(ExpressionError, match=r"unknown column 'zzz'\.$"):
        check_names("zzz", parse("zzz"), ["net_sales"])


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("(a == 1", 7, "expected ')' to close the '(' at position 0 but found end of expression"),
        ("a == 1 b", 7, "unexpected 'b' after a complete expression"),
        ("a == 1)", 6, "unmatched ')'"),
        ("a $ b", 2, "unexpected character '$'"),
        ("a = 1", 2, "use '==' to compare"),
        ("a == ", 5, "expected a value after '==' but found end of expression"),
        ("a and or b", 6, "expected a value after 'and' but found 'or'"),
        ("", None, "the expression is empty"),
        ("   ", None, "the expression is empty"),
        ('date("2024-02-30")', 5, "'2024-02-30' is not a valid date"),
        ('date("31/01/2024")', 5, "'31/01/2024' is not a valid date"),
        ("date(2024)", 5, "expected a quoted date"),
        ("'abc", 0, "unclosed text"),
        ("`abc", 0, "unclosed '`'"),
        ("12abc", 0, "malformed number '12abc'"),
        ("1__0", 0, "malformed number '1__0'"),
        ("a < b < c", 6, "comparisons cannot be chained"),
        ("x in Europe", 5, "expected '(' after 'in'"),
        ("x in ()", 6, "expected at least one value"),
        ("x in (Europe)", 6, "must be literals"),
        ("a not b", 6, "expected 'in' after 'not'"),
        ("a is 3", 5, "expected 'null' after 'is'"),
    ],
)
def test_parse_errors(text: str, position: int | None, message: str) -> None:
    err = error(text)
    assert err.position == position
    assert message in err.message
    assert message in str(err)
    if position is not None:
        assert f"at position {position}:" in str(err)


def test_type_clashes(frame: pd.DataFrame) -> None:
    err = error("region > 3", frame)
    assert "column 'region' holds text; compare it with a quoted string" in str(err)
    err = error('rfm_score == "5"', frame)
    assert "column 'rfm_score' holds numbers" in str(err)
    err = error("first_order > 3", frame)
    assert "column 'first_order' holds dates" in str(err)
    err = error('first_order > "soon"', frame)
    assert "cannot read 'soon' as a date" in str(err) and err.position == 14
    err = error("country in (1, 2)", frame)
    assert "column 'country' holds text" in str(err)
    err = error("rfm_score == country", frame)
    assert "cannot compare column 'rfm_score' (numbers) with column 'country' (text)" in str(err)
    err = error("country + 1 > 2", frame)
    assert "'+' needs numbers but column 'country' holds text" in str(err)
    err = error("contactable > true", frame)
    assert "can only be compared with == or !=" in str(err)


def test_bare_non_boolean_column(frame: pd.DataFrame) -> None:
    err = error("rfm_score and contactable", frame)
    assert err.message == "column 'rfm_score' is not true/false; compare it, e.g. rfm_score > 0"
    err = error("contactable or country", frame)
    assert err.position == 15
    assert "column 'country' is not true/false" in err.message
    err = error("net_sales - returns_value", frame)
    assert "not a condition" in err.message


def test_error_without_text_uses_canonical_form(frame: pd.DataFrame) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_mask(parse("rfm_score  and true"), frame)
    assert str(info.value).startswith("expression 'rfm_score and true': column 'rfm_score'")


def test_no_eval() -> None:
    for text in (
        '__import__("os").system("echo hi")',
        "open('x').read()",
        "[1, 2]",
        "a.b",
        "lambda: 1",
        "x if y else z",
        "a ** 2",
    ):
        with pytest.raises(ExpressionError):
            parse(text)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ExpressionError, match="nests more than"):
        parse("(" * 500 + "1" + ")" * 500)
    with pytest.raises(ExpressionError, match="levels deep"):
        parse(" + ".join(["a"] * 1000))


@pytest.mark.parametrize(
    "text",
    [
        'status == "completed"',
        '"completed" != status',
        'status in ("returned", "cancelled")',
        'status not in ("returned", "x")',
        'not (status == "returned") and status != "cancelled"',
    ],
)
def test_text_columns_compare_the_same_as_python_strings(text: str) -> None:
    """pandas strings and string categories take a vectorised path; object columns the general
    one: both must give the same three-valued answer, missing values included."""
    values = ["completed", "returned", None, "cancelled", "completed", None, "Completed"]
    node = parse(text)
    expected = evaluate_mask(node, pd.DataFrame({"status": pd.Series(values, dtype=object)}), text)
    for dtype in ("string", "string[pyarrow]", "category"):
        frame = pd.DataFrame({"status": pd.Series(values, dtype=dtype)})
        assert evaluate_mask(node, frame, text).tolist() == expected.tolist(), dtype


# Parsed once: the catalog, the cohorts and the export mapping parse each text as they load, and
# what uses them afterwards evaluates those trees (no consumer keeps a cache of its own).
def test_texts_are_parsed_as_they_load_and_never_again(tmp_path, monkeypatch) -> None:
    from profiler import expressions
    from profiler.catalog import load_catalog
    from profiler.cohorts import CohortSet, columns_used, load_cohort_spec

    catalog = load_catalog()
    (tmp_path / "cohorts.yaml").write_text(
        "groups:\n"
        "  - group: Everyone\n"
        "    cohorts:\n"
        "      - name: All customers\n"
        "  - group: Buyers\n"
        "    cohorts:\n"
        "      - name: Repeat\n"
        "        filter: orders_ltd >= 2 and region == 'Europe'\n"
        "      - name: Repeat abroad\n"
        "        within: Repeat\n"
        "        filter: not region == 'Europe'\n"
    )
    spec = load_cohort_spec(tmp_path / "cohorts.yaml")

    def refuse(text: str) -> None:
        raise AssertionError(f"parsed again: {text}")

    monkeypatch.setattr(expressions, "parse", refuse)
    filtered = [m for m in catalog.metrics.values() if m.filter]
    derived = [m for m in catalog.metrics.values() if m.aggregation == "derived"]
    assert filtered and derived
    for m in filtered:
        assert m.columns_read >= names(m.tree("filter"))
        assert m.definition()["filter"] == to_text(m.tree("filter"))
    for m in derived:
        assert m.parts == sorted(names(m.tree("expression")))
    car = pd.DataFrame({"orders_ltd": [1, 2, 3, 5], "region": ["Europe"] * 3 + ["Asia"]})
    cohorts = CohortSet(car, spec)
    assert cohorts.mask("Repeat").tolist() == [False, True, True, False]
    assert cohorts.mask("Repeat abroad").tolist() == [False] * 4
    assert cohorts.reads("Repeat") == {"orders_ltd", "region"}
    assert {"orders_ltd", "region"} <= columns_used(spec)


def test_a_text_that_does_not_parse_is_reported_where_it_is_used() -> None:
    from profiler.catalog import Metric

    m = Metric(name="bad", filter="status ==")
    with pytest.raises(ExpressionError, match="status =="):
        m.tree("filter")
    assert m.definition()["filter"] == "status =="  # as written: it has no canonical text
