"""Article text out of fetched HTML with trafilatura: one page, in whatever process calls it.

flows/collect/workers.py runs it in killable worker processes. Imported by those workers:
keep it free of prefect, httpx and duckdb.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import trafilatura.metadata as tm
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information
from trafilatura.settings import Document

from flows.collect import xpath_rules
from flows.collect.cascade import article_text, load_page
from flows.collect.language import load_identifier
from warehouse.records import Extracted

# Which of the page's own title, author and date to search for: True all, False none, or
# the names of those the feed entry lacks ("title", "author", "date")
Metadata = bool | frozenset[str]
METADATA_FIELDS = frozenset({"title", "author", "date"})
# (key, html, url), or (key, html, url, metadata)
Page = tuple[str, bytes, str | None] | tuple[str, bytes, str | None, Metadata]
ExtractFn = Callable[..., Extracted]  # called as fn(html, url, max_bytes=...[, metadata=...])
Tree = Any  # lxml.html.HtmlElement: lxml ships no type information

LANGID_MIN_CHARS = 40  # below this py3langid guesses
# ~100 words: on the 181 real pages of bench/real_pages.py (8 languages) 300 characters
# already gave the same answer as 2,000, and 2,000 cost 1.7 ms a page against 0.6 ms
LANGID_MAX_CHARS = 600
MAX_ERROR_CHARS = 500
_INVISIBLE_CHARS = "\u00ad\u200b\u2060\ufeff"  # soft hyphen, zero-widths, BOM
_INVISIBLE = dict.fromkeys(map(ord, _INVISIBLE_CHARS))
_log = logging.getLogger(__name__)
_LANGUAGES: Any = None  # py3langid.langid.LanguageIdentifier, once loaded
_LANG = re.compile(r"([a-z]{2})(?:[-_][a-z0-9]+)*")


def extract_page(
    html: bytes, url: str | None, *, max_bytes: int, metadata: Metadata = True
) -> Extracted:
    """Extract one page in this process; trafilatura never fetches anything.

    `metadata` names the fields of the page's own to search for (True: title, author and
    date), those the feed entry lacks: their search is a third of the CPU on real pages. The
    others are None. Without any, the site name comes from the page's og:site_name alone.
    """
    fields = _fields(metadata)
    note = None
    if len(html) > max_bytes:
        cut = _cut(html, max_bytes)
        note = f"page of {len(html):,} bytes cut to its first {len(cut):,} (max {max_bytes:,})"
        html = cut
    empty = "too_large" if note else "empty"
    # max_size also bounds what trafilatura would decompress from a gzip/brotli body
    tree = load_page(html, max_bytes) if html.strip() else None
    if tree is None:
        return Extracted(status=empty, error=_join(note, "not an HTML document"))
    # Everything read from the page before article_text consumes the tree (parsed once,
    # never copied: a copy is 0.5 ms of the ~13 ms a page costs)
    marks = _marks(tree)
    declared = _declared_language(tree)
    meta = page_metadata(tree, url, fields) if fields else None
    site_name = _tidy_site_name(marks.og_site_name) if meta is None else _line(meta.sitename)
    text = clean_text(article_text(tree, url))
    if not text:
        return Extracted(status=empty, error=_join(note, "no article text found"))
    if _mostly_links(text, marks.link_labels):
        return Extracted(status=empty, error=_join(note, "only menu and link text found"))
    meta = meta or Document()
    return Extracted(
        status="ok",
        text=text,
        title=_line(meta.title),
        author=_line(meta.author),
        published=meta.date or None,
        site_name=_site_name(site_name, url, meta.url),
        language=detect_language(text) or declared,
        canonical_url=_canonical(marks.canonicals, url),
        error=note,
    )


def page_metadata(
    tree: Tree, url: str | None, fields: frozenset[str] = METADATA_FIELDS
) -> Document:
    """Title, author, URL, date and site name as trafilatura's extract_metadata finds them.

    Its own steps for these fields, in its order, without those for fields never stored
    (categories, tags, licence: ~40 % of its CPU on real pages), nor the searches for the
    title, author or date when `fields` leaves them out (then None). bench/extract_levers.py
    checks that the five fields equal extract_metadata's on the shared real pages.
    """
    meta = tm.examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None
    try:
        meta = tm.extract_meta_json(tree, meta)
    except Exception as exc:  # noqa: BLE001  # trafilatura's own guard: bugs in its JSON-LD code
        _log.warning("JSON-LD metadata skipped: %s", exc)
    meta.title = (meta.title or tm.extract_title(tree)) if "title" in fields else None
    meta.author = (meta.author or _search_author(tree)) if "author" in fields else None
    meta.url = meta.url or tm.extract_url(tree, url)
    # htmldate's find_date as trafilatura imports it (htmldate is not our direct dependency)
    meta.date = (
        tm.find_date(  # type: ignore[attr-defined]
            tree,
            url=meta.url,
            original_date=True,  # the publication date, not the last update
            extensive_search=False,  # its guesses include "© 2024" -> 2024-01-01
            max_date=datetime.now().astimezone().strftime("%Y-%m-%d"),
        )
        if "date" in fields
        else None
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


def _search_author(tree: Tree) -> str | None:
    """trafilatura's extract_author, its XPath expressions evaluated as Python rules that find
    the same elements (flows/collect/xpath_rules.py says what it saves)."""
    with xpath_rules.swapped():
        author: str | None = tm.extract_author(tree)
    return author


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of `text` (its first few thousand characters); None when too short."""
    sample = text[:LANGID_MAX_CHARS]
    if len(sample.strip()) < LANGID_MIN_CHARS:
        return None
    code, _score = _identifier().classify(sample)
    return str(code)


def _identifier() -> Any:
    """py3langid's identifier, loaded once per process (flows/collect/language.py)."""
    global _LANGUAGES
    if _LANGUAGES is None:
        _LANGUAGES = load_identifier()
    return _LANGUAGES


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


def _fields(metadata: Metadata) -> frozenset[str]:
    if isinstance(metadata, bool):
        return METADATA_FIELDS if metadata else frozenset()
    if unknown := metadata - METADATA_FIELDS:
        raise ValueError(f"no such page metadata: {sorted(unknown)}")
    return metadata


class _Marks(NamedTuple):
    """What extract_page reads of the raw page itself, besides trafilatura."""

    link_labels: set[str]  # every link's text, its whitespace collapsed
    canonicals: list[str]  # <link rel=canonical> hrefs, then og:url contents, in page order
    og_site_name: str | None


def _marks(tree: Tree) -> _Marks:
    """One walk over the page's links and meta tags (each walk of a real page is ~0.15 ms)."""
    labels, links, og_urls, og_site_name = set(), [], [], None
    for element in tree.iter("a", "link", "meta"):
        tag = element.tag
        if tag == "a":
            # tostring: a third faster than text_content(), the same text
            label = element.text or "" if len(element) == 0 else _text_of(element)
            labels.add(" ".join(label.split()))
        elif tag == "link":
            if "canonical" in (element.get("rel") or "").lower().split():
                links.append(element.get("href", ""))
        else:
            kind = (element.get("property") or element.get("name") or "").lower()
            if kind == "og:url":
                og_urls.append(element.get("content", ""))
            elif kind == "og:site_name" and og_site_name is None:
                og_site_name = element.get("content") or ""
    return _Marks(labels, links + og_urls, og_site_name)


def _text_of(element: Tree) -> str:
    return str(etree.tostring(element, method="text", encoding=str, with_tail=False))


def _mostly_links(text: str, labels: set[str]) -> bool:
    """True when most of the text is link labels: trafilatura's dump of a page without article."""
    lines = [line.removeprefix("- ") for line in text.split("\n")]
    linked = sum(len(line) for line in lines if line in labels)
    return linked * 2 > sum(map(len, lines))


def _canonical(found: list[str], url: str | None) -> str | None:
    """The first usable of the canonical links found, as the page declares it (never `url`)."""
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


def _tidy_site_name(name: str | None) -> str | None:
    """The page's og:site_name, tidied as trafilatura tidies the site names it finds."""
    name = (name or "").strip().lstrip("@")
    if name and "." not in name and not name[0].isupper():
        name = name.title()
    return name or None


def _line(value: str | None) -> str | None:
    return (" ".join(value.translate(_INVISIBLE).split()) or None) if value else None


def _join(*parts: str | None) -> str | None:
    return "; ".join(p for p in parts if p) or None
