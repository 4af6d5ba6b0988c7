"""flows.delivery.outbox: exactly one email per (topic, period, recipient) through the outbox."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from flows.config import SmtpSettings, load_smtp
from flows.delivery.outbox import DeliveryResult, deliver
from reports import mail
from tests.conftest import ROOT
from tests.test_mail import (
    PASSWORD,
    RENDERED,
    Recorder,
    Server,
    free_port,
    parsed,
    settings,
    smtp_server,
)
from warehouse import db
from warehouse import outbox as outbox_table

TOPIC, PERIOD = "uk-poland", "2026-W47"
ANA, BOB = "ana@readers.example", "bob@readers.example"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with db.write_connection(path) as con:
        db.migrate(con)
    return path


def run(
    warehouse: Path, smtp: SmtpSettings | Server, *recipients: str, **kw: Any
) -> list[DeliveryResult]:
    if isinstance(smtp, Server):
        smtp = settings(smtp.port, *(recipients or (ANA, BOB)))
    kw.setdefault("retries", 2)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 5.0)
    return deliver(
        warehouse,
        smtp,
        topic=TOPIC,
        period=PERIOD,
        rendered=RENDERED,
        list_id="UK-Poland defence <uk-poland.news.example>",
        **kw,
    )


def rows(warehouse: Path) -> dict[str, outbox_table.OutboxRow]:
    with db.read_connection(warehouse) as con:
        return {r.recipient: r for r in outbox_table.outbox_rows(con, TOPIC, PERIOD)}


def statuses(results: list[DeliveryResult]) -> dict[str, str]:
    return {r.recipient: r.status for r in results}


def test_each_recipient_gets_one_multipart_email_however_often_it_runs(warehouse: Path) -> None:
    with smtp_server() as server:
        first = run(warehouse, server)
        again = run(warehouse, server)  # a schedule firing twice in one week
        assert len(server.handler.messages) == 2
        forced = run(warehouse, server, force=True)
        assert len(server.handler.messages) == 4
    assert statuses(first) == {ANA: "sent", BOB: "sent"} and all(r.sent_now for r in first)
    assert statuses(again) == {ANA: "sent", BOB: "sent"} and not any(r.sent_now for r in again)
    assert "already sent" in again[0].detail
    assert all(r.sent_now for r in forced)
    received = [parsed(e) for e in server.handler.messages[:2]]
    assert sorted(str(m["To"]) for m in received) == [ANA, BOB]
    for message in received:
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
        assert message["Message-ID"] == mail.make_message_id(
            TOPIC, PERIOD, str(message["To"]), "news.example"
        )
    # A forced resend carries the same Message-ID: receivers can tell it is the same digest.
    assert {str(parsed(e)["Message-ID"]) for e in server.handler.messages} == {
        str(m["Message-ID"]) for m in received
    }
    with db.read_connection(warehouse) as con:
        view = con.execute(
            "SELECT topic, period, recipient, status, sent_at IS NOT NULL, message_id, attempts "
            "FROM v_digests ORDER BY recipient"
        ).fetchall()
        columns = [r[0] for r in con.execute("DESCRIBE v_digests").fetchall()]
    assert columns[:6] == ["topic", "period", "recipient", "status", "sent_at", "message_id"]
    assert [v[:5] for v in view] == [
        (TOPIC, PERIOD, ANA, "sent", True),
        (TOPIC, PERIOD, BOB, "sent", True),
    ]
    assert all(v[6] == 2 for v in view)  # the first send and the forced one


def test_a_4xx_is_retried_with_backoff_and_sent_once(warehouse: Path) -> None:
    waits: list[float] = []
    handler = Recorder(data_replies=["451 4.7.1 try again later"])
    with smtp_server(handler) as server:
        results = run(warehouse, server, ANA, backoff=0.25, sleep=waits.append)
    assert statuses(results) == {ANA: "sent"}
    assert handler.data_count == 2 and len(handler.messages) == 1
    assert waits == [0.25]
    row = rows(warehouse)[ANA]
    assert (row.status, row.attempts, row.last_code, row.last_error) == ("sent", 2, 250, None)


def test_a_4xx_that_persists_stays_pending_and_the_next_run_sends_it(warehouse: Path) -> None:
    waits: list[float] = []
    handler = Recorder(data_replies=["451 4.3.0 busy"] * 3)
    with smtp_server(handler) as server:
        first = run(warehouse, server, ANA, retries=2, backoff=0.5, sleep=waits.append)
        assert (first[0].status, handler.data_count, waits) == ("pending", 3, [0.5, 1.0])
        assert "next run" in first[0].detail
        row = rows(warehouse)[ANA]
        assert (row.status, row.attempts, row.last_code) == ("pending", 3, 451)
        second = run(warehouse, server, ANA)
    assert statuses(second) == {ANA: "sent"} and len(handler.messages) == 1
    assert rows(warehouse)[ANA].attempts == 4


def test_a_5xx_fails_once_and_is_not_retried(warehouse: Path) -> None:
    handler = Recorder(data_replies=["554 5.7.1 rejected as spam"])
    with smtp_server(handler) as server:
        first = run(warehouse, server, ANA)
        second = run(warehouse, server, ANA)
    assert handler.data_count == 1 and handler.messages == []
    assert statuses(first) == statuses(second) == {ANA: "failed"}
    assert "rejected as spam" in second[0].detail and "--force" in second[0].detail
    row = rows(warehouse)[ANA]
    assert (row.status, row.attempts, row.last_code) == ("failed", 1, 554)


def test_one_refused_recipient_does_not_stop_the_other(warehouse: Path) -> None:
    handler = Recorder(rcpt_replies={BOB: "550 5.1.1 no such user"})
    with smtp_server(handler) as server:
        results = run(warehouse, server)
        run(warehouse, server)
    assert statuses(results) == {ANA: "sent", BOB: "failed"}
    assert [e.rcpt_tos for e in handler.messages] == [[ANA]]
    recorded = rows(warehouse)
    assert (recorded[BOB].status, recorded[BOB].last_code) == ("failed", 550)
    assert "no such user" in (recorded[BOB].last_error or "")
    assert recorded[BOB].attempts == 1  # the second run did not try again


def test_connection_lost_after_data_is_unknown_and_never_resent(warehouse: Path) -> None:
    handler = Recorder(data_replies=["drop"])
    with smtp_server(handler) as server:
        first = run(warehouse, server, ANA)
        second = run(warehouse, server, ANA)
        assert len(handler.messages) == 1 and handler.data_count == 1
        forced = run(warehouse, server, ANA, force=True)
    assert statuses(first) == statuses(second) == {ANA: "unknown"}
    assert "not resent automatically" in second[0].detail
    assert forced[0].sent_now and len(handler.messages) == 2


class Crash(BaseException):
    """The process dying: nothing after the call runs, no handler records anything."""


def test_a_crash_between_the_250_and_the_commit_never_sends_twice(warehouse: Path) -> None:
    def send_then_die(smtp: SmtpSettings, message: EmailMessage, *, timeout: float) -> Any:
        outcome = mail.send(smtp, message, timeout=timeout)
        assert outcome.status == "sent"
        raise Crash

    with smtp_server() as server:
        with pytest.raises(Crash):
            run(warehouse, server, ANA, transport=send_then_die)
        assert rows(warehouse)[ANA].status == "sending"
        after = run(warehouse, server, ANA)
        run(warehouse, server, ANA)
    assert len(server.handler.messages) == 1
    assert statuses(after) == {ANA: "unknown"}
    assert "run stopped while sending" in after[0].detail
    row = rows(warehouse)[ANA]
    assert (row.status, row.attempts) == ("unknown", 1)


def test_authentication_failure_stops_the_run_and_leaves_rows_pending(
    warehouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(auth="refuse") as server:
        smtp = settings(server.port, ANA, BOB, user="digest")
        results = run(warehouse, smtp)
    assert statuses(results) == {ANA: "pending", BOB: "pending"}
    assert "authentication failed" in results[0].detail
    assert results[1].detail.startswith("not tried")
    assert server.handler.commands.count("MAIL") == 0
    recorded = rows(warehouse)
    assert (recorded[ANA].attempts, recorded[BOB].attempts) == (1, 0)
    everything = [caplog.text, *(r.detail for r in results)]
    everything += [str(r.last_error) for r in recorded.values()]
    assert not any(PASSWORD in text for text in everything)


class _Everything(logging.Handler):
    """Every record of every logger, with its arguments and traceback, as text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("mail.log"):  # aiosmtpd's own log: the server, not newswatch
            return
        self.texts.append(f"{record.name} {record.getMessage()} {record.args!r}")
        if record.exc_info:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


def test_the_password_from_the_environment_is_in_no_log_record_of_a_real_send(
    warehouse: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    handler = _Everything()
    loggers = [logging.getLogger(), *map(logging.getLogger, logging.root.manager.loggerDict)]
    levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        with smtp_server(auth="accept") as server:
            smtp = load_smtp(
                {
                    "NEWSWATCH_SMTP_HOST": "127.0.0.1",
                    "NEWSWATCH_SMTP_PORT": str(server.port),
                    "NEWSWATCH_SMTP_USER": "digest",
                    "NEWSWATCH_SMTP_PASSWORD": PASSWORD,
                    "NEWSWATCH_SMTP_SECURITY": "none",
                    "NEWSWATCH_DIGEST_FROM": "digest@newswatch.example",
                    "NEWSWATCH_DIGEST_TO": f"{ANA}, {BOB}",
                }
            )
            assert smtp is not None and smtp.password == PASSWORD
            results = run(warehouse, smtp)
    finally:
        for lg, level in levels:
            lg.removeHandler(handler)
            lg.setLevel(level)
    assert statuses(results) == {ANA: "sent", BOB: "sent"}
    assert len(server.handler.messages) == 2
    assert any("newswatch.digest" in t for t in handler.texts)  # the send did log
    out, err = capfd.readouterr()
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    for text in [*handler.texts, out, err]:
        assert PASSWORD not in text and encoded not in text, text


def test_unreachable_server_retries_then_leaves_everything_pending(warehouse: Path) -> None:
    waits: list[float] = []
    smtp = settings(free_port(), ANA, BOB)
    results = run(warehouse, smtp, retries=1, sleep=waits.append)
    assert statuses(results) == {ANA: "pending", BOB: "pending"}
    assert "connection refused" in results[0].detail and len(waits) == 1
    with smtp_server() as server:  # the server is back: the next run delivers
        later = run(warehouse, server)
    assert statuses(later) == {ANA: "sent", BOB: "sent"}


def test_missing_starttls_raises_and_the_row_stays_pending(warehouse: Path) -> None:
    with smtp_server(auth="accept") as server:
        smtp = settings(server.port, ANA, security="starttls", user="digest")
        with pytest.raises(mail.MailConfigError, match="STARTTLS"):
            run(warehouse, smtp)
    assert server.auth_seen == [] and server.handler.commands == []
    row = rows(warehouse)[ANA]
    assert row.status == "pending" and "STARTTLS" in (row.last_error or "")


# --- two senders at once ------------------------------------------------------------------------


@dataclass
class SlowRecorder(Recorder):
    """Takes `delay` seconds over each DATA, as a busy server does."""

    delay: float = 2.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def start_sender(warehouse: Path, port: int) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "tests.outbox_sender", str(warehouse), str(port)]
    return subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def sender_results(child: subprocess.Popen[str]) -> dict[str, DeliveryResult]:
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    found = [DeliveryResult(**json.loads(line)) for line in out.splitlines()]
    return {r.recipient: r for r in found}


def wait_for(condition: Callable[[], bool], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_second_run_while_the_first_is_sending_says_so_and_sends_nothing(
    warehouse: Path,
) -> None:
    with smtp_server(SlowRecorder(delay=2.0)) as server:
        first = start_sender(warehouse, server.port)
        wait_for(lambda: "MAIL" in server.handler.commands)  # the first is mid-send to Ana
        second = sender_results(start_sender(warehouse, server.port))
        first_results = sender_results(first)
        again = run(warehouse, server, ANA, BOB)

    busy = f"another digest run (PID {first.pid}) is sending this digest now; this run sent nothing"
    assert second == {r: DeliveryResult(r, "sending", busy) for r in (ANA, BOB)}
    assert statuses(list(first_results.values())) == {ANA: "sent", BOB: "sent"}
    assert sorted(parsed(m)["To"] for m in server.handler.messages) == [ANA, BOB]
    assert statuses(again) == {ANA: "sent", BOB: "sent"}
    assert all(r.detail.startswith("already sent at ") for r in again)
    assert {(r.status, r.attempts) for r in rows(warehouse).values()} == {("sent", 1)}


def test_a_sender_killed_mid_send_leaves_unknown_for_the_next_run(warehouse: Path) -> None:
    with smtp_server(SlowRecorder(delay=2.0)) as server:
        first = start_sender(warehouse, server.port)
        wait_for(lambda: "MAIL" in server.handler.commands)
        first.kill()  # SIGKILL: its lock goes with it, its `sending` row stays
        first.communicate(timeout=30)
        after = sender_results(start_sender(warehouse, server.port))
    assert after[ANA].status == "unknown" and "run stopped while sending" in after[ANA].detail
    assert after[BOB].status == "sent"
    assert [parsed(m)["To"] for m in server.handler.messages] == [BOB]  # Ana's DATA never ended
