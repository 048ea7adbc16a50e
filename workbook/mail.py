"""Sending a snapshot by e-mail, and the snapshot's audit line.

The message is plain: a short body saying what the file holds (the data's date, the catalog
version, the minimum cohort size and what was suppressed), never the password, and the file
attached as it was written.  SMTP credentials come from the environment
(``PROFILER_SMTP_USER``, ``PROFILER_SMTP_PASSWORD``), never the command line.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid
from pathlib import Path

from profiler.errors import ProfilerError
from profiler.outputs import replacing
from profiler.safecsv import neutralise

USER_ENV, PASSWORD_ENV = "PROFILER_SMTP_USER", "PROFILER_SMTP_PASSWORD"
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
AUDIT_LOG = "snapshots.log"
AUDIT_HEADER = [
    "time",
    "user",
    "file",
    "recipients",
    "k",
    "suppressed",
    "complementary",
    "encrypted",
    # Added for issue 25 (at the end, so a log begun before reads the same): why a customer
    # list was included, which cohort and how many customers; empty without one.
    "purpose",
    "cohort",
    "customers",
]


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    starttls: bool = False


def parse_server(text: str, starttls: bool = False) -> Server:
    """``HOST:PORT`` (port 25 when omitted); one line on anything else."""
    host, _, port = str(text).strip().rpartition(":")
    if not host:
        host, port = port, "25"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ProfilerError(f"--smtp '{text}': expected HOST:PORT, e.g. mail.example.com:587.")
    return Server(host, int(port), starttls)


def parse_recipients(text: str) -> list[str]:
    """Comma-separated addresses, each checked for the shape name@domain."""
    found = [address for _, address in getaddresses([str(text)]) if address]
    bad = [a for a in found if "@" not in a or "." not in a.rsplit("@", 1)[1]]
    if not found or bad:
        raise ProfilerError(
            f"--email '{text}': expected addresses like finance@example.com, comma-separated"
            + (f" ({', '.join(bad)} is not one)." if bad else ".")
        )
    return found


def message(
    attachment: Path, recipients: list[str], sender: str, subject: str, body: str
) -> EmailMessage:
    """The e-mail: headers, the short body and the snapshot attached byte for byte."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(recipients), subject
    msg["Date"] = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    msg.set_content(body)
    msg.add_attachment(
        attachment.read_bytes(),
        maintype=XLSX_TYPE[0],
        subtype=XLSX_TYPE[1],
        filename=attachment.name,
    )
    return msg


def send(msg: EmailMessage, server: Server, timeout: float = 30.0) -> None:
    """Deliver through the SMTP server; a refused or unreachable server is one line."""
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    where = f"{server.host}:{server.port}"
    try:
        with smtplib.SMTP(server.host, server.port, timeout=timeout) as smtp:
            if server.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if user:
                smtp.login(user, password or "")
            refused = smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError:
        raise ProfilerError(
            f"{where}: the server refused the login of ${USER_ENV}; check ${PASSWORD_ENV}."
        ) from None
    except smtplib.SMTPException as err:
        raise ProfilerError(f"{where}: the mail was not sent ({err}).") from None
    except OSError as err:  # refused, unreachable, timed out
        raise ProfilerError(f"{where}: cannot reach the mail server ({err}).") from None
    if refused:
        raise ProfilerError(f"{where}: refused {', '.join(refused)}; the others were sent.")


def audit(
    folder: Path,
    file: Path,
    recipients: list[str],
    k: int,
    suppressed: int,
    complementary: int,
    encrypted: bool,
    *,
    purpose: str = "",
    cohort: str = "",
    customers: int | None = None,
) -> Path:
    """Append who sent what, when, to ``snapshots.log`` in ``folder`` (CSV, header once), and
    for a snapshot with a customer list its purpose, cohort and number of customers.

    A log begun before these columns existed keeps its rows; its header line is extended (the
    file replaced whole) so that a CSV reader reads the old rows' new fields as empty."""
    log = folder / AUDIT_LOG
    row = [
        dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        _user(),
        file.name,
        ";".join(recipients),
        str(k),
        str(suppressed),
        str(complementary),
        "yes" if encrypted else "no",
        purpose,
        cohort,
        "" if customers is None else str(customers),
    ]
    new = not log.exists()
    if not new:
        _extend_header(log)
    with log.open("a", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        if new:
            writer.writerow(AUDIT_HEADER)
        writer.writerow([neutralise(value) for value in row])
    return log


def _extend_header(log: Path) -> None:
    """Give an older log (a header that is a prefix of ``AUDIT_HEADER``) the new columns."""
    with log.open(encoding="utf-8", newline="") as f:
        first = f.readline()
        rest = f.read()
    header = next(csv.reader([first]), [])
    if header == AUDIT_HEADER or header != AUDIT_HEADER[: len(header)] or not header:
        return  # current, or not a header this code wrote: appended to as it is
    with replacing(log) as tmp:
        with tmp.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerow(AUDIT_HEADER)
            out.write(rest)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"
