"""The rows a run writes: one type per table, each built here and only here, and the batch.

A row's fields are its table's columns (warehouse/migrations/); a `Batch` holds a run's rows
with a field per table, in the order they are loaded. The spool writes a batch as it is, one
JSON-lines file per field, and the loader inserts each file into the table of that name.
The `sources` rows are the feeds' states themselves (records.SourceState).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from warehouse.evidence import Evidence
from warehouse.records import (
    SIGNATURE_SCHEME,
    Article,
    Entry,
    FeedOutcome,
    FetchResult,
    MatchResult,
    Signature,
    SourceState,
)


@dataclass(frozen=True, slots=True)
class RunRow:
    """A row of `runs`: what one ingest run did."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    status: str  # ok, or degraded (every feed failed on the network)
    feeds_total: int
    feeds_ok: int
    feeds_failed: int
    feeds_skipped: int  # backing off
    entries_new: int
    pages_fetched: int


@dataclass(frozen=True, slots=True)
class FetchLogRow:
    """A row of `fetch_log`: one feed or page request of a run."""

    run_id: str
    kind: str  # feed or page
    url: str  # the feed's address; for a page, its entry's key
    source: str
    fetched_at: datetime
    status: str
    http_status: int | None
    error: str | None
    bytes: int | None
    elapsed_ms: int

    @classmethod
    def of_feed(cls, run_id: str, outcome: FeedOutcome, at: datetime) -> FetchLogRow:
        return cls(
            run_id=run_id,
            kind="feed",
            url=outcome.url,
            source=outcome.source,
            fetched_at=at,
            status=outcome.status,
            http_status=outcome.http_status,
            error=outcome.error,
            bytes=None,
            elapsed_ms=outcome.elapsed_ms,
        )

    @classmethod
    def of_page(cls, run_id: str, entry: Entry, page: FetchResult, at: datetime) -> FetchLogRow:
        return cls(
            run_id=run_id,
            kind="page",
            url=entry.key,
            source=entry.source,
            fetched_at=at,
            status=page.status,
            http_status=page.http_status,
            error=page.error,
            bytes=None,
            elapsed_ms=page.elapsed_ms,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleRow(Article):
    """A row of `articles`: the article, the story it belongs to and the run that stored it."""

    story_id: str
    run_id: str

    @classmethod
    def of(cls, article: Article, *, story_id: str, run_id: str) -> ArticleRow:
        columns = {f.name: getattr(article, f.name) for f in fields(Article)}
        return cls(**columns, story_id=story_id, run_id=run_id)


@dataclass(frozen=True, slots=True)
class ArticleKeyRow:
    """A row of `article_keys`: a key an article was seen under, so it is never fetched again."""

    key: str
    article_key: str

    @classmethod
    def every_key(cls, seen: Iterable[tuple[str, Article]]) -> list[ArticleKeyRow]:
        """For (entry key, article) pairs: the entry's key and the article's own (rel=canonical)."""
        return [cls(k, a.key) for entry_key, a in seen for k in dict.fromkeys((entry_key, a.key))]


@dataclass(frozen=True, slots=True)
class MatchRow:
    """A row of `matches`: one topic's verdict on one article."""

    topic: str
    article_key: str
    score: float
    matched: bool
    entities: tuple[str, ...]
    evidence: Evidence
    profile_version: str
    scored_at: datetime

    @classmethod
    def of(cls, article_key: str, result: MatchResult, scored_at: datetime) -> MatchRow:
        return cls(
            topic=result.topic,
            article_key=article_key,
            score=result.score,
            matched=result.matched,
            entities=result.entities,
            evidence=result.evidence,
            profile_version=result.profile_version,
            scored_at=scored_at,
        )


@dataclass(frozen=True, slots=True)
class SignatureRow:
    """A row of `article_signatures`: what story grouping keeps of an article."""

    key: str
    story_id: str
    shingles: int
    hashes: tuple[int, ...]
    scheme: str
    signed_at: datetime

    @classmethod
    def of(cls, signature: Signature, *, story_id: str, signed_at: datetime) -> SignatureRow:
        s = signature
        return cls(s.key, story_id, s.shingles, s.hashes, SIGNATURE_SCHEME, signed_at)


@dataclass(frozen=True)
class Batch:
    """Every row one run writes: a field per table, in the order they are loaded."""

    sources: tuple[SourceState, ...] = ()
    runs: tuple[RunRow, ...] = ()
    fetch_log: tuple[FetchLogRow, ...] = ()
    articles: tuple[ArticleRow, ...] = ()
    article_keys: tuple[ArticleKeyRow, ...] = ()
    matches: tuple[MatchRow, ...] = ()
    article_signatures: tuple[SignatureRow, ...] = ()


TABLES = tuple(f.name for f in fields(Batch))
