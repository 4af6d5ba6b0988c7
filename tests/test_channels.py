"""The channel seam: the outbox keyed by channel, and old warehouses' rows kept as email."""

from __future__ import annotations

from pathlib import Path

import duckdb

from flows.delivery.channels import Outcome
from flows.delivery.outbox import send_once
from warehouse import db
from warehouse import outbox as outbox_table


def test_rows_written_before_channels_keep_working_as_email(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    for migration in sorted(db.MIGRATIONS.glob("000[1-4]_*.sql")):
        con.execute(migration.read_text(encoding="utf-8"))
        con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [migration.stem])
    con.execute(
        "INSERT INTO outbox (topic, period, recipient, status, attempts, message_id, subject, "
        "created_at, updated_at, sent_at) VALUES ('t', '2026-W47', 'ana@example.org', 'sent', 1, "
        "'<id@x>', 'Digest', now(), now(), now())"
    )
    con.close()
    with db.write_connection(path) as con:
        db.migrate(con)
        row = con.execute(
            "SELECT topic, period, recipient, status, channel FROM v_digests"
        ).fetchall()
        columns = [r[0] for r in con.execute("DESCRIBE v_digests").fetchall()]
    assert row == [("t", "2026-W47", "ana@example.org", "sent", "email")]
    assert columns[:6] == ["topic", "period", "recipient", "status", "sent_at", "message_id"]
    assert "channel" in columns


class Recorder:
    """A channel that accepts everything and counts what it was given."""

    setup_errors: tuple[type[Exception], ...] = ()

    def __init__(self, name: str, outcome: Outcome | None = None) -> None:
        self.name = name
        self.sent: list[str] = []
        self.outcome = outcome or Outcome("sent", 200, "accepted")

    def prepare(self, recipient: str, message_id: str) -> str:
        return f"hello {recipient} {message_id}"

    def send(self, recipient: str, message: str) -> Outcome:
        self.sent.append(message)
        return self.outcome


def test_the_same_period_and_recipient_is_sent_once_per_channel(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    email, chat = Recorder("email"), Recorder("team-chat")
    kw = {"topic": "t", "period": "2026-W47", "message_ids": {"r": "<m>"}, "subject": "s"}
    for _ in range(2):
        for channel in (email, chat):
            send_once(path, channel, **kw)  # type: ignore[arg-type]
    assert (len(email.sent), len(chat.sent)) == (1, 1)
    send_once(path, chat, force=True, **kw)  # type: ignore[arg-type]
    assert len(chat.sent) == 2
    with db.read_connection(path) as con:
        rows = outbox_table.outbox_rows(con, "t", "2026-W47")
    assert sorted((r.channel, r.status, r.attempts) for r in rows) == [
        ("email", "sent", 1),
        ("team-chat", "sent", 2),
    ]


def test_a_failure_before_anything_was_offered_stays_pending_and_stops_the_channel(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.duckdb"
    down = Recorder("hook", Outcome("failed", None, "refused address", offered=False))
    results = send_once(
        path, down, topic="t", period="p", message_ids={"a": "1", "b": "2"}, subject="s", retries=0
    )  # type: ignore[arg-type]
    assert [r.status for r in results] == ["pending", "pending"]
    assert results[1].detail.startswith("not tried") and len(down.sent) == 1
