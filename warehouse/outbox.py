"""The outbox's SQL: one row per (topic, period, channel, recipient) and its sending state, so
that every message is sent once (flows/delivery/outbox.py drives it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import duckdb

from warehouse import db

_OUTBOX_COLUMNS = (
    "topic, period, recipient, status, attempts, last_code, last_error, message_id, subject, "
    "created_at, updated_at, sent_at, channel"
)
_INTERRUPTED = "a run stopped while sending this message; the server may have accepted it"
EMAIL = "email"  # the channel of every row written before channels existed


@dataclass(frozen=True)
class OutboxRow:
    """One message's delivery to one recipient on one channel."""

    topic: str
    period: str
    recipient: str
    status: str  # pending, sending, sent, failed or unknown
    attempts: int
    last_code: int | None
    last_error: str | None
    message_id: str
    subject: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    channel: str = EMAIL


def outbox_claim(
    con: duckdb.DuckDBPyConnection,
    topic: str,
    period: str,
    message_ids: Mapping[str, str],
    subject: str,
    *,
    force: bool = False,
    channel: str = EMAIL,
) -> list[OutboxRow]:
    """Rows for these recipients (→ Message-ID), new ones pending, interrupted sends unknown."""
    # `force` puts sent, failed and unknown rows back to pending; they keep their Message-ID so a
    # receiver that already has the message can recognise the duplicate.
    recipients = list(message_ids)
    key = [topic, period, channel, recipients]
    with db.transaction(con):
        con.execute(
            "INSERT INTO outbox (topic, period, channel, recipient, status, attempts, message_id, "
            "subject, created_at, updated_at) "
            "SELECT ?, ?, ?, unnest(?::VARCHAR[]), 'pending', 0, unnest(?::VARCHAR[]), ?, "
            "now(), now() "
            "ON CONFLICT (topic, period, channel, recipient) DO NOTHING",
            [topic, period, channel, recipients, list(message_ids.values()), subject],
        )
        # Nobody commits `sending` and leaves it there unless the process died mid-send.
        con.execute(
            "UPDATE outbox SET status = 'unknown', last_error = ?, updated_at = now() "
            "WHERE topic = ? AND period = ? AND channel = ? AND list_contains(?, recipient) "
            "AND status = 'sending'",
            [_INTERRUPTED, *key],
        )
        if force:
            con.execute(
                "UPDATE outbox SET status = 'pending', subject = ?, updated_at = now() "
                "WHERE topic = ? AND period = ? AND channel = ? AND list_contains(?, recipient) "
                "AND status IN ('sent', 'failed', 'unknown')",
                [subject, *key],
            )
    rows = {row.recipient: row for row in outbox_rows(con, topic, period, channel)}
    return [rows[r] for r in recipients]


def outbox_begin(
    con: duckdb.DuckDBPyConnection,
    topic: str,
    period: str,
    recipient: str,
    *,
    channel: str = EMAIL,
) -> int | None:
    """pending → sending, counting the attempt; None when the row is no longer pending."""
    found = con.execute(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = now() "
        "WHERE topic = ? AND period = ? AND channel = ? AND recipient = ? AND status = 'pending' "
        "RETURNING attempts",
        [topic, period, channel, recipient],
    ).fetchall()
    return int(found[0][0]) if found else None


def outbox_mark(
    con: duckdb.DuckDBPyConnection,
    topic: str,
    period: str,
    recipient: str,
    status: str,
    code: int | None,
    error: str | None,
    *,
    channel: str = EMAIL,
) -> None:
    """Record an attempt's outcome: sent, failed, unknown, or pending (to be tried again)."""
    if status not in ("pending", "sent", "failed", "unknown"):
        raise ValueError(f"outbox status {status!r}: expected pending, sent, failed or unknown")
    con.execute(
        "UPDATE outbox SET status = ?, last_code = ?, last_error = ?, updated_at = now(), "
        "sent_at = CASE WHEN ? = 'sent' THEN now() ELSE sent_at END "
        "WHERE topic = ? AND period = ? AND channel = ? AND recipient = ?",
        [status, code, error, status, topic, period, channel, recipient],
    )


def outbox_rows(
    con: duckdb.DuckDBPyConnection,
    topic: str | None = None,
    period: str | None = None,
    channel: str | None = None,
) -> list[OutboxRow]:
    """Outbox rows, optionally for one topic, period and channel."""
    cur = con.execute(
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox "  # noqa: S608 (a constant column list)
        "WHERE (? IS NULL OR topic = ?) AND (? IS NULL OR period = ?) "
        "AND (? IS NULL OR channel = ?) "
        "ORDER BY topic, period, channel, recipient",
        [topic, topic, period, period, channel, channel],
    )
    return [OutboxRow(*row) for row in cur.fetchall()]


def outbox_periods(
    con: duckdb.DuckDBPyConnection, topic: str, prefix: str, channel: str
) -> list[tuple[str, str]]:
    """(period, status) of a channel's rows whose period starts with `prefix`."""
    cur = con.execute(
        "SELECT period, status FROM outbox WHERE topic = ? AND channel = ? "
        "AND starts_with(period, ?) ORDER BY period",
        [topic, channel, prefix],
    )
    return [(str(p), str(s)) for p, s in cur.fetchall()]
