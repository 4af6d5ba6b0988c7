"""No newswatch process outlives the process that owns it (issue: orphans after `kill -9`).

The existing fault suite kills whole process groups; here only the run's main process is
killed, as `kill -9 PID`, systemd's KillMode=process or the OOM killer would.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults_support import Room, group_members, sources_yaml, start_ingest, story_feeds

pytestmark = pytest.mark.prefect

# ~1.4 MB of short linked paragraphs: ~7 s of trafilatura's CPU on one core (measured), so
# a worker is still busy well after the 5 s this test allows once the run is killed.
HEAVY = "".join(f'<p><a href="/l{i}">link {i}</a> word word</p>' for i in range(40_000))


@pytest.fixture
def prefect_api(prefect_server: None) -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def test_kill_9_of_the_main_process_alone_takes_its_workers_with_it(
    prefect_api: str, tmp_path: Path
) -> None:
    with Room() as room:
        feeds = story_feeds(room, "Heavy", feeds=1, per_feed=12, first=500)
        for page in room.pages:
            room.pages[page] = room.pages[page].replace("</body>", HEAVY + "</body>")
        sources = tmp_path / "sources.yaml"
        sources.write_text(sources_yaml(feeds, workers=1), encoding="utf-8")
        child = start_ingest(
            sources=sources,
            db_path=tmp_path / "w.duckdb",
            api_url=prefect_api,
            log=tmp_path / "ingest.log",
        )
        try:
            deadline = time.monotonic() + 300
            while not _busy_workers(child.pgid, exclude=child.proc.pid):
                assert child.proc.poll() is None and time.monotonic() < deadline, child.output()
                time.sleep(0.1)

            os.kill(child.proc.pid, signal.SIGKILL)  # the main process only, not its group
            child.wait(timeout=10)
            gone_by = time.monotonic() + 5  # far less than one heavy page's extraction
            while group_members(child.pgid) and time.monotonic() < gone_by:
                time.sleep(0.1)
            survivors = group_members(child.pgid)
        finally:
            child.kill_group()  # leave nothing running, whatever the outcome
            child.wait(timeout=10)
        assert survivors == [], "processes outlived the run by more than 5 s"


def _busy_workers(pgid: int, exclude: int) -> list[int]:
    """Processes of the group below `exclude`'s children (the extraction workers: the
    forkserver forks them) that have used a second of CPU: one is at work on a heavy page
    (warming up takes a fraction of that; a heavy page ~7 s). CPU used, not a rate, so that
    a loaded machine only makes the test slower, never wrong."""

    def stat(pid: int) -> list[str]:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return ["Z", "0", "0", *["0"] * 20]

    ticks = os.sysconf("SC_CLK_TCK")
    return [
        pid
        for pid in group_members(pgid)
        if int((fields := stat(pid))[1]) not in (exclude, 0)
        and int(fields[11]) + int(fields[12]) >= ticks  # utime + stime
    ]
