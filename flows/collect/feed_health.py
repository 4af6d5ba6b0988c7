"""Source health, pure: what an outcome does to a feed's state, and when to try it next."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from warehouse.records import NOT_MODIFIED, OK, FeedOutcome, SourceState

SUCCESS = frozenset({OK, NOT_MODIFIED, "ill_formed"})
NOT_FAILURES = SUCCESS | {"rate_limited"}  # a rate limit postpones a feed, it is no failure
# Failures that say more about our network than about the feed.
NETWORK = frozenset({"connect_error", "dns_error", "timeout", "tls_error"})
BACKOFF_BASE = timedelta(minutes=15)
BACKOFF_CAP = timedelta(hours=24)  # a failing feed is retried at least daily, never abandoned
UNCONDITIONAL_EVERY = timedelta(hours=24)  # some servers answer 304 forever while content changes


def is_due(
    state: SourceState | None,
    now: datetime,
    *,
    config: str | None = None,
    retry_failed: bool = False,
) -> bool:
    """A feed is fetched unless it is waiting. A feed backing off after failures is fetched
    at once when its configuration changed since (`config`, its fingerprint: the failures may
    have been a mistake now fixed) or when the operator asks (`retry_failed`). A server's own
    Retry-After is always respected."""
    if state is None or state.next_attempt_at is None or state.next_attempt_at <= now:
        return True
    if state.consecutive_failures == 0:  # rate limited: the server asked us to wait
        return False
    changed = config is not None and state.config_hash not in (None, config)
    return retry_failed or changed


def validators(state: SourceState | None, now: datetime) -> tuple[str | None, str | None]:
    """ETag and Last-Modified to send, or none when an unconditional fetch is due."""
    if state is None or state.last_unconditional_at is None:
        return None, None
    if now - state.last_unconditional_at >= UNCONDITIONAL_EVERY:
        return None, None
    return state.etag, state.last_modified


def network_outage(outcomes: Iterable[FeedOutcome]) -> bool:
    """Every feed tried failed on the network: our connection is down, not the feeds."""
    statuses = [o.status for o in outcomes]
    return len(statuses) >= 2 and all(s in NETWORK for s in statuses)


def backoff(failures: int, rng: random.Random) -> timedelta:
    """Exponential, capped, with jitter so that failing feeds do not retry in lockstep."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, failures - 1)))
    jittered: timedelta = delay * rng.uniform(0.5, 1.0)
    return jittered


def next_state(
    prev: SourceState | None,
    outcome: FeedOutcome,
    now: datetime,
    *,
    conditional: bool,
    outage: bool = False,
    rng: random.Random | None = None,
) -> SourceState:
    """The feed's state after this run's outcome."""
    rng = rng or random.Random()  # noqa: S311 (jitter, not security)
    base = prev or SourceState(url=outcome.url, name=outcome.source)
    state = dataclasses.replace(
        base,
        name=outcome.source,
        active=True,
        last_status=outcome.status,
        last_http_status=outcome.http_status,
        last_attempt_at=now,
    )
    if outcome.status in SUCCESS:
        fresh = outcome.status != NOT_MODIFIED
        return dataclasses.replace(
            state,
            etag=outcome.etag if fresh or outcome.etag else base.etag,
            last_modified=(
                outcome.last_modified if fresh or outcome.last_modified else base.last_modified
            ),
            last_error=outcome.error if outcome.status == "ill_formed" else None,
            last_warning=outcome.warning if fresh else base.last_warning,  # 304: the same one
            last_success_at=now,
            last_unconditional_at=base.last_unconditional_at if conditional else now,
            consecutive_failures=0,
            failing_since=None,
            next_attempt_at=None,
        )
    if outcome.status == "rate_limited":
        wait = timedelta(seconds=min(outcome.retry_after or 3600, BACKOFF_CAP.total_seconds()))
        return dataclasses.replace(state, last_error=outcome.error, next_attempt_at=now + wait)
    if outage:
        # Not the feed's fault: record what happened, leave its failure history alone.
        return dataclasses.replace(state, last_error=f"network outage: {outcome.error}")
    failures = base.consecutive_failures + 1
    return dataclasses.replace(
        state,
        last_error=outcome.error,
        consecutive_failures=failures,
        failing_since=base.failing_since or now,
        next_attempt_at=now + backoff(failures, rng),
    )
