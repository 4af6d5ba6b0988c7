"""Scale-out: an ingest's pages fanned out to Prefect process workers, one warehouse writer.

The ingest run, on the warehouse's host, keeps everything that touches DuckDB: the feeds'
states, the feeds themselves, which entries are new, story grouping, matching and the save.
Only the pages, where the time goes, travel: the new entries, grouped by feed, become
`collect-pages` flow runs of the COLLECT_DEPLOYMENT deployment, which process workers on
any machine pick up. Entries go out and collected pages come back as JSON files in a handoff
directory that every machine reaches (on one machine: beside the warehouse): `<base>.in.json`
and `<base>.out.json`. Workers never open the warehouse. (Words: flows/collect/pages.py.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.states import Cancelled
from pydantic import TypeAdapter, ValidationError

from flows.collect import pages
from flows.collect.pages import Collect, CollectedPage, Collection
from flows.config import Settings, settings_for
from flows.runtime.plain_flow import flow
from warehouse.records import Entry, FetchResult

COLLECT_DEPLOYMENT = "collect-pages/newswatch-collect"
POLL_SECONDS = 1.0  # how often the ingest asks the server whether a collect run has finished
# A collect run not finished by then (no worker polling the pool, a worker gone) is cancelled
# and its entries are stored from their feed items: the ingest never waits forever.
TIMEOUT_SECONDS = 1800.0


@dataclasses.dataclass(frozen=True)
class WorkerPages:
    """A collect-pages run's `.out.json`: the pages it collected, and who did the work."""

    host: str
    pid: int
    worker_pid: int  # the process worker that started the run
    pages: list[CollectedPage]


_ENTRIES = TypeAdapter(list[Entry])
_WORKER_PAGES = TypeAdapter(WorkerPages)


@flow(name="collect-pages")
async def collect_pages(handoff: str, sources: str | None = None) -> int:
    """Collect the pages of `<handoff>.in.json`'s entries into `<handoff>.out.json`."""
    settings = settings_for(sources=sources)
    entries = _ENTRIES.validate_json(Path(f"{handoff}.in.json").read_bytes())
    got: list[CollectedPage] = []
    await pages.collect(settings, entries, got.extend)
    out = WorkerPages(socket.gethostname(), os.getpid(), os.getppid(), got)
    _write(Path(f"{handoff}.out.json"), _WORKER_PAGES.dump_json(out))
    return len(got)


def split_by_feed(entries: Sequence[Entry], groups: int) -> list[list[Entry]]:
    """At most `groups` groups of whole feeds, as even in entries as a greedy split makes them."""
    by_feed: dict[str, list[Entry]] = {}
    for entry in entries:
        by_feed.setdefault(entry.feed_url, []).append(entry)
    parts: list[list[Entry]] = [[] for _ in range(min(groups, len(by_feed)))]
    for feed in sorted(by_feed.values(), key=len, reverse=True):
        min(parts, key=len).extend(feed)
    return parts


def collect_on_workers(settings: Settings, groups: int, directory: Path) -> Collect:
    """Collect a run's pages through `groups` collect-pages runs, handing off in `directory`."""

    async def collect(entries: Sequence[Entry], collection: Collection) -> None:
        log = get_run_logger()
        parts = split_by_feed(entries, groups)
        if not parts:
            return
        directory.mkdir(parents=True, exist_ok=True)
        log.info("%d entries fanned out to %d collect-pages runs", len(entries), len(parts))

        async def one(k: int, part: list[Entry]) -> None:
            base = directory / f"{collection.run_id}-{k + 1}"
            _write(Path(f"{base}.in.json"), _ENTRIES.dump_json(part))
            run = await run_deployment(  # type: ignore[misc]  # sync_compatible: a coroutine here
                COLLECT_DEPLOYMENT,
                parameters={"handoff": str(base), "sources": str(settings.paths.sources)},
                flow_run_name=f"pages {collection.run_id} {k + 1}/{len(parts)}",
                timeout=TIMEOUT_SECONDS,
                poll_interval=POLL_SECONDS,
            )
            out = Path(f"{base}.out.json")
            state = run.state
            if state is None or not state.is_final():
                await _cancel(run.id)
                got: WorkerPages | str = f"unfinished after {TIMEOUT_SECONDS:g} s (cancelled)"
            elif not state.is_completed():
                got = state.name
            else:
                got = _read_worker_pages(out) or f"{state.name}, but {out} is missing or unreadable"
            if isinstance(got, WorkerPages):
                collection.add(got.pages)
                collection.runs.append(
                    {"run": run.name, "pages": len(got.pages), "host": got.host}
                    | {"pid": got.pid, "worker_pid": got.worker_pid}
                )
                log.info("pages: %d from %s (%s)", len(got.pages), run.name, got.host)
            else:  # stored from their feed items, as a failed page fetch is: nothing is lost
                error = f"collect-pages run {run.name} ended {got}"
                log.error("%s; its %d entries keep their feed summaries", error, len(part))
                collection.add([(e, _not_collected(e, error), None) for e in part])
            for name in (f"{base}.in.json", f"{base}.out.json"):
                Path(name).unlink(missing_ok=True)

        await asyncio.gather(*(one(k, part) for k, part in enumerate(parts)))

    return collect


def _read_worker_pages(path: Path) -> WorkerPages | None:
    try:
        return _WORKER_PAGES.validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


async def _cancel(flow_run_id: UUID) -> None:
    async with get_client() as client:
        await client.set_flow_run_state(flow_run_id, Cancelled(), force=True)


def _not_collected(entry: Entry, error: str) -> FetchResult | None:
    if not entry.link:
        return None
    return FetchResult(url=entry.link, status="not_collected", error=error)


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a reader on another machine never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
