"""No newswatch process outlives the process that owns it (issue: orphans after `kill -9`).

The existing fault suite kills whole process groups; here only the run's main process is
killed, as `kill -9 PID`, systemd's KillMode=process or the OOM killer would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.collect.lifeline import SERVE_PID_VARIABLE
from tests.conftest import ROOT
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
    """Processes of the group below `exclude`'s children, busy on a core for most of the last half
    second: an extraction worker at work on a heavy page."""

    def stat(pid: int) -> list[str]:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return ["Z", "0", "0", *["0"] * 20]

    def cpu_ticks(pid: int) -> int:
        fields = stat(pid)
        return int(fields[11]) + int(fields[12])  # utime + stime

    # a worker is forked by the forkserver, so its parent is not the main process
    grandchildren = [p for p in group_members(pgid) if int(stat(p)[1]) not in (exclude, 0)]
    before = {pid: cpu_ticks(pid) for pid in grandchildren}
    time.sleep(0.5)
    ticks = os.sysconf("SC_CLK_TCK")
    return [
        pid for pid, t0 in before.items() if cpu_ticks(pid) - t0 >= ticks * 0.3
    ]  # 0.15 s of CPU in 0.5 s, under any load


def test_a_flow_run_that_serve_started_dies_with_serve(tmp_path: Path) -> None:
    # The process tree `newswatch serve` makes: serve (here a stand-in that exports its PID
    # as serve does) starts a flow-run subprocess, which calls follow_serve() as both flows
    # do first. serve is then SIGKILLed: its flow run must not go on alone.
    script = tmp_path / "serve_stand_in.py"
    script.write_text(
        "import os, subprocess, sys, time\n"
        f"os.environ[{SERVE_PID_VARIABLE!r}] = str(os.getpid())\n"
        "run = subprocess.Popen([sys.executable, '-c', 'from flows.collect.lifeline import "
        "follow_serve; follow_serve(); print(1, flush=True)\\nwhile True: pass'],"
        " stdout=subprocess.PIPE)\n"
        "print(run.pid, flush=True); run.stdout.readline(); print('ready', flush=True)\n"
        "time.sleep(600)\n",
        encoding="utf-8",
    )
    serve = subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert serve.stdout is not None
        run_pid = int(serve.stdout.readline())
        assert serve.stdout.readline().strip() == b"ready"
        os.kill(serve.pid, signal.SIGKILL)
        serve.wait(timeout=10)
        gone_by = time.monotonic() + 5
        while group_members(serve.pid) and time.monotonic() < gone_by:
            time.sleep(0.1)
        assert run_pid not in group_members(serve.pid), "the flow run outlived serve"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(serve.pid, signal.SIGKILL)
        serve.wait(timeout=10)
        if serve.stdout is not None:
            serve.stdout.close()
