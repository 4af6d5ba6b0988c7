"""End to end: the ingest flow announces high-scoring stories and broken feeds on a loopback
webhook within the run, once; the digest flow posts the short chat digest once per channel."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests import newsroom
from tests.conftest import ROOT
from warehouse import db

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.usefixtures("prefect_server", "collect_prefect_leaks"),
    # Prefect's own API client leaks a socket per flow run: see tests/test_ingest.py.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
ALERT = 0.5


@pytest.fixture
def servers() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    news = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    hook = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    for server in (news, hook):
        server.start()
    hook.expect_request("/hook/tok").respond_with_data("ok")
    try:
        yield news, hook
    finally:
        for server in (news, hook):
            server.clear()
            server.stop()


def posts(hook: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in hook.log]


def test_alerts_and_alarms_arrive_within_the_ingest_run_once(
    tmp_path: Path, servers: tuple[HTTPServer, HTTPServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.digest import digest
    from flows.ingest import ingest

    news, hook = servers
    topics = tmp_path / "topics"
    shutil.copytree(ROOT / "topics", topics)
    for profile in topics.glob("*.yaml"):
        profile.write_text(profile.read_text(encoding="utf-8") + f"\nalert: {ALERT}\n", "utf-8")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        newsroom.sources_yaml(newsroom.publish(news))
        + "health:\n  failures: 1\n"
        + "channels:\n  - name: desk\n    url: ${DESK_HOOK}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("DESK_HOOK", f"json://127.0.0.1:{hook.port}/hook/tok")
    paths = {"sources": str(sources), "db": str(tmp_path / "w.duckdb"), "topics": str(topics)}

    first = asyncio.run(ingest(**paths))
    with db.read_connection(Path(paths["db"])) as con:
        (stories,) = con.execute(
            "SELECT count(DISTINCT story_id) FROM v_matches WHERE score >= ?", [ALERT]
        ).fetchone() or (0,)
    titles = [p["title"] for p in posts(hook)]
    alerts = [t for t in titles if t.endswith(": new story")]
    alarms = [t for t in titles if "feed failing" in t]
    assert stories >= 1 and len(alerts) == stories  # one per story, not per copy
    assert sorted(alarms) == [
        "newswatch: feed failing: Broken",
        "newswatch: feed failing: Homepage",
    ]
    assert "channels" not in first  # nothing went wrong on the way

    asyncio.run(ingest(**paths))  # nothing new, feeds still broken: silence
    assert len(hook.log) == len(titles)

    week = digest(**paths, reports=str(tmp_path / "reports"), week="2026-W47")
    digest(**paths, reports=str(tmp_path / "reports"), week="2026-W47")
    (chat,) = [p for p in posts(hook) if "16–22 Nov 2026" in p["title"]]
    assert "RAF Typhoons deploy to Poland" in chat["message"]
    assert week["topics"][0]["channels"][0]["status"] == "sent"
    with db.read_connection(Path(paths["db"])) as con:
        channels = con.execute("SELECT DISTINCT channel, recipient FROM v_digests").fetchall()
    assert channels == [("desk", "json://127.0.0.1")]
