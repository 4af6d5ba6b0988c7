"""Warehouse benchmark: `uv run python bench/warehouse_bench.py [--articles N] [--out FILE]`.

Builds a fresh warehouse with the project's own code (warehouse.db: connect, migrate, so the
schema and views are the real ones), fills it with N synthetic articles over two years inside
DuckDB (bench/synthetic_warehouse.py), then times, through the project's own functions:

  digest            flows.digest.build_digest for the last complete week (what `newswatch
                    digest` reads: period_matches, period_counts for the week and the week
                    before, source_health), ranking included
  v_matches week    `SELECT * FROM v_matches WHERE published_at in one ISO week` (store.query,
                    as `newswatch sql` runs it)
  v_articles week   the same over v_articles (reads the text's length)
  v_source_health   store.source_health
  unseen            batches.unseen for 300 candidate keys (250 stored in the last two days,
                    50 new): the ingest's dedup
  recent signatures batches.recent_signatures for the grouping window (14 days)
  source states     store.source_states
  render            reports.render.render of the week's digest, full report and email
  open / save       batches.open_warehouse and batches.save of one hourly run (60 articles):
                    the ingest's writes, checkpoint on close included

Each read is timed cold (a fresh connection: DuckDB's buffers empty; the OS page cache may
still hold the file), disk-cold (the file also dropped from the page cache with
posix_fadvise DONTNEED, for the two targets), and warm (one held connection, after a first
run). Best and median of --repeat runs. Prints a table with PASS/FAIL against the targets
and writes every figure to bench/results/warehouse-<timestamp>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))
import duckdb  # noqa: E402
import save_series  # noqa: E402  (bench/ is not a package)
import synthetic_warehouse as synth  # noqa: E402
from harness import git_state as _git_state  # noqa: E402  (the same record of the commit measured)

from flows import digest as digest_flow  # noqa: E402
from flows.config import Paths, Settings, load_settings  # noqa: E402
from flows.delivery.period import Period, last_complete_week  # noqa: E402
from reports.render import render  # noqa: E402
from warehouse import batches, queries, store  # noqa: E402
from warehouse import db as wdb  # noqa: E402
from warehouse.records import SIGNATURE_SCHEME  # noqa: E402

TARGET_SECONDS = 1.0  # digest query and one week of v_matches, 1M articles, 2 cores
GROUPING_WINDOW = timedelta(days=14)  # as flows.ingest.GROUPING_WINDOW


def _step(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _stats(times: list[float]) -> dict[str, Any]:
    return {
        "best": round(min(times), 4),
        "median": round(statistics.median(times), 4),
        "runs": [round(t, 4) for t in times],
    }


def _evict(path: Path) -> None:
    """Drop the warehouse file's pages from the OS page cache (no root needed)."""
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _time(fn: Callable[[], Any], repeat: int, before: Callable[[], None] | None = None) -> Any:
    """Run fn `repeat` times; (stats, last result)."""
    times, result = [], None
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return _stats(times), result


# --- build --------------------------------------------------------------------------------


def build(db: Path, settings: Settings, n: int, seed: int) -> dict[str, Any]:
    """A fresh warehouse of n articles; build timings, rows, sizes."""
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    start = time.perf_counter()
    with wdb.write_connection(db) as con:
        wdb.migrate(con)
        # A good neighbour on a shared machine; DuckDB spills beyond this.
        con.execute("SET memory_limit = '6GB'")
        phases = synth.fill(con, settings, n, seed, _step)
    total = time.perf_counter() - start
    return {"seconds": round(total, 1), "phases": phases, **describe(db)}


def describe(db: Path) -> dict[str, Any]:
    """Rows per table, what the views see, and the file's size."""
    with wdb.read_connection(db) as con:
        rows = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]  # noqa: S608
            for t in (
                "articles",
                "article_keys",
                "matches",
                "article_signatures",
                "fetch_log",
                "runs",
                "sources",
                "outbox",
            )
        }
        shape = con.execute(
            "SELECT count(*) FILTER (WHERE m.matched), count(DISTINCT a.story_id), "
            "avg(length(a.text)) FILTER (WHERE a.extraction = 'trafilatura'), "
            "median(length(a.text)) FILTER (WHERE a.extraction = 'trafilatura'), "
            "min(a.first_seen_at), max(a.first_seen_at) "
            "FROM articles a JOIN matches m ON m.article_key = a.key"
        ).fetchone()
        # A checkpoint rewrites the partly filled last row group of `articles` whole (storage
        # format v1.5): what one run's save costs depends on how full it is.
        last = con.execute(
            "SELECT count(DISTINCT row_group_id), max(row_group_id), "
            "sum(count) FILTER (WHERE row_group_id = (SELECT max(row_group_id) "
            "  FROM pragma_storage_info('articles'))) "
            "FROM pragma_storage_info('articles') WHERE column_name = 'key' "
            "AND segment_type = 'VARCHAR'"
        ).fetchone()
    assert shape is not None and last is not None
    size = db.stat().st_size
    return {
        "rows": rows,
        "matched": shape[0],
        "matched_share": round(shape[0] / max(rows["articles"], 1), 4),
        "stories": shape[1],
        "text_chars_mean": round(shape[2] or 0),
        "text_chars_median": round(shape[3] or 0),
        "first_seen": str(shape[4]),
        "last_seen": str(shape[5]),
        "articles_row_groups": last[0],
        "articles_last_row_group_rows": last[2],
        "file_bytes": size,
        "file_mb": round(size / 1e6, 1),
        "bytes_per_article": round(size / max(rows["articles"], 1)),
    }


# --- measure ------------------------------------------------------------------------------


@contextlib.contextmanager
def _held(con: duckdb.DuckDBPyConnection) -> Iterator[Callable[..., Any]]:
    """Make the project's read_connection hand out one open connection (the warm figures)."""

    @contextlib.contextmanager
    def reuse(*_: Any, **__: Any) -> Iterator[duckdb.DuckDBPyConnection]:
        yield con

    saved = wdb.read_connection
    wdb.read_connection = reuse
    try:
        yield reuse
    finally:
        wdb.read_connection = saved


def _week_sql(view: str, period: Period) -> str:
    """How an analyst asks for one week: literal bounds on published_at."""
    start = period.start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")
    end = period.end.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")
    return (
        f"SELECT * FROM {view} WHERE published_at >= TIMESTAMPTZ '{start}' "  # noqa: S608
        f"AND published_at < TIMESTAMPTZ '{end}'"
    )


def _candidates(db: Path, now: datetime, seed: int) -> list[str]:
    """300 keys as the feeds list them: 250 stored in the last two days, 50 new."""
    with wdb.read_connection(db) as con:
        stored = [
            r[0]
            for r in con.execute(
                "SELECT key FROM articles WHERE first_seen_at >= ? ORDER BY hash(key, ?) LIMIT 250",
                [now - timedelta(days=2), seed],
            ).fetchall()
        ]
    return stored + [f"https://www.example.org/news/2026/11/25/new-story-{k}" for k in range(50)]


def measure(db: Path, settings: Settings, repeat: int, seed: int, saves: int) -> dict[str, Any]:
    """Every figure; see the module docstring."""
    now = synth.END
    topic = settings.topics[0]
    period = last_complete_week(now, settings.digest.timezone)
    known = batches.WarehouseAtStart()
    keys = _candidates(db, now, seed)
    since = now - GROUPING_WINDOW
    paths = settings.paths
    m: dict[str, Any] = {
        "period": {"key": period.key, "start": str(period.start), "end": str(period.end)},
        "now": str(now),
    }

    def connect() -> None:
        with wdb.read_connection(db):
            pass

    def digest() -> Any:
        return digest_flow.build_digest(settings, topic, period, now)

    def in_con(fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with wdb.read_connection(db) as con:
                return fn(con)

        return run

    def v_matches(con: duckdb.DuckDBPyConnection) -> int:
        return len(queries.query(con, _week_sql("v_matches", period))[1])

    def v_articles(con: duckdb.DuckDBPyConnection) -> int:
        return len(queries.query(con, _week_sql("v_articles", period))[1])

    reads: dict[str, Callable[[duckdb.DuckDBPyConnection], Any]] = {
        "period_matches (week)": lambda con: len(
            store.period_matches(con, topic.id, period.start, period.end)
        ),
        "period_counts (week)": lambda con: store.period_counts(
            con, topic.id, period.start, period.end
        ),
        "v_matches week": v_matches,
        "v_articles week": v_articles,
        "v_source_health": lambda con: len(store.source_health(con)),
        "unseen 300 keys": lambda con: len(store.unseen_keys(con, keys)),
        "recent signatures 14 d": lambda con: len(
            store.recent_signatures(con, since, SIGNATURE_SCHEME)
        ),
        "source states": lambda con: len(store.source_states(con)),
    }

    _step("cold: a fresh connection per run")
    cold: dict[str, Any] = {}
    cold["connect"], _ = _time(connect, repeat)
    cold["digest (build_digest)"], built = _time(digest, repeat)
    for name, fn in reads.items():
        cold[name], result = _time(in_con(fn), repeat)
        cold[name]["result"] = result if isinstance(result, int) else str(result)
    # The ingest's own entry points open their connection like this too.
    cold["unseen 300 keys (batches.unseen)"], fresh = _time(
        lambda: batches.unseen(paths, keys, known, wait_seconds=30), repeat
    )
    cold["unseen 300 keys (batches.unseen)"]["result"] = len(fresh)
    cold["recent signatures (persist)"], sigs = _time(
        lambda: batches.recent_signatures(paths, known, since), repeat
    )
    cold["recent signatures (persist)"]["result"] = len(sigs)
    cold["digest (build_digest)"]["result"] = len(built.stories)
    m["cold"] = cold
    if not cold["recent signatures 14 d"]["result"]:
        _step(f"warning: no {SIGNATURE_SCHEME} signature in the window (an older build?)")

    _step("disk-cold: the file dropped from the page cache before each run")
    evict = functools.partial(_evict, db)
    disk: dict[str, Any] = {}
    disk["connect"], _ = _time(connect, repeat, evict)
    disk["digest (build_digest)"], _ = _time(digest, repeat, evict)
    disk["v_matches week"], _ = _time(in_con(v_matches), repeat, evict)
    m["disk_cold"] = disk

    _step("warm: one held connection, after a first run")
    warm: dict[str, Any] = {}
    with wdb.read_connection(db) as con, _held(con):
        for name, fn in {"digest (build_digest)": lambda _: digest(), **reads}.items():
            fn(con)
            warm[name], _ = _time(functools.partial(fn, con), repeat)
    m["warm"] = warm

    _step("render the week's digest")
    full = _time(lambda: render(built, full=True), repeat)
    email = _time(lambda: render(built), repeat)
    m["render"] = {
        "stories": len(built.stories),
        "full report": {
            **full[0],
            "html_bytes": len(full[1].html),
            "text_bytes": len(full[1].text),
        },
        "email": {**email[0], "html_bytes": len(email[1].html)},
    }

    if saves:
        _step("ingest writes: open_warehouse")
        opened, _ = _time(lambda: batches.open_warehouse(paths), repeat)
        m["writes"] = {"open_warehouse": opened}
        _step(f"ingest writes: {saves} consecutive hourly saves (adds rows)")
        m["save_series"] = save_series.series(
            paths, settings, saves, start=now, seed=seed, step=_step
        )
    return m


# --- report -------------------------------------------------------------------------------


def _fmt(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "-"
    return f"{stats['best'] * 1000:8.1f} / {stats['median'] * 1000:8.1f}"


def table(results: dict[str, Any]) -> list[str]:
    m = results["measurements"]
    lines = [
        f"{results['articles']:,} articles; build {results['build'].get('seconds', '-')} s; "
        f"file {results['build']['file_mb']} MB; week {m['period']['key']}",
        "",
        f"{'ms, best / median':34} {'cold':>19} {'disk-cold':>19} {'warm':>19}  target",
    ]
    targets = {"digest (build_digest)", "v_matches week"}
    names = list(m["cold"]) + [n for n in m["warm"] if n not in m["cold"]]
    for name in names:
        verdict = ""
        if name in targets:
            worst = max(s["median"] for s in (m["cold"].get(name), m["disk_cold"].get(name)) if s)
            verdict = f"≤ 1 s {'PASS' if worst <= TARGET_SECONDS else 'FAIL'}"
        lines.append(
            f"{name:34} {_fmt(m['cold'].get(name)):>19} {_fmt(m['disk_cold'].get(name)):>19} "
            f"{_fmt(m['warm'].get(name)):>19}  {verdict}"
        )
    r = m["render"]
    lines.append(
        f"{'render full report':34} {_fmt(r['full report']):>19}   "
        f"({r['stories']} stories, {r['full report']['html_bytes'] // 1000} KB HTML)"
    )
    lines.append(f"{'render email':34} {_fmt(r['email']):>19}")
    for name, s in m.get("writes", {}).items():
        lines.append(f"{name:34} {_fmt(s):>19}")
    if "save_series" in m:
        last = results["build"]["articles_last_row_group_rows"]
        lines += ["", *save_series.table(m["save_series"])]
        lines.append(f"{'articles: last row group at start':34} {last:,} rows")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results/…)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--db", type=Path, help="where to build the warehouse (default: a temp dir)"
    )
    parser.add_argument("--reuse", action="store_true", help="measure --db as it is, no build")
    parser.add_argument("--keep", action="store_true", help="keep the warehouse afterwards")
    parser.add_argument(
        "--saves",
        type=int,
        default=200,
        help="consecutive hourly saves to time and measure growth over (default 200)",
    )
    parser.add_argument("--no-writes", action="store_true", help="skip open/save (adds rows)")
    args = parser.parse_args()
    started = datetime.now(UTC)
    out = args.out or BENCH / "results" / f"warehouse-{started:%Y%m%dT%H%M%S}.json"
    tmp = Path(tempfile.mkdtemp(prefix="newswatch-whbench-"))
    db = args.db or tmp / "newswatch.duckdb"
    settings = load_settings(
        Paths(sources=ROOT / "sources.yaml", topics=ROOT / "topics", db=db, reports=tmp), env={}
    )
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "articles": args.articles,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "platform": platform.platform(),
            "load_avg_at_start": os.getloadavg(),
        },
        "tree": _git_state(),
    }
    try:
        if args.reuse:
            _step(f"reusing {db} (migrating it first, as an ingest would)")
            with wdb.write_connection(db) as con:
                start = time.perf_counter()
                applied = wdb.migrate(con)
                results["migrate"] = {"applied": applied, "seconds": time.perf_counter() - start}
            results["build"] = describe(db)
            results["articles"] = results["build"]["rows"]["articles"]
        else:
            _step(f"building {args.articles:,} articles in {db}")
            results["build"] = build(db, settings, args.articles, args.seed)
            _step(f"built in {results['build']['seconds']} s, {results['build']['file_mb']} MB")
        results["measurements"] = measure(
            db, settings, args.repeat, args.seed, saves=0 if args.no_writes else args.saves
        )
        results["machine"]["load_avg_at_end"] = os.getloadavg()
        results["file_bytes_at_end"] = db.stat().st_size
    finally:
        if args.keep or args.db:
            print(f"warehouse kept at {db}")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("\n".join(table(results)))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nfigures written to {out}")


if __name__ == "__main__":
    main()
