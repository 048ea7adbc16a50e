"""Feature definitions: read templates/features.yaml (typed) and describe every CAR column.

Each column of the CAR has a ``ColumnDef``: its name, family, plain-words description, unit,
source tables and a hash of its definition, rendered from its declaration in
templates/columns.yaml (``profiler/declarations.py``).  The data dictionary is these entries;
the builder refuses to write a column that has none.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from . import yaml_lines
from .declarations import UNITS, ColumnDef, FeatureSpecError, declarations, slug
from .yaml_lines import TEMPLATES, Lines, Strict, did_you_mean, shown_path

# ColumnDef, UNITS, FeatureSpecError and slug belong to the declarations, TEMPLATES and
# shown_path to the template reader (yaml_lines); they are named here too, where callers look.
__all__ = ["TEMPLATES", "UNITS", "ColumnDef", "FeatureSpecError", "shown_path", "slug"]

DEFAULT_FEATURES = TEMPLATES / "features.yaml"


Unit = Literal[UNITS]  # type: ignore[valid-type]
Share = Annotated[float, Field(gt=0, le=1)]


class Period(Strict):
    """A period relative to D: ``ltd`` and ``ytd`` by their names, the others months back."""

    label: str
    months_back: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]] | None = None


class Measure(Strict):
    unit: Unit
    description: str


class Grid(Strict):
    """One sales grid: a slice, its measures and its periods."""

    slice: str
    measures: list[str] = Field(min_length=1)
    periods: list[str] = Field(min_length=1)


class Lifecycle(Strict):
    new_days: Annotated[int, Field(gt=0)]
    active_days: Annotated[int, Field(gt=0)]
    lapsed_days: Annotated[int, Field(gt=0)]


class Tier(Strict):
    tier: str
    top_share: Share


class RfmSegment(Strict):
    name: str
    r_min: Annotated[int, Field(ge=1, le=5)]
    fm_min: Annotated[int, Field(ge=1, le=5)]


class Rfm(Strict):
    segments: list[RfmSegment] = Field(min_length=1)


class PotentialValue(Strict):
    time_unit: Literal["D", "W", "M"]
    horizon_months: Annotated[int, Field(gt=0)]
    monthly_discount_rate: Annotated[float, Field(ge=0)]
    tiers: list[Tier] = Field(min_length=1)


class ValueBand(Strict):
    band: str
    top_share: Share


class EngagementBand(Strict):
    band: str
    min_score: Annotated[float, Field(ge=0, le=100)]


class StrategySegments(Strict):
    current_value_basis: Literal["spend", "margin"] = "spend"
    current_value: list[ValueBand] = Field(min_length=1)
    engagement: list[EngagementBand] = Field(min_length=1)
    names: dict[str, str]
    names_without_engagement: dict[str, str]


class Interests(Strict):
    gift_categories: list[str]
    gifting_months: list[Annotated[int, Field(ge=1, le=12)]]
    sale_periods: list[tuple[int, int, int, int]]  # [start month, day, end month, day]
    newness_days: Annotated[int, Field(gt=0)]


class Component(Strict):
    # The parts profiler/families/engagement.py computes.
    name: Literal[
        "interaction recency",
        "interactions l12m",
        "email clicks l12m",
        "events l12m",
        "survey answered l12m",
        "opted in",
    ]
    weight: Annotated[float, Field(ge=0, le=1)]
    cap: Annotated[float, Field(gt=0)] | None = None
    description: str


class EngagementScore(Strict):
    components: list[Component] = Field(min_length=1)


class FeatureSpecModel(Strict):
    """templates/features.yaml, typed."""

    version: Literal[1]
    periods: dict[str, Period]
    measures: dict[str, Measure]
    sales: list[Grid]
    slice_names: dict[str, str]
    lifecycle: Lifecycle
    value_tiers: list[Tier] = Field(min_length=1)
    rfm: Rfm
    potential_value: PotentialValue
    strategy_segments: StrategySegments
    age_bands: list[tuple[int, int, str]]
    interests: Interests
    engagement_score: EngagementScore


class FeatureSpec(dict):
    """The parsed features YAML: the plain data the families read (``spec["sales"]``, ...),
    with its typed model and the line of each value (for errors found later)."""

    model: FeatureSpecModel | None = None
    lines: Lines | None = None
    # The column declarations (templates/columns.yaml, profiler/declarations.py), carried with
    # the spec to every process that builds a part: a Spark executor given ``profiler/`` alone
    # (a zip, docs/engines.md) has no templates folder to read them from.
    declarations: Any = None


def spec_where(spec: dict[str, Any], path: tuple[str | int, ...]) -> str:
    """``file:line`` of a value of a loaded spec (the file alone for a hand-made dict)."""
    lines = getattr(spec, "lines", None)
    return lines.where(path) if lines else "features spec"


def load_feature_spec(path: str | Path | None = None) -> FeatureSpec:
    """The parsed features YAML (default: the packaged templates/features.yaml), checked: a
    problem raises ``FeatureSpecError`` naming its file and line."""
    path = Path(path) if path else DEFAULT_FEATURES
    try:
        data, lines = yaml_lines.load(path, shown_path(path))
    except ValueError as exc:
        raise FeatureSpecError(str(exc)) from None
    if not isinstance(data, dict):
        raise FeatureSpecError(
            f"{lines.where(())}: expected a mapping of sections (periods, measures, sales, ...)."
        )
    try:
        model = FeatureSpecModel.model_validate(data)
    except ValidationError as exc:
        raise FeatureSpecError(yaml_lines.first_problem(exc, lines)) from None
    problems = _cross_problems(model, lines)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise FeatureSpecError(problems[0] + more)
    spec = FeatureSpec(data)
    spec.model, spec.lines, spec.declarations = model, lines, declarations()
    return spec


def _cross_problems(spec: FeatureSpecModel, lines: Lines) -> list[str]:
    """What the types cannot say: names that must refer to other entries."""
    out = []
    for name, period in spec.periods.items():
        if name not in ("ltd", "ytd") and period.months_back is None:
            out.append(
                f"{lines.where(('periods', name))}: period '{name}' needs months_back: [near, far] "
                "(only ltd and ytd are known by name)."
            )
    for g, grid in enumerate(spec.sales):
        if grid.slice != "total" and grid.slice not in spec.slice_names:
            out.append(
                f"{lines.where(('sales', g, 'slice'))}: slice '{grid.slice}' has no short name in "
                f"slice_names.{did_you_mean(grid.slice, spec.slice_names)} Known: {', '.join(spec.slice_names)}."
            )
        for j, measure in enumerate(grid.measures):
            if measure not in spec.measures:
                out.append(
                    f"{lines.where(('sales', g, 'measures', j))}: slice '{grid.slice}' uses unknown measure "
                    f"'{measure}'.{did_you_mean(measure, spec.measures)} Known: {', '.join(spec.measures)}."
                )
        for j, period in enumerate(grid.periods):
            if period not in spec.periods:
                out.append(
                    f"{lines.where(('sales', g, 'periods', j))}: slice '{grid.slice}' uses unknown period "
                    f"'{period}'.{did_you_mean(period, spec.periods)} Known: {', '.join(spec.periods)}."
                )
    for kind, bands in (
        ("value_tiers", [t.top_share for t in spec.value_tiers]),
        ("potential_value.tiers", [t.top_share for t in spec.potential_value.tiers]),
        (
            "strategy_segments.current_value",
            [b.top_share for b in spec.strategy_segments.current_value],
        ),
    ):
        if bands != sorted(bands) or bands[-1] != 1:
            path = tuple(kind.split("."))
            out.append(
                f"{lines.where(path)}: {kind}: top_share must ascend and the last be 1 (got {bands})."
            )
    out += _strategy_problems(spec, lines)
    return out


def _strategy_problems(spec: FeatureSpecModel, lines: Lines) -> list[str]:
    """Every current x potential [x engagement] cell needs a name, and every name a cell."""
    strategy = spec.strategy_segments
    current = [c.band for c in strategy.current_value]
    potential = [p.tier for p in spec.potential_value.tiers]
    out = []
    for key, axes in (
        ("names", [current, potential, [e.band for e in strategy.engagement]]),
        ("names_without_engagement", [current, potential]),
    ):
        cells = {"/".join(c) for c in itertools.product(*axes)}
        names = set(getattr(strategy, key))
        if cells != names:
            missing, unknown = sorted(cells - names), sorted(names - cells)
            what = "current/potential/engagement" if len(axes) == 3 else "current/potential"
            out.append(
                f"{lines.where(('strategy_segments', key))}: strategy_segments.{key} must name each of "
                f"the {len(cells)} cells ({what}); missing: {', '.join(missing) or 'none'}; "
                f"unknown: {', '.join(unknown) or 'none'}."
            )
    return out
