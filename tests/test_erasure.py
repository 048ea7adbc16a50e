"""``profiler forget``: after erasing five customers and doing what the user would (rebuild,
refresh the workbook, take a snapshot), no byte of any output holds their ids, while a control
customer's id is still found (so the scan is real)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.ipc  # noqa: F401
import pyarrow.parquet as pq
import pytest

import profiler
from profiler import data_rights, managed, store
from profiler.demo import generate_demo
from profiler.errors import ProfilerError
from workbook.cli import main

TODAY = "2026-11-22"


def _id(n: object) -> str:
    return f"QZCUST{int(n):05d}X"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("erasure")
    data = root / "data"
    generate_demo(300, 5, data, file_format="csv")
    for path in data.glob("*.csv"):  # distinctive ids: a scan for them finds nothing else
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "customer_id" in frame.columns:
            frame["customer_id"] = [_id(v) if v else v for v in frame["customer_id"]]
            frame.to_csv(path, index=False)
    customers = pd.read_csv(data / "customers.csv", dtype=str)["customer_id"].tolist()
    campaign = pd.DataFrame(
        {
            "campaign": "spring",
            "customer_id": customers[:150],
            "group": ["treated", "control"] * 75,
            "channel": "email",
            "sent_at": "2026-03-01",
            "cost": "100",
            "audience": "spring.csv",
            "seed": "1",
        }
    )
    campaign.to_csv(data / "campaigns.csv", index=False)
    car = root / "car"
    profiler.build(data, car, engine="in-memory", today=TODAY)
    profiler.build(data, car, engine="in-memory", today=TODAY)  # two generations
    audience = root / "out" / "audience.csv"
    audience.parent.mkdir()
    assert main(["audience", "All customers", "--out", str(audience), "--car", str(car)]) == 0
    if not any(e["path"] == str(audience.resolve()) for e in managed.registered(car)):
        managed.register(car, audience, "audience", cohort="All customers")
    from profiler.query import QueryEngine
    from workbook.builder import build_workbook

    book = build_workbook(QueryEngine.open(car), root / "out" / "CP.xlsm", data_dir=data)
    in_audience = set(pd.read_csv(audience, dtype=str)["customer_id"])
    preferences = set(pd.read_csv(data / "preferences.csv", dtype=str)["customer_id"])
    lines = set(pd.read_csv(data / "order_lines.csv", dtype=str)["customer_id"])
    both = [c for c in customers[:150] if c in in_audience and c in preferences and c in lines]
    erased, control = both[:5], both[5]
    (root / "erase.csv").write_text("customer_id\n" + "\n".join(erased) + "\n")
    ledger_before = (data / "ledger.csv").read_bytes()
    assert main(["forget", "--customers", str(root / "erase.csv"), "--data", str(data),
                 "--car", str(car)]) == 0  # fmt: skip
    assert main(["refresh", str(book), "--car", str(car), "--data", str(data)]) == 0
    from workbook.snapshot import snapshot

    snapshot(book, root / "out" / "snap.xlsx")
    return {
        "root": root,
        "data": data,
        "car": car,
        "erased": erased,
        "control": control,
        "audience": audience,
        "book": book,
        "ledger_before": ledger_before,
    }


def _texts(path: Path) -> list[bytes]:
    """Every byte of a file, decompressed where it is a container, plus the values of Parquet
    and Arrow tables."""
    raw = path.read_bytes()
    out = [raw]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            out += [z.read(n) for n in z.namelist()]
    if path.suffix == ".parquet":
        out.append(str(pq.read_table(path).to_pylist()).encode())
    if path.suffix == ".arrow":
        with pa.memory_map(str(path)) as source:
            out.append(str(pa.ipc.open_file(source).read_all().to_pylist()).encode())
    return out


def _outputs(world: dict) -> list[Path]:
    files = [p for p in world["car"].rglob("*") if p.is_file()]
    files += [p for p in (world["root"] / "out").rglob("*") if p.is_file()]
    files += [world["data"] / "campaigns.csv", world["data"] / "erasures.csv"]
    return files


def test_no_output_holds_an_erased_id(world: dict) -> None:
    found_control = []
    for path in _outputs(world):
        for blob in _texts(path):
            for customer in world["erased"]:
                assert customer.encode() not in blob, f"{customer} found in {path}"
            if world["control"].encode() in blob:
                found_control.append(path.name)
    assert {"audience.csv", "campaigns.csv"} <= set(found_control)
    assert any(name.endswith(".parquet") for name in found_control)  # the CAR itself
    print(sorted(set(found_control)))


def test_only_the_rebuilt_generation_is_kept(world: dict) -> None:
    assert len(store.generations(world["car"])) == 1
    meta = store.open_generation(world["car"]).meta
    assert meta["data_rights"]["erased_customers_withheld"] == 5
    assert meta["data_rights"]["erasure_list"] == 5


def test_ledger_untouched_and_list_hashed(world: dict) -> None:
    assert (world["data"] / "ledger.csv").read_bytes() == world["ledger_before"]
    listed = data_rights.read_erasures(world["data"])
    assert set(listed) == {data_rights.customer_hash(c) for c in world["erased"]}


def test_forget_is_idempotent_and_no_rebuild_marks(world: dict, tmp_path: Path, capsys) -> None:
    # a copy of the CAR folder, forgotten again without a rebuild
    import shutil

    car = tmp_path / "car"
    shutil.copytree(world["car"], car)
    before = (world["data"] / "erasures.csv").read_bytes()
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(world["erased"][:2]) + "\n")
    assert main(["forget", "--customers", str(ids), "--data", str(world["data"]),
                 "--car", str(car), "--no-rebuild"]) == 0  # fmt: skip
    assert (world["data"] / "erasures.csv").read_bytes() == before
    assert "0 added, 2 already there" in capsys.readouterr().out
    with pytest.raises(ProfilerError, match="holds customers erased on .*: run profiler build"):
        store.open_generation(car)
    assert main(["summary", "--car", str(car)]) == 1
    assert "run profiler build" in capsys.readouterr().err.splitlines()[-1]


def test_bad_id_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("customer_id,x\nA,1\n,2\n")
    with pytest.raises(ProfilerError, match=r"ids.csv: row 3, column customer_id"):
        data_rights.read_ids(path)


def test_meta_json_is_readable(world: dict) -> None:
    meta = json.loads(
        (world["car"] / store.current_name(world["car"]) / "car_meta.json").read_text()
    )
    assert meta["data_rights"]["retention_years"] is None


def test_the_rebuild_keeps_the_builds_features_or_refuses(
    world: dict, tmp_path: Path, capsys
) -> None:
    """A CAR built with its own features file is rebuilt with it (car_meta.json records it);
    when that file is gone, forget says so in one line and the folder stays refused."""
    import shutil

    import profiler
    from profiler.features import DEFAULT_FEATURES

    data = tmp_path / "data"
    shutil.copytree(world["data"], data)
    features = tmp_path / "features.yaml"
    text = DEFAULT_FEATURES.read_text(encoding="utf-8")
    features.write_text(text.replace("new_days: 90", "new_days: 60"), encoding="utf-8")
    car = tmp_path / "car"
    profiler.build(data, car, engine="in-memory", features=features)
    ids = tmp_path / "ids.txt"
    ids.write_text(world["control"] + "\n")

    def meta() -> dict:
        return json.loads((car / store.current_name(car) / "car_meta.json").read_text())

    assert main(["forget", "--customers", str(ids), "--data", str(data), "--car", str(car)]) == 0
    assert meta()["features"] == str(features.resolve())
    assert meta()["lifecycle"]["new_days"] == 60
    features.unlink()
    ids.write_text(world["erased"][0] + "\n")
    assert main(["forget", "--customers", str(ids), "--data", str(data), "--car", str(car)]) == 1
    assert "which is gone" in capsys.readouterr().err.splitlines()[-1]
    with pytest.raises(ProfilerError, match="holds customers erased on"):
        store.open_generation(car)
