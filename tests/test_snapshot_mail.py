"""Sending a snapshot from the profiler: a real local SMTP server (aiosmtpd) receives it; the
password never travels with it; an empty password is refused; every snapshot is logged."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from pathlib import Path

import msoffcrypto
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from openpyxl import load_workbook

from profiler.query import QueryEngine
from workbook.builder import build_workbook
from workbook.cli import main


class Inbox(Sink):
    """Keeps every message the server receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"127.0.0.1:{port}"
    finally:
        controller.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:  # free now; nobody else is starting servers in the test
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def source(demo_car_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mail-src") / "Customer_Profiler.xlsm"
    return build_workbook(QueryEngine.open(demo_car_dir), out)


def test_the_snapshot_is_sent_encrypted_and_logged(
    source: Path, tmp_path: Path, smtp, capsys, monkeypatch
) -> None:
    inbox, server = smtp
    out = tmp_path / "Board pack.xlsx"
    secret = tmp_path / "password.txt"
    secret.write_text("Quarterly-2026!\n", encoding="utf-8")
    code = main(
        [
            "snapshot", str(source), "--out", str(out), "--password-file", str(secret),
            "--email", "cfo@example.com, board@example.com", "--smtp", server,
            "--sender", "analytics@example.com", "--subject", "Q2 customer snapshot",
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    said = capsys.readouterr().out
    assert "Sent to cfo@example.com, board@example.com" in said
    assert len(inbox.received) == 1
    sender, recipients, raw = inbox.received[0]
    assert sender == "analytics@example.com"
    assert recipients == ["cfo@example.com", "board@example.com"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert (
        msg["Subject"] == "Q2 customer snapshot"
        and msg["To"] == "cfo@example.com, board@example.com"
    )
    body = msg.get_body(("plain",)).get_content()
    assert "data as of" in body and "suppressed" in body and "encrypted" in body
    assert "Quarterly-2026!" not in raw.decode("utf-8", errors="replace")  # never the password
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "Board pack.xlsx"
    data = attachment.get_content()
    assert data == out.read_bytes()  # the file as written, byte for byte
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    assert office.is_encrypted()
    office.load_key(password="Quarterly-2026!")
    plain = io.BytesIO()
    office.decrypt(plain)
    assert "Summary" in load_workbook(plain).sheetnames

    log = source.parent / "snapshots.log"
    rows = list(csv.DictReader(log.open(encoding="utf-8")))
    assert rows[-1]["file"] == "Board pack.xlsx" and rows[-1]["encrypted"] == "yes"
    assert rows[-1]["recipients"] == "cfo@example.com;board@example.com"
    assert int(rows[-1]["k"]) == 10 and int(rows[-1]["suppressed"]) > 0


def test_passwords_empty_or_visible(source: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    out = tmp_path / "s.xlsx"
    assert main(["snapshot", str(source), "--out", str(out), "--password-file", str(empty)]) == 1
    assert "empty password" in capsys.readouterr().err and not out.exists()
    assert main(["snapshot", str(source), "--out", str(out), "--password", ""]) == 1
    assert not out.exists()
    monkeypatch.setenv("SNAPSHOT_PW", "from-the-environment")
    assert main(["snapshot", str(source), "--out", str(out), "--password-env", "SNAPSHOT_PW"]) == 0
    assert msoffcrypto.OfficeFile(out.open("rb")).is_encrypted()
    out.unlink()
    assert main(["snapshot", str(source), "--out", str(out), "--password", "visible"]) == 0
    assert "visible to other users" in capsys.readouterr().err
    out.unlink()
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["snapshot", str(source), "--out", str(out), "--encrypt"]) == 1
    assert "--password-file" in capsys.readouterr().err and not out.exists()


def test_mail_settings_are_checked_before_anything_is_written(
    source: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "s.xlsx"
    for args, said in (
        (["--email", "cfo@example.com"], "needs --smtp"),
        (["--email", "not an address", "--smtp", "127.0.0.1:25"], "expected addresses"),
        (["--email", "cfo@example.com", "--smtp", "mail:port"], "expected HOST:PORT"),
        (["--smtp", "127.0.0.1:25"], "--smtp is for --email"),
    ):
        assert main(["snapshot", str(source), "--out", str(out), *args]) == 1
        assert said in capsys.readouterr().err and not out.exists()


def test_an_unreachable_server_is_one_line(source: Path, tmp_path: Path, capsys) -> None:
    port = _free_port()  # nobody listens there
    out = tmp_path / "s.xlsx"
    code = main(
        ["snapshot", str(source), "--out", str(out), "--email", "cfo@example.com", "--smtp", f"127.0.0.1:{port}"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "cannot reach the mail server" in err and "Traceback" not in err


def test_a_customer_list_is_logged_with_its_purpose(
    source: Path, tmp_path: Path, demo_car_dir: Path, capsys
) -> None:
    out = tmp_path / "list.xlsx"
    args = ["snapshot", str(source), "--out", str(out), "--car", str(demo_car_dir)]
    assert main([*args, "--include-customers", "Buyers"]) == 1
    assert "--purpose" in capsys.readouterr().err and not out.exists()
    assert main([*args, "--include-customers", "Buyers", "--purpose", "Q3 thank-you letters"]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader((source.parent / "snapshots.log").open(encoding="utf-8")))
    last = rows[-1]
    assert (last["file"], last["purpose"], last["cohort"]) == (
        "list.xlsx",
        "Q3 thank-you letters",
        "Buyers",
    )
    assert f"{int(last['customers']):,} consented customers included" in printed
    assert int(last["customers"]) == load_workbook(out)["Customers"].max_row - 1 > 0
