"""Spark reads and validates the sources itself, with the loader's own rules.

``stage_with_spark`` gives what ``load_sources`` gives (same counts, same quarantine rows and
reasons, same accepted rows and values), but the files are read by Spark and validated on its
executors.  Of the order lines the driver sees one summary row per partition, the quarantined
rows and one row per customer (for the bucket edges and the latest dates); the other tables,
small, come back whole, as the loader returns them.  Tables whose parents (the tables their ids
refer to) are read go to Spark together, so their jobs overlap; when tables fail, the error is
the loader's: that of the first table in load order to fail.

Measured (demo sources, 94,625 order lines, ``local[2]`` on two shared cores, warm): 17 s, where
``load_sources`` takes 0.3-0.9 s from Parquet and 2.7 s from CSV; at this size Spark's cost is
its per-job overhead (about two jobs a table), not the rows.

Reading, with each row's number in its file (``_row``, what the quarantine's ``row`` cites):

- CSV (and .csv.gz): ``spark.read.text``; empty lines are skipped (as the loader's CSV reader
  skips them) and every other line is numbered exactly: lines per file block are counted, then
  each line's number is its block's start plus its place in the block.  The line after the
  header is row 1.  Each line is split into cells by the loader's CSV parser (pyarrow, the same
  options: ``loading.csv_parse_options``).  Two kinds of file are refused in one line: a file
  that is not UTF-8 (Spark's text reader reads UTF-8 only), and a quoted value holding a line
  break (a line with an odd number of quote marks; numbering records rather than lines would
  need the whole file read in order).
- Parquet: ``spark.read.parquet``, the row number from ``_metadata.row_index``.
- Excel sheets are refused in one line (the loader reads them whole, on one machine).

Validating: each Spark partition is one batch for ``loading.check_table``, the loader's own
coercion and rules, run by ``mapInPandas``.  A side table (customers, products, ...) is one
partition, so the loader's rules hold for it exactly, duplicate keys included.  The order lines
are many partitions; three rules need the whole file and are applied on top:

- duplicate keys: Spark groups every row (quarantined rows too, as the loader does) by its key;
  the first row of a key is kept, later ones are quarantined with the loader's reason ("first
  seen at row N"), unless an earlier rule already quarantined them;
- line numbers when the file has no ``line_id``: a Spark window numbers the lines of each order
  in file order, before validation;
- column types: an id column is whole numbers (int64) only when it is in every batch, as it is
  in the loader only when every value of the file is one; a whole-number column with an empty
  cell anywhere is ``Int64``.  The executors send ids as text; the driver casts them once it
  knows.

Staged layout, under ``stage_dir``:

- ``order_lines/bucket=NNN/part-KKKKK-NNN.parquet``: the accepted order lines (column ``_row`` and the
  contract's columns), bucketed by customer id: the edges split the accepted lines' distinct
  customer ids into ``buckets`` groups of equal size (staging's ``bucket_edges`` rule, applied
  to every customer rather than to the first batch's); ids below the first edge are bucket 000.
  Parts are sorted by ``_row``; ``read_bucket`` reads one bucket back in file order.  The
  returned ``StagedTable`` lists the parts and the edges as ``stage_sources`` does, so the
  out-of-core and Spark builds (``outofcore.plan_buckets``) take either.
- ``<table>/part-00000.parquet`` for every other table: its accepted rows, validated by Spark
  as one batch (one partition: the loader's whole-file rules hold exactly), collected and
  written whole; they are also returned in memory (``SourceData.tables``).
- ``<table>/_types.json``: the column types the loader would give (Spark's Parquet has no
  categories and no nullable integers), and for the order lines the bucket edges.

The quarantine is returned (``SourceData.quarantine``), in the loader's columns and order, for
the caller to write as it writes the loader's (``store`` writer).

What still differs from ``load_sources``:

- for the order lines, as in ``profiler/staging.py`` (whose batches these partitions are), a
  column none of whose values can be read stops loading when one partition shows it, and
  day-first dates (05/01/2024) are decided per partition, so a partition whose dates cannot
  tell stops with the loader's one-line message where the whole file could tell;
- text ids come back as ``object`` columns; the loader's order lines may hold them as ``str``
  (pandas infers it when the loader regroups the lines by customer): the same values;
- a Parquet id column of whole numbers with an empty cell (floats in pandas) comes back as text
  ('5.0') where the loader keeps the floats; a Parquet file Spark cannot read (nanosecond
  times) is refused in one line;
- the error for a CSV line that cannot be split names the same problem in pyarrow's words, but
  from that line alone.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import mapping, readers
from .contract import LOAD_ORDER, TABLES, Table
from .errors import ContractError, clip
from .loading import (
    QUARANTINE_COLUMNS,
    ROW,
    SourceData,
    StagedTable,
    TableReport,
    check_table,
    csv_column_names,
    csv_convert_options,
    csv_parse_options,
    find_source_file,
    missing_required,
    read_table_file,
    source_folder,
    today_or_default,
    type_name,
    validate_table,
)
from .staging import STAGED, bucket_count, bucket_edges

TYPES_FILE = "_types.json"
# Internal columns of the Spark frames (a source column of these names would clash).
_ROW = "__row"
_TEXT = "__text"
_ERROR = "__error"
_LINE = "__line"
_KIND = "__kind"  # 'row', 'meta' (one per partition: types and counts) or 'error'
_Q = {name: f"__q_{name}" for name in ("column", "value", "rule", "reason")}


def stage_with_spark(
    spark: Any,
    data_dir: str | Path,
    stage_dir: str | Path,
    *,
    today: pd.Timestamp | str | None = None,
    buckets: int | None = None,
    partitions: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> SourceData:
    """Read and validate every source table of ``data_dir`` with Spark, as ``load_sources``
    does; keep the accepted order lines in ``stage_dir`` by customer bucket.

    Parameters
    ----------
    spark : a SparkSession (its executors need pandas, pyarrow and this package).
    data_dir : folder holding one file per table (CSV or Parquet), read by every executor.
    stage_dir : where the accepted rows are written (see the module docstring).
    today : dates after this are "in the future" and quarantined (default: now).
    buckets : customer buckets of the order lines (default: as ``stage_sources`` splits them,
        ``staging.bucket_count``).
    partitions : validate the order lines in this many batches of consecutive rows (default: as
        Spark splits the file; the other tables are one batch each, as the loader sees them).
    progress : called with a short message as each table is read.
    """
    data_dir = source_folder(data_dir)
    today_ts = today_or_default(today)
    stage_dir = Path(stage_dir)
    spark = _session(spark)
    mapped = mapping.load_mapping(data_dir)
    tables: dict[str, pd.DataFrame] = {}
    reports: dict[str, TableReport] = {}
    bad: dict[str, pd.DataFrame] = {}
    staged: dict[str, StagedTable] = {}
    failed: dict[str, Exception] = {}

    def intake(name: str, path: Path) -> None:
        spec = TABLES[name]
        started = time.perf_counter()
        if progress:
            progress(f"reading {path.name} with Spark")
        parents = {
            parent: tables[parent][[TABLES[parent].key[0]]]
            for parent in spec.references.values()
            if parent in tables
        }
        table = _Intake(spark, spec, path, mapped, today_ts, parents, partitions)
        try:
            report, bad[name] = table.run()
            out = stage_dir / name
            if name == STAGED:
                staged[name] = table.write_buckets(out, buckets or bucket_count(path))
            else:
                table.write_whole(out)
                tables[name] = table.whole
        finally:
            table.close()  # the table's cached rows
        report.seconds = time.perf_counter() - started
        reports[name] = report

    # Tables whose parents are read go to Spark together (their jobs overlap); a table stops
    # with the error the loader would give: that of the first table, in load order, to fail.
    pending = {}
    for name in LOAD_ORDER:
        try:
            path = find_source_file(data_dir, name)
            if path is None and TABLES[name].required:
                raise missing_required(data_dir, name)
        except ContractError as exc:
            failed[name] = exc
            continue
        if path is None:
            reports[name] = TableReport(name, None)
        else:
            pending[name] = path
    while pending:
        ready = [
            name
            for name in pending
            if not any(parent in pending for parent in TABLES[name].references.values())
        ]
        with ThreadPoolExecutor(max_workers=min(4, len(ready))) as pool:
            running = {name: pool.submit(intake, name, pending.pop(name)) for name in ready}
        for name, future in running.items():
            if future.exception() is not None:
                failed[name] = future.exception()
        for name in [n for n in pending if any(p in failed for p in TABLES[n].references.values())]:
            del pending[name]  # its parent failed: the loader would not have reached it
    if failed:
        raise failed[next(name for name in LOAD_ORDER if name in failed)]
    reports = {name: reports[name] for name in LOAD_ORDER if name in reports}
    quarantines = [bad[name] for name in LOAD_ORDER if name in bad and len(bad[name])]
    quarantine = (
        pd.concat(quarantines, ignore_index=True)
        if quarantines
        else pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})
    )
    return SourceData(tables, quarantine, reports, data_dir, staged=staged)


def read_bucket(stage_dir: str | Path, table: str, bucket: int) -> pd.DataFrame:
    """One bucket of a table staged by ``stage_with_spark``, sorted by ``_row``, in the types
    ``load_sources`` gives (an empty frame of those columns when the bucket has no rows)."""
    folder = Path(stage_dir) / table
    return _read_parts(sorted((folder / f"bucket={bucket:03d}").glob("*.parquet")), folder)


def read_staged(stage_dir: str | Path, table: str) -> pd.DataFrame:
    """Every row of a table staged by ``stage_with_spark``, sorted by ``_row``."""
    folder = Path(stage_dir) / table
    return _read_parts(sorted(folder.glob("**/*.parquet")), folder)


def staged_types(folder: Path) -> dict[str, Any]:
    return json.loads((folder / TYPES_FILE).read_text(encoding="utf-8"))


def _read_parts(parts: list[Path], folder: Path) -> pd.DataFrame:
    meta = staged_types(folder)
    dtypes: dict[str, str] = meta["dtypes"]
    columns = [ROW, *dtypes]
    if parts:
        table = pa.concat_tables(
            [pq.read_table(p, columns=columns) for p in parts], promote_options="default"
        )
        frame = table.sort_by(ROW).to_pandas()
    else:
        frame = pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    frame[ROW] = frame[ROW].astype(np.int64)
    for column, dtype in dtypes.items():
        frame[column] = _as_dtype(frame[column], dtype)
    return frame[columns].reset_index(drop=True)


def _as_dtype(values: pd.Series, dtype: str) -> pd.Series:
    """A column read from Spark's Parquet in the type the loader gives it."""
    if dtype == "object":
        return values.astype(object).where(values.notna(), None)
    if dtype == "category":
        return values.astype(object).where(values.notna(), None).astype("category")
    if dtype.startswith("datetime64"):
        return values.astype("datetime64[ns]")
    return values.astype(dtype)


def _session(spark: Any) -> Any:
    """A session of our own, in UTC, so date-times cross between pandas and Spark unchanged.
    Its executors run Python with this package (``profiler.spark_session`` starts Spark so)."""
    own = spark.newSession()
    own.conf.set("spark.sql.session.timeZone", "UTC")
    return own


def _spark_type(kind: str) -> Any:
    from pyspark.sql import types as T

    return {
        "int": T.LongType(),
        "float": T.DoubleType(),
        "bool": T.BooleanType(),
        "timestamp": T.TimestampNTZType(),
        "date": T.TimestampNTZType(),
    }.get(kind, T.StringType())  # key (sent as text), text, month


class _Intake:
    """One table: read, validated, its quarantine found; then written."""

    def __init__(
        self,
        spark: Any,
        spec: Table,
        path: Path,
        mapped: mapping.Mapping | None,
        today: pd.Timestamp,
        parents: dict[str, pd.DataFrame],
        partitions: int | None,
    ) -> None:
        self.spark, self.spec, self.path = spark, spec, path
        self.mapped, self.today, self.parents = mapped, today, parents
        self.partitions = partitions
        self.rows = 0  # rows in the file, once read
        self._persisted: list[Any] = []
        self.accepted: Any = None  # the accepted rows (Spark), once run
        self.dtypes: dict[str, str] = {}
        # The accepted rows in memory: a side table, or a file without rows.
        self.whole: pd.DataFrame | None = None

    def close(self) -> None:
        for frame in self._persisted:
            frame.unpersist()
        self._persisted.clear()

    # Reading ---------------------------------------------------------------------------

    def read(self) -> tuple[Any, list[str]]:
        """The file as a Spark frame (source columns, ``_ROW``, ``_ERROR``) and its columns."""
        from pyspark.sql import functions as F

        name = self.path.name.lower()
        if name.endswith(".xlsx"):
            raise ContractError(
                f"{self.path}: an Excel sheet; the Spark intake reads CSV and Parquet files "
                "(save the sheet as CSV, or load without Spark)."
            )
        if name.endswith(".parquet"):
            try:
                frame = self.spark.read.parquet(str(self.path))
                names = [str(c).strip() for c in frame.columns]
                frame = frame.toDF(*names).select(
                    *[F.col(f"`{c}`") for c in names],
                    (F.col("_metadata.row_index") + 1).alias(_ROW),
                    F.lit(None).cast("string").alias(_ERROR),
                )
            except Exception as exc:  # Spark's AnalysisException: a file it cannot read
                raise ContractError(
                    f"{self.path}: cannot be read as Parquet by Spark ({_one_line(exc)})."
                ) from None
            self.rows = pq.ParquetFile(self.path).metadata.num_rows
            return frame, names
        return self._read_csv()

    def _read_csv(self) -> tuple[Any, list[str]]:
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        dialect = readers.sniff(self.path)
        if dialect.encoding.lower().replace("-", "").replace("_", "") not in ("utf8", "utf8sig"):
            raise ContractError(
                f"{self.path}: {dialect.encoding} text; the Spark intake reads UTF-8 files "
                "(save it as UTF-8, or load without Spark)."
            )
        names = csv_column_names(self.path)
        lines = (
            self.spark.read.text(str(self.path))
            .select(
                F.col("value").alias(_TEXT), F.col("_metadata.file_block_start").alias("__block")
            )
            .filter(F.col(_TEXT) != "")
            .withColumn("__id", F.monotonically_increasing_id())
        )
        # A line's number: the lines of the blocks before it, plus its place in its block
        # (ids run on within a partition, and a block is read in order).
        blocks = sorted(
            lines.groupBy("__block")
            .agg(F.count("*").alias("n"), F.min("__id").alias("first"))
            .collect()
        )
        bases, before = [], 0
        for block in blocks:
            bases.append((block["__block"], before - block["first"]))
            before += block["n"]
        self.rows = before - 1  # the header is not a row
        base = self.spark.createDataFrame(
            bases,
            T.StructType(
                [T.StructField("__block", T.LongType()), T.StructField("__base", T.LongType())]
            ),
        )
        numbered = (
            lines.join(F.broadcast(base), "__block")
            .select(F.col(_TEXT), (F.col("__id") + F.col("__base")).alias(_ROW))
            .filter(F.col(_ROW) > 0)  # line 0 is the header
        )
        schema = T.StructType(
            [T.StructField(c, T.StringType()) for c in names]
            + [T.StructField(_ROW, T.LongType()), T.StructField(_ERROR, T.StringType())]
        )
        parse = _csv_parser(str(self.path), names, dialect)
        return numbered.mapInPandas(parse, schema), names

    # Validating ------------------------------------------------------------------------

    def run(self) -> tuple[TableReport, pd.DataFrame]:
        """Validate the table; return its report and quarantined rows."""
        from pyspark.sql import functions as F

        spec = self.spec
        raw, names = self.read()
        mapped_columns = list(
            mapping.apply(self.mapped, spec.name, pd.DataFrame(columns=names), self.path).columns
        )
        numbered = spec.name == STAGED and "line_id" not in mapped_columns
        batches = self.partitions or raw.rdd.getNumPartitions()  # default: the file's splits
        if numbered:
            raw = raw.withColumn(_LINE, self._line_numbers())
        if spec.name != STAGED:
            raw = raw.coalesce(1)  # a side table is one batch, as the loader sees it
        elif self.partitions or numbered:
            # Batches of consecutive rows (the numbering's window regrouped them by order),
            # cut by row number rather than by sampling the file.
            batch = F.floor((F.col(_ROW) - 1) * batches / max(self.rows, 1))
            raw = raw.repartition(batches, batch)
        schema = self._checked_schema()
        check = _checker(
            spec.name,
            str(self.path),
            self.today,
            self.spark.sparkContext.broadcast(self.parents),
            self.mapped,
            numbered,
            asdict(readers.CHOSEN),
            [f.name for f in schema.fields],
            self._decimal(),
        )
        # Every row with its first problem, duplicates marked: kept for the writes that follow.
        checked = raw.mapInPandas(check, schema)
        if spec.name == STAGED:  # a side table is one batch: the loader's rule ran in it
            checked = self._duplicates(checked)
        checked = checked.persist()
        self._persisted.append(checked)
        whole = spec.name != STAGED  # a side table comes back whole, in this one pass
        notes = (
            checked
            if whole
            else checked.filter((F.col(_KIND) != "row") | F.col(_Q["reason"]).isNotNull())
        )
        notes = notes.select(
            _ROW, _KIND, *_Q.values(), *(spec.column_names if whole else [])
        ).toPandas()
        errors = notes[notes[_KIND] == "error"].sort_values(_ROW, kind="stable")
        if len(errors):
            raise ContractError(errors[_Q["reason"]].iloc[0])
        metas = [json.loads(text) for text in notes.loc[notes[_KIND] == "meta", _Q["reason"]]]
        if not any(m["rows"] for m in metas):
            return self._without_rows()
        report = TableReport(
            spec.name,
            self.path.name,
            rows_read=sum(m["rows"] + sum(m.get("withheld", {}).values()) for m in metas),
        )
        report.defaulted_columns = [
            c
            for c in spec.column_names
            if c in metas[0]["defaulted"] or (numbered and c == "line_id")
        ]
        report.ignored_columns = metas[0]["ignored"]
        self.dtypes = self._whole_file_dtypes(metas)
        if whole:
            self.whole = self._accepted_frame(
                notes[(notes[_KIND] == "row") & notes[_Q["reason"]].isna()]
            )
            notes = notes[notes[_Q["reason"]].notna()]
        bad = notes[notes[_KIND] == "row"].rename(columns={_ROW: "row"})
        bad = bad.rename(columns={q: name for name, q in _Q.items()})
        bad = bad.sort_values("row", kind="stable").reset_index(drop=True)
        bad["row"] = bad["row"].astype(np.int64)
        bad.insert(0, "file", self.path.name)
        bad.insert(0, "table", spec.name)
        bad = bad[QUARANTINE_COLUMNS].copy()
        self.accepted = checked.filter(
            (F.col(_KIND) == "row") & F.col(_Q["reason"]).isNull()
        ).select(
            F.col(_ROW).alias(ROW),
            *[
                F.col(c).cast("long").alias(c)
                if self.spec.column(c).kind == "key" and self.dtypes[c] == "int64"
                else F.col(c)
                for c in spec.column_names
            ],
        )
        report.quarantined = len(bad)
        for meta in metas:  # rows withheld before any rule (profiler/data_rights.py)
            for reason, count in meta.get("withheld", {}).items():
                report.withheld[reason] = report.withheld.get(reason, 0) + count
        # Every row read is a 'row' of a batch, with a problem or without, or withheld.
        report.accepted = report.rows_read - report.quarantined - sum(report.withheld.values())
        return report, bad

    def _accepted_frame(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Accepted rows collected from Spark, in the loader's types and order."""
        rows = rows.sort_values(_ROW, kind="stable").reset_index(drop=True)
        frame = pd.DataFrame({ROW: rows[_ROW].astype(np.int64)})
        for column in self.spec.column_names:
            frame[column] = _as_dtype(rows[column], self.dtypes[column])
        return frame

    def _decimal(self) -> str:
        if self.path.name.lower().endswith(".parquet"):
            return "."
        return readers.sniff(self.path).decimal

    def _line_numbers(self) -> Any:
        """Lines numbered within their order in file order (the loader's ``line_id`` default)."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        source = "order_id"
        table = self.mapped.tables.get(STAGED) if self.mapped else None
        if table is not None:
            if "order_id" in table.derive or "order_id" in table.values:
                raise ContractError(
                    f"{self.mapped.where(STAGED)}: order_id is derived and the file has no "
                    "line_id; the Spark intake numbers lines by an order_id column of the file."
                )
            source = table.columns.get("order_id", "order_id")
        return F.row_number().over(Window.partitionBy(F.col(f"`{source}`")).orderBy(_ROW))

    def _checked_schema(self) -> Any:
        from pyspark.sql import types as T

        fields = [T.StructField(_ROW, T.LongType())]
        fields += [T.StructField(c.name, _spark_type(c.kind)) for c in self.spec.columns]
        fields.append(T.StructField(_KIND, T.StringType()))
        fields += [T.StructField(q, T.StringType()) for q in _Q.values()]
        return T.StructType(fields)

    def _whole_file_dtypes(self, metas: list[dict]) -> dict[str, str]:
        """Each column's type over the whole file from the batches' types (module docstring)."""
        dtypes = {}
        for col in self.spec.columns:
            seen = [m["dtypes"][col.name] for m in metas if m["rows"]]
            if col.kind == "key":
                text = [s for s in seen if s != "int64"]  # ids as text somewhere: text all over
                dtypes[col.name] = text[0] if text else "int64"
            elif col.kind == "int":
                dtypes[col.name] = "Int64" if "Int64" in seen else seen[0]
            elif col.kind in ("timestamp", "date"):
                dtypes[col.name] = "datetime64[ns]"
            else:
                dtypes[col.name] = seen[0]
        return dtypes

    def _duplicates(self, rows: Any) -> Any:
        """The rows with a later occurrence of a key quarantined, as ``loading.duplicate_rule``
        words it, unless an earlier rule quarantined the row."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        key = list(self.spec.key)
        if not key:
            return rows
        complete = F.lit(True)
        for column in key:
            complete = complete & F.col(column).isNotNull()
        first = F.min(_ROW).over(Window.partitionBy(*key))
        label = ", ".join(key)
        shown = F.concat_ws(", ", *[F.col(c) for c in key])
        rows = rows.withColumn("__first", F.when(complete, first))
        duplicate = (
            F.col("__first").isNotNull()
            & (F.col(_ROW) > F.col("__first"))
            & F.col(_Q["reason"]).isNull()
        )
        found = {
            "column": F.lit(label),
            "value": shown,
            "rule": F.lit("duplicate"),
            "reason": F.concat(
                F.lit(f"duplicate key ({label}) = ("),
                shown,
                F.lit("); first seen at row "),
                F.col("__first").cast("string"),
            ),
        }
        for name, q in _Q.items():
            rows = rows.withColumn(q, F.when(duplicate, found[name]).otherwise(F.col(q)))
        return rows.drop("__first")

    def _without_rows(self) -> tuple[TableReport, pd.DataFrame]:
        """A file without rows: the loader reads and validates it (there is nothing to share
        out), and its empty frame is what is written."""
        raw = mapping.apply(self.mapped, self.spec.name, read_table_file(self.path), self.path)
        frame, report, bad = validate_table(self.spec, raw, self.path, self.today, self.parents)
        self.whole = frame
        self.dtypes = {c: str(frame[c].dtype) for c in frame.columns if c != ROW}
        return report, bad

    # Writing ---------------------------------------------------------------------------

    def _write_types(self, out: Path, **more: Any) -> None:
        meta = {"dtypes": self.dtypes, **more}
        (out / TYPES_FILE).write_text(json.dumps(meta, default=str), encoding="utf-8")

    def _write_frame(self, out: Path) -> None:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        table = pa.Table.from_pandas(self.whole, preserve_index=False)
        pq.write_table(table, out / "part-00000.parquet", coerce_timestamps="us")

    def write_whole(self, out: Path) -> None:
        """The accepted rows (held in memory: ``whole``) as one Parquet file under ``out``."""
        self._write_frame(out)
        self._write_types(out)

    def write_buckets(self, out: Path, buckets: int) -> StagedTable:
        """The accepted order lines under ``out/bucket=NNN/``, by customer id."""
        from pyspark.sql import functions as F

        if self.accepted is None:
            self._write_frame(out)
            self._write_types(out, edges=[])
            return StagedTable(sorted(out.glob("*.parquet")), self._types(), {})
        accepted = self.accepted
        # One row per customer: the bucket edges (staging's rule, over every customer) and the
        # latest times.
        customers = (
            accepted.groupBy("customer_id")
            .agg(F.max("ordered_at").alias("ordered_at"), F.max("returned_at").alias("returned_at"))
            .toPandas()
        )
        split = bucket_edges(customers["customer_id"], buckets)
        edges = split.tolist()
        latest = {}
        for column in ("ordered_at", "returned_at"):
            value = customers[column].max()
            if pd.notna(value):
                latest[column] = pd.Timestamp(value)
        bucket = F.lit(0)
        for edge in edges:
            bucket = bucket + (F.col("customer_id") >= F.lit(edge)).cast("int")
        # A bucket is written by one task, its rows sorted by _row.
        (
            accepted.withColumn("bucket", F.lpad(bucket.cast("string"), 3, "0"))
            .repartition(buckets, "bucket")
            .sortWithinPartitions(ROW)
            .write.mode("overwrite")
            .partitionBy("bucket")
            .parquet(str(out))
        )
        self._write_types(out, edges=edges)
        return StagedTable(_named_parts(out), self._types(), latest, split if edges else None)

    def _types(self) -> dict[str, str]:
        return {c: type_name(pd.api.types.pandas_dtype(d)) for c, d in self.dtypes.items()}


def _named_parts(out: Path) -> list[Path]:
    """Spark's part files renamed ``bucket=BBB/part-NNNNN-BBB.parquet``: the bucket ends the
    name, as in staging's parts (``part-BATCH-BUCKET.parquet``), which the out-of-core and Spark
    builds pick a bucket's parts by (``outofcore.plan_buckets``)."""
    parts = []
    for folder in sorted(out.glob("bucket=*")):
        bucket = folder.name.split("=", 1)[1]
        for n, part in enumerate(sorted(folder.glob("*.parquet"))):
            parts.append(part.rename(folder / f"part-{n:05d}-{bucket}.parquet"))
        for checksum in folder.glob(".*.crc"):  # Spark's, of the old names
            checksum.unlink()
    return parts


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return clip(text.splitlines()[0]) if text else type(exc).__name__


# On the executors ----------------------------------------------------------------------


def _csv_parser(path: str, names: list[str], dialect: readers.Dialect) -> Callable:
    """A ``mapInPandas`` function: numbered lines (``_TEXT``, ``_ROW``) split into text cells by
    the loader's CSV parser; a line it cannot split is an ``_ERROR``."""

    def parse(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pyarrow.csv as pv

        options = {
            "read_options": pv.ReadOptions(column_names=names, encoding="utf8"),
            "parse_options": csv_parse_options(dialect),
            "convert_options": csv_convert_options(names),
        }

        def split(lines: list[str]) -> pd.DataFrame:
            data = ("\n".join(lines) + "\n").encode("utf-8")
            return pv.read_csv(io.BytesIO(data), **options).to_pandas()

        for batch in batches:
            if not len(batch):
                continue
            rows = batch[_ROW].to_numpy()
            lines, error = _texts(batch[_TEXT], rows, path)
            odd = [] if error else [i for i, line in enumerate(lines) if line.count('"') % 2]
            if error:
                pass
            elif odd:
                error = (
                    rows[odd[0]],
                    f"{path}: row {rows[odd[0]]} holds a line break inside quotes; the Spark "
                    "intake reads one row a line (remove the line breaks, or load without Spark).",
                )
            else:
                try:
                    frame = split(lines)
                except (pa.ArrowInvalid, ValueError, UnicodeDecodeError):
                    error = _first_unsplit(lines, rows, split, path)
                else:
                    if len(frame) != len(lines):  # pragma: no cover - one record a line
                        error = (rows[0], f"{path}: cannot be read (rows {rows[0]} on).")
            if error is not None:
                out = pd.DataFrame({c: pd.Series([None], dtype=object) for c in names})
                out[_ROW] = np.array([error[0]], dtype=np.int64)
                out[_ERROR] = error[1]
                yield out
                continue
            frame.columns = names
            frame[_ROW] = rows
            frame[_ERROR] = None
            yield frame

    return parse


def _texts(texts: pd.Series, rows: np.ndarray, path: str) -> tuple[list[str], tuple | None]:
    """The lines as text, or the first line that is not UTF-8 (Spark passes its bytes on)."""
    try:
        return texts.tolist(), None
    except (UnicodeDecodeError, pa.ArrowException):
        for i in range(len(texts)):
            try:
                texts.iloc[i : i + 1].tolist()
            except (UnicodeDecodeError, pa.ArrowException):
                return [], (rows[i], f"{path}: cannot be read (row {rows[i]}: not UTF-8 text).")
        raise  # pragma: no cover


def _first_unsplit(lines: list[str], rows: np.ndarray, split: Callable, path: str) -> tuple:
    for i, line in enumerate(lines):
        try:
            split([line])
        except (pa.ArrowInvalid, ValueError, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return rows[i], f"{path}: cannot be read ({first})."
    return rows[0], f"{path}: cannot be read (rows {rows[0]} on)."  # pragma: no cover


def _checker(
    table: str,
    path: str,
    today: pd.Timestamp,
    parents: Any,  # a Spark broadcast of {table: accepted key column}
    mapped: mapping.Mapping | None,
    numbered: bool,
    chosen: dict[str, Any],
    out_columns: list[str],
    decimal: str,
) -> Callable:
    """A ``mapInPandas`` function: one partition of a table's rows through
    ``loading.check_table``: every row with its first problem (if any), then one 'meta' row
    (the batch's column types, rows, defaulted and ignored columns) or one 'error' row."""
    spec = TABLES[table]

    def check(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for name, value in chosen.items():  # --date-format and the like, as on the driver
            setattr(readers.CHOSEN, name, value)
        raw = [b for b in batches if len(b)]
        if not raw:
            return
        raw = pd.concat(raw, ignore_index=True).sort_values(_ROW, kind="stable")
        raw = raw.reset_index(drop=True)
        rows = raw.pop(_ROW).to_numpy(dtype=np.int64)
        errors = raw.pop(_ERROR)
        if errors.notna().any():
            first = int(np.flatnonzero(errors.notna().to_numpy())[0])
            yield _note(out_columns, "error", rows[first], errors.iloc[first])
            return
        line = raw.pop(_LINE).to_numpy(dtype=np.int64) if numbered else None
        raw.attrs["decimal"] = decimal
        file = Path(path)
        try:
            raw = mapping.apply(mapped, table, raw, file)
            if line is not None:
                raw["line_id"] = line
            frame, report, bad = check_table(
                spec, raw, file, today, parents.value, rows=rows, duplicates=table != STAGED
            )
        except ContractError as exc:
            yield _note(out_columns, "error", rows[0], str(exc))
            return
        yield _checked_rows(spec, frame, bad, out_columns)
        meta = {
            "rows": len(frame),
            "dtypes": {c: str(frame[c].dtype) for c in spec.column_names},
            "defaulted": [c for c in report.defaulted_columns if not (numbered and c == "line_id")],
            "ignored": report.ignored_columns,
            "withheld": report.withheld,
        }
        yield _note(out_columns, "meta", rows[0], json.dumps(meta))

    return check


def _note(columns: list[str], kind: str, row: int, text: str) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([None], dtype=object) for c in columns})
    out[_ROW] = np.array([row], dtype=np.int64)
    out[_KIND] = kind
    out[_Q["reason"]] = text
    return out


def _checked_rows(
    spec: Table, frame: pd.DataFrame, bad: pd.DataFrame, columns: list[str]
) -> pd.DataFrame:
    """The coerced rows as Spark takes them: ids as text (see the module docstring), times
    without zone, categories as text; with each quarantined row's problem."""
    out = pd.DataFrame({_ROW: frame[ROW].to_numpy(dtype=np.int64)})
    for col in spec.columns:
        values = frame[col.name]
        if col.kind == "key":
            if pd.api.types.is_integer_dtype(values):
                out[col.name] = values.astype(np.int64).astype(str).astype(object).to_numpy()
            else:
                out[col.name] = [None if pd.isna(v) else str(v) for v in values]
        elif col.kind in ("text", "month"):
            out[col.name] = values.astype(object).where(values.notna(), None).to_numpy()
        elif col.kind == "int":
            out[col.name] = pd.array(values, dtype="Int64")
        elif col.kind == "float":
            out[col.name] = values.astype("float64").to_numpy()
        elif col.kind == "bool":
            out[col.name] = pd.array(values, dtype="boolean")
        else:  # timestamp, date: naive UTC
            out[col.name] = values.astype("datetime64[ns]").to_numpy()
    out[_KIND] = "row"
    problems = bad.set_index("row") if len(bad) else None
    for name, q in _Q.items():
        if problems is None:
            out[q] = None
        else:
            found = out[_ROW].map(problems[name])
            out[q] = found.astype(object).where(found.notna(), None)
    return out[columns]
