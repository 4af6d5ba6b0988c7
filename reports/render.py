"""Digest → subject, preheader, HTML and plain text: pure, jinja2 with forced autoescape."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import css_inline
import jinja2

from reports.trend import BAR_MAX_PX, trend
from warehouse.records import Coverage, Digest, FailingFeed, Rendered, Story

TEMPLATES = Path(__file__).resolve().parent / "templates"
HEADER_MAX = 200
PREHEADER_MAX = 150
TITLE_MAX = 300
SNIPPET_MAX = 600  # "one or two sentences"; a runaway snippet must not eat the Gmail budget
URL_MAX = 2048
# Control, format (bidi overrides, zero-width), surrogate and private-use characters: none is
# needed to read a headline, and bidi overrides can make a line read differently from its bytes.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co"})
# Characters that could close or confuse an attribute, or that no real feed link needs unencoded.
_URL_FORBIDDEN = frozenset("\"'<>`\\{}|^")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


def clean_line(text: str) -> str:
    """One line of plain text: whitespace collapsed, control/format/bidi characters dropped."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE
    )
    return " ".join(kept.split())


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary near `limit` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    head, space, _ = cut.rpartition(" ")
    if space and len(head) > limit // 2:
        cut = head
    return cut.rstrip() + "…"


def clean_header(text: str) -> str:
    """A header-safe single line: no CR/LF or bidi tricks, no encoded words, at most ~200 chars."""
    line = clean_line(text)
    # Breaking every "=?" means no RFC 2047 encoded word (=?UTF-8?Q?=0A?=…) survives to be decoded
    # into a line break by a later parser (CVE-2024-6923); the replacement cannot form a new one.
    while "=?" in line:
        line = line.replace("=?", "= ?")
    return shorten(line, HEADER_MAX)


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link to a host, else None (javascript:, data:, tricks)."""
    if not url or len(url) > URL_MAX:
        return None
    # Whitespace and controls are refused, not stripped: browsers strip them and find a scheme.
    if any(ch in _URL_FORBIDDEN or unicodedata.category(ch)[0] in "CZ" for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if "@" in parts.netloc:  # https://trusted.example@evil.example/ reads as the wrong host
        return None
    return url


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    # Records promise aware datetimes; a naive one is read as UTC, which is how they are stored.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _stories_phrase(count: int) -> str:
    if count == 0:
        return "no stories"
    return "1 story" if count == 1 else f"{count} stories"


def _clean_story(story: Story) -> Story:
    language = story.language if story.language and _LANGUAGE.fullmatch(story.language) else None
    return replace(
        story,
        title=shorten(clean_line(story.title), TITLE_MAX) or "(untitled)",
        source=shorten(clean_line(story.source), 120),
        snippet=shorten(clean_line(story.snippet), SNIPPET_MAX),
        why=shorten(clean_line(story.why), SNIPPET_MAX),
        detail=shorten(clean_line(story.detail), SNIPPET_MAX),
        also=tuple(Coverage(shorten(clean_line(c.source), 120), c.url) for c in story.also),
        language=language,
    )


class _Facts:
    """The sentences both templates show, worded once so the HTML and the text agree."""

    def __init__(self, digest: Digest, stories: tuple[Story, ...], zone: ZoneInfo) -> None:
        self.zone = zone
        count = len(stories)
        topic = clean_line(digest.topic_name)
        days = round((digest.end - digest.start) / timedelta(days=1))
        this, last = (
            ("this week", "last week")
            if days == 7
            else (f"in these {days} days", f"the previous {days} days")
        )
        self.topic = topic
        self.period = clean_line(digest.period_label)
        self.subject = clean_header(f"{topic} · {_stories_phrase(count)} · {self.period}")
        outlets = {s.source for s in stories} | {c.source for s in stories for c in s.also}
        articles = _plural(digest.articles_seen, "article")
        change = ""
        if digest.previous_count is not None:
            delta = count - digest.previous_count
            change = (
                f"same as {last}"
                if delta == 0
                else f"{'+' if delta > 0 else '−'}{abs(delta)} on {last}"
            )
        if count:
            self.summary = (
                f"{_stories_phrase(count).capitalize()} from {_plural(len(outlets), 'outlet')}"
                f"{f' ({change})' if change else ''}, out of {articles} read {this}."
            )
            self.empty = ""
            top = stories[0]
            more = f", and {count - 1} more" if count > 1 else ""
            self.preheader = shorten(f"{top.title} ({top.source}){more}", PREHEADER_MAX)
        else:
            self.summary = ""
            before = digest.previous_count
            was = f" ({_stories_phrase(before)} {last})" if before else ""
            self.empty = f"No stories matched {topic} {this}{was}; " + self._read(digest, this)
            self.preheader = shorten(self.empty, PREHEADER_MAX)
        self.leading = ", ".join(
            f"{clean_line(name)} ({n})" for name, n in digest.leading_entities[:5]
        )
        self.health = self._health(digest)
        self.generated = self.when(digest.generated_at)

    @staticmethod
    def _read(digest: Digest, this: str) -> str:
        """What was read, worded so that it agrees with the source-health line below it."""
        feeds = _plural(digest.feeds_total, "feed")
        if digest.articles_seen:
            return f"{_plural(digest.articles_seen, 'article')} from {feeds} were read."
        if digest.failing:
            return (
                f"no article from {this} is stored, and {len(digest.failing)} of {feeds} "
                "are failing (listed under source health)."
            )
        return (
            f"no article from {this} is stored, though the feeds answered when last fetched: "
            "check that the ingest ran in this period."
        )

    def _health(self, digest: Digest) -> str:
        total, failing = digest.feeds_total, digest.failing
        if total == 0:
            return "No feeds are configured."
        if not failing:
            return "The one feed answered." if total == 1 else f"All {total} feeds answered."
        return (
            f"{len(failing)} of {_plural(total, 'feed')} failing: "
            + ", ".join(self._failing(f) for f in failing)
            + "."
        )

    def _failing(self, feed: FailingFeed) -> str:
        since = f" since {self.day(feed.since, weekday=True)}" if feed.since else ""
        return f"{clean_line(feed.source)} ({clean_line(feed.status)}{since})"

    def when(self, moment: datetime) -> str:
        """'Tue 17 Nov 2026, 14:05 GMT' in the digest's timezone."""
        local = _local(moment, self.zone)
        return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname() or ''}".rstrip()

    def day(self, moment: datetime, weekday: bool = False) -> str:
        """'17 Nov', or 'Tue 17 Nov' with the weekday, in the digest's timezone."""
        local = _local(moment, self.zone)
        return f"{local:%a} {local.day} {local:%b}" if weekday else f"{local.day} {local:%b}"


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # Forced on for HTML, not select_autoescape(["html"]), which misses "digest.html.j2";
        # off only for the text/plain part, where escaping would show "&lt;" to the reader.
        autoescape=autoescape,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["safe_url"] = safe_url
    return env


_HTML = _environment(autoescape=True)
_TEXT = _environment(autoescape=False)
# Stories the email lists after the top ones; the rest are counted and left to the report.
# Gmail clips a message past ~102 KB; a heavy week (588 stories on a 1M-article warehouse)
# made a 356 KB email. 100 one-line items keep it well under.
EMAIL_LIST_MAX = 100
# Keep @media rules (the narrow-screen layout) in a <style>; never fetch a stylesheet.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False, minify_css=True)


def render(digest: Digest, *, full: bool = False) -> Rendered:
    """The email (top stories in full, the rest compact) or, with full=True, the report file."""
    stories = tuple(_clean_story(s) for s in digest.stories)
    facts = _Facts(digest, stories, ZoneInfo(digest.timezone))
    top = len(stories) if full else max(digest.top, 0)
    # Only a hosted report is named: a path on the server means nothing to a reader and tells
    # strangers how the server is laid out; a URL that is not http(s) is shown nowhere.
    report = None if full else safe_url(clean_line(digest.report_url or ""))
    compact = stories[top:] if full else stories[top : top + EMAIL_LIST_MAX]
    context = {
        "facts": facts,
        "full": full,
        "featured": stories[:top],
        "compact": compact,
        "unlisted": len(stories) - top - len(compact) if len(stories) > top else 0,
        "count": len(stories),
        "report": report,
        "trend": trend(digest.trend, facts.zone),
        "bar_max": BAR_MAX_PX,
    }
    html = _INLINER.inline(_HTML.get_template("digest.html.j2").render(context))
    text = _TEXT.get_template("digest.txt.j2").render(context)
    return Rendered(subject=facts.subject, preheader=facts.preheader, html=html, text=text)
