"""The digest flow: period → ranked stories → rendered digest → reports/ → outbox → SMTP."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote as prefect_quote

from flows.collect import feed_health
from flows.collect.lifeline import follow_serve
from flows.config import ChannelSettings, Settings, settings_for
from flows.delivery import ranking
from flows.delivery.period import Period, choose, last_complete_week, weeks_to
from flows.runtime.plain_flow import flow
from flows.topic import Topic
from warehouse import db as wdb
from warehouse import store
from warehouse.records import Digest, FailingFeed, WeekCount

TREND_WEEKS = 12


def build_digest(settings: Settings, topic: Topic, period: Period, now: datetime) -> Digest:
    """Read the period's matches and the feeds' health; rank and group the stories."""
    with wdb.read_connection(settings.paths.db) as con:
        rows = store.period_matches(con, topic.id, period.start, period.end)
        articles_seen, _ = store.period_counts(con, topic.id, period.start, period.end)
        before = period.previous()
        _, previous = store.period_counts(con, topic.id, before.start, before.end)
        health_rows = store.source_health(con)
        weeks = weeks_to(period, TREND_WEEKS)
        times = store.matched_story_times(con, topic.id, weeks[0].start, weeks[-1].end)
    ranked = ranking.stories(rows, start=period.start, end=period.end, require=topic.rule.require)
    failing = tuple(
        FailingFeed(
            source=h["source"],
            status=h["last_status"],
            since=h["failing_since"],
            error=h["last_error"],
        )
        for h in health_rows
        if h["last_status"] not in feed_health.NOT_FAILURES and h["last_status"] is not None
    )
    return Digest(
        topic_id=topic.id,
        topic_name=topic.name,
        period_key=period.key,
        period_label=period.label,
        start=period.start,
        end=period.end,
        timezone=period.timezone,
        stories=tuple(ranked),
        top=settings.digest.top,
        previous_count=previous,
        articles_seen=articles_seen,
        leading_entities=ranking.leading_entities(ranked),
        feeds_total=len(health_rows) or len(settings.feeds),
        failing=failing,
        generated_at=now,
        report_url=report_url(settings, topic, period),
        trend=tuple(
            WeekCount(
                week=w.key,
                start=w.start,
                stories=len({story for story, at in times if w.start <= at < w.end}),
                partial=now < w.end,
            )
            for w in weeks
        ),
    )


def report_url(settings: Settings, topic: Topic, period: Period) -> str | None:
    """Where readers can open the full report: only under digest.report_base_url, never a path."""
    base = settings.digest.report_base_url
    return f"{base}/{quote(topic.id)}/{quote(period.key)}.html" if base else None


def report_file(settings: Settings, topic: Topic, period: Period, suffix: str) -> Path:
    return settings.paths.reports / topic.id / f"{period.key}{suffix}"


@task(name="write-report", cache_policy=NO_CACHE)
def write_report(settings: Settings, topic: Topic, period: Period, digest: Digest) -> list[str]:
    """The full digest as HTML and text under reports/<topic>/<period>.*, readable offline."""
    from reports.render import render

    full = render(digest, full=True)
    written = []
    for suffix, body in ((".html", full.html), (".txt", full.text)):
        path = report_file(settings, topic, period, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(path)
        written.append(str(path))
    return written


@task(name="send-digest", task_run_name="send {topic.id} {period.key}", cache_policy=NO_CACHE)
def send_digest(
    settings: Settings,
    topic: Topic,
    period: Period,
    digest: Digest,
    force: bool,
) -> list[dict[str, Any]]:
    """Deliver through the outbox: once per (topic, period, recipient) unless forced."""
    from flows.delivery.outbox import deliver
    from reports.mail import build_message, make_message_id, sender_domain
    from reports.render import render

    smtp = settings.smtp
    assert smtp is not None  # the flow only calls this with SMTP configured
    email = render(digest)
    results = deliver(
        settings.paths.db,
        smtp,
        topic=topic.id,
        period=period.key,
        rendered=email,
        list_id=settings.digest.list_id,
        unsubscribe=settings.digest.unsubscribe,
        force=force,
    )
    domain = sender_domain(smtp.sender)
    first = smtp.recipients[0]
    message = build_message(
        email,
        sender=smtp.sender,
        recipient=first,
        message_id=make_message_id(topic.id, period.key, first, domain),
        list_id=settings.digest.list_id,
        unsubscribe=settings.digest.unsubscribe,
    )
    report_file(settings, topic, period, ".eml").write_bytes(bytes(message))
    return [{"recipient": r.recipient, "status": r.status, "detail": r.detail} for r in results]


@task(name="chat-digest", task_run_name="chat {topic.id} {period.key}", cache_policy=NO_CACHE)
def send_chat_digest(
    settings: Settings,
    channels: list[ChannelSettings],
    topic: Topic,
    period: Period,
    digest: Digest,
    force: bool,
) -> list[dict[str, Any]]:
    """The short chat version, once per (topic, period, channel) unless forced."""
    from flows.delivery.chat import announce, trouble
    from reports.chat import digest_message

    base = getattr(settings.digest, "report_base_url", None)  # set when reports are hosted
    link = f"{base.rstrip('/')}/{topic.id}/{period.key}.html" if base else None
    results = announce(
        settings.paths.db,
        channels,
        settings.fetch.private_allowlist(),
        topic=topic.id,
        period=period.key,
        text=digest_message(digest, link),
        force=force,
        connect_timeout=settings.fetch.connect_timeout_seconds,
        read_timeout=settings.fetch.timeout_seconds,
    )
    for line in trouble(results):
        get_run_logger().warning("%s %s: %s", topic.id, period.key, line)
    return [{"channel": r.channel, "status": r.status, "detail": r.detail} for r in results]


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
    reports: str | None = None,
    recent: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Render (and send) each topic's digest for one period.

    `recent` is `newswatch run`'s digest step, safe to run daily: the seven days ending now are
    written to reports/ for reading, and only the last complete ISO week is sent (the outbox
    sends it once per recipient). `now` is the clock, given by tests.
    """
    follow_serve()
    log = get_run_logger()
    settings = settings_for(sources=sources, db=db, topics=topics, reports=reports)
    now = now or datetime.now(UTC)
    zone = settings.digest.timezone
    period = choose(zone, now=now, week=week, until=until, days=days, recent=recent)
    sending = last_complete_week(now, zone) if recent else period
    out: dict[str, Any] = {"period": period.key, "label": period.label, "topics": []}
    for topic in settings.topics:
        entries = [_digest_one(settings, topic, period, now, send and not recent, force)]
        if recent:
            if send and (settings.smtp is not None or settings.channels):
                entries[0]["delivery"] = (
                    f"for reading only; digests go out for complete weeks ({sending.key} below)"
                )
                entries.append(_digest_one(settings, topic, sending, now, True, force))
            elif send:
                entries[0]["delivery"] = _NO_SMTP
        for entry in entries:
            chat = "; ".join(f"{c['channel']}: {c['status']}" for c in entry.get("channels", []))
            log.info(
                "%s %s: %d stories → %s; %s%s",
                topic.id,
                entry["period"],
                entry["stories"],
                entry["files"][0],
                entry.get("delivery") or entry.get("sent"),
                f"; channels: {chat}" if chat else "",
            )
        out["topics"].extend(entries)
    return out


_NO_SMTP = "not sent: no SMTP configured (set NEWSWATCH_SMTP_HOST)"
T = TypeVar("T")


def _unwalked(value: T) -> T:
    """`value` as a task's argument that Prefect passes on as it is, without walking it."""
    return cast(T, prefect_quote(value))


def _digest_one(
    settings: Settings, topic: Topic, period: Period, now: datetime, send: bool, force: bool
) -> dict[str, Any]:
    """Build and write one topic's digest for one period; send it when asked and possible."""
    built = build_digest(settings, topic, period, now)
    # quoted for the tasks: Prefect would otherwise walk the settings and the profile (~9,500
    # values, its aliases) twice per task call looking for futures (unquoted before the call)
    settings_, topic_, built_ = _unwalked(settings), _unwalked(topic), _unwalked(built)
    files = write_report(settings_, topic_, period, built_)
    entry: dict[str, Any] = {
        "topic": topic.id,
        "period": period.key,
        "label": period.label,
        "stories": len(built.stories),
        "files": files,
    }
    if not send:
        entry["delivery"] = "not sent (--no-send)"
    elif settings.smtp is None:
        entry["delivery"] = _NO_SMTP
    elif not built.stories and not settings.digest.send_empty:
        entry["delivery"] = "not sent: empty week and digest.send_empty is false"
    else:
        entry["sent"] = send_digest(settings_, topic_, period, built_, force)
    chats = [c for c in settings.channels if c.wants("digest", topic.id)]
    if chats and send and (built.stories or settings.digest.send_empty):
        entry["channels"] = send_chat_digest(settings_, chats, topic_, period, built_, force)
    return entry
