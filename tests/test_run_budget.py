"""Bounded runs: a total time budget for pages, a share per feed, a cap on new entries per feed.

Pages that did not fit are recorded and taken by the next run, even once their feed has
dropped them; nothing is stored twice. Real flow runs against pages on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from flows.collect.pages import Budget
from tests.faults_support import Room, duplicates, rows, sources_yaml, story
from tests.test_faults import health, run_flow
from warehouse.records import Entry

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.usefixtures("prefect_server", "collect_prefect_leaks"),
    # Prefect's own API client leaks a socket per flow run: see tests/test_ingest.py.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def budgeted(feeds: dict[str, str], extract: str = "", fetch: str = "") -> str:
    text = sources_yaml(feeds, extra=fetch)
    return text.replace("  page_timeout_seconds: 30\n", f"  page_timeout_seconds: 30\n{extract}")


def test_a_run_out_of_time_defers_the_rest_to_the_next_run_and_loses_nothing(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    sources = tmp_path / "sources.yaml"
    deferred_file = db_path.parent / ".data" / "deferred.json"
    with Room(page_delay=1.0) as room:
        feeds = {"Slow": room.add_feed("/slow.xml")}
        sources.write_text(budgeted(feeds, "  run_budget_seconds: 10\n"), encoding="utf-8")
        assert run_flow(sources, db_path)["stored"]  # the warehouse exists, the feed is known
        room.add_items("/slow.xml", *(room.item_for(story(n), when=n) for n in range(20)))

        began = time.monotonic()
        first = run_flow(sources, db_path)
        took = time.monotonic() - began
        taken, waiting = first["pages_fetched"], first["pages_deferred"]
        assert first["stored"] and taken + waiting == 20 and taken >= 1 and waiting >= 1, first
        # the budget (pages still under way at its end are cut off and deferred), then saving
        assert took < 10 + 10, took
        assert first["new_articles"] == taken
        assert "pages wait for the next run (out of time)" in first["summary"]
        saved_deferred = deferred_file.read_bytes()
        assert len(json.loads(saved_deferred)) == waiting
        logged = rows(db_path, "SELECT count(*) FROM fetch_log WHERE status = 'deferred'")
        assert logged == [(waiting,)]

        # The feed moves on and lists none of them any more; the next run, with time enough,
        # takes what the first had no time for, from the deferred file.
        room.feeds["/slow.xml"] = []
        before = len(room.log)
        sources.write_text(budgeted(feeds, "  run_budget_seconds: 600\n"), encoding="utf-8")
        second = run_flow(sources, db_path)
        requests = sorted(p for p, _ in room.log[before:] if p.startswith("/news/"))
        deferred = sorted(e["link"] for e in json.loads(saved_deferred))

    assert second["stored"] and second["pages_deferred"] == 0, second
    assert second["new_articles"] == waiting and second["pages_fetched"] == waiting
    urls = sorted(u for (u,) in rows(db_path, "SELECT url FROM v_articles"))
    assert urls == sorted(room.url(f"/news/story-{n}") for n in range(20))
    assert duplicates(db_path) == {}
    assert [room.url(p) for p in requests] == deferred  # only the deferred pages, each once
    assert json.loads(deferred_file.read_bytes()) == []


def test_a_slow_feed_spends_only_its_share_and_the_other_feeds_pages_all_arrive(
    tmp_path: Path,
) -> None:
    """Two feeds on two sites: one site's pages take a second each, the other's none."""
    db_path = tmp_path / "warehouse" / "w.duckdb"
    sources = tmp_path / "sources.yaml"
    # 3 s of page time per feed: the first slow pages fit even on a stalled machine
    share = "  run_budget_seconds: 30\n  feed_share: 0.1\n"
    with Room(page_delay=1.0) as slow_site, Room() as quick_site:
        feeds = {"Slow": slow_site.add_feed("/slow.xml"), "Quick": quick_site.add_feed("/q.xml")}
        sources.write_text(budgeted(feeds, share), encoding="utf-8")
        assert run_flow(sources, db_path)["stored"]  # the warehouse exists, the feeds are known
        slow = [slow_site.item_for(story(n), when=n) for n in range(10)]
        quick = [quick_site.item_for(story(n), when=n) for n in range(10, 20)]
        slow_site.add_items("/slow.xml", *slow)
        quick_site.add_items("/q.xml", *quick)

        first = run_flow(sources, db_path)
        stored = {u for (u,) in rows(db_path, "SELECT url FROM v_articles")}
        deferred = rows(
            db_path,
            "SELECT source, error FROM fetch_log WHERE kind = 'page' AND status = 'deferred'",
        )
        assert first["stored"] and first["pages_deferred"] == len(deferred), first
        assert {i.link for i in quick} <= stored  # the quick site lost nothing to the slow one
        slow_stored = {i.link for i in slow} & stored
        assert 1 <= len(slow_stored) < 10 and len(slow_stored) + len(deferred) == 10, first
        reason = "Slow's share of the run's time (extract.feed_share, 3 s) was spent"
        assert set(deferred) == {("Slow", reason)}, deferred

        sources.write_text(budgeted(feeds, "  run_budget_seconds: 600\n"), encoding="utf-8")
        second = run_flow(sources, db_path)  # the next run, with time enough, takes the rest
    assert second["stored"] and second["pages_deferred"] == 0, second
    assert second["new_articles"] == len(deferred)
    urls = {u for (u,) in rows(db_path, "SELECT url FROM v_articles")}
    assert urls == {i.link for i in slow + quick}
    assert duplicates(db_path) == {}


def test_a_feed_with_more_new_entries_than_its_cap_is_capped_and_flagged(tmp_path: Path) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    sources = tmp_path / "sources.yaml"
    with Room() as room:
        feeds = {"Churn": room.add_feed("/churn.xml")}
        room.add_items("/churn.xml", *(room.item_for(story(n), when=n) for n in range(5)))
        sources.write_text(budgeted(feeds, fetch="  max_new_entries_per_feed: 3"), "utf-8")
        first = run_flow(sources, db_path)  # a feed read for the first time: its whole backlog
        assert first["new_articles"] == 5 and health(db_path, "Churn")["last_warning"] is None

        # then five new items at once, as a feed minting new GUIDs on every request gives
        room.add_items("/churn.xml", *(room.item_for(story(n), when=n) for n in range(5, 10)))
        second = run_flow(sources, db_path)
        warning = health(db_path, "Churn")["last_warning"]
        third = run_flow(sources, db_path)  # nothing new: the two left over are still new

    assert second["new_articles"] == 3, second
    assert warning == (
        "5 new entries in one run, more than fetch.max_new_entries_per_feed (3); took the "
        "newest 3 (does the feed give its items new GUIDs or links on every request?)"
    )
    urls = {u for (u,) in rows(db_path, "SELECT url FROM v_articles")}
    assert third["new_articles"] == 2 and len(urls) == 10 and duplicates(db_path) == {}


def _entry(feed: str, n: int) -> Entry:
    return Entry(
        key=f"{feed}/{n}",
        source=feed,
        feed_url=feed,
        url=None,
        link=f"{feed}/{n}",
        guid=None,
        title="t",
        summary="s",
        published_at=None,
    )


def test_budget_refuses_past_the_deadline_and_past_a_feeds_share() -> None:
    now = [100.0]
    budget = Budget(60.0, 0.25, clock=lambda: now[0])  # 15 s for one feed's pages
    slow, other = _entry("https://slow.example/feed", 1), _entry("https://ok.example/feed", 1)
    assert budget.refuses(slow) is None
    budget.charge(slow, 14.9)
    assert budget.refuses(slow) is None
    budget.charge(slow, 0.1)
    assert budget.refuses(slow) == (
        "https://slow.example/feed's share of the run's time (extract.feed_share, 15 s) was spent"
    )
    assert budget.refuses(other) is None  # the other feeds go on
    now[0] = 160.0
    assert budget.refuses(other) == "the run's time budget (extract.run_budget_seconds) was spent"
