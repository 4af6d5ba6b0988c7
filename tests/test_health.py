"""Source health: success resets, failures back off (capped, jittered), outages blame no feed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from flows.collect import feed_health
from warehouse.records import FeedOutcome, SourceState

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
URL = "https://a.example/feed"


def outcome(status: str, **kw: object) -> FeedOutcome:
    return FeedOutcome(source="A", url=URL, status=status, **kw)  # type: ignore[arg-type]


def run(prev: SourceState | None, status: str, now: datetime = NOW, **kw: object) -> SourceState:
    return feed_health.next_state(
        prev, outcome(status, **kw), now, conditional=False, rng=random.Random(1)
    )


def test_failures_back_off_exponentially_and_cap_at_a_day() -> None:
    state = None
    delays = []
    for i in range(12):
        state = run(state, "http_500", NOW + timedelta(days=i), error="boom")
        assert state.next_attempt_at is not None
        delays.append(state.next_attempt_at - (NOW + timedelta(days=i)))
    assert state is not None and state.consecutive_failures == 12
    assert state.failing_since == NOW
    assert delays[1] > delays[0] and delays[3] > delays[2]
    assert max(delays) <= timedelta(days=1)  # the documented cap, not the module's constant
    assert delays[-1] >= timedelta(hours=12)  # still retried, never abandoned
    assert not feed_health.is_due(state, NOW + timedelta(days=11))
    assert feed_health.is_due(state, state.next_attempt_at)


def test_recovery_resets_the_count() -> None:
    failing = run(run(None, "timeout"), "timeout")
    recovered = run(failing, "ok", etag='"v2"')
    assert recovered.consecutive_failures == 0 and recovered.failing_since is None
    assert recovered.next_attempt_at is None and recovered.last_success_at == NOW
    assert recovered.etag == '"v2"'


def test_not_modified_is_success_and_keeps_validators() -> None:
    ok = run(None, "ok", etag='"v1"', last_modified="Wed, 18 Nov 2026 10:00:00 GMT")
    same = feed_health.next_state(
        ok, outcome("not_modified"), NOW + timedelta(hours=1), conditional=True
    )
    assert same.etag == '"v1"' and same.last_modified == ok.last_modified
    assert same.last_status == "not_modified" and same.consecutive_failures == 0
    assert same.last_unconditional_at == ok.last_unconditional_at == NOW


def test_validators_are_dropped_once_a_day_to_catch_servers_that_always_say_304() -> None:
    ok = run(None, "ok", etag='"v1"')
    assert feed_health.validators(ok, NOW + timedelta(hours=1)) == ('"v1"', None)
    assert feed_health.validators(ok, NOW + timedelta(hours=25)) == (None, None)
    assert feed_health.validators(None, NOW) == (None, None)


def test_rate_limit_waits_without_counting_a_failure() -> None:
    state = run(None, "rate_limited", retry_after=7200.0, error="429")
    assert state.consecutive_failures == 0
    assert state.next_attempt_at == NOW + timedelta(hours=2)


def test_a_network_outage_blames_no_feed() -> None:
    outs = [
        outcome("dns_error"),
        FeedOutcome(source="B", url="https://b.example/", status="connect_error"),
    ]
    assert feed_health.network_outage(outs)
    assert not feed_health.network_outage([*outs, outcome("ok")])
    assert not feed_health.network_outage(
        [outcome("timeout")]
    )  # one feed down is that feed's problem
    prev = run(None, "ok")
    after = feed_health.next_state(
        prev, outs[0], NOW + timedelta(hours=1), conditional=False, outage=True
    )
    assert after.consecutive_failures == 0 and after.next_attempt_at is None
    assert after.last_status == "dns_error" and "network outage" in (after.last_error or "")


def test_a_changed_configuration_or_an_operator_ends_a_failure_backoff() -> None:
    from flows.config import FeedSettings, FetchSettings

    feed = FeedSettings(name="A", url="http://a.example/feed", note="seen 2026")
    fetch = FetchSettings()
    then = feed.fingerprint(fetch)
    assert feed.model_copy(update={"name": "B", "note": "x"}).fingerprint(fetch) == then
    assert feed.model_copy(update={"language": "pl"}).fingerprint(fetch) != then
    assert feed.fingerprint(FetchSettings(allow_private_addresses=("127.0.0.1",))) != then
    assert feed.fingerprint(FetchSettings(user_agent="Mozilla/5.0")) != then

    failing = SourceState(
        url=feed.url,
        name="A",
        consecutive_failures=3,
        next_attempt_at=NOW + timedelta(hours=1),
        config_hash=then,
    )
    assert not feed_health.is_due(failing, NOW, config=then)
    assert feed_health.is_due(failing, NOW, config="another")
    assert feed_health.is_due(failing, NOW, config=then, retry_failed=True)
    unknown = SourceState(url=feed.url, name="A", consecutive_failures=3,
                          next_attempt_at=NOW + timedelta(hours=1))  # fmt: skip
    assert not feed_health.is_due(unknown, NOW, config="another")
    limited = SourceState(url=feed.url, name="A", next_attempt_at=NOW + timedelta(hours=1),
                          config_hash=then)  # fmt: skip
    assert not feed_health.is_due(limited, NOW, config="another", retry_failed=True)
    assert feed_health.is_due(failing, NOW + timedelta(hours=1), config=then)
