"""Exactly-once delivery: the outbox state machine around any channel (flows.delivery.channels)."""

# (new) → pending ──commit──► sending ──send──► sent      accepted (SMTP 250, HTTP 2xx)
#            ▲                   │      ├────► failed    refused for good (--force resends)
#            └── retry, or not   ┘      └────► unknown   lost after the message went out
#                offered (backoff)
# sending, found by a later run ──► unknown   the process died between the reply and our commit
#
# Only `pending` rows are sent. `sending` is committed before every send and the outcome after
# it, so a crash between the receiver's acceptance and our commit leaves `sending`, which the
# next run settles as `unknown` rather than sending a second message. A run delivers a (topic,
# period, channel) only while it holds that key's sender lock, which the OS frees when its
# process dies: a `sending` row found by the lock's holder was left by a dead run, never by a
# live one, and a run that cannot take the lock says who is sending and touches nothing.

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.config import SmtpSettings
from flows.delivery.channels import Channel, Outcome
from flows.delivery.email import EmailChannel, Transport
from reports import mail
from warehouse import db, locks
from warehouse import outbox as outbox_table
from warehouse.records import Rendered

__all__ = ["DeliveryResult", "Transport", "deliver", "send_once"]

log = logging.getLogger("newswatch.digest")

# Losing the commit after a send turns a delivered message into `unknown`: wait longer for it.
AFTER_SEND_WAIT_SECONDS = 300.0
_RESEND = "--force resends"


@dataclass(frozen=True)
class DeliveryResult:
    """Where one recipient's message stands after this run."""

    recipient: str
    status: str  # sent, failed, unknown, pending (the next run tries again), sending (another run)
    detail: str
    sent_now: bool = False  # the receiver accepted it during this run
    channel: str = outbox_table.EMAIL


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
    """Email a digest to each recipient once (`force`: again); MailConfigError leaves it pending."""
    domain = sender_domain or mail.sender_domain(smtp.sender)
    recipients = list(dict.fromkeys(smtp.recipients))
    ids = {r: mail.make_message_id(topic, period, r, domain) for r in recipients}
    channel = EmailChannel(smtp, rendered, list_id, unsubscribe, timeout, transport)
    return send_once(
        db_path,
        channel,
        topic=topic,
        period=period,
        message_ids=ids,
        subject=rendered.subject,
        force=force,
        retries=retries,
        backoff=backoff,
        sleep=sleep,
    )


def sender_lock(db_path: Path, topic: str, period: str, channel: str = "email") -> Path:
    """The sender lock of one (topic, period, channel), beside the warehouse."""
    key = f"{topic}@{period}" if channel == outbox_table.EMAIL else f"{topic}@{period}@{channel}"
    return db_path.parent / ".data" / "outbox" / f"{re.sub(r'[^A-Za-z0-9._-]', '_', key)}.lock"


def send_once(
    db_path: Path,
    channel: Channel[Any],
    *,
    topic: str,
    period: str,
    message_ids: Mapping[str, str],
    subject: str,
    force: bool = False,
    retries: int = 3,
    backoff: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryResult]:
    """Send one message per recipient on one channel, at most once per outbox key."""
    try:  # Held comes only from taking the lock: the send itself raises nothing of the kind
        with locks.exclusive(sender_lock(db_path, topic, period, channel.name)):
            return _send_locked(
                db_path,
                channel,
                topic=topic,
                period=period,
                message_ids=message_ids,
                subject=subject,
                force=force,
                sender=_Attempt(db_path, channel, topic, period, retries, backoff, sleep),
            )
    except locks.Held as exc:
        who = f" (PID {exc.holder})" if exc.holder else ""
        what = "alert" if period.startswith("story:") else "digest"
        busy = f"another {what} run{who} is sending this {what} now; this run sent nothing"
        log.info("%s %s: %s", topic, period, busy)
        return [DeliveryResult(r, "sending", busy, False, channel.name) for r in message_ids]


def _send_locked(
    db_path: Path,
    channel: Channel[Any],
    *,
    topic: str,
    period: str,
    message_ids: Mapping[str, str],
    subject: str,
    force: bool,
    sender: _Attempt,
) -> list[DeliveryResult]:
    with db.write_connection(db_path) as con:
        db.migrate(con)  # a warehouse made before the outbox existed gets it here
        rows = outbox_table.outbox_claim(
            con, topic, period, message_ids, subject, force=force, channel=channel.name
        )
    results: list[DeliveryResult] = []
    halted: str | None = None
    for row in rows:
        if row.status != "pending":
            results.append(_settled(row))
        elif halted is not None:
            results.append(
                DeliveryResult(row.recipient, "pending", f"not tried: {halted}", False, row.channel)
            )
        else:
            message = channel.prepare(row.recipient, row.message_id)
            result, halted = sender.run(row.recipient, message)
            results.append(result)
        via = "" if channel.name == outbox_table.EMAIL else f" ({channel.name})"
        log.info("%s %s → %s%s: %s", topic, period, row.recipient, via, results[-1].detail)
    return results


def _settled(row: outbox_table.OutboxRow) -> DeliveryResult:
    """A row this run does not send, and why."""
    if row.status == "sent":
        when = f" at {row.sent_at:%Y-%m-%d %H:%M} UTC" if row.sent_at else ""
        detail = f"already sent{when}; not resent ({_RESEND})"
        return DeliveryResult(row.recipient, "sent", detail, False, row.channel)
    if row.status == "sending":  # another run committed `sending` after our claim
        detail = "another run is sending it now"
        return DeliveryResult(row.recipient, "sending", detail, False, row.channel)
    automatic = "not resent automatically" if row.status == "unknown" else "not retried"
    reason = row.last_error or row.status
    detail = f"{reason}; {automatic} ({_RESEND})"
    return DeliveryResult(row.recipient, row.status, detail, False, row.channel)


@dataclass(frozen=True)
class _Attempt:
    """Sends one recipient's message through the outbox, retrying `retry` outcomes with backoff."""

    db_path: Path
    channel: Channel[Any]
    topic: str
    period: str
    retries: int
    backoff: float
    sleep: Callable[[float], None]

    def run(self, recipient: str, message: object) -> tuple[DeliveryResult, str | None]:
        """The recipient's result, and why the run should stop (the channel, not the message)."""
        name = self.channel.name
        for attempt in range(self.retries + 1):
            with db.write_connection(self.db_path) as con:
                begun = outbox_table.outbox_begin(
                    con, self.topic, self.period, recipient, channel=name
                )
                if begun is None:
                    taken = DeliveryResult(
                        recipient, "sending", "another run took it over", False, name
                    )
                    return taken, None
            outcome = self._send(recipient, message)
            status = outcome.status
            row_status = {"sent": "sent", "unknown": "unknown", "retry": "pending"}.get(
                status, "failed" if outcome.offered else "pending"
            )
            self._mark(recipient, row_status, outcome.code, None if status == "sent" else outcome)
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
            result = DeliveryResult(
                recipient, row_status, outcome.detail + why, status == "sent", name
            )
            # Before the message was offered, the channel is the problem, not this message:
            # the other recipients would fare the same, so the run stops here.
            stop = not outcome.offered and row_status == "pending"
            return result, (outcome.detail if stop else None)
        raise AssertionError("unreachable: the last attempt always returns")

    def _send(self, recipient: str, message: object) -> Outcome:
        try:
            return self.channel.send(recipient, message)
        except self.channel.setup_errors as exc:
            # Raised before the message is offered: nothing left, so the row can go back.
            self._mark(recipient, "pending", None, str(exc))
            raise
        except Exception as exc:
            # We cannot tell how far it got, so the only safe reading is "maybe delivered".
            self._mark(recipient, "unknown", None, f"unexpected {type(exc).__name__} while sending")
            raise

    def _mark(
        self, recipient: str, status: str, code: int | None, error: Outcome | str | None
    ) -> None:
        text = error.detail if isinstance(error, Outcome) else error
        with db.write_connection(self.db_path, wait_seconds=AFTER_SEND_WAIT_SECONDS) as con:
            outbox_table.outbox_mark(
                con,
                self.topic,
                self.period,
                recipient,
                status,
                code,
                text,
                channel=self.channel.name,
            )
