"""The erasure list and the retention period: rows withheld before any rule, in every engine."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from profiler import data_rights
from profiler.errors import ContractError
from profiler.load_report import load_counts
from profiler.loading import load_sources
from profiler.staging import stage_sources
from tests.conftest import write_table

TODAY = "2026-06-30"


def _line(order: str, customer: str, when: str, amount: str = "10") -> dict:
    return {"order_id": order, "customer_id": customer, "ordered_at": when, "net_amount": amount}


def _folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    write_table(
        data,
        "order_lines",
        [
            _line("A", "c1", "2024-06-30"),  # exactly on the 2-year cutoff: kept
            _line("B", "c1", "2024-06-29"),  # the day before: withheld
            _line("E", "c4", "2025-03-01", amount="notanumber"),  # quarantined
            _line("C", "c2", "2025-01-01"),
            _line("D", "erased-7", "2025-02-01", amount="notanumber"),  # erased: not quarantined
        ],
    )
    write_table(data, "customers", [{"customer_id": c} for c in ("c1", "c2", "erased-7", "c4")])
    (data / "privacy.yaml").write_text("retention_years: 2\n", encoding="utf-8")
    data_rights.add_erasures(data, ["erased-7"], "2026-06-01")
    return data


def test_withheld_rows_are_not_quarantined_and_counts_add_up(tmp_path: Path) -> None:
    source = load_sources(_folder(tmp_path), today=TODAY)
    lines = source.reports["order_lines"]
    assert lines.withheld == {"erased customer": 1, "older than the retention period": 1}
    assert lines.rows_read == 5 == lines.accepted + lines.quarantined + 1 + 1
    assert sorted(source.tables["order_lines"]["order_id"]) == ["A", "C"]
    assert source.quarantine["row"].tolist() == [3]  # only E; D (erased) never reaches it
    assert source.reports["customers"].withheld == {"erased customer": 1}
    assert "erased-7" not in set(source.tables["customers"]["customer_id"])
    counts = load_counts(source).set_index("table")
    assert counts.loc["order_lines", "withheld"] == 2


def test_cutoff_boundary_day(tmp_path: Path) -> None:
    assert data_rights.retention_cutoff(pd.Timestamp(TODAY), 2) == pd.Timestamp("2024-06-30")
    source = load_sources(_folder(tmp_path), today=TODAY)
    kept = source.tables["order_lines"]
    assert pd.Timestamp("2024-06-30") in set(kept["ordered_at"].dt.normalize())


def test_out_of_core_withholds_the_same(tmp_path: Path) -> None:
    data = _folder(tmp_path)
    whole = load_sources(data, today=TODAY)
    staged = stage_sources(data, tmp_path / "stage", today=TODAY, batch_rows=3)
    assert staged.reports["order_lines"].withheld == whole.reports["order_lines"].withheld
    assert staged.reports["order_lines"].accepted == whole.reports["order_lines"].accepted
    parts = pd.concat(pq.read_table(p).to_pandas() for p in staged.staged["order_lines"].parts)
    assert sorted(parts["order_id"]) == ["A", "C"]
    assert staged.quarantine["row"].tolist() == whole.quarantine["row"].tolist()


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "true", "[3]"])
def test_bad_retention_value_is_one_line(tmp_path: Path, value: str) -> None:
    data = _folder(tmp_path)
    (data / "privacy.yaml").write_text(f"retention_years: {value}\n", encoding="utf-8")
    with pytest.raises(ContractError) as err:
        load_sources(data, today=TODAY)
    message = str(err.value)
    assert "privacy.yaml" in message and "retention_years" in message and "\n" not in message


def test_erasure_list_holds_hashes_only(tmp_path: Path) -> None:
    data = _folder(tmp_path)
    text = (data / "erasures.csv").read_text(encoding="utf-8")
    assert "erased-7" not in text
    digest = hashlib.sha256(b"customer-profiler-erasure:erased-7").hexdigest()
    assert digest in text and "2026-06-01" in text
    assert data_rights.add_erasures(data, ["erased-7"], "2026-06-02") == 0  # idempotent
    assert (data / "erasures.csv").read_text(encoding="utf-8") == text


def test_integer_ids_hash_the_same_as_text() -> None:
    assert data_rights.customer_hash(42) == data_rights.customer_hash("42")
    assert data_rights.customer_hash(42.0) == data_rights.customer_hash("42")


def test_engines_build_the_same_car_with_withheld_rows(tmp_path: Path) -> None:
    """In-memory and out-of-core builds withhold the same rows: identical CARs, and the meta,
    dictionary and About sheet say what the retention period left out."""
    import profiler
    from profiler import store
    from profiler.demo import generate_demo
    from tests.car_checks import assert_same_frames

    data = tmp_path / "data"
    generate_demo(200, 3, data, file_format="csv")
    (data / "privacy.yaml").write_text("retention_years: 2\n", encoding="utf-8")
    data_rights.add_erasures(data, [1, 2, 3], "2026-06-01")
    cars = {}
    for engine in ("in-memory", "out-of-core"):
        cars[engine] = tmp_path / engine
        profiler.build(data, cars[engine], engine=engine, today="2026-11-22", as_of="2026-06-30")
    assert_same_frames(store.read_car(cars["in-memory"]), store.read_car(cars["out-of-core"]))
    car = store.read_car(cars["in-memory"])
    assert not {1, 2, 3} & set(car["customer_id"])
    meta = store.open_generation(cars["out-of-core"]).meta["data_rights"]
    assert meta["retention_years"] == 2 and meta["retention_cutoff"] == "2024-11-22"
    assert meta["erased_customers_withheld"] == 3
    assert meta["withheld_rows"]["order_lines"]["older than the retention period"] > 0
    generation = store.open_generation(cars["in-memory"])
    dictionary = generation.read_csv(store.DICTIONARY, keep_default_na=False)
    note = dictionary.loc[dictionary["family"] == "retention", "description"].tolist()
    assert note and note[0].startswith("Order lines before 2024-11-22 are left out")
    from profiler.query import QueryEngine
    from workbook.about import about_facts

    facts = dict(about_facts(QueryEngine.open(cars["in-memory"]), {"sheets": [{}]}, {}))
    assert facts["Retention period"] == (
        "Order lines before 2024-11-22 are left out: the data's retention period is 2 years."
    )


def test_default_day_counts_from_the_calendar_day() -> None:
    from profiler.loading import today_or_default

    now = pd.Timestamp.now().normalize()
    assert data_rights.retention_cutoff(today_or_default(None), 1) == now - pd.DateOffset(years=1)
