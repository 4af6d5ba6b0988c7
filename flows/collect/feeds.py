"""Feed bytes to entries with feedparser: pure, no network, no files."""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin
from xml.sax import SAXException

import feedparser
import lxml.html  # type: ignore[import-untyped]  # lxml.html ships no type information
from lxml import etree

from flows.collect.feed_bytes import (
    ENTITY_EXPANSION_MAX as ENTITY_EXPANSION_MAX,
)
from flows.collect.feed_bytes import NotAFeed as NotAFeed
from flows.collect.feed_bytes import (
    cut_middle,
    join_surrogates,
    last_item_closed,
    refuse_entity_bombs,
)
from flows.web.urls import canonical_url, safe_link, unwrap_redirector
from warehouse.records import Entry, FetchResult, ParsedFeed

TITLE_MAX = 1_000
SUMMARY_MAX = 20_000
AUTHOR_MAX = 500
PROBLEM_MAX = 500
GUID_MAX = 2_000  # a longer "id" is junk, not an identifier; the item falls back to its hash
MARKUP_MAX = 200_000  # bounds lxml's work per field; far beyond what SUMMARY_MAX keeps
OLDEST = datetime(1995, 1, 1, tzinfo=UTC)  # before the web had feeds: a placeholder date

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff]")
_INVISIBLE = ("script", "style", "template")
_BLOCKS = (
    "br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "blockquote", "pre",
    "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer", "figure",
    "figcaption", "dd", "dt", "hr",
)  # fmt: skip


# Long by design: one pass in the order the steps must run (cut before parsing, parse,
# identify, keep the newest); each step is a helper, this reads as their sequence.
def parse_feed(
    body: bytes,
    *,
    source: str,
    feed_url: str,
    max_entries: int,
    now: datetime,
    content_type: str | None = None,
    base_url: str | None = None,
) -> ParsedFeed:
    """Parse a downloaded feed body into at most `max_entries` identified entries, the newest.

    Relative links resolve against `base_url` (where the feed was served from after
    redirects); `feed_url`, the configured address, keys guids and hashes so they stay stable.
    """
    base = base_url or feed_url
    if max_entries < 0 or now.tzinfo is None:
        raise ValueError("max_entries must be >= 0 and now timezone-aware")
    if not body.strip():
        raise NotAFeed("empty body")
    refuse_entity_bombs(body)
    items, text = cut_middle(body, max_entries)
    text = join_surrogates(text)
    # content-location makes feedparser resolve relative links and xml:base against the feed.
    # Given any header but no content-type, feedparser decodes as ISO-8859-1 and flags the feed:
    # application/xml is what it assumes when given no headers at all (the XML prolog decides).
    headers = {"content-location": base, "content-type": content_type or "application/xml"}
    # Bytes in a stream, never a str: given a str, feedparser fetches URLs and opens files.
    # Its HTML sanitizer and URI rewriting serve HTML output, and we keep only text (lxml drops
    # script and style below); on a 2 MB feed with full-text content they took 1.4 s of 1.45.
    try:
        parsed = feedparser.parse(
            io.BytesIO(text),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except MemoryError:  # the machine's problem, not the body's
        raise
    except Exception as exc:
        # feedparser's fallback parser has bugs that fuzzing hits within seconds (KeyError and
        # TypeError in georss, media and licence elements, UnicodeError on odd bytes): such a body
        # is unusable, and the caller should hear why, not see a traceback from feedparser.
        raise NotAFeed(f"feedparser failed: {type(exc).__name__}: {exc}"[:PROBLEM_MAX]) from exc
    raw: list[Any] = list(parsed.entries)
    if not raw and not parsed.get("version"):
        raise NotAFeed(_what_instead(body, parsed))
    error = parsed.get("bozo_exception") if parsed.get("bozo") else None
    ill_formed = isinstance(error, SAXException)
    # "Complete item": feedparser stores an element's value only at its end tag, so no value is
    # ever half, but an item cut off by truncation may lack its later elements (date, summary);
    # kept, it would be stored as it is for good. So in a broken document the last item counts
    # only if its own end tag is there; and every item needs a title, a link or a summary.
    trimmed = int(ill_formed and bool(raw) and not last_item_closed(text))
    raw = raw[: len(raw) - trimmed]
    cut = items - trimmed - len(raw) if items is not None else 0  # before parsing
    found = [_entry(item, source=source, feed_url=feed_url, base=base, now=now) for item in raw]
    entries: dict[str, Entry] = {}
    for entry in _unshare_guids([pair for pair in found if pair is not None]):
        entries.setdefault(entry.key, entry)  # the same key twice: the first wins
    kept = _newest(list(entries.values()), max_entries)
    dropped = max(cut, 0) + len(entries) - len(kept)
    return ParsedFeed(
        entries=tuple(kept),
        title=_plain_text(str(parsed.feed.get("title") or ""), TITLE_MAX, one_line=True) or None,
        ill_formed=ill_formed,
        problem=str(error)[:PROBLEM_MAX] if error is not None else None,
        dropped=dropped,
    )


def _newest(entries: list[Entry], limit: int) -> list[Entry]:
    """The `limit` newest entries by date, in document order; undated ones rank last, and
    document order breaks ties (so an undated feed keeps its first items)."""
    if len(entries) <= limit:
        return entries
    oldest = datetime.min.replace(tzinfo=UTC)
    ranked = sorted(
        range(len(entries)),
        key=lambda i: (entries[i].published_at is not None, entries[i].published_at or oldest, -i),
        reverse=True,
    )
    return [entries[i] for i in sorted(ranked[:limit])]


def _entry(
    item: Any, *, source: str, feed_url: str, base: str, now: datetime
) -> tuple[Entry, bool] | None:
    """The entry, and whether its key rests on the GUID (the GUID, or a link derived from it)."""
    title = _plain_text(str(item.get("title") or ""), TITLE_MAX, one_line=True)
    summary = _summary(item)
    link = _link(item, base)
    if not (title or link or summary):
        return None
    raw_guid = str(item.get("id") or "")
    guid = " ".join(raw_guid.split()) or None
    if guid is not None and len(guid) > GUID_MAX:
        guid = None
    url = canonical_url(link) if link else None
    # feedparser turns a permalink GUID into the link when the item has none of its own
    derived = bool(item.get("guidislink")) and str(item.get("link") or "") == raw_guid
    if url:
        key, by_guid = url, derived
    elif guid:
        key, by_guid = f"guid:{feed_url}#{guid}", True
    else:
        key, by_guid = _content_key(feed_url, title, summary), False
    author = _plain_text(str(item.get("author") or ""), AUTHOR_MAX, one_line=True)
    entry = Entry(
        key=key,
        source=source,
        feed_url=feed_url,
        url=url,
        link=link,
        guid=guid,
        title=title,
        summary=summary,
        published_at=_published(item, now),
        author=author or None,
    )
    return entry, by_guid


def _content_key(feed_url: str, title: str, summary: str) -> str:
    # Title and summary only: feeds restamp dates and reorder items, and the key must be the
    # same in every run or the item is stored again.
    digest = json.dumps([feed_url, title, summary], ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(digest).hexdigest()


def _unshare_guids(found: list[tuple[Entry, bool]]) -> list[Entry]:
    """The entries, re-keyed by content where different items share one GUID-based key."""
    # Some CMSes put one GUID on every item: keyed by it, all but the first item would be
    # dropped as repeats. A GUID that names different items in one document identifies none,
    # so they are keyed as if they had no GUID; a permalink derived from it is no item's page
    # (fetched, it would lend one page's text to all of them), so it is dropped too. Items
    # alike in title and summary stay one.
    contents: dict[str, set[tuple[str, str]]] = {}
    for entry, by_guid in found:
        if by_guid:
            contents.setdefault(entry.key, set()).add((entry.title, entry.summary))
    return [
        replace(
            entry, key=_content_key(entry.feed_url, entry.title, entry.summary), url=None, link=None
        )
        if by_guid and len(contents[entry.key]) > 1
        else entry
        for entry, by_guid in found
    ]


def _link(item: Any, base: str) -> str | None:
    link = str(item.get("link") or "").strip()
    if not link:
        return None
    try:
        link = urljoin(base, link)
    except ValueError:  # e.g. a broken IPv6 literal
        return None
    return safe_link(unwrap_redirector(link))  # javascript:, data:, file: and others -> None


def _summary(item: Any) -> str:
    """Plain text of the summary, else of the first non-empty content block."""
    candidates = [item.get("summary")] + [c.get("value") for c in item.get("content") or ()]
    for markup in candidates:
        text = _plain_text(str(markup or ""), SUMMARY_MAX, one_line=False)
        if text:
            return text
    return ""


def _published(item: Any, now: datetime) -> datetime | None:
    parsed = item.get("published_parsed") or item.get("updated_parsed")
    if not parsed:
        return None
    try:  # feedparser gives a UTC struct_time; a leap second or year 0 does not convert
        when = datetime(*parsed[:6]).replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    if when < OLDEST:
        return None
    return min(when, now.astimezone(UTC))


def _plain_text(markup: str, limit: int, *, one_line: bool) -> str:
    """Text of an HTML fragment, whitespace collapsed: titles to one line, summaries to lines."""
    # Feeds label HTML as text often enough (and text-typed titles come back unescaped, with
    # <script> and all) that every field is read as HTML: a real "<b>" in a headline is rarer.
    markup = _CONTROL.sub("", markup[:MARKUP_MAX])
    text = _html_text(markup) if "<" in markup or "&" in markup else markup
    if one_line:
        text = " ".join(text.split())
    else:
        lines = (" ".join(line.split()) for line in text.splitlines())
        text = "\n".join(line for line in lines if line)
    return text[:limit].strip()


def _html_text(markup: str) -> str:
    # Bytes with a declared encoding: a str carrying an <?xml encoding=...?> raises in lxml, and
    # fragment_fromstring asserts on some inputs. A parser per call: lxml's are not thread-safe.
    parser = lxml.html.HTMLParser(encoding="utf-8")
    try:
        root = lxml.html.document_fromstring(markup.encode("utf-8"), parser=parser)
    except etree.LxmlError:  # "Document is empty": only comments or whitespace
        return ""
    etree.strip_elements(root, *_INVISIBLE, with_tail=False)
    for element in root.iter(*_BLOCKS):  # blocks end lines: "a</p><p>b" is "a\nb", not "ab"
        element.tail = "\n" + (element.tail or "")
        if element.tag != "br":
            element.text = "\n" + (element.text or "")
    return str(root.text_content())


def _what_instead(body: bytes, parsed: Any) -> str:
    """Why a body with neither entries nor a feed version is not a feed."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:2048].lower()
    if head.startswith((b"{", b"[")):
        return "JSON, not an RSS/Atom feed"
    if head.startswith(b"<!doctype html") or b"<html" in head:
        return "an HTML page, not a feed"
    if b"<" not in head:
        return "plain text, not XML (a URL or file path in the body is never fetched or opened)"
    if parsed.get("bozo"):
        return f"not XML: {parsed.get('bozo_exception')}"
    return "XML, but not RSS, Atom or RDF"


def parse_response(
    got: FetchResult, *, source: str, feed_url: str, max_entries: int, now: datetime
) -> ParsedFeed:
    """A fetched feed's body as entries, links resolved against where it was served from."""
    return parse_feed(
        got.body,
        source=source,
        feed_url=feed_url,
        max_entries=max_entries,
        now=now,
        content_type=got.content_type,
        base_url=got.final_url,
    )
