"""Same-day alerts and health alarms through the outbox, received by a real loopback webhook."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from flows.collect.feed_health import NOT_FAILURES
from flows.config import (
    ChannelSettings,
    DigestSettings,
    ExtractSettings,
    FeedSettings,
    FetchSettings,
    HealthSettings,
    Paths,
    Settings,
    load_topics,
    redact,
)
from flows.delivery.notices import after_ingest, stale_ingest, what_to_check
from flows.serve import watch_ingest
from tests.conftest import ROOT
from tests.test_mail import free_port
from warehouse import db
from warehouse.evidence import Evidence
from warehouse.records import Article, FeedOutcome
from warehouse.rows import MatchRow

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FEEDS = ("Gazette", "Times", "Post")


@pytest.fixture
def hook() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    server.expect_request("/hook/tok").respond_with_data("ok")
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def settings(tmp_path: Path, hook: HTTPServer, *events: str, alert: float | None = 0.5) -> Settings:
    (topic,) = load_topics(ROOT / "topics")
    url = f"json://127.0.0.1:{hook.port}/hook/tok"
    chat = ChannelSettings("desk", url, redact(url), None, events or ("alert", "health"))  # type: ignore[arg-type]
    path = tmp_path / "w.duckdb"
    with db.write_connection(path) as con:
        db.migrate(con)
    return Settings(
        paths=Paths(tmp_path / "s.yaml", ROOT / "topics", path, tmp_path / "reports"),
        fetch=FetchSettings(allow_private_addresses=("127.0.0.1",)),
        extract=ExtractSettings(),
        digest=DigestSettings(),
        feeds=tuple(FeedSettings(name=n, url=f"https://{n.lower()}.example/feed") for n in FEEDS),
        topics=(topic.model_copy(update={"alert": alert}),),
        smtp=None,
        health=HealthSettings(failures=3, hours=24),
        channels=(chat,),
    )


def article(key: str, title: str = "UK and Poland sign a defence treaty") -> Article:
    return Article(
        key=key,
        url=f"https://news.example/{key}",
        source="Gazette",
        feed_url="https://gazette.example/feed",
        guid=None,
        title=title,
        author=None,
        published_at=NOW,
        first_seen_at=NOW,
        language="en",
        site_name=None,
        summary="",
        text="",
        extraction="title",
        page_status="ok",
        content_hash=key,
    )


def match(key: str, score: float, topic: str = "uk-poland-defence") -> MatchRow:
    return MatchRow(
        topic=topic,
        article_key=key,
        score=score,
        matched=True,
        entities=(),
        evidence=Evidence(),
        profile_version="v",
        scored_at=NOW,
    )


def posts(server: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in server.log]


def run(s: Settings, feeds: list[FeedOutcome] | None = None, **kw: Any) -> list[str]:
    kw.setdefault("articles", [])
    kw.setdefault("story_ids", {})
    kw.setdefault("matches", [])
    return after_ingest(
        s, feeds=feeds or [], not_failures=NOT_FAILURES, now=kw.pop("now", NOW), **kw
    )


def test_a_story_past_the_alert_score_is_announced_once_whatever_its_copies(
    tmp_path: Path, hook: HTTPServer
) -> None:
    s = settings(tmp_path, hook)
    first = [article("a1"), article("a2", "Below the line"), article("a3", "A wire copy")]
    ids = {"a1": "story-1", "a2": "story-2", "a3": "story-1"}
    lines = run(
        s,
        articles=first,
        story_ids=ids,
        matches=[match("a1", 0.9), match("a2", 0.3), match("a3", 0.95)],
    )
    assert lines == [] and len(hook.log) == 1
    (alert,) = posts(hook)
    assert "A wire copy" in alert["message"] and "https://news.example/a3" in alert["message"]
    # A later run finds another copy of the same story: no second alert.
    run(s, articles=[article("a4")], story_ids={"a4": "story-1"}, matches=[match("a4", 0.99)])
    assert len(hook.log) == 1


def test_alerts_are_off_unless_configured_and_only_on_channels_that_take_them(
    tmp_path: Path, hook: HTTPServer
) -> None:
    args = {"articles": [article("a1")], "story_ids": {"a1": "s"}, "matches": [match("a1", 1.0)]}
    run(settings(tmp_path / "off", hook, alert=None), **args)
    run(settings(tmp_path / "digest-only", hook, "digest"), **args)
    assert hook.log == []


def outcome(name: str, status: str) -> FeedOutcome:
    return FeedOutcome(source=name, url=f"https://{name.lower()}.example/feed", status=status)


def set_health(s: Settings, rows: dict[str, tuple[str, int, datetime | None]]) -> None:
    """The `sources` table as an ingest leaves it: (last_status, consecutive failures, since)."""
    with db.write_connection(s.paths.db) as con:
        con.execute("DELETE FROM sources")
        for name, (status, failures, since) in rows.items():
            con.execute(
                "INSERT INTO sources (url, name, active, last_status, last_error, "
                "consecutive_failures, failing_since) VALUES (?, ?, true, ?, ?, ?, ?)",
                [
                    f"https://{name.lower()}.example/feed",
                    name,
                    status,
                    None if status == "ok" else f"{status} from the server",
                    failures,
                    since,
                ],
            )


def test_a_failing_feed_is_announced_once_when_it_crosses_the_line_and_once_when_it_recovers(
    tmp_path: Path, hook: HTTPServer
) -> None:
    s = settings(tmp_path, hook, "health")
    since = NOW - timedelta(hours=2)
    ok = {"Gazette": ("ok", 0, None), "Times": ("ok", 0, None)}
    set_health(s, {**ok, "Post": ("refused_address", 2, since)})
    run(s, [outcome("Post", "refused_address")])
    assert hook.log == []  # 2 runs < 3, 2 h < 24 h
    set_health(s, {**ok, "Post": ("refused_address", 3, since)})
    run(s, [outcome("Gazette", "ok"), outcome("Post", "refused_address")])
    set_health(s, {**ok, "Post": ("refused_address", 4, since)})
    run(s, [outcome("Post", "refused_address")])
    (alarm,) = posts(hook)
    assert "feed failing: Post" in alarm["title"]
    assert "refused_address" in alarm["message"] and "2026-11-20 10:00 UTC" in alarm["message"]
    assert "fetch.allow_private_addresses" in alarm["message"]
    set_health(s, {**ok, "Post": ("ok", 0, None)})
    run(s, [outcome("Post", "ok")])
    run(s, [outcome("Post", "ok")])
    assert [p["title"] for p in posts(hook)][1:] == ["newswatch: feed recovered: Post"]
    # Failing again later is a new episode: a new alarm.
    set_health(s, {**ok, "Post": ("timeout", 9, NOW)})
    run(s, [outcome("Post", "timeout")])
    assert len(hook.log) == 3 and "timeout" in posts(hook)[2]["message"]


def test_a_run_in_which_every_feed_failed_is_one_alarm(tmp_path: Path, hook: HTTPServer) -> None:
    s = settings(tmp_path, hook, "health")  # failures: 3
    # A network outage: the feeds' own counters do not move, the runs reach no feed.
    set_health(s, dict.fromkeys(FEEDS, ("dns_error", 0, None)))
    feeds = [outcome(name, "dns_error") for name in FEEDS]
    add_run(s, NOW - timedelta(hours=3), ok=2)
    for hours in (2, 1):
        add_run(s, NOW - timedelta(hours=hours), ok=0)
        run(s, feeds)
    assert hook.log == []  # two failed runs: below the line
    add_run(s, NOW, ok=0)
    run(s, feeds)
    run(s, feeds)
    (alarm,) = posts(hook)
    assert "every feed failed in the last 3 runs" in alarm["title"]
    assert all(f"{name}: dns_error" in alarm["message"] for name in FEEDS)
    assert "failing since 2026-11-20 09:00 UTC" in alarm["message"]
    set_health(s, dict.fromkeys(FEEDS, ("ok", 0, None)))
    add_run(s, NOW + timedelta(hours=1), ok=3)
    run(s, [outcome(name, "ok") for name in FEEDS])
    run(s, [outcome(name, "ok") for name in FEEDS])
    assert [p["title"] for p in posts(hook)][1:] == ["newswatch: feeds recovered"]


def test_a_broken_receiver_is_one_line_and_the_run_goes_on(tmp_path: Path) -> None:
    s = settings(tmp_path, HTTPServer(port=free_port()))  # nobody listens there
    s = dataclasses.replace(s, fetch=FetchSettings(allow_private_addresses=True))
    lines = run(s, articles=[article("a1")], story_ids={"a1": "s"}, matches=[match("a1", 1.0)])
    assert len(lines) == 1 and "desk" in lines[0] and "could not connect" in lines[0]
    assert "tok" not in lines[0]


def test_every_alarm_says_what_to_check() -> None:
    assert "allow_private_addresses" in what_to_check("refused_address")
    assert "server" in what_to_check("http_503") and "v_source_health" in what_to_check("odd")


def add_run(s: Settings, finished: datetime, ok: int = 3) -> None:
    with db.write_connection(s.paths.db) as con:
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, 'ok', 3, ?, ?, 0, 0, 0)",
            [finished.isoformat(), finished, finished, ok, 3 - ok],
        )


def test_serve_raises_one_alarm_when_no_ingest_completes_for_stale_hours(
    tmp_path: Path, hook: HTTPServer
) -> None:
    s = settings(tmp_path, hook, "health")  # stale_hours: 6 by default
    add_run(s, NOW - timedelta(hours=5))
    assert stale_ingest(s, NOW - timedelta(days=1), NOW) == []
    later = NOW + timedelta(hours=2)
    assert len(stale_ingest(s, NOW - timedelta(days=1), later)) == 1
    assert stale_ingest(s, NOW - timedelta(days=1), later + timedelta(hours=1)) == []
    (alarm,) = posts(hook)
    assert "ingest has stopped" in alarm["title"] and "7.0 hours" in alarm["message"]
    add_run(s, later)  # ingest is back, then stalls again: a new alarm
    stale_ingest(s, NOW, later + timedelta(hours=7))
    assert len(hook.log) == 2


def test_serve_watches_ingest_from_its_own_start(tmp_path: Path, hook: HTTPServer) -> None:
    sources = tmp_path / "sources.yaml"
    url = f"json://127.0.0.1:{hook.port}/hook/tok"
    sources.write_text(
        'fetch:\n  allow_private_addresses: ["127.0.0.1"]\n'
        "health:\n  stale_hours: 0.0003\n"  # about one second
        f"feeds:\n  - name: A\n    url: https://a.example/feed\nchannels:\n  - name: desk\n    url: {url}\n",
        encoding="utf-8",
    )
    paths = Paths(sources, ROOT / "topics", tmp_path / "none.duckdb", tmp_path / "reports")

    async def watch_briefly() -> None:
        task = asyncio.create_task(watch_ingest(paths, every=0.5))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if hook.log:
                break
        task.cancel()

    asyncio.run(watch_briefly())
    (alarm,) = posts(hook)
    assert "none has completed yet" in alarm["message"]


def test_an_alert_the_receiver_missed_is_sent_by_the_next_run(tmp_path: Path) -> None:
    down = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    down.expect_request("/hook/tok").respond_with_data("busy", status=503)
    down.start()
    s = settings(tmp_path, down)
    with db.write_connection(s.paths.db) as con:  # the run's batch, as saved before alerting
        con.execute(
            "INSERT INTO articles (key, url, source, feed_url, title, first_seen_at, extraction, "
            "page_status, content_hash, story_id, run_id) VALUES ('a1', 'https://news.example/a1', "
            "'Gazette', 'https://gazette.example/feed', 'Treaty signed', now(), 'title', 'ok', "
            "'h', 'story-1', 'r1')"
        )
        con.execute(
            "INSERT INTO matches VALUES ('uk-poland-defence', 'a1', 0.9, true, [], '{}', 'v', now())"
        )
    args = {"articles": [article("a1")], "story_ids": {"a1": "story-1"}}
    (line,) = run(s, matches=[match("a1", 0.9)], **args)
    assert "pending" in line and "503" in line
    down.clear()
    down.expect_request("/hook/tok").respond_with_data("ok")
    assert run(s) == []  # nothing new in this run: the waiting alert goes out
    assert run(s) == []
    down.stop()
    assert [p["message"].splitlines()[0] for p in posts(down)] == [
        "Treaty signed — Gazette (score 0.90)"
    ]
