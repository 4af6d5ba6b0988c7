"""One feed fetched (conditionally) and parsed, as a Prefect task: a transient failure gets one
retry within the run, and a long feed's cut is a warning for `v_source_health`."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from flows.collect.feeds import NotAFeed, parse_response
from flows.collect.fetch import Fetcher
from flows.config import FeedSettings, FetchSettings
from warehouse.errors import NewswatchError
from warehouse.records import Entry, FeedOutcome

TRANSIENT = frozenset({"connect_error", "read_error", "http_502", "http_503", "http_504"})


@dataclasses.dataclass(frozen=True)
class FeedFetch:
    """One feed's outcome and the entries it gave."""

    outcome: FeedOutcome
    entries: tuple[Entry, ...] = ()


class TransientFeedError(NewswatchError):
    """A failure worth one retry; carries the outcome to record if the retry fails too."""

    def __init__(self, fetch: FeedFetch) -> None:
        super().__init__(f"{fetch.outcome.status}: {fetch.outcome.error}")
        self.fetch = fetch


def _retry_transient(_task: Any, _run: TaskRun, state: State[Any]) -> bool:
    return isinstance(state.data, TransientFeedError)


# Tasks take the fetch limits, never the whole Settings: Prefect walks every parameter of every
# task call, and the topics' alias lists made that ~100 ms per feed (30 s for 300 feeds).
@task(
    name="fetch-feed",
    task_run_name="feed {feed.name}",
    retries=1,
    retry_delay_seconds=3,
    retry_condition_fn=_retry_transient,
    cache_policy=NO_CACHE,
)
async def fetch_feed(
    fetcher: Fetcher,
    feed: FeedSettings,
    validators: tuple[str | None, str | None],
    limits: FetchSettings,
    now: datetime,
) -> FeedFetch:
    """Download one feed (conditionally) and parse its entries."""
    etag, last_modified = validators
    got = await fetcher.fetch(
        feed.url,
        max_bytes=limits.max_feed_bytes,
        etag=etag,
        last_modified=last_modified,
        accept="application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
    )
    outcome = FeedOutcome(
        source=feed.name,
        url=feed.url,
        status=got.status,
        http_status=got.http_status,
        error=got.error,
        etag=got.etag,
        last_modified=got.last_modified,
        elapsed_ms=got.elapsed_ms,
        retry_after=got.retry_after,
    )
    if got.status in TRANSIENT:
        raise TransientFeedError(FeedFetch(outcome))
    if not got.ok:
        return FeedFetch(outcome)
    try:
        parsed = parse_response(
            got,
            source=feed.name,
            feed_url=feed.url,
            now=now,
            max_entries=limits.max_entries_per_feed,
        )
    except NotAFeed as exc:
        return FeedFetch(dataclasses.replace(outcome, status="not_a_feed", error=str(exc)))
    problems = [parsed.problem] if parsed.problem else []
    warning = None
    if parsed.dropped:
        warning = (
            f"{parsed.dropped} entries beyond the cap of {limits.max_entries_per_feed} per run "
            "were not taken (the newest by date were; raise fetch.max_entries_per_feed "
            "in sources.yaml to take more)"
        )
        problems.append(warning)
    return FeedFetch(
        dataclasses.replace(
            outcome,
            status="ill_formed" if parsed.ill_formed else got.status,
            error="; ".join(problems) or None,
            entries=len(parsed.entries),
            warning=warning,
        ),
        parsed.entries,
    )
