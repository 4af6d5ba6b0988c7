"""Exactly-once digest delivery: the outbox state machine around reports.mail."""

# (new) → pending ──commit──► sending ──SMTP──► sent      250
#            ▲                   │      ├────► failed    5xx for this message (--force resends)
#            └── 4xx, or nothing ┘      └────► unknown   connection lost after the message went out
#                offered (backoff)
# sending, found by a later run ──► unknown   the process died between the 250 and our commit
#
# Only `pending` rows are sent. `sending` is committed before every SMTP call and the outcome
# after it, so a crash between the server's 250 and our commit leaves `sending`, which the next
# run settles as `unknown` rather than sending a second email. A run delivers a (topic, period)
# only while it holds that pair's sender lock, which the OS frees when its process dies: a
# `sending` row found by the lock's holder was left by a dead run, never by a live one, and a
# run that cannot take the lock says who is sending and touches nothing.

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from flows.config import SmtpSettings
from reports import mail
from warehouse import db, locks, store
from warehouse.records import Rendered

log = logging.getLogger("newswatch.digest")

# Losing the commit after a send turns a delivered email into `unknown`: wait longer for it.
AFTER_SEND_WAIT_SECONDS = 300.0
# Failures before the message is offered say nothing about it: it stays pending.
_SESSION_STAGES = frozenset({"connect", "tls", "auth"})
_RESEND = "--force resends"


class Transport(Protocol):
    """How one message is offered to the server (reports.mail.send; tests wrap it)."""

    def __call__(
        self, smtp: SmtpSettings, message: EmailMessage, *, timeout: float
    ) -> mail.SendOutcome: ...


@dataclass(frozen=True)
class DeliveryResult:
    """Where one recipient's digest stands after this run."""

    recipient: str
    status: str  # sent, failed, unknown, pending (the next run tries again), sending (another run)
    detail: str
    sent_now: bool = False  # the server accepted it during this run


def deliver(
    db_path: Path,
    smtp: SmtpSettings,
    *,
    topic: str,
    period: str,
    rendered: Rendered,
    list_id: str,
    unsubscribe: str | None = None,
    force: bool = False,
    retries: int = 3,
    backoff: float = 2.0,
    sender_domain: str | None = None,
    timeout: float = 30.0,
    transport: Transport = mail.send,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryResult]:
    """Send a digest to each recipient once (`force`: again); MailConfigError leaves it pending."""
    domain = sender_domain or mail.sender_domain(smtp.sender)
    recipients = list(dict.fromkeys(smtp.recipients))
    ids = {r: mail.make_message_id(topic, period, r, domain) for r in recipients}
    with ExitStack() as stack:
        try:
            stack.enter_context(locks.exclusive(sender_lock(db_path, topic, period)))
        except locks.Held as exc:
            who = f" (PID {exc.holder})" if exc.holder else ""
            busy = f"another digest run{who} is sending this digest now; this run sent nothing"
            log.info("%s %s: %s", topic, period, busy)
            return [DeliveryResult(r, "sending", busy) for r in recipients]
        return _deliver_locked(
            db_path,
            smtp,
            ids,
            topic=topic,
            period=period,
            rendered=rendered,
            list_id=list_id,
            unsubscribe=unsubscribe,
            force=force,
            sender=_Attempt(
                db_path, smtp, topic, period, retries, backoff, timeout, transport, sleep
            ),
        )
    raise AssertionError("unreachable: the block returns")


def sender_lock(db_path: Path, topic: str, period: str) -> Path:
    """The (topic, period) pair's sender lock, beside the warehouse."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{topic}@{period}")
    return db_path.parent / ".data" / "outbox" / f"{name}.lock"


def _deliver_locked(
    db_path: Path,
    smtp: SmtpSettings,
    ids: dict[str, str],
    *,
    topic: str,
    period: str,
    rendered: Rendered,
    list_id: str,
    unsubscribe: str | None,
    force: bool,
    sender: _Attempt,
) -> list[DeliveryResult]:
    with db.write_connection(db_path) as con:
        db.migrate(con)  # a warehouse made before the outbox existed gets it here
        rows = store.outbox_claim(con, topic, period, ids, rendered.subject, force=force)
    results: list[DeliveryResult] = []
    halted: str | None = None
    for row in rows:
        if row.status != "pending":
            results.append(_settled(row))
        elif halted is not None:
            results.append(DeliveryResult(row.recipient, "pending", f"not tried: {halted}"))
        else:
            message = mail.build_message(
                rendered,
                sender=smtp.sender,
                recipient=row.recipient,
                message_id=row.message_id,
                list_id=list_id,
                unsubscribe=unsubscribe,
            )
            result, halted = sender.run(row.recipient, message)
            results.append(result)
        log.info("%s %s → %s: %s", topic, period, row.recipient, results[-1].detail)
    return results


def _settled(row: store.OutboxRow) -> DeliveryResult:
    """A row this run does not send, and why."""
    if row.status == "sent":
        when = f" at {row.sent_at:%Y-%m-%d %H:%M} UTC" if row.sent_at else ""
        return DeliveryResult(row.recipient, "sent", f"already sent{when}; not resent ({_RESEND})")
    if row.status == "sending":  # another run committed `sending` after our claim
        return DeliveryResult(row.recipient, "sending", "another run is sending it now")
    automatic = "not resent automatically" if row.status == "unknown" else "not retried"
    reason = row.last_error or row.status
    return DeliveryResult(row.recipient, row.status, f"{reason}; {automatic} ({_RESEND})")


@dataclass(frozen=True)
class _Attempt:
    """Sends one recipient's message through the outbox, retrying 4xx replies with backoff."""

    db_path: Path
    smtp: SmtpSettings
    topic: str
    period: str
    retries: int
    backoff: float
    timeout: float
    transport: Transport
    sleep: Callable[[float], None]

    def run(self, recipient: str, message: EmailMessage) -> tuple[DeliveryResult, str | None]:
        """The recipient's result, and why the run should stop (the server, not the message)."""
        for attempt in range(self.retries + 1):
            with db.write_connection(self.db_path) as con:
                if store.outbox_begin(con, self.topic, self.period, recipient) is None:
                    return DeliveryResult(recipient, "sending", "another run took it over"), None
            outcome = self._send(recipient, message)
            status, code, detail = _verdict(outcome, recipient)
            session = outcome.stage in _SESSION_STAGES
            row_status = {"sent": "sent", "unknown": "unknown", "retry": "pending"}.get(
                status, "pending" if session else "failed"
            )
            self._mark(recipient, row_status, code, None if status == "sent" else detail)
            if status == "retry" and attempt < self.retries:
                self.sleep(self.backoff * 2**attempt)
                continue
            tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
            why = {
                "sent": "",
                "unknown": f"; not resent automatically ({_RESEND})",
                "failed": f"; not retried ({_RESEND})",
                "pending": f"; not sent after {tries}, the next run tries again",
            }[row_status]
            result = DeliveryResult(recipient, row_status, detail + why, status == "sent")
            # Before the message was offered, the server is the problem, not this message:
            # the other recipients would fare the same, so the run stops here.
            return result, (detail if session and row_status == "pending" else None)
        raise AssertionError("unreachable: the last attempt always returns")

    def _send(self, recipient: str, message: EmailMessage) -> mail.SendOutcome:
        try:
            return self.transport(self.smtp, message, timeout=self.timeout)
        except mail.MailConfigError as exc:
            # Raised before the message is offered: nothing left, so the row can go back.
            self._mark(recipient, "pending", None, str(exc))
            raise
        except Exception as exc:
            # We cannot tell how far it got, so the only safe reading is "maybe delivered".
            self._mark(recipient, "unknown", None, f"unexpected {type(exc).__name__} while sending")
            raise

    def _mark(self, recipient: str, status: str, code: int | None, error: str | None) -> None:
        with db.write_connection(self.db_path, wait_seconds=AFTER_SEND_WAIT_SECONDS) as con:
            store.outbox_mark(con, self.topic, self.period, recipient, status, code, error)


def _verdict(outcome: mail.SendOutcome, recipient: str) -> tuple[str, int | None, str]:
    """This recipient's share of a transaction's outcome (one of several may be refused)."""
    refusal = outcome.refused.get(recipient)
    if outcome.status == "sent" and refusal is not None:
        code, text = refusal
        return ("retry" if 400 <= code < 500 else "failed"), code, f"refused: {code} {text}"
    return outcome.status, outcome.code, outcome.detail
