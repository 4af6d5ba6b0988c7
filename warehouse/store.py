"""Every SQL statement newswatch runs against the warehouse."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from warehouse import db
from warehouse.errors import NewswatchError
from warehouse.evidence import Evidence
from warehouse.records import SourceState
from warehouse.rows import TABLES

# Writes are declared per table: append-if-new, or upsert on the key.
_KEYS = {"sources": "url"}
_UPSERT_TABLES = {"sources"}


@dataclass(frozen=True)
class LoadCounts:
    """What one batch added to the warehouse."""

    articles: int = 0
    matches: int = 0  # new matched (topic, article) pairs


# What the batch's own content causes (bad JSON, a value of the wrong type, a NULL where the
# schema wants one): loading it again will fail again. Disk, memory and lock errors are not.
_BAD_BATCH = (
    duckdb.InvalidInputException,
    duckdb.ConversionException,
    duckdb.ConstraintException,
    duckdb.BinderException,
)


class UnloadableBatch(NewswatchError):
    """A spool batch the warehouse refuses whatever the state of the machine."""


def load_batch(con: duckdb.DuckDBPyConnection, batch: Path) -> LoadCounts:
    """Load a spool batch in one transaction; rows already present are left as they are.

    DuckDB runs `INSERT OR IGNORE` as a join with every stored key (~0.2 s a table at 1M
    articles, growing with history), while a plain INSERT checks its keys in the primary-key
    index. So a batch is first appended plainly; only when the index refuses a row (the batch
    was loaded before, another run stored the same article, a key repeats in the batch) is it
    loaded again, in a new transaction, with the statements that skip what is there.
    """
    try:
        try:
            with db.transaction(con):
                return _load(con, batch, skip_present=False)
        except duckdb.ConstraintException:
            with db.transaction(con):
                return _load(con, batch, skip_present=True)
    except _BAD_BATCH as exc:  # also when only the COMMIT finds it
        raise UnloadableBatch(f"{type(exc).__name__}: {exc}"[:2000]) from exc


def _load(con: duckdb.DuckDBPyConnection, batch: Path, *, skip_present: bool) -> LoadCounts:
    insert = "INSERT OR IGNORE" if skip_present else "INSERT"
    new: dict[str, int] = {}
    types = _table_column_types(con)  # one catalog query, not one per table: ~20 ms a save
    for table in TABLES:
        path = batch / f"{table}.jsonl"
        if not path.exists() or path.stat().st_size == 0:
            continue
        source = _json_reader(types[table])
        if table in _UPSERT_TABLES:
            cols = [c for c, _ in types[table] if c != _KEYS[table]]
            sets = ", ".join(f"{c} = excluded.{c}" for c in cols)
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT * FROM {source} "  # noqa: S608 (table names are ours)
                f"ON CONFLICT ({_KEYS[table]}) DO UPDATE SET {sets}",
                [str(path)],
            )
            # Feeds no longer in sources.yaml drop out of v_source_health but keep their history.
            con.execute(
                f"UPDATE sources SET active = url IN (SELECT url FROM {source})",  # noqa: S608
                [str(path)],
            )
        elif table == "matches":
            rows = con.execute(
                f"{insert} INTO matches BY NAME SELECT * FROM {source} RETURNING matched",  # noqa: S608
                [str(path)],
            ).fetchall()
            new["matches"] = sum(1 for (matched,) in rows if matched)
        else:
            rows = con.execute(
                f"{insert} INTO {table} BY NAME SELECT * FROM {source} RETURNING 1",  # noqa: S608
                [str(path)],
            ).fetchall()
            new[table] = len(rows)
    return LoadCounts(articles=new.get("articles", 0), matches=new.get("matches", 0))


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [name for name, _ in _column_types(con, table)]


def _column_types(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [
        (str(name), str(kind))
        for name, kind in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]


def _table_column_types(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """(column, type) of every table of the warehouse, by table."""
    found: dict[str, list[tuple[str, str]]] = {}
    for table, name, kind in con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = 'main' "
        "ORDER BY table_name, ordinal_position"
    ).fetchall():
        found.setdefault(str(table), []).append((str(name), str(kind)))
    return found


def _reader(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """read_json over a batch file, typed exactly as the target table (no inference surprises)."""
    return _json_reader(_column_types(con, table))


def _json_reader(types: list[tuple[str, str]]) -> str:
    spec = ", ".join(f"'{name}': '{kind}'" for name, kind in types)
    return f"read_json(?, format = 'newline_delimited', columns = {{{spec}}})"


def source_states(
    con: duckdb.DuckDBPyConnection, waiting: Iterable[Path] = ()
) -> dict[str, SourceState]:
    """Every known feed's state, by URL.

    waiting: spool batches not loaded yet, oldest first (a run that found the warehouse
    locked). Their states are newer than the warehouse's and win, as loading them would.
    """
    types = _column_types(con, "sources")  # a warehouse not yet migrated lacks new ones
    present = {name for name, _ in types}
    names = [f.name for f in fields(SourceState) if f.name in present]
    columns = ", ".join(names)
    rows = con.execute(f"SELECT {columns} FROM sources").fetchall()  # noqa: S608
    for batch in waiting:
        path = batch / "sources.jsonl"
        if not path.is_file() or path.stat().st_size == 0:
            continue
        try:
            rows += con.execute(
                f"SELECT {columns} FROM {_json_reader(types)}",  # noqa: S608
                [str(path)],
            ).fetchall()
        except (*_BAD_BATCH, duckdb.IOException):  # loading it will say why (or quarantine it)
            continue
    return {r[0]: SourceState(**dict(zip(names, r, strict=True))) for r in rows}


def recent_signatures(
    con: duckdb.DuckDBPyConnection, since: datetime, scheme: str
) -> list[tuple[str, str, int, list[int]]]:
    """(key, story_id, shingles, hashes) of articles signed since a time, for story grouping."""
    # Two weeks are ~20k signatures of 128 values: fetchall() builds those 2.6M Python ints one
    # at a time (~0.5 s a run); as numpy arrays they become lists in C (~0.1 s).
    cols = con.execute(
        "SELECT key, story_id, shingles, hashes FROM article_signatures "
        "WHERE signed_at >= ? AND scheme = ?",
        [since, scheme],
    ).fetchnumpy()
    return [
        (str(key), str(story), int(shingles), hashes.tolist())
        for key, story, shingles, hashes in zip(
            cols["key"], cols["story_id"], cols["shingles"], cols["hashes"], strict=True
        )
    ]


def unseen_keys(con: duckdb.DuckDBPyConnection, keys: Iterable[str]) -> set[str]:
    """The keys no stored article was seen under (lookups in the key index)."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    # DuckDB answers a constant key list with lookups in the primary-key index while fewer than
    # max(2048, 0.1 % of the rows) match; a join with the list scanned every stored key instead.
    rows = con.execute(
        "SELECT key FROM article_keys WHERE list_contains(?::VARCHAR[], key)", [wanted]
    ).fetchall()
    return set(wanted) - {r[0] for r in rows}


# --- digest -------------------------------------------------------------------------------
# A story belongs to the period of its publication time, or of its first-seen time. Said as
# coalesce(published_at, first_seen_at) the filter cannot use the zonemaps and every query
# read the whole history (0.3-0.4 s at 1M articles); said as two plain ranges it reads the
# row groups of the period only. Rows are appended in time order, so those are few.
_PERIOD = (
    "WITH period AS ("
    "SELECT key, url, title, source, published_at AS at, story_id, language FROM articles "
    "WHERE published_at >= $start AND published_at < $end "
    "UNION ALL "
    "SELECT key, url, title, source, first_seen_at AS at, story_id, language FROM articles "
    "WHERE published_at IS NULL AND first_seen_at >= $start AND first_seen_at < $end) "
)


def period_matches(
    con: duckdb.DuckDBPyConnection, topic: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Every matched copy in [start, end) for a topic, with what ranking and rendering need."""
    cur = con.execute(
        f"{_PERIOD}SELECT p.key, p.url, p.title, p.source, p.at, "  # noqa: S608 (a constant)
        "m.score, m.entities, m.evidence, p.story_id, p.language "
        "FROM period p JOIN matches m ON m.article_key = p.key "
        "WHERE m.topic = $topic AND m.matched",
        {"topic": topic, "start": start, "end": end},
    )
    return with_evidence(cur)


def period_counts(
    con: duckdb.DuckDBPyConnection, topic: str, start: datetime, end: datetime
) -> tuple[int, int]:
    """(articles stored in the period, matched stories in it)."""
    # A semi-join on the matched keys: joining every match row (LEFT JOIN) built a hash table
    # of the whole history's verdicts.
    row = con.execute(
        f"{_PERIOD}SELECT count(*), count(DISTINCT story_id) FILTER (WHERE key IN "  # noqa: S608
        "(SELECT article_key FROM matches WHERE topic = $topic AND matched)) FROM period",
        {"topic": topic, "start": start, "end": end},
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def matched_story_times(
    con: duckdb.DuckDBPyConnection, topic: str, start: datetime, end: datetime
) -> list[tuple[str, datetime]]:
    """(story_id, time) of every matched copy in [start, end), for stories-per-week counts."""
    return [
        (str(r[0]), r[1])
        for r in con.execute(
            f"{_PERIOD}SELECT DISTINCT p.story_id, p.at FROM period p WHERE p.key IN "  # noqa: S608
            "(SELECT article_key FROM matches WHERE topic = $topic AND matched)",
            {"topic": topic, "start": start, "end": end},
        ).fetchall()
    ]


def source_health(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """v_source_health as rows."""
    cur = con.execute("SELECT * FROM v_source_health ORDER BY source")
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


# --- rescoring ----------------------------------------------------------------------------


def articles_for_scoring(
    con: duckdb.DuckDBPyConnection, topic: str, chunk: int
) -> Iterator[list[dict[str, Any]]]:
    """Stored articles with their current verdict for a topic, a chunk at a time."""
    cur = con.cursor()
    cur.execute(
        "SELECT a.key, a.url, a.title, a.text, a.language, a.source, "
        "coalesce(m.matched, false) AS matched, m.profile_version "
        "FROM articles a LEFT JOIN matches m ON m.article_key = a.key AND m.topic = ? "
        "ORDER BY a.key",
        [topic],
    )
    names = [d[0] for d in cur.description or []]
    try:
        while rows := cur.fetchmany(chunk):
            yield [dict(zip(names, r, strict=True)) for r in rows]
    finally:
        cur.close()


def replace_matches(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Upsert verdicts from a JSON-lines file in one transaction (rescoring replaces them)."""
    source = _reader(con, "matches")
    cols = [c for c in _columns(con, "matches") if c not in ("topic", "article_key")]
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols)
    with db.transaction(con):
        con.execute(
            f"INSERT INTO matches BY NAME SELECT * FROM {source} "  # noqa: S608
            f"ON CONFLICT (topic, article_key) DO UPDATE SET {sets}",
            [str(path)],
        )


def last_run_finished(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the last ingest run that got as far as saving its batch finished."""
    found = con.execute("SELECT max(finished_at) FROM runs").fetchone()
    return found[0] if found else None


def failed_run_streak(con: duckdb.DuckDBPyConnection) -> tuple[datetime | None, int]:
    """Since when no ingest run has reached any feed, and how many runs that covers.

    The start is the end of the last run with a feed that answered (or the first run's start
    when none ever did); (None, 0) when the last run reached a feed or there are no runs.
    """
    found = con.execute(
        "WITH good AS (SELECT max(finished_at) AS good_at FROM runs WHERE feeds_ok > 0) "
        "SELECT coalesce(any_value(good.good_at), min(runs.started_at)), count(runs.run_id) "
        "FROM good LEFT JOIN runs ON good.good_at IS NULL OR runs.finished_at > good.good_at"
    ).fetchone()
    if not found or not found[1]:
        return None, 0
    return found[0], int(found[1])


def story_best_match(
    con: duckdb.DuckDBPyConnection, topic: str, story_id: str
) -> tuple[str, str | None, str, float] | None:
    """(title, url, source, score) of a story's highest-scoring matched copy for a topic."""
    found = con.execute(
        "SELECT title, url, source, score FROM v_matches WHERE topic = ? AND story_id = ? "
        "ORDER BY score DESC, first_seen_at LIMIT 1",
        [topic, story_id],
    ).fetchone()
    return (str(found[0]), found[1], str(found[2]), float(found[3])) if found else None


def with_evidence(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Rows as dicts, the `evidence` JSON decoded (NULL when an article has no verdict: empty)."""
    names = [d[0] for d in cur.description or []]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for row in rows:
        row["evidence"] = Evidence.from_json(row["evidence"])
    return rows
