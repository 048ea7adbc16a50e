"""A small, safe expression language for cohort filters and derived metrics.

Users type filters such as ``region == "Europe" and rfm_score >= 4`` and derived metrics such as
``(net_sales - returns_value) / customers``.  Python's ``eval`` would run arbitrary code, so this
module has its own tokenizer and recursive-descent parser that only understand the grammar below,
and evaluates the resulting tree with vectorised numpy/pandas operations.

Grammar (keywords are lowercase: and, or, not, in, is, null, true, false)::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := sum [ ("=="|"!="|"<"|"<="|">"|">=") sum
                      | ["not"] "in" "(" literal ("," literal)* [","] ")"
                      | "is" ["not"] "null" ]
    sum        := term (("+"|"-") term)*
    term       := unary (("*"|"/") unary)*
    unary      := "-" unary | atom
    atom       := NUMBER | STRING | "true" | "false" | NAME | "date" "(" STRING ")" | "(" expr ")"

Filters use SQL-like three-valued logic: a comparison involving a missing value is neither true
nor false, so ``x != 5``, ``not x == 5`` and ``x == 5`` all leave out rows where ``x`` is missing.
Use ``x is null`` to pick those rows explicitly.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import ProfilerError, clip

__all__ = [
    "ExpressionError",
    "Node",
    "Number",
    "String",
    "Bool",
    "Date",
    "Name",
    "Unary",
    "Binary",
    "InList",
    "IsNull",
    "parse",
    "names",
    "check_names",
    "evaluate_mask",
    "evaluate_number",
    "to_text",
]

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
ARITHMETIC = ("+", "-", "*", "/")
LOGICAL = ("and", "or")
MAX_NESTING = 50  # parentheses / not / minus nested inside each other while parsing
MAX_DEPTH = 200  # depth of the finished tree, so evaluation never hits Python's recursion limit

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9][0-9_]*)?")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ExpressionError(ProfilerError):
    """An expression cannot be parsed or evaluated; ``str()`` is one line that says where and why."""

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        self.message = message
        self.text = text
        self.position = position
        super().__init__(self._render())

    def _render(self) -> str:
        shown = clip(" ".join(self.text.splitlines()).replace("\t", " "))
        where = f" at position {self.position}" if self.position is not None else ""
        return f"expression '{shown}'{where}: {self.message}"

    def __str__(self) -> str:
        return self._render()


# --------------------------------------------------------------------------------------------
# Tree
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    """A numeric literal; ``pos`` is ignored by ``==`` so spellings compare equal."""

    value: int | float
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class String:
    """A quoted text literal."""

    value: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Bool:
    """``true`` or ``false``."""

    value: bool
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Date:
    """``date("YYYY-MM-DD")``, already validated."""

    value: dt.date
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    """A column or metric name; carries its position so errors can point at it."""

    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Unary:
    """``-x`` or ``not x``."""

    op: str
    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Binary:
    """Arithmetic, comparison or ``and``/``or``; ``pos`` is the operator's position."""

    op: str
    left: Node
    right: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class InList:
    """``x in (...)`` or ``x not in (...)`` over literal values."""

    operand: Node
    values: tuple[Number | String | Bool | Date, ...]
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class IsNull:
    """``x is null`` or ``x is not null``."""

    operand: Node
    negated: bool = False
    pos: int = field(default=0, compare=False)


Node = Number | String | Bool | Date | Name | Unary | Binary | InList | IsNull
Literal = Number | String | Bool | Date


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, InList):
        return (node.operand, *node.values)
    if isinstance(node, IsNull):
        return (node.operand,)
    return ()


def _walk(node: Node) -> Iterator[Node]:
    """Every node, iteratively (no recursion limit), in no particular order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(_children(current))


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, op, eof
    value: Any
    pos: int
    raw: str
    quoted: bool = False  # a `backticked` name is never a keyword nor date(...)


_HINTS = {
    "=": "unexpected character '='; use '==' to compare",
    "!": "unexpected character '!'; use 'not' or '!='",
    "&": "unexpected character '&'; use 'and'",
    "|": "unexpected character '|'; use 'or'",
}


def _tokenize(text: str) -> list[_Token]:
    """Split ``text`` into tokens, rejecting anything outside the grammar at its position."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            tokens.append(_number(text, i))
            i += len(tokens[-1].raw)
            continue
        match = _NAME_RE.match(text, i)
        if match:
            word = match.group()
            kind = "keyword" if word in KEYWORDS else "name"
            tokens.append(_Token(kind, word, i, word))
            i = match.end()
            continue
        if ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ExpressionError("unclosed '`': add a closing backtick", text, i)
            if end == i + 1:
                raise ExpressionError("empty name '``'", text, i)
            tokens.append(_Token("name", text[i + 1 : end], i, text[i : end + 1], quoted=True))
            i = end + 1
            continue
        if ch in "'\"":
            token = _string(text, i)
            tokens.append(token)
            i += len(token.raw)
            continue
        two = text[i : i + 2]
        if two in ("==", "!=", "<=", ">="):
            tokens.append(_Token("op", two, i, two))
            i += 2
            continue
        if ch in "<>+-*/(),":
            tokens.append(_Token("op", ch, i, ch))
            i += 1
            continue
        raise ExpressionError(_HINTS.get(ch, f"unexpected character '{ch}'"), text, i)
    tokens.append(_Token("eof", None, n, ""))
    return tokens


def _number(text: str, start: int) -> _Token:
    match = _NUMBER_RE.match(text, start)
    assert match is not None  # the caller saw a digit
    end = match.end()
    while end < len(text) and (text[end].isalnum() or text[end] in "_."):
        end += 1  # swallow e.g. "12abc" or "1.2.3" so the message shows the whole thing
    raw = text[start:end]
    try:
        if end != match.end():
            raise ValueError(raw)
        value: int | float = float(raw) if any(c in raw for c in ".eE") else int(raw)
    except ValueError:
        raise ExpressionError(f"malformed number '{raw}'", text, start) from None
    if isinstance(value, float) and math.isinf(value):
        raise ExpressionError(f"number '{raw}' is too large", text, start)
    return _Token("number", value, start, raw)


def _string(text: str, start: int) -> _Token:
    quote = text[start]
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            chars.append(nxt if nxt in (quote, "\\") else ch + nxt)
            i += 2
            continue
        if ch == quote:
            return _Token("string", "".join(chars), start, text[start : i + 1])
        chars.append(ch)
        i += 1
    raise ExpressionError(f"unclosed text: add a closing {quote}", text, start)


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


def _describe(token: _Token) -> str:
    return "end of expression" if token.kind == "eof" else f"'{token.raw}'"


class _Parser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.nesting = 0

    # -- helpers -------------------------------------------------------------------------------
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in ops

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value in words

    def advance(self) -> _Token:
        token = self.tok
        self.i += 1
        return token

    def fail(self, message: str, token: _Token | None = None) -> ExpressionError:
        return ExpressionError(message, self.text, (token or self.tok).pos)

    def enter(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.fail(f"expression nests more than {MAX_NESTING} levels deep")

    def expected_value(self) -> ExpressionError:
        prev = self.tokens[self.i - 1] if self.i > 0 else None
        after = f" after '{prev.raw}'" if prev is not None else ""
        return self.fail(f"expected a value{after} but found {_describe(self.tok)}")

    # -- rules ---------------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.tok.kind == "eof":
            raise ExpressionError("the expression is empty", self.text, None)
        node = self.or_expr()
        if self.tok.kind != "eof":
            if self.is_op(")"):
                raise self.fail("unmatched ')'")
            if self.is_op(*COMPARISONS):
                raise self.fail(
                    "comparisons cannot be chained; join them with 'and', e.g. a < b and b < c"
                )
            raise self.fail(
                f"unexpected {_describe(self.tok)} after a complete expression;"
                " did you forget 'and' or 'or'?"
            )
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.is_kw("or"):
            op = self.advance()
            node = Binary("or", node, self.and_expr(), op.pos)
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.is_kw("and"):
            op = self.advance()
            node = Binary("and", node, self.not_expr(), op.pos)
        return node

    def not_expr(self) -> Node:
        if self.is_kw("not"):
            op = self.advance()
            self.enter()
            operand = self.not_expr()
            self.nesting -= 1
            return Unary("not", operand, op.pos)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum()
        if self.is_op(*COMPARISONS):
            op = self.advance()
            node: Node = Binary(op.value, left, self.sum(), op.pos)
            if self.is_op(*COMPARISONS):
                raise self.fail(
                    "comparisons cannot be chained; join them with 'and', e.g. a < b and b < c"
                )
            return node
        if self.is_kw("in"):
            op = self.advance()
            return InList(left, self.literal_list(), False, op.pos)
        if self.is_kw("not"):
            op = self.advance()
            if not self.is_kw("in"):
                raise self.fail(f"expected 'in' after 'not' but found {_describe(self.tok)}")
            self.advance()
            return InList(left, self.literal_list(), True, op.pos)
        if self.is_kw("is"):
            op = self.advance()
            negated = False
            if self.is_kw("not"):
                self.advance()
                negated = True
            if not self.is_kw("null"):
                after = "is not" if negated else "is"
                raise self.fail(f"expected 'null' after '{after}' but found {_describe(self.tok)}")
            self.advance()
            return IsNull(left, negated, op.pos)
        return left

    def literal_list(self) -> tuple[Literal, ...]:
        if not self.is_op("("):
            raise self.fail(f"expected '(' after 'in' but found {_describe(self.tok)}")
        self.advance()
        if self.is_op(")"):
            raise self.fail("expected at least one value inside 'in (...)'")
        values: list[Literal] = []
        while True:
            values.append(self.literal())
            if self.is_op(","):
                self.advance()
                if self.is_op(")"):
                    break
                continue
            if self.is_op(")"):
                break
            raise self.fail(f"expected ',' or ')' in the list but found {_describe(self.tok)}")
        self.advance()
        return tuple(values)

    def literal(self) -> Literal:
        tok = self.tok
        if tok.kind == "op" and tok.value == "-" and self.peek().kind == "number":
            self.advance()
            return Number(-self.advance().value, tok.pos)
        if tok.kind == "number":
            return Number(self.advance().value, tok.pos)
        if tok.kind == "string":
            return String(self.advance().value, tok.pos)
        if tok.kind == "keyword" and tok.value in ("true", "false"):
            return Bool(self.advance().value == "true", tok.pos)
        if self.is_date_call():
            return self.date()
        if tok.kind == "name":
            raise self.fail(
                f"the values in 'in (...)' must be literals; put text in quotes, e.g. \"{tok.value}\""
            )
        raise self.fail(
            "expected a number, quoted text, true, false or date(...) in the list"
            f" but found {_describe(tok)}"
        )

    def sum(self) -> Node:
        node = self.term()
        while self.is_op("+", "-"):
            op = self.advance()
            node = Binary(op.value, node, self.term(), op.pos)
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.is_op("*", "/"):
            op = self.advance()
            node = Binary(op.value, node, self.unary(), op.pos)
        return node

    def unary(self) -> Node:
        if self.is_op("-"):
            op = self.advance()
            self.enter()
            operand = self.unary()
            self.nesting -= 1
            if isinstance(operand, Number):
                return Number(-operand.value, op.pos)  # fold so "-5" is one literal
            return Unary("-", operand, op.pos)
        return self.atom()

    def is_date_call(self) -> bool:
        tok = self.tok
        nxt = self.peek()
        return tok.kind == "name" and tok.raw == "date" and nxt.kind == "op" and nxt.value == "("

    def date(self) -> Date:
        start = self.advance()
        self.advance()  # "("
        tok = self.tok
        if tok.kind != "string":
            raise self.fail(
                f"expected a quoted date such as \"2024-01-31\" after 'date(' but found {_describe(tok)}"
            )
        self.advance()
        value: dt.date | None = None
        if _DATE_RE.fullmatch(tok.value):
            try:
                value = dt.date.fromisoformat(tok.value)
            except ValueError:
                value = None
        if value is None:
            raise self.fail(f"'{tok.value}' is not a valid date; write it as YYYY-MM-DD", tok)
        if not self.is_op(")"):
            raise self.fail(f"expected ')' after the date but found {_describe(self.tok)}")
        self.advance()
        return Date(value, start.pos)

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            return Number(self.advance().value, tok.pos)
        if tok.kind == "string":
            return String(self.advance().value, tok.pos)
        if tok.kind == "keyword" and tok.value in ("true", "false"):
            return Bool(self.advance().value == "true", tok.pos)
        if tok.kind == "name":
            if not tok.quoted and self.is_date_call():
                return self.date()
            return Name(self.advance().value, tok.pos)
        if self.is_op("("):
            self.advance()
            self.enter()
            node = self.or_expr()
            self.nesting -= 1
            if not self.is_op(")"):
                raise self.fail(
                    f"expected ')' to close the '(' at position {tok.pos}"
                    f" but found {_describe(self.tok)}"
                )
            self.advance()
            return node
        raise self.expected_value()


def parse(text: str) -> Node:
    """Parse ``text`` into a tree of frozen dataclasses, or raise ``ExpressionError``."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, not {type(text).__name__}", "", None)
    node = _Parser(text).parse()
    if _depth(node) > MAX_DEPTH:
        raise ExpressionError(f"expression is more than {MAX_DEPTH} levels deep", text, None)
    return node


def _depth(node: Node) -> int:
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in _children(current))
    return deepest


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


def _name_nodes(node: Node) -> list[Name]:
    """Name nodes in source order, so the first unknown one reported is the leftmost."""
    found = [n for n in _walk(node) if isinstance(n, Name)]
    return sorted(found, key=lambda n: n.pos)


def names(node: Node) -> set[str]:
    """Every column or metric name the expression refers to."""
    return {n.name for n in _walk(node) if isinstance(n, Name)}


def _suggest(name: str, known: list[str]) -> str | None:
    by_case = {k.lower(): k for k in known}
    if name.lower() in by_case:
        return by_case[name.lower()]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


def check_names(text: str, node: Node, known: Iterable[str], kind: str = "column") -> None:
    """Raise ``ExpressionError`` at the first name not in ``known``, suggesting a close one."""
    known_list = [str(k) for k in known]
    known_set = set(known_list)
    for name in _name_nodes(node):
        if name.name not in known_set:
            message = f"unknown {kind} '{name.name}'."
            suggestion = _suggest(name.name, known_list)
            if suggestion is not None:
                message += f" Did you mean '{suggestion}'?"
            raise ExpressionError(message, text or to_text(node), name.pos if text else None)


# --------------------------------------------------------------------------------------------
# Canonical text
# --------------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render_name(name: str) -> str:
    if _NAME_RE.fullmatch(name) and name not in KEYWORDS:
        return name
    return f"`{name}`"


def _render_number(value: int | float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def to_text(node: Node) -> str:
    """Canonical text: single spaces, double quotes, compound operands always in parentheses.

    Two spellings of the same expression give the same text, so it is safe to hash.
    """

    def wrap(child: Node) -> str:
        text = to_text(child)
        compound = isinstance(child, Binary | InList | IsNull) or (
            isinstance(child, Unary) and child.op == "not"
        )
        return f"({text})" if compound else text

    if isinstance(node, Number):
        return _render_number(node.value)
    if isinstance(node, String):
        return _quote(node.value)
    if isinstance(node, Bool):
        return "true" if node.value else "false"
    if isinstance(node, Date):
        return f'date("{node.value.isoformat()}")'
    if isinstance(node, Name):
        return _render_name(node.name)
    if isinstance(node, Unary):
        if node.op == "not":
            return f"not {wrap(node.operand)}"
        operand = node.operand
        inner = to_text(operand)
        if isinstance(operand, Binary | InList | IsNull | Unary) or (
            isinstance(operand, Number) and operand.value < 0
        ):
            inner = f"({inner})"
        return f"-{inner}"
    if isinstance(node, Binary):
        return f"{wrap(node.left)} {node.op} {wrap(node.right)}"
    if isinstance(node, InList):
        keyword = "not in" if node.negated else "in"
        values = ", ".join(to_text(v) for v in node.values)
        return f"{wrap(node.operand)} {keyword} ({values})"
    if isinstance(node, IsNull):
        keyword = "is not null" if node.negated else "is null"
        return f"{wrap(node.operand)} {keyword}"
    raise TypeError(f"not an expression node: {node!r}")


# --------------------------------------------------------------------------------------------
# Numbers (derived metrics)
# --------------------------------------------------------------------------------------------


def evaluate_number(node: Node, lookup: Callable[[str], Any], text: str = "") -> Any:
    """Arithmetic over named numbers; ``x / 0`` is NaN rather than an exception.

    ``lookup`` normally returns a float and so does this function; if it returns pandas Series
    or numpy arrays (one value per group), the arithmetic is applied element-wise instead.
    """
    shown = text or to_text(node)

    def fail(message: str, at: Node) -> ExpressionError:
        return ExpressionError(message, shown, at.pos if text else None)

    def value(current: Node) -> Any:
        if isinstance(current, Number):
            return float(current.value)
        if isinstance(current, Name):
            try:
                found = lookup(current.name)
            except KeyError:
                raise fail(f"unknown metric '{current.name}'.", current) from None
            return _as_number(found)
        if isinstance(current, Unary) and current.op == "-":
            return -value(current.operand)
        if isinstance(current, Binary) and current.op in ARITHMETIC:
            left, right = value(current.left), value(current.right)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                if current.op == "+":
                    return left + right
                if current.op == "-":
                    return left - right
                if current.op == "*":
                    return left * right
                return divide(left, right)
        what = _what(current)
        raise fail(f"only arithmetic is allowed here (+ - * / and numbers), not {what}", current)

    return value(node)


def _as_number(found: Any) -> Any:
    """Scalars become floats (None is NaN); Series and arrays pass through as floats."""
    if found is None:
        return float("nan")
    if isinstance(found, pd.Series | pd.DataFrame):
        return found.astype(float)
    if isinstance(found, np.ndarray):
        return found.astype(float)
    try:
        return float(found)
    except TypeError:
        return float("nan") if pd.isna(found) else found


def divide(left: Any, right: Any) -> Any:
    """Division where a zero denominator gives NaN, for scalars and for arrays alike."""
    if np.ndim(right) == 0:
        if right == 0:
            return left * float("nan") if np.ndim(left) else float("nan")
        return left / right
    result = left / right
    if isinstance(result, pd.Series | pd.DataFrame):
        return result.mask(right == 0)
    return np.where(right == 0, np.nan, result)


def _what(node: Node) -> str:
    if isinstance(node, String):
        return "quoted text"
    if isinstance(node, Bool):
        return "true/false"
    if isinstance(node, Date):
        return "a date"
    if isinstance(node, Unary):
        return "'not'"
    if isinstance(node, Binary):
        return f"'{node.op}'"
    if isinstance(node, InList):
        return "'not in'" if node.negated else "'in'"
    if isinstance(node, IsNull):
        return "'is null'"
    return f"'{to_text(node)}'"


# --------------------------------------------------------------------------------------------
# Masks (cohort filters)
# --------------------------------------------------------------------------------------------

_KIND_WORDS = {
    "number": "numbers",
    "text": "text",
    "bool": "true/false values",
    "datetime": "dates",
    "empty": "only missing values",
}
_KIND_HINTS = {
    "number": "compare it with a number (no quotes)",
    "text": "compare it with a quoted string",
    "bool": "compare it with true or false, or use it on its own",
    "datetime": 'compare it with date("YYYY-MM-DD") or a quoted date',
}
_CMP_FUNCS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass
class _Vec:
    """A column, literal or computed value: data, a missing mask and a kind.

    ``values`` and ``missing`` are arrays of the frame's length or scalars (numpy broadcasts).
    Missing entries of ``values`` hold a harmless placeholder so comparisons never raise.
    """

    values: Any
    missing: Any
    kind: str  # number, text, bool, datetime, empty, other
    node: Node
    literal: bool = False
    tz: Any = None
    dtype: str = ""


@dataclass
class _Cond:
    """Three-valued truth: rows known true and rows known false; the rest are unknown."""

    true: Any
    false: Any


class _MaskEvaluator:
    """Evaluates one filter over one DataFrame."""

    def __init__(self, node: Node, frame: pd.DataFrame, text: str) -> None:
        self.node = node
        self.frame = frame
        self.text = text or to_text(node)
        self.has_text = bool(text)
        self.n = len(frame)
        self.columns = {str(c): c for c in frame.columns}
        self.cache: dict[str, _Vec] = {}

    def fail(self, message: str, at: Node) -> ExpressionError:
        return ExpressionError(message, self.text, at.pos if self.has_text else None)

    # -- names -----------------------------------------------------------------------------------
    def check(self) -> None:
        known = list(self.columns)
        for name in _name_nodes(self.node):
            if name.name in self.columns:
                continue
            message = f"unknown column '{name.name}'."
            suggestion = _suggest(name.name, known)
            if suggestion is not None:
                message += f" Did you mean '{suggestion}'?"
            else:
                message += self.value_hint(name)
            raise self.fail(message, name)

    def value_hint(self, name: Name) -> str:
        """If a bare word is compared with a text column, the user probably forgot the quotes."""
        for current in _walk(self.node):
            if isinstance(current, Binary) and current.op in COMPARISONS:
                if current.left is name or current.right is name:
                    other = current.right if current.left is name else current.left
                    if isinstance(other, Name) and other.name in self.columns:
                        return self.closest_value(name.name, other.name)
        return ""

    def closest_value(self, word: str, column: str) -> str:
        series = self.frame[self.columns[column]]
        if isinstance(series, pd.DataFrame):
            return ""
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            candidates = [str(c) for c in dtype.categories]
        elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
            candidates = [str(c) for c in pd.unique(series.dropna())[:10_000]]
        else:
            return ""
        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
        shown = _render_name(column)
        if close:
            return f" Did you mean '{close[0]}'? (text needs quotes: {shown} == {_quote(close[0])})"
        return f" If it is text, put it in quotes: {shown} == {_quote(word)}"

    # -- values ----------------------------------------------------------------------------------
    def column(self, node: Name) -> _Vec:
        if node.name not in self.cache:
            series = self.frame[self.columns[node.name]]
            if isinstance(series, pd.DataFrame):
                raise self.fail(f"column '{node.name}' appears more than once in the data", node)
            self.cache[node.name] = _series_vec(series.reset_index(drop=True), node)
        vec = self.cache[node.name]
        return _Vec(vec.values, vec.missing, vec.kind, node, False, vec.tz, vec.dtype)

    def value(self, node: Node) -> _Vec:
        if isinstance(node, Number):
            return _Vec(np.float64(node.value), False, "number", node, True)
        if isinstance(node, String):
            return _Vec(node.value, False, "text", node, True)
        if isinstance(node, Bool):
            return _Vec(node.value, False, "bool", node, True)
        if isinstance(node, Date):
            return _Vec(np.datetime64(node.value.isoformat(), "ns"), False, "datetime", node, True)
        if isinstance(node, Name):
            return self.column(node)
        if isinstance(node, Unary) and node.op == "-":
            operand = self.number(self.value(node.operand), "-")
            return _Vec(-operand.values, operand.missing, "number", node)
        if isinstance(node, Binary) and node.op in ARITHMETIC:
            return self.arithmetic(node)
        cond = self.cond(node)
        missing = ~(cond.true | cond.false)
        return _Vec(cond.true, missing, "bool", node)

    def number(self, vec: _Vec, op: str) -> _Vec:
        if vec.kind == "number":
            return vec
        if vec.kind == "empty":
            return _Vec(np.float64("nan"), True, "number", vec.node)
        raise self.fail(
            f"'{op}' needs numbers but {self.label(vec)} holds {self.words(vec)}", vec.node
        )

    def arithmetic(self, node: Binary) -> _Vec:
        left = self.number(self.value(node.left), node.op)
        right = self.number(self.value(node.right), node.op)
        lv, rv = left.values, right.values
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if node.op == "+":
                result = np.add(lv, rv)
            elif node.op == "-":
                result = np.subtract(lv, rv)
            elif node.op == "*":
                result = np.multiply(lv, rv)
            else:
                result = np.divide(lv, rv)
        missing = left.missing | right.missing | np.isnan(result)
        return _Vec(result, missing, "number", node)

    # -- conditions ------------------------------------------------------------------------------
    def cond(self, node: Node) -> _Cond:
        if isinstance(node, Binary) and node.op in LOGICAL:
            left, right = self.cond(node.left), self.cond(node.right)
            if node.op == "and":
                return _Cond(left.true & right.true, left.false | right.false)
            return _Cond(left.true | right.true, left.false & right.false)
        if isinstance(node, Unary) and node.op == "not":
            inner = self.cond(node.operand)
            return _Cond(inner.false, inner.true)
        if isinstance(node, Binary) and node.op in COMPARISONS:
            return self.compare(node)
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, IsNull):
            missing = self.value(node.operand).missing
            missing = np.asarray(missing, dtype=bool)
            return _Cond(~missing, missing) if node.negated else _Cond(missing, ~missing)
        return self.truth(self.value(node))

    def truth(self, vec: _Vec) -> _Cond:
        if vec.kind == "bool":
            values = np.asarray(vec.values, dtype=bool)
            known = ~np.asarray(vec.missing, dtype=bool)
            return _Cond(values & known, ~values & known)
        if vec.kind == "empty":
            return _Cond(np.False_, np.False_)
        node = vec.node
        if isinstance(node, Name):
            example = {
                "text": f'{_render_name(node.name)} == "..."',
                "datetime": f'{_render_name(node.name)} >= date("2024-01-01")',
            }.get(vec.kind, f"{_render_name(node.name)} > 0")
            raise self.fail(
                f"column '{node.name}' is not true/false; compare it, e.g. {example}", node
            )
        raise self.fail(
            f"{to_text(node)} is {self.words(vec)}, not a condition; compare it with something",
            node,
        )

    def label(self, vec: _Vec) -> str:
        if isinstance(vec.node, Name):
            return f"column '{vec.node.name}'"
        return f"'{to_text(vec.node)}'"

    def words(self, vec: _Vec) -> str:
        if vec.kind == "other":
            return f"values of type {vec.dtype}"
        if vec.literal:
            return {
                "number": "a number",
                "text": "text",
                "bool": "true/false",
                "datetime": "a date",
            }[vec.kind]
        return _KIND_WORDS[vec.kind]

    def clash(self, left: _Vec, right: _Vec, at: Node) -> ExpressionError:
        cols = [v for v in (left, right) if isinstance(v.node, Name)]
        if len(cols) == 2:
            return self.fail(
                f"cannot compare column '{left.node.name}' ({self.words(left)})"  # type: ignore[union-attr]
                f" with column '{right.node.name}' ({self.words(right)})",  # type: ignore[union-attr]
                at,
            )
        if cols:
            col = cols[0]
            other = right if col is left else left
            hint = _KIND_HINTS.get(col.kind, "")
            message = f"{self.label(col)} holds {self.words(col)}"
            message += f"; {hint}" if hint else ""
            message += f", not {self.words(other)}"
            return self.fail(message, col.node)
        return self.fail(f"cannot compare {self.words(left)} with {self.words(right)}", at)

    def as_datetime(self, vec: _Vec, column: _Vec) -> _Vec:
        """Turn a quoted or date(...) literal into a timestamp comparable with ``column``."""
        raw = vec.values
        try:
            stamp = pd.Timestamp(str(raw) if vec.kind == "text" else pd.Timestamp(raw))
        except (ValueError, TypeError):
            raise self.fail(
                f"cannot read '{raw}' as a date; write it as YYYY-MM-DD", vec.node
            ) from None
        if stamp is pd.NaT:
            raise self.fail(f"cannot read '{raw}' as a date; write it as YYYY-MM-DD", vec.node)
        if column.tz is not None:
            stamp = (stamp.tz_localize(column.tz) if stamp.tz is None else stamp).tz_convert("UTC")
        if stamp.tz is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return _Vec(stamp.to_datetime64(), False, "datetime", vec.node, True)

    def align(self, left: _Vec, right: _Vec, at: Node) -> tuple[_Vec, _Vec]:
        """Make both sides comparable, or explain (naming the column) why they are not."""
        if left.kind == right.kind and left.kind != "other":
            if left.kind == "datetime" and left.literal and not right.literal:
                left = self.as_datetime(left, right)
            elif right.kind == "datetime" and right.literal and not left.literal:
                right = self.as_datetime(right, left)
            return left, right
        if left.kind == "datetime" and right.kind == "text" and right.literal:
            return left, self.as_datetime(right, left)
        if right.kind == "datetime" and left.kind == "text" and left.literal:
            return self.as_datetime(left, right), right
        raise self.clash(left, right, at)

    def _text_column(self, node: Node) -> pd.Series | None:
        """The column behind a name when it holds text as pandas strings or string categories:
        those compare to text literals in pandas' own (vectorised) code, without first copying
        millions of strings into Python objects."""
        if not isinstance(node, Name) or node.name not in self.columns:
            return None
        series = self.frame[self.columns[node.name]]
        if isinstance(series, pd.DataFrame):
            return None
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            categories = dtype.categories
            text = len(categories) and pd.api.types.infer_dtype(categories) == "string"
            return series if text else None
        return series if isinstance(dtype, pd.StringDtype) else None

    def _text_equal(self, node: Binary) -> _Cond | None:
        if node.op not in ("==", "!="):
            return None
        for column_node, literal in ((node.left, node.right), (node.right, node.left)):
            series = self._text_column(column_node)
            if series is not None and isinstance(literal, String):
                equal = (series == literal.value).to_numpy(dtype=bool, na_value=False)
                known = series.notna().to_numpy(dtype=bool)
                same, other = equal & known, ~equal & known
                return _Cond(same, other) if node.op == "==" else _Cond(other, same)
        return None

    def compare(self, node: Binary) -> _Cond:
        fast = self._text_equal(node)
        if fast is not None:
            return fast
        left, right = self.value(node.left), self.value(node.right)
        if "empty" in (left.kind, right.kind):
            return _Cond(np.False_, np.False_)
        left, right = self.align(left, right, node)
        if left.kind == "bool" and node.op not in ("==", "!="):
            raise self.fail(
                f"true/false values can only be compared with == or !=, not '{node.op}'", node
            )
        known = ~(np.asarray(left.missing, dtype=bool) | np.asarray(right.missing, dtype=bool))
        try:
            with np.errstate(invalid="ignore"):
                result = np.asarray(_CMP_FUNCS[node.op](left.values, right.values), dtype=bool)
        except TypeError:
            raise self.fail(
                f"cannot order {self.label(left)} and {self.label(right)} with '{node.op}'", node
            ) from None
        return _Cond(result & known, ~result & known)

    def in_list(self, node: InList) -> _Cond:
        series = self._text_column(node.operand)
        if series is not None and all(isinstance(v, String) for v in node.values):
            known = series.notna().to_numpy(dtype=bool)
            texts = [v.value for v in node.values]
            if isinstance(series.dtype, pd.CategoricalDtype):  # by code: one lookup a row
                table = np.zeros(len(series.cat.categories) + 1, dtype=bool)  # [-1]: missing
                found = series.cat.categories.get_indexer(texts)
                table[found[found >= 0]] = True
                hit = table[series.cat.codes.to_numpy()] & known
            else:
                hit = series.isin(texts).to_numpy(dtype=bool) & known
            return _Cond(~hit & known, hit) if node.negated else _Cond(hit, ~hit & known)
        vec = self.value(node.operand)
        if vec.kind == "empty":
            return _Cond(np.False_, np.False_)
        wanted = []
        for literal in node.values:
            lit = self.value(literal)
            if not vec.literal:
                _, lit = self.align(vec, lit, literal)
            elif lit.kind != vec.kind:
                raise self.clash(vec, lit, literal)
            wanted.append(lit.values)
        if np.ndim(vec.values) == 0:
            hit: Any = np.bool_(any(vec.values == w for w in wanted))
        else:
            hit = pd.Series(vec.values).isin(wanted).to_numpy(dtype=bool)
        known = ~np.asarray(vec.missing, dtype=bool)
        if node.negated:
            return _Cond(~hit & known, hit & known)
        return _Cond(hit & known, ~hit & known)

    def run(self) -> np.ndarray:
        self.check()
        cond = self.cond(self.node)
        return np.broadcast_to(np.asarray(cond.true, dtype=bool), (self.n,)).copy()


def _series_vec(series: pd.Series, node: Name) -> _Vec:
    """Describe a column as plain numpy data plus a missing mask, whatever its dtype."""
    dtype = series.dtype
    missing = series.isna().to_numpy(dtype=bool)
    if isinstance(dtype, pd.CategoricalDtype):
        categories = pd.Series(dtype.categories)
        if len(categories) == 0:
            return _Vec(np.float64("nan"), np.ones(len(series), bool), "empty", node)
        inner = _series_vec(categories, node)
        codes = series.cat.codes.to_numpy()
        values = np.asarray(inner.values)[np.where(codes < 0, 0, codes)]
        return _Vec(values, codes < 0, inner.kind, node, tz=inner.tz, dtype=str(dtype))
    if pd.api.types.is_bool_dtype(dtype):
        values = (
            series.fillna(False).to_numpy(dtype=bool)
            if missing.any()
            else series.to_numpy(dtype=bool)
        )
        return _Vec(values, missing, "bool", node, dtype=str(dtype))
    if pd.api.types.is_numeric_dtype(dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        return _Vec(values, missing, "number", node, dtype=str(dtype))
    if isinstance(dtype, pd.DatetimeTZDtype):
        naive = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return _Vec(naive.to_numpy(), missing, "datetime", node, tz=dtype.tz, dtype=str(dtype))
    if pd.api.types.is_datetime64_dtype(dtype):
        return _Vec(series.to_numpy(), missing, "datetime", node, dtype=str(dtype))
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred == "empty":
            return _Vec(np.float64("nan"), missing, "empty", node, dtype=str(dtype))
        if inferred == "boolean":
            values = series.where(~missing, False).to_numpy(dtype=bool)
            return _Vec(values, missing, "bool", node, dtype=str(dtype))
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            return _Vec(values, missing, "number", node, dtype=str(dtype))
        if inferred in ("date", "datetime", "datetime64"):
            converted = pd.to_datetime(series, errors="coerce")
            return _series_vec(converted, node)
        values = series.to_numpy(dtype=object, copy=True)
        values[missing] = ""
        return _Vec(values, missing, "text", node, dtype=str(dtype))
    return _Vec(series.to_numpy(), missing, "other", node, dtype=str(dtype))


def evaluate_mask(node: Node, frame: pd.DataFrame, text: str = "") -> np.ndarray:
    """Which rows of ``frame`` satisfy the filter, as a numpy bool array of ``len(frame)``.

    Rows where the answer depends on a missing value are left out (SQL-like), except for
    ``is null`` / ``is not null``.
    """
    return _MaskEvaluator(node, frame, text).run()
