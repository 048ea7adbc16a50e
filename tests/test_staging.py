"""Staged loading (profiler/staging.py) gives what load_sources gives, batch by batch.

The order lines are validated in small batches here (997 rows), so duplicates, line numbering
and the quarantine cross batch boundaries.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from profiler.engine_choice import choose_engine
from profiler.errors import ContractError
from profiler.loading import load_sources
from profiler.staging import stage_sources

TODAY = "2026-11-22"
BATCH = 997


def staged_lines(source) -> pd.DataFrame:  # noqa: ANN001 (a SourceData)
    parts = source.staged["order_lines"].parts
    lines = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return lines.sort_values("_row").reset_index(drop=True)


def assert_same_load(expected, staged) -> None:  # noqa: ANN001 (two SourceData)
    """Same counts, same quarantine, same accepted order lines (in file order: loading groups
    them by customer, staging by customer bucket)."""
    counts = {k: (r.rows_read, r.accepted, r.quarantined) for k, r in expected.reports.items()}
    assert {
        k: (r.rows_read, r.accepted, r.quarantined) for k, r in staged.reports.items()
    } == counts
    assert (
        staged.reports["order_lines"].defaulted_columns
        == expected.reports["order_lines"].defaulted_columns
    )
    pd.testing.assert_frame_equal(
        staged.quarantine.astype(str).reset_index(drop=True),
        expected.quarantine.astype(str).reset_index(drop=True),
    )
    want = expected.tables["order_lines"].sort_values("_row").reset_index(drop=True)
    got = staged_lines(staged)
    assert list(got.columns) == list(want.columns)
    for column in want.columns:
        w, g = want[column], got[column]
        if w.dtype.kind == "M":
            g = g.astype(w.dtype)
        pd.testing.assert_series_equal(
            g.astype(object), w.astype(object), check_names=False, obj=column
        )
    assert "order_lines" not in staged.tables
    assert staged.latest("order_lines", "ordered_at") == want["ordered_at"].max()


def test_demo_sources_stage_as_they_load(demo_source, tmp_path: Path) -> None:
    staged = stage_sources(demo_source.data_dir, tmp_path / "stage", today=TODAY, batch_rows=BATCH)
    assert len(staged.staged["order_lines"].parts) > 10
    assert_same_load(demo_source, staged)
    assert staged.column_type("order_lines", "product_id") == "int64"


@pytest.fixture(scope="module")
def bad_csv(demo_source, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo sources as CSV order lines without line_id, with bad rows in several batches:
    a type error, an unknown customer, a line repeated across batches and a repeat of a bad row."""
    folder = tmp_path_factory.mktemp("bad-csv")
    for path in demo_source.data_dir.iterdir():
        if path.stem != "order_lines":
            shutil.copy(path, folder / path.name)
    lines = pd.read_parquet(demo_source.data_dir / "order_lines.parquet").astype(str)
    lines.loc[5, "net_amount"] = "abc"
    lines.loc[1500, "customer_id"] = "99999999"
    n = len(lines)
    repeated = lines.loc[[10, 5, 2000]].copy()  # row 2001 repeated inside a later batch too
    lines = pd.concat([lines.iloc[: n - 100], repeated, lines.iloc[n - 100 :]], ignore_index=True)
    lines.drop(columns="line_id").to_csv(folder / "order_lines.csv", index=False)
    return folder


def test_bad_rows_and_line_numbers_across_batches(bad_csv: Path, tmp_path: Path) -> None:
    expected = load_sources(bad_csv, today=TODAY)
    staged = stage_sources(bad_csv, tmp_path / "stage", today=TODAY, batch_rows=BATCH)
    assert_same_load(expected, staged)
    rules = expected.quarantine.groupby("rule").size().to_dict()
    # Without line_id, a repeated line gets the next number of its order: no duplicate; the
    # repeat of the bad row is bad too.
    assert rules == {"type": 2, "reference": 1}
    assert "line_id" in staged.reports["order_lines"].defaulted_columns


def test_duplicates_across_batches(demo_source, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(demo_source.data_dir, folder)
    lines = pd.read_parquet(folder / "order_lines.parquet")
    lines["net_amount"] = lines["net_amount"].astype(object)
    lines.loc[7, "net_amount"] = "not a number"
    lines = pd.concat([lines, lines.loc[[3, 7, 3]]], ignore_index=True)  # 3 twice, 7 is bad
    lines.astype(str).to_csv(folder / "order_lines.csv", index=False)
    (folder / "order_lines.parquet").unlink()
    expected = load_sources(folder, today=TODAY)
    staged = stage_sources(folder, tmp_path / "stage", today=TODAY, batch_rows=BATCH)
    assert_same_load(expected, staged)
    assert expected.quarantine["rule"].tolist() == ["type", "duplicate", "type", "duplicate"]
    assert "first seen at row 4" in staged.quarantine["reason"].iloc[-1]


def test_ids_numbers_then_text_is_one_line(demo_source, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(demo_source.data_dir, folder)
    lines = pd.read_parquet(folder / "order_lines.parquet").astype(str)
    lines.loc[len(lines) - 1, "order_id"] = "X-1"
    lines.to_csv(folder / "order_lines.csv", index=False)
    (folder / "order_lines.parquet").unlink()
    with pytest.raises(ContractError) as err:
        stage_sources(folder, tmp_path / "stage", today=TODAY, batch_rows=BATCH)
    message = str(err.value)
    assert "order_lines.csv: column 'order_id' reads as object in rows" in message
    assert "\n" not in message


def test_missing_order_lines_is_the_load_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(ContractError) as staged:
        stage_sources(tmp_path / "data", tmp_path / "stage")
    with pytest.raises(ContractError) as loaded:
        load_sources(tmp_path / "data")
    assert str(staged.value) == str(loaded.value)


def test_engine_choice_by_order_lines_and_memory(demo_source) -> None:
    lines = len(demo_source.tables["order_lines"])
    assert choose_engine(demo_source.data_dir)[0] == "in-memory"
    engine, why = choose_engine(demo_source.data_dir, memory=lines * 400)
    assert engine == "out-of-core"
    assert f"{lines:,} order lines" in why


def test_validate_stages_when_the_lines_outgrow_memory(
    demo_source, tmp_path: Path, capsys, monkeypatch
) -> None:
    """``profiler validate`` prints the same counts either way."""
    from profiler import engine_choice
    from workbook.cli import main

    printed = []
    for memory in (None, 1024):
        if memory:
            monkeypatch.setattr(engine_choice, "physical_memory", lambda: 1024)
        out = tmp_path / f"out-{memory}"
        args = ["validate", "--data", str(demo_source.data_dir), "--out", str(out)]
        assert main([*args, "--as-of", TODAY]) == 0
        printed.append(capsys.readouterr().out.replace(str(out), "OUT"))
    assert printed[0] == printed[1]
    assert "order_lines" in printed[0] and "quarantined 0" in printed[0]


def test_order_lines_are_counted_or_estimated_from_the_file_itself(
    tmp_path: Path, monkeypatch
) -> None:
    """A small CSV is counted; a large one (past the sample) is estimated from its own bytes per
    line (within 5% here, where lines grow longer down the file); a .csv.gz from the compression
    ratio of its start (within 15%); the message says which."""
    import gzip

    from profiler import engine_choice

    folder = tmp_path / "small"
    folder.mkdir()
    rows = [f"O{i},C{i % 97},2024-01-{1 + i % 28:02d},{i * 1.25:.2f}" for i in range(69_576)]
    text = "order_id,customer_id,ordered_at,net_amount\n" + "\n".join(rows) + "\n"
    (folder / "order_lines.csv").write_text(text)
    assert engine_choice.order_line_count(folder) == (69_576, "counted")
    assert "69,576 order lines (counted) fit in memory" in choose_engine(folder)[1]
    monkeypatch.setattr(engine_choice, "SAMPLE_BYTES", 256 * 1024)
    lines, how = engine_choice.order_line_count(folder)
    assert how.startswith("estimated") and abs(lines - 69_576) < 0.05 * 69_576
    assert "about " in choose_engine(folder)[1]
    zipped = tmp_path / "zipped"
    zipped.mkdir()
    with gzip.open(zipped / "order_lines.csv.gz", "wt") as f:
        f.write(text)
    lines, how = engine_choice.order_line_count(zipped)
    assert how.startswith("estimated") and abs(lines - 69_576) < 0.15 * 69_576
    monkeypatch.setattr(engine_choice, "SAMPLE_BYTES", 64 * 1024**2)
    assert engine_choice.order_line_count(zipped) == (69_576, "counted")


def test_a_parquet_file_sorted_by_customer_is_split_evenly(tmp_path: Path) -> None:
    """Bucket edges come from every id of a Parquet file, so a file sorted by customer (its first
    batch holds the lowest ids only) still gives buckets of about equal size."""
    import numpy as np
    import pyarrow.parquet as pq

    customers = np.repeat(np.arange(1, 1601), 5)  # 1,600 customers, 5 lines each, sorted
    lines = pd.DataFrame(
        {
            "order_id": [
                f"O{c}-{k}" for c, k in zip(customers, np.tile(range(5), 1600), strict=True)
            ],
            "customer_id": customers,
            "ordered_at": "2024-05-01",
            "net_amount": 10.0,
        }
    )
    (tmp_path / "data").mkdir()
    lines.to_parquet(tmp_path / "data" / "order_lines.parquet", index=False)
    staged = stage_sources(tmp_path / "data", tmp_path / "stage", today=TODAY, batch_rows=1000)
    table = staged.staged["order_lines"]
    sizes = {}
    for part in table.parts:
        bucket = part.stem.rsplit("-", 1)[-1]
        sizes[bucket] = sizes.get(bucket, 0) + pq.read_metadata(part).num_rows
    assert len(table.edges) == 15 and len(sizes) == 16
    assert max(sizes.values()) <= 2 * min(sizes.values())
