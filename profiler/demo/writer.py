"""Writing the demo's tables to Parquet or CSV, whole or chunk by chunk.

A file appears under its name only once complete (``outputs.replacing`` and a temporary file
beside it), and the writer settings (zstd, no statistics, dictionary columns decoded for CSV)
are fixed here so the same tables give byte-identical files from run to run.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..outputs import naming, replacing, temporary_beside


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded to their values, for CSV."""
    return pa.table(
        {
            name: (col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col)
            for name, col in zip(table.column_names, table.columns, strict=True)
        }
    )


def write_table(table: pa.Table, path: Path, file_format: str) -> None:
    if file_format not in ("parquet", "csv"):
        raise ValueError(f"unknown format {file_format!r}: expected parquet or csv")
    with replacing(path, needs=table.nbytes) as tmp:
        if file_format == "parquet":
            pq.write_table(table, tmp, compression="zstd", write_statistics=False)
        else:
            pacsv.write_csv(_plain(table), tmp)


class Appender:
    """One table written chunk by chunk to one file (Parquet row groups or CSV rows), with the
    first chunk's schema; the file appears under its name only once complete."""

    def __init__(self, path: Path, file_format: str) -> None:
        self.path = path
        self.file_format = file_format
        self.rows = 0
        self._tmp = temporary_beside(path)
        self._schema: pa.Schema | None = None
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        try:
            self._write(table)
        except OSError as err:
            raise naming(err, self.path) from None

    def _write(self, table: pa.Table) -> None:
        if self.file_format == "csv":
            table = _plain(table)
        if self._writer is None:
            self._schema = table.schema
            if self.file_format == "parquet":
                self._writer = pq.ParquetWriter(
                    self._tmp, table.schema, compression="zstd", write_statistics=False
                )
            else:
                self._writer = pacsv.CSVWriter(self._tmp, table.schema)
        elif not table.schema.equals(self._schema):
            # A chunk can differ only where a column has no values to type it (an empty text
            # column reads as null); a real mismatch fails here rather than in the file.
            table = table.cast(self._schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is None:
            raise ValueError(f"{self.path}: nothing was written")
        self._writer.close()
        self._tmp.replace(self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)
