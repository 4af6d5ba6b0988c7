"""Matched stories → an Atom feed (RFC 4287), pure; xml.etree writes it, escaping every value."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from reports.render import TITLE_MAX, clean_line, safe_url, shorten
from warehouse.records import Story

ATOM = "http://www.w3.org/2005/Atom"
SUMMARY_MAX = 600
# Ids must never change for the same story (RFC 4287 4.2.6): name-based UUIDs of the topic and
# the story_id, under a namespace of newswatch's own.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/newswatch/newswatch#atom")


def story_id(topic_id: str, story: str) -> str:
    """The entry's permanent id."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{topic_id}/story/{story}')}"


def feed_id(topic_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{topic_id}/matches')}"


def render_atom(
    *,
    topic_id: str,
    topic_name: str,
    stories: Sequence[Story],
    generated_at: datetime,
    window: str,
    self_url: str | None = None,
) -> bytes:
    """One entry per story, newest first; `window` says what the feed holds, for its subtitle."""
    ordered = sorted(stories, key=lambda s: (_utc(s.published_at), s.story_id), reverse=True)
    feed = ET.Element("feed", {"xmlns": ATOM})
    _text(feed, "id", feed_id(topic_id))
    _text(feed, "title", f"{_plain(topic_name, TITLE_MAX)} · newswatch matches")
    _text(feed, "subtitle", f"Stories that matched the topic, newest first: {window}.")
    newest = max((_utc(s.published_at) for s in ordered), default=_utc(generated_at))
    _text(feed, "updated", _stamp(newest))
    author = ET.SubElement(feed, "author")
    _text(author, "name", "newswatch")
    _text(feed, "generator", "newswatch")
    if self_url and safe_url(self_url):
        ET.SubElement(feed, "link", {"rel": "self", "href": self_url})
    for story in ordered:
        feed.append(_entry(topic_id, story))
    ET.indent(feed)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def _entry(topic_id: str, story: Story) -> ET.Element:
    entry = ET.Element("entry")
    _text(entry, "id", story_id(topic_id, story.story_id))
    _text(entry, "title", _plain(story.title, TITLE_MAX) or "(untitled)")
    stamp = _stamp(_utc(story.published_at))
    _text(entry, "published", stamp)
    _text(entry, "updated", stamp)
    author = ET.SubElement(entry, "author")
    _text(author, "name", _plain(story.source, 120) or "unknown outlet")
    others = ", ".join(name for name in (_plain(c.source, 120) for c in story.also) if name)
    said = (_plain(story.why, SUMMARY_MAX), f"also covered by {others}" if others else "")
    why = " · ".join(part for part in said if part)
    why = why[:1].upper() + why[1:]  # the why-line stands alone here, not after "Why it matched:"
    href = safe_url(story.url)
    if href:
        ET.SubElement(entry, "link", {"rel": "alternate", "type": "text/html", "href": href})
        if why:
            _text(entry, "summary", why)
    else:  # RFC 4287 4.1.2: an entry without an alternate link must carry content
        _text(entry, "content", why or _plain(story.snippet, SUMMARY_MAX) or "(no link)")
    return entry


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    child = ET.SubElement(parent, tag, {"type": "text"} if tag in _TEXT_CONSTRUCTS else {})
    child.text = value
    return child


_TEXT_CONSTRUCTS = frozenset({"title", "subtitle", "summary", "content"})
# XML 1.0 has no way to write these, escaped or not; clean_line already drops the controls.
_NOT_XML = dict.fromkeys(map(ord, "\ufffe\uffff"))


def _plain(text: str, limit: int) -> str:
    """One line of text an XML writer can always escape: controls, bidi tricks, U+FFFE/F gone."""
    return shorten(clean_line(text).translate(_NOT_XML), limit)


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _stamp(moment: datetime) -> str:
    """RFC 3339, as Atom's date constructs require: 2026-11-17T09:30:00Z."""
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
