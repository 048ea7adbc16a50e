"""Feature definitions: read templates/features.yaml and describe every CAR column.

Each column of the CAR has a ``ColumnDef``: its name, family, plain-words description, unit,
source tables and a hash of its definition.  The data dictionary is these entries; the builder
refuses to write a column that has none.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ProfilerError

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
DEFAULT_FEATURES = TEMPLATES / "features.yaml"


class FeatureSpecError(ProfilerError):
    """templates/features.yaml is missing or malformed."""


@dataclass(frozen=True)
class ColumnDef:
    """One CAR column, as the data dictionary documents it."""

    name: str
    family: str
    description: str
    unit: str
    sources: tuple[str, ...]
    definition: dict[str, Any] = field(default_factory=dict, compare=False)

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


def load_feature_spec(path: str | Path | None = None) -> dict[str, Any]:
    """The parsed features YAML (default: the packaged templates/features.yaml)."""
    path = Path(path) if path else DEFAULT_FEATURES
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise FeatureSpecError(f"{path}: cannot be read ({exc.strerror}).") from None
    except yaml.YAMLError as exc:
        raise FeatureSpecError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}).") from None
    for key in (
        "periods",
        "measures",
        "sales",
        "lifecycle",
        "value_tiers",
        "rfm",
        "interests",
        "engagement_score",
        "potential_value",
        "strategy_segments",
    ):
        if key not in spec:
            raise FeatureSpecError(f"{path}: missing section '{key}'.")
    for grid in spec["sales"]:
        for measure in grid["measures"]:
            if measure not in spec["measures"]:
                raise FeatureSpecError(
                    f"{path}: slice '{grid['slice']}' uses unknown measure '{measure}'. Known: {', '.join(spec['measures'])}."
                )
        for period in grid["periods"]:
            if period not in spec["periods"]:
                raise FeatureSpecError(
                    f"{path}: slice '{grid['slice']}' uses unknown period '{period}'. Known: {', '.join(spec['periods'])}."
                )
    _check_strategy_names(path, spec)
    return spec


def _check_strategy_names(path: Path, spec: dict[str, Any]) -> None:
    """Every current x potential x engagement cell needs a name, and every name a cell."""
    strategy = spec["strategy_segments"]
    cells = {
        f"{c['band']}/{p['tier']}/{e['band']}"
        for c in strategy["current_value"]
        for p in spec["potential_value"]["tiers"]
        for e in strategy["engagement"]
    }
    names = set(strategy.get("names") or {})
    if cells != names:
        missing, unknown = sorted(cells - names), sorted(names - cells)
        raise FeatureSpecError(
            f"{path}: strategy_segments.names must name each of the {len(cells)} cells "
            f"(current/potential/engagement); missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'}."
        )


def slug(value: object) -> str:
    """A column-name-safe form of a data value: 'Silk & Scarves' -> 'silk_scarves'."""
    text = re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")
    return text or "blank"
