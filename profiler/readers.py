"""How a CSV export is written: its encoding, delimiter and decimal mark, told from its bytes.

Exports come from many systems: Excel in most of Europe writes semicolons and decimal commas,
some tools write UTF-16 or Windows-1252.  ``sniff`` reads the first 64 KB and decides:

- encoding: a byte-order mark says UTF-16 or UTF-8; otherwise UTF-8 when the sample decodes as
  UTF-8, else Windows-1252 (cp1252, which decodes any byte);
- delimiter: of comma, semicolon, tab and pipe, the one that splits the header and the first
  lines into the same number of fields (more than one), the header's most frequent first;
- decimal mark: a comma when the delimiter is not a comma and numbers in the sample are
  written like ``12,50``; else a point.

What was decided is said in one line by ``profiler validate`` (``Dialect.describe``).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ContractError, clip

SAMPLE = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
_DECIMAL_COMMA = re.compile(r"(?:^|[;\t|])\s*-?\d+,\d{1,4}\s*(?:$|[;\t|])", re.MULTILINE)


@dataclass
class Chosen:
    """What the user set for this run (``--delimiter``, ``--decimal``, ``--encoding``,
    ``--date-format``, ``--sheet``): it wins over what the files suggest."""

    delimiter: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    date_format: str | None = None
    sheet: str | None = None


CHOSEN = Chosen()


def choose(**options: str | None) -> None:
    """Set how this run reads its files (None: told from each file)."""
    for name, value in options.items():
        if value is not None and name in ("delimiter", "decimal") and len(value) != 1:
            value = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(
                value, value
            )
        setattr(CHOSEN, name, value)


@dataclass(frozen=True)
class Dialect:
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."

    def describe(self) -> str:
        names = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
        mark = "decimal comma" if self.decimal == "," else "decimal point"
        return (
            f"{self.encoding}, {names.get(self.delimiter, repr(self.delimiter))}-separated, {mark}"
        )


def sniff(path: Path) -> Dialect:
    """The dialect of a .csv or .csv.gz file (see the module docstring)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read(SAMPLE)
    encoding = CHOSEN.encoding or _encoding(raw)
    try:
        text = raw.decode(encoding, errors="ignore")
    except LookupError:
        raise ContractError(f"--encoding {clip(encoding)}: not an encoding Python knows.") from None
    if len(raw) == SAMPLE:  # the last line may be cut
        text = text[: text.rfind("\n") + 1] or text
    lines = text.splitlines()[:20]
    delimiter = CHOSEN.delimiter or _delimiter(lines)
    decimal = "," if delimiter != "," and _DECIMAL_COMMA.search("\n".join(lines[1:])) else "."
    return Dialect(CHOSEN.encoding or encoding, delimiter, CHOSEN.decimal or decimal)


def _encoding(raw: bytes) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(raw) - 4:  # not just a character cut at the sample's end
            return "cp1252"
    return "utf-8"


def _delimiter(lines: list[str]) -> str:
    if not lines:
        return ","
    header = lines[0].lstrip("\ufeff")
    ranked = sorted(DELIMITERS, key=lambda d: -header.count(d))
    for candidate in ranked:
        widths = {
            len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=candidate)
        }
        if len(widths) == 1 and widths.pop() > 1:
            return candidate
    return ranked[0] if header.count(ranked[0]) else ","
