"""The catalog lock: what was released, so a metric's definition cannot change under its version.

``profiler metrics release`` writes ``catalog.lock`` into the catalog folder (beside a single
catalog file: ``<file>.lock``).  It records the catalog version and, for every metric, its
version, its ``definition_hash`` (``Metric.definition_hash``: only the fields that define the
number, ``DEFINING``) and the normalised text of those fields, so a diff against the lock can
show the released filter or expression next to the current one.  The file is YAML, metrics and
fields sorted by name, one field a line, so a release reads as a short git diff.

``check_lock`` compares a catalog with its lock and returns findings: an error when a metric's
definition changed and its version did not (drift: the same "net_sales v1" would mean two
numbers), a warning when a version was raised but not yet released, a note for a metric the
lock does not know yet.  ``release`` is refused while any error stands, so a release cannot
hide drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .catalog import DEFAULT_CATALOG, DEFINING, Catalog, CatalogError, Metric, _LineLoader
from .errors import clip
from .outputs import replacing

LOCK_NAME = "catalog.lock"
HEADER = (
    "# Written by 'profiler metrics release': the released version and definition of every\n"
    "# metric (docs/metrics.md, 'Versions and sign-off'). Do not edit by hand; 'profiler\n"
    "# metrics check' fails when a definition differs from this file and its version does not.\n"
)
RELEASE_HINT = "run 'profiler metrics release'"
# A defining field's type in the lock where it is not text.
_TYPES: dict[str, type | tuple[type, ...]] = {"additive": bool, "percentile": (int, float)}


@dataclass(frozen=True)
class Released:
    """One metric as the lock records it."""

    name: str
    version: int
    hash: str
    definition: dict[str, Any]
    file: str = ""
    line: int = 0

    def metric(self) -> Metric:
        """The released definition as a Metric (only its defining fields are known)."""
        return Metric(
            name=self.name, version=self.version, **self.definition, file=self.file, line=self.line
        )

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Lock:
    """A lock file as read: the released catalog version and metrics."""

    path: Path
    catalog_version: str
    metrics: dict[str, Released]


@dataclass(frozen=True)
class Finding:
    """One result of comparing a catalog with its lock; ``level`` is error, warning or note.
    Errors block a release; so does a warning with ``blocks_release``."""

    level: str
    where: str
    metric: str
    message: str
    blocks_release: bool = False

    @property
    def blocks(self) -> bool:
        return self.level == "error" or self.blocks_release

    def __str__(self) -> str:
        place = f"{self.where}: " if self.where else ""
        subject = f"{self.metric}: " if self.metric else ""
        return f"{self.level.capitalize()}: {place}{subject}{self.message}"


def lock_path(catalog_path: str | Path | None = None) -> Path:
    """Where the lock of a catalog lives: ``catalog.lock`` in its folder, or ``<file>.lock``."""
    root = Path(catalog_path) if catalog_path else DEFAULT_CATALOG
    return root / LOCK_NAME if root.is_dir() else root.with_suffix(".lock")


def defining(metric: Metric) -> dict[str, Any]:
    """The fields the definition hash covers, normalised, without the empty ones."""
    full = metric.definition()
    return {k: full[k] for k in DEFINING if full[k] is not None and full[k] != ""}


def lock_text(catalog: Catalog) -> str:
    """The lock file ``release`` writes for this catalog: metrics by name, fields by name."""
    doc = {
        "catalog_version": catalog.version,
        "metrics": {
            name: {
                "version": m.version,
                "definition_hash": m.definition_hash,
                "definition": dict(sorted(defining(m).items())),
            }
            for name, m in sorted(catalog.metrics.items())
        },
    }
    body = yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=False, allow_unicode=True, width=10_000
    )
    return HEADER + body


def write_lock(catalog: Catalog, path: str | Path) -> Path:
    """Write the lock whole or not at all (a unique temporary file renamed over it)."""
    target = Path(path)
    text = lock_text(catalog)
    with replacing(target, needs=len(text.encode())) as tmp:
        tmp.write_text(text)
    return target


def read_lock(path: str | Path) -> Lock | None:
    """The lock at ``path``, or None when there is none; a malformed lock is a CatalogError
    naming its file and line."""
    target = Path(path)
    if not target.is_file():
        return None
    try:
        doc = yaml.load(target.read_text(), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise CatalogError(
            f"{target}{line}: the lock is not valid YAML ({str(exc).splitlines()[0]}); "
            f"restore it from git or delete it and {RELEASE_HINT}"
        ) from None

    def bad(line: int, what: str) -> CatalogError:
        return CatalogError(
            f"{target}:{line}: {what}; restore the lock from git or delete it and {RELEASE_HINT}"
        )

    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        raise bad(1, "expected 'catalog_version:' and 'metrics:'")
    lines = doc.get("__lines__", {})
    released: dict[str, Released] = {}
    for key, entry in doc["metrics"].items():
        name = str(key)
        if name.startswith("__"):
            continue
        line = doc["metrics"].get("__lines__", {}).get(name, lines.get("metrics", 1))
        if not isinstance(entry, dict):
            raise bad(line, f"{clip(name)}: expected version, definition_hash and definition")
        definition = entry.get("definition")
        version, digest = entry.get("version"), entry.get("definition_hash")
        if isinstance(version, bool) or not isinstance(version, int) or not isinstance(digest, str):
            raise bad(line, f"{clip(name)}: needs a whole-number version and a definition_hash")
        if not isinstance(definition, dict):
            raise bad(line, f"{clip(name)}: needs a definition")
        fields = {str(k): v for k, v in definition.items() if not str(k).startswith("__")}
        unknown = sorted(set(fields) - set(DEFINING))
        if unknown:
            raise bad(line, f"{clip(name)}: unknown definition field '{clip(unknown[0])}'")
        for field_name, value in fields.items():
            if not isinstance(value, _TYPES.get(field_name, str)):
                raise bad(line, f"{clip(name)}: {field_name} has the wrong type")
        released[name] = Released(name, version, digest, fields, str(target), line)
    return Lock(target, str(doc.get("catalog_version", "")), released)


# ---------------------------------------------------------------------------------------------
# comparing a catalog with its lock


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [k for k in DEFINING if before.get(k) != after.get(k)]


def check_lock(catalog: Catalog, lock: Lock) -> list[Finding]:
    """Every difference between the catalog and its lock, errors first, each in file order."""
    out: list[Finding] = []
    for name, r in lock.metrics.items():
        if r.metric().definition_hash != r.hash:
            out.append(
                Finding(
                    "error",
                    r.where(),
                    name,
                    "the lock's definition does not match its definition_hash (edited by "
                    "hand?); restore catalog.lock from git",
                )
            )
    for name, m in catalog.metrics.items():
        r = lock.metrics.get(name)
        if r is None:
            out.append(
                Finding(
                    "note",
                    m.where(),
                    name,
                    f"new metric (version {m.version}), not in the lock yet; {RELEASE_HINT} to "
                    "record it",
                )
            )
            continue
        fields = changed_fields(r.definition, defining(m))
        if m.version < r.version:
            out.append(
                Finding(
                    "error",
                    m.where("version"),
                    name,
                    f"version {m.version} is below the released version {r.version}",
                )
            )
        elif m.definition_hash != r.hash and m.version == r.version:
            out.append(
                Finding(
                    "error",
                    m.where(fields[0] if fields else None),
                    name,
                    f"definition changed ({', '.join(fields) or 'normalised text'}) but version "
                    f"is still {m.version}, as released; raise its version to {r.version + 1} "
                    f"(and its changelog), then {RELEASE_HINT}",
                )
            )
        elif m.version > r.version:
            what = f"definition changed: {', '.join(fields)}" if fields else "same definition"
            out.append(
                Finding(
                    "warning",
                    m.where("version"),
                    name,
                    f"version {m.version} ({what}) is not released (the lock has version "
                    f"{r.version}); {RELEASE_HINT}",
                )
            )
    for name, r in lock.metrics.items():
        if name not in catalog.metrics:
            out.append(
                Finding(
                    "warning",
                    r.where(),
                    name,
                    f"released metric (version {r.version}) is no longer in the catalog; "
                    f"{RELEASE_HINT} to record its removal",
                )
            )
    out += _check_catalog_version(catalog, lock, out)
    order = {"error": 0, "warning": 1, "note": 2}
    return sorted(out, key=lambda f: (order[f.level], _position(f.where)))


def _check_catalog_version(catalog: Catalog, lock: Lock, found: list[Finding]) -> list[Finding]:
    """A release that changes or removes a released metric changes the catalog version: the
    same 'metric catalog 1.1.0' on two tables must mean the same definitions.  A new metric
    changes no released number, so it may join under the released version."""
    pending = [f.metric for f in found if f.level == "warning" and f.metric]
    if catalog.version != lock.catalog_version:
        return [
            Finding(
                "warning",
                catalog.version_at,
                "",
                f"catalog version {catalog.version} is not released (the lock has "
                f"{lock.catalog_version}); {RELEASE_HINT}",
            )
        ]
    if pending:
        shown = ", ".join(pending[:5]) + (
            f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        )
        return [
            Finding(
                "warning",
                catalog.version_at,
                "",
                f"catalog version {catalog.version} is already released and {shown} changed "
                "since: raise 'version' in catalog.yaml before releasing",
                blocks_release=True,
            )
        ]
    return []


def _position(where: str) -> tuple[str, int]:
    file, _, line = where.rpartition(":")
    return (file, int(line)) if line.isdigit() else (where, 0)


def diff_lock(lock: Lock, catalog: Catalog) -> list[dict[str, Any]]:
    """Metrics added, removed, changed (definition) or re-versioned since the lock, with the
    released and current definitions as Metrics (``old``, ``new``) to show side by side."""
    rows: list[dict[str, Any]] = []
    for name in sorted(set(lock.metrics) | set(catalog.metrics)):
        r, m = lock.metrics.get(name), catalog.metrics.get(name)
        row: dict[str, Any] = {
            "metric": name,
            "old_version": r.version if r else "",
            "new_version": m.version if m else "",
            "old_hash": r.hash if r else "",
            "new_hash": m.definition_hash if m else "",
            "where": m.where() if m else r.where() if r else "",
            "old": r.metric() if r else None,
            "new": m,
        }
        if r is None:
            rows.append({**row, "change": "added", "fields": "", "details": []})
        elif m is None:
            rows.append({**row, "change": "removed", "fields": "", "details": []})
        elif r.hash != m.definition_hash or r.version != m.version:
            before, after = r.definition, defining(m)
            fields = changed_fields(before, after)
            details = [f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in fields]
            if r.version != m.version:
                fields.append("version")
                details.append(f"version: {r.version} -> {m.version}")
            change = "changed" if r.hash != m.definition_hash else "version"
            rows.append({**row, "change": change, "fields": ", ".join(fields), "details": details})
    return rows
