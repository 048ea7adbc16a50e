"""Snapshots that are safe to email: the profiler workbook's views as values, nothing else.

Works on the workbook's parts (an .xlsx/.xlsm is a zip of XML), so the views keep exactly their
formatting, column widths, tables, colour scales and charts:

- the VBA project, the ``xlwings.conf`` sheet (the sender's paths), the hidden ``Lists`` sheet,
  the buttons, dropdowns, defined names and formulas (checks keep their values) are removed;
- cells computed on fewer than K customers show ``n<K``, and complementary cells are
  suppressed so a total cannot reveal them (profiler/privacy.py); texts that look like e-mail
  addresses, phone numbers or local paths are replaced;
- a cover sheet and every sheet's print header say when and from which workbook the snapshot
  was taken, the data's as-of date and the catalog version; the cover lists the definitions of
  the metrics shown;
- optionally encrypted (Office agile encryption, msoffcrypto-tool), always written to a
  temporary file first and renamed, never over the source, never over a file without ``force``.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from xlsxwriter.utility import xl_cell_to_rowcol, xl_col_to_name

from profiler import privacy
from profiler.errors import ProfilerError
from profiler.outputs import replacing
from workbook.layout import LISTS_SHEET, RECORDED_BELOW, SMALL_CELLS, SMALL_COUNTS
from workbook.xlsm import CONF_SHEET

NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}
MACRO_MAIN = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
PLAIN_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
SHEET_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
DROPPED_SHEETS = (CONF_SHEET, LISTS_SHEET)
COVER = "Snapshot"
CELL = re.compile(r'<c r="([A-Z]+)(\d+)"([^>]*?)(/>|>(.*?)</c>)', re.S)


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
    """Write a values-only, privacy-safe copy of a profiler workbook (see the module docstring)."""
    source, out = Path(source), Path(out)
    _check_paths(source, out, force)
    if not 1 <= min_cohort_size <= RECORDED_BELOW:
        raise ProfilerError(
            f"--min-cohort-size must be between 1 and {RECORDED_BELOW}; got {min_cohort_size}."
        )
    try:
        with zipfile.ZipFile(source) as z:
            parts = {name: z.read(name) for name in z.namelist()}
    except (zipfile.BadZipFile, OSError) as err:
        raise ProfilerError(f"{source}: not a workbook ({err}).") from None
    if "xl/workbook.xml" not in parts or "xl/_rels/workbook.xml.rels" not in parts:
        raise ProfilerError(f"{source}: not an Excel workbook (no xl/workbook.xml inside).")
    book = _Book(parts)
    try:
        counts = book.recorded_counts()
    except ProfilerError as err:
        raise ProfilerError(f"{source}: {err}") from None
    stamp = _stamp(book, source)
    report = SnapshotReport(out, [], 0, 0, 0, bool(password), stamp_text=stamp["header"])
    for name in book.sheet_names():
        if name in DROPPED_SHEETS:
            book.drop_sheet(name)
            continue
        hidden, extra = book.rewrite_sheet(name, counts, min_cohort_size, stamp["header"])
        report.suppressed += hidden
        report.complementary += extra
        report.sheets.append(name)
    book.compact_strings()
    report.scrubbed = book.scrub_strings()
    book.strings = book._shared_strings()  # renumbered and scrubbed: read them again
    if include_customers:
        rows = _customers(book, include_customers, fields or [], channel, car)
        book.add_sheet("Customers", rows, position=None)
        report.customers = len(rows) - 1
        report.sheets.append("Customers")
    book.add_sheet(
        COVER, _cover_rows(book, stamp, min_cohort_size, report), position=0, widths=(34, 110)
    )
    report.sheets.insert(0, COVER)
    book.finish()
    _write(book.parts, out, password)
    return report


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


def _stamp(book: _Book, source: Path) -> dict[str, str]:
    about = book.key_values("About")
    taken = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    as_of = about.get("Data as of", "?")
    catalog = about.get("Metric catalog", "?")
    header = f"Snapshot of {source.name} taken {taken} · data as of {as_of} · {catalog}"
    return {
        "taken": taken,
        "as_of": as_of,
        "catalog": catalog,
        "source": source.name,
        "header": header,
    }


def _cover_rows(
    book: _Book, stamp: dict[str, str], k: int, report: SnapshotReport
) -> list[list[Any]]:
    rows: list[list[Any]] = [
        ["Customer Profiler snapshot"],
        [],
        ["Taken", stamp["taken"]],
        ["From workbook", stamp["source"]],
        ["Data as of", stamp["as_of"]],
        ["Metric catalog", stamp["catalog"]],
        [
            "Values only",
            "No formulas, macros, links or connections; numbers as they were when the snapshot was taken.",
        ],
        [
            "Small cells",
            f"Cells computed on fewer than {k} customers show '{privacy.mark(k)}'; so do {report.complementary} other cells, so that totals cannot reveal them ({report.suppressed} + {report.complementary} cells).",
        ],
        [
            "Personal data",
            "None: no names, e-mail addresses, phone numbers or customer-level rows"
            + (
                " except the Customers sheet, asked for explicitly (consented customers, chosen columns only)."
                if report.customers
                else "."
            ),
        ],
        ["Sheets", ", ".join(s for s in report.sheets)],
        [],
        ["Metric", "Definition"],
    ]
    for label, description in book.metric_definitions():
        rows.append([label, description])
    return rows


def _customers(
    book: _Book, cohort: str, fields: list[str], channel: str, car: str | Path | None
) -> list[list[Any]]:
    from profiler.audience import select_audience
    from profiler.query import QueryEngine

    folder = car or book.setting("PROFILER_CAR")
    engine = QueryEngine.open(folder or None)
    audience = select_audience(engine, cohort, channel=channel, fields=fields)
    frame = audience.selected
    return [list(frame.columns), *[list(r) for r in frame.itertuples(index=False)]]


def _write(parts: dict[str, bytes], out: Path, password: str | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as tmp:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in parts.items():
                z.writestr(name, data)
        if password:
            from msoffcrypto.format.ooxml import OOXMLFile

            buffer.seek(0)
            encrypted = io.BytesIO()
            OOXMLFile(buffer).encrypt(password, encrypted)
            tmp.write_bytes(encrypted.getvalue())
        else:
            tmp.write_bytes(buffer.getvalue())


class _Book:
    """The workbook's parts, with the few edits a snapshot makes."""

    def __init__(self, parts: dict[str, bytes]) -> None:
        self.parts = parts
        self.strings = self._shared_strings()
        workbook = ET.fromstring(parts["xl/workbook.xml"])
        rels = ET.fromstring(parts["xl/_rels/workbook.xml.rels"])
        targets = {r.get("Id"): r.get("Target") for r in rels.findall("rel:Relationship", NS)}
        self.sheets: dict[str, tuple[str, str]] = {}
        for sheet in workbook.find("m:sheets", NS):
            rid = sheet.get(f"{{{NS['r']}}}id")
            self.sheets[sheet.get("name")] = (
                rid,
                _part("xl", targets[rid]),
            )

    def sheet_names(self) -> list[str]:
        return list(self.sheets)

    # -- reading ---------------------------------------------------------------------------------

    def _shared_strings(self) -> list[str]:
        data = self.parts.get("xl/sharedStrings.xml")
        if not data:
            return []
        root = ET.fromstring(data)
        return [
            "".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t"))
            for si in root.findall("m:si", NS)
        ]

    def cells(self, name: str) -> dict[str, Any]:
        """Every cell's value: text (shared or inline), number, or None."""
        out: dict[str, Any] = {}
        xml = self.parts[self.sheets[name][1]].decode("utf-8")
        for col, row, attrs, _, body in CELL.findall(xml):
            out[f"{col}{row}"] = _value(attrs, body or "", self.strings)
        return out

    def key_values(self, name: str) -> dict[str, str]:
        """Column A -> column B of a sheet (the About sheet's facts)."""
        if name not in self.sheets:
            return {}
        cells = self.cells(name)
        out = {}
        for ref, value in cells.items():
            if ref.startswith("A") and ref[1:].isdigit() and isinstance(value, str):
                right = cells.get(f"B{ref[1:]}")
                if right is not None:
                    out[value] = str(right)
        return out

    def setting(self, key: str) -> str | None:
        return self.key_values(CONF_SHEET).get(key) or None

    def recorded_counts(self) -> dict[tuple[str, str], int]:
        """(sheet, cell) -> customers, for the cells the builder recorded on the Lists sheet."""
        if LISTS_SHEET not in self.sheets:
            raise ProfilerError(
                "This workbook has no Lists sheet: it was not written by 'profiler workbook'."
            )
        cells = self.cells(LISTS_SHEET)
        heads = {
            v: re.match(r"[A-Z]+", ref).group(0)
            for ref, v in cells.items()
            if ref.endswith("1") and ref[:-1].isalpha() and isinstance(v, str)
        }
        if SMALL_CELLS not in heads:
            raise ProfilerError(
                "This workbook records no cell counts: rebuild it with 'profiler workbook'."
            )
        out = {}
        ref_col, count_col = heads[SMALL_CELLS], heads[SMALL_COUNTS]
        for ref, value in cells.items():
            match = re.fullmatch(rf"{ref_col}(\d+)", ref)
            if match and int(match.group(1)) > 1 and isinstance(value, str):
                sheet, cell = value.rsplit("!", 1)
                out[(sheet.strip("'").replace("''", "'"), cell)] = int(
                    cells.get(f"{count_col}{match.group(1)}") or 0
                )
        return out

    def tables(self, name: str) -> list[tuple[int, int, int, int]]:
        """Data ranges (first col, first row, last col, last row; 1-based) of the sheet's tables."""
        path = self.sheets[name][1]
        rels_path = _rels_path(path)
        if rels_path not in self.parts:
            return []
        out = []
        for rel in ET.fromstring(self.parts[rels_path]).findall("rel:Relationship", NS):
            if rel.get("Type", "").endswith("/table"):
                target = _part(posixpath.dirname(path), rel.get("Target"))
                ref = ET.fromstring(self.parts[target]).get("ref")
                (r1, c1), (r2, c2) = (xl_cell_to_rowcol(x.replace("$", "")) for x in ref.split(":"))
                out.append((c1 + 1, r1 + 2, c2 + 1, r2 + 1))  # 1-based, below the header row
        return out

    def metric_definitions(self) -> list[tuple[str, str]]:
        if "Definitions" not in self.sheets:
            return []
        cells = self.cells("Definitions")
        header = next(
            (int(ref[1:]) for ref, v in cells.items() if ref.startswith("A") and v == "Label"), None
        )
        if header is None:
            return []
        out, row = [], header + 1
        while isinstance(cells.get(f"A{row}"), str) and cells.get(f"C{row}"):
            out.append((str(cells[f"A{row}"]), str(cells[f"C{row}"])))
            row += 1
        return out

    # -- editing ---------------------------------------------------------------------------------

    def rewrite_sheet(
        self, name: str, counts: dict[tuple[str, str], int], k: int, header: str
    ) -> tuple[int, int]:
        """Values only, small cells suppressed, no dropdowns or buttons, stamped header."""
        path = self.sheets[name][1]
        xml = self.parts[path].decode("utf-8")
        values = self.cells(name)
        suppressed: set[str] = set()
        extra: set[str] = set()
        for first_col, first_row, last_col, last_row in self.tables(name):
            table_cells = []
            for row in range(first_row, last_row + 1):
                for col in range(first_col, last_col + 1):
                    ref = f"{xl_col_to_name(col - 1)}{row}"
                    value = values.get(ref)
                    table_cells.append(
                        privacy.Cell(
                            ref,
                            xl_col_to_name(col - 1),
                            value if isinstance(value, (int, float)) else None,
                            counts.get((name, ref)),
                        )
                    )
            hidden = privacy.primary(table_cells, k)
            suppressed |= hidden
            extra |= privacy.complementary(table_cells, hidden)
        # Cells recorded outside tables (none today) are suppressed too.
        suppressed |= {ref for (sheet, ref), n in counts.items() if sheet == name and n < k}
        hide = suppressed | extra
        text = escape(privacy.mark(k))

        def edit(match: re.Match[str]) -> str:
            col, row, attrs, _, body = match.groups()
            ref = f"{col}{row}"
            if ref in hide:
                style = re.search(r'\ss="\d+"', attrs)
                return f'<c r="{ref}"{style.group(0) if style else ""} t="inlineStr"><is><t>{text}</t></is></c>'
            if body and "<f" in body:
                body = re.sub(r"<f[^>]*?/>|<f[^>]*>.*?</f>", "", body, flags=re.S)
                return f'<c r="{ref}"{attrs}>{body}</c>'
            return match.group(0)

        xml = CELL.sub(edit, xml)
        xml = re.sub(r"<dataValidations.*?</dataValidations>", "", xml, flags=re.S)
        xml = self._drop_legacy_drawing(path, xml)
        footer = escape(header.replace("&", "&&"))
        if "<oddHeader>" in xml:
            xml = re.sub(
                r"<oddHeader>.*?</oddHeader>",
                f"<oddHeader>&amp;L&amp;8{footer}&amp;R&amp;8&amp;A</oddHeader>",
                xml,
                flags=re.S,
            )
        self.parts[path] = xml.encode("utf-8")
        return len(suppressed), len(extra - suppressed)

    def _drop_legacy_drawing(self, path: str, xml: str) -> str:
        """The Refresh buttons (VML shapes bound to a macro) mean nothing without the macros."""
        match = re.search(r'<legacyDrawing r:id="(\w+)"/>', xml)
        if not match:
            return xml
        rels_path = _rels_path(path)
        rels = self.parts[rels_path].decode("utf-8")
        target = re.search(rf'<Relationship Id="{match.group(1)}"[^>]*Target="([^"]+)"', rels)
        if target:
            self.parts.pop(_part(posixpath.dirname(path), target.group(1)), None)
        self.parts[rels_path] = re.sub(
            rf'<Relationship Id="{match.group(1)}"[^>]*/>', "", rels
        ).encode("utf-8")
        return xml.replace(match.group(0), "")

    def drop_sheet(self, name: str) -> None:
        rid, path = self.sheets.pop(name)
        self.parts.pop(path, None)
        rels_path = _rels_path(path)
        self.parts.pop(rels_path, None)
        workbook = self.parts["xl/workbook.xml"].decode("utf-8")
        workbook = re.sub(rf'<sheet [^>]*r:id="{rid}"/>', "", workbook)
        self.parts["xl/workbook.xml"] = workbook.encode("utf-8")
        rels = self.parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
        self.parts["xl/_rels/workbook.xml.rels"] = re.sub(
            rf'<Relationship Id="{rid}"[^>]*/>', "", rels
        ).encode("utf-8")

    def compact_strings(self) -> None:
        """Keep only the shared strings the remaining sheets use: the dropped sheets' texts
        (settings, dropdown lists) must not travel in the file unseen."""
        if "xl/sharedStrings.xml" not in self.parts:
            return
        xml = self.parts["xl/sharedStrings.xml"].decode("utf-8")
        items = re.findall(r"<si>.*?</si>", xml, flags=re.S)
        order: dict[int, int] = {}

        def renumber(match: re.Match[str]) -> str:
            attrs, body = match.group(3), match.group(5) or ""
            if not re.search(r'\st="s"', attrs):
                return match.group(0)
            old = int(re.search(r"<v>(\d+)</v>", body).group(1))
            new = order.setdefault(old, len(order))
            return match.group(0).replace(f"<v>{old}</v>", f"<v>{new}</v>")

        for _, path in self.sheets.values():
            self.parts[path] = CELL.sub(renumber, self.parts[path].decode("utf-8")).encode("utf-8")
        kept = [items[old] for old, _ in sorted(order.items(), key=lambda kv: kv[1])]
        head = re.match(
            r"(.*?<sst[^>]*?)(\s+count=\"\d+\")?(\s+uniqueCount=\"\d+\")?\s*>", xml, flags=re.S
        )
        opening = f'{head.group(1)} count="{len(kept)}" uniqueCount="{len(kept)}">'
        self.parts["xl/sharedStrings.xml"] = (opening + "".join(kept) + "</sst>").encode("utf-8")

    def scrub_strings(self) -> int:
        """Replace shared strings that look like personal data or the sender's paths."""
        if "xl/sharedStrings.xml" not in self.parts:
            return 0
        xml = self.parts["xl/sharedStrings.xml"].decode("utf-8")
        count = 0

        def edit(match: re.Match[str]) -> str:
            nonlocal count
            raw = re.sub(r"<[^>]+>", "", match.group(0))
            if privacy.personal_or_local(html.unescape(raw)):
                count += 1
                return "<si><t>(removed from the snapshot)</t></si>"
            return match.group(0)

        self.parts["xl/sharedStrings.xml"] = re.sub(r"<si>.*?</si>", edit, xml, flags=re.S).encode(
            "utf-8"
        )
        return count

    def add_sheet(
        self, name: str, rows: list[list[Any]], position: int | None, widths: tuple[int, ...] = ()
    ) -> None:
        """A plain sheet of inline values (the cover, the opt-in customer list)."""
        number = 1 + max(
            int(m) for p in self.parts for m in re.findall(r"^xl/worksheets/sheet(\d+)\.xml$", p)
        )
        path = f"xl/worksheets/sheet{number}.xml"
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
            for i, w in enumerate(widths, start=1)
        )
        body = []
        for r, row in enumerate(rows, start=1):
            cells = []
            for c, value in enumerate(row):
                ref = f"{xl_col_to_name(c)}{r}"
                if (
                    isinstance(value, (int, float))
                    and not isinstance(value, bool)
                    and value == value
                ):
                    cells.append(f'<c r="{ref}"><v>{value}</v></c>')
                elif value is not None and value == value:
                    cells.append(
                        f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'
                    )
            body.append(f'<row r="{r}">{"".join(cells)}</row>')
        xml = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<worksheet xmlns="{NS["m"]}" xmlns:r="{NS["r"]}">'
            + (f"<cols>{cols}</cols>" if cols else "")
            + f"<sheetData>{''.join(body)}</sheetData></worksheet>"
        )
        self.parts[path] = xml.encode("utf-8")
        rid = f"rIdSnapshot{number}"
        rels = self.parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
        rel = f'<Relationship Id="{rid}" Type="{SHEET_REL}" Target="worksheets/sheet{number}.xml"/>'
        self.parts["xl/_rels/workbook.xml.rels"] = rels.replace(
            "</Relationships>", rel + "</Relationships>"
        ).encode("utf-8")
        workbook = self.parts["xl/workbook.xml"].decode("utf-8")
        ids = [int(i) for i in re.findall(r'sheetId="(\d+)"', workbook)]
        entry = f'<sheet name="{escape(name)}" sheetId="{max(ids) + 1}" r:id="{rid}"/>'
        if position == 0:
            workbook = workbook.replace("<sheets>", "<sheets>" + entry, 1)
        else:
            workbook = workbook.replace("</sheets>", entry + "</sheets>", 1)
        self.parts["xl/workbook.xml"] = workbook.encode("utf-8")
        types = self.parts["[Content_Types].xml"].decode("utf-8")
        override = f'<Override PartName="/{path}" ContentType="{SHEET_TYPE}"/>'
        self.parts["[Content_Types].xml"] = types.replace("</Types>", override + "</Types>").encode(
            "utf-8"
        )
        self.sheets[name] = (rid, path)

    def finish(self) -> None:
        """No VBA, no names (inputs and lists are gone), a plain .xlsx content type."""
        self.parts.pop("xl/vbaProject.bin", None)
        for name in [
            p for p in self.parts if p.startswith(("xl/externalLinks/", "xl/connections"))
        ]:
            self.parts.pop(name)
        workbook = self.parts["xl/workbook.xml"].decode("utf-8")
        workbook = re.sub(r"<definedNames>.*?</definedNames>", "", workbook, flags=re.S)
        workbook = re.sub(r'\scodeName="[^"]*"', "", workbook)
        workbook = re.sub(r'(<workbookView[^>]*?)\sactiveTab="\d+"', r"\1", workbook)
        workbook = re.sub(r'(<workbookView[^>]*?)\sfirstSheet="\d+"', r"\1", workbook)
        self.parts["xl/workbook.xml"] = workbook.encode("utf-8")
        rels = self.parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
        rels = re.sub(r'<Relationship [^>]*Target="vbaProject.bin"[^>]*/>', "", rels)
        rels = re.sub(r"<Relationship [^>]*(externalLink|connections)[^>]*/>", "", rels)
        self.parts["xl/_rels/workbook.xml.rels"] = rels.encode("utf-8")
        present = set(self.parts)
        types = self.parts["[Content_Types].xml"].decode("utf-8").replace(MACRO_MAIN, PLAIN_MAIN)
        types = re.sub(r'<Default Extension="bin"[^>]*/>', "", types)

        def keep(match: re.Match[str]) -> str:
            return match.group(0) if match.group(1).lstrip("/") in present else ""

        types = re.sub(r'<Override PartName="([^"]+)"[^>]*/>', keep, types)
        self.parts["[Content_Types].xml"] = types.encode("utf-8")
        self.parts["docProps/app.xml"] = (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            b"<Application>Customer Profiler snapshot</Application></Properties>"
        )
        for sheet_rels in [p for p in self.parts if p.startswith("xl/worksheets/_rels/")]:
            rels = self.parts[sheet_rels].decode("utf-8")
            targets = re.findall(r'<Relationship [^>]*Target="([^"]+)"[^>]*/>', rels)
            base = posixpath.dirname(posixpath.dirname(sheet_rels))
            for target in targets:
                if _part(base, target) not in present and "drawing" in target:
                    rels = re.sub(
                        rf'<Relationship [^>]*Target="{re.escape(target)}"[^>]*/>', "", rels
                    )
            self.parts[sheet_rels] = rels.encode("utf-8")


def _value(attrs: str, body: str, strings: list[str]) -> Any:
    kind = re.search(r'\st="(\w+)"', attrs)
    kind = kind.group(1) if kind else "n"
    if kind == "inlineStr":
        return html.unescape("".join(re.findall(r"<t[^>]*>(.*?)</t>", body, re.S)))
    raw = re.search(r"<v>(.*?)</v>", body, re.S)
    if raw is None or raw.group(1) == "":
        return None
    if kind == "s":
        return strings[int(raw.group(1))]
    if kind in ("str", "e"):
        return html.unescape(raw.group(1))
    if kind == "b":
        return raw.group(1) == "1"
    return float(raw.group(1))


def _rels_path(part: str) -> str:
    """Where a part's relationships live: ``xl/worksheets/_rels/sheet1.xml.rels``."""
    return posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")


def _part(folder: str, target: str) -> str:
    """A relationship's target as a zip member name: relative to the folder of the part that
    points at it, or absolute from the package root (``/xl/...``, as openpyxl writes)."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(folder, target))
