"""Schedules: env validation, and a real `prefect server start` whose scheduler creates the runs."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import signal
import socket
import sys
import time
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from flows.config import ConfigError, Paths
from flows.fanout import COLLECT_DEPLOYMENT
from flows.runtime.prefect_server import free_port, port_free
from flows.serve import (
    DEPLOYMENT_NAME,
    Schedules,
    ServeError,
    cancel_missed_runs,
    deployments,
    local_server,
    schedules_from_env,
)
from tests.conftest import ROOT

SERVER_HEALTHY_SECONDS = 120  # fresh SQLite database under CPU load: ~21 s measured, 6x spare
SCHEDULED_RUNS_SECONDS = 30  # the scheduler's recent-deployments loop runs every 5 s
WHOLE_TEST_SECONDS = 240  # firm: SIGALRM ends the test even if a client call hangs


# ---- schedules_from_env ----------------------------------------------------------------------


def test_defaults_without_variables() -> None:
    assert schedules_from_env({}) == Schedules("0 * * * *", "0 7 * * 1", "Europe/London")


def test_variables_override_and_blank_means_default() -> None:
    env = {
        "NEWSWATCH_INGEST_CRON": "  */15   6-22 * * *  ",
        "NEWSWATCH_DIGEST_CRON": "",
        "NEWSWATCH_SCHEDULE_TZ": "Europe/Warsaw",
    }
    assert schedules_from_env(env) == Schedules("*/15 6-22 * * *", "0 7 * * 1", "Europe/Warsaw")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"NEWSWATCH_INGEST_CRON": "0 * * *"},
            "NEWSWATCH_INGEST_CRON='0 * * *' is not a five-field",
        ),
        ({"NEWSWATCH_INGEST_CRON": "0 0 * * * *"}, "is not a five-field"),  # seconds field
        ({"NEWSWATCH_INGEST_CRON": "hourly"}, "is not a five-field"),
        (
            {"NEWSWATCH_DIGEST_CRON": "61 7 * * 1"},
            "NEWSWATCH_DIGEST_CRON='61 7 * * 1' is not a valid",
        ),
        ({"NEWSWATCH_DIGEST_CRON": "0 7 * * funday"}, "is not a valid cron expression"),
        ({"NEWSWATCH_DIGEST_CRON": "H 7 * * 1"}, "is not a valid cron expression"),
        ({"NEWSWATCH_SCHEDULE_TZ": "Europe/Londn"}, "NEWSWATCH_SCHEDULE_TZ='Europe/Londn' is not"),
        ({"NEWSWATCH_SCHEDULE_TZ": "../etc/passwd"}, "is not an IANA time zone"),
    ],
)
def test_invalid_values_name_the_variable_and_the_fix(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match="fix: ") as caught:
        schedules_from_env(env)
    assert says in str(caught.value)


def test_missing_digest_flow_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "flows.digest", None)  # its import fails as if absent
    with pytest.raises(ServeError, match=r"flows/digest\.py\) is missing"):
        deployments(_paths(tmp_path), Schedules())


# ---- prefect.yaml and the README agree with the code --------------------------------------


def test_prefect_yaml_matches_the_flows_and_the_defaults() -> None:
    import importlib

    import yaml

    # The loader `prefect deploy` uses; it ignores unknown keys, hence the checks below.
    from prefect.cli.deploy._models import PrefectYamlModel

    raw = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    model = PrefectYamlModel.model_validate(raw)
    assert model.pull == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $NEWSWATCH_CLONE }}"}}
    ]
    crons = {"ingest": Schedules().ingest_cron, "digest": Schedules().digest_cron}
    collect_flow, collect_name = COLLECT_DEPLOYMENT.split("/")
    assert {d.name for d in model.deployments} == {*crons, collect_name}
    for d, written in zip(model.deployments, raw["deployments"], strict=True):
        assert d.work_pool is not None and d.work_pool.name == "newswatch"
        assert d.name is not None
        path, _, attr = (d.entrypoint or "").partition(":")
        assert (ROOT / path).is_file()
        flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), attr)
        if d.name == collect_name:  # started by an ingest's fan-out, never by a schedule
            assert flow.name == collect_flow and "schedules" not in written and not d.parameters
            continue
        [schedule] = written["schedules"]
        assert (schedule["cron"], schedule["timezone"]) == (crons[d.name], Schedules().timezone)
        assert flow.name == d.name
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(d.parameters) <= accepted, set(d.parameters) - accepted
        for key in ("sources", "db", "topics"):
            assert not Path(d.parameters[key]).is_absolute()  # relative to the clone


def test_readme_documents_the_variables_and_defaults() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # the README's Schedules section, and the work-pool guide it links to
    section = readme[readme.index("## Schedules") :] + (ROOT / "docs" / "scale-out.md").read_text()
    for text in (
        "NEWSWATCH_INGEST_CRON",
        "NEWSWATCH_DIGEST_CRON",
        "NEWSWATCH_SCHEDULE_TZ",
        "NEWSWATCH_CLONE",
        f"`{Schedules().ingest_cron}`",
        f"`{Schedules().digest_cron}`",
        f"`{Schedules().timezone}`",
        f"ingest/{DEPLOYMENT_NAME}",
        "prefect worker start --pool newswatch",
    ):
        assert text in section, text


# ---- a real local Prefect server ------------------------------------------------------------


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: types.FrameType | None) -> None:
        raise TimeoutError(f"test_serve: over its {seconds} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _paths(root: Path) -> Paths:
    return Paths(
        sources=root / "sources.yaml",
        topics=root / "topics",
        db=root / "warehouse" / "w.duckdb",
        reports=root / "reports",
    )


@pytest.fixture
def digest_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real digest flow when it exists; until then a stand-in with its signature."""
    try:
        import flows.digest  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "flows.digest":
            raise
        from prefect import flow

        @flow(name="digest")
        def digest(
            db: str | None = None,
            sources: str | None = None,
            topics: str | None = None,
            week: str | None = None,
            until: str | None = None,
            days: int | None = None,
            send: bool = True,
            force: bool = False,
        ) -> None:
            """Stand-in: registration only, never run."""

        stand_in = types.ModuleType("flows.digest")
        stand_in.digest = digest  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "flows.digest", stand_in)


def _scheduled_runs(client: Any, deployment_id: Any) -> list[Any]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    runs: list[Any] = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        ),
    )
    return runs


@pytest.mark.prefect
@pytest.mark.usefixtures("digest_flow")
def test_local_server_schedules_both_flows(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Scheduled

    CANCELLED, SCHEDULED = StateType.CANCELLED, StateType.SCHEDULED

    london = ZoneInfo("Europe/London")
    schedules = Schedules(
        ingest_cron="0 * * * *", digest_cron="0 7 * * 1", timezone="Europe/London"
    )
    paths = _paths(tmp_path)
    port = free_port()
    timings: dict[str, float] = {}
    start = time.monotonic()
    with _deadline(WHOLE_TEST_SECONDS):
        with local_server(tmp_path, port=port, timeout=SERVER_HEALTHY_SECONDS) as url:
            timings["healthy"] = time.monotonic() - start
            assert url == f"http://127.0.0.1:{port}/api"
            assert (tmp_path / "prefect" / "server.db").is_file()
            with (
                temporary_settings({PREFECT_API_URL: url}),
                get_client(sync_client=True) as client,
            ):
                ids: dict[str, UUID] = {}
                for d in deployments(paths, schedules):
                    ids[f"{d.flow_name}/{d.name}"] = d.apply()  # type: ignore[assignment]  # sync here
                timings["registered"] = time.monotonic() - start
                assert set(ids) == {f"ingest/{DEPLOYMENT_NAME}", f"digest/{DEPLOYMENT_NAME}"}

                expected = {"ingest": "0 * * * *", "digest": "0 7 * * 1"}
                for name, deployment_id in ids.items():
                    stored = client.read_deployment_by_name(name)
                    assert stored.id == deployment_id
                    [schedule] = stored.schedules
                    assert schedule.active
                    assert schedule.schedule.cron == expected[name.split("/")[0]]  # type: ignore[union-attr]
                    assert schedule.schedule.timezone == "Europe/London"  # type: ignore[union-attr]
                    assert stored.parameters["db"] == str(paths.db.resolve())
                    assert stored.parameters["sources"] == str(paths.sources.resolve())
                    assert stored.global_concurrency_limit is None  # see deployments()

                runs: dict[str, list[Any]] = {}
                deadline = time.monotonic() + SCHEDULED_RUNS_SECONDS
                while time.monotonic() < deadline:
                    runs = {n: _scheduled_runs(client, i) for n, i in ids.items()}
                    if all(runs.values()):
                        break
                    time.sleep(1)
                timings["scheduled"] = time.monotonic() - start
                assert all(runs.values()), f"no scheduled runs after {SCHEDULED_RUNS_SECONDS} s"

                for run in runs[f"ingest/{DEPLOYMENT_NAME}"]:
                    when = run.expected_start_time.astimezone(london)
                    assert (when.minute, when.second) == (0, 0)
                for run in runs[f"digest/{DEPLOYMENT_NAME}"]:
                    when = run.expected_start_time.astimezone(london)
                    # 07:00 in London whether that is 06:00 or 07:00 UTC: the timezone is honoured
                    assert (when.isoweekday(), when.hour, when.minute) == (1, 7, 0), when
                    assert when > datetime.now(london)
                    assert run.parameters["topics"] == str(paths.topics.resolve())
                    if "reports" in run.parameters:  # the digest flow takes it since it has it
                        assert run.parameters["reports"] == str(paths.reports.resolve())

                # Runs missed while nobody served them: only the newest is kept to catch up.
                ingest_id = ids[f"ingest/{DEPLOYMENT_NAME}"]
                future = {r.id for r in runs[f"ingest/{DEPLOYMENT_NAME}"]}
                now = datetime.now(UTC)
                missed = [
                    client.create_flow_run_from_deployment(
                        ingest_id, state=Scheduled(scheduled_time=now - timedelta(hours=h))
                    ).id
                    for h in (3, 2, 1)
                ]
                assert asyncio.run(cancel_missed_runs(ingest_id)) == 2
                states = [client.read_flow_run(i).state for i in missed]
                assert [st.type for st in states if st] == [CANCELLED, CANCELLED, SCHEDULED]
                assert {r.id for r in _scheduled_runs(client, ingest_id)} == future | {missed[2]}
                timings["missed"] = time.monotonic() - start
        timings["stopped"] = time.monotonic() - start

    assert port_free(port)
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))
    print(" ".join(f"{k}={v:.1f}s" for k, v in timings.items()))
