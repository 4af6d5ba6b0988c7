"""The warehouse: migrations, idempotent batch loads, lock waits and the spool."""

from __future__ import annotations

import subprocess
import time
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flows.config import Paths
from tests.faults_support import holding
from warehouse import batches, db, spool, store
from warehouse.evidence import Evidence
from warehouse.records import SourceState
from warehouse.rows import ArticleKeyRow, ArticleRow, Batch, MatchRow

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def article(key: str, **extra: Any) -> ArticleRow:
    row = {
        "key": key,
        "url": key,
        "source": "A",
        "feed_url": "https://a.example/feed",
        "guid": None,
        "title": "T",
        "author": None,
        "published_at": NOW,
        "first_seen_at": NOW,
        "language": "en",
        "site_name": None,
        "summary": "s",
        "text": "body",
        "extraction": "trafilatura",
        "page_status": "ok",
        "extract_error": None,
        "content_hash": "h",
        "story_id": "s1",
        "run_id": "r1",
    }
    row.update(extra)
    return ArticleRow(**row)


def tables(*keys: str, run: str = "r1") -> Batch:
    return Batch(
        sources=(SourceState(url="https://a.example/feed", name="A", last_status="ok"),),
        articles=tuple(article(k, run_id=run) for k in keys),
        article_keys=tuple(ArticleKeyRow(key=k, article_key=k) for k in keys),
        matches=tuple(
            MatchRow(
                topic="t",
                article_key=k,
                score=0.8,
                matched=True,
                entities=("Poland",),
                evidence=Evidence(),
                profile_version="v1",
                scored_at=NOW,
            )
            for k in keys
        ),
    )


def without_score(batch: Batch) -> Batch:
    """The batch with its first match's score NULL: the schema refuses it."""
    return replace(batch, matches=(replace(batch.matches[0], score=None), *batch.matches[1:]))


def held_lock(
    path: Path, seconds: float, *, read_only: bool = True
) -> AbstractContextManager[subprocess.Popen[str]]:
    """Another process (an analyst's session) holding the file."""
    return holding(
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r}, read_only={read_only})\n"
        "print('ready', flush=True)\n"
        f"time.sleep({seconds})\n"
    )


def test_migrations_are_recorded_and_views_have_documented_columns(paths: Paths) -> None:
    with db.write_connection(paths.db) as con:
        first = db.migrate(con)
        assert first[0] == "0001_initial" and db.migrate(con) == []
        cols = {
            view: [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
            for view in ("v_matches", "v_source_health", "v_articles")
        }
    assert cols["v_matches"][:8] == [
        "topic",
        "url",
        "title",
        "source",
        "published_at",
        "score",
        "entities",
        "story_id",
    ]
    assert cols["v_source_health"][:6] == [
        "source",
        "url",
        "last_status",
        "last_success_at",
        "consecutive_failures",
        "last_error",
    ]
    assert cols["v_articles"][:7] == [
        "url",
        "title",
        "source",
        "published_at",
        "first_seen_at",
        "language",
        "extraction",
    ]


def test_spool_lines_hold_each_fields_value(tmp_path: Path) -> None:
    # The file format the warehouse loads: one JSON object a row, every field by name, dates in
    # ISO 8601 with their offset, the evidence in its stored form, non-ASCII text as it is.
    import json

    batch = replace(tables("https://a.example/1"), articles=(article("https://a.example/1",
        title="Łódź — Kraków", published_at=datetime(2026, 11, 20, 9, 5, 1, 250, tzinfo=UTC)),))  # fmt: skip
    written = spool.write_batch(tmp_path, "b1", batch)
    for table in ("articles", "matches", "sources"):
        rows = getattr(batch, table)
        text = (written / f"{table}.jsonl").read_text(encoding="utf-8")
        assert text.endswith("\n") and len(text.splitlines()) == len(rows)
        for line, row in zip(text.splitlines(), rows, strict=True):
            for name, value in json.loads(line).items():
                want = getattr(row, name)
                if isinstance(want, datetime):
                    want = want.isoformat()
                elif isinstance(want, Evidence):
                    want = want.to_json()
                elif isinstance(want, tuple):
                    want = list(want)
                assert value == want, (table, name)
    assert "Łódź — Kraków" in (written / "articles.jsonl").read_text(encoding="utf-8")
    assert '"2026-11-20T09:05:01.000250+00:00"' in (written / "articles.jsonl").read_text()


def test_a_batch_loads_once(paths: Paths) -> None:
    batch = spool.write_batch(
        paths.data_dir / "spool", "b1", tables("https://a.example/1", "https://a.example/2")
    )
    with db.write_connection(paths.db) as con:
        db.migrate(con)
        assert store.load_batch(con, batch) == store.LoadCounts(articles=2, matches=2)
        assert store.load_batch(con, batch) == store.LoadCounts(articles=0, matches=0)
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (2,)
        assert store.unseen_keys(con, ["https://a.example/1", "https://a.example/3"]) == {
            "https://a.example/3"
        }
        entities = con.execute("SELECT entities FROM v_matches LIMIT 1").fetchone()
    assert entities == (["Poland"],)


def test_a_failed_load_leaves_nothing_half_written(paths: Paths) -> None:
    bad = without_score(tables("https://a.example/1"))  # NOT NULL, after the articles went in
    batch = spool.write_batch(paths.data_dir / "spool", "bad", bad)
    with db.write_connection(paths.db) as con:
        db.migrate(con)
        with pytest.raises(store.UnloadableBatch, match="NOT NULL"):
            store.load_batch(con, batch)
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (0,)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: (d / "articles.jsonl").write_text('{"key": "x", "url": tr'), "JSON"),
        (lambda d: (d / "articles.jsonl").write_bytes(b"\x00\xff\xfe" * 100), "JSON"),
        (
            lambda d: (d / "fetch_log.jsonl").write_text('{"fetched_at": "last Tuesday"}\n'),
            "last Tuesday",
        ),
    ],
    ids=["truncated-json", "binary-garbage", "wrong-type"],
)
def test_a_batch_that_can_never_load_is_quarantined_and_blocks_nothing(
    paths: Paths, damage: Any, reason: str
) -> None:
    spool_dir = paths.data_dir / "spool"
    bad = spool.write_batch(spool_dir, "0-old", tables("https://a.example/old"))
    damage(bad)

    saved = batches.save(paths, "1-new", tables("https://a.example/new", run="r2"))
    again = batches.save(paths, "2-next", tables("https://a.example/next", run="r3"))

    assert saved.stored and saved.articles == 1 and again.stored and not again.quarantined
    (moved,) = saved.quarantined
    assert moved.startswith(str(paths.data_dir / "quarantine" / "0-old")) and reason in moved
    kept = paths.data_dir / "quarantine" / "0-old"
    assert (kept / "articles.jsonl").exists()  # nothing deleted: an analyst can repair it
    assert (
        reason in (kept / "REASON.txt").read_text()
        and "move this directory back" in (kept / "REASON.txt").read_text()
    )
    assert spool.pending(spool_dir) == []
    with db.read_connection(paths.db) as con:
        stored = con.execute("SELECT key FROM articles ORDER BY key").fetchall()
    assert stored == [("https://a.example/new",), ("https://a.example/next",)]


def test_a_run_whose_own_batch_is_refused_says_it_was_not_saved(paths: Paths) -> None:
    saved = batches.save(paths, "bad", without_score(tables("https://a.example/1")))
    assert not saved.stored and saved.batch is None and "NOT NULL" in saved.quarantined[0]
    assert saved.refused == saved.quarantined[0]
    assert (paths.data_dir / "quarantine" / "bad" / "matches.jsonl").exists()


def test_writer_waits_for_a_reader_then_gets_through(paths: Paths) -> None:
    with db.write_connection(paths.db) as con:
        db.migrate(con)
    with held_lock(paths.db, seconds=1.5):
        start = time.monotonic()
        with db.write_connection(paths.db, wait_seconds=20) as con:
            waited = time.monotonic() - start
            con.execute("SELECT 1").fetchall()
    assert 0.5 < waited < 10


def test_locked_warehouse_keeps_results_in_the_spool_for_the_next_run(paths: Paths) -> None:
    with db.write_connection(paths.db) as con:
        db.migrate(con)
    with held_lock(paths.db, seconds=30) as holder:
        saved = batches.save(
            paths, "20261120T100000-r1", tables("https://a.example/1"), wait_seconds=0.5
        )
        assert not saved.stored
        assert saved.holder is not None and f"PID {holder.pid}" in saved.holder
        assert saved.batch is not None and saved.batch.is_dir()
    known = batches.open_warehouse(paths)
    assert known.loaded_spool == 1 and known.available
    assert spool.pending(paths.data_dir / "spool") == []
    with db.read_connection(paths.db) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (1,)


def test_a_locked_run_counts_the_failures_earlier_locked_runs_left_in_the_spool(
    paths: Paths,
) -> None:
    """Two runs in a row find the warehouse locked: the second sees the first's feed states."""
    feed = "https://a.example/feed"

    def failing(times: int) -> Batch:
        state = SourceState(
            url=feed, name="A", last_status="http_error", consecutive_failures=times,
            failing_since=NOW, last_attempt_at=NOW,
        )  # fmt: skip
        return Batch(sources=(state,))

    with db.write_connection(paths.db) as con:
        db.migrate(con)
        first = spool.write_batch(paths.data_dir / "spool", "0", tables())
        store.load_batch(con, first)
        spool.discard(first)
    with held_lock(paths.db, seconds=30):
        for times in (1, 2):
            saved = batches.save(
                paths, f"2026112{times}T100000-r", failing(times), wait_seconds=0.5
            )
            assert not saved.stored
            known = batches.open_warehouse(paths, wait_seconds=0.5)
            state = known.source_states[feed]
            assert (state.last_status, state.consecutive_failures) == ("http_error", times)
    known = batches.open_warehouse(paths)
    assert known.loaded_spool == 2
    assert known.source_states[feed].consecutive_failures == 2


def test_busy_error_names_the_holder(paths: Paths) -> None:
    with db.write_connection(paths.db) as con:
        db.migrate(con)
    with (
        held_lock(paths.db, seconds=30, read_only=False) as holder,
        pytest.raises(db.WarehouseBusy, match=f"PID {holder.pid}"),
        db.read_connection(paths.db, wait_seconds=0.3),
    ):
        pass


def test_half_written_spool_batches_are_cleared(paths: Paths) -> None:
    spool_dir = paths.data_dir / "spool"
    spool.write_batch(spool_dir, "done", tables("https://a.example/1"))
    (spool_dir / ".tmp-crashed-1234").mkdir()
    assert [p.name for p in spool.pending(spool_dir)] == ["done"]
    assert not (spool_dir / ".tmp-crashed-1234").exists()


def test_a_discarded_batch_leaves_the_batches_at_once(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed while removing a loaded batch leaves no part of it to load again."""
    spool_dir = paths.data_dir / "spool"
    batch = spool.write_batch(spool_dir, "loaded", tables("https://a.example/1"))

    def killed(path: Path) -> None:  # the run dies before any file is removed
        raise KeyboardInterrupt

    monkeypatch.setattr(spool.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        spool.discard(batch)
    monkeypatch.undo()

    assert not batch.exists()
    assert spool.pending(spool_dir) == []
    assert list(spool_dir.iterdir()) == []


def test_reading_a_missing_warehouse_says_what_to_do(paths: Paths) -> None:
    with (
        pytest.raises(db.WarehouseError, match="run `newswatch ingest` first"),
        db.read_connection(paths.db),
    ):
        pass


def test_sources_no_longer_configured_leave_health_view_but_keep_history(paths: Paths) -> None:
    first = Batch(
        sources=tuple(
            SourceState(url=u, name=u[-1], last_status="ok")
            for u in ("https://x.example/a", "https://x.example/b")
        )
    )
    second = Batch(sources=(SourceState(url="https://x.example/a", name="a", last_status="ok"),))
    with db.write_connection(paths.db) as con:
        db.migrate(con)
        store.load_batch(con, spool.write_batch(paths.data_dir / "spool", "1", first))
        store.load_batch(con, spool.write_batch(paths.data_dir / "spool", "2", second))
        assert con.execute("SELECT source FROM v_source_health").fetchall() == [("a",)]
        assert con.execute("SELECT count(*) FROM sources").fetchone() == (2,)
