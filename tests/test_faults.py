"""Process-level faults: kill -9 mid-run, two runs at once, a locked warehouse, a network outage,
300 feeds on one host, a feed failing run after run, 304 forever, invalid configuration, and
the same story under many names. Real processes, real servers on 127.0.0.1, real DuckDB files;
each test asserts what a user would check (exit codes, messages, the views).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import re
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT
from tests.faults_support import (
    Child,
    Item,
    Room,
    batch_presence,
    duplicates,
    group_members,
    rows,
    sources_yaml,
    start_ingest,
    story,
    story_feeds,
)
from tests.test_warehouse import held_lock, tables
from warehouse import batches, db, spool

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.usefixtures("prefect_server", "collect_prefect_leaks"),
    # As in test_ingest.py: Prefect 3.9.1's flow engine leaves one socket of its own API client
    # unclosed (results.py, read_server_default_result_storage); the fetcher's own sockets are
    # held to filterwarnings=error by test_fetch.py, which runs without Prefect.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

# Twenty kills by default (~80 s on 2 cores); NEWSWATCH_FAULT_KILLS and _SEED to vary them.
KILLS = int(os.environ.get("NEWSWATCH_FAULT_KILLS", "20"))
SEED = int(os.environ.get("NEWSWATCH_FAULT_SEED", "20261118"))


@pytest.fixture
def prefect_api(prefect_server: None) -> str:
    """The session's temporary Prefect server, for child processes (saves ~10 s per child)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "prefect_test_harness did not set PREFECT_API_URL"
    return str(url)


@pytest.fixture
def room() -> Iterator[Room]:
    with Room() as r:
        yield r


def run_flow(sources: Path, db_path: Path) -> dict[str, Any]:
    """One ingest run in this process (so that module constants can be patched)."""
    from flows.ingest import ingest as flow

    result: dict[str, Any] = asyncio.run(
        flow(sources=str(sources), db=str(db_path), topics=str(ROOT / "topics"))
    )
    return result


def cli_ingest(sources: Path, db_path: Path) -> Any:
    return CliRunner().invoke(
        app,
        ["ingest", "--sources", str(sources), "--db", str(db_path)],
        env={"NEWSWATCH_TOPICS": str(ROOT / "topics")},
    )


def write_sources(tmp_path: Path, feeds: dict[str, str], **kw: Any) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(sources_yaml(feeds, **kw), encoding="utf-8")
    return path


def health(db_path: Path, source: str) -> dict[str, Any]:
    with db.read_connection(db_path) as con:
        cur = con.execute("SELECT * FROM v_source_health WHERE source = ?", [source])
        names = [d[0] for d in cur.description or []]
        found = cur.fetchall()
    assert len(found) == 1, found
    return dict(zip(names, found[0], strict=True))


def age(db_path: Path, sql: str) -> None:
    """Move time forward for the warehouse: an UPDATE on the file, as an operator could."""
    with db.write_connection(db_path) as con:
        con.execute(sql)


def spool_entries(db_path: Path) -> list[str]:
    directory = db_path.parent / ".data" / "spool"
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


# --- 1. kill -9 at random points, twenty times ------------------------------------------------


def publish_edition(room: Room, feeds: list[str], edition: int) -> None:
    """Two new stories per feed, a tracking-tagged copy of one in the next feed, a link-less note."""
    for f, path in enumerate(feeds):
        for j in range(2):
            n = edition * 10 + f * 2 + j
            room.add_items(path, room.item_for(story(n), when=n))
    first = story(edition * 10)
    room.add_items(
        feeds[1], room.item_for(first, query="?utm_source=rss&utm_medium=feed", when=edition)
    )
    room.add_items(
        feeds[0],
        Item(title=f"Notice {edition}: road closed", summary=f"The bridge shuts on day {edition}."),
    )


def kill_when(
    child: Child, ready: Callable[[], bool], delay: float, *, limit: float = 60
) -> dict[str, Any]:
    """Wait until `ready()`, then `delay` seconds, then SIGKILL the child's whole group."""
    deadline = time.monotonic() + limit
    while child.proc.poll() is None and not ready():
        if time.monotonic() > deadline:
            break
        time.sleep(0.001)
    if child.proc.poll() is None:
        time.sleep(delay)
    members = group_members(child.pgid)
    alive = child.proc.poll() is None
    child.kill_group()
    return {"alive": alive, "workers": len(members) - 1, "at": time.monotonic() - child.started}


def pages_to_fetch(room: Room, db_path: Path) -> int:
    """Pages the next run will fetch: neither stored nor waiting in the spool."""
    known = set()
    if db_path.exists():
        known = {u for (u,) in rows(db_path, "SELECT url FROM articles WHERE url IS NOT NULL")}
    for batch in spool.pending(db_path.parent / ".data" / "spool"):
        lines = (batch / "articles.jsonl").read_text(encoding="utf-8").splitlines()
        known |= {json.loads(line)["url"] for line in lines if line.strip()}
    return len({room.url(p) for p in room.pages} - known)


def trigger(
    phase: str,
    rng: random.Random,
    room: Room,
    pages: tuple[int, int],  # (requests served before the run, pages it will fetch)
    spool_before: set[str],
    db_path: Path,
    duration: float,
) -> tuple[Callable[[], bool], float]:
    """When to kill a run in this phase: a condition, then a delay after it holds."""
    before, todo = pages
    if phase == "anytime":
        return (lambda: True), rng.uniform(0.2, duration)
    if phase == "pages":  # some pages fetched, others not yet
        k = rng.randint(1, todo - 1)
        return (lambda: room.page_requests() - before >= k), 0.0
    if phase == "extraction":  # every page served: extraction and matching under way
        return (lambda: room.page_requests() - before >= todo), rng.uniform(0.05, 0.4)
    # this run's spool batch is being written, or loaded into DuckDB
    return (lambda: bool(set(spool_entries(db_path)) - spool_before)), rng.uniform(0, 0.1)


def test_sigkill_at_random_points_loses_nothing_and_duplicates_nothing(
    prefect_api: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    db_path = tmp_path / "warehouse" / "w.duckdb"
    spool_dir = db_path.parent / ".data" / "spool"
    with Room(page_delay=0.08) as room:
        paths = [f"/feed{i}.xml" for i in range(3)]
        feeds = {f"Feed {i}": room.add_feed(p) for i, p in enumerate(paths)}
        sources = write_sources(tmp_path, feeds)

        def ingest(name: str) -> Child:
            return start_ingest(
                sources=sources, db_path=db_path, api_url=prefect_api, log=tmp_path / name
            )

        publish_edition(room, paths, 0)
        first = ingest("run-0.log")
        assert first.wait() == 0, first.output()
        duration = time.monotonic() - first.started

        plan = [("anytime", "pages", "extraction", "write")[i % 4] for i in range(KILLS)]
        rng.shuffle(plan)
        kills: list[dict[str, Any]] = []
        for i, phase in enumerate(plan, start=1):
            publish_edition(room, paths, i)
            pages = (room.page_requests(), pages_to_fetch(room, db_path))
            before = set(spool_entries(db_path))
            child = ingest(f"run-{i}.log")
            ready, delay = trigger(phase, rng, room, pages, before, db_path, duration)
            got = kill_when(child, ready, delay)
            code = child.wait()
            # a run either finished normally before the kill or died of it, never failed
            assert code in (0, -signal.SIGKILL), child.output()
            left = sorted(set(spool_entries(db_path)) - before)
            served = room.page_requests() - pages[0]
            extracted = "pages: " in child.output()  # logged once a batch is extracted
            kills.append(
                {"phase": phase, "code": code, "pages": (served, pages[1]), "extracted": extracted}
                | {"left_in_spool": left, **got}
            )
            # the whole group died: no orphaned extraction worker or fork server
            for _ in range(200):
                if not group_members(child.pgid):
                    break
                time.sleep(0.01)
            assert group_members(child.pgid) == [], f"processes survived kill {i}"
            # A run killed while saving: the warehouse holds its batch whole or not at all.
            # (Duplicates, once in, would stay: they are looked for once, at the end.)
            for name in left:
                if not name.startswith(".tmp-"):
                    presence = batch_presence(db_path, spool_dir / name)
                    assert len(set(presence.values())) == 1, f"kill {i}: {presence}"

        final = ingest("final.log")
        assert final.wait() == 0, final.output()
        assert "saved" in final.output()

    # Evidence that the kills landed where they were meant to.
    interrupted = [k for k in kills if k["alive"] and k["code"] == -signal.SIGKILL]
    mid_pages = [k for k in interrupted if 0 < k["pages"][0] < k["pages"][1]]
    mid_extraction = [
        k
        for k in interrupted
        if k["pages"][0] == k["pages"][1] and not k["extracted"] and k["workers"]
    ]
    mid_write = [k for k in interrupted if k["left_in_spool"]]  # saving, not yet done
    summary = f"first run {duration:.1f} s; kills:\n" + "\n".join(str(k) for k in kills)
    assert len(interrupted) >= 0.75 * len(kills), summary
    assert mid_pages and mid_extraction and mid_write, summary

    # Nothing duplicated, nothing lost, nothing left for a human to clean up.
    assert duplicates(db_path) == {}
    stored = [u for (u,) in rows(db_path, "SELECT url FROM v_articles WHERE url IS NOT NULL")]
    assert sorted(stored) == sorted(room.url(p) for p in room.pages)
    notices = rows(db_path, "SELECT title FROM v_articles WHERE url IS NULL ORDER BY title")
    assert sorted(t for (t,) in notices) == sorted(
        f"Notice {e}: road closed" for e in range(len(plan) + 1)
    )
    assert spool.pending(spool_dir) == [] and spool_entries(db_path) == []
    assert rows(db_path, "SELECT count(*) FROM runs WHERE status = 'ok'")[0][0] >= 2


# --- 2. two runs at once ----------------------------------------------------------------------


def test_second_ingest_at_once_skips_with_75_and_the_first_completes(
    prefect_api: str, tmp_path: Path
) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    with Room() as room:
        path = "/feed.xml"
        feeds = {"Feed": room.add_feed(path)}
        for n in range(4):
            room.add_items(path, room.item_for(story(n), when=n))
        sources = write_sources(tmp_path, feeds, timeout=300)  # pages wait for us, not a clock
        gate = room.hold_pages()  # the first run stalls on its pages until we let it go

        first = start_ingest(
            sources=sources, db_path=db_path, api_url=prefect_api, log=tmp_path / "first.log"
        )
        deadline = time.monotonic() + 60
        while room.page_requests() == 0:  # the first run holds the lock and is mid-run
            assert first.proc.poll() is None, first.output()
            assert time.monotonic() < deadline
            time.sleep(0.02)

        second = start_ingest(
            sources=sources, db_path=db_path, api_url=prefect_api, log=tmp_path / "second.log"
        )
        code = second.wait()
        assert code == 75, second.output()
        assert first.proc.poll() is None  # the first was running all along
        assert "another ingest is running" in second.output()
        assert f"PID {first.proc.pid}" in second.output()
        assert [p for p, _ in room.log if p == path] == [path]  # the second fetched nothing
        assert spool_entries(db_path) == []  # and wrote nothing

        gate.set()
        assert first.wait() == 0, first.output()
    assert rows(db_path, "SELECT count(*) FROM runs") == [(1,)]
    assert rows(db_path, "SELECT count(DISTINCT run_id) FROM fetch_log") == [(1,)]
    assert rows(db_path, "SELECT count(*) FROM v_articles") == [(4,)]
    assert duplicates(db_path) == {}


# --- 3. a locked warehouse: an analyst's session, or another writer --------------------------


@pytest.mark.parametrize(
    "read_only", [True, False], ids=["analyst read-only session", "another process writing"]
)
def test_locked_warehouse_keeps_results_in_the_spool_until_the_next_run(
    room: Room, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_only: bool
) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    room.add_feed("/good.xml", [room.item_for(story(n), when=n) for n in range(3)])
    room.add_feed("/bad.xml")
    room.failing["/bad.xml"] = 500
    sources = write_sources(tmp_path, {"Good": room.url("/good.xml"), "Bad": room.url("/bad.xml")})
    assert run_flow(sources, db_path)["stored"]
    age(db_path, "UPDATE sources SET next_attempt_at = now() - INTERVAL 1 MINUTE")
    assert run_flow(sources, db_path)["stored"]
    bad_before = health(db_path, "Bad")
    good_before = health(db_path, "Good")
    assert bad_before["consecutive_failures"] == 2

    room.add_items("/good.xml", *(room.item_for(story(n), when=n) for n in range(3, 6)))
    pages_before = room.page_requests()
    # batches.LOCK_WAIT_SECONDS (30 s) is a module constant, read at call time: lowered here,
    # which is why this case runs the flow in this process (through the CLI, for its message).
    monkeypatch.setattr(batches, "LOCK_WAIT_SECONDS", 1.0)
    with held_lock(db_path, seconds=120, read_only=read_only) as holder:
        began = time.monotonic()
        done = cli_ingest(sources, db_path)
        took = time.monotonic() - began
    assert done.exit_code == 0, done.output
    assert re.search(rf"the warehouse was locked by \S+ \(PID {holder.pid}\)", done.output), (
        done.output
    )
    assert "results are safe in" in done.output and "load on the next run" in done.output
    pending = spool.pending(db_path.parent / ".data" / "spool")
    assert len(pending) == 1 and (pending[0] / "articles.jsonl").stat().st_size > 0
    assert str(pending[0]) in done.output
    assert 2 <= took < 20  # retried for LOCK_WAIT_SECONDS at the start and at the save
    # Nothing of the locked run reached the warehouse: not half, not anything.
    assert rows(db_path, "SELECT count(*) FROM articles") == [(3,)]
    assert rows(db_path, "SELECT count(*) FROM runs") == [(2,)]
    # An analyst's read-only session still lets the run read what is stored: only the new
    # pages are fetched. A writer keeps even readers out: the run fetches blind.
    assert room.page_requests() - pages_before == (3 if read_only else 6)

    after = run_flow(sources, db_path)  # the holder has gone: the spool loads first
    assert after["stored"] and after["new_articles"] == 0
    assert spool_entries(db_path) == []
    urls = [u for (u,) in rows(db_path, "SELECT url FROM v_articles")]
    assert sorted(urls) == sorted(room.url(f"/news/story-{n}") for n in range(6))
    assert duplicates(db_path) == {}
    assert rows(db_path, "SELECT count(*) FROM runs") == [(4,)]
    # A locked run does not rewrite the feeds' history.
    bad = health(db_path, "Bad")
    assert bad["consecutive_failures"] == 2
    assert bad["failing_since"] == bad_before["failing_since"]
    assert health(db_path, "Good")["last_success_at"] >= good_before["last_success_at"]


def test_the_summary_says_not_saved_and_names_the_quarantined_batches(
    room: Room, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    room.add_feed("/good.xml", [room.item_for(story(n), when=n) for n in range(2)])
    sources = write_sources(tmp_path, {"Good": room.url("/good.xml")})
    old = spool.write_batch(db_path.parent / ".data" / "spool", "0-old", tables("https://a.x/1"))
    (old / "articles.jsonl").write_text('{"key": "x", "url": tr')  # an earlier run's, damaged
    real_save = batches.save

    def refused(paths: Any, name: str, batch: Any, **kw: Any) -> Any:
        # the run's own batch breaks a NOT NULL constraint: the warehouse refuses it
        bad = dataclasses.replace(batch.articles[0], title=None)
        return real_save(paths, name, dataclasses.replace(batch, articles=(bad,)), **kw)

    monkeypatch.setattr(batches, "save", refused)
    done = cli_ingest(sources, db_path)

    quarantine = db_path.parent / ".data" / "quarantine"
    (own,) = [p for p in quarantine.iterdir() if p.name != "0-old"]
    summary = [line for line in done.output.splitlines() if line.startswith("run ")]
    assert len(summary) == 1, done.output
    assert "2 new articles" in summary[0], summary
    assert "; NOT SAVED: the warehouse refused this run's batch (quarantined); " in summary[0]
    assert "2 spool batch(es) could not be loaded and were moved aside: " in summary[0]
    assert f"{quarantine / '0-old'}: " in summary[0] and f"{own}: " in summary[0], summary
    assert "locked" not in done.output and "safe in" not in done.output, done.output
    assert f"  nothing of this run was stored; its batch is in {own}" in done.output
    assert rows(db_path, "SELECT count(*) FROM articles") == [(0,)]


# --- 4. a network outage ----------------------------------------------------------------------


def test_network_outage_is_degraded_and_blames_no_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import ingest

    # A refused connection is retried once within the run, 3 s later: at once will do here.
    monkeypatch.setattr(ingest, "fetch_feed", ingest.fetch_feed.with_options(retry_delay_seconds=0))
    db_path = tmp_path / "warehouse" / "w.duckdb"
    with Room() as room:
        port = room.port
        paths = ["/a.xml", "/b.xml", "/c.xml"]
        for i, p in enumerate(paths):
            room.add_feed(p, [room.item_for(story(i), when=i)])
        sources = write_sources(tmp_path, {p.strip("/"): room.url(p) for p in paths})
        assert run_flow(sources, db_path)["status"] == "ok"
    before = rows(db_path, "SELECT url, consecutive_failures FROM sources ORDER BY url")

    # Nothing listens on the port any more: every feed is refused at once.
    probe = socket.create_connection
    with pytest.raises(ConnectionRefusedError):
        probe(("127.0.0.1", port), timeout=1).close()
    done = cli_ingest(sources, db_path)
    assert done.exit_code == 0, done.output
    assert "DEGRADED" in done.output and "every feed failed on the network" in done.output
    assert rows(db_path, "SELECT status FROM runs ORDER BY started_at DESC LIMIT 1") == [
        ("degraded",)
    ]
    assert rows(db_path, "SELECT url, consecutive_failures FROM sources ORDER BY url") == before
    assert rows(db_path, "SELECT count(*) FROM sources WHERE next_attempt_at IS NOT NULL") == [(0,)]
    assert {s for (s,) in rows(db_path, "SELECT last_status FROM v_source_health")} == {
        "connect_error"
    }

    with Room(port=port) as room:  # the network is back
        for i, p in enumerate(paths):
            room.add_feed(p, [room.item_for(story(i + 10), when=i), room.item_for(story(i))])
        result = run_flow(sources, db_path)
    assert result["status"] == "ok" and result["new_articles"] == 3
    assert {s for (s,) in rows(db_path, "SELECT last_status FROM v_source_health")} == {"ok"}
    assert rows(db_path, "SELECT count(*) FROM v_articles") == [(6,)]


# --- 5. 300 feeds on one host -----------------------------------------------------------------


def test_three_hundred_feeds_on_one_host_hold_the_per_host_limit(tmp_path: Path) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    with Room(page_delay=0.01, feed_delay=0.01) as room:
        feeds = {}
        for i in range(300):
            # sixty stories, each in five feeds (four of them with tracking parameters)
            s = story(1000 + i % 60)
            query = "" if i < 60 else f"?utm_source=feed{i}"
            feeds[f"Feed {i:03}"] = room.add_feed(f"/f/{i}.xml", [room.item_for(s, query=query)])
        sources = write_sources(tmp_path, feeds, workers=2, extra="  per_host_connections: 2")
        began = time.monotonic()
        result = run_flow(sources, db_path)
        took = time.monotonic() - began
        # never more than two at once, and the two were used
        assert room.max_inflight == 2, f"{room.max_inflight} requests at once"
        requests = [p for p, _ in room.log]
    failed = [f for f in result["feeds"] if f["status"] != "ok"]
    assert failed == [] and result["stored"], f"{len(failed)} failed, e.g. {failed[:3]}"
    assert len(requests) == 300 + 60, sorted(requests)  # every feed once, every page once
    assert rows(db_path, "SELECT count(*) FROM v_articles") == [(60,)]
    assert duplicates(db_path) == {}
    assert took < 60, f"300 feeds took {took:.0f} s"


# --- 6. a feed failing run after run ----------------------------------------------------------


def test_failing_feed_backs_off_is_skipped_and_recovers(room: Room, tmp_path: Path) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    room.add_feed("/good.xml", [room.item_for(story(1))])
    room.add_feed("/flaky.xml", [room.item_for(story(2))])
    room.failing["/flaky.xml"] = 500
    sources = write_sources(
        tmp_path, {"Good": room.url("/good.xml"), "Flaky": room.url("/flaky.xml")}
    )

    def flaky_requests() -> int:
        return sum(1 for p, _ in room.log if p == "/flaky.xml")

    delays = []
    for attempt in (1, 2, 3):
        if attempt > 1:  # time passes: the backoff is over
            age(db_path, "UPDATE sources SET next_attempt_at = now() - INTERVAL 1 SECOND")
        run_flow(sources, db_path)
        state = health(db_path, "Flaky")
        assert state["consecutive_failures"] == attempt
        assert state["last_status"] == "http_500"
        delays.append(state["next_attempt_at"] - state["last_attempt_at"])

        backing_off = "SELECT source FROM v_source_health WHERE next_attempt_at > now()"
        assert rows(db_path, backing_off) == [("Flaky",)]
        if attempt in (1, 3):
            asked = flaky_requests()
            again = run_flow(sources, db_path)  # at once: the feed is backing off
            assert again["skipped"] == ["Flaky"] and flaky_requests() == asked
            assert health(db_path, "Flaky")["consecutive_failures"] == attempt
            assert rows(db_path, backing_off) == [("Flaky",)]
    # 15 min doubling, jittered by 0.5-1.0
    bounds = [(7.5, 15), (15, 30), (30, 60)]
    for delay, (low, high) in zip(delays, bounds, strict=True):
        assert timedelta(minutes=low) <= delay <= timedelta(minutes=high)
    assert delays[0] <= delays[1] <= delays[2]
    assert health(db_path, "Good")["consecutive_failures"] == 0

    del room.failing["/flaky.xml"]
    age(db_path, "UPDATE sources SET next_attempt_at = now() - INTERVAL 1 SECOND")
    result = run_flow(sources, db_path)
    state = health(db_path, "Flaky")
    assert state["consecutive_failures"] == 0 and state["last_status"] == "ok"
    assert state["next_attempt_at"] is None and state["failing_since"] is None
    assert result["skipped"] == [] and result["new_articles"] == 1
    assert rows(db_path, "SELECT count(*) FROM v_articles") == [(2,)]


# --- 7. 304 forever while the content changes -------------------------------------------------


def test_a_server_answering_304_forever_cannot_hide_new_items(room: Room, tmp_path: Path) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    room.add_feed("/stuck.xml", [room.item_for(story(1))])
    room.always_304.add("/stuck.xml")
    sources = write_sources(tmp_path, {"Stuck": room.url("/stuck.xml")})

    def last_feed_request() -> dict[str, str]:
        return [h for p, h in room.log if p == "/stuck.xml"][-1]

    assert run_flow(sources, db_path)["new_articles"] == 1
    room.add_items("/stuck.xml", room.item_for(story(2)))
    second = run_flow(sources, db_path)
    assert "If-None-Match" in last_feed_request()
    assert second["feeds"][0]["status"] == "not_modified" and second["new_articles"] == 0

    # A day later (aged in the warehouse file with SQL) the fetch goes without validators.
    age(
        db_path,
        "UPDATE sources SET last_unconditional_at = last_unconditional_at - INTERVAL 25 HOUR",
    )
    third = run_flow(sources, db_path)
    sent = last_feed_request()
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent
    assert third["feeds"][0]["status"] == "ok" and third["new_articles"] == 1
    urls = {u for (u,) in rows(db_path, "SELECT url FROM v_articles")}
    assert urls == {room.url("/news/story-1"), room.url("/news/story-2")}
    # and the next run is conditional again
    run_flow(sources, db_path)
    assert "If-None-Match" in last_feed_request()


# --- 8. invalid configuration writes nothing --------------------------------------------------


def broken_topics(tmp_path: Path, how: str) -> tuple[Path, list[str]]:
    """A copy of topics/ with one fault; the words the error must contain."""
    topics = tmp_path / "topics"
    shutil.copytree(ROOT / "topics", topics)
    path = topics / "uk-poland-defence.yaml"
    text = path.read_text(encoding="utf-8")
    if how == "unknown key":
        text = text.replace("\nname:", "\ncolour: red\nname:", 1)
        says = ["colour", "fix: remove `colour`"]
    elif how == "bad YAML":
        text += "\nrule: [unclosed\n"
        says = ["not valid YAML at line", "fix:"]
    elif how == "alias with spaces":
        text = text.replace("en: [United Kingdom,", "en: [' United Kingdom',", 1)
        says = ["entities[0] ('United Kingdom').aliases", "spaces around it", "fix:"]
    elif how == "seed missing":
        (topics / "uk-poland-defence.seed.txt").unlink()
        says = ["seed 'uk-poland-defence.seed.txt' not found", "fix:"]
    else:
        raise AssertionError(how)
    path.write_text(text, encoding="utf-8")
    return path, says


@pytest.mark.parametrize("command", ["ingest", "run"])
@pytest.mark.parametrize("how", ["unknown key", "bad YAML", "alias with spaces", "seed missing"])
def test_invalid_topic_file_fails_before_anything_is_written(
    tmp_path: Path, how: str, command: str
) -> None:
    path, says = broken_topics(tmp_path, how)
    sources = write_sources(tmp_path, {"Feed": "http://127.0.0.1:9/feed.xml"})
    home = tmp_path / "run"
    done = CliRunner().invoke(
        app,
        [
            command,
            "--sources",
            str(sources),
            "--topics",
            str(path.parent),
            "--db",
            str(home / "warehouse" / "w.duckdb"),
        ],
        env={"NEWSWATCH_REPORTS": str(home / "reports")},
    )
    assert done.exit_code == 2, done.output
    assert str(path) in done.output
    for words in says:
        assert words in done.output, done.output
    assert not home.exists()  # no warehouse, no spool, no Prefect home, no report


def test_invalid_sources_file_fails_before_anything_is_written(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "feeds:\n  - name: Good\n    url: http://127.0.0.1:9/a\n  - name: Bad\n    url: ftp://x\n",
        encoding="utf-8",
    )
    home = tmp_path / "run"
    done = cli_ingest(sources, home / "warehouse" / "w.duckdb")
    assert done.exit_code == 2, done.output
    assert str(sources) in done.output and "feeds[1] ('Bad').url" in done.output
    assert "fix:" in done.output
    assert not home.exists()


# --- 9. one story under many names --------------------------------------------------------------


def test_one_row_per_story_whatever_the_feeds_call_it(room: Room, tmp_path: Path) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    lead, other, third = story(1), story(2), story(3)
    same_guid = [story(n) for n in (4, 5, 6)]
    room.add_feed("/a.xml", [room.item_for(lead), room.item_for(other)])  # the plain link
    room.add_feed(
        "/b.xml",
        [room.item_for(lead, query="?utm_source=b&utm_medium=rss"), room.item_for(third)],
    )
    room.add_feed(
        "/c.xml",
        [
            room.item_for(lead, query="?utm_campaign=c&utm_content=x#comments"),
            # a CMS that gives every item the same GUID
            *(
                Item(
                    title=s.title,
                    summary=s.paragraphs[0],
                    link=room.add_page(s),
                    guid="urn:same-for-all",
                )
                for s in same_guid
            ),
        ],
    )
    notes = [Item(title=f"Notice {i}", summary=f"Water off in street {i}.") for i in range(3)]
    room.add_feed("/d.xml", [*notes, notes[0]])  # no GUID, no link; one repeated
    feeds = {name: room.url(f"/{name}.xml") for name in "abcd"}
    sources = write_sources(tmp_path, feeds)

    first = run_flow(sources, db_path)
    assert first["new_articles"] == 3 + 3 + 3
    pages = [lead, other, third, *same_guid]

    # Later the story turns up again under yet other names, in feeds old and new.
    room.add_feed("/e.xml", [room.item_for(lead, query="?fbclid=abc&utm_source=e")])
    room.add_items("/d.xml", Item(title="Notice 3", summary="Water off in street 3."))
    room.add_items("/a.xml", room.item_for(other, query="?utm_source=again"))
    feeds["e"] = room.url("/e.xml")
    sources = write_sources(tmp_path, feeds)
    second = run_flow(sources, db_path)
    assert second["new_articles"] == 1  # Notice 3 only

    assert duplicates(db_path) == {}
    urls = [u for (u,) in rows(db_path, "SELECT url FROM v_articles WHERE url IS NOT NULL")]
    assert sorted(urls) == sorted(room.url(f"/news/{s.slug}") for s in pages)
    titles = [t for (t,) in rows(db_path, "SELECT title FROM v_articles WHERE url IS NULL")]
    assert sorted(titles) == [f"Notice {i}" for i in range(4)]
    # every page was fetched once, however many names it had
    fetched = [p for p, _ in room.log if p.startswith("/news/")]
    assert sorted(fetched) == sorted(f"/news/{s.slug}" for s in pages)


def test_link_less_items_sharing_one_guid_are_all_kept(room: Room, tmp_path: Path) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    items = [Item(title=f"Bulletin {i}", summary=f"Item {i}.", guid="urn:same") for i in range(3)]
    room.add_feed("/same.xml", items)
    result = run_flow(write_sources(tmp_path, {"Same": room.url("/same.xml")}), db_path)
    assert result["new_articles"] == 3


# --- 10. kill -9 while the very first run creates the warehouse ---------------------------------

FIRST_RUN_KILLS = 5


def test_sigkill_while_the_first_run_creates_the_warehouse_needs_no_cleanup(
    prefect_api: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 1)
    outcomes = []
    with Room() as room:
        paths = ["/first0.xml", "/first1.xml"]
        feeds = {f"First {i}": room.add_feed(p) for i, p in enumerate(paths)}
        publish_edition(room, paths, 0)
        for i in range(FIRST_RUN_KILLS):
            home = tmp_path / f"home{i}"
            home.mkdir()
            db_path = home / "warehouse" / "w.duckdb"
            sources = write_sources(home, feeds)

            def ingest(log: Path, db_path: Path = db_path, sources: Path = sources) -> Child:
                return start_ingest(sources=sources, db_path=db_path, api_url=prefect_api, log=log)

            # The file appears when DuckDB creates it; opening it takes ~30 ms and the migrations
            # ~15 ms more (kill_when's look at /proc adds ~10 ms before the signal).
            child = ingest(home / "killed.log")
            got = kill_when(child, db_path.exists, rng.uniform(0.0, 0.03))
            assert child.wait() in (0, -signal.SIGKILL), child.output()
            outcomes.append({**got, "migrations": _migrations_done(db_path)})

            final = ingest(home / "final.log")
            assert final.wait() == 0, final.output()
            assert "saved" in final.output()
            assert duplicates(db_path) == {}
            stored = rows(db_path, "SELECT url FROM v_articles WHERE url IS NOT NULL")
            assert sorted(u for (u,) in stored) == sorted(room.url(p) for p in room.pages)
            assert spool.pending(db_path.parent / ".data" / "spool") == []

    # Evidence the kills landed in the creation: a warehouse left without (all) its migrations.
    everything = len(list((ROOT / "warehouse" / "migrations").glob("*.sql"))) + 1  # + the views
    early = [o for o in outcomes if o["alive"] and o["migrations"] < everything]
    assert early, outcomes


def _migrations_done(db_path: Path) -> int:
    """schema_migrations rows a killed first run left (-1: no readable warehouse yet)."""
    try:
        with db.read_connection(db_path, wait_seconds=5) as con:
            found = con.execute("SELECT count(*) FROM schema_migrations").fetchone()
    except duckdb.CatalogException:
        return 0  # the file exists, its first table does not
    except (db.WarehouseError, duckdb.Error, OSError):
        return -1
    return int(found[0]) if found else 0


# --- 11. a thousand pages: memory stays flat ----------------------------------------------------


def test_a_thousand_pages_keep_memory_flat(prefect_api: str, tmp_path: Path) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    padding = "<script>var ads = '" + "x" * 190_000 + "';</script></body>"
    with Room() as room:
        feeds = story_feeds(room, "Many", feeds=20, per_feed=50, first=100_000)
        for page in room.pages:  # ~200 KB each, as heavy pages are: any page kept would show
            room.pages[page] = room.pages[page].replace("</body>", padding)
        child = start_ingest(
            sources=write_sources(tmp_path, feeds, workers=2),
            db_path=db_path,
            api_url=prefect_api,
            log=tmp_path / "many.log",
        )
        samples: list[tuple[int, float]] = []  # (pages served, RSS of the run's processes, MB)
        while child.proc.poll() is None:
            samples.append((room.page_requests(), _tree_rss_mb(child.pgid)))
            time.sleep(0.05)
        assert child.wait() == 0, child.output()

    assert rows(db_path, "SELECT count(*) FROM articles")[0][0] == 1000
    early = max(mb for served, mb in samples if 200 <= served <= 400)
    late = max(mb for served, mb in samples if 800 <= served < 1000)
    peak = max(mb for _, mb in samples)
    # 600 pages of 200 KB went through between the two windows: keeping them would add
    # ~120 MB; texts and signatures kept for the load are ~2 MB.
    assert late - early < 40, f"early {early:.0f} MB, late {late:.0f} MB, peak {peak:.0f} MB"


def _tree_rss_mb(pgid: int) -> float:
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in group_members(pgid):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue  # gone between the listing and the read
    return total / 2**20
