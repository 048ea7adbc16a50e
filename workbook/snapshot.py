"""Snapshots that are safe to email: the profiler's views as values, written from content.

A snapshot is not a patched copy of the workbook.  It is written afresh, as a plain .xlsx, from
what the engine computes for the workbook's own inputs and settings (the same contents a
refresh writes), after those contents were made safe (workbook/suppression.py):

- a value on fewer than K customers shows ``n<K``; where a table column would hold a single
  hidden value, the smallest other one shows ``suppressed``; cohort sizes under K on the
  Definitions sheet too; charts and KPI tiles are drawn from the suppressed values, so no
  chart cache or tile can hold a hidden number;
- e-mail addresses, phone numbers and local paths are removed from every text;
- no VBA, buttons, dropdowns, names, formulas, settings sheet, lists, About or My formulas;
  no Customer sheet (one customer's profile is for the live workbook only);
  inputs appear as the plain text chosen;
- a one-page cover says when and from what it was taken, as of what date, by which catalog,
  K and how many cells were hidden for each reason, and defines the metrics shown.

The written bytes are then read back as an attacker would (workbook/leaks.py: every part of the
zip); a snapshot with personal or local text anywhere is not kept.  Optionally encrypted
(Office agile encryption), always written whole to a temporary file and renamed, never over
the source, never over a file without ``force``.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler import privacy
from profiler.errors import ProfilerError
from profiler.outputs import replacing
from profiler.query import QueryEngine
from workbook.book import FileBook, folder_setting
from workbook.builder import SnapshotForm, write_workbook
from workbook.content import CUSTOMER_VIEW, load_layout
from workbook.definitions import cohort_definitions_content, definitions_content
from workbook.leaks import refuse_leaks
from workbook.macros import contents_of, extras_for
from workbook.suppression import COMPLEMENTARY, Counts, suppress

COVER = "Snapshot"


@dataclass
class SnapshotReport:
    path: Path
    sheets: list[str]
    suppressed: int
    complementary: int
    scrubbed: int
    encrypted: bool
    customers: int = 0
    notes: list[str] = field(default_factory=list)
    stamp_text: str = ""  # when, from what and as of what: the cover's and the e-mail's line

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def snapshot(
    source: str | Path,
    out: str | Path,
    *,
    password: str | None = None,
    min_cohort_size: int = 10,
    force: bool = False,
    include_customers: str | None = None,
    fields: list[str] | None = None,
    channel: str = "email",
    car: str | Path | None = None,
) -> SnapshotReport:
    """Write a values-only, privacy-safe snapshot of a profiler workbook (module docstring)."""
    source, out = Path(source), Path(out)
    _check_paths(source, out, force)
    if min_cohort_size < 1:
        raise ProfilerError(f"--min-cohort-size must be 1 or more; got {min_cohort_size}.")
    if password is not None and not password.strip():
        raise ProfilerError("A snapshot is never encrypted with an empty password.")
    book = FileBook(source)
    engine = QueryEngine.open(car or folder_setting(book, "PROFILER_CAR"))
    layout = without_customer(load_layout())
    extras = extras_for(engine, folder_setting(book, "PROFILER_DATA"))
    contents, inputs = contents_of(book, engine, layout, extras)
    shown = [m for c in contents for m in c.metrics]
    written_at_build = {
        "definitions": lambda c: definitions_content(engine, shown),
        "cohort_definitions": lambda c: cohort_definitions_content(engine, c.name),
    }
    contents = [written_at_build.get(_view(layout, c.name), lambda c: c)(c) for c in contents]
    counts = Counts()
    safe = []
    for content in contents:
        made_safe, found = suppress(content, min_cohort_size)
        safe.append(made_safe)
        counts.add(found)
    taken = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    stamp = (
        f"Snapshot of {source.name} taken {taken} · data as of {engine.as_of:%Y-%m-%d} · "
        f"{engine.stamp}"
    )
    customers = _customers(engine, include_customers, fields or [], channel)
    sheets = [s["name"] for s in layout["sheets"] if s.get("view") not in ("about", "formulas")]
    report = SnapshotReport(
        out,
        [COVER, *sheets, *(["Customers"] if customers else [])],
        counts.primary,
        counts.complementary,
        counts.texts,
        password is not None,
        customers=len(customers) - 1 if customers else 0,
        stamp_text=stamp,
    )
    facts = _cover_facts(engine, source, taken, min_cohort_size, report, shown)

    def cover(w: Any, ws: Any, styles: Any) -> None:
        _write_cover(w, ws, styles, facts)
        if customers:
            _write_customers(w, w.add_sheet("Customers"), customers, styles)

    form = SnapshotForm(stamp=stamp, cover=cover, cover_name=COVER)
    with tempfile.TemporaryDirectory(prefix="profiler-snapshot-") as tmp:
        written = Path(tmp) / "snapshot.xlsx"
        write_workbook(written, engine, layout, inputs, safe, snapshot=form)
        data = written.read_bytes()
    refuse_leaks(data, _customer_names(extras), str(out))
    _write(data, out, password)
    return report


def without_customer(layout: dict[str, Any]) -> dict[str, Any]:
    """The layout less the Customer sheet: one customer's profile is for the live workbook only,
    so a snapshot neither computes nor writes it (nor its customer id input)."""
    sheets = [s for s in layout["sheets"] if s.get("view") != CUSTOMER_VIEW]
    return {**layout, "sheets": sheets}


def _view(layout: dict[str, Any], name: str) -> str:
    return next((s.get("view", "") for s in layout["sheets"] if s["name"] == name), "")


def _check_paths(source: Path, out: Path, force: bool) -> None:
    if not source.exists():
        raise ProfilerError(f"{source}: no such workbook.")
    if out.suffix.lower() != ".xlsx":
        raise ProfilerError(
            f"{out}: a snapshot is a plain workbook without macros; give a .xlsx file name."
        )
    if out.resolve() == source.resolve():
        raise ProfilerError(
            f"{out}: the snapshot would overwrite the source workbook; choose another name."
        )
    if out.exists() and not force:
        raise ProfilerError(f"{out} exists; pass --force to replace it.")


def _cover_facts(
    engine: QueryEngine,
    source: Path,
    taken: str,
    k: int,
    report: SnapshotReport,
    shown: list[str],
) -> dict[str, Any]:
    definitions = [
        (engine.metric(m).label, engine.metric(m).description)
        for m in dict.fromkeys(shown)
        if m in engine.catalog.metrics
    ]
    lines = [
        ("Taken", taken),
        ("From workbook", source.name),
        ("Data as of", f"{engine.as_of:%Y-%m-%d}"),
        ("Metric catalog", engine.stamp),
        ("Minimum cohort size (k)", str(k)),
        (
            f"Shown as {privacy.mark(k)}",
            f"{report.suppressed} values computed on fewer than {k} customers",
        ),
        (
            f"Shown as '{COMPLEMENTARY}'",
            f"{report.complementary} values hidden so that totals cannot reveal those above",
        ),
        ("Texts removed", f"{report.scrubbed} (e-mail addresses, phone numbers, file paths)"),
        (
            "Contents",
            "Values only: no formulas, macros, links or personal data"
            + (
                "; the Customers sheet lists consented customers, asked for explicitly."
                if report.customers
                else "."
            ),
        ),
    ]
    return {"lines": lines, "definitions": definitions}


def _write_cover(w: Any, ws: Any, styles: Any, facts: dict[str, Any]) -> None:
    """One printed page: what this is, and what the metrics shown mean."""
    ws.write_string(0, 0, "Customer Profiler snapshot", styles.title)
    row = 2
    for key, value in facts["lines"]:
        ws.write_string(row, 0, key, styles.label)
        w.write_value(ws, row, 1, value, styles.wrap)
        row += 1
    row += 1
    ws.write_string(row, 0, "Metrics shown", styles.block)
    row += 1
    for label, description in facts["definitions"]:
        ws.write_string(row, 0, label, styles.label)
        w.write_value(ws, row, 1, description, styles.wrap)
        row += 1
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 120)
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 1)  # one page, however many metrics
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)


def _customers(
    engine: QueryEngine, cohort: str | None, fields: list[str], channel: str
) -> list[list[Any]]:
    if not cohort:
        return []
    from profiler.audience import select_audience

    frame = select_audience(engine, cohort, channel=channel, fields=fields).selected
    return [list(frame.columns), *[list(r) for r in frame.itertuples(index=False)]]


def _write_customers(w: Any, ws: Any, rows: list[list[Any]], styles: Any) -> None:
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            w.write_value(ws, r, c, value, styles.label if r == 0 else None)


def _customer_names(extras: dict[str, Any]) -> list[str]:
    """Customers' names from the source data, when the workbook knows where it is: the scan
    looks for them anywhere in the snapshot."""
    from profiler.loading import load_sources

    if not extras.get("data_dir"):
        return []
    source = load_sources(extras["data_dir"], tables=("customers",))
    if "customers" not in source.tables:
        return []
    table = source.tables["customers"]
    if "name" not in table.columns:
        return []
    return [str(n) for n in table["name"].dropna().unique()]


def _write(data: bytes, out: Path, password: str | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as tmp:
        if password:
            from msoffcrypto.format.ooxml import OOXMLFile

            encrypted = io.BytesIO()
            OOXMLFile(io.BytesIO(data)).encrypt(password, encrypted)
            tmp.write_bytes(encrypted.getvalue())
        else:
            tmp.write_bytes(data)
