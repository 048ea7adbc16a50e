"""The CAR folder: the one owner of its files, written in generations and switched in one step.

A build never writes over the files readers use.  It writes a complete new *generation* beside
the current one and makes it current by replacing one small pointer file (``os.replace``, atomic
on every platform), so a reader sees the old generation or the new one, whole, never a mix::

    OUT/
      CURRENT                     {"current": "gen-<id>", "previous": ["gen-<id>", ...]}
      .lock                       held by the build writing here (who: command, pid, start)
      gen-20261203T091500-4711-a1b2c3/
        car.parquet/part-*.parquet
        car_dictionary.csv
        activity.arrow
        orders.arrow
        quarantine.csv
        reconciliation.arrow      when the sources have a ledger (in-memory builds)
        clv_holdout.arrow         the CLV model's holdout check (in-memory builds)
        targets.arrow             when the sources have a targets table (every engine)
        contacts.arrow            consented customers' name, e-mail, phone (in-memory builds)
        lines_<source>.arrow      the rows breakdowns read: order lines, surveys, interactions
                                  (in-memory builds; profiler/lines.py)
        car_meta.json             written last: the generation's manifest
      gen-20261202T091500-4242-d4e5f6/   the previous generation (kept for --rollback)

Every file of a generation carries its build id: Parquet and Arrow files in their schema
metadata, ``car_meta.json`` in its ``build_id``, the CSV files through the byte size the
manifest records (a CSV has no place for metadata that its readers would not see).  A reader
opens the generation the pointer names and checks every member against the manifest before it
reads anything, refusing a mismatch with one line.

A build runs under the folder's lock (``profiler/locks.py``), in a hidden ``.building-<id>``
folder; it is renamed to ``gen-<id>`` when every member is written, then the pointer is
replaced, then generations beyond the last ``keep`` are removed.  A build that fails removes its
folder; a killed one leaves it for the next build to remove.  ``rollback`` points back to the
previous generation.

Folders written before generations (``car.parquet`` and friends directly in the folder) are
not read: they cannot show which build each file came from, which is how a killed build mixed
two builds' numbers.  Readers say so in one line and ask for a rebuild; a build into such a
folder removes the old files once its generation is current.

The members are declared once, in ``MEMBERS``: adding a file to the CAR folder is one line
there (and in ``REQUIRED`` when every build writes it) and one ``write_*`` call in the build.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
import pyarrow.parquet as pq

from . import locks, outputs
from .errors import ProfilerError
from .outputs import stage
from .safecsv import write_csv


@dataclass(frozen=True)
class Member:
    """A file of a generation: its name and how it is written (and its build id checked)."""

    name: str
    kind: str  # "parquet" (a folder of parts), "arrow" (IPC file), "csv" or "json"
    about: str


CAR = Member("car.parquet", "parquet", "one row per customer, every column documented")
DICTIONARY = Member("car_dictionary.csv", "csv", "the CAR's data dictionary")
ACTIVITY = Member("activity.arrow", "arrow", "customer x month parts of the row metrics")
ORDERS = Member("orders.arrow", "arrow", "each order's customer and days: state at any date")
QUARANTINE = Member("quarantine.csv", "csv", "source rows left out, with the reason")
META = Member("car_meta.json", "json", "as-of date, counts, models; the manifest (written last)")
# Computed from the sources by an in-memory build, so a workbook refresh reads them instead of
# reloading every source: optional (no ledger, no reconciliation; CARs built before them).
RECONCILIATION = Member(
    "reconciliation.arrow", "arrow", "the last 12 complete months tied to the ledger"
)
HOLDOUT = Member("clv_holdout.arrow", "arrow", "the CLV model's check on a holdout year")
# Personal data, for the single-customer view only (profiler/customer.py): the name, e-mail
# and phone of customers whose consent at D allows contact, nobody else (in-memory builds).
CONTACTS = Member("contacts.arrow", "arrow", "consented customers' contact details")
REQUIRED = (CAR, DICTIONARY, ACTIVITY, ORDERS, QUARANTINE, META)
# The rows behind the row metrics, for breakdowns by dimension (``profiler/lines.py``): one
# member per row source, written by in-memory builds.
LINES = {
    source: Member(f"lines_{source}.arrow", "arrow", f"the {source} rows breakdowns read")
    for source in ("order_lines", "surveys", "interactions")
}
# The accepted rows of the sources' targets table (profiler/targets.py), when it has one.
TARGETS = Member("targets.arrow", "arrow", "the targets the views compare actuals with")
MEMBERS = (*REQUIRED, RECONCILIATION, HOLDOUT, TARGETS, CONTACTS, *LINES.values())
SOURCE_CHECKS = {"reconciliation": RECONCILIATION, "holdout": HOLDOUT}
CAR_ENV = "PROFILER_CAR"  # the CAR folder when none is given

POINTER = "CURRENT"
ERASED_MARK = "ERASED"  # written by profiler forget --no-rebuild; removed by a build
GENERATION_PREFIX = "gen-"
BUILDING_PREFIX = ".building-"
BUILD_KEY = b"profiler_build"  # the build id in Parquet and Arrow schema metadata
KEEP = 2  # generations kept: the current one and the one --rollback returns to
# Files of the layout before generations, removed by the first build that writes generations.
LEGACY = (
    "car.parquet",
    "car_dictionary.csv",
    "car_meta.json",
    "activity.arrow",
    "activity.tmp",
    "quarantine.csv",
    ".car.parquet.tmp",
    ".ranges.tmp",
    ".staging",
)


# ---------------------------------------------------------------------------------------------
# reading


@dataclass
class Generation:
    """One complete generation of a CAR folder, checked: read its members through this."""

    folder: Path
    name: str
    meta: dict[str, Any]

    @property
    def path(self) -> Path:
        return self.folder / self.name

    @property
    def build_id(self) -> str:
        return self.meta["build_id"]

    def file(self, member: Member) -> Path:
        """A member's path (a one-line error when this generation has no such member)."""
        if member.name not in self.meta.get("members", {}):
            raise ProfilerError(
                f"{self.folder}: the current build has no {member.name} (it was built by an "
                f"older profiler); rebuild with 'profiler build --data DIR --out {self.folder}'."
            )
        return self.path / member.name

    def read_car(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The CAR (all columns, or the ones asked for)."""
        return self.read_parquet(CAR, columns).to_pandas()

    def read_parquet(self, member: Member, columns: list[str] | None = None) -> pa.Table:
        """A Parquet member (its parts as one table; all columns, or the ones asked for)."""
        return self._read(lambda: pq.read_table(self.file(member), columns=columns))

    def car_columns(self) -> list[str]:
        """The CAR's column names, without reading its data."""
        parts = _parts(self.file(CAR))
        return list(pq.read_schema(parts[0]).names)

    def read_arrow(self, member: Member) -> pa.Table:
        """An Arrow member, memory-mapped (its columns are paged in when first used)."""
        path = self.file(member)
        return self._read(lambda: pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all())

    def read_activity(self) -> Any:
        from .activity import activity_from_table

        activity = activity_from_table(self.read_arrow(ACTIVITY))
        if ORDERS.name in self.meta.get("members", {}):  # memory-mapped: read when used
            activity.orders = self.read_orders()
        return activity

    def read_orders(self) -> Any:
        from .activity import orders_from_table

        return orders_from_table(self.read_arrow(ORDERS))

    def read_lines(self) -> dict[str, Any]:
        """The stored rows per source (``profiler/lines.py``); empty when the build wrote none."""
        from .lines import lines_from_table

        members = self.meta.get("members", {})
        return {
            source: lines_from_table(self.read_arrow(member))
            for source, member in LINES.items()
            if member.name in members
        }

    def read_frame(self, member: Member) -> pd.DataFrame:
        """A table member written by ``GenerationWriter.write_frame``, as it was written."""
        return self.read_arrow(member).to_pandas()

    def read_csv(self, member: Member, **kwargs: Any) -> pd.DataFrame:
        return self._read(lambda: pd.read_csv(self.file(member), **kwargs))

    def _read(self, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except FileNotFoundError:
            raise ProfilerError(
                f"{self.path}: removed while in use (two newer builds replaced it); open the "
                "folder again."
            ) from None


def current_name(folder: str | Path) -> str | None:
    """The current generation's name, from the pointer alone (cheap: for cache keys)."""
    try:
        return json.loads((Path(folder) / POINTER).read_text())["current"]
    except (OSError, ValueError, KeyError):
        return None


def open_generation(folder: str | Path) -> Generation:
    """The folder's current generation, every member checked (one-line errors otherwise)."""
    folder = Path(folder)
    pointer = _read_pointer(folder)
    mark = folder / ERASED_MARK
    if pointer is not None and mark.exists():
        day = mark.read_text(encoding="utf-8").strip()
        raise ProfilerError(
            f"CAR folder {folder} holds customers erased on {day}: run profiler build."
        )
    if pointer is None:
        if any((folder / name).exists() for name in ("car.parquet", "car_meta.json")):
            raise ProfilerError(
                f"{folder}: written by an older profiler (no generations: its files cannot show "
                f"which build they came from); rebuild with 'profiler build --data DIR --out {folder}'."
            )
        raise ProfilerError(
            f"{folder}: no CAR here. Build one with 'profiler build --data DIR --out {folder}'."
        )
    return check_generation(folder, pointer["current"])


def check_generation(folder: Path, name: str) -> Generation:
    """Open generation ``name`` of ``folder``: its manifest, and every member's build id."""
    gen_path = folder / name
    meta_path = gen_path / META.name
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        raise ProfilerError(
            f"{meta_path}: missing or unreadable, so the current build cannot be checked; "
            f"go back with 'profiler build --rollback --out {folder}', or rebuild."
        ) from None
    build_id = name.removeprefix(GENERATION_PREFIX)
    if meta.get("build_id") != build_id:
        _mismatch(folder, meta_path, meta.get("build_id"), build_id)
    for member_name, recorded in meta.get("members", {}).items():
        member = _member(member_name)
        path = gen_path / member_name
        found = _stamp_of(member, path, recorded)
        if found != build_id:
            _mismatch(folder, path, found, build_id)
    return Generation(folder, name, meta)


def _member(name: str) -> Member:
    for member in MEMBERS:
        if member.name == name:
            return member
    return Member(name, "csv", "")  # a member of a newer profiler: checked by its size


def _stamp_of(member: Member, path: Path, recorded: dict[str, Any]) -> str | None:
    """The build id a member carries (None: missing, cut short or unreadable).  Every member but
    the manifest must also have the byte size the manifest records."""
    try:
        if member.name != META.name:
            size = (
                sum(p.stat().st_size for p in _parts(path))
                if path.is_dir()
                else path.stat().st_size
            )
            if size != recorded.get("bytes"):
                return None
        if member.kind == "parquet":
            parts = _parts(path)
            if len(parts) != recorded.get("parts"):
                return None
            ids = {(pq.read_schema(p).metadata or {}).get(BUILD_KEY, b"").decode() for p in parts}
            return ids.pop() if len(ids) == 1 else None
        if member.kind == "arrow":
            with pa.memory_map(str(path), "r") as source:
                schema = pa.ipc.open_file(source).schema
            return (schema.metadata or {}).get(BUILD_KEY, b"").decode()
        if member.kind == "json" and member.name == META.name:
            return json.loads(path.read_text()).get("build_id")
        return recorded.get("build_id")  # a CSV: its size, checked above
    except (OSError, pa.ArrowInvalid, ValueError):
        return None


def _mismatch(folder: Path, path: Path, found: str | None, expected: str) -> None:
    what = f"belongs to build {found}" if found else "is missing, cut short or unreadable"
    raise ProfilerError(
        f"{path}: {what}, not to the current build {expected}; the folder was changed outside "
        f"'profiler build': go back with 'profiler build --rollback --out {folder}', or rebuild."
    )


def one_schema(parts: list[Path]) -> None:
    """Parts of one member share one schema: a reader takes the first part's for all, and a
    part of other types (a customer bucket without customers, typed by Arrow as null) makes
    the member unreadable.  Checked from the parts' footers when the member is recorded."""
    if not parts:
        return
    first = pq.read_schema(parts[0])
    for path in parts[1:]:
        schema = pq.read_schema(path)
        if schema.equals(first, check_metadata=False):
            continue
        if schema.names != first.names:
            lacks = [n for n in first.names if n not in schema.names]
            adds = [n for n in schema.names if n not in first.names]
            what = f"columns differ from {parts[0].name}'s (lacks {lacks}, adds {adds}, or order)"
        else:
            what = "; ".join(
                f"{f.name} is {f.type} here but {g.type} in {parts[0].name}"
                for f, g in zip(schema, first, strict=True)
                if not f.equals(g)
            )
        raise AssertionError(f"{path}: {what} (the parts of a member have one schema)")


def _parts(path: Path) -> list[Path]:
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def _read_pointer(folder: Path) -> dict[str, Any] | None:
    try:
        text = (folder / POINTER).read_text()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise ProfilerError(f"{folder}: is a file, not a CAR folder.") from None
    try:
        pointer = json.loads(text)
        if isinstance(pointer.get("current"), str):
            return pointer
    except ValueError:
        pass
    raise ProfilerError(f"{folder / POINTER}: not a generation pointer; rebuild the folder.")


def read_car(folder: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The current CAR of a folder (all columns, or the ones asked for)."""
    return open_generation(folder).read_car(columns)


def car_folder(car: str | Path | None = None) -> Path:
    """The CAR folder: ``car`` when given, else $PROFILER_CAR; one line saying what to do when
    neither is there or it holds no complete build.  Every reader finds the folder here."""
    folder = car or os.environ.get(CAR_ENV)
    if not folder:
        raise ProfilerError(
            f"No CAR given: pass --car DIR (a folder written by 'profiler build') or set {CAR_ENV}."
        )
    if current_name(folder) is None:
        open_generation(folder)  # says why in one line
    return Path(folder)


def read_source_checks(folder: str | Path | None, meta: dict[str, Any]) -> dict[str, Any]:
    """What an in-memory build computed from the sources for the workbook, read from the
    generation ``meta`` describes (the one a query engine was opened on): ``reconciliation``
    and ``holdout`` (tables), or ``reconciliation_note`` and ``holdout_error`` (why not).
    Empty for a CAR built before these were stored; a CAR built out of core or on Spark has
    only the note saying why there is no reconciliation."""
    checks: dict[str, Any] = {}
    recorded = meta.get("source_checks") or {}
    if folder is None or not recorded:
        return checks
    generation = Generation(Path(folder), f"{GENERATION_PREFIX}{meta['build_id']}", meta)
    for key, member in SOURCE_CHECKS.items():
        if member.name in meta.get("members", {}):
            checks[key] = generation.read_frame(member)
    if "reconciliation_note" in recorded:
        checks["reconciliation_note"] = recorded["reconciliation_note"]
    if "holdout_error" in recorded:
        checks["holdout_error"] = recorded["holdout_error"]
    return checks


# ---------------------------------------------------------------------------------------------
# writing


@dataclass
class GenerationWriter:
    """A generation being written (in ``.building-<id>``): each ``write_*`` writes one member,
    stamped with the build id; ``building`` commits it when all are written."""

    folder: Path
    build_id: str
    previous: Generation | None = None
    required: tuple[Member, ...] = REQUIRED
    meta: dict[str, Any] = field(default_factory=dict)
    written: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.folder / f"{BUILDING_PREFIX}{self.build_id}"

    def scratch(self, name: str) -> Path:
        """An empty folder for a build's temporary files, removed with the generation's
        temporary files (so a killed build's are removed by the next build)."""
        path = self.path / f".{name}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def stamp(self, schema: pa.Schema) -> pa.Schema:
        """``schema`` with this build's id in its metadata."""
        return schema.with_metadata({**(schema.metadata or {}), BUILD_KEY: self.build_id.encode()})

    # -- the CAR (a folder of Parquet parts written in parallel) -------------------------------

    def write_car(self, result: Any, *, parts: int = 2) -> Path:
        """The CAR of a ``CarResult`` as row-range parts written in parallel, its dictionary,
        and its figures for the metadata."""
        table = result.to_arrow()
        outputs.expect(self.path, max(table.nbytes, self._previous_bytes()))
        n = table.num_rows
        bounds = np.linspace(0, n, parts + 1).astype(int)

        def write_part(i: int) -> None:
            self.write_car_part(i, table.slice(bounds[i], bounds[i + 1] - bounds[i]))

        with ThreadPoolExecutor(max_workers=parts) as pool:
            list(pool.map(write_part, range(parts)))
        return self.finish_car(result, n)

    def write_car_part(self, k: int, table: pa.Table) -> None:
        """Part ``k`` of the CAR (parts are read in order of ``k``)."""
        self.write_part(CAR, k, table)

    def write_part(self, member: Member, k: int, table: pa.Table) -> None:
        """Part ``k`` of a Parquet member (a folder of parts, read in order of ``k``, as one
        table); ``finish_parts`` records the member once every part is written."""
        folder = self.path / member.name
        folder.mkdir(exist_ok=True)
        path = folder / f"part-{k:05d}.parquet"
        with self._naming(path):
            pq.write_table(
                table.replace_schema_metadata(self.stamp(table.schema).metadata),
                path,
                compression="lz4",
                use_dictionary=False,
                write_statistics=False,
            )

    def finish_car(self, result: Any, n: int) -> Path:
        """Record the CAR's parts, write its dictionary, and keep its figures for the metadata."""
        self.finish_parts(CAR)
        dictionary = result.dictionary()
        note = (self.meta.get("data_rights") or {}).get("retention_note")
        if note:  # the retention period: lifetime ("ltd") figures start at its cutoff
            row = dict.fromkeys(dictionary.columns, "")
            dictionary.loc[len(dictionary)] = {
                **row,
                "family": "retention",
                "description": note,
                "status": "note",
            }
        self.write_csv(DICTIONARY, dictionary, raw=True)
        self.meta.update(
            {
                "as_of": str(result.as_of.date()),
                "customers": int(n),
                "columns": result.n_columns,
                "left_out": result.left_out,
                "engine": result.engine,
                "models": result.models,
            }
        )
        return self.path / CAR.name

    # -- any member ----------------------------------------------------------------------------

    def finish_parts(self, member: Member) -> None:
        """Record a Parquet member whose parts are all written (``write_part``), once every
        part has the columns and types of the first (``one_schema``)."""
        parts = _parts(self.path / member.name)
        one_schema(parts)
        self._wrote(member, parts=len(parts))

    def write_parquet(self, member: Member, table: pa.Table) -> Path:
        """A Parquet member of one part."""
        self.write_part(member, 0, table)
        self.finish_parts(member)
        return self.path / member.name

    def write_arrow(
        self, member: Member, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
    ) -> Path:
        """An Arrow IPC file, uncompressed (readers memory-map it), from record batches."""
        path = self.path / member.name
        with self._naming(path):
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, self.stamp(schema)) as w:
                for batch in batches:
                    w.write_batch(batch)
        self._wrote(member)
        return path

    def write_table(self, member: Member, table: pa.Table) -> Path:
        """An Arrow table as one record batch (``member.kind`` "arrow")."""
        return self.write_arrow(
            member, table.schema, table.to_batches(max_chunksize=max(table.num_rows, 1))
        )

    def write_activity(self, activity: Any) -> Path:
        """The activity table and its order days (two members)."""
        from .activity import activity_table, orders_table

        path = self.write_table(ACTIVITY, activity_table(activity))
        self.write_table(ORDERS, orders_table(activity.orders))
        return path

    def write_lines(self, lines: dict[str, Any]) -> None:
        """The stored rows of each source (``profiler/lines.py``), one member each."""
        from .lines import lines_table

        for source, rows in lines.items():
            self.write_table(LINES[source], lines_table(rows))

    def write_frame(self, member: Member, frame: pd.DataFrame) -> Path:
        """A DataFrame as an Arrow member, its dtypes kept (``Generation.read_frame``)."""
        return self.write_table(member, pa.Table.from_pandas(frame, preserve_index=False))

    def write_csv(self, member: Member, frame: pd.DataFrame, *, raw: bool = False) -> Path:
        """A CSV member; safe for spreadsheets unless ``raw`` (``profiler/safecsv.py``)."""
        path = self.path / member.name
        with self._naming(path):
            write_csv(frame, path, raw=raw)
        self._wrote(member)
        return path

    def _wrote(self, member: Member, **extra: Any) -> None:
        path = self.path / member.name
        size = sum(p.stat().st_size for p in _parts(path)) if path.is_dir() else path.stat().st_size
        self.written[member.name] = {"build_id": self.build_id, "bytes": size, **extra}
        stage(f"wrote:{member.name}")

    def _previous_bytes(self) -> int:
        if self.previous is None:
            return 0
        return sum(m.get("bytes", 0) for m in self.previous.meta.get("members", {}).values())

    @contextmanager
    def _naming(self, path: Path) -> Iterator[None]:
        try:
            yield
        except OSError as err:
            raise outputs.naming(err, path) from None

    def _commit_meta(self) -> None:
        missing = [m.name for m in self.required if m is not META and m.name not in self.written]
        if missing:
            # A programming error: a build that writes generations writes every member.
            raise AssertionError(f"build {self.build_id}: {missing} not written")
        meta = {
            "build_id": self.build_id,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **self.meta,
            "members": {**self.written, META.name: {"build_id": self.build_id}},
        }
        path = self.path / META.name
        with self._naming(path):
            path.write_text(json.dumps(meta, indent=2))
        stage(f"wrote:{META.name}")


def new_build_id() -> str:
    """Sortable and unique: UTC time, process id, random."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{secrets.token_hex(3)}"


@contextmanager
def building(
    folder: str | Path,
    *,
    wait: float = 0,
    keep: int = KEEP,
    required: tuple[Member, ...] = REQUIRED,
) -> Iterator[GenerationWriter]:
    """Write a new generation of ``folder`` and make it current when the block ends.

    Holds the folder's lock throughout (a second build waits ``wait`` seconds, then stops with
    one line naming the holder).  A failure removes the new generation and leaves the current
    one as it was.  The block must write every ``required`` member (all of them, except in
    benchmarks that time the CAR alone)."""
    if keep < 1:
        raise ProfilerError(f"--keep {keep}: keep at least the current generation (1).")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ProfilerError(f"{folder}: is a file, not a folder; give --out a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    with locks.exclusive(folder, wait=wait):
        pointer = _read_pointer(folder)
        _remove_leftovers(folder, pointer)
        stage("locked")
        previous = None
        if pointer is not None:
            try:
                previous = check_generation(folder, pointer["current"])
            except ProfilerError:
                previous = None  # a damaged current generation: the build replaces it
        writer = GenerationWriter(folder, new_build_id(), previous, required)
        writer.path.mkdir()
        try:
            with outputs.expecting(writer.path, writer._previous_bytes()):
                yield writer
                writer._commit_meta()
                for scratch in writer.path.glob(".*"):
                    shutil.rmtree(scratch, ignore_errors=True)
                final = folder / f"{GENERATION_PREFIX}{writer.build_id}"
                writer.path.rename(final)
        except BaseException as err:
            shutil.rmtree(writer.path, ignore_errors=True)
            if isinstance(err, OSError) and str(writer.path) in str(err.filename or ""):
                err.filename = str(folder)  # the folder the user named, not the removed one
            raise
        stage("renamed")
        history = [pointer["current"], *pointer.get("previous", [])] if pointer else []
        _switch(folder, final.name, history[: keep - 1])
        stage("swapped")
        (folder / ERASED_MARK).unlink(missing_ok=True)  # profiler forget --no-rebuild
        _prune(folder, _read_pointer(folder))
        if pointer is None:
            _remove_legacy(folder)
        stage("pruned")


def rollback(folder: str | Path, *, wait: float = 0) -> Generation:
    """Make the previous generation current again (the current one is removed by the next
    build).  Returns the generation now current."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProfilerError(f"{folder}: no CAR folder here to roll back.")
    with locks.exclusive(folder, wait=wait):
        pointer = _read_pointer(folder)
        if pointer is None:
            raise ProfilerError(f"{folder}: no CAR generations here to roll back.")
        previous = pointer.get("previous", [])
        if not previous:
            raise ProfilerError(
                f"{folder}: no earlier generation is kept (builds keep the last --keep "
                f"generations); nothing to roll back to."
            )
        generation = check_generation(folder, previous[0])
        _switch(folder, previous[0], previous[1:])
        return generation


def _switch(folder: Path, current: str, previous: list[str]) -> None:
    """The atomic step: a new pointer under a unique name, flushed, renamed over the old one."""
    text = json.dumps({"current": current, "previous": previous})
    with outputs.replacing(folder / POINTER) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        stage("pointer-written")
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entries (the rename) to disk where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _prune(folder: Path, pointer: dict[str, Any] | None) -> None:
    """Remove the generations the pointer does not name (all of them without a pointer)."""
    kept = {pointer["current"], *pointer.get("previous", [])} if pointer else set()
    for path in folder.glob(f"{GENERATION_PREFIX}*"):
        if path.name not in kept and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _remove_leftovers(folder: Path, pointer: dict[str, Any] | None) -> None:
    """What killed builds left: unfinished generations, unswapped pointers, unnamed
    generations (renamed but never made current)."""
    for path in folder.glob(f"{BUILDING_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in folder.glob(f".{POINTER}.*.tmp"):
        path.unlink(missing_ok=True)
    _prune(folder, pointer)


def _remove_legacy(folder: Path) -> None:
    for name in LEGACY:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink(missing_ok=True)


def drop_older(folder: str | Path, *, wait: float = 0) -> list[str]:
    """Remove every generation but the current one (``profiler forget``: they hold erased
    customers and can no longer be rolled back to); the names removed."""
    folder = Path(folder)
    with locks.exclusive(folder, wait=wait):
        pointer = _read_pointer(folder)
        if pointer is None:
            return []
        older = list(pointer.get("previous", []))
        _switch(folder, pointer["current"], [])
        _prune(folder, _read_pointer(folder))
        return older


def mark_erased(folder: str | Path, day: str) -> None:
    """Make readers refuse the folder until the next build (``profiler forget --no-rebuild``)."""
    with outputs.replacing(Path(folder) / ERASED_MARK) as tmp:
        Path(tmp).write_text(day, encoding="utf-8")


def generations(folder: str | Path) -> list[str]:
    """The folder's kept generations, current first."""
    pointer = _read_pointer(Path(folder))
    return [pointer["current"], *pointer.get("previous", [])] if pointer else []
