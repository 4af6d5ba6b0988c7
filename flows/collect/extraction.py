"""Article text out of fetched HTML with trafilatura: one page, in whatever process calls it.

flows/collect/workers.py runs it in killable worker processes. Imported by those workers:
keep it free of prefect, httpx and duckdb.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import py3langid
import trafilatura
import trafilatura.metadata as tm
from trafilatura.settings import Document

from warehouse.records import Extracted

# (key, html, url), or (key, html, url, metadata): False when the feed entry already gives
# the title, author and date, so that the page's own need not be searched for
Page = tuple[str, bytes, str | None] | tuple[str, bytes, str | None, bool]
ExtractFn = Callable[..., Extracted]  # called as fn(html, url, max_bytes=...[, metadata=False])
Tree = Any  # lxml.html.HtmlElement: lxml ships no type information

# Balanced mode. favor_precision drops text that follows an empty element (`text<div
# class="ad"></div>more text`); fast=True skips the readability/justext fallbacks (recall
# 0.904 -> 0.886 in trafilatura's benchmark) for ~25-35 % we do not need. Balanced mode's menu
# dump on pages without an article is caught by _mostly_links. No dedup: a page's text must
# not depend on what its worker saw before.
_OPTIONS: dict[str, Any] = {
    "include_comments": False, "include_tables": True,
    "include_images": False, "include_links": False, "include_formatting": False,
    "deduplicate": False, "favor_precision": False, "fast": False,
}  # fmt: skip
LANGID_MIN_CHARS = 40  # below this py3langid guesses
# ~100 words: on the 181 real pages of bench/real_pages.py (8 languages) 300 characters
# already gave the same answer as 2,000, and 2,000 cost 1.7 ms a page against 0.6 ms
LANGID_MAX_CHARS = 600
MAX_ERROR_CHARS = 500
_INVISIBLE_CHARS = "\u00ad\u200b\u2060\ufeff"  # soft hyphen, zero-widths, BOM
_INVISIBLE = dict.fromkeys(map(ord, _INVISIBLE_CHARS))
_log = logging.getLogger(__name__)
_LANG = re.compile(r"([a-z]{2})(?:[-_][a-z0-9]+)*")


def extract_page(
    html: bytes, url: str | None, *, max_bytes: int, metadata: bool = True
) -> Extracted:
    """Extract one page in this process; trafilatura never fetches anything.

    metadata=False skips the search for title, author and date (a third of the CPU on real
    pages): the caller has them from the feed. The site name then comes from the page's
    og:site_name alone.
    """
    note = None
    if len(html) > max_bytes:
        cut = _cut(html, max_bytes)
        note = f"page of {len(html):,} bytes cut to its first {len(cut):,} (max {max_bytes:,})"
        html = cut
    empty = "too_large" if note else "empty"
    # max_size also bounds what trafilatura would decompress from a gzip/brotli body
    tree = trafilatura.load_html(html, max_bytes) if html.strip() else None
    if tree is None:
        return Extracted(status=empty, error=_join(note, "not an HTML document"))
    # copied inside: `tree` stays pristine for the checks and the metadata below
    doc = trafilatura.bare_extraction(tree, url=url, **_OPTIONS)
    text = clean_text(doc.text or "") if isinstance(doc, Document) else ""
    if not text or not isinstance(doc, Document):
        return Extracted(status=empty, error=_join(note, "no article text found"))
    if _mostly_links(text, tree):
        return Extracted(status=empty, error=_join(note, "only menu and link text found"))
    canonical = _canonical(tree, url)
    meta = page_metadata(tree, url) if metadata else Document()
    return Extracted(
        status="ok",
        text=text,
        title=_line(meta.title),
        author=_line(meta.author),
        published=meta.date or None,
        site_name=_site_name(
            _line(meta.sitename if metadata else _og_site_name(tree)), url, meta.url
        ),
        language=detect_language(text) or _declared_language(tree),
        canonical_url=canonical,
        error=note,
    )


def page_metadata(tree: Tree, url: str | None) -> Document:
    """Title, author, URL, date and site name as trafilatura's extract_metadata finds them.

    Its own steps for these fields, in its order, without those for fields never stored
    (categories, tags, licence: ~40 % of its CPU on real pages). bench/extract_levers.py
    checks that the five fields equal extract_metadata's on the shared real pages.
    """
    meta = tm.examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None
    try:
        meta = tm.extract_meta_json(tree, meta)
    except Exception as exc:  # noqa: BLE001  # trafilatura's own guard: bugs in its JSON-LD code
        _log.warning("JSON-LD metadata skipped: %s", exc)
    meta.title = meta.title or tm.extract_title(tree)
    meta.author = meta.author or tm.extract_author(tree)
    meta.url = meta.url or tm.extract_url(tree, url)
    # htmldate's find_date as trafilatura imports it (htmldate is not our direct dependency)
    meta.date = tm.find_date(  # type: ignore[attr-defined]
        tree,
        url=meta.url,
        original_date=True,  # the publication date, not the last update
        extensive_search=False,  # its guesses include "© 2024" -> 2024-01-01
        max_date=datetime.now().astimezone().strftime("%Y-%m-%d"),
    )
    meta.sitename = meta.sitename or tm.extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
        if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
            meta.sitename = meta.sitename.title()
    elif meta.url and (host := tm.META_URL.match(meta.url)):
        meta.sitename = host[1]  # _site_name drops it: a host name is not a name
    meta.clean_and_trim()
    return meta


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of `text` (its first few thousand characters); None when too short."""
    sample = text[:LANGID_MAX_CHARS]
    if len(sample.strip()) < LANGID_MIN_CHARS:
        return None
    language, _score = py3langid.classify(sample)
    return str(language)


def clean_text(text: str) -> str:
    """Odd spaces (\\xa0, \\u202f, ...) become plain spaces; invisible characters go.

    Each line's runs of whitespace become one space, and blank lines go: what
    `[^\\S\\n]+` -> " " then stripping each line gives (tests compare the two), 8x faster.
    """
    for char in _INVISIBLE_CHARS:
        if char in text:
            text = text.replace(char, "")
    return "\n".join(line for line in (" ".join(part.split()) for part in text.split("\n")) if line)


def warm_up() -> None:
    """Load the language model before the first page's deadline starts."""
    detect_language("warming up the language identifier before the first page")


def _cut(html: bytes, limit: int) -> bytes:
    """The first `limit` bytes, not splitting a UTF-8 character (that would spoil decoding)."""
    end = limit
    while end > limit - 3 and end > 0 and html[end] & 0xC0 == 0x80:
        end -= 1
    return html[:end]


def _mostly_links(text: str, tree: Tree) -> bool:
    """True when most of the text is link labels: trafilatura's dump of a page without article."""
    labels = {" ".join(a.text_content().split()) for a in tree.iter("a")}
    lines = [line.removeprefix("- ") for line in text.split("\n")]
    linked = sum(len(line) for line in lines if line in labels)
    return linked * 2 > sum(map(len, lines))


def _canonical(tree: Tree, url: str | None) -> str | None:
    """<link rel=canonical>, else og:url, as the page declares it (never the url we were given)."""
    found = [
        link.get("href", "")
        for link in tree.iter("link")
        if "canonical" in (link.get("rel") or "").lower().split()
    ] + [
        meta.get("content", "")
        for meta in tree.iter("meta")
        if (meta.get("property") or meta.get("name") or "").lower() == "og:url"
    ]
    for value in found:
        absolute = urljoin(url or "", str(value).strip())
        parts = urlsplit(absolute)
        if parts.scheme in ("http", "https") and parts.hostname:
            return absolute
    return None


def _declared_language(tree: Tree) -> str | None:
    match = _LANG.fullmatch((tree.get("lang") or "").strip().lower())
    return str(match.group(1)) if match else None


def _site_name(name: str | None, *urls: str | None) -> str | None:
    """trafilatura falls back to the host name of the URL (even ours): that is not a name."""
    hosts = {(urlsplit(u).hostname or "").removeprefix("www.") for u in urls if u}
    return None if name is None or name.lower().removeprefix("www.") in hosts else name


def _og_site_name(tree: Tree) -> str | None:
    """The page's og:site_name, tidied as trafilatura tidies the site names it finds."""
    for meta in tree.iter("meta"):
        if (meta.get("property") or meta.get("name") or "").lower() == "og:site_name":
            name = (meta.get("content") or "").strip().lstrip("@")
            if name and "." not in name and not name[0].isupper():
                name = name.title()
            return name or None
    return None


def _line(value: str | None) -> str | None:
    return (" ".join(value.translate(_INVISIBLE).split()) or None) if value else None


def _join(*parts: str | None) -> str | None:
    return "; ".join(p for p in parts if p) or None
