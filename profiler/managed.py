"""The files outside a CAR generation that the profiler wrote and that hold customer ids.

An audience CSV is written wherever its user asks; the CAR folder it was selected from keeps a
register of it (``managed_files.json``), so that ``profiler forget`` can find every such file
and purge an erased customer from it, and ``profiler subject-access`` can say which audiences a
customer was in.  A file moved or deleted since is simply skipped by both.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import locks
from .outputs import replacing

REGISTER = "managed_files.json"
KINDS = ("audience",)


def register(folder: str | Path, path: str | Path, kind: str, **about: Any) -> None:
    """Record ``path`` (made absolute) as a ``kind`` file written from the CAR folder ``folder``;
    ``about`` adds what the file was (cohort, channel, seed...).  Writing the same path again
    replaces its entry."""
    if kind not in KINDS:
        raise ValueError(f"unknown managed file kind {kind!r}")
    folder = Path(folder)
    target = str(Path(path).resolve())
    with locks.exclusive(folder / REGISTER, wait=30):
        entries = [e for e in registered(folder) if e["path"] != target]
        entries.append(
            {
                "path": target,
                "kind": kind,
                "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
                **about,
            }
        )
        _write(folder, entries)


def registered(folder: str | Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The register's entries (of one ``kind`` if given), oldest first; none if there is none."""
    file = Path(folder) / REGISTER
    try:
        entries = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [e for e in entries if kind is None or e.get("kind") == kind]


def forget_entries(folder: str | Path, paths: set[str]) -> None:
    """Drop the entries of ``paths`` (files that no longer exist)."""
    folder = Path(folder)
    with locks.exclusive(folder / REGISTER, wait=30):
        _write(folder, [e for e in registered(folder) if e["path"] not in paths])


def _write(folder: Path, entries: list[dict[str, Any]]) -> None:
    with replacing(folder / REGISTER) as tmp:
        tmp.write_text(json.dumps(entries, indent=1), encoding="utf-8")
