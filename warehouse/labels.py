"""Every SQL statement about analysts' labels (the `labels` table, the `v_labels` view)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb


def labelled_article(con: duckdb.DuckDBPyConnection, key: str, topic: str) -> dict[str, Any] | None:
    """The article stored under any key it was seen under, with its verdict for the topic."""
    cur = con.execute(
        "WITH k AS (SELECT article_key FROM article_keys WHERE key = $key "
        "UNION SELECT key FROM articles WHERE key = $key) "
        "SELECT a.key, a.url, a.title, m.matched FROM k JOIN articles a ON a.key = k.article_key "
        "LEFT JOIN matches m ON m.article_key = a.key AND m.topic = $topic",
        {"key": key, "topic": topic},
    )
    names = [d[0] for d in cur.description or []]
    row = cur.fetchone()
    return dict(zip(names, row, strict=True)) if row else None


def add_label(
    con: duckdb.DuckDBPyConnection,
    *,
    topic: str,
    article_key: str,
    label: str,
    note: str | None,
    labelled_by: str,
    labelled_at: datetime,
    profile_version: str,
    matched_then: bool | None,
) -> None:
    """Append one verdict; it supersedes earlier ones on the same (topic, article)."""
    con.execute(
        "INSERT INTO labels (topic, article_key, label, note, labelled_by, labelled_at, "
        "profile_version, matched_then) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [topic, article_key, label, note, labelled_by, labelled_at, profile_version, matched_then],
    )


def _has_labels(con: duckdb.DuckDBPyConnection) -> bool:
    """False on a warehouse opened read-only before its first migration to labels."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'v_labels'"
    ).fetchone()
    return bool(found and found[0])


def current_labels(con: duckdb.DuckDBPyConnection, topic: str | None) -> list[dict[str, Any]]:
    """The verdicts in force (v_labels), with the article's text, oldest label first."""
    if not _has_labels(con):
        return []
    cur = con.execute(
        "SELECT l.topic, l.url, l.key, l.label, l.note, l.labelled_by, l.labelled_at, "
        "l.profile_version, a.title, a.text, a.language, a.source, a.published_at "
        "FROM v_labels l JOIN articles a ON a.key = l.key "
        "WHERE ? IS NULL OR l.topic = ? ORDER BY l.labelled_at, l.key",
        [topic, topic],
    )
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def label_of(con: duckdb.DuckDBPyConnection, topic: str) -> dict[str, str]:
    """article key -> the label in force, for one topic."""
    if not _has_labels(con):
        return {}
    rows = con.execute("SELECT key, label FROM v_labels WHERE topic = ?", [topic]).fetchall()
    return {str(k): str(v) for k, v in rows}
