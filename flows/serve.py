"""`newswatch serve`: the ingest and digest schedules, run by this process against a Prefect server.

Prefect's temporary (ephemeral) server runs no scheduler, so cron deployments registered
there never fire. Without `PREFECT_API_URL`, `serve` starts `prefect server start` as a
child process (SQLite beside the warehouse) and stops it on exit. Prefect is imported inside
functions: the CLI imports this module for `--help`.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.collect.lifeline import SERVE_PID_VARIABLE
from flows.config import ConfigError, Paths
from flows.runtime.local_server import DEFAULT_PORT as DEFAULT_PORT
from flows.runtime.local_server import ServeError as ServeError
from flows.runtime.local_server import local_server as local_server
from flows.runtime.prefect_server import (
    advertised,
)

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.deployments.runner import RunnerDeployment

DEPLOYMENT_NAME = "newswatch"  # served as ingest/newswatch and digest/newswatch
CRON_FIELDS = "minute hour day-of-month month day-of-week"
WATCH_SECONDS = 600.0  # how often `serve` checks that ingest runs still complete


@dataclass(frozen=True)
class Schedules:
    """When the flows run: cron expressions (five fields) in one IANA time zone."""

    ingest_cron: str = "0 * * * *"  # hourly, on the hour
    digest_cron: str = "0 7 * * 1"  # Mondays 07:00: the ISO week that ended on Sunday
    timezone: str = "Europe/London"


def schedules_from_env(env: Mapping[str, str] | None = None) -> Schedules:
    """NEWSWATCH_INGEST_CRON, NEWSWATCH_DIGEST_CRON, NEWSWATCH_SCHEDULE_TZ over the defaults."""
    env = os.environ if env is None else env
    default = Schedules()
    tz = env.get("NEWSWATCH_SCHEDULE_TZ", "").strip() or default.timezone
    _check_timezone("NEWSWATCH_SCHEDULE_TZ", tz)
    ingest = _cron(env, "NEWSWATCH_INGEST_CRON", default.ingest_cron, tz)
    digest = _cron(env, "NEWSWATCH_DIGEST_CRON", default.digest_cron, tz)
    return Schedules(ingest_cron=ingest, digest_cron=digest, timezone=tz)


def _check_timezone(var: str, tz: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{var}={tz!r} is not an IANA time zone; fix: e.g. Europe/London, Europe/Warsaw or UTC"
        ) from None


def _cron(env: Mapping[str, str], var: str, default: str, tz: str) -> str:
    expr = " ".join(env.get(var, "").split()) or default
    fix = f'fix: five fields ({CRON_FIELDS}), e.g. "{default}"'
    if len(expr.split()) != 5:
        raise ConfigError(f"{var}={expr!r} is not a five-field cron expression; {fix}")
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:  # the check the Prefect API applies, so a value accepted here registers there
        CronSchedule(cron=expr, timezone=tz)
    except ValidationError as exc:
        why = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        why = "" if why.startswith("Invalid cron string") else f" ({why})"
        raise ConfigError(f"{var}={expr!r} is not a valid cron expression{why}; {fix}") from None
    return expr


def deployments(paths: Paths, schedules: Schedules) -> list[RunnerDeployment]:
    """The ingest and digest deployments, with their cron schedules and the paths as parameters."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from flows.ingest import ingest

    digest = _digest_flow()
    where = {
        "sources": str(paths.sources.resolve()),
        "db": str(paths.db.resolve()),
        "topics": str(paths.topics.resolve()),
    }
    # No deployment concurrency limit: with Prefect's default in-memory lease storage a server
    # restart during a run leaks the slot, and every later run is cancelled (measured). An
    # overlapping ingest stops on the warehouse's run lock instead.
    common: dict[str, Any] = {
        "name": DEPLOYMENT_NAME,
        "tags": ["newswatch"],
        # The package is installed in the environment: runs import it from any directory.
        "entrypoint_type": EntrypointType.MODULE_PATH,
    }
    return [
        ingest.to_deployment(
            schedules=[Cron(schedules.ingest_cron, timezone=schedules.timezone, slug="ingest")],
            parameters=where | _if_accepted(ingest, reports=str(paths.reports.resolve())),
            description="Fetch the feeds, extract and match new articles, store them.",
            **common,
        ),
        digest.to_deployment(
            schedules=[Cron(schedules.digest_cron, timezone=schedules.timezone, slug="digest")],
            parameters=where | _if_accepted(digest, reports=str(paths.reports.resolve())),
            description="Render the digest of the last complete week and send it.",
            **common,
        ),
    ]


def _if_accepted(flow: Any, **parameters: str) -> dict[str, str]:
    accepted = inspect.signature(flow.fn).parameters
    return {k: v for k, v in parameters.items() if k in accepted}


def _digest_flow() -> Any:
    import importlib

    try:
        module = importlib.import_module("flows.digest")
    except ModuleNotFoundError as exc:
        if exc.name != "flows.digest":
            raise
        raise ServeError(
            "the digest flow (flows/digest.py) is missing from this installation, so the weekly "
            "digest cannot be scheduled; fix: update the clone (git pull) and reinstall"
        ) from None
    return module.digest


def serve(paths: Paths, schedules: Schedules, *, limit_seconds: float | None = None) -> None:
    """Register both deployments and run their scheduled runs until Ctrl-C (or limit_seconds)."""
    from flows.runtime import prefect_api

    prefect_api.configure(paths.data_dir)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with contextlib.ExitStack() as stack:
            # the flow runs, our subprocesses, watch this PID and die with us (even by SIGKILL)
            _export(SERVE_PID_VARIABLE, str(os.getpid()), stack)
            from prefect.settings import PREFECT_API_URL, temporary_settings

            url = (PREFECT_API_URL.value() or "").strip()  # the environment or a profile
            if not url:
                url = stack.enter_context(local_server(paths.data_dir))
                _export("PREFECT_API_URL", url, stack)
                port = urllib.parse.urlsplit(url).port
                taken = f" (port {DEFAULT_PORT} is in use)" if port != DEFAULT_PORT else ""
                print(f"Prefect UI: {url.removesuffix('/api')}{taken}", flush=True)
            else:
                print(f"Prefect API: {url}", flush=True)
            # Settings were read when Prefect was imported; make sure this process uses `url`.
            stack.enter_context(temporary_settings({PREFECT_API_URL: url}))
            deps = deployments(paths, schedules)
            # cron-style runs on this clone find this server instead of starting their own
            stack.enter_context(advertised(Path(os.environ["PREFECT_HOME"]), url))
            import asyncio

            asyncio.run(_run(deps, schedules, limit_seconds, paths))
    except KeyboardInterrupt:
        print("newswatch serve: stopped", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _export(name: str, value: str, stack: contextlib.ExitStack) -> None:
    old = os.environ.get(name)
    os.environ[name] = value

    def restore() -> None:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old

    stack.callback(restore)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # A service manager's stop: unwind so the local server is stopped too. (The runner
    # installs its own graceful handler while it runs.)
    raise KeyboardInterrupt


async def _run(
    deps: list[RunnerDeployment],
    schedules: Schedules,
    limit_seconds: float | None,
    paths: Paths | None = None,
) -> None:
    import asyncio

    from prefect.runner import Runner

    runner = Runner(name="newswatch", pause_on_shutdown=False)
    ids = {d.flow_name: await runner.aadd_deployment(d) for d in deps}
    if skipped := await cancel_missed_runs(ids["ingest"]):
        print(
            f"{skipped} ingest run{'s' if skipped > 1 else ''} missed while newswatch serve was "
            "stopped: cancelled; one catch-up run starts now",
            flush=True,
        )
    print(
        f"Serving {', '.join(f'{d.flow_name}/{d.name}' for d in deps)}: ingest "
        f"{schedules.ingest_cron!r}, digest {schedules.digest_cron!r} ({schedules.timezone}). "
        "Ctrl-C stops.",
        flush=True,
    )

    async def stop_after(seconds: float) -> None:
        await asyncio.sleep(seconds)
        while not runner.started:
            await asyncio.sleep(0.1)
        await runner.astop()

    stopper = None if limit_seconds is None else asyncio.create_task(stop_after(limit_seconds))
    watcher = None if paths is None else asyncio.create_task(watch_ingest(paths))
    try:
        await runner.start()
    finally:
        for task in (stopper, watcher):
            if task is not None:
                task.cancel()


async def watch_ingest(paths: Paths, every: float = WATCH_SECONDS) -> None:
    """Raise one health alarm when no ingest has completed for health.stale_hours."""
    import asyncio

    from flows.config import load_settings
    from flows.delivery.notices import stale_ingest

    started = datetime.now(UTC)
    while True:
        await asyncio.sleep(every)
        try:
            settings = load_settings(paths)  # read each time: an edited file counts from now on
        except ConfigError as exc:
            print(f"newswatch serve: stale-ingest check skipped: {exc}", flush=True)
            continue
        lines = await asyncio.to_thread(stale_ingest, settings, started, datetime.now(UTC))
        for line in lines:
            print(f"newswatch serve: {line}", flush=True)


async def cancel_missed_runs(deployment_id: UUID, *, keep: int = 1) -> int:
    """Cancel all but the newest `keep` runs whose time passed while nobody served them."""
    # The runner would start every missed run at once; for ingest one run catches up on
    # everything, and the others would only fail on the warehouse's run lock.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.states import Cancelled

    missed = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        # A plain datetime validates; Prefect's own DateTime.now() is deprecated.
        expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(UTC)),  # type: ignore[arg-type]
    )
    cancelled = 0
    async with get_client() as client:
        while True:
            runs = await client.read_flow_runs(
                flow_run_filter=missed,
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                offset=keep,
                limit=200,  # the API's maximum page
            )
            for run in runs:
                await client.set_flow_run_state(
                    run.id,
                    Cancelled(
                        message="missed while newswatch serve was stopped; a later run catches up"
                    ),
                    force=True,
                )
            cancelled += len(runs)
            if len(runs) < 200:
                return cancelled
