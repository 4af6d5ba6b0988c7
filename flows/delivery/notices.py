"""Same-day alerts and health alarms: what an ingest run announces on the chat channels.

Both go through the outbox, so each is sent once per channel whatever the number of runs:
an alert is keyed by its story (topic, `story:<story_id>`), so later copies of the story do not
alert again; a feed's alarm by the start of its failure (`feed-down:<feed>:<since>`), its
recovery by the same start (`feed-up:…`), so a feed that fails again later is a new episode.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flows.config import ChannelSettings, Settings
from flows.delivery.chat import announce, trouble
from flows.delivery.outbox import DeliveryResult
from reports.chat import ChatText, alert_message, health_message, when
from warehouse import db, store
from warehouse import outbox as outbox_table
from warehouse.records import Article, FeedOutcome
from warehouse.rows import MatchRow

log = logging.getLogger("newswatch.channels")

HEALTH_TOPIC = "*"  # health is about the feeds, not one topic: its outbox rows use this topic
# What to check, by a failure's class; the default points at the recorded error.
_CHECK = {
    "refused_address": "the feed's address is private or loopback; if it is yours, allow it "
    "in fetch.allow_private_addresses in sources.yaml",
    "timeout": "the site is slow or down; raise fetch.timeout_seconds if it is just slow",
    "dns_error": "the host name does not resolve: check the feed URL and this machine's DNS",
    "connect_error": "the site refuses connections: check the URL and this machine's network",
    "tls_error": "the site's certificate cannot be verified: check the URL (https host name)",
    "too_large": "the feed is larger than fetch.max_feed_bytes: raise it or use a smaller feed",
    "not_a_feed": "the URL serves a page, not a feed: find the page's feed link",
    "http_404": "the feed has moved or gone: find its new address and update sources.yaml",
    "http_410": "the feed is gone: remove it from sources.yaml or find its replacement",
    "http_401": "the site asks for a login: this feed needs credentials or another address",
    "http_403": "the site refuses us (a bot wall?): try later, or mark the feed optional",
}


def what_to_check(status: str) -> str:
    """One line of advice for a failure class."""
    if status in _CHECK:
        return _CHECK[status]
    if status.startswith("http_5"):
        return "the site's server is failing; it usually passes, otherwise tell the site"
    return "see last_error in v_source_health (newswatch sql)"


@dataclass(frozen=True)
class Alert:
    """A story worth announcing today: its best copy in this run."""

    topic: str
    story_id: str
    title: str
    url: str | None
    source: str
    score: float


def alerts(
    settings: Settings,
    articles: Sequence[Article],
    story_ids: Mapping[str, str],
    matches: Iterable[MatchRow],
) -> list[Alert]:
    """The run's matches at or above their topic's `alert` score, one per (topic, story)."""
    thresholds = {t.id: t.alert for t in settings.topics if t.alert is not None}
    by_key = {a.key: a for a in articles}
    best: dict[tuple[str, str], Alert] = {}
    for m in matches:
        limit = thresholds.get(m.topic)
        article = by_key.get(m.article_key)
        if limit is None or article is None or not m.matched or m.score < limit:
            continue
        story = story_ids.get(article.key, article.key)
        found = Alert(m.topic, story, article.title, article.url, article.source, m.score)
        held = best.get((found.topic, story))
        if held is None or found.score > held.score:
            best[(found.topic, story)] = found
    return sorted(best.values(), key=lambda a: (a.topic, -a.score))


def after_ingest(
    settings: Settings,
    *,
    articles: Sequence[Article],
    story_ids: Mapping[str, str],
    matches: Sequence[MatchRow],
    feeds: Sequence[FeedOutcome],
    not_failures: frozenset[str],
    now: datetime,
) -> list[str]:
    """Announce the run's alerts and health changes (its batch is saved); trouble lines."""
    try:
        return _after_ingest(settings, articles, story_ids, matches, feeds, not_failures, now)
    except db.WarehouseError as exc:  # the batch is saved (or spooled); only the notices wait
        return [f"channels: nothing announced: {exc}"]


def _after_ingest(
    settings: Settings,
    articles: Sequence[Article],
    story_ids: Mapping[str, str],
    matches: Sequence[MatchRow],
    feeds: Sequence[FeedOutcome],
    not_failures: frozenset[str],
    now: datetime,
) -> list[str]:
    results = _pending_alerts(settings)
    names = {t.id: t.name for t in settings.topics}
    for found in alerts(settings, articles, story_ids, matches):
        chats = [c for c in settings.channels if c.wants("alert", found.topic)]
        text = alert_message(names[found.topic], found.title, found.url, found.source, found.score)
        results += _announce(settings, chats, found.topic, f"story:{found.story_id}", text)
    if any(c.wants("health") for c in settings.channels):
        results += health(settings, feeds, not_failures, now)
    return trouble(results)


def _pending_alerts(settings: Settings) -> list[DeliveryResult]:
    """Alerts an earlier run could not deliver (the receiver was down): tried again."""
    waiting: list[tuple[ChannelSettings, str, str, ChatText]] = []
    with db.read_connection(settings.paths.db) as con:
        for topic in (t for t in settings.topics if t.alert is not None):
            for chat in (c for c in settings.channels if c.wants("alert", topic.id)):
                for period, status in outbox_table.outbox_periods(
                    con, topic.id, "story:", chat.name
                ):
                    if status != "pending":
                        continue
                    best = store.story_best_match(con, topic.id, period.removeprefix("story:"))
                    if best is not None:
                        text = alert_message(topic.name, *best)
                        waiting.append((chat, topic.id, period, text))
    results: list[DeliveryResult] = []
    for chat, topic_id, period, text in waiting:
        results += _announce(settings, [chat], topic_id, period, text)
    return results


def health(
    settings: Settings, feeds: Sequence[FeedOutcome], not_failures: frozenset[str], now: datetime
) -> list[DeliveryResult]:
    """Feeds that crossed the line (one alarm if the whole run failed), and recoveries.

    `not_failures`: the statuses that are no failure (flows.collect.feed_health.NOT_FAILURES).
    """
    chats = [c for c in settings.channels if c.wants("health")]
    optional = {f.name for f in settings.feeds if f.optional}  # known to flap: never alarming
    with db.read_connection(settings.paths.db) as con:
        rows = [r for r in store.source_health(con) if r["source"] not in optional]
        sent = {
            c.name: dict(outbox_table.outbox_periods(con, HEALTH_TOPIC, "", c.name)) for c in chats
        }
        since, runs = store.failed_run_streak(con)
    limit = timedelta(hours=settings.health.hours)
    failing = [r for r in rows if r["last_status"] not in not_failures and r["last_status"]]
    crossed = [
        r
        for r in failing
        if r["consecutive_failures"] >= settings.health.failures
        or (r["failing_since"] is not None and now - r["failing_since"] >= limit)
    ]
    notices: list[tuple[str, ChatText]] = []
    # Healthy feeds are fetched every run (only failing ones back off), so a run whose feeds all
    # failed reached none: one alarm for the streak of such runs. A network outage does not
    # count against the feeds, so their own counters may not move at all.
    everything = len(feeds) > 1 or len(settings.feeds) == 1
    if feeds and everything and all(f.status not in not_failures for f in feeds):
        if since is not None and (runs >= settings.health.failures or now - since >= limit):
            facts = [_fact(r, since) for r in failing]
            headline = f"every feed failed in the last {runs} run{'s' if runs > 1 else ''}"
            period = f"all-feeds-down:{_stamp(since)}:*"
            notices.append((period, health_message(headline, facts)))
    else:
        for r in crossed:
            period = f"feed-down:{_stamp(r['failing_since'] or now)}:{r['source']}"
            notices.append((period, health_message(f"feed failing: {r['source']}", [_fact(r)])))
    healthy = {r["source"] for r in rows if r["last_status"] in not_failures}
    results: list[DeliveryResult] = []
    for chat in chats:
        for period, text in notices + _recoveries(healthy, sent[chat.name]):
            results += _announce(settings, [chat], HEALTH_TOPIC, period, text)
    return results


def _recoveries(healthy: set[str], sent: Mapping[str, str]) -> list[tuple[str, ChatText]]:
    """An alarm that went out (or may have) and whose feed, or any feed, answers again."""
    notices: list[tuple[str, ChatText]] = []
    for period, status in sent.items():
        kind, since, source = [*period.split(":", 2), "", ""][:3]
        if status == "failed" or kind not in ("feed-down", "all-feeds-down"):
            continue
        up = period.replace("-down:", "-up:", 1)
        if up in sent:
            continue
        if kind == "feed-down":
            if source in healthy:
                facts = [f"{source} answers again (it had been failing since {since} UTC)"]
                notices.append((up, health_message(f"feed recovered: {source}", facts)))
        elif healthy:
            facts = [f"feeds answer again: {', '.join(sorted(healthy))}"]
            notices.append((up, health_message("feeds recovered", facts)))
    return notices


def stale_ingest(settings: Settings, watching_since: datetime, now: datetime) -> list[str]:
    """With `serve`: one alarm when no ingest has completed for health.stale_hours."""
    chats = [c for c in settings.channels if c.wants("health")]
    if not chats:
        return []
    try:
        with db.read_connection(settings.paths.db) as con:
            last = store.last_run_finished(con)
    except db.WarehouseError:  # no warehouse yet: nothing has completed since serve started
        last = None
    since = last or watching_since
    if now - since < timedelta(hours=settings.health.stale_hours):
        return []
    done = f"the last completed at {when(last)}" if last else "none has completed yet"
    facts = [
        f"no ingest run has completed for {(now - since).total_seconds() / 3600:.1f} hours "
        f"({done}); check: the Prefect UI for failed or late ingest runs, "
        "the newswatch serve process and its log, and whether the warehouse is locked"
    ]
    text = health_message("ingest has stopped", facts)
    try:
        results = _announce(settings, chats, HEALTH_TOPIC, f"ingest-stale:{_stamp(since)}:*", text)
    except db.WarehouseError as exc:
        return [f"channels: the stale-ingest alarm was not sent: {exc}"]
    return [r.detail for r in results if r.sent_now] + trouble(results)


def _stamp(moment: datetime) -> str:
    """A failure's start as it appears in outbox keys (no colons: they separate the parts)."""
    return f"{moment:%Y-%m-%dT%H%M%S}"


def _fact(row: Mapping[str, Any], since: datetime | None = None) -> str:
    error = f" ({row['last_error']})" if row.get("last_error") else ""
    runs = row["consecutive_failures"]
    count = f", {runs} runs in a row" if runs else ""
    return (
        f"{row['source']}: {row['last_status']}{error}, failing since "
        f"{when(row['failing_since'] or since)}{count}; "
        f"check: {what_to_check(str(row['last_status']))}"
    )


def _announce(
    settings: Settings, chats: list[ChannelSettings], topic: str, period: str, text: ChatText
) -> list[DeliveryResult]:
    if not chats:
        return []
    return announce(
        settings.paths.db,
        chats,
        settings.fetch.private_allowlist(),
        topic=topic,
        period=period,
        text=text,
        connect_timeout=settings.fetch.connect_timeout_seconds,
        read_timeout=settings.fetch.timeout_seconds,
    )
