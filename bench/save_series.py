"""Consecutive hourly saves on a big warehouse: time per save and file growth (library).

`series(paths, settings, count, start=…, seed=…)` saves `count` hourly runs one after the
other through `warehouse.batches.save` (spool, open, migrate, load, close: DuckDB checkpoints
on close), each run 60 new articles with their keys, verdicts, signatures, fetch log, run and
feed states, copied under new keys from articles of the three days before `start`. It records
per save the wall time, the CPU time of this process (DuckDB's threads included) and the
file's size, and DuckDB's block counts before and after (`PRAGMA database_size`: used and free
blocks, to show freed blocks being reused).

File growth is compared with the *data added*: the same rows (every table a save writes,
indexes included) written into a fresh, empty warehouse made by the same code
(`warehouse.db.write_connection`, `migrate`) in one load, minus the size of that empty
warehouse: what the rows cost at rest, so growth / data added is the overhead of saving them
an hour at a time. It is also given for DuckDB's default row groups (122,880 rows), the most
compact layout, which counts the space small row groups cost too; the target holds for both.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flows.config import Settings
from warehouse import batches, spool, store
from warehouse import db as wdb
from warehouse.evidence import Evidence
from warehouse.records import SIGNATURE_SCHEME, SourceState
from warehouse.rows import (
    ArticleKeyRow,
    ArticleRow,
    Batch,
    FetchLogRow,
    MatchRow,
    RunRow,
    SignatureRow,
)

SAVE_ARTICLES = 60  # an hourly run's new articles at ~1,400 a day
TARGET_SAVE_SECONDS = 0.3  # issue 13, point 6: per save at 1M articles
TARGET_GROWTH_RATIO = 1.5  # file growth over the series ≤ 1.5 × the data added
DUCKDB_ROW_GROUP_SIZE = 122_880  # DuckDB's own default: the most compact layout
_BENCH_TAG = "-bench-"  # in every key the series writes, so its rows can be told apart


def sample(db: Path, pool_end: datetime) -> tuple[list[dict[str, Any]], dict[str, SourceState]]:
    """Articles first seen in the three days before `pool_end` (the warehouse's "now"), with
    their verdicts and signatures, and the feeds' states: what hourly runs are copied from."""
    with wdb.read_connection(db) as con:
        cur = con.execute(
            "WITH a AS (SELECT * FROM articles WHERE first_seen_at >= ? AND first_seen_at <= ?) "
            "SELECT a.*, m.score, m.matched, m.entities, m.evidence::VARCHAR AS evidence, "
            "m.profile_version, s.hashes, s.shingles FROM a "
            "JOIN matches m ON m.article_key = a.key "
            "LEFT JOIN article_signatures s ON s.key = a.key ORDER BY a.key",
            [pool_end - timedelta(days=3), pool_end],
        )
        names = [d[0] for d in cur.description or []]
        pool = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return pool, store.source_states(con)


def run_rows(
    pool: list[dict[str, Any]],
    states: dict[str, SourceState],
    settings: Settings,
    at: datetime,
    seed: int,
) -> Batch:
    """The rows one hourly ingest run saves: 60 new articles with everything that goes with,
    copies of articles of the pool under new keys, first seen at `at`."""
    run_id = uuid.uuid4().hex[:12]
    picked = random.Random(seed).sample(pool, SAVE_ARTICLES)
    articles, keys, matches, sigs, log = [], [], [], [], []
    for r in picked:
        key = f"{r['key']}{_BENCH_TAG}{run_id}"
        row = {c: v for c, v in r.items() if c in _ARTICLE_COLUMNS}
        articles.append(
            ArticleRow(**{**row, "key": key, "url": key, "first_seen_at": at, "run_id": run_id})
        )
        keys.append(ArticleKeyRow(key=key, article_key=key))
        matches.append(
            MatchRow(
                topic=settings.topics[0].id,
                article_key=key,
                score=r["score"],
                matched=r["matched"],
                entities=tuple(r["entities"]),
                evidence=Evidence.from_json(r["evidence"]),
                profile_version=r["profile_version"],
                scored_at=at,
            )
        )
        if r["hashes"] is not None:
            sigs.append(
                SignatureRow(
                    key=key,
                    story_id=r["story_id"],
                    shingles=r["shingles"],
                    hashes=tuple(r["hashes"]),
                    scheme=SIGNATURE_SCHEME,
                    signed_at=at,
                )
            )
        log.append(
            FetchLogRow(
                run_id=run_id,
                kind="page",
                url=key,
                source=r["source"],
                fetched_at=at,
                status="ok",
                http_status=200,
                error=None,
                bytes=None,
                elapsed_ms=300,
            )
        )
    sources = tuple(replace(s, last_attempt_at=at) for s in states.values() if s.active)
    run = RunRow(
        run_id=run_id,
        started_at=at,
        finished_at=at + timedelta(seconds=40),
        status="ok",
        feeds_total=len(sources),
        feeds_ok=len(sources),
        feeds_failed=0,
        feeds_skipped=0,
        entries_new=len(articles),
        pages_fetched=len(articles),
    )
    return Batch(
        sources=sources,
        runs=(run,),
        fetch_log=tuple(log),
        articles=tuple(articles),
        article_keys=tuple(keys),
        matches=tuple(matches),
        article_signatures=tuple(sigs),
    )


_ARTICLE_COLUMNS = frozenset(f.name for f in fields(ArticleRow))


def _blocks(db: Path) -> dict[str, int]:
    with wdb.read_connection(db) as con:
        row = con.execute(
            "SELECT total_blocks, used_blocks, free_blocks FROM pragma_database_size()"
        ).fetchone()
    assert row is not None
    return {"total": int(row[0]), "used": int(row[1]), "free": int(row[2])}


def series(
    paths: batches.Paths,
    settings: Settings,
    count: int,
    *,
    start: datetime,
    seed: int,
    step: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """`count` hourly saves, one after the other; per-save figures and their summary."""
    db = paths.db
    before = {"bytes": db.stat().st_size, "blocks": _blocks(db)}
    saves: list[dict[str, Any]] = []
    runs: list[Batch] = []
    pool, states = sample(db, start)
    for k in range(count):
        rows = run_rows(pool, states, settings, start + timedelta(hours=k + 1), seed + k)
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        saved = batches.save(paths, f"bench-{k:04d}", rows)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert saved.stored and saved.articles == SAVE_ARTICLES, saved
        runs.append(rows)
        saves.append(
            {
                "seconds": round(wall, 4),
                "cpu_seconds": round(cpu, 4),
                "file_bytes": db.stat().st_size,
                "load_avg_1m": load,
            }
        )
        if (k + 1) % 25 == 0 or k + 1 == count:
            last = saves[-25:]
            step(
                f"  {k + 1}/{count} saves; last {len(last)}: median "
                f"{statistics.median(s['seconds'] for s in last):.3f} s, max "
                f"{max(s['seconds'] for s in last):.3f} s; file {db.stat().st_size / 1e6:.1f} MB"
            )
    after = {"bytes": db.stat().st_size, "blocks": _blocks(db)}
    added = data_added(runs)
    compact = data_added(runs, row_group_size=DUCKDB_ROW_GROUP_SIZE)
    growth = after["bytes"] - before["bytes"]
    times = [s["seconds"] for s in saves]
    cpus = [s["cpu_seconds"] for s in saves]
    return {
        "saves": count,
        "articles_per_save": SAVE_ARTICLES,
        "seconds": _summary(times),
        "cpu_seconds": _summary(cpus),
        "before": before,
        "after": after,
        "file_growth_bytes": growth,
        "data_added_bytes": added,
        "growth_ratio": round(growth / added, 3) if added else None,
        "data_added_compact_bytes": compact,
        "growth_ratio_compact": round(growth / compact, 3) if compact else None,
        "file_bytes_max": max(s["file_bytes"] for s in saves),
        "per_save": saves,
        "load_avg_1m": _summary([s["load_avg_1m"] for s in saves]),
        "pass_time": max(times) <= TARGET_SAVE_SECONDS,
        "pass_time_median": statistics.median(times) <= TARGET_SAVE_SECONDS,
        "pass_growth": growth <= TARGET_GROWTH_RATIO * min(added, compact),
    }


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "min": round(ordered[0], 4),
        "median": round(statistics.median(ordered), 4),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 4),
        "max": round(ordered[-1], 4),
    }


def data_added(runs: list[Batch], row_group_size: int | None = None) -> int:
    """Bytes the series' rows take in a fresh warehouse written by the same code, in one load;
    with `row_group_size`, in row groups of that size instead of the write sessions' own."""
    saved = wdb.ROW_GROUP_SIZE
    wdb.ROW_GROUP_SIZE = row_group_size or saved  # read by every write session as it opens
    try:
        return _fresh_size(runs)
    finally:
        wdb.ROW_GROUP_SIZE = saved


def _fresh_size(runs: list[Batch]) -> int:
    with tempfile.TemporaryDirectory(prefix="newswatch-added-") as tmp:
        fresh = Path(tmp) / "fresh.duckdb"
        with wdb.write_connection(fresh) as con:
            wdb.migrate(con)
        empty = fresh.stat().st_size
        merged = Batch(
            **{
                f.name: tuple(row for run in runs for row in getattr(run, f.name))
                for f in fields(Batch)
                if f.name != "sources"
            },
            sources=runs[-1].sources if runs else (),
        )
        batch = spool.write_batch(Path(tmp) / "spool", "all", merged)
        with wdb.write_connection(fresh) as con:
            store.load_batch(con, batch)
        return fresh.stat().st_size - empty


def table(m: dict[str, Any]) -> list[str]:
    """The series' lines for the benchmark's table."""
    t, c = m["seconds"], m["cpu_seconds"]
    ok = "PASS" if m["pass_time"] else "FAIL"
    ratio = m["growth_ratio"]
    blocks_before, blocks_after = m["before"]["blocks"], m["after"]["blocks"]
    peak = m["file_bytes_max"] - m["before"]["bytes"]
    return [
        f"{m['saves']} consecutive hourly saves ({m['articles_per_save']} articles each), "
        f"load average {m['load_avg_1m']['min']}-{m['load_avg_1m']['max']}",
        f"{'save, wall s':34} median {t['median']:.3f}  p90 {t['p90']:.3f}  max {t['max']:.3f}"
        f"  (min {t['min']:.3f})   ≤ {TARGET_SAVE_SECONDS} s (max) {ok}",
        f"{'save, CPU s (this process)':34} median {c['median']:.3f}  p90 {c['p90']:.3f}  "
        f"max {c['max']:.3f}",
        f"{'file growth':34} {m['file_growth_bytes'] / 1e6:,.1f} MB "
        f"(at most +{peak / 1e6:,.1f} MB during the series)",
        f"{'data added (fresh file, one load)':34} {m['data_added_bytes'] / 1e6:,.1f} MB; in "
        f"DuckDB's default row groups {m['data_added_compact_bytes'] / 1e6:,.1f} MB",
        f"{'growth / data added':34} {ratio}×; against the default row groups "
        f"{m['growth_ratio_compact']}×   ≤ {TARGET_GROWTH_RATIO}× (both) "
        f"{'PASS' if m['pass_growth'] else 'FAIL'}",
        f"{'blocks used / free, before':34} {blocks_before['used']:,} / {blocks_before['free']:,}",
        f"{'blocks used / free, after':34} {blocks_after['used']:,} / {blocks_after['free']:,}",
    ]
