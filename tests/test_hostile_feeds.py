"""Hostile and mistaken input through the ingest flow: long feeds sorted oldest first, pages
claiming another article's URL, and operator mistakes that must not stick. Real servers on
127.0.0.1, real DuckDB files, the flow run in this process or the real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests import newsroom
from tests.conftest import ROOT
from tests.faults_support import Item, Room, rows, story
from tests.test_faults import health, run_flow, write_sources

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.usefixtures("prefect_server", "collect_prefect_leaks"),
    # As in test_faults.py: Prefect 3.9.1's flow engine leaves one socket of its own API client
    # unclosed (results.py, read_server_default_result_storage).
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture
def room() -> Iterator[Room]:
    with Room() as r:
        yield r


def oldest_first(room: Room, path: str, numbers: range) -> None:
    """The feed at `path` lists these stories oldest first (story n published at minute n)."""
    items = [room.item_for(story(n), when=n) for n in numbers]
    with room.lock:
        room.feeds[path] = items


def stored(db_path: Path) -> set[str]:
    return {u.rsplit("/", 1)[1] for (u,) in rows(db_path, "SELECT url FROM v_articles")}


# --- long feeds -------------------------------------------------------------------------------


def test_a_long_feed_sorted_oldest_first_gives_its_newest_items_and_warns(
    room: Room, tmp_path: Path
) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    room.add_feed("/archive.xml")
    oldest_first(room, "/archive.xml", range(12))  # more than twice the cap: cut before parsing
    sources = write_sources(
        tmp_path, {"Archive": room.url("/archive.xml")}, extra="  max_entries_per_feed: 5"
    )

    first = run_flow(sources, db_path)
    assert first["new_articles"] == 5
    assert stored(db_path) == {f"story-{n}" for n in range(7, 12)}
    state = health(db_path, "Archive")
    assert state["last_status"] == "ok" and state["last_error"] is None
    assert state["last_warning"] == (
        "7 entries beyond the cap of 5 per run were not taken (the newest by date were; "
        "raise fetch.max_entries_per_feed in sources.yaml to take more)"
    )
    assert first["feeds"][0]["warning"] == state["last_warning"]

    oldest_first(room, "/archive.xml", range(15))  # three stories appended at the end
    second = run_flow(sources, db_path)
    assert second["new_articles"] == 3
    assert stored(db_path) == {f"story-{n}" for n in range(7, 15)}
    assert health(db_path, "Archive")["last_warning"].startswith("10 entries beyond the cap of 5")

    oldest_first(room, "/archive.xml", range(12, 15))  # short again: the warning goes
    third = run_flow(sources, db_path)
    assert third["new_articles"] == 0
    assert health(db_path, "Archive")["last_warning"] is None


# --- a page claiming another article's URL ----------------------------------------------------


def test_a_page_claiming_another_articles_url_cannot_keep_the_real_one_out(
    room: Room, tmp_path: Path
) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    hostile, real, variant = story(1), story(2), story(3)
    # On the same site: a page whose rel=canonical names the real article's address, and an
    # AMP copy of a third article whose rel=canonical names that article (legitimately).
    room.pages["/news/hostile"] = newsroom.page(hostile, room.url("/news/story-2"))
    room.pages["/news/story-3/amp"] = newsroom.page(variant, room.url("/news/story-3"))
    room.add_page(real)
    room.add_page(variant)
    room.add_feed(
        "/feed.xml",
        [
            Item(hostile.title, hostile.paragraphs[0], link=room.url("/news/hostile")),
            Item(variant.title, variant.paragraphs[0], link=room.url("/news/story-3/amp?amp=1")),
        ],
    )
    sources = write_sources(tmp_path, {"Site": room.url("/feed.xml")})

    assert run_flow(sources, db_path)["new_articles"] == 2
    titles = dict(rows(db_path, "SELECT url, title FROM v_articles"))
    assert titles == {
        room.url("/news/hostile"): hostile.title,
        room.url("/news/story-3"): variant.title,
    }

    # The real article, and the canonical address of the AMP copy, appear in the feed.
    room.add_items("/feed.xml", room.item_for(real), room.item_for(variant))
    second = run_flow(sources, db_path)
    assert second["new_articles"] == 1
    titles = dict(rows(db_path, "SELECT url, title FROM v_articles"))
    assert titles[room.url("/news/story-2")] == real.title
    assert len(titles) == 3
    assert [p for p, _ in room.log if p == "/news/story-2"] == ["/news/story-2"]
    assert not [p for p, _ in room.log if p == "/news/story-3"]  # known by its AMP copy


# --- operator mistakes that must not stick ----------------------------------------------------


def cli_ingest(sources: Path, db_path: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        app,
        ["ingest", "--sources", str(sources), "--db", str(db_path), *extra],
        env={"NEWSWATCH_TOPICS": str(ROOT / "topics")},
    )


def feed_requests(room: Room, path: str) -> int:
    return sum(1 for p, _ in room.log if p == path)


def test_a_feed_refused_by_configuration_is_retried_as_soon_as_the_configuration_changes(
    room: Room, tmp_path: Path
) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    room.add_feed("/local.xml", [room.item_for(story(1))])
    sources = write_sources(tmp_path, {"Local": room.url("/local.xml")})
    allowed = sources.read_text(encoding="utf-8")
    sources.write_text(  # the operator forgot to allow the intranet address
        allowed.replace('allow_private_addresses: ["127.0.0.1"]', "allow_private_addresses: false"),
        encoding="utf-8",
    )

    refused = cli_ingest(sources, db_path)
    assert refused.exit_code == 0, refused.output
    state = health(db_path, "Local")
    assert state["last_status"] == "refused_address" and state["consecutive_failures"] == 1
    assert state["last_error"] == (
        "127.0.0.1 is not a public address; to fetch it anyway, allow it in sources.yaml: "
        'fetch: allow_private_addresses: ["127.0.0.1"]'
    )
    until = state["next_attempt_at"]
    assert until > state["last_attempt_at"]

    again = cli_ingest(sources, db_path)  # nothing changed: it waits, and says until when
    assert again.exit_code == 0, again.output
    assert (
        f"backing off after failures: Local until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
        "(1 failure, last refused_address)"
    ) in again.output
    assert "`newswatch ingest --retry-failed`" in again.output
    assert feed_requests(room, "/local.xml") == 0

    sources.write_text(allowed, encoding="utf-8")  # fixed: tried at once
    fixed = cli_ingest(sources, db_path)
    assert fixed.exit_code == 0, fixed.output
    assert (
        "backing off after" not in fixed.output and "0 backing off; 1 new articles" in fixed.output
    )
    assert feed_requests(room, "/local.xml") == 1
    state = health(db_path, "Local")
    assert state["last_status"] == "ok" and state["consecutive_failures"] == 0
    assert state["next_attempt_at"] is None


def test_retry_failed_fetches_the_feeds_backing_off_now(room: Room, tmp_path: Path) -> None:
    db_path = tmp_path / "warehouse" / "w.duckdb"
    room.add_feed("/flaky.xml", [room.item_for(story(1))])
    room.add_feed("/good.xml", [room.item_for(story(2))])
    room.failing["/flaky.xml"] = 500
    sources = write_sources(
        tmp_path, {"Flaky": room.url("/flaky.xml"), "Good": room.url("/good.xml")}
    )
    assert run_flow(sources, db_path)["new_articles"] == 1
    assert health(db_path, "Flaky")["consecutive_failures"] == 1

    del room.failing["/flaky.xml"]  # the site is back; the operator need not wait
    skipped = cli_ingest(sources, db_path)
    assert skipped.exit_code == 0 and "backing off after failures: Flaky until" in skipped.output
    assert feed_requests(room, "/flaky.xml") == 1

    retried = cli_ingest(sources, db_path, "--retry-failed")
    assert retried.exit_code == 0, retried.output
    assert "backing off after" not in retried.output
    assert "0 backing off; 1 new articles" in retried.output
    assert feed_requests(room, "/flaky.xml") == 2
    state = health(db_path, "Flaky")
    assert state["last_status"] == "ok" and state["consecutive_failures"] == 0
