"""Every CAR column declared as data: templates/columns.yaml, typed, and rendered per family.

A family's ``columns(ctx)`` is ``declared(FAMILY, ctx, **domains)``: the entries of its family in
columns.yaml, each a name, a description, a unit, the source tables and the spec parameters that
define it (they feed the definition hash), rendered with the values of templates/features.yaml
and, for a group with ``each``, once per item of the family's domains (the levels present in the
data, the contract's channels, the cells of the sales grids).  The data dictionary and everything
that shows a column's meaning read these ``ColumnDef``s; no description is written in Python.

Templates are Python format strings over the features spec's sections and the item's variables
(``{lifecycle[new_days]}``, ``{level}``, ``{top_share:.0%}``) with three text filters after the
colon: ``slug`` (``Silk & Scarves`` -> ``silk_scarves``), ``capitalize`` and ``hyphens``
(``sub_category`` -> ``sub-category``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import re
import string
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator

from . import yaml_lines
from .contract import TABLES
from .errors import ProfilerError
from .yaml_lines import TEMPLATES, Lines, Strict, did_you_mean, shown_path

DEFAULT_COLUMNS = TEMPLATES / "columns.yaml"


class FeatureSpecError(ProfilerError):
    """templates/features.yaml or templates/columns.yaml is missing or malformed."""


@dataclasses.dataclass(frozen=True)
class ColumnDef:
    """One CAR column, as the data dictionary documents it."""

    name: str
    family: str
    description: str
    unit: str
    sources: tuple[str, ...]
    definition: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    origin: str = dataclasses.field(default="", compare=False)  # file:line of its declaration

    @property
    def definition_hash(self) -> str:
        """Hash of what the column means: changes when its definition changes."""
        payload = json.dumps(
            {
                "name": self.name,
                "description": self.description,
                "unit": self.unit,
                "sources": self.sources,
                **self.definition,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


# The units a CAR column or a sales measure may have (the dictionary's ``unit``).
UNITS = (
    "gbp",
    "count",
    "ratio",
    "flag",
    "category",
    "days",
    "datetime",
    "month",
    "quarter",
    "score",
    "index",
    "probability",
    "purchases",
    "years",
    "id",
)


def slug(value: object) -> str:
    """A column-name-safe form of a data value: 'Silk & Scarves' -> 'silk_scarves'."""
    text = re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")
    return text or "blank"


Domain = Iterable[Any] | Callable[[], Iterable[Any]]


def _tables(names: list[str]) -> list[str]:
    for name in names:
        if name not in TABLES:
            raise ValueError(
                f"unknown table '{name}'.{did_you_mean(name, TABLES)} Known: {', '.join(TABLES)}"
            )
    return names


class Joined(Strict):
    """Text made of a list of the spec, for a description: each item formatted, then joined."""

    items: str  # a dotted path into the spec: value_tiers, interests.gift_categories
    format: str = "{item}"  # the item is {item}; a mapping's keys are variables too
    sep: str = ", "


class Column(Strict):
    """One declared column (or, in a group with ``each``, one per item)."""

    name: str
    description: str
    unit: str  # one of UNITS, or a template giving one ("{measure_def[unit]}")
    sources: list[str] | None = None  # default: the group's
    # The spec values that define the column, by name: dotted paths into the spec or item
    # variables ("thresholds: lifecycle", "period_def: period_def").
    parameters: dict[str, str] = Field(default_factory=dict)
    # A spec section whose keys all define the column (less those in leaving_out).
    parameters_from: str | None = None
    leaving_out: list[str] = Field(default_factory=list)
    # Only for the items whose variables have these values (one value or a list of them).
    when: dict[str, str | list[str]] = Field(default_factory=dict)
    joined: dict[str, Joined] = Field(default_factory=dict)
    _path: tuple[str | int, ...] = PrivateAttr(default=())

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        if "{" not in unit and unit not in UNITS:
            raise ValueError(
                f"unknown unit '{unit}'.{did_you_mean(unit, UNITS)} Known: {', '.join(UNITS)}"
            )
        return unit

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: list[str] | None) -> list[str] | None:
        return _tables(sources) if sources is not None else None


class Group(Strict):
    """Columns declared together: for each item of the ``each`` domains (nested, in order),
    every column whose ``when`` the item meets, in order."""

    each: list[str] = Field(default_factory=list)
    needs: list[str] = Field(default_factory=list)  # only when all these tables were provided
    when_missing: list[str] = Field(default_factory=list)  # only when none of these was
    sources: list[str] | None = None
    columns: list[Column] = Field(min_length=1)

    @field_validator("needs", "when_missing", "sources")
    @classmethod
    def _known_tables(cls, names: list[str] | None) -> list[str] | None:
        return _tables(names) if names is not None else None


class KeyColumn(Strict):
    name: str
    description: str
    unit: Literal["id"]
    sources: list[str]


class Declarations(Strict):
    """templates/columns.yaml, typed."""

    version: Literal[1]
    key: KeyColumn
    families: dict[str, list[Group]]
    _lines: Lines | None = PrivateAttr(default=None)

    def where(self, path: tuple[str | int, ...]) -> str:
        return self._lines.where(path) if self._lines else "columns declarations"

    def needs(self, family: str) -> list[str]:
        """The tables a family needs: when every group needs some, those (it is left out
        without them); else the order lines, which every customer's population comes from."""
        groups = self.families.get(family, [])
        if groups and all(g.needs for g in groups):
            return list(dict.fromkeys(t for g in groups for t in g.needs))
        return ["order_lines"]


def load_declarations(path: str | Path | None = None) -> Declarations:
    """The column declarations (default: templates/columns.yaml), checked: a problem raises
    ``FeatureSpecError`` naming its file and line."""
    path = Path(path) if path else DEFAULT_COLUMNS
    try:
        data, lines = yaml_lines.load(path, shown_path(path))
    except ValueError as exc:
        raise FeatureSpecError(str(exc)) from None
    try:
        decl = Declarations.model_validate(data)
    except ValidationError as exc:
        raise FeatureSpecError(yaml_lines.first_problem(exc, lines)) from None
    decl._lines = lines
    for family, groups in decl.families.items():
        for g, group in enumerate(groups):
            for c, column in enumerate(group.columns):
                column._path = ("families", family, g, "columns", c)
                if column.sources is None and group.sources is None:
                    raise FeatureSpecError(
                        f"{decl.where(column._path)}: {family} column '{column.name}' has no "
                        "sources (give them on the column or its group)."
                    )
    return decl


@functools.cache
def declarations() -> Declarations:
    """templates/columns.yaml, read once per process."""
    return load_declarations()


def declarations_of(spec: dict[str, Any]) -> Declarations:
    """The declarations that travel with a loaded features spec (else templates/columns.yaml)."""
    return getattr(spec, "declarations", None) or declarations()


_FILTERS: dict[str, Callable[[Any], str]] = {
    "slug": slug,
    "capitalize": lambda v: str(v).capitalize(),
    "hyphens": lambda v: str(v).replace("_", "-"),
}


@functools.cache
def _template(text: str) -> Callable[[Mapping[str, Any]], str]:
    """``text`` as a function of its variables: str.format_map (compiled C), each field with a
    filter (``{level:slug}``) first looked up, filtered and passed as a variable of its own.
    Found once per template: a build renders a few thousand texts per part."""
    parts, filtered = [], []
    for literal, field, spec, conversion in string.Formatter().parse(text):
        parts.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if spec in _FILTERS and not conversion:
            filtered.append((f"_f{len(filtered)}", field, _FILTERS[spec]))
            parts.append("{" + filtered[-1][0] + "}")
        else:
            parts.append(
                "{"
                + field
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
    plain = "".join(parts)
    if not filtered:
        return plain.format_map
    lookup = string.Formatter().get_field

    def render(names: Mapping[str, Any]) -> str:
        extra = {key: apply(lookup(field, (), names)[0]) for key, field, apply in filtered}
        return plain.format_map(ChainMap(extra, names))  # type: ignore[arg-type]

    return render


def _lookup(names: dict[str, Any], dotted: str) -> Any:
    value: Any = names
    for part in dotted.split("."):
        value = value[part]
    return value


def _items(each: list[str], domains: dict[str, Domain]) -> Iterator[dict[str, Any]]:
    """The variables of each item: the nested product of the domains, in ``each``'s order; an
    item that is a mapping gives its keys, any other value is bound to the domain's name."""
    lists = []
    for name in each:
        values = domains[name]
        lists.append(list(values() if callable(values) else values))
    for combo in itertools.product(*lists):
        variables: dict[str, Any] = {}
        for name, value in zip(each, combo, strict=True):
            variables.update(value if isinstance(value, dict) else {name: value})
        yield variables


def _meets(when: dict[str, str | list[str]], variables: dict[str, Any]) -> bool:
    for name, wanted in when.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if variables.get(name) not in allowed:
            return False
    return True


def declared(family: str, ctx: Any, **domains: Domain) -> list[ColumnDef]:
    """A family's declared columns for this build: the groups whose tables were provided, each
    column rendered for each item of its domains (``channel=CHANNELS``, ``level=lambda: ...``;
    a callable is called only when its group applies)."""
    return render(family, ctx.spec, ctx.source.has, domains)


def render(
    family: str,
    spec: dict[str, Any],
    has: Callable[[str], bool],
    domains: dict[str, Domain],
    decl: Declarations | None = None,
) -> list[ColumnDef]:
    """``declared`` without a build context: ``has(table)`` says which tables were provided."""
    decl = decl or declarations_of(spec)
    if family not in decl.families:
        raise FeatureSpecError(
            f"{decl.where(('families',))}: no columns declared for family '{family}'."
        )
    out = []
    for g, group in enumerate(decl.families[family]):
        if not all(has(t) for t in group.needs) or any(has(t) for t in group.when_missing):
            continue
        unknown = [name for name in group.each if name not in domains]
        if unknown:
            raise FeatureSpecError(
                f"{decl.where(('families', family, g, 'each'))}: {family} has no domain "
                f"'{unknown[0]}' to range over; it gives: {', '.join(domains) or 'none'}."
            )
        for variables in _items(group.each, domains):
            for column in group.columns:
                if _meets(column.when, variables):
                    out.append(_render_column(decl, family, group, column, spec, variables))
    return out


def _render_column(
    decl: Declarations,
    family: str,
    group: Group,
    column: Column,
    spec: dict[str, Any],
    variables: dict[str, Any],
) -> ColumnDef:
    names: dict[str, Any] = {**spec, **variables}
    try:
        for key, joined in column.joined.items():
            items = _lookup(names, joined.items)
            names[key] = joined.sep.join(
                _template(joined.format)({**(item if isinstance(item, dict) else {}), "item": item})
                for item in items
            )
        name = _template(column.name)(names)
        description = _template(column.description)(names)
        unit = _template(column.unit)(names)
        definition = {key: _lookup(names, path) for key, path in column.parameters.items()}
        if column.parameters_from:
            section = _lookup(names, column.parameters_from)
            definition |= {k: v for k, v in section.items() if k not in column.leaving_out}
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise FeatureSpecError(
            f"{decl.where(column._path)}: {family} column '{column.name}' cannot be filled in "
            f"({type(exc).__name__}: {exc}); it can use the features spec's sections and "
            f"{', '.join(variables) or 'no item variables'}."
        ) from None
    if unit not in UNITS:
        raise FeatureSpecError(
            f"{decl.where(column._path)}: {family} column '{name}' has unit '{unit}'; "
            f"known: {', '.join(UNITS)}."
        )
    sources = column.sources if column.sources is not None else group.sources
    return ColumnDef(
        name,
        family,
        description,
        unit,
        tuple(sources or ()),
        definition,
        origin=decl.where(column._path),
    )


def name_of(family: str, spec: dict[str, Any], variables: dict[str, Any]) -> str:
    """The name the declarations give the column of ``family`` for one item (the first column
    whose ``when`` it meets): how compute code names what it computes."""
    decl = declarations_of(spec)
    for group in decl.families[family]:
        for column in group.columns:
            if _meets(column.when, variables):
                return _template(column.name)(ChainMap(variables, spec))
    raise KeyError(f"{family}: no column declared for {variables}")
