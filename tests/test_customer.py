"""The single-customer view (issue 24.6): one customer's CAR row in plain words, on the command
line, the Customer sheet and CP_CUSTOMER; personal data only behind the workbook's setting (or
the command's flag) and the consented contact table; never in a snapshot."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

import profiler
from profiler import cells, store
from profiler.customer import (
    CONTACT,
    ITEMS,
    NO_CONSENT,
    TOPIC_PREFIX,
    UnknownCustomer,
    _words,
    customer_profile,
)
from profiler.query import QueryEngine
from tests import car_data, libreoffice
from tests.conftest import write_table
from udfs import profiler_udfs
from workbook.book import FileBook
from workbook.cli import main
from workbook.content import load_layout, sheet_content
from workbook.inputs import input_cells
from workbook.leaks import scan_file
from workbook.macros import refresh_all
from workbook.snapshot import snapshot

BY_COLUMN = {item.column: item for item in ITEMS}

SHEET_HEADER = ["Section", "Item", "Value", "When", "CAR column", "Definition"]  # CP_CUSTOMER too


def build(
    folder: Path,
    tables: dict[str, list[dict]],
    as_of: str | None = None,
    engine: str = "in-memory",
) -> Path:
    """Write hand-made tables and build a CAR folder from them, as 'profiler build' does."""
    data = folder / "data"
    for name, rows in tables.items():
        write_table(data, name, rows)
    profiler.build(data, folder / "car", as_of=as_of, engine=engine, today="2026-01-01")
    return folder / "car"


@pytest.fixture(scope="module")
def demo(demo_car_dir: Path) -> QueryEngine:
    return QueryEngine.open(demo_car_dir)


@pytest.fixture(scope="module")
def demo_car(demo_car_dir: Path) -> pd.DataFrame:
    car = store.read_car(demo_car_dir)
    return car.set_index(car["customer_id"].astype(str))


@pytest.fixture(scope="module")
def dictionary(demo_car_dir: Path) -> dict[str, str]:
    table = store.open_generation(demo_car_dir).read_csv(store.DICTIONARY, keep_default_na=False)
    return dict(zip(table["column"], table["description"], strict=True))


@pytest.fixture(scope="module")
def small_car(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CAR tests' five hand-made customers, every table given."""
    return build(tmp_path_factory.mktemp("small"), car_data.TABLES, car_data.AS_OF)


@pytest.fixture(scope="module")
def contacts(demo_car_dir: Path) -> pd.DataFrame:
    table = store.open_generation(demo_car_dir).read_frame(store.CONTACTS)
    return table.assign(customer_id=table["customer_id"].astype(str))


def expected_value(raw: object) -> object:
    """A CAR cell as the view carries it (the brute-force side)."""
    if not isinstance(raw, (str, bool, np.bool_)) and pd.isna(raw):
        return None
    if isinstance(raw, pd.Timestamp):
        return None if pd.isna(raw) else f"{raw:%Y-%m-%d}"
    if isinstance(raw, (bool, np.bool_)):
        return bool(raw)
    if isinstance(raw, (int, float, np.integer, np.floating)):
        return float(raw)
    return str(raw)


def check_against_car(profile, car: pd.DataFrame, definitions: dict[str, str] | None) -> None:
    """Every row equals the CAR row it names; every item the CAR holds is shown; the service
    topics are exactly those raised."""
    d = f"{profile.as_of:%Y-%m-%d}"
    row = car.loc[profile.customer_id]
    shown = profile.rows.set_index("column")
    for item in ITEMS:
        assert (item.column in shown.index) == (item.column in car.columns), item.column
    for r in profile.rows.to_dict("records"):  # (iterrows would make None a NaN)
        column = r["column"]
        if r["section"] == CONTACT:
            continue
        want = expected_value(row[column])
        if isinstance(want, float):
            assert r["value"] == pytest.approx(want, rel=1e-12), column
        else:
            assert r["value"] == want, column
        if want is None:
            assert r["text"] == BY_COLUMN[column].missing, column
        if definitions is not None:
            assert r["definition"] == definitions[column], column
        kind = BY_COLUMN[column].when if column in BY_COLUMN else "ltd"
        assert r["when"] == {"asof": f"as of {d}", "l12m": f"12 months to {d}"}.get(
            kind, f"lifetime to {d}"
        )
    topics = [c for c in car.columns if c.startswith(TOPIC_PREFIX) and c.endswith("_ltd")]
    raised = {c for c in topics if row[c] > 0}
    assert {c for c in shown.index if c.startswith(TOPIC_PREFIX)} == raised


# -- the values are the CAR's -----------------------------------------------------------------


def test_every_value_is_the_car_row(
    demo: QueryEngine, demo_car: pd.DataFrame, dictionary: dict[str, str]
) -> None:
    rng = np.random.default_rng(24)
    ids = list(rng.choice(demo_car.index.to_numpy(), 25, replace=False))
    ids.append(demo_car["spend_ltd"].idxmax())
    ids += list(demo_car.index[demo_car["orders_ltd"] == 0][:2])  # prospects, if any
    ids += list(demo_car.index[demo_car["contactable"].isna()][:2])  # no consent record
    for customer_id in ids:
        profile = customer_profile(demo, customer_id)
        assert profile.customer_id == customer_id and profile.as_of == demo.as_of
        check_against_car(profile, demo_car, dictionary)
        assert CONTACT not in set(profile.rows["section"])  # not asked: no personal data


def test_hand_made_customers_and_plain_words(small_car: Path) -> None:
    engine = QueryEngine.open(small_car)
    car = store.read_car(small_car)
    car = car.set_index(car["customer_id"].astype(str))
    for customer_id in car.index:
        check_against_car(customer_profile(engine, customer_id), car, None)
    one = customer_profile(engine, "1").rows.set_index("column")
    assert one.loc["opt_in_email", "text"] == "Yes" and one.loc["opt_in_sms", "text"] == "No"
    assert one.loc["spend_ltd", "text"] == f"£{car.loc['1', 'spend_ltd']:,.2f}"
    assert one.loc["lifecycle_stage", "text"] == car.loc["1", "lifecycle_stage"]
    assert one.loc["lifecycle_stage", "when"] == f"as of {car_data.AS_OF}"
    three = customer_profile(engine, "3").rows.set_index("column")
    assert three.loc["contactable", "text"] == "No"
    unknown_consent = [c for c in car.index if pd.isna(car.loc[c, "contactable"])]
    for customer_id in unknown_consent:  # no consent record known at D
        rows = customer_profile(engine, customer_id).rows.set_index("column")
        assert rows.loc["contactable", "text"] == NO_CONSENT


@pytest.mark.parametrize(
    ("value", "unit", "missing", "words"),
    [
        (1234.5, "gbp", "", "£1,234.50"),
        (0.8111, "probability", "", "81.1%"),
        (0.25, "ratio", "", "25.0%"),
        (1.0, "days", "", "1 day"),
        (424.0, "days", "", "424 days"),
        (38.0, "count", "", "38"),
        (2.6371, "purchases", "", "2.64"),
        (4.25, "score", "", "4.2"),
        (True, "flag", "", "Yes"),
        (False, "flag", "", "No"),
        (None, "flag", NO_CONSENT, NO_CONSENT),
        ("none", "category", "no answer", "no answer"),  # nps_class of no answer
        ("Rising stars", "category", "", "Rising stars"),
        ("2026-06-06", "datetime", "", "2026-06-06"),
    ],
)
def test_plain_words(value: object, unit: str, missing: str, words: str) -> None:
    assert _words(value, unit, missing) == words


# -- unknown ids ----------------------------------------------------------------------------------


def test_unknown_id_is_one_line_naming_no_other_customer(
    demo: QueryEngine, demo_car_dir: Path, demo_car: pd.DataFrame, capsys
) -> None:
    known = set(demo_car.index)
    for typed in ("999999", "17x", "abc", "1 7 0 0 0"):
        with pytest.raises(UnknownCustomer) as err:
            customer_profile(demo, typed)
        message = str(err.value)
        assert "\n" not in message and message.startswith(f"Unknown customer id '{typed}'")
        assert "Did you mean" not in message
        assert not (set(re.findall(r"'([^']*)'", message)) - {typed}) & known
    some = sorted(known, key=len)[-1]
    with pytest.raises(UnknownCustomer, match=rf"Did you mean '{some}'\?"):
        customer_profile(demo, f" 00{some} ")  # the same id, but for spaces and zeros
    with pytest.raises(UnknownCustomer, match="No customer id given"):
        customer_profile(demo, "  ")
    assert main(["customer", "999999", "--car", str(demo_car_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("Error: Unknown customer id '999999'")
    assert cells.customer("999999", str(demo_car_dir)).startswith("#ERROR: Unknown customer id")
    spec = next(s for s in load_layout()["sheets"] if s.get("view") == "customer")
    note = sheet_content(demo, spec, {"CustomerId": "999999"}).blocks[0].frame
    assert note.iloc[0, 0].startswith("Unknown customer id '999999'")
    empty = sheet_content(demo, spec, {"CustomerId": ""}).blocks[0].frame
    assert "Type a customer id" in empty.iloc[0, 0]


def test_excel_numbers_as_ids(demo: QueryEngine, demo_car: pd.DataFrame) -> None:
    numeric = next(c for c in demo_car.index if c.isdigit())
    as_excel = cells.customer(float(numeric), demo)  # a typed 17 reaches Python as 17.0
    assert as_excel == cells.customer(numeric, demo)


# -- what exists, and what does not ---------------------------------------------------------------

BARE = [
    {"order_id": "A", "customer_id": "c1", "ordered_at": "2024-05-01", "net_amount": "10.5"},
    {"order_id": "B", "customer_id": "c1", "ordered_at": "2024-06-01", "net_amount": "4.5"},
    {"order_id": "C", "customer_id": "c2", "ordered_at": "2024-06-01", "net_amount": "99"},
]


def test_bare_four_column_export(tmp_path: Path, capsys) -> None:
    car_dir = build(tmp_path, {"order_lines": BARE})
    engine = QueryEngine.open(car_dir)
    car = store.read_car(car_dir)
    car = car.set_index(car["customer_id"].astype(str))
    profile = customer_profile(engine, "c1", personal=True)
    check_against_car(profile, car, None)
    assert set(profile.rows["section"]) <= {"Segment and value", "Lifecycle", "Recent orders"}
    rows = profile.rows.set_index("column")
    assert rows.loc["spend_ltd", "value"] == 15 and rows.loc["orders_ltd", "value"] == 2
    notes = " ".join(profile.notes)
    assert "preferences (left out: needs preferences" in notes
    assert "no consented contact table" in notes  # asked, but there is none
    assert main(["customer", "c1", "--car", str(car_dir), "--personal-data"]) == 0
    out = capsys.readouterr().out
    assert "Customer c1" in out and "£15.00" in out and "left them out" in out
    spec = next(s for s in load_layout()["sheets"] if s.get("view") == "customer")
    block = sheet_content(engine, spec, {"CustomerId": "c1"}, {"personal_data": True}).blocks[0]
    assert list(block.frame["CAR column"]) == list(profile.rows["column"])
    table = cells.customer("c1", engine, "yes")
    assert table[0] == SHEET_HEADER
    assert len(table) == len(profile.rows) + 1


@pytest.mark.parametrize(
    "missing",
    ["customers", "products", "surveys", "interactions", "preferences", "enrichment", "accounts"],
)
def test_each_optional_table_missing(tmp_path: Path, missing: str) -> None:
    tables = {k: v for k, v in car_data.TABLES.items() if k != missing}
    car_dir = build(tmp_path, tables, car_data.AS_OF)
    engine = QueryEngine.open(car_dir)
    car = store.read_car(car_dir)
    car = car.set_index(car["customer_id"].astype(str))
    profile = customer_profile(engine, "1", personal=True)
    check_against_car(profile, car, None)
    members = store.open_generation(car_dir).meta["members"]
    # The contact table needs the contact columns and consent.
    assert (store.CONTACTS.name in members) == (missing not in ("customers", "preferences"))
    contact = profile.rows[profile.rows["section"] == CONTACT]
    if missing in ("customers", "preferences"):
        assert contact.empty and any("no consented contact table" in n for n in profile.notes)
    else:
        assert list(contact["value"]) == ["Ann Smith", "ann@example.com"]


def test_out_of_core_car_has_the_same_profile_and_no_contacts(
    tmp_path: Path, small_car: Path
) -> None:
    """An out-of-core build writes no contact table: the same profile, and the reason."""
    car_dir = build(tmp_path, car_data.TABLES, car_data.AS_OF, engine="out-of-core")
    assert store.CONTACTS.name not in store.open_generation(car_dir).meta["members"]
    profile = customer_profile(QueryEngine.open(car_dir), "1", personal=True)
    same = customer_profile(QueryEngine.open(small_car), "1")
    pd.testing.assert_frame_equal(profile.rows, same.rows)
    assert any("no consented contact table" in n for n in profile.notes)


# -- personal data ------------------------------------------------------------------------------


def test_contact_table_holds_only_consented_details(
    demo_car_dir: Path, demo_source, demo_car: pd.DataFrame, contacts: pd.DataFrame
) -> None:
    """Brute force: the customers contactable at D and opted in to a channel; an e-mail only
    with e-mail consent, a phone only with phone or SMS consent; nothing else stored."""
    assert list(contacts.columns) == ["customer_id", "name", "email", "phone"]

    def flag(column: str) -> pd.Series:
        return demo_car[column].fillna(False).astype(bool)

    contactable = flag("contactable")
    email_ok = contactable & flag("opt_in_email")
    phone_ok = contactable & (flag("opt_in_phone") | flag("opt_in_sms"))
    any_ok = contactable & (
        flag("opt_in_email") | flag("opt_in_sms") | flag("opt_in_phone") | flag("opt_in_post")
    )
    source = demo_source.tables["customers"].copy()
    source["customer_id"] = source["customer_id"].astype(str)
    source = source.set_index("customer_id")
    expected = sorted(c for c in demo_car.index[any_ok] if c in source.index)
    assert sorted(contacts["customer_id"]) == expected and expected
    by_id = contacts.set_index("customer_id")
    for customer_id, row in by_id.iterrows():
        assert row["name"] == source.loc[customer_id, "name"]
        assert (row["email"] == source.loc[customer_id, "email"]) == bool(email_ok[customer_id])
        assert pd.isna(row["email"]) != bool(email_ok[customer_id])
        assert pd.isna(row["phone"]) != bool(phone_ok[customer_id])


def test_small_contact_table(small_car: Path) -> None:
    table = store.open_generation(small_car).read_frame(store.CONTACTS)
    # 1 opted in to e-mail only (no phone kept); 2's consent came after D; 3 may not be contacted
    assert table["customer_id"].astype(str).tolist() == ["1"]
    assert table["email"].tolist() == ["ann@example.com"] and pd.isna(table["phone"].iloc[0])


def test_personal_data_gate_both_ways(
    demo: QueryEngine, demo_car_dir: Path, contacts: pd.DataFrame, capsys
) -> None:
    full = contacts.dropna(subset=["name", "email", "phone"]).iloc[0]
    customer_id = full["customer_id"]
    personal = [full["name"], full["email"], full["phone"]]

    def shows(text: object) -> list[bool]:
        return [p in str(text) for p in personal]

    hidden = customer_profile(demo, customer_id)
    assert shows(hidden.rows.to_string()) == [False] * 3
    shown = customer_profile(demo, customer_id, personal=True)
    contact = shown.rows[shown.rows["section"] == CONTACT]
    assert list(contact["value"]) == personal
    assert set(contact["column"]) == {f"contacts.arrow:{c}" for c in ("name", "email", "phone")}
    # a customer outside the contact table: nothing, and why
    car = store.read_car(demo_car_dir, ["customer_id", "contactable"])
    refused = str(car.loc[car["contactable"] == False, "customer_id"].iloc[0])  # noqa: E712
    profile = customer_profile(demo, refused, personal=True)
    assert CONTACT not in set(profile.rows["section"])
    assert any("does not allow contact" in n for n in profile.notes)
    # the command line: only with the flag
    assert main(["customer", customer_id, "--car", str(demo_car_dir)]) == 0
    assert shows(capsys.readouterr().out) == [False] * 3
    assert main(["customer", customer_id, "--car", str(demo_car_dir), "--personal-data"]) == 0
    assert shows(capsys.readouterr().out) == [True] * 3
    assert main(["customer", customer_id, "--car", str(demo_car_dir), "--json"]) == 0
    assert shows(capsys.readouterr().out) == [False] * 3
    # the cells: only when the setting says yes; the UDF outside Excel has no setting
    for setting, allowed in (("", False), ("no", False), ("off", False), ("yes", True)):
        assert shows(cells.customer(customer_id, str(demo_car_dir), setting)) == [allowed] * 3
    assert profiler_udfs.CP_CUSTOMER(customer_id) == cells.customer(customer_id, None)


def test_udf_returns_the_view(demo: QueryEngine, demo_car_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("PROFILER_CAR", str(demo_car_dir))
    customer_id = str(demo.car["customer_id"].iloc[3])
    table = profiler_udfs.CP_CUSTOMER(customer_id)
    profile = customer_profile(demo, customer_id)
    assert table[0] == SHEET_HEADER
    assert [r[4] for r in table[1:]] == list(profile.rows["column"])
    for row, value, text, unit in zip(
        table[1:], profile.rows["value"], profile.rows["text"], profile.units, strict=True
    ):
        assert row[2] == (value if unit else text)
    assert CONTACT not in {r[0] for r in table[1:]}
    assert CP_CUSTOMER_DOCUMENTED()


def CP_CUSTOMER_DOCUMENTED() -> bool:  # noqa: N802
    fn = profiler_udfs.CP_CUSTOMER
    return fn in profiler_udfs.UDFS and bool(fn.__doc__) and set(fn.__arg_docs__) == {"customer_id"}


# -- the Customer sheet and snapshots ------------------------------------------------------------


@pytest.fixture(scope="module")
def book(demo_workbook: Path) -> Path:
    return demo_workbook


def fill(book: Path, folder: Path, customer_id: str, personal: str) -> Path:
    """A copy of ``book`` in ``folder`` (same file name) with the customer id typed and the
    personal-data setting set, as a user would in Excel; its folder settings made absolute, as
    the copy has moved away from the CAR and the data."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / book.name
    out.write_bytes(book.read_bytes())
    wb = load_workbook(out, keep_vba=True)
    sheet, cell, _ = input_cells(load_layout())["CustomerId"]
    wb[sheet][cell] = customer_id
    for row in wb["xlwings.conf"].iter_rows():
        if row[0].value == cells.PERSONAL_SETTING:
            row[1].value = personal
        elif row[0].value in ("PROFILER_CAR", "PROFILER_DATA") and row[1].value:
            row[1].value = str((book.parent / row[1].value).resolve())
    wb.save(out)
    return out


def sheet_text(path: Path, sheet: str = "Customer") -> str:
    wb = load_workbook(path, data_only=True)
    return "\n".join(
        " ".join(str(v) for v in row if v is not None)
        for row in wb[sheet].iter_rows(values_only=True)
    )


def test_workbook_setting_defaults_to_no_personal_data(
    book: Path, demo: QueryEngine, contacts: pd.DataFrame, tmp_path: Path
) -> None:
    conf = {r[0]: r[1] for r in load_workbook(book)["xlwings.conf"].iter_rows(values_only=True)}
    assert conf[cells.PERSONAL_SETTING] == "no"
    full = contacts.dropna(subset=["name", "email", "phone"]).iloc[0]
    closed = fill(book, tmp_path / "closed", full["customer_id"], "no")
    refresh_all(FileBook(closed), demo)
    text = sheet_text(closed)
    assert f"Customer {full['customer_id']}, as of" in text and "Strategy segment" in text
    assert full["email"] not in text and full["name"] not in text
    assert "PROFILER_PERSONAL_DATA to yes" in text
    opened = fill(book, tmp_path / "open", full["customer_id"], "yes")
    refresh_all(FileBook(opened), demo)
    text = sheet_text(opened)
    assert full["email"] in text and full["name"] in text and full["phone"] in text
    conf = {r[0]: r[1] for r in load_workbook(opened)["xlwings.conf"].iter_rows(values_only=True)}
    assert conf[cells.PERSONAL_SETTING] == "yes"  # kept across the refresh


STAMPS = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?Z?( UTC)?")


def test_snapshot_drops_the_customer_sheet_and_leaks_nothing(
    book: Path, demo: QueryEngine, demo_car: pd.DataFrame, contacts: pd.DataFrame, tmp_path: Path
) -> None:
    full = contacts.dropna(subset=["name", "email", "phone"]).iloc[0]
    customer_id = full["customer_id"]
    filled = fill(book, tmp_path / "filled", customer_id, "yes")
    refresh_all(FileBook(filled), demo)
    assert full["email"] in sheet_text(filled)  # the live workbook shows it
    snap = tmp_path / "snap.xlsx"
    snapshot(filled, snap)  # its leak scan (names from the data folder too) passed
    plain = tmp_path / "plain.xlsx"
    snapshot(fill(book, tmp_path / "plain", "", "yes"), plain)  # the same, never filled
    assert "Customer" not in load_workbook(snap).sheetnames
    with zipfile.ZipFile(snap) as z:
        parts = {n: z.read(n).decode("utf-8", "replace") for n in z.namelist()}
    text = "\n".join(parts.values())
    for personal in (full["name"], full["email"], full["phone"]):
        assert personal not in text
    assert "CustomerId" not in text and "Customer id" not in text
    assert f"Customer {customer_id}, as of" not in text
    row = demo_car.loc[customer_id]
    for column in ("clv_12m", "p_alive", "expected_orders_12m", "spend_ltd"):
        value = row[column]
        if pd.notna(value):
            assert repr(float(value)) not in text, column
    assert not scan_file(snap.read_bytes(), [full["name"]])
    # Nothing of the customer at all: the snapshot equals one of the workbook never filled,
    # but for the times it was taken.
    with zipfile.ZipFile(plain) as z:
        before = {n: z.read(n).decode("utf-8", "replace") for n in z.namelist()}
    assert before.keys() == parts.keys()
    for name in parts:
        assert STAMPS.sub("", parts[name]) == STAMPS.sub("", before[name]), name


@pytest.mark.skipif(not libreoffice.soffice_available(), reason="LibreOffice is not installed")
def test_libreoffice_opens_the_filled_customer_sheet(
    book: Path, demo: QueryEngine, demo_car: pd.DataFrame, tmp_path: Path
) -> None:
    customer_id = str(demo_car["spend_ltd"].idxmax())
    filled = fill(book, tmp_path / "lo", customer_id, "no")
    refresh_all(FileBook(filled), demo)
    text = libreoffice.pdf_text(libreoffice.convert(filled, "pdf", tmp_path / "pdf"))
    assert f"Customer {customer_id}, as of {demo.as_of:%Y-%m-%d}" in text
    assert f"£{demo_car.loc[customer_id, 'spend_ltd']:,.0f}" in text  # the sheet's GBP format
