"""The Excel profiler as a user meets it: built from a demo CAR, opened by LibreOffice, refreshed
headless, and its Excel functions called as plain Python."""

from __future__ import annotations

import inspect
import re
import tomllib
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils.cell import get_column_letter

from profiler import cells
from profiler.cells import engine_for
from profiler.errors import ProfilerError
from profiler.query import QueryEngine
from tests import libreoffice
from tests.excel_standin import FakeBook
from udfs import profiler_udfs
from workbook.book import FileBook
from workbook.builder import build_workbook
from workbook.cli import main
from workbook.content import default_inputs, load_layout
from workbook.macros import refresh_all
from workbook.vba import project_bytes
from workbook.xlsm import CONF_KEYS

ROOT = Path(__file__).resolve().parents[1]
INJECTIONS = ["=cmd|' /C calc'!A0", "@SUM(1+1)", "+44 20 7946 0000", "-5 pieces"]


@pytest.fixture(scope="module")
def engine(demo_car_dir: Path) -> QueryEngine:
    engine = QueryEngine.open(demo_car_dir)
    # Source-system text that a spreadsheet would take for a formula, as portfolio names.
    car = engine.car
    car["portfolio"] = car["portfolio"].astype(object)
    for i, text in enumerate(INJECTIONS):
        car.loc[car.index[i * 3 : i * 3 + 3], "portfolio"] = text
    return QueryEngine(
        engine.car,
        engine.activity,
        engine.catalog,
        as_of=engine.as_of,
        cohort_spec=engine.cohorts.spec,
        meta=engine.meta,
        car_dir=demo_car_dir,
        known_columns=engine.known_columns,
    )


@pytest.fixture(scope="module")
def book(engine: QueryEngine, demo_source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("workbook") / "Customer_Profiler.xlsm"
    return build_workbook(engine, out, data_dir=demo_source.data_dir)


@pytest.fixture(scope="module")
def pdf(book: Path) -> str:
    return libreoffice.pdf_text(libreoffice.convert(book, "pdf"))


@pytest.fixture(scope="module")
def resaved(book: Path, tmp_path_factory) -> Path:
    """The workbook as LibreOffice reads it (values of every cell), re-saved as .xlsx."""
    return libreoffice.convert(book, "xlsx", tmp_path_factory.mktemp("lo"))


def table_rows(sheet, header_first: str) -> tuple[list[str], list[list]]:
    rows = list(sheet.iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if row and row[0] == header_first)
    header = [c for c in rows[start] if c is not None]
    body = []
    for row in rows[start + 1 :]:
        if not row or row[0] is None:
            break
        body.append(list(row[: len(header)]))
    return header, body


def test_xlwings_conf_names_our_udf_module(book: Path, engine: QueryEngine) -> None:
    wb = load_workbook(book, keep_vba=True)
    conf = wb["xlwings.conf"]
    keys = [row[0] for row in conf.iter_rows(values_only=True)]
    assert None not in keys and keys[: len(CONF_KEYS)] == list(CONF_KEYS)
    settings = {row[0]: row[1] for row in conf.iter_rows(values_only=True)}
    assert settings["UDF Modules"] == "udfs.profiler_udfs"
    assert (book.parent / settings["PROFILER_CAR"]).resolve() == engine.car_dir.resolve()
    assert wb["xlwings.conf"].sheet_state == "hidden"
    assert wb["Lists"].sheet_state == "hidden"
    assert [s for s in wb.sheetnames][:3] == ["About", "Summary", "Deep Dive"]


def test_libreoffice_shows_the_engines_numbers(
    book: Path, resaved: Path, engine: QueryEngine, pdf: str
) -> None:
    period = default_inputs(engine, load_layout())["SummaryPeriod"]
    wb = load_workbook(resaved, data_only=True)
    header, body = table_rows(wb["Summary"], "Cohort")
    by_cohort = {row[0]: row for row in body}
    expected = engine.values(
        ["net_sales", "aov", "active_customers"],
        ["All customers", "Buyers", "Crown jewels"],
        period,
    )
    labels = {m: engine.metric(m).label for m in ("net_sales", "aov", "active_customers")}
    checked = 0
    for row in expected.itertuples():
        shown = by_cohort[row.cohort][header.index(labels[row.metric])]
        assert shown == pytest.approx(row.value, rel=1e-9), (row.cohort, row.metric)
        checked += 1
    assert checked == 9
    total = engine.value("net_sales", "All customers", period)
    assert (
        f"£{total:,.0f}" in pdf
    )  # the number as a reader sees it, formatted from the catalog unit
    assert "Headline KPIs by strategy segment" in pdf and "Retention by acquisition" in pdf


def test_every_view_sheet_holds_values(resaved: Path) -> None:
    wb = load_workbook(resaved, data_only=True)
    for name in (
        "Summary",
        "Deep Dive",
        "Compare",
        "Retention",
        "Dashboard",
        "Potential Value",
        "Definitions",
        "Reconciliation",
        "Migration",
    ):
        numbers = [
            v
            for row in wb[name].iter_rows(values_only=True)
            for v in row
            if isinstance(v, (int, float))
        ]
        assert len(numbers) > 10, name


def test_checks_recalculate_to_pass_in_libreoffice(book: Path, tmp_path: Path) -> None:
    recalculated = libreoffice.convert(book, "xlsx", tmp_path, recalc=True)
    wb = load_workbook(recalculated, data_only=True)
    values = [
        row[1]
        for row in wb["Summary"].iter_rows(values_only=True)
        if row and row[0] and "add up" in str(row[0])
    ]
    assert values == ["PASS"]


def test_text_from_data_is_never_a_formula(book: Path, pdf: str, resaved: Path) -> None:
    with zipfile.ZipFile(book) as z:
        sheets = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        strings = z.read("xl/sharedStrings.xml").decode()
    formulas = [f for s in sheets for f in re.findall(r"<f>(.*?)</f>", s)]
    # Only our checks and the KPI tiles' references to their table: no text became a formula.
    assert formulas and all(
        re.fullmatch(
            r'IF\(ABS\(SUM\(.*|IF\(ISNUMBER\([A-Z]+\d+\),[A-Z]+\d+,""\)', f.replace("&quot;", '"')
        )
        for f in formulas
    )
    for text in INJECTIONS:
        assert text.replace("'", "&apos;") in strings or text in strings
    values = [
        v
        for ws in load_workbook(resaved, data_only=True)
        for row in ws.iter_rows(values_only=True)
        for v in row
    ]
    for text in INJECTIONS:
        assert text in values  # LibreOffice read it back as the same text
    assert "=cmd|' /C calc'!A0" in pdf


def test_protected_sheets_with_unlocked_inputs(book: Path) -> None:
    wb = load_workbook(book, keep_vba=True)
    summary = wb["Summary"]
    assert summary.protection.sheet and not summary.protection.password
    assert summary["B4"].protection.locked is False and summary["A1"].protection.locked is True
    assert "SummaryPeriod" in wb.defined_names
    assert summary.data_validations.dataValidation


def test_headless_refresh_reads_inputs_and_replaces_atomically(
    book: Path, tmp_path: Path, engine: QueryEngine, capsys
) -> None:
    copy = tmp_path / "Customer_Profiler.xlsm"
    copy.write_bytes(book.read_bytes())
    wb = load_workbook(copy, keep_vba=True)  # a user choosing another cohort in Excel
    wb["Deep Dive"]["B4"] = "Cross-channel explorers"
    wb.save(copy)
    assert main(["refresh", str(copy)]) == 0
    assert f"Refreshed {len(load_layout()['sheets'])} sheets" in capsys.readouterr().out
    refreshed = load_workbook(copy, data_only=True)
    titles = [
        row[0] for row in refreshed["Deep Dive"].iter_rows(values_only=True) if row and row[0]
    ]
    assert any(str(t).startswith("Cross-channel explorers against All customers") for t in titles)
    with zipfile.ZipFile(copy) as z:
        assert z.read("xl/vbaProject.bin") == project_bytes(len(refreshed.sheetnames))
        assert any(n.startswith("xl/charts/") for n in z.namelist())
    before = copy.read_bytes()
    wb = load_workbook(copy, keep_vba=True)
    wb["Summary"]["B4"] = "2025-13"
    wb.save(copy)
    broken = copy.read_bytes()
    assert main(["refresh", str(copy)]) == 1
    assert "month 13" in capsys.readouterr().err
    assert copy.read_bytes() == broken != before  # the failed refresh left the file as it was
    # No temporary file is left; the lock file stays, empty, as Excel's owner files do.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".Customer_Profiler.xlsm.lock",
        "Customer_Profiler.xlsm",
    ]


def test_refresh_all_through_the_book_interface(
    book: Path, tmp_path: Path, engine: QueryEngine
) -> None:
    copy = tmp_path / "b.xlsm"
    copy.write_bytes(book.read_bytes())
    done = refresh_all(FileBook(copy), engine)
    assert done == [s["name"] for s in load_layout()["sheets"]]
    with pytest.raises(ProfilerError, match="no such workbook"):
        FileBook(tmp_path / "missing.xlsm")


def test_udfs_called_as_plain_python_return_the_engines_numbers(
    engine: QueryEngine, monkeypatch
) -> None:
    monkeypatch.setenv("PROFILER_CAR", str(engine.car_dir))
    assert profiler_udfs.CP_METRIC("net_sales", "Buyers", "2025") == pytest.approx(
        engine.value("net_sales", "Buyers", "2025")
    )
    assert profiler_udfs.CP_METRIC("net_sales", None, 2025.0) == pytest.approx(
        engine.value("net_sales", None, "2025")
    )
    assert profiler_udfs.CP_METRIC("aov2") == "#ERROR: Unknown metric 'aov2'. Did you mean 'aov'?"
    table = profiler_udfs.CP_COMPARE(
        [["net_sales"], ["aov"]], "Buyers, Store loyalists", "2025", "2024"
    )
    assert table[0][:4] == ["metric", "label", "Buyers", "Store loyalists"] and table[2][0] == "aov"
    assert table[2][3] == pytest.approx(engine.value("aov", "Store loyalists", "2025"))
    assert profiler_udfs.CP_DEEP_DIVE("Store loyalists", "sales", "2025")[0][:2] == [
        "area",
        "metric",
    ]
    triangle = profiler_udfs.CP_RETENTION("quarter", "active")
    assert triangle[0][:3] == ["acquisition", "customers", "0"] and triangle[1][2] == 1.0
    assert profiler_udfs.CP_DASHBOARD("2026-Q1")[1][0] == "Spend"
    assert profiler_udfs.CP_DEFINITION("aov").startswith("Average order value:")
    assert len(profiler_udfs.CP_METRICS()) == len(engine.catalog.metrics) + 1
    on_disk = engine_for(engine.car_dir)  # the UDFs' engine reads the CAR folder itself
    assert len(profiler_udfs.CP_COHORTS()) == len(on_disk.cohorts.names) + 1
    assert engine_for(engine.car_dir) is on_disk  # loaded once per process
    clv = dict(map(tuple, profiler_udfs.CP_CLV("Buyers")[1:]))
    assert clv["clv_12m_total"] == pytest.approx(engine.value("clv_12m_total", "Buyers", "asof"))


def test_every_udf_is_documented_for_the_function_wizard() -> None:
    defined = [v for k, v in vars(profiler_udfs).items() if k.startswith("CP_")]
    assert profiler_udfs.UDFS == defined  # every CP_ function is registered, in its order
    for fn in profiler_udfs.UDFS:
        assert fn.__name__.startswith("CP_") and fn.__doc__ and len(fn.__doc__) > 20
        params = [p for p in inspect.signature(fn).parameters if p != "caller"]
        assert set(params) == set(fn.__arg_docs__), fn.__name__
        assert all(len(doc) > 5 for doc in fn.__arg_docs__.values())


def test_pinned_dependencies_are_in_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "xlsxwriter>=3.2" in project["dependencies"]


def test_workbook_needs_an_xlsm_name(engine: QueryEngine, tmp_path: Path) -> None:
    with pytest.raises(ProfilerError, match="give a .xlsm"):
        build_workbook(engine, tmp_path / "x.xlsx")


@pytest.mark.excel
def test_live_refresh_in_excel() -> None:  # pragma: no cover - needs Microsoft Excel
    xw = pytest.importorskip("xlwings")
    if not hasattr(xw, "App") or not xw.apps:
        pytest.skip("needs a running Microsoft Excel")


def test_live_and_file_books_write_the_same_cells(
    book: Path, tmp_path: Path, engine: QueryEngine
) -> None:
    from workbook.book import LiveBook
    from workbook.macros import refresh_sheet

    copy = tmp_path / "Customer_Profiler.xlsm"
    copy.write_bytes(book.read_bytes())
    wb = load_workbook(copy, keep_vba=True)
    wb["Deep Dive"]["B4"] = "Cross-channel explorers"
    wb.save(copy)
    live = FakeBook(copy)
    refresh_sheet(LiveBook(live), engine, "Deep Dive")
    refresh_sheet(FileBook(copy), engine, "Deep Dive")
    assert live.saved == 1 and live.sheets["Deep Dive"].protected
    written = load_workbook(copy, data_only=True)["Deep Dive"]
    compared = 0
    for (row, col), value in live.sheets["Deep Dive"].cells.items():
        if row > 8:  # the block area (title, header, rows)
            expected = written.cell(row, col).value
            if isinstance(value, float):
                assert expected == pytest.approx(value), (row, col)
            else:
                assert expected == value, (row, col)
            compared += 1
    assert compared > 300
    titles = [
        v for (r, c), v in live.sheets["Deep Dive"].cells.items() if c == 1 and isinstance(v, str)
    ]
    assert any(t.startswith("Cross-channel explorers against All customers") for t in titles)


def _marked(path: Path, sheet: str) -> set[str]:
    """The cells of a snapshot's sheet that show a suppression mark."""
    ws = load_workbook(path, data_only=True)[sheet]
    return {c.coordinate for row in ws.iter_rows() for c in row if str(c.value).startswith("n<")}


def test_a_live_refresh_that_changes_shape_keeps_snapshots_right(
    book: Path, tmp_path: Path, engine: QueryEngine
) -> None:
    """Quarter to month: the triangle grows, and a snapshot taken after the live refresh
    suppresses the new shape's small cells, exactly as after a headless refresh."""
    from workbook.book import LiveBook
    from workbook.content import sheet_content
    from workbook.layout import placements, small_cells
    from workbook.macros import refresh_sheet
    from workbook.snapshot import snapshot

    live_copy, file_copy = tmp_path / "live.xlsm", tmp_path / "file.xlsm"
    for copy in (live_copy, file_copy):
        copy.write_bytes(book.read_bytes())
    live = FakeBook(live_copy)
    grain = next(n for n in live.names if n.name == "RetentionGrain")
    assert grain.refers_to_range.value == "quarter"
    grain.refers_to_range.value = "month"
    refresh_sheet(LiveBook(live), engine, "Retention")

    wb = load_workbook(file_copy, keep_vba=True)
    wb["Retention"]["B4"] = "month"
    wb.save(file_copy)
    refresh_sheet(FileBook(file_copy), engine, "Retention")

    layout = load_layout()
    spec = next(s for s in layout["sheets"] if s["name"] == "Retention")
    inputs = {**default_inputs(engine, layout), "RetentionGrain": "month"}
    content = sheet_content(engine, spec, inputs)
    sheet = live.sheets["Retention"]
    assert len(sheet.tables) == sum(1 for b in content.blocks if len(b.frame))
    assert len(sheet.charts) == sum(len(b.charts) for b in content.blocks if len(b.frame))
    assert sheet.calls["AddColorScale"] >= 1 and sheet.protected
    placed = [(b, top) for b, top in placements(spec, content) if b.charts and len(b.frame)]
    charts = iter(sheet.charts)
    for block, top in placed:  # each chart reads its block's rows in the new shape
        last = top + 2 + len(block.frame) - (1 if block.charts[0].get("skip_last") else 0)
        chart = next(charts)
        assert chart.categories.endswith(f"${last}") and chart.source.endswith(f"${last}")
    expected = small_cells(spec, content)
    assert expected  # a month triangle has cells on few customers
    lists = live.sheets["Lists"]
    recorded = {
        (v, lists.cells.get((r, c + 1)))
        for (r, c), v in lists.cells.items()
        if isinstance(v, str) and v.startswith("'Retention'!")
    }
    assert recorded == set(expected)

    k = 50
    shots = [
        snapshot(p, tmp_path / f"{p.stem}.xlsx", min_cohort_size=k).path
        for p in (live_copy, file_copy)
    ]
    live_marks, file_marks = (_marked(s, "Retention") for s in shots)
    assert live_marks == file_marks  # written from the same inputs, whichever refresh saved them
    valued = {f"{get_column_letter(c)}{r}" for (r, c), v in sheet.cells.items() if v is not None}
    under = {ref.split("!")[1] for ref, count in expected if count < k}
    assert under & valued and under & valued <= live_marks


# Inputs, settings, functions -----------------------------------------------------------------


def test_inputs_are_text_cells_with_messages(book: Path) -> None:
    wb = load_workbook(book, keep_vba=True)
    ws = wb["Summary"]
    assert ws["B4"].number_format == "@" and not ws["B4"].protection.locked
    validation = next(v for v in ws.data_validations.dataValidation if "B4" in str(v.sqref))
    assert validation.type == "list" and validation.errorStyle == "warning"
    assert "YYYY-Qn" in validation.prompt and "YYYY-Qn" in validation.error
    assert validation.promptTitle == "Period" and validation.showInputMessage


def test_numbers_and_dates_excel_made_of_periods_are_read_as_periods(
    book: Path, tmp_path: Path, engine: QueryEngine
) -> None:
    import datetime as dt

    from workbook.inputs import input_text

    assert [
        input_text(v) for v in (2025.0, 2025, dt.datetime(2026, 6, 1), None, " r12:2026-05 ")
    ] == [
        "2025",
        "2025",
        "2026-06",
        "",
        "r12:2026-05",
    ]
    copy = tmp_path / "Customer_Profiler.xlsm"
    copy.write_bytes(book.read_bytes())
    wb = load_workbook(copy, keep_vba=True)
    wb["Summary"]["B4"] = 2025  # as Excel stores a typed 2025 in a General cell
    wb["Dashboard"]["B4"] = dt.datetime(2026, 3, 1)  # a typed 2026-03
    wb.save(copy)
    refresh_all(FileBook(copy), engine)
    refreshed = load_workbook(copy)
    assert refreshed["Summary"]["B4"].value == "2025"
    assert refreshed["Dashboard"]["B4"].value == "2026-03"


def test_a_wrong_input_is_named_by_sheet_and_cell(
    book: Path, tmp_path: Path, engine: QueryEngine
) -> None:
    copy = tmp_path / "Customer_Profiler.xlsm"
    copy.write_bytes(book.read_bytes())
    wb = load_workbook(copy, keep_vba=True)
    wb["Compare"]["B5"] = "Crown jewel"
    wb.save(copy)
    before = copy.read_bytes()
    with pytest.raises(ProfilerError, match=r"^Compare!B5 \(Cohort 2\): .*Crown jewel"):
        refresh_all(FileBook(copy), engine)
    assert copy.read_bytes() == before


def test_settings_are_read_by_key_with_a_blank_interpreter(book: Path) -> None:
    from workbook.book import LiveBook, folder_setting

    live = LiveBook(FakeBook(book))
    settings = live.settings()
    assert settings["Interpreter_Win"] == "" and settings["UDF Modules"] == "udfs.profiler_udfs"
    assert folder_setting(live, "PROFILER_CAR") == folder_setting(FileBook(book), "PROFILER_CAR")
    assert folder_setting(live, "PROFILER_CAR").is_dir()
    # The UDFs read the same sheet themselves (they never import the workbook layer).
    caller = type("Caller", (), {"sheet": type("Sheet", (), {"book": FakeBook(book)})})()
    assert profiler_udfs._car(caller) == str(folder_setting(live, "PROFILER_CAR"))
    assert cells.live_settings(FakeBook(book)) == settings  # one reader for both
    with zipfile.ZipFile(book) as z:  # no machine paths in any text of the file
        texts = "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".xml"))
    assert str(book.parent.parent) not in texts and "pytest-of" not in texts


def test_udfs_return_plain_arrays_and_the_small_cell_mark(engine: QueryEngine, monkeypatch) -> None:
    monkeypatch.setenv("PROFILER_CAR", str(engine.car_dir))
    k = engine.cohorts.min_size
    for fn in profiler_udfs.UDFS:
        source = inspect.getsource(fn)
        assert "expand" not in source, fn.__name__  # native dynamic arrays, no xlwings resize
    small = next(n for n in engine.cohorts.names if 0 < engine.cohorts.size(n) < k)
    assert profiler_udfs.CP_METRIC("net_sales", small, "asof") == f"n<{k}"
    table = profiler_udfs.CP_COMPARE("net_sales", f"Buyers,{small}", "asof")
    assert table[1][2] == pytest.approx(engine.value("net_sales", "Buyers", "asof"))
    assert table[1][3] == f"n<{k}"
    assert dict(map(tuple, profiler_udfs.CP_CLV(small)[1:]))["clv_12m_total"] == f"n<{k}"
    triangle = profiler_udfs.CP_RETENTION("month", "active")
    for row in triangle[1:]:
        if row[1] < k:
            assert set(row[2:]) <= {f"n<{k}"}


def test_my_formulas_shows_each_function_with_its_result(
    book: Path, tmp_path: Path, engine: QueryEngine, demo_source
) -> None:
    from workbook.about import formula_examples
    from workbook.layout import USER_ROW

    wb = load_workbook(book)
    ws = wb["My formulas"]
    assert not ws.protection.sheet
    shown = {
        row[0].value: row
        for row in ws.iter_rows(min_row=5)
        if row[0].value in {f.__name__ for f in profiler_udfs.UDFS}
    }
    assert set(shown) == {f.__name__ for f in profiler_udfs.UDFS}
    inputs = default_inputs(engine, load_layout())
    for name, formula, result in formula_examples(
        engine, inputs, str(Path(demo_source.data_dir).resolve())
    ):
        row = shown[name]
        assert row[1].value == formula and row[1].data_type == "s"  # shown, not evaluated
        first = result[0][0] if isinstance(result, list) else result
        if isinstance(first, float):
            assert row[2].value == pytest.approx(first)
        else:
            assert row[2].value == first
    # the UDF itself returns the example's result
    name, formula, result = formula_examples(engine, inputs)[0]
    args = [a.strip('"') for a in formula[len(name) + 2 : -1].split('","')]
    assert profiler_udfs.CP_METRIC(*args, caller=None) == result or result == pytest.approx(
        engine.value(*args)
    )
    # a user's own formula survives a headless refresh
    copy = tmp_path / "Customer_Profiler.xlsm"
    copy.write_bytes(book.read_bytes())
    wb = load_workbook(copy, keep_vba=True)
    wb["My formulas"].cell(USER_ROW + 2, 2).value = '=CP_METRIC("aov","Buyers","2025")'
    wb["My formulas"].cell(USER_ROW + 2, 1).value = "Buyers' AOV"
    wb.save(copy)
    refresh_all(FileBook(copy), engine)
    kept = load_workbook(copy)["My formulas"]
    assert kept.cell(USER_ROW + 2, 2).value == '=CP_METRIC("aov","Buyers","2025")'
    assert kept.cell(USER_ROW + 2, 1).value == "Buyers' AOV"


def test_each_button_runs_its_python_target(
    book: Path, tmp_path: Path, engine: QueryEngine, monkeypatch
) -> None:
    """What RefreshThisSheet, RefreshAll, RunReconciliation and TakeSnapshot run, against the
    Excel stand-in: status-bar messages on success, one message box on a problem."""
    import xlwings as xw

    from workbook import excel

    copy = tmp_path / "Customer Profiler (1).xlsm"
    copy.write_bytes(book.read_bytes())
    live = FakeBook(copy)
    monkeypatch.setattr(xw.Book, "caller", staticmethod(lambda: live), raising=False)

    live.sheets.active = live.sheets["Compare"]
    excel.refresh_this_sheet()
    assert live.app.status_bar.startswith("Refreshed Compare (CAR as of") and not live.app.alerts
    excel.refresh_all()
    assert live.app.status_bar.startswith(f"Refreshed {len(load_layout()['sheets'])} sheets")
    excel.run_reconciliation()
    assert live.app.status_bar == "Reconciled to the ledger" and not live.app.alerts
    excel.take_snapshot()
    shots = list(tmp_path.glob("Customer Profiler (1) snapshot *.xlsx"))
    assert len(shots) == 1 and live.app.alerts == [f"Snapshot saved as {shots[0]}"]

    live.app.alerts.clear()
    grain = next(n for n in live.names if n.name == "RetentionGrain")
    grain.refers_to_range.value = "weekly"
    live.sheets.active = live.sheets["Retention"]
    excel.refresh_this_sheet()
    assert live.app.alerts and live.app.alerts[0].startswith("Retention!B4 (Grain): 'weekly'")


def test_a_workbook_moved_without_its_data_says_which_setting(
    book: Path, tmp_path: Path, engine: QueryEngine, demo_source, capsys
) -> None:
    moved = tmp_path / "elsewhere" / "deeper" / "Customer_Profiler.xlsm"
    moved.parent.mkdir(parents=True)
    moved.write_bytes(book.read_bytes())
    assert main(["refresh", str(moved)]) == 1
    err = capsys.readouterr().err
    assert "its PROFILER_CAR setting '" in err and "--car DIR" in err and "Traceback" not in err
    args = [
        "refresh",
        str(moved),
        "--car",
        str(engine.car_dir),
        "--data",
        str(demo_source.data_dir),
    ]
    assert main(args) == 0


def test_a_sheet_is_named_in_any_letter_case(book: Path, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "Customer_Profiler.xlsm"
    copy.write_bytes(book.read_bytes())
    assert main(["refresh", str(copy), "--sheet", "compare"]) == 0
    assert "Refreshed 1 sheets" in capsys.readouterr().out
    assert main(["refresh", str(copy), "--sheet", "Comparison"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: Unknown sheet 'Comparison'. Did you mean 'Compare'?")
    assert "The profiler's sheets are About, Summary" in err
