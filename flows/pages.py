"""Article pages of new entries: each downloaded, then extracted in a worker process at once.

Prefect sees them as tasks of a batch (100 pages) each; within a batch, a page goes to the
extraction workers as soon as it arrives, so downloading and extracting overlap throughout.

Used by the ingest flow on its own machine, and by the fan-out's `collect-pages` runs on
Prefect workers (flows/fanout.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.articles import needs_page_metadata
from flows.config import FetchSettings, Settings
from flows.extract import ExtractionPool
from flows.fetch import Fetcher
from warehouse.records import Entry, Extracted, FetchResult

Page = tuple[Entry, FetchResult | None, Extracted | None]  # the page's body already dropped
IN_FLIGHT_BATCHES = 3  # page batches started at once: the next one's pages queue behind these


@task(name="pages", task_run_name="pages {first}–{last}", cache_policy=NO_CACHE)
async def fetch_and_extract(
    fetcher: Fetcher,
    pool: ExtractionPool,
    entries: Sequence[Entry],
    limits: FetchSettings,
    first: int,
    last: int,
    in_flight: asyncio.Semaphore,
) -> list[Page]:
    """Download a batch of article pages, each extracted in a worker as soon as it arrives."""

    async def one(entry: Entry) -> Page:
        if not entry.link:
            return entry, None, None
        async with in_flight:  # bounds the pages held in memory, fetched but not extracted
            page = await fetcher.fetch(
                entry.link,
                max_bytes=limits.max_page_bytes,
                accept="text/html, application/xhtml+xml;q=0.9, */*;q=0.5",
            )
            extracted = (
                await pool.extract(
                    (entry.key, page.body, page.final_url, needs_page_metadata(entry))
                )
                if page.ok
                else None
            )
        return entry, dataclasses.replace(page, body=b""), extracted

    return list(await asyncio.gather(*(one(e) for e in entries)))


async def fetch_pages(
    settings: Settings, entries: Sequence[Entry], on_batch: Callable[[list[Page]], None]
) -> None:
    """Fetch and extract every entry's page; hand each finished batch to `on_batch`."""
    size = settings.extract.batch_size
    batches = [entries[i : i + size] for i in range(0, len(entries), size)]
    if not batches:
        return
    log = get_run_logger()
    gate = asyncio.Semaphore(IN_FLIGHT_BATCHES)
    done = 0

    async with Fetcher(settings.fetch) as fetcher:
        with ExtractionPool(settings.extract, close_in_background=True) as pool:
            # enough pages in flight to keep every connection and the workers' queue busy
            in_flight = asyncio.Semaphore(settings.fetch.max_connections + 2 * pool.window)

            async def one(i: int, batch: Sequence[Entry]) -> None:
                nonlocal done
                async with gate:
                    got = await fetch_and_extract(
                        fetcher,
                        pool,
                        batch,
                        settings.fetch,
                        i * size + 1,
                        i * size + len(batch),
                        in_flight,
                    )
                on_batch(got)
                done += len(got)
                log.info("pages: %d/%d", done, len(entries))

            await asyncio.gather(*(one(i, b) for i, b in enumerate(batches)))
