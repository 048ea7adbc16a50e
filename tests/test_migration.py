"""Segment migration (issue 24.2): membership at a past date is what a CAR built as of that
date holds, and the matrix's rows and columns sum to the segment sizes at each date."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import profiler
from profiler import cells, migration, views
from profiler.car import build_car
from profiler.errors import ProfilerError
from profiler.loading import load_sources
from profiler.query import QueryEngine
from tests.built import BARE_COHORTS
from tests.conftest import DEMO_TODAY
from workbook.cli.app import main

AXES = list(migration.AXES)
DATES = ["2024-12-31", "2025-09-30"]


def labels_of(values: pd.Series | pd.Categorical) -> np.ndarray:
    """Labels as text, a missing segment as "no segment"."""
    return pd.Series(np.asarray(values, dtype=object)).fillna(migration.NO_SEGMENT).to_numpy()


@pytest.fixture(scope="module")
def cars(demo_source) -> dict[str, pd.DataFrame]:
    """The demo CAR built as of each date, as ``build_car`` builds it."""
    return {day: build_car(demo_source, day).to_frame() for day in DATES}


# --- membership at P = the segment column of build_car(source, P) -----------------------------


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("day", DATES)
def test_membership_at_a_date_equals_the_car_built_then(demo_source, cars, axis, day) -> None:
    car = cars[day]
    member = migration.membership_at(demo_source, day, axis)
    assert np.array_equal(member.customer_ids, car["customer_id"].to_numpy())
    expected = labels_of(car[migration.AXES[axis]])
    assert (labels_of(member.segment) == expected).all()
    assert np.allclose(member.spend_l12m, car["spend_l12m"].to_numpy(dtype=float), equal_nan=True)
    if axis == "strategy":
        assert len(set(expected) - {migration.NO_SEGMENT}) > 9  # the 27-cell segments


@pytest.mark.parametrize("axis", AXES)
def test_matrix_sums_to_the_segment_sizes_at_each_date(
    demo_data_dir, demo_car_dir, cars, axis
) -> None:
    engine = QueryEngine.open(demo_car_dir)
    day = DATES[0]
    result = views.migration(engine, axis, day, None, data=demo_data_dir)
    rows, cols = result.sizes()
    column = migration.AXES[axis]
    before = pd.Series(labels_of(cars[day][column])).value_counts()
    after = pd.Series(labels_of(engine.ensure_columns([column])[column])).value_counts()
    new = len(engine.car) - len(cars[day])
    assert new > 0 and rows[migration.NOT_YET] == new
    assert rows.drop(migration.NOT_YET)[rows.drop(migration.NOT_YET) > 0].to_dict() == (
        before.to_dict()
    )
    assert cols[cols > 0].to_dict() == after.to_dict()
    assert migration.NOT_YET not in result.customers.columns  # nobody leaves the CAR
    # rows and columns in one order: the stayers on the diagonal
    extra = (migration.NO_SEGMENT, migration.NOT_YET)
    segments = [c for c in result.customers.columns if c not in extra]
    assert list(result.customers.index[: len(segments)]) == segments
    # spend: net spend in the 12 months to the later date, summed by column = the CAR's
    spend = engine.ensure_columns(["spend_l12m"])["spend_l12m"]
    assert result.spend.to_numpy().sum() == pytest.approx(spend.sum())
    assert "12 months to" in result.spend_label and f"{engine.as_of:%Y-%m-%d}" in result.title


def test_matrix_between_two_past_dates_equals_a_crosstab_of_the_two_cars(
    demo_data_dir, demo_car_dir, cars
) -> None:
    engine = QueryEngine.open(demo_car_dir)
    result = views.migration(engine, "lifecycle", DATES[0], DATES[1], data=demo_data_dir)
    first, second = (cars[d].set_index("customer_id")["lifecycle_stage"] for d in DATES)
    ids = second.index
    a = first.reindex(ids).astype(object).fillna(migration.NOT_YET)
    expected = pd.crosstab(a.to_numpy(), second.astype(object).to_numpy())
    got = result.customers.loc[expected.index, expected.columns]
    assert (got.to_numpy() == expected.to_numpy()).all()
    assert result.customers.to_numpy().sum() == len(ids)


# --- brute force on hand-made memberships --------------------------------------------------------


def hand(day: str, ids: list[str], segs: list[str | None], spend: list[float]):
    categories = ["A", "B", "C"]
    return migration.Membership(
        "value_tier",
        pd.Timestamp(day),
        np.array(ids, dtype=object),
        pd.Categorical(segs, categories=categories),
        np.array(spend, dtype=float),
    )


def test_matrix_by_brute_force_on_hand_made_memberships() -> None:
    before = hand("2024-01-01", ["1", "2", "3", "4"], ["A", "A", "B", None], [1, 2, 3, 4])
    after = hand(
        "2025-01-01",
        ["1", "2", "3", "4", "5", "6"],
        ["A", "B", "B", "C", "A", None],
        [10.0, 20.0, 30.0, 40.0, 50.0, np.nan],
    )
    result = migration.migration_matrix(before, after, min_size=2)
    # by hand: 1 A->A, 2 A->B, 3 B->B, 4 none->C, 5 new->A, 6 new->none
    expected = pd.DataFrame(
        [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]],
        index=["A", "B", "C", migration.NO_SEGMENT, migration.NOT_YET],
        columns=["A", "B", "C", migration.NO_SEGMENT],
    )
    assert (result.customers.to_numpy() == expected.to_numpy()).all()
    assert list(result.customers.index) == list(expected.index)
    assert list(result.customers.columns) == list(expected.columns)
    assert result.spend.loc["A", "B"] == 20 and result.spend.loc[migration.NOT_YET, "A"] == 50
    assert result.spend.loc[migration.NOT_YET, migration.NO_SEGMENT] == 0  # NaN spend: none
    assert result.small.loc["A", "A"] and not result.small.loc["C", "C"]  # 0 is not small
    tidy = result.tidy()
    assert len(tidy) == 20 and tidy["customers"].sum() == 6


# --- a bare four-column export, and optional tables missing ----------------------------------


@pytest.fixture(scope="module")
def bare_dir(demo_data_dir, tmp_path_factory) -> Path:
    """A few hundred of the demo's customers as a bare four-column export."""
    lines = pq.read_table(demo_data_dir / "order_lines.parquet").to_pandas()
    some = sorted(lines["customer_id"].unique())[:400]
    lines = lines[lines["customer_id"].isin(some)]
    folder = tmp_path_factory.mktemp("bare-migration")
    lines[["order_id", "customer_id", "ordered_at", "net_amount"]].to_csv(
        folder / "order_lines.csv", index=False
    )
    return folder


@pytest.mark.parametrize("axis", AXES)
def test_bare_export_migrates_and_says_strategy_has_nine_cells(bare_dir, tmp_path, axis) -> None:
    source = load_sources(bare_dir, today=DEMO_TODAY)
    assert 200 < source.tables["order_lines"]["customer_id"].nunique() <= 400
    day = DATES[0]
    member = migration.membership_at(source, day, axis)
    car = build_car(source, day).to_frame()
    assert (labels_of(member.segment) == labels_of(car[migration.AXES[axis]])).all()
    out = tmp_path / "car"
    profiler.build(bare_dir, out, engine="in-memory", today=DEMO_TODAY)
    engine = QueryEngine.open(out, cohort_spec=BARE_COHORTS)
    result = views.migration(engine, axis, day, data=bare_dir)
    rows, cols = result.sizes()
    assert rows.sum() == cols.sum() == len(engine.car)
    if axis == "strategy":
        assert any("9 cells" in note for note in result.notes)
        assert len(result.customers.columns) <= 9 + 1  # 9 cells (+ prospects: no segment)


@pytest.mark.parametrize(
    "missing",
    ["interactions", "customers", "surveys", "preferences", "products", "accounts", "enrichment"],
)
def test_optional_table_missing(demo_data_dir, tmp_path, missing) -> None:
    folder = tmp_path / "data"
    shutil.copytree(demo_data_dir, folder)
    (folder / f"{missing}.parquet").unlink()
    source = load_sources(folder, today=DEMO_TODAY)
    day = DATES[1]
    car = build_car(source, day).to_frame()
    member = migration.membership_at(source, day, "strategy")
    assert (labels_of(member.segment) == labels_of(car["strategy_segment"])).all()
    assert any("9 cells" in n for n in member.notes) == (missing == "interactions")


# --- mistakes: one line each --------------------------------------------------------------------


def test_mistakes_are_one_line(demo_car_dir, demo_data_dir) -> None:
    engine = QueryEngine.open(demo_car_dir)
    cases = [
        (("lifecycle", "2024-12-31"), {}, "--data DIR"),
        (("segment", "2024-12-31"), {"data": demo_data_dir}, "expected one of strategy"),
        (("lifecycle", "2099-01-01"), {"data": demo_data_dir}, "must be before"),
        (("lifecycle", "2024-12-31", "2099-01-01"), {"data": demo_data_dir}, "after the CAR's"),
        (("lifecycle", "31/12/2024"), {"data": demo_data_dir}, "expected YYYY-MM-DD"),
        (("lifecycle", "2024-12-31"), {"data": "/no/such/folder"}, "not found"),
    ]
    for args, kwargs, words in cases:
        with pytest.raises(ProfilerError, match=words.replace("(", r"\(")) as err:
            views.migration(engine, *args, **kwargs)
        assert "\n" not in str(err.value)


# --- command line and Excel function -----------------------------------------------------------


def test_command_prints_the_matrix_csv_and_json(demo_car_dir, demo_data_dir, capsys) -> None:
    base = ["migration", "--car", str(demo_car_dir), "--data", str(demo_data_dir)]
    assert main([*base, "--axis", "lifecycle", "--from", DATES[0]]) == 0
    out = capsys.readouterr().out
    assert "Migration by lifecycle stage: rows at 2024-12-31" in out
    assert "not a customer yet" in out and "Net spend (GBP) in the 12 months to" in out
    assert main([*base, "--axis", "value_tier", "--from", DATES[0], "--csv"]) == 0
    frame = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert list(frame.columns) == ["from", "to", "customers", "spend_l12m_to_end", "small"]
    assert frame["customers"].sum() == len(QueryEngine.open(demo_car_dir).car)
    assert main([*base, "--axis", "strategy", "--from", DATES[0], "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["from"] == DATES[0] and payload["min_cohort_size"] == 10
    assert (
        main(["migration", "--car", str(demo_car_dir), "--axis", "strategy", "--from", DATES[0]])
        == 1
    )
    assert "--data DIR" in capsys.readouterr().err
    assert main(["migration", "--help"]) == 0


def test_cell_function_marks_small_cells(demo_car_dir, demo_data_dir) -> None:
    k = QueryEngine.open(demo_car_dir).cohorts.min_size
    grid = cells.migration("lifecycle", DATES[0], None, "customers", demo_car_dir, demo_data_dir)
    assert grid[0][0].startswith(f"{DATES[0]} \\ ") and grid[0][1] == "prospect"
    values = [v for row in grid[1:] for v in row[1:]]
    assert f"n<{k}" in values and all(isinstance(v, int) or v == f"n<{k}" for v in values)
    spend = cells.migration("lifecycle", 45657.0, None, "spend", demo_car_dir, demo_data_dir)
    assert spend[0][0].startswith("2024-12-31") and "12 months" in spend[0][0]  # Excel serial
    assert cells.migration("nope", DATES[0], car=demo_car_dir).startswith("#ERROR: Unknown")


# --- the Migration sheet, as LibreOffice opens it -------------------------------------------------


def test_migration_sheet_shows_the_views_matrix(
    demo_car_dir, demo_data_dir, demo_workbook, tmp_path
) -> None:
    from openpyxl import load_workbook

    from tests import libreoffice
    from workbook.builder import build_workbook

    engine = QueryEngine.open(demo_car_dir)
    resaved = libreoffice.convert(demo_workbook, "xlsx", tmp_path / "lo")
    rows = list(load_workbook(resaved, data_only=True)["Migration"].iter_rows(values_only=True))
    start = f"{engine.as_of - pd.DateOffset(years=1):%Y-%m-%d}"
    assert [r[1] for r in rows[3:6]] == ["strategy", start, f"{engine.as_of:%Y-%m-%d}"]
    result = views.migration(engine, "strategy", start, data=demo_data_dir)
    at = next(i for i, r in enumerate(rows) if r[0] == f"{start} \\ {engine.as_of:%Y-%m-%d}")
    header = [c for c in rows[at][1:] if c is not None]
    assert header == [str(c) for c in result.customers.columns]
    shown = [list(r[1 : len(header) + 1]) for r in rows[at + 1 : at + 1 + len(result.customers)]]
    assert shown == result.customers.to_numpy().tolist()
    assert [r[0] for r in rows[at + 1 : at + 1 + len(result.customers)]] == list(
        result.customers.index
    )
    # without a data folder the sheet says what it needs instead of failing
    bare = build_workbook(engine, tmp_path / "no-data" / "Customer_Profiler.xlsm")
    texts = [c for r in load_workbook(bare)["Migration"].iter_rows(values_only=True) for c in r]
    assert any(isinstance(c, str) and "PROFILER_DATA" in c for c in texts)


def test_a_car_built_with_other_definitions_is_refused(
    demo_car_dir, demo_data_dir, monkeypatch
) -> None:
    engine = QueryEngine.open(demo_car_dir)
    # the CAR's own hash and the one the current definitions give agree ...
    car_hash = views._definition_hash(engine, "value_tier")
    member = migration.membership_from(demo_data_dir, pd.Timestamp(DATES[0]), "value_tier")
    assert len(car_hash) == 12 and member.definition_hash == car_hash
    # ... and a CAR whose value tiers were defined otherwise is one line, not wrong numbers
    monkeypatch.setattr(views, "_definition_hash", lambda engine, column: "0123456789ab")
    with pytest.raises(ProfilerError, match="other definitions"):
        views.migration(engine, "value_tier", DATES[0], data=demo_data_dir)
