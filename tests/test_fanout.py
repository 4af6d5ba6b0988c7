"""Scale-out on one machine: a Prefect server, a process work pool, two workers, one writer.

The ingest run fans its pages out to `collect-pages` runs of a deployment; two real
`prefect worker start` processes pick them up and hand the pages back as files; only the
ingest run writes the warehouse.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flows import fanout
from tests.conftest import ROOT
from tests.faults_support import Room, duplicates, rows, sources_yaml, story, story_feeds

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.usefixtures("prefect_server", "collect_prefect_leaks"),
    # As in test_ingest.py: Prefect 3.9.1's flow engine leaves one socket of its own API client
    # unclosed per flow run (results.py, read_server_default_result_storage).
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

STOP_GRACE_S = 5.0  # for the workers to stop after SIGTERM


async def _deploy(pool: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    flow = await fanout.collect_pages.from_source(  # type: ignore[misc]
        source=str(ROOT), entrypoint="flows/fanout.py:collect_pages"
    )
    await flow.deploy(  # type: ignore[misc]
        name=fanout.COLLECT_DEPLOYMENT.split("/")[1],
        work_pool_name=pool,
        build=False,
        push=False,
        print_next_steps=False,
    )


def _start_worker(pool: str, name: str, api_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env |= {
        "PREFECT_API_URL": api_url,
        "PREFECT_WORKER_QUERY_SECONDS": "1",  # default 10: the test would mostly wait
        "PYTHONUNBUFFERED": "1",
    }
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    argv += ["--type", "process", "--name", name, "--limit", "1"]
    with log.open("wb") as out:
        return subprocess.Popen(  # our own interpreter, fixed arguments
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # its own process group: _stop_workers may kill all of it
        )


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, as a supervisor stops them, then their process groups are killed.

    Prefect 3.9.1's worker often never finishes its own shutdown after SIGTERM or SIGINT
    ("Received SIGINT. Sending SIGINT to the process worker", then an idle event loop): 6 of 6
    tries against a `prefect server start` on 2026-12-07, and in CI once. Not what this test
    is about, so it waits a few seconds, not the 30 s it once cost each worker."""
    for worker in workers:
        worker.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for worker in workers:
        try:
            worker.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)


def test_two_process_workers_share_the_pages_and_one_run_writes(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    from flows.ingest import ingest

    api_url = str(PREFECT_API_URL.value())
    pool = f"newswatch-test-{uuid.uuid4().hex[:6]}"
    asyncio.run(_deploy(pool))
    workers = [
        _start_worker(pool, f"worker-{i}", api_url, tmp_path / f"worker-{i}.log") for i in (1, 2)
    ]
    db_path = tmp_path / "warehouse" / "w.duckdb"
    try:
        with Room(page_delay=0.05) as room:
            feeds = story_feeds(room, "Group", feeds=4, per_feed=6, first=200_000)
            sources = tmp_path / "sources.yaml"
            sources.write_text(sources_yaml(feeds), encoding="utf-8")

            def run() -> dict[str, Any]:
                result: dict[str, Any] = asyncio.run(
                    ingest(
                        sources=str(sources),
                        db=str(db_path),
                        topics=str(ROOT / "topics"),
                        reports=str(tmp_path / "reports"),
                        fan_out=4,
                    )
                )
                return result

            first = run()
            second = run()  # nothing new: nothing fanned out, nothing fetched twice
            fetched = [p for p, _ in room.log if p.startswith("/news/")]
            expected = sorted(room.url(p) for p in room.pages)
    finally:
        _stop_workers(workers)

    logs = "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("worker-*.log"))
    assert first["status"] == "ok" and first["new_articles"] == 24, (first, logs)
    handed = first["fan_out"]
    assert len(handed) == 4 and sum(h["pages"] for h in handed) == 24, handed
    # both workers ran collect-pages runs, and none of them was the writer
    assert {h["worker_pid"] for h in handed} == {w.pid for w in workers}, (handed, logs)
    assert os.getpid() not in {h["pid"] for h in handed}
    assert sorted(fetched) == sorted(set(fetched)) and len(fetched) == 24
    stored = [u for (u,) in rows(db_path, "SELECT url FROM v_articles WHERE url IS NOT NULL")]
    assert sorted(stored) == expected and duplicates(db_path) == {}
    assert rows(db_path, "SELECT count(*) FROM runs")[0][0] == 2
    assert second["new_articles"] == 0 and "fan_out" not in second
    assert list((db_path.parent / ".data" / "handoff").glob("*")) == []


def test_a_collect_run_no_worker_takes_is_cancelled_and_its_entries_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.ingest import ingest

    pool = f"newswatch-idle-{uuid.uuid4().hex[:6]}"
    asyncio.run(_deploy(pool))  # the deployment now points at a pool no worker polls
    monkeypatch.setattr(fanout, "TIMEOUT_SECONDS", 3.0)
    db_path = tmp_path / "warehouse" / "w.duckdb"
    with Room() as room:
        feeds = {"Idle": room.add_feed("/idle.xml")}
        for n in range(3):
            room.add_items("/idle.xml", room.item_for(story(300_000 + n), when=n))
        sources = tmp_path / "sources.yaml"
        sources.write_text(sources_yaml(feeds), encoding="utf-8")
        result = asyncio.run(
            ingest(
                sources=str(sources),
                db=str(db_path),
                topics=str(ROOT / "topics"),
                reports=str(tmp_path / "reports"),
                fan_out=2,
            )
        )
        fetched = [p for p, _ in room.log if p.startswith("/news/")]

    assert result["new_articles"] == 3 and "fan_out" not in result and fetched == []
    kept = rows(db_path, "SELECT page_status, extraction FROM v_articles")
    assert kept == [("not_collected", "summary")] * 3  # the feed's summary, as for a failed page
    errors = rows(db_path, "SELECT error FROM fetch_log WHERE status = 'not_collected'")
    assert len(errors) == 3 and all("unfinished after 3 s" in e for (e,) in errors), errors


def test_a_handoff_file_that_is_missing_or_not_ours_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run-1.out.json"
    assert fanout._read_worker_pages(path) is None
    path.write_text('{"host": "x", "pid": 1, "worker_pid": 1, "pages": [["not an entry"]]}')
    assert fanout._read_worker_pages(path) is None
    path.write_bytes(b"\x00\xff{")
    assert fanout._read_worker_pages(path) is None
    entry = fanout._ENTRIES.validate_python(
        [
            {
                "key": "https://a.example/1",
                "source": "A",
                "feed_url": "https://a.example/feed",
                "url": "https://a.example/1",
                "link": "https://a.example/1",
                "guid": None,
                "title": "T",
                "summary": "S",
                "published_at": None,
            }
        ]
    )[0]
    handed = fanout.WorkerPages("host", 2, 1, [(entry, None, None)])
    path.write_bytes(fanout._WORKER_PAGES.dump_json(handed))
    assert fanout._read_worker_pages(path) == handed
