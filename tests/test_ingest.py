"""End to end: feeds and pages on loopback → the ingest flow under Prefect → a DuckDB file."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from flows.cli import app
from tests import newsroom
from tests.conftest import ROOT
from warehouse import db

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.usefixtures("prefect_server", "collect_prefect_leaks"),
    # Prefect 3.9.1's flow engine leaves one socket of its own API client unclosed
    # (results.py, read_server_default_result_storage, allocation traced with tracemalloc).
    # Our sockets are held to filterwarnings=error by the fetcher's tests, which run without
    # Prefect; here the warning can only be Prefect's.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


@pytest.fixture
def project(tmp_path: Path, server: HTTPServer) -> dict[str, Any]:
    feeds = newsroom.publish(server)
    sources = tmp_path / "sources.yaml"
    sources.write_text(newsroom.sources_yaml(feeds), encoding="utf-8")
    return {
        "sources": sources,
        "db": tmp_path / "warehouse" / "w.duckdb",
        "reports": tmp_path / "reports",
        "feeds": feeds,
        "air_defence_url": server.url_for("/news/uk-poland-air-defence"),
    }


def ingest(project: dict[str, Any]) -> dict[str, Any]:
    from flows.ingest import ingest as flow

    result: dict[str, Any] = asyncio.run(
        flow(
            sources=str(project["sources"]),
            db=str(project["db"]),
            topics=str(ROOT / "topics"),
            reports=str(project["reports"]),
        )
    )
    return result


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with db.read_connection(path) as con:
        return con.execute(sql).fetchall()


def page_requests(server: HTTPServer) -> list[str]:
    return [req.path for req, _ in server.log if req.path.startswith("/news/")]


def test_first_run_stores_every_story_once_and_matches_only_the_topic(
    project: dict[str, Any], server: HTTPServer
) -> None:
    result = ingest(project)
    assert result["stored"] and result["status"] == "ok"
    statuses = {f["source"]: f["status"] for f in result["feeds"]}
    assert statuses == {
        "Gazette RSS": "ok",
        "Atom Times": "ok",
        "RDF Post": "ok",
        "Broken": "http_500",
        "Homepage": "not_a_feed",
    }

    stories = [*newsroom.ON_TOPIC, newsroom.SYNDICATED, *newsroom.HARD_NEGATIVE]
    urls = {server.url_for(f"/news/{s.slug}") for s in stories}
    stored = rows(project["db"], "SELECT url, extraction, language FROM v_articles")
    assert sorted(u for u, _, _ in stored) == sorted(urls)  # utm copy in Atom: still one row
    assert {e for _, e, _ in stored} == {"trafilatura"}
    langs = {u.rsplit("/", 1)[1]: lang for u, _, lang in stored}
    assert langs["brytyjscy-zolnierze-w-polsce"] == "pl" and langs["uk-france-deterrence"] == "en"

    matched = rows(project["db"], "SELECT url, score, entities, story_id FROM v_matches")
    assert {u for u, _, _, _ in matched} == {
        server.url_for(f"/news/{s.slug}") for s in [*newsroom.ON_TOPIC, newsroom.SYNDICATED]
    }
    assert all(0 < score <= 1 and entities for _, score, entities, _ in matched)
    # Two outlets carrying the same wire story: one story, both copies kept.
    story = {u.rsplit("/", 1)[1]: s for u, _, _, s in matched}
    assert story["wire-uk-poland-missiles"] == story["uk-poland-air-defence"]
    assert len(set(story.values())) == len(newsroom.ON_TOPIC)
    # Every article was scored, not only the matches, so that rescoring needs no refetch.
    assert rows(project["db"], "SELECT count(*) FROM matches") == [(len(stories),)]

    health = dict(rows(project["db"], "SELECT source, last_status FROM v_source_health"))
    assert health["Broken"] == "http_500" and health["Gazette RSS"] == "ok"
    assert rows(
        project["db"],
        "SELECT consecutive_failures, last_error IS NOT NULL FROM v_source_health "
        "WHERE source = 'Broken'",
    ) == [(1, True)]


def test_second_run_is_conditional_and_fetches_no_article_again(
    project: dict[str, Any], server: HTTPServer
) -> None:
    ingest(project)
    pages_before = len(page_requests(server))
    counts_before = rows(
        project["db"], "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM matches)"
    )
    server.log.clear()

    second = ingest(project)
    assert second["new_articles"] == 0 and second["new_matches"] == 0
    assert page_requests(server) == []
    feed_requests = [
        req for req, _ in server.log if req.path in ("/rss.xml", "/atom.xml", "/rdf.xml")
    ]
    assert len(feed_requests) == 3 and all(r.headers.get("If-None-Match") for r in feed_requests)
    assert {f["status"] for f in second["feeds"] if f["source"] != "Broken"} >= {"not_modified"}
    assert (
        rows(
            project["db"], "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM matches)"
        )
        == counts_before
    )
    assert pages_before == 8


def test_cli_ingest_then_sql_shows_matches(project: dict[str, Any]) -> None:
    runner = CliRunner()
    env = {"NEWSWATCH_TOPICS": str(ROOT / "topics")}
    done = runner.invoke(
        app, ["ingest", "--sources", str(project["sources"]), "--db", str(project["db"])], env=env
    )
    assert done.exit_code == 0, done.output
    assert "failed  Broken: http_500" in done.output and "new articles" in done.output
    shown = runner.invoke(
        app, ["sql", "SELECT title FROM v_matches ORDER BY title", "--db", str(project["db"])]
    )
    assert shown.exit_code == 0, shown.output
    assert "RAF Typhoons deploy to Poland" in shown.output
    assert "England beat Poland" not in shown.output
    why = runner.invoke(
        app, ["explain", project["air_defence_url"] + "?utm_source=x", "--db", str(project["db"])]
    )
    assert why.exit_code == 0, why.output
    assert "MATCH" in why.output and "'CAMM'" in why.output and "where they meet:" in why.output
    out = project["db"].parent / "export"
    exported = runner.invoke(app, ["export", "--db", str(project["db"]), "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    with db.read_connection(project["db"]) as con:
        stored = con.execute("SELECT count(*) FROM v_matches").fetchone()
        parquet = con.execute(
            "SELECT count(*) FROM read_parquet(?)", [str(out / "v_matches.parquet")]
        ).fetchone()
    assert parquet == stored and (out / "articles.parquet").is_file()
    refused = runner.invoke(app, ["sql", "DELETE FROM articles", "--db", str(project["db"])])
    assert refused.exit_code == 1 and "read-only" in refused.output.lower()


def test_cli_bad_config_fails_before_writing(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text("feeds:\n  - name: X\n    url: gopher://x\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["ingest", "--sources", str(bad), "--db", str(tmp_path / "w.duckdb")]
    )
    assert result.exit_code == 2
    assert "feeds[0] ('X').url" in result.output
    assert not (tmp_path / "w.duckdb").exists()
