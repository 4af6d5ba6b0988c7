"""Helpers for the fault suite: a loopback newsroom whose feeds can change, and real child runs.

The newsroom is a plain threaded HTTP server so that its handler can slow pages down, count
concurrent requests, answer 304 forever or fail on cue. `start_ingest` runs `newswatch ingest`
as a child process in its own process group (so that its extraction workers can be killed
with it) against the test session's Prefect server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests import newsroom
from tests.conftest import ROOT
from warehouse import db

WORDS = (
    "harbour", "council", "budget", "railway", "bridge", "school", "hospital", "museum",
    "river", "festival", "market", "library", "tunnel", "airport", "orchard", "vineyard",
    "factory", "stadium", "theatre", "garden", "ferry", "lighthouse", "quarry", "canal",
    "tramway", "cathedral", "reservoir", "brewery", "bakery", "observatory", "windmill",
)  # fmt: skip


@dataclass(frozen=True)
class Item:
    """One feed item; any of link and guid may be missing."""

    title: str
    summary: str
    link: str | None = None  # absolute URL
    guid: str | None = None
    published: datetime = newsroom.BASE_TIME


def story(n: int) -> newsroom.Story:
    """A distinct local-news story (no topic words), long enough for trafilatura."""
    rng = random.Random(n)
    paragraphs = tuple(
        " ".join(rng.choice(WORDS) for _ in range(40)).capitalize() + "." for _ in range(4)
    )
    return newsroom.Story(
        f"story-{n}", f"Story number {n} about the {WORDS[n % len(WORDS)]}", paragraphs
    )


class Room:
    """Feeds and article pages on 127.0.0.1, mutable while a run is going on."""

    def __init__(self, *, page_delay: float = 0.0, feed_delay: float = 0.0, port: int = 0) -> None:
        self.page_delay = page_delay
        self.feed_delay = feed_delay
        self.feeds: dict[str, list[Item]] = {}  # path -> items
        self.pages: dict[str, str] = {}  # path -> html
        self.always_304: set[str] = set()  # feed paths answering 304 to any validator
        self.failing: dict[str, int] = {}  # path -> HTTP status to answer instead
        self.gate = threading.Event()  # pages wait for it (set unless hold_pages() was called)
        self.gate.set()
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self.log: list[tuple[str, dict[str, str]]] = []  # (path, headers) of each request
        room = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with room.lock:
                    room.inflight += 1
                    room.max_inflight = max(room.max_inflight, room.inflight)
                    room.log.append((self.path, dict(self.headers.items())))
                try:
                    status, headers, body = room.answer(self.path, self.headers)
                finally:
                    # Counted from the request to just before the answer: the client holds its
                    # slot for longer (until the body is read), so this never overcounts. After
                    # the answer, the client may already be on its next request.
                    with room.lock:
                        room.inflight -= 1
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed mid-answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Room:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # --- content ------------------------------------------------------------------------

    def add_page(self, s: newsroom.Story) -> str:
        """Serve an article page; its URL (the page declares it as rel=canonical)."""
        path = f"/news/{s.slug}"
        with self.lock:
            self.pages[path] = newsroom.page(s, self.url(path))
        return self.url(path)

    def add_feed(self, path: str, items: list[Item] | None = None) -> str:
        with self.lock:
            self.feeds[path] = list(items or [])
        return self.url(path)

    def add_items(self, path: str, *items: Item) -> None:
        with self.lock:
            self.feeds[path] = [*items, *self.feeds[path]]  # newest first, like real feeds

    def item_for(self, s: newsroom.Story, *, query: str = "", when: int = 0) -> Item:
        """A feed item linking to the story's page (served), optionally with tracking params."""
        url = self.add_page(s)
        return Item(
            title=s.title,
            summary=s.paragraphs[0],
            link=url + query,
            guid=s.slug,
            published=newsroom.BASE_TIME + timedelta(minutes=when),
        )

    def hold_pages(self) -> threading.Event:
        """Make article pages wait until the returned event is set."""
        self.gate.clear()
        return self.gate

    def page_requests(self) -> int:
        with self.lock:
            return sum(1 for path, _ in self.log if path.startswith("/news/"))

    # --- answers ------------------------------------------------------------------------

    def answer(self, raw_path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        path = raw_path.split("?", 1)[0].split("#", 1)[0]
        with self.lock:
            failing = self.failing.get(path)
            feed = list(self.feeds[path]) if path in self.feeds else None
            page = self.pages.get(path)
        if failing is not None:
            return failing, {"Content-Type": "text/plain"}, b"failing on purpose"
        if feed is not None:
            time.sleep(self.feed_delay)
            body = rss(feed).encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            conditional = headers.get("If-None-Match") or headers.get("If-Modified-Since")
            if (path in self.always_304 and conditional) or headers.get("If-None-Match") == etag:
                return 304, {"ETag": etag}, b""
            return (
                200,
                {
                    "Content-Type": "application/rss+xml",
                    "ETag": etag,
                    "Last-Modified": format_datetime(newsroom.BASE_TIME, usegmt=True),
                },
                body,
            )
        if page is not None:
            self.gate.wait(timeout=120)
            time.sleep(self.page_delay)
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()
        return 404, {"Content-Type": "text/plain"}, b"not here"


def story_feeds(room: Room, name: str, feeds: int, per_feed: int, first: int) -> dict[str, str]:
    """`feeds` feeds of `per_feed` distinct stories each (numbered from `first`): name -> URL."""
    urls = {}
    for f in range(feeds):
        path = f"/{name.lower()}{f}.xml"
        urls[f"{name} {f}"] = room.add_feed(path)
        for j in range(per_feed):
            n = first + f * per_feed + j
            room.add_items(path, room.item_for(story(n), when=n))
    return urls


def rss(items: list[Item]) -> str:
    parts = []
    for it in items:
        xml = f"<item><title>{escape(it.title)}</title>"
        if it.link is not None:
            xml += f"<link>{escape(it.link)}</link>"
        if it.guid is not None:
            xml += f'<guid isPermaLink="false">{escape(it.guid)}</guid>'
        xml += (
            f"<pubDate>{format_datetime(it.published)}</pubDate>"
            f"<description>{escape(it.summary)}</description></item>"
        )
        parts.append(xml)
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Fault Gazette</title><link>http://127.0.0.1/</link>{''.join(parts)}"
        "</channel></rss>"
    )


def sources_yaml(
    feeds: dict[str, str], *, workers: int = 1, extra: str = "", timeout: float = 10
) -> str:
    lines = [
        "fetch:",
        '  allow_private_addresses: ["127.0.0.1"]',
        f"  timeout_seconds: {timeout}",
        "  connect_timeout_seconds: 2",
        *([extra] if extra else []),
        "extract:",
        f"  workers: {workers}",
        "  page_timeout_seconds: 30",
        "feeds:",
    ]
    for name, url in feeds.items():
        lines += [f"  - name: {name}", f"    url: {url}"]
    return "\n".join(lines) + "\n"


# --- the warehouse, as a user would look at it -----------------------------------------------


def rows(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with db.read_connection(path, wait_seconds=10) as con:
        return con.execute(sql, params or []).fetchall()


def duplicates(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Rows that appear more than once where each must appear once; {} when there are none."""
    checks = {
        "articles by key": "SELECT key, count(*) FROM articles GROUP BY key HAVING count(*) > 1",
        "v_articles by url": (
            "SELECT url, count(*) FROM v_articles WHERE url IS NOT NULL "
            "GROUP BY url HAVING count(*) > 1"
        ),
        "matches by (topic, article_key)": (
            "SELECT topic, article_key, count(*) FROM matches "
            "GROUP BY topic, article_key HAVING count(*) > 1"
        ),
        "article_keys by key": (
            "SELECT key, count(*) FROM article_keys GROUP BY key HAVING count(*) > 1"
        ),
        "article_keys pointing nowhere": (
            "SELECT k.key FROM article_keys k LEFT JOIN articles a ON a.key = k.article_key "
            "WHERE a.key IS NULL"
        ),
        "articles without a verdict": (
            "SELECT a.key FROM articles a LEFT JOIN matches m ON m.article_key = a.key "
            "WHERE m.article_key IS NULL"
        ),
    }
    found = {name: rows(path, sql) for name, sql in checks.items()}
    return {name: r for name, r in found.items() if r}


def batch_presence(db_path: Path, batch: Path) -> dict[str, bool]:
    """Which parts of a spooled batch the warehouse holds: all of them or none, never some."""

    def lines(table: str) -> list[dict[str, Any]]:
        path = batch / f"{table}.jsonl"
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    run_id = lines("runs")[0]["run_id"]
    keys = [r["key"] for r in lines("article_keys")]
    fetched = [r for r in lines("sources") if r["last_attempt_at"]]
    with db.read_connection(db_path, wait_seconds=10) as con:

        def count(sql: str, params: list[Any]) -> int:
            found = con.execute(sql, params).fetchone()
            return int(found[0]) if found else 0

        presence = {
            "runs": count("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]) == 1,
            "fetch_log": count("SELECT count(*) FROM fetch_log WHERE run_id = ?", [run_id]) > 0,
            "sources": count(
                "SELECT count(*) FROM sources WHERE url = ? AND last_attempt_at = ?::TIMESTAMPTZ",
                [fetched[0]["url"], fetched[0]["last_attempt_at"]],
            )
            == 1,
        }
        if keys:
            presence["article_keys"] = count(
                "SELECT count(*) FROM article_keys WHERE list_contains(?, key)", [keys]
            ) == len(set(keys))
    return presence


# --- child runs ----------------------------------------------------------------------------


@dataclass
class Child:
    """A `newswatch ingest` process, in its own process group."""

    proc: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pgid(self) -> int:
        return self.proc.pid  # start_new_session: the child leads its own group

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)

    def wait(self, timeout: float = 120) -> int:
        return self.proc.wait(timeout=timeout)


def start_ingest(
    *,
    sources: Path,
    db_path: Path,
    api_url: str | None,
    log: Path,
    topics: Path | None = None,
    env: dict[str, str] | None = None,
) -> Child:
    """`python -m flows.cli ingest` against the session's Prefect server (None: no server, as
    from cron, so the run starts its own temporary one), output to `log`."""
    env = {k: v for k, v in (env or os.environ).items() if not k.startswith("NEWSWATCH_")}
    env.pop("PREFECT_API_URL", None)
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    env["PYTHONUNBUFFERED"] = "1"
    argv = [
        sys.executable,
        "-m",
        "flows.cli",
        "ingest",
        "--sources",
        str(sources),
        "--db",
        str(db_path),
        "--topics",
        str(topics or ROOT / "topics"),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Child(proc, log)


@contextlib.contextmanager
def holding(code: str) -> Iterator[subprocess.Popen[str]]:
    """Another Python process running `code`, which prints `ready` once it holds what it takes
    (a lock, a DuckDB file); killed when the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def live_processes() -> Iterator[tuple[Path, list[str]]]:
    """Every live (not zombie) process, from /proc: its directory and the stat fields after
    the command name (state, ppid, pgrp, ...)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the last ')'
        fields = stat.rsplit(")", 1)[1].split()
        if fields and fields[0] != "Z":
            yield entry, fields


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in a process group, from /proc."""
    return [int(entry.name) for entry, fields in live_processes() if int(fields[2]) == pgid]
