"""Prefect's offline defaults, and pruning of the temporary server's database."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.runtime import prefect_api


def test_defaults_go_beside_the_warehouse_and_user_settings_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    prefect_api.configure(tmp_path / ".data")
    import os

    assert os.environ["PREFECT_HOME"] == str((tmp_path / ".data" / "prefect").resolve())
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "300"


def test_an_oversized_temporary_database_is_pruned_and_a_small_one_kept(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    home.mkdir()
    db = home / "prefect.db"
    db.write_bytes(b"x" * 1000)
    (home / "prefect.db-wal").write_bytes(b"w")
    assert not prefect_api.prune_ephemeral_database(home, limit=5000)
    assert db.exists()
    assert prefect_api.prune_ephemeral_database(home, limit=500)
    assert not db.exists() and not (home / "prefect.db-wal").exists()
    assert not prefect_api.prune_ephemeral_database(home, limit=500)  # nothing left to prune


def test_the_database_is_current_only_when_this_prefect_made_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import version

    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    home = tmp_path / "prefect"
    home.mkdir()
    marker = home / ".database-made"
    assert not prefect_api._database_current(home)  # nothing made yet
    (home / "prefect.db").write_bytes(b"x" * 1000)
    marker.write_text("")  # made by a newswatch that did not record the version
    assert not prefect_api._database_current(home)
    marker.write_text("3.0.0")  # made by another Prefect: its migrations must run
    assert not prefect_api._database_current(home)
    marker.write_text(version("prefect"))
    assert prefect_api._database_current(home)
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:///elsewhere.db")
    assert not prefect_api._database_current(home)  # the user's database: never assumed
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL")
    assert prefect_api.prune_ephemeral_database(home, limit=500)
    assert not marker.exists()  # the next server makes the database again, and migrates it
    assert not prefect_api._database_current(home)


PLAIN = {"sources": "/srv/sources.yaml", "db": None, "fan_out": 2, "send": True, "ratio": 0.5}


def test_plain_parameters_are_recorded_as_prefect_records_them() -> None:
    """The same values Prefect's own serializer gives, plain or not (other types go to it)."""
    from datetime import UTC, datetime

    from prefect import Flow

    from flows.runtime.plain_flow import PlainFlow

    def probe(**parameters: object) -> None: ...

    ours, prefects = PlainFlow(fn=probe, name="probe"), Flow(fn=probe, name="probe")
    other = {**PLAIN, "path": Path("/srv/x"), "when": datetime(2026, 12, 7, tzinfo=UTC)}
    for parameters in (PLAIN, other, {}):
        assert ours.serialize_parameters(parameters) == prefects.serialize_parameters(parameters)
    assert ours.serialize_parameters(other)["path"] == "/srv/x"


def test_starting_a_flow_run_does_not_import_fastapi() -> None:
    """Recording the parameters of newswatch's flows (what Prefect does as each run starts)
    leaves FastAPI unloaded: ~0.15 s of every command's start-up."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from flows.ingest import ingest\n"
        "from flows.digest import digest\n"
        "from flows.fanout import collect_pages\n"
        f"for f in (ingest, digest, collect_pages): f.serialize_parameters({PLAIN!r})\n"
        "print([type(f).__name__ for f in (ingest, digest, collect_pages)], 'fastapi' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['PlainFlow', 'PlainFlow', 'PlainFlow'] False"


@pytest.mark.usefixtures("prefect_server", "collect_prefect_leaks")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_flow_run_s_parameters_reach_the_server() -> None:
    from prefect.client.orchestration import get_client
    from prefect.context import get_run_context

    from flows.runtime.plain_flow import flow

    @flow(name="probe")
    def probe(sources: str, db: str | None = None, fan_out: int = 0, send: bool = True) -> str:
        return str(get_run_context().flow_run.id)  # type: ignore[union-attr]

    run_id = probe("/srv/sources.yaml", fan_out=2)
    with get_client(sync_client=True) as client:
        recorded = client.read_flow_run(run_id).parameters
    assert recorded == {"sources": "/srv/sources.yaml", "db": None, "fan_out": 2, "send": True}
