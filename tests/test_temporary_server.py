"""Runs with no Prefect server configured (as from cron): newswatch starts its own temporary
Prefect API, stops it when the run ends, and a killed run leaves no server behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.runtime import prefect_api, prefect_server
from tests.conftest import ROOT
from tests.faults_support import (
    Child,
    Room,
    live_processes,
    rows,
    sources_yaml,
    start_ingest,
    story_feeds,
)

GONE_SECONDS = 30  # a released server finishes its graceful stop in ~1 s


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Prefect home for the module: its database is created (~6 s) by the first run only."""
    return tmp_path_factory.mktemp("prefect-home")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PREFECT_HOME": str(home), **extra}


DB = Path("w") / "nw.duckdb"  # the warehouse, under each test's tmp_path


def _publish(room: Room, tmp_path: Path, name: str, stories: int, first: int) -> Path:
    """One feed of `stories` stories in the room; the sources.yaml that lists it."""
    sources = tmp_path / "sources.yaml"
    sources.write_text(sources_yaml(story_feeds(room, name, 1, stories, first)))
    return sources


def _cron_ingest(sources: Path, tmp_path: Path, home: Path, log: str, **env: str) -> Child:
    """`newswatch ingest` with no Prefect server configured, as cron would run it."""
    return start_ingest(
        sources=sources,
        db_path=tmp_path / DB,
        api_url=None,
        log=tmp_path / log,
        env=_env(home, **env),
    )


def _wait_for_pages(room: Room, child: Child) -> None:
    """Until the run asks for its first article page (its server is up, its flow running)."""
    deadline = time.monotonic() + 180
    while room.page_requests() == 0 and time.monotonic() < deadline:
        assert child.proc.poll() is None, child.output()
        time.sleep(0.1)
    assert room.page_requests() > 0, child.output()


def temporary_servers(home: Path) -> list[int]:
    """PIDs of live temporary Prefect servers whose home is `home`, from /proc."""
    found = []
    for entry, _fields in live_processes():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"prefect.server.api.server:create_app" in cmdline
            and f"PREFECT_HOME={home}".encode() in environ
        ):
            found.append(int(entry.name))
    return found


def _wait_gone(home: Path) -> list[int]:
    deadline = time.monotonic() + GONE_SECONDS
    while (left := temporary_servers(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_a_run_without_a_server_starts_its_own_and_leaves_none_behind(
    tmp_path: Path, prefect_home: Path
) -> None:
    with Room() as room:
        sources = _publish(room, tmp_path, "Cron", 3, first=0)
        # A user's CSRF setting (for their own servers) must not reach ours: the command's
        # client asks it for no token.
        csrf = {"PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true"}
        child = _cron_ingest(sources, tmp_path, prefect_home, "run.log", **csrf)
        rc = child.wait(timeout=240)
    out = child.output()
    assert rc == 0, out
    assert "3 new articles" in out, out
    # Its log lines reached the server before the server was stopped.
    assert "Error logging to API" not in out and "connection attempts failed" not in out, out
    assert rows(tmp_path / DB, "select count(*) from articles") == [(3,)]
    assert (prefect_home / "temporary-server.log").exists()
    assert _wait_gone(prefect_home) == []
    # The flow's last log lines reached the server's database before it stopped, so the run's
    # history (the Prefect UI, `prefect flow-run logs`) is complete.
    summary = next(line for line in out.splitlines() if line.startswith("run "))
    with contextlib.closing(sqlite3.connect(prefect_home / "prefect.db")) as con:
        logged = [m for (m,) in con.execute("select message from log")]
    assert summary in logged, logged[-5:]
    assert "Finished in state Completed()" in logged, logged[-5:]


def test_a_killed_run_leaves_no_temporary_server(tmp_path: Path, prefect_home: Path) -> None:
    with Room() as room:
        sources = _publish(room, tmp_path, "Killed", 2, first=10)
        held = room.hold_pages()
        child = _cron_ingest(sources, tmp_path, prefect_home, "run.log")
        try:
            _wait_for_pages(room, child)
            running = temporary_servers(prefect_home)
            assert len(running) == 1, running  # the run is mid-way, on its own server
            child.kill_group()  # SIGKILL: no cleanup code of newswatch runs
            child.wait(timeout=10)
        finally:
            held.set()
    assert _wait_gone(prefect_home) == [], "the temporary server outlived the killed run"


def test_a_temporary_server_that_cannot_start_is_a_one_line_failure(
    tmp_path: Path, prefect_home: Path
) -> None:
    (tmp_path / "sources.yaml").write_text(sources_yaml({"Nowhere": "http://127.0.0.1:9/x"}))
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the database's directory should be")
    url = f"sqlite+aiosqlite:///{blocked}/prefect.db"
    child = _cron_ingest(
        tmp_path / "sources.yaml",
        tmp_path,
        prefect_home,
        "run.log",
        PREFECT_API_DATABASE_CONNECTION_URL=url,
    )
    rc = child.wait(timeout=180)
    out = child.output()
    assert rc == 1, out
    assert "newswatch: the temporary Prefect server exited with code" in out, out
    assert "Traceback" not in out.split("its log")[0], out  # the reason, not a stack
    assert _wait_gone(prefect_home) == []


def test_a_named_server_is_used_and_no_temporary_one_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    with prefect_api.PrefectApi(tmp_path / ".data") as api:
        assert api._child is None
    assert temporary_servers(tmp_path / "home") == []


def test_the_temporary_server_dying_mid_run_loses_nothing(
    tmp_path: Path, prefect_home: Path
) -> None:
    db_path = tmp_path / DB
    with Room() as room:
        sources = _publish(room, tmp_path, "Orphan", 3, first=20)
        held = room.hold_pages()
        # Prefect's client retries 5 times by default: ~1 min more before the run gives up.
        first = _cron_ingest(
            sources, tmp_path, prefect_home, "first.log", PREFECT_CLIENT_MAX_RETRIES="1"
        )
        try:
            _wait_for_pages(room, first)
            (server,) = temporary_servers(prefect_home)
            os.kill(server, signal.SIGKILL)  # the API goes away in the middle of the run
        finally:
            held.set()
        rc = first.wait(timeout=300)
        out = first.output()
        # Prefect tracks task runs in the process: the run went on, saved, then could not
        # record its end. It fails with one line that says so, and its work is kept.
        # (Prefect's own log handler may still complain after it that it cannot send.)
        assert rc == 1, out
        reason = [line for line in out.splitlines() if line.startswith("newswatch: ")]
        assert len(reason) == 1, out
        assert reason[0].startswith("newswatch: the temporary Prefect server exited"), reason
        assert "3 new articles, 0 matches; saved" in out, out
        assert rows(db_path, "select count(*), count(distinct url) from articles") == [(3, 3)]
        fetched = room.page_requests()
        second = _cron_ingest(sources, tmp_path, prefect_home, "second.log")
        assert second.wait(timeout=240) == 0, second.output()
        assert room.page_requests() == fetched  # nothing fetched twice
    assert "0 new articles" in second.output(), second.output()
    assert rows(db_path, "select count(*), count(distinct url) from articles") == [(3, 3)]


def test_the_main_job_runs_both_flows_on_one_temporary_server(
    tmp_path: Path, prefect_home: Path
) -> None:
    with Room() as room:
        sources = _publish(room, tmp_path, "Main", 2, first=30)
        env = _env(prefect_home, NEWSWATCH_REPORTS=str(tmp_path / "reports"))
        argv = ["run", "--sources", str(sources), "--db", str(tmp_path / DB)]
        done = subprocess.run(
            [sys.executable, "-m", "flows.cli", *argv, "--topics", str(ROOT / "topics")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "2 new articles" in out and "digest uk-poland-defence" in out, out
    assert list((tmp_path / "reports" / "uk-poland-defence").glob("*.html")), out
    # Both flow runs were recorded by the same server: one port in every run link.
    ports = set(re.findall(r"View at http://127\.0\.0\.1:(\d+)/runs/flow-run/", out))
    assert len(ports) == 1, out
    assert _wait_gone(prefect_home) == []


def test_a_named_prefect_server_going_away_mid_run_is_one_line_and_loses_nothing(
    tmp_path: Path, prefect_home: Path
) -> None:
    # "Your own" server: the same app, started here and named by PREFECT_API_URL.
    server = prefect_server.temporary(prefect_home, _env(prefect_home))
    try:
        server.wait_healthy(120)
        with Room() as room:
            sources = _publish(room, tmp_path, "Named", 2, first=40)
            held = room.hold_pages()
            run = start_ingest(
                sources=sources,
                db_path=tmp_path / DB,
                api_url=server.url,
                log=tmp_path / "run.log",
                env=_env(prefect_home, PREFECT_CLIENT_MAX_RETRIES="1"),
            )
            try:
                _wait_for_pages(room, run)
                assert temporary_servers(prefect_home) == [server.process.pid]  # none of its own
                os.kill(server.process.pid, signal.SIGKILL)
            finally:
                held.set()
            rc = run.wait(timeout=300)
    finally:
        server.stop()
    out = run.output()
    assert rc == 1, out
    reason = [line for line in out.splitlines() if line.startswith("newswatch: ")]
    assert reason and reason[0].startswith(f"newswatch: the Prefect API {server.url} stopped"), out
    assert rows(tmp_path / DB, "select count(*), count(distinct url) from articles") == [(2, 2)]


def test_a_cron_run_beside_a_running_serve_uses_its_server(
    tmp_path: Path, prefect_home: Path
) -> None:
    import httpx

    with Room() as room:
        sources = _publish(room, tmp_path, "Served", 2, first=40)
        never = "0 0 1 1 *"  # serve's own schedules stay out of the way
        env = _env(prefect_home, NEWSWATCH_INGEST_CRON=never, NEWSWATCH_DIGEST_CRON=never)
        log = tmp_path / "serve.log"
        argv = [sys.executable, "-m", "flows.cli", "serve", "--sources", str(sources)]
        argv += ["--db", str(tmp_path / DB)]
        with log.open("wb") as out:
            serve = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        advert = prefect_home / prefect_server.SERVE_FILE
        try:
            deadline = time.monotonic() + 180
            while not advert.exists():
                assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            url = prefect_server.serve_api(prefect_home, timeout=10)
            assert url is not None, log.read_text()

            cron = _cron_ingest(sources, tmp_path, prefect_home, "cron.log")
            _wait_for_pages(room, cron)
            assert temporary_servers(prefect_home) == []  # it started no server of its own
            assert cron.wait(timeout=240) == 0, cron.output()
            runs = httpx.post(f"{url}/flow_runs/filter", json={}, timeout=30).json()
            ours = [r["state_type"] for r in runs if r["deployment_id"] is None]  # not scheduled
            assert ours == ["COMPLETED"], runs  # the cron run is recorded by serve's server
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=60)
        assert not advert.exists()  # a stopped serve names no server
        assert prefect_server.serve_api(prefect_home) is None


def _environ(pid: int) -> dict[str, str]:
    raw = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_a_data_directory_used_before_skips_the_migration_check_and_keeps_the_history(
    tmp_path: Path,
) -> None:
    from importlib.metadata import version

    home = tmp_path / "home"
    with Room() as room:
        sources = _publish(room, tmp_path, "Again", 2, first=50)
        first = _cron_ingest(sources, tmp_path, home, "first.log")
        assert first.wait(timeout=240) == 0, first.output()
        # The first server migrated the new database and says by which Prefect.
        assert (home / ".database-made").read_text() == version("prefect")
        assert _wait_gone(home) == []  # the next server found is the second run's
        sources = _publish(room, tmp_path, "Again", 3, first=50)  # one story more
        second = _cron_ingest(sources, tmp_path, home, "second.log")
        deadline = time.monotonic() + 120
        while not (servers := temporary_servers(home)) and time.monotonic() < deadline:
            assert second.proc.poll() is None, second.output()
            time.sleep(0.05)
        assert servers, second.output()
        env = _environ(servers[0])
        assert second.wait(timeout=240) == 0, second.output()
    assert "1 new articles" in second.output() or "1 new article" in second.output()
    assert env.get("PREFECT_SERVER_DATABASE_MIGRATE_ON_START") == "false", env
    assert env.get("PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED") == "false", env
    assert _wait_gone(home) == []
    # Both runs are in Prefect's history, their feed task runs included: the services that
    # record them still run on the lean server.
    with contextlib.closing(sqlite3.connect(home / "prefect.db")) as con:
        flow_runs = con.execute("select state_name from flow_run").fetchall()
        task_runs = con.execute(
            "select state_name from task_run where name like 'feed %'"
        ).fetchall()
    assert flow_runs == [("Completed",), ("Completed",)], flow_runs
    assert task_runs == [("Completed",), ("Completed",)], task_runs


def test_a_configuration_error_on_a_used_data_directory_is_one_line_and_leaves_no_server(
    tmp_path: Path,
) -> None:
    from importlib.metadata import version

    home = tmp_path / "home"
    home.mkdir()
    (home / "prefect.db").write_bytes(b"made before")  # a used data directory: the server
    (home / ".database-made").write_text(version("prefect"))  # starts at launch
    (tmp_path / "sources.yaml").write_text("feeds: [{name: No URL}]\n")
    child = _cron_ingest(tmp_path / "sources.yaml", tmp_path, home, "run.log")
    rc = child.wait(timeout=120)
    out = child.output()
    assert rc == 2, out
    assert [line for line in out.splitlines() if line.startswith("newswatch: ")], out
    assert "Traceback" not in out, out
    assert (home / "temporary-server.log").exists()  # it had started, while the check ran
    assert not (tmp_path / DB).exists()  # nothing written to the warehouse
    assert _wait_gone(home) == []
