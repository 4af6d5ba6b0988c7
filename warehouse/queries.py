"""The analysts' queries: their SQL, `explain`'s rows, and exports to Parquet or CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from warehouse import store
from warehouse.db import QueryRefused

# --- export -------------------------------------------------------------------------------

EXPORTED = (
    "articles", "matches", "sources", "fetch_log", "runs", "outbox", "article_keys", "labels"
)  # fmt: skip
EXPORTED_VIEWS = ("v_articles", "v_matches", "v_source_health", "v_digests", "v_labels")


def export_parquet(con: duckdb.DuckDBPyConnection, out: Path) -> list[tuple[str, int]]:
    """Every table and documented view as <name>.parquet (zstd); (name, rows) written."""
    out.mkdir(parents=True, exist_ok=True)
    present = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    written = []
    for name in (*EXPORTED, *EXPORTED_VIEWS):
        if name not in present:
            continue
        target = out / f"{name}.parquet"
        tmp = target.with_suffix(".parquet.tmp")
        con.execute(
            f"COPY (SELECT * FROM {name}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)"  # noqa: S608
        )
        tmp.replace(target)
        rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()  # noqa: S608
        written.append((name, int(rows[0]) if rows else 0))
    return written


def explain_rows(con: duckdb.DuckDBPyConnection, key: str) -> list[dict[str, Any]]:
    """The article stored under a key (any key it was seen under), with each topic's verdict."""
    cur = con.execute(
        "SELECT a.url, a.title, a.source, a.published_at, a.language, a.extraction, m.topic, "
        "m.score, m.matched, m.entities, m.evidence, m.profile_version, a.story_id "
        "FROM article_keys k JOIN articles a ON a.key = k.article_key "
        "LEFT JOIN matches m ON m.article_key = a.key WHERE k.key = ? ORDER BY m.topic",
        [key],
    )
    return store.with_evidence(cur)


_READS_ONLY = (
    "`newswatch sql` reads the warehouse and nothing else; "
    '`newswatch export --query "SELECT …"` writes a query\'s rows to a file'
)


def query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one analyst query; column names and rows."""
    try:
        cur = con.execute(sql)
        columns = [d[0] for d in cur.description or []]
        return columns, cur.fetchall()
    except duckdb.PermissionException as exc:
        raise QueryRefused(f"{str(exc).splitlines()[0]}; {_READS_ONLY}") from exc


def export_query(con: duckdb.DuckDBPyConnection, sql: str, tmp: Path, fmt: str) -> int:
    """One analyst SELECT's rows written to `tmp` as Parquet (zstd) or CSV; the rows written."""
    statements = con.extract_statements(sql)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise QueryRefused("--query takes one SELECT statement (WITH, FROM, DESCRIBE … too)")
    body = statements[0].query.strip().rstrip(";")
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER"
    target = str(tmp).replace("'", "''")
    try:
        row = con.execute(f"COPY ({body}) TO '{target}' ({options})").fetchone()
    except duckdb.PermissionException as exc:
        raise QueryRefused(
            f"{str(exc).splitlines()[0]}; the query may read the warehouse only"
        ) from exc
    return int(row[0]) if row else 0


# Outbox: one row per (topic, period, channel, recipient), committed before any message leaves.
# pending -> sending -> sent | failed | unknown; only a commit of `sending` precedes a send.
