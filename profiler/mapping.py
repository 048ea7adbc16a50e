"""A retailer's export, mapped onto the contract: file names, column names and derivations.

Real exports name things their own way.  A ``mapping.yaml`` in the data folder says, per
contract table, which file holds it and how its columns are made::

    order_lines:
      file: invoices.csv              # default: order_lines.csv (or .parquet, .csv.gz)
      columns:                        # contract column: the export's column
        order_id: InvoiceNo
        customer_id: CustomerID
        ordered_at: InvoiceDate
        product_id: StockCode
        quantity: Quantity
        unit_price: UnitPrice
        country: Country
      derive:                         # contract column: arithmetic over the export's columns
        net_amount: Quantity * UnitPrice
      values:                         # contract column: one value for every row
        currency: GBP
      credit_notes:                   # returns written as credit notes
        order_prefix: C               # and/or negative_quantity: true (a line of quantity < 0)

Derivations use the profiler's expression language (+ - * / over column names and numbers; no
code is run).  Credit notes: lines whose order id starts with the prefix are returns; each
becomes a returned line (status ``returned``, returned on its own date, quantity and amounts
made positive).  An export's credit note rarely names the order it reverses, so it stays an
order of its own: its sale and its return cancel out in net sales, while the sale it reverses
stays in the month it was made (Finance's ledger books it the same way: docs/data-contract.md).

``suggest`` proposes a mapping from an export's headers (``profiler validate --suggest-mapping``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from . import expressions, yaml_lines
from .contract import TABLES
from .errors import ContractError, clip
from .source_files import read_table_batches, source_folder
from .yaml_lines import did_you_mean

FILE_NAME = "mapping.yaml"
SECTIONS = ("file", "columns", "derive", "values", "credit_notes")

# Export headers seen in the wild, normalised (lower case, letters and digits only), by the
# contract column they hold.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "order_lines": {
        "order_id": ("invoiceno", "invoice", "invoiceid", "orderno", "ordernumber", "orderid"),
        "customer_id": ("customerid", "custid", "customer", "customerno", "clientid"),
        "ordered_at": ("invoicedate", "orderdate", "date", "orderedat", "transactiondate"),
        "product_id": ("stockcode", "sku", "productid", "itemcode", "articleid"),
        "quantity": ("quantity", "qty", "units"),
        "unit_price": ("unitprice", "price", "itemprice"),
        "net_amount": ("netamount", "amount", "total", "linetotal", "sales", "revenue"),
        "country": ("country", "countrycode"),
        "currency": ("currency", "currencycode"),
        "channel": ("channel", "saleschannel"),
    }
}


@dataclass
class TableMapping:
    table: str
    file: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    derive: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    credit_prefix: str | None = None
    negative_returns: bool = False  # a line with a negative quantity is a return
    # Each derived column's expression, parsed once as the mapping loads.
    trees: dict[str, expressions.Node] = field(default_factory=dict, repr=False)

    def tree(self, column: str) -> expressions.Node:
        """The parsed expression deriving ``column``."""
        found = self.trees.get(column)
        return found if found is not None else expressions.parse(str(self.derive[column]))


@dataclass
class Mapping:
    path: Path
    tables: dict[str, TableMapping]
    text: str

    def where(self, *keys: str) -> str:
        """``mapping.yaml:LINE`` of the last key found in order (for one-line errors)."""
        line, at = 0, 0
        lines = self.text.splitlines()
        for key in keys:
            for i in range(at, len(lines)):
                if re.match(rf"\s*{re.escape(key)}\s*:", lines[i]):
                    line, at = i + 1, i + 1
                    break
        return f"{self.path}:{line}" if line else str(self.path)


def load_mapping(data_dir: Path) -> Mapping | None:
    """The data folder's mapping.yaml, checked (None when there is none)."""
    path = data_dir / FILE_NAME
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    try:
        raw = yaml_lines.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ContractError(
            f"{path}{f':{mark.line + 1}' if mark else ''}: not valid YAML."
        ) from None
    mapping = Mapping(path, {}, text)
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: expected a table name per section, e.g. 'order_lines:'.")
    for table, spec in raw.items():
        if table not in TABLES:
            raise ContractError(
                f"{mapping.where(str(table))}: unknown table '{clip(str(table))}'."
                f"{did_you_mean(str(table), TABLES)}"
            )
        mapping.tables[table] = _table(mapping, table, spec or {})
    return mapping


def _table(mapping: Mapping, table: str, spec: Any) -> TableMapping:
    if not isinstance(spec, dict):
        raise ContractError(f"{mapping.where(table)}: expected {', '.join(SECTIONS)}.")
    for key in spec:
        if key not in SECTIONS:
            raise ContractError(
                f"{mapping.where(table, str(key))}: unknown section '{clip(str(key))}'; "
                f"expected {', '.join(SECTIONS)}.{did_you_mean(str(key), SECTIONS)}"
            )
    known = [c.name for c in TABLES[table].columns]
    out = TableMapping(table, spec.get("file"))
    for section in ("columns", "derive", "values"):
        entries = spec.get(section) or {}
        for column in entries:
            if column not in known:
                raise ContractError(
                    f"{mapping.where(table, section, str(column))}: '{clip(str(column))}' is not "
                    f"a column of {table}.{did_you_mean(str(column), known)}"
                )
        setattr(out, section, {str(k): v for k, v in entries.items()})
    for column, text in out.derive.items():
        try:
            out.trees[column] = expressions.parse(str(text))
        except expressions.ExpressionError as err:
            raise ContractError(f"{mapping.where(table, 'derive', column)}: {err}") from None
    credit = spec.get("credit_notes") or {}
    unknown = sorted(set(credit) - {"order_prefix", "negative_quantity"})
    if unknown:
        raise ContractError(
            f"{mapping.where(table, 'credit_notes')}: unknown credit_notes entry "
            f"'{clip(unknown[0])}'; expected order_prefix or negative_quantity."
        )
    out.credit_prefix = str(credit["order_prefix"]) if credit.get("order_prefix") else None
    out.negative_returns = bool(credit.get("negative_quantity"))
    return out


def source_file(mapping: Mapping | None, data_dir: Path, table: str) -> Path | None:
    """The file the mapping names for a table (None: the contract's own names)."""
    if mapping is None or table not in mapping.tables or not mapping.tables[table].file:
        return None
    path = data_dir / str(mapping.tables[table].file)
    if not path.exists():
        raise ContractError(
            f"{mapping.where(table, 'file')}: {table} is read from {path}, which does not exist."
        )
    return path


def apply(mapping: Mapping | None, table: str, raw: pd.DataFrame, file: Path) -> pd.DataFrame:
    """The export's frame with the contract's columns (text as read; derived columns numbers)."""
    if mapping is None or table not in mapping.tables:
        return raw
    spec = mapping.tables[table]
    used = set(spec.columns.values())
    for column in spec.derive:
        used |= expressions.names(spec.tree(column))
    for name in sorted(used):
        if name not in raw.columns:
            named_by = next((c for c, e in spec.columns.items() if e == name), None)
            keys = ("columns", named_by) if named_by else ("derive",)
            raise ContractError(
                f"{mapping.where(table, *keys)}: {file.name} has no column '{clip(name)}'."
                f"{did_you_mean(name, [str(c) for c in raw.columns])}"
            )
    out = raw.rename(columns={export: contract for contract, export in spec.columns.items()})
    out = out.drop(columns=[c for c in spec.columns.values() if c in out and c not in spec.columns])
    for column, text in spec.derive.items():
        node = spec.tree(column)
        numbers = {n: _numbers(raw[n]) for n in expressions.names(node)}
        out[column] = expressions.evaluate_number(node, numbers.__getitem__, str(text))
    for column, value in spec.values.items():
        out[column] = pd.Categorical.from_codes(np.zeros(len(out), dtype=np.int8), [str(value)])
    if (spec.credit_prefix and "order_id" in out) or spec.negative_returns:
        _credit_notes(out, spec.credit_prefix, spec.negative_returns)
    out.attrs.update(raw.attrs)
    return out


def _numbers(values: pd.Series) -> np.ndarray:
    """Text as numbers for a derivation (NaN where a cell is not one: validation says so)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:  # the common case, all numbers: pyarrow's cast, many times faster than to_numeric
        array = pa.array(values.astype("str"), from_pandas=True)
        return pc.cast(pc.utf8_trim_whitespace(array), pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)


def _credit_notes(frame: pd.DataFrame, prefix: str | None, negative: bool = False) -> None:
    """Lines of credit notes (or, with ``negative``, of a negative quantity) become returned
    lines, in place (see the module docstring)."""
    credit = np.zeros(len(frame), dtype=bool)
    if prefix and "order_id" in frame:
        credit |= frame["order_id"].astype(str).str.startswith(prefix).to_numpy()
    if negative and "quantity" in frame:
        credit |= (pd.to_numeric(frame["quantity"], errors="coerce") < 0).to_numpy()
    if not credit.any():
        return
    frame["status"] = np.where(credit, "returned", frame.get("status", "completed"))
    if "returned_at" not in frame:
        frame["returned_at"] = None
    frame.loc[credit, "returned_at"] = frame.loc[credit, "ordered_at"]
    for column in ("quantity", "net_amount", "unit_price"):
        if column in frame:
            numbers = pd.to_numeric(frame[column], errors="coerce")
            frame[column] = frame[column].where(~credit, numbers.abs())


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def export_headers(data_dir: Path) -> dict[str, list[str]]:
    """The header of every CSV file in the folder (read in its own dialect)."""
    out = {}
    for path in sorted(source_folder(data_dir).iterdir()):
        if path.name.endswith((".csv", ".csv.gz")):
            first = next(iter(read_table_batches(path, 1)), None)
            if first is not None:
                out[path.name] = [str(c) for c in first.columns]
    return out


def suggest(headers: dict[str, list[str]]) -> str:
    """A mapping.yaml proposed from exports' headers (``{file name: headers}``), with a comment
    for each required column it could not map."""
    out = [
        "# Proposed by 'profiler validate --suggest-mapping' from the files' headers: check it,",
        f"# then save it as {FILE_NAME} in the data folder.",
    ]
    for table, synonyms in SYNONYMS.items():
        for file, names in headers.items():
            found = {}
            for contract, words in synonyms.items():
                match = next((h for h in names if _normal(h) in words), None)
                if match:
                    found[contract] = match
            if len(found) < 2:
                continue
            out += [f"{table}:", f"  file: {file}", "  columns:"]
            out += [f"    {contract}: {export}" for contract, export in found.items()]
            derived = "net_amount" not in found and {"quantity", "unit_price"} <= set(found)
            if derived:
                out += ["  derive:", f"    net_amount: {found['quantity']} * {found['unit_price']}"]
            missing = [
                c.name
                for c in TABLES[table].columns
                if c.required and c.name not in found and not (c.name == "net_amount" and derived)
            ]
            out += [f"  # not found: {name} (map it by hand)" for name in missing]
            if "order_id" in found and _normal(found["order_id"]).startswith("invoice"):
                out += [
                    "  # returns written as credit notes (invoice numbers starting with C)?",
                    "  # credit_notes: {order_prefix: C}",
                ]
            break
    return "\n".join(out) + "\n"


def find_source_file(data_dir: Path, table: str) -> Path | None:
    """The file holding a table: the one the data folder's mapping.yaml names for it
    (``profiler/mapping.py``), else ``<table>.parquet``, ``<table>.csv`` or ``<table>.csv.gz``."""
    mapped = source_file(load_mapping(data_dir), data_dir, table)
    if mapped is not None:
        return mapped
    for suffix in (".parquet", ".csv", ".csv.gz", ".xlsx"):
        path = data_dir / f"{table}{suffix}"
        if path.exists():
            return path
    return None
