"""``profiler subject-access``: one customer's source rows (as many as the data holds for them),
every CAR column with its definition, their cohorts, audiences and campaigns, in JSON and in a
workbook whose text is never a formula; an unknown id is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

import profiler
from profiler import managed, store
from profiler.contract import TABLES
from profiler.data_rights import add_erasures
from profiler.demo import generate_demo
from profiler.subject_access import TITLES
from workbook.cli import main

TODAY = "2026-11-22"
FORMULA = '=HYPERLINK("http://example.com","x")'


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A 300-customer demo CAR and its data folder with a campaigns table and, for one
    customer, a name that looks like a formula (the CAR holds no name: it is built as is)."""
    root = tmp_path_factory.mktemp("subject-access")
    data, car = root / "data", root / "car"
    generate_demo(300, 5, data)
    profiler.build(data, car, engine="in-memory", today=TODAY)
    customers = pd.read_parquet(data / "customers.parquet")
    who = str(customers["customer_id"].iloc[7])
    customers.loc[customers["customer_id"].astype(str) == who, "name"] = FORMULA
    customers.to_parquet(data / "customers.parquet", index=False)
    (data / "campaigns.parquet").unlink()  # the demo's campaigns, replaced by a hand-made one
    pd.DataFrame(
        {
            "campaign": ["spring", "spring"],
            "customer_id": [who, str(customers["customer_id"].iloc[8])],
            "group": ["treated", "control"],
            "channel": ["email", "email"],
            "sent_at": ["2026-03-01", "2026-03-01"],
            "cost": [100.0, 100.0],
            "audience": ["spring.csv", "spring.csv"],
            "seed": [1, 1],
        }
    ).to_csv(data / "campaigns.csv", index=False)
    return data, car, who


def _rows_in_data(data: Path, who: str) -> dict[str, int]:
    counts = {}
    for name, table in TABLES.items():
        if "customer_id" not in table.column_names:
            continue
        files = list(data.glob(f"{name}.parquet")) + list(data.glob(f"{name}.csv"))
        for f in files:
            frame = pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f, dtype=str)
            n = int((frame["customer_id"].astype(str) == who).sum())
            if n:
                counts[name] = n
    return counts


def test_the_json_holds_everything(built, tmp_path: Path, capsys) -> None:
    data, car, who = built
    audience = tmp_path / "spring.csv"
    pd.DataFrame({"customer_id": [who, "x"]}).to_csv(audience, index=False)
    gone = tmp_path / "gone.csv"
    pd.DataFrame({"customer_id": [who]}).to_csv(gone, index=False)
    managed.register(car, audience, "audience", cohort="Buyers")
    managed.register(car, gone, "audience", cohort="Lapsed")
    gone.unlink()
    out = tmp_path / "sa.json"
    args = ["subject-access", who, "--out", str(out), "--car", str(car), "--data", str(data)]
    assert main(args) == 0
    assert "Personal data" in capsys.readouterr().out
    got = json.loads(out.read_text(encoding="utf-8"))
    counts = {t: len(rows) for t, rows in got["source_rows"].items()}
    assert counts == _rows_in_data(data, who) and counts["order_lines"] > 1
    assert got["source_rows"]["customers"][0]["name"] == FORMULA  # personal data: it is theirs
    columns = {r["column"]: r for r in got["car_columns"]}
    assert set(columns) == set(store.open_generation(car).car_columns())
    assert columns["spend_ltd"]["definition"].startswith("Net amount paid")
    assert columns["spend_ltd"]["in words"].startswith("£")
    cohorts = {r["cohort"] for r in got["cohorts"]}
    assert {"All customers", "Buyers"} <= cohorts
    audiences = {r["audience"]: r["status"] for r in got["audiences"]}
    assert audiences == {"spring.csv": "in it", "gone.csv": "file gone: cannot be checked"}
    assert [r["campaign"] for r in got["campaigns"]] == ["spring"]
    consent = {r["item"]: r["value"] for r in got["consent"]}
    assert consent["profiling_opt_out"] is False and "contactable" in consent
    assert any(r["column"] == "strategy_segment" for r in got["profile"])


def test_the_workbook_has_a_sheet_per_section_and_text_stays_text(built, tmp_path: Path) -> None:
    data, car, who = built
    out = tmp_path / "sa.xlsx"
    args = ["subject-access", who, "--out", str(out), "--car", str(car), "--data", str(data)]
    assert main(args) == 0
    book = load_workbook(out)
    assert book.sheetnames == list(TITLES.values())
    cells = [c for row in book["Source data"].iter_rows() for c in row if c.value == FORMULA]
    assert cells and all(c.data_type == "s" for c in cells)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sa.xlsx"]  # no temporary left


def test_an_unknown_id_is_one_line(built, tmp_path: Path, capsys) -> None:
    data, car, _ = built
    out = tmp_path / "no.json"
    args = ["subject-access", "no-such-id", "--out", str(out), "--car", str(car)]
    assert main([*args, "--data", str(data)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"Error: no customer no-such-id in CAR {car} or data {data}"
    assert not out.exists()
    assert main([*args[:-2], "--car", str(car), "--data", str(data), "--out", "x.csv"]) == 1
    assert ".json or .xlsx" in capsys.readouterr().err


def test_a_copy_of_the_data_without_the_customer_says_so(built, tmp_path: Path) -> None:
    """A customer in the CAR whose rows the data no longer holds: the CAR part, no source rows."""
    data, car, who = built
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    for name in ("customers", "order_lines", "preferences", "surveys", "interactions"):
        for f in copy.glob(f"{name}.parquet"):
            frame = pd.read_parquet(f)
            frame[frame["customer_id"].astype(str) != who].to_parquet(f, index=False)
    from profiler.subject_access import subject_access

    report = subject_access(who, car, copy)
    assert "customers" not in report.source and len(report.sections["car_columns"]) > 100


def test_an_erased_customer_is_said_to_be_erased_and_nothing_is_written(
    built, tmp_path: Path, capsys
) -> None:
    data, car, who = built
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    add_erasures(copy, [who], "2026-12-01")
    out = tmp_path / "sa.json"
    args = ["subject-access", who, "--out", str(out), "--car", str(car), "--data", str(copy)]
    assert main(args) == 1
    said = capsys.readouterr()
    assert "was erased on 2026-12-01" in said.err + said.out
    assert "Traceback" not in said.err and not out.exists()
