"""The metric catalog: each validation rule with its message and file:line, the CLI, and diff."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from profiler.catalog import AREAS, DEFAULT_CATALOG, diff, load_catalog, validate
from workbook.cli import main

GOOD = """\
version: 2.0.0
metrics:
- name: net_sales
  label: Net sales
  description: Amount paid for kept lines.
  owner: Finance
  area: sales
  unit: GBP
  format: '#,##0'
  aggregation: sum
  better: higher
  source: order_lines
  column: net_gbp
  filter: 'status == "completed"'
  additive: true
  status: approved
  version: 1
  changelog: First.

- name: orders
  label: Orders
  description: Kept orders.
  owner: Finance
  area: sales
  unit: orders
  format: '#,##0'
  aggregation: count_distinct
  better: higher
  source: order_lines
  column: order_id
  filter: 'status == "completed"'

- name: aov
  label: AOV
  description: Net sales per order.
  owner: Finance
  area: sales
  unit: GBP
  format: '#,##0.00'
  aggregation: ratio
  better: higher
  numerator: net_sales
  denominator: orders
"""


def _write(tmp_path: Path, text: str, name: str = "metrics.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _problems(tmp_path: Path, text: str) -> list[str]:
    return validate(load_catalog(_write(tmp_path, text)))


def test_the_shipped_catalog_validates_with_at_least_60_owned_metrics() -> None:
    catalog = load_catalog()
    assert validate(catalog) == []
    assert len(catalog.metrics) >= 60
    assert all(m.owner and m.description for m in catalog.metrics.values())
    areas = {m.area for m in catalog.metrics.values()}
    assert areas == set(AREAS)  # all seven insight areas, and potential value


def test_a_good_catalog_has_no_problems(tmp_path: Path) -> None:
    assert _problems(tmp_path, GOOD) == []


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (
            ("column: net_gbp", "column: net_gdp"),
            13,
            "unknown column 'net_gdp' in order_lines. Did you mean 'net_gbp'?",
        ),
        (
            ("denominator: orders", "denominator: order"),
            43,
            "unknown metric 'order' as denominator. Did you mean 'orders'?",
        ),
        (
            ("aggregation: count_distinct", "aggregation: countdistinct"),
            27,
            "unknown aggregation 'countdistinct'",
        ),
        (
            ("owner: Finance\n  area: sales\n  unit: orders", "area: sales\n  unit: orders"),
            20,
            "orders: missing owner",
        ),
        (("  description: Kept orders.\n", ""), 20, "orders: missing description"),
        (("additive: true", "additive: true\n  percentile: 5"), 2, None),
        (
            (
                "filter: 'status == \"completed\"'\n  additive",
                "filter: 'status == completed'\n  additive",
            ),
            14,
            "unknown column 'completed'",
        ),
        (
            (
                "filter: 'status == \"completed\"'\n  additive",
                "filter: 'status == (\"completed\"'\n  additive",
            ),
            14,
            "expected ')'",
        ),
        (("status: approved", "status: signed"), 16, "unknown status 'signed'"),
        (
            ("aggregation: ratio", "aggregation: ratio\n  additive: true"),
            41,
            "a ratio is never additive",
        ),
        (
            ("source: order_lines\n  column: order_id", "source: orderlines\n  column: order_id"),
            29,
            "unknown source 'orderlines'",
        ),
    ],
)
def test_each_validation_rule_names_file_line_and_problem(
    tmp_path: Path, change: tuple[str, str], line: int, message: str | None
) -> None:
    old, new = change
    assert old in GOOD
    problems = _problems(tmp_path, GOOD.replace(old, new, 1))
    if message is None:  # a percentile on a sum is harmless: no problem
        assert problems == []
        return
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 'metrics.yaml'}:{line}: ")
    assert message in problems[0]


def test_duplicates_cycles_and_unknown_fields_are_all_reported_at_once(tmp_path: Path) -> None:
    text = (
        GOOD
        + """
- name: orders
  label: Orders again
  description: Duplicate.
  owner: Finance
  area: sales
  unit: orders
  format: '0'
  aggregation: count
  better: higher
  source: order_lines

- name: loop_a
  label: A
  description: A derived loop.
  owner: Finance
  area: sales
  unit: GBP
  format: '0'
  aggregation: derived
  better: higher
  expression: loop_b * 2
  colour: red

- name: loop_b
  label: B
  description: The other half of the loop.
  owner: Finance
  area: sales
  unit: GBP
  format: '0'
  aggregation: derived
  better: neutral
  expression: loop_a + net_sales
"""
    )
    problems = _problems(tmp_path, text)
    path = tmp_path / "metrics.yaml"
    assert any(
        p.startswith(f"{path}:45: ") and "duplicate metric name 'orders' (first defined at" in p
        for p in problems
    )
    assert any(p.startswith(f"{path}:66: ") and "unknown field 'colour'" in p for p in problems)
    assert any("cycle among derived metrics: loop_a -> loop_b -> loop_a" in p for p in problems)
    assert len(problems) == 3, problems


def test_every_metric_says_which_way_is_good_checked_as_it_loads(tmp_path: Path) -> None:
    path = tmp_path / "metrics.yaml"
    missing = load_catalog(_write(tmp_path, GOOD.replace("  better: higher\n", "", 1)))
    assert missing.problems == [
        f"{path}:3: net_sales: missing better; say which way is good: better: higher | lower | neutral"
    ]
    wrong = _problems(tmp_path, GOOD.replace("better: higher", "better: up", 1))
    assert wrong == [
        f"{path}:11: net_sales: unknown polarity 'better: up'; say which way is good: better: higher | lower | neutral"
    ]
    approved = GOOD.replace(
        "  better: higher\n", "  better: higher\n  approved_on: 2026-13-01\n", 1
    )
    problems = _problems(tmp_path, approved)
    assert problems == [
        f"{path}:12: net_sales: approved_on '2026-13-01' must be a date, YYYY-MM-DD",
        f"{path}:12: net_sales: approved_on without approved_by: say who approved it",
    ]
    signed = GOOD.replace(
        "  better: higher\n",
        "  better: higher\n  approved_by: Jane Roe (CFO)\n  approved_on: 2026-11-30\n",
        1,
    )
    catalog = load_catalog(_write(tmp_path, signed))
    assert validate(catalog) == []
    m = catalog.metrics["net_sales"]
    assert (m.better, m.approved_by, m.approved_on) == ("higher", "Jane Roe (CFO)", "2026-11-30")
    # polarity and approval do not define the number: the lock's hash ignores them
    plain = load_catalog(_write(tmp_path, GOOD, "plain.yaml")).metrics["net_sales"]
    assert m.definition_hash == plain.definition_hash
    assert m.hash != plain.hash


def test_car_columns_are_checked_when_a_car_is_given(tmp_path: Path) -> None:
    catalog = load_catalog()
    columns = ["customer_id", "orders_ltd", "lifecycle_stage"]
    problems = validate(catalog, columns)
    assert any("unknown column 'clv_12m' in customers" in p for p in problems)


def test_hash_ignores_spacing_and_quotes_but_not_meaning(tmp_path: Path) -> None:
    a = load_catalog(_write(tmp_path, GOOD, "a.yaml")).metrics["net_sales"]
    respaced = GOOD.replace(
        """filter: 'status == "completed"'""", """filter: "status=='completed'\"""", 1
    )
    b = load_catalog(_write(tmp_path, respaced, "b.yaml")).metrics["net_sales"]
    changed = GOOD.replace(
        """filter: 'status == "completed"'""", """filter: 'status != "cancelled"'""", 1
    )
    c = load_catalog(_write(tmp_path, changed, "c.yaml")).metrics["net_sales"]
    assert a.hash == b.hash != c.hash


def test_diff_lists_added_removed_and_changed_fields(tmp_path: Path, capsys) -> None:
    old = _write(tmp_path, GOOD, "old.yaml")
    new_text = GOOD.replace("description: Kept orders.", "description: Orders with a kept line.")
    new_text = (
        new_text.split("\n- name: aov")[0]
        + """
- name: units
  label: Units
  description: Units on kept lines.
  owner: Merchandising
  area: product
  unit: units
  format: '#,##0'
  aggregation: sum
  source: order_lines
  column: quantity
"""
    )
    new = _write(tmp_path, new_text, "new.yaml")
    rows = {r["metric"]: r for r in diff(load_catalog(old), load_catalog(new))}
    assert rows["aov"]["change"] == "removed"
    assert rows["units"]["change"] == "added"
    assert rows["orders"]["change"] == "changed" and rows["orders"]["fields"] == "description"
    assert "net_sales" not in rows
    assert main(["metrics", "diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "changed  orders" in out and "'Kept orders.' -> 'Orders with a kept line.'" in out
    assert "1 added, 1 removed, 1 changed" in out


def test_metrics_cli_list_show_check(tmp_path: Path, capsys) -> None:
    assert main(["metrics", "list"]) == 0
    out = capsys.readouterr().out
    assert "metric catalog 1.2.0" in out and "net_sales" in out
    assert main(["metrics", "show", "aov"]) == 0
    out = capsys.readouterr().out
    assert "net_sales / orders" in out and "recomputed from its parts" in out and "hash" in out
    assert main(["metrics", "show", "net_sale"]) == 1
    assert "Did you mean 'net_sales'?" in capsys.readouterr().err
    assert main(["metrics", "check"]) == 0
    bad = _write(
        tmp_path,
        GOOD.replace(
            "owner: Finance\n  area: sales\n  unit: GBP\n  format: '#,##0'\n  aggregation: sum",
            "area: sales\n  unit: GBP\n  format: '#,##0'\n  aggregation: summ",
            1,
        ),
    )
    capsys.readouterr()
    assert main(["metrics", "check", "--catalog", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all(line.startswith(f"{bad}:") for line in out)


def test_the_catalog_folder_can_be_copied_and_edited(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    shutil.copytree(DEFAULT_CATALOG, folder)
    (folder / "catalog.yaml").write_text("version: 1.1.0\n")
    catalog = load_catalog(folder)
    assert catalog.version == "1.1.0" and validate(catalog) == []
    assert json.dumps(catalog.stamp).startswith('"metric catalog 1.1.0 (')
