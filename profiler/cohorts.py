"""Cohorts: named groups of customers, defined in templates/cohorts.yaml over CAR columns.

A cohort is a filter expression (parsed by profiler/expressions/, never evaluated as Python,
once: as the definitions load, and the tree is what every mask evaluates),
optionally within a parent cohort, or one of the cohorts a ``by: column`` group expands to (one
per value).  ``CohortSet`` resolves names to boolean masks over the CAR's rows and caches them;
a new CAR means a new CohortSet, so stale masks cannot survive a reload.  Names may be combined
on the fly: ``"Treasured clients & Region: Europe"`` is the intersection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import expressions, names, yaml_lines
from .catalog import did_you_mean
from .errors import LeftOut, ProfilerError, clip
from .features import TEMPLATES
from .personas import Personas, fit_personas

DEFAULT_COHORTS = TEMPLATES / "cohorts.yaml"
INTERSECTION = " & "
TREE = "_tree"  # where load_cohort_spec keeps a cohort's parsed filter, beside its text


@dataclass(frozen=True)
class CohortDef:
    """One cohort as defined: its filter text, its parent (``within``) and where it came from."""

    name: str
    group: str
    description: str = ""
    filter: str = ""
    within: str | None = None
    by: str | None = None  # the column a ``by`` group expands; ``value`` is this cohort's value
    value: Any = None
    tree: expressions.Node | None = field(default=None, compare=False, repr=False)  # parsed filter

    @property
    def definition(self) -> str:
        """The definition in the expression language, for the Definitions sheet and the CLI."""
        if self.by is not None:
            return f"{self.by} == {repr_literal(self.value)}"
        text = self.filter.strip() or "(everyone)"
        return f"[{self.within}] and ({text})" if self.within else text


def repr_literal(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def load_cohort_spec(path: str | Path | None = None) -> dict[str, Any]:
    """The parsed cohort YAML (default: the packaged templates/cohorts.yaml)."""
    path = Path(path) if path else DEFAULT_COHORTS
    try:
        spec = yaml_lines.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfilerError(f"{path}: cohort definitions not found.") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ProfilerError(f"{path}{where}: not valid YAML ({err}).") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("groups"), list):
        raise ProfilerError(f"{path}: expected a mapping with a 'groups' list.")
    spec["_path"] = str(path)
    # Every filter parsed once, here; one that does not parse is reported, with its cohort's
    # name, by CohortSet.
    for group in spec["groups"]:
        for item in (group.get("cohorts") or []) if isinstance(group, dict) else []:
            text = str(item.get("filter") or "") if isinstance(item, dict) else ""
            if text.strip():
                try:
                    item[TREE] = expressions.parse(text)
                except expressions.ExpressionError:
                    continue
    return spec


def _tree(item: dict[str, Any], text: str) -> expressions.Node:
    """A cohort's parsed filter: the one ``load_cohort_spec`` found, or parsed now (a spec
    written in code); a filter that does not parse raises its ``ExpressionError``."""
    found = item.get(TREE)
    return found if found is not None else expressions.parse(text)


class CohortSet:
    """Every cohort of a spec, over one CAR; masks are computed once and cached."""

    def __init__(
        self,
        car: pd.DataFrame,
        spec: dict[str, Any] | None = None,
        *,
        known_columns: list[str] | None = None,
    ) -> None:
        self.spec = spec or load_cohort_spec()
        self.known_columns = list(known_columns or car.columns)
        self.path = self.spec.get("_path", "templates/cohorts.yaml")
        self.min_size = int(self.spec.get("min_cohort_size", 10))
        self.base = str(self.spec.get("base", "All customers"))
        self.car = car
        # Cohorts and groups this CAR cannot provide (a source table or column is missing):
        # name -> reason; shown by 'cohorts list' and every view, never an error.
        self.left_out: dict[str, str] = {}
        self.personas: Personas | None = None
        self._persona_reason = "personas were not fitted"
        if any(g.get("by") == "persona" for g in self.spec["groups"]) and "persona" not in car:
            try:
                self.personas = fit_personas(car, self.spec.get("personas") or {})
                self.car = car.assign(persona=self.personas.labels)
            except LeftOut as err:
                self._persona_reason = str(err)
        self.definitions: dict[str, CohortDef] = {}
        for group in self.spec["groups"]:
            self._add_group(group)
        self._masks: dict[str, np.ndarray] = {}
        if self.base not in self.definitions:
            raise ProfilerError(f"{self.path}: base cohort '{self.base}' is not defined.")

    def _has(self, column: str) -> bool:
        return column in self.car.columns or column in self.known_columns

    def _missing_reason(self, names: list[str], needs: str | None, what: str) -> str:
        """'needs region (customers table), which this CAR does not have'.  Without ``needs``,
        a name close to a column the CAR has is a typo in the definitions, not missing data:
        that is an error."""
        for name in [] if needs else names:
            hint = did_you_mean(name, [*self.known_columns, *self.car.columns])
            if hint:
                raise ProfilerError(f"{self.path}: {what}: unknown column '{clip(name)}'.{hint}")
        where = f" ({needs} table)" if needs else ""
        return f"needs {', '.join(names)}{where}, which this CAR does not have"

    def _add_group(self, group: dict[str, Any]) -> None:
        title = str(group.get("group", ""))
        needs = group.get("needs")
        if "by" in group:
            column = str(group["by"])
            if column == "persona" and self.personas is None and "persona" not in self.car:
                self.left_out[title] = self._persona_reason
                return
            if column not in self.car.columns:
                self.left_out[title] = self._missing_reason([column], needs, f"group '{title}'")
                return
            pattern = str(group.get("name", "{value}"))
            values = _values(self.car[column])
            if not values:  # e.g. strategy segments when the potential-value fit failed
                self.left_out[title] = f"no customer has a value of {column}"
                return
            for value in values:
                name = pattern.replace("{value}", str(value))
                self._add(
                    CohortDef(
                        name, title, str(group.get("description", "")), by=column, value=value
                    )
                )
            return
        for item in group.get("cohorts") or []:
            if not isinstance(item, dict) or "name" not in item:
                raise ProfilerError(f"{self.path}: group '{title}': each cohort needs a name.")
            text = str(item.get("filter") or "")
            name = str(item["name"])
            within = item.get("within")
            if within and within in self.left_out:
                self.left_out[name] = f"within '{within}', which is left out"
                continue
            node = _parse(item, text, name, self.path) if text.strip() else None
            cohort = CohortDef(
                name, title, str(item.get("description", "")), text, within, tree=node
            )
            if node is not None:
                absent = sorted(n for n in expressions.names(node) if not self._has(n))
                if absent:
                    self.left_out[cohort.name] = self._missing_reason(
                        absent, item.get("needs"), f"cohort '{cohort.name}'"
                    )
                    continue
                try:
                    expressions.check_names(text, node, [*self.known_columns, *self.car.columns])
                except expressions.ExpressionError as err:
                    raise ProfilerError(f"{self.path}: cohort '{cohort.name}': {err}") from None
            self._add(cohort)

    def _add(self, cohort: CohortDef) -> None:
        if cohort.name in self.definitions:
            raise ProfilerError(f"{self.path}: cohort '{cohort.name}' is defined twice.")
        self.definitions[cohort.name] = cohort

    def left_out_notes(self) -> list[str]:
        """One line per cohort or group left out, for views and 'cohorts list'."""
        return [f"left out: {name}: {reason}" for name, reason in self.left_out.items()]

    # -- lookups ---------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self.definitions)

    def group_names(self, group: str) -> list[str]:
        """The cohorts of one group, in definition order (e.g. the 27 strategy segments)."""
        groups = dict.fromkeys([*(d.group for d in self.definitions.values()), *self.left_out])
        group = names.resolve(group, groups, "cohort group")  # as typed: any letter case
        found = [d.name for d in self.definitions.values() if d.group == group]
        if not found and group in self.left_out:
            raise LeftOut(f"Cohort group '{group}' is left out: {self.left_out[group]}.")
        return found

    def canonical(self, name: str) -> str:
        """The cohort ``name`` names, as defined, from any letter case (an intersection part by
        part); one line with a suggestion when it names none."""
        if INTERSECTION in name:
            return INTERSECTION.join(self.canonical(p.strip()) for p in name.split(INTERSECTION))
        return names.resolve(name, [*self.definitions, *self.left_out], "cohort")

    def mask(self, name: str) -> np.ndarray:
        """Which CAR rows belong to the cohort (read-only, cached)."""
        if name not in self._masks:
            name = self.canonical(name)
        if name not in self._masks:
            self._masks[name] = self._compute(name, ())
            self._masks[name].setflags(write=False)
        return self._masks[name]

    def size(self, name: str) -> int:
        return int(self.mask(name).sum())

    def reads(self, name: str) -> set[str]:
        """The CAR columns a cohort's membership reads (its parents' and, for an intersection,
        every part's included)."""
        if INTERSECTION in name:
            return set().union(*(self.reads(p.strip()) for p in name.split(INTERSECTION)))
        name = self.canonical(name)
        self.mask(name)  # an unknown or left-out cohort says so in one line
        d = self.definitions[name]
        used = {d.by} if d.by is not None else set()
        if d.tree is not None:
            used |= expressions.names(d.tree)
        return used | (self.reads(d.within) if d.within else set())

    def mask_in(self, name: str, frame: pd.DataFrame) -> np.ndarray:
        """Membership computed on another frame with the columns the cohort reads (the state of
        every customer at a period's end: ``QueryEngine.values(membership="period-end")``)."""
        self.mask(name)
        return self._compute(name, (), frame)

    def _compute(
        self, name: str, seen: tuple[str, ...], car: pd.DataFrame | None = None
    ) -> np.ndarray:
        frame = self.car if car is None else car
        if INTERSECTION in name:
            out = np.ones(len(frame), dtype=bool)
            for part in name.split(INTERSECTION):
                out &= (
                    self.mask(part.strip())
                    if car is None
                    else self._compute(part.strip(), seen, car)
                )
            return out
        name = self.canonical(name)
        if name in self.left_out:
            raise LeftOut(f"Cohort '{clip(name)}' is left out: {self.left_out[name]}.")
        if name in seen:
            raise ProfilerError(
                f"{self.path}: cohort '{name}' is within itself ({' > '.join(seen)})."
            )
        d = self.definitions[name]
        if d.by is not None:
            return (frame[d.by] == d.value).to_numpy(dtype=bool, na_value=False)
        out = np.ones(len(frame), dtype=bool)
        if d.within:
            out &= (
                self._masks[d.within]
                if car is None and d.within in self._masks
                else self._compute(d.within, (*seen, name), car)
            )
        if d.tree is not None:
            out &= expressions.evaluate_mask(d.tree, frame, d.filter)
        return out


def _parse(item: dict[str, Any], text: str, name: str, path: str) -> expressions.Node:
    try:
        return _tree(item, text)
    except expressions.ExpressionError as err:
        raise ProfilerError(f"{path}: cohort '{name}': {err}") from None


def _values(column: pd.Series) -> list[Any]:
    """The values a ``by`` group expands to: an ordered category's order, else sorted."""
    present = column.dropna().unique().tolist()
    if isinstance(column.dtype, pd.CategoricalDtype) and column.cat.ordered:
        return [v for v in column.cat.categories if v in set(present)]
    return sorted(present, key=str)


def columns_used(spec: dict[str, Any]) -> set[str]:
    """Every CAR column the cohort definitions read (so an engine can load only those)."""
    used: set[str] = set()
    for group in spec.get("groups") or []:
        if "by" in group:
            used.add(str(group["by"]))
        for item in group.get("cohorts") or []:
            text = str((item or {}).get("filter") or "")
            if text.strip():
                try:
                    used |= expressions.names(_tree(item, text))
                except expressions.ExpressionError:
                    continue  # reported with its position when the cohort set is built
    personas = spec.get("personas") or {}
    used |= set(personas.get("features") or [])
    return used - {"persona"} | {"orders_ltd", "profiling_opt_out"}
