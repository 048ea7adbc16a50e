"""A snapshot's customer list needs a stated purpose, and snapshots.log records it with the
cohort and the number of customers; a log begun before these columns reads and appends sensibly."""

from __future__ import annotations

import csv
from pathlib import Path

from workbook import mail
from workbook.cli import main

OLD_HEADER = "time,user,file,recipients,k,suppressed,complementary,encrypted\n"


def _rows(log: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(log.open(encoding="utf-8")))


def test_a_customer_list_without_purpose_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "s.xlsx"
    args = ["snapshot", str(tmp_path / "Book.xlsm"), "--out", str(out)]
    assert main([*args, "--include-customers", "Buyers"]) == 1
    err = capsys.readouterr().err
    assert "--purpose" in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--include-customers", "Buyers", "--purpose", "  "]) == 1
    assert main([*args, "--purpose", "why"]) == 1  # a purpose without a list: a mistake
    assert "no customer list" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / mail.AUDIT_LOG).exists()


def test_the_log_records_purpose_cohort_and_customers(tmp_path: Path) -> None:
    file = tmp_path / "share.xlsx"
    mail.audit(tmp_path, file, [], 10, 3, 1, False)
    mail.audit(
        tmp_path, file, [], 10, 3, 1, True, purpose="=Q3 win-back", cohort="Lapsed", customers=42
    )
    log = tmp_path / mail.AUDIT_LOG
    assert log.read_text(encoding="utf-8").count("time,user") == 1
    first, second = _rows(log)
    assert (first["purpose"], first["cohort"], first["customers"]) == ("", "", "")
    assert second["purpose"] == "'=Q3 win-back"  # text from the command line never a formula
    assert (second["cohort"], second["customers"]) == ("Lapsed", "42")


def test_an_older_log_gets_the_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    log = tmp_path / mail.AUDIT_LOG
    old_row = "2026-01-05T10:00:00Z,ann,old.xlsx,,10,0,0,no\n"
    log.write_text(OLD_HEADER + old_row, encoding="utf-8")
    mail.audit(
        tmp_path,
        tmp_path / "new.xlsx",
        [],
        10,
        0,
        0,
        False,
        purpose="audit",
        cohort="A",
        customers=5,
    )
    text = log.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(mail.AUDIT_HEADER)
    assert text.count("time,user") == 1 and old_row in text
    old, new = _rows(log)
    assert old["file"] == "old.xlsx" and old["purpose"] is None  # an old row: no purpose field
    assert (new["file"], new["purpose"], new["customers"]) == ("new.xlsx", "audit", "5")
    assert sorted(p.name for p in tmp_path.iterdir()) == [mail.AUDIT_LOG]  # no temporary left
