"""The expression language's syntax: its tokenizer, recursive-descent parser, tree and canonical text.

Users type filters such as ``region == "Europe" and rfm_score >= 4`` and derived metrics such as
``(net_sales - returns_value) / customers``.  Python's ``eval`` would run arbitrary code, so this
package has its own tokenizer and recursive-descent parser that only understand the grammar below.
A filter or expression is parsed once, where it is declared (the catalog, the cohorts, the export
mapping), and the tree is what the evaluators (``numbers``, ``masks``) and the SQL compiler
(``profiler/sql/expr.py``) walk.

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
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProfilerError, clip
from ..names import did_you_mean

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


def check_names(text: str, node: Node, known: Iterable[str], kind: str = "column") -> None:
    """Raise ``ExpressionError`` at the first name not in ``known``, suggesting a close one."""
    known_list = [str(k) for k in known]
    known_set = set(known_list)
    for name in _name_nodes(node):
        if name.name not in known_set:
            message = f"unknown {kind} '{name.name}'."
            message += did_you_mean(name.name, known_list)
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
