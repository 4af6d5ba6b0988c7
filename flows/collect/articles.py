"""Entry + page + extraction → the article to store, with every key it may be found under. Pure."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from flows.web.urls import canonical_url, same_article, same_site
from warehouse.records import Article, Entry, Extracted, FetchResult

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def story_id(key: str) -> str:
    """Until copies are grouped, every article is its own story."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def page_key(entry: Entry, page: FetchResult | None, extracted: Extracted | None) -> str:
    """The entry's key, or the page's rel=canonical when it names the same article.

    A page may not claim another article's address, on its site or another: that would let a
    hostile page pre-empt the real article's key, and the real one would never be fetched.
    So the canonical is taken only when it names the page's own address (where it was served
    from after redirects, or the feed's link) up to the marks of a variant: tracking
    parameters, www./m./amp. hosts, AMP paths and parameters, an index page, a trailing slash.
    """
    if entry.url is None or extracted is None or not extracted.canonical_url:
        return entry.key
    served = page.final_url if page is not None and page.final_url else entry.url
    declared = canonical_url(extracted.canonical_url, base=served)
    if (
        declared
        and same_site(declared, entry.url)
        and (same_article(declared, served) or same_article(declared, entry.url))
    ):
        return declared
    return entry.key


def needs_page_metadata(entry: Entry) -> frozenset[str]:
    """Which of the page's title, author and date build_article would use: what the feed lacks."""
    given = {"title": entry.title, "author": entry.author, "date": entry.published_at}
    return frozenset(name for name, value in given.items() if not value)


def build_article(
    entry: Entry,
    page: FetchResult | None,
    extracted: Extracted | None,
    *,
    now: datetime,
) -> Article:
    """Full text when extraction gave some, else the feed's summary, else the title alone."""
    if extracted is not None and extracted.status == "ok" and extracted.text.strip():
        text, how = extracted.text, "trafilatura"
    elif entry.summary.strip():
        text, how = entry.summary, "summary"
    else:
        text, how = "", "title"
    key = page_key(entry, page, extracted)
    language = extracted.language if extracted is not None and how == "trafilatura" else None
    title = entry.title or (extracted.title if extracted is not None else None) or "(untitled)"
    error = None
    if extracted is not None and extracted.status != "ok":
        error = f"{extracted.status}: {extracted.error}" if extracted.error else extracted.status
    elif extracted is not None:
        error = extracted.error  # e.g. the input was cut at the size cap
    return Article(
        key=key,
        url=key if key.startswith(("http://", "https://")) else None,
        source=entry.source,
        feed_url=entry.feed_url,
        guid=entry.guid,
        title=title,
        author=entry.author or (extracted.author if extracted is not None else None),
        published_at=entry.published_at or _page_date(extracted, now),
        first_seen_at=now,
        language=language or _detect_language(f"{title}. {text}"),
        site_name=extracted.site_name if extracted is not None else None,
        summary=entry.summary,
        text=text,
        extraction=how,
        page_status=page.status if page is not None else "not_fetched",
        content_hash=hashlib.sha256(_one_space(f"{title}\n{text}").encode()).hexdigest(),
        extract_error=error,
    )


def _detect_language(text: str) -> str | None:
    """The language of an article the workers gave none for (no page, a failed or very short
    extraction): rare, so the run's main process loads trafilatura's module only then."""
    from flows.collect.extraction import detect_language

    return detect_language(text)


def _page_date(extracted: Extracted | None, now: datetime) -> datetime | None:
    """trafilatura gives a date only; used when the feed gave none, never later than now."""
    if extracted is None or not extracted.published or not _DATE.match(extracted.published):
        return None
    try:
        day = datetime.strptime(extracted.published[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    if day.year < 1995:
        return None
    return min(day, now)


def _one_space(text: str) -> str:
    """Every run of whitespace as one space, exactly as a regex substitution of `\\s+` gives it
    (the stored hashes were made so), in a fifth of the time."""
    joined = " ".join(text.split())
    if not joined:
        return " " if text else ""
    return (" " if text[0].isspace() else "") + joined + (" " if text[-1].isspace() else "")
