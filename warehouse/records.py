"""Frozen records shared by every layer: what flows between the stages and into the warehouse."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from warehouse.evidence import Evidence

# Failure classes a fetch can end in; `v_source_health.last_status` shows them.
OK = "ok"
NOT_MODIFIED = "not_modified"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one HTTP request chain (redirects included); never an exception."""

    url: str  # as requested
    status: str  # "ok", "not_modified", or a failure class: "timeout", "too_large", "http_404", ...
    final_url: str | None = None  # after redirects
    http_status: int | None = None
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds the server asked us to wait (429/503)
    error: str | None = None  # human-readable reason, never containing credentials
    elapsed_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status == OK


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item, parsed and identified."""

    key: str  # identity: canonical URL, else "guid:<feed url>#<guid>", else "sha256:<hex>"
    source: str  # the feed's name in sources.yaml
    feed_url: str
    url: str | None  # canonical URL of the item's link (None when it has no http(s) link)
    link: str | None  # the address to fetch (aggregator click-trackers unwrapped)
    guid: str | None
    title: str
    summary: str  # plain text
    published_at: datetime | None  # UTC; None when the feed gives no usable date
    author: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed's usable entries and what was wrong with it."""

    entries: tuple[Entry, ...]
    title: str | None = None
    ill_formed: bool = False  # the XML was broken; the complete items were kept
    problem: str | None = None  # why it is ill-formed, or other warnings
    dropped: int = 0  # entries beyond the per-run cap


@dataclass(frozen=True, slots=True)
class Extracted:
    """What extraction got out of one page."""

    status: str  # "ok", "empty", "too_large", "timeout", "crashed", "error"
    text: str = ""
    title: str | None = None
    author: str | None = None
    published: str | None = None  # as trafilatura gives it (date only)
    site_name: str | None = None
    language: str | None = None
    canonical_url: str | None = None  # <link rel=canonical>, as found in the page
    error: str | None = None
    # the text's shingle count and MinHash values (flows.collect.stories.minhash), computed
    # in the extraction worker so that the run's main process need not; None: too short
    minhash: tuple[int, tuple[int, ...]] | None = None
    signed: bool = False  # whether `minhash` was computed


@dataclass(frozen=True, slots=True)
class Article:
    """A stored article: one row of `articles`."""

    key: str
    url: str | None
    source: str
    feed_url: str
    guid: str | None
    title: str
    author: str | None
    published_at: datetime | None
    first_seen_at: datetime
    language: str | None
    site_name: str | None
    summary: str
    text: str
    extraction: str  # "trafilatura", "summary" (feed summary used), "title" (nothing else)
    page_status: str  # the page fetch's status, or "not_fetched" when the item had no link
    content_hash: str
    extract_error: str | None = None


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The matcher's verdict on one article for one topic, kept for every article."""

    topic: str
    score: float  # in [0, 1]
    matched: bool
    entities: tuple[str, ...]  # canonical names of the entities found
    evidence: Evidence = field(default_factory=Evidence)  # which names and sentences counted
    profile_version: str = ""


@dataclass(frozen=True, slots=True)
class SourceState:
    """A feed's remembered state: validators for conditional GET, failures and backoff."""

    url: str
    name: str
    etag: str | None = None
    last_modified: str | None = None
    last_status: str | None = None
    last_http_status: int | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_unconditional_at: datetime | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    next_attempt_at: datetime | None = None
    active: bool = True
    last_warning: str | None = None  # the last document read was used, but not all of it
    config_hash: str | None = None  # the feed's configuration then (FeedSettings.fingerprint)


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What one feed's fetch and parse came to in a run, for the fetch log and source health."""

    source: str
    url: str
    status: str  # "ok", "not_modified", "ill_formed", "rate_limited", or a failure class
    http_status: int | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    entries: int = 0
    elapsed_ms: int = 0
    retry_after: float | None = None
    warning: str | None = None  # usable, but not all of it was taken (entries beyond the cap)


@dataclass(frozen=True, slots=True)
class Coverage:
    """Another outlet carrying the same story."""

    source: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Story:
    """One story of a digest: the best copy, with the other outlets that carried it."""

    story_id: str
    title: str  # plain text from a feed: escape it wherever it is rendered
    url: str | None  # http(s) only; None when there is no safe link
    source: str
    published_at: datetime  # publication time, or first-seen time when the feed gave none
    score: float
    entities: tuple[str, ...]  # canonical names, strongest first
    snippet: str  # one or two sentences where the topic's entities meet (plain text)
    why: str  # "why it matched" for readers: which names meet where, one line of plain text
    also: tuple[Coverage, ...] = ()
    language: str | None = None
    detail: str = ""  # the score and its parts, for the full report only


@dataclass(frozen=True, slots=True)
class FailingFeed:
    """A feed that is failing, for the digest's source-health footer."""

    source: str
    status: str
    since: datetime | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class WeekCount:
    """Matched stories in one week, a bar of the digest's trend chart."""

    week: str  # "2026-W47", or a rolling week's key
    start: datetime  # when it starts (an ISO week: Monday 00:00), in the digest's timezone
    stories: int
    partial: bool = False  # the week has not ended yet


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything one digest shows; rendering is a pure function of it."""

    topic_id: str
    topic_name: str  # e.g. "UK–Poland defence"
    period_key: str  # "2026-W47", or "2026-11-17_2026-11-23" for a rolling window
    period_label: str  # "16–22 Nov 2026"
    start: datetime  # inclusive, aware, in the digest's timezone
    end: datetime  # exclusive
    timezone: str  # e.g. "Europe/London"
    stories: tuple[Story, ...]  # ranked, best first
    top: int  # how many are shown in full; the rest as a compact list
    previous_count: int | None  # stories in the period before, for "change from last week"
    articles_seen: int  # articles stored in the period, matched or not
    leading_entities: tuple[tuple[str, int], ...]  # (entity, stories naming it), most first
    feeds_total: int
    failing: tuple[FailingFeed, ...]
    generated_at: datetime
    report_url: str | None = None  # the hosted full report (http/https), for the "full report" link
    trend: tuple[WeekCount, ...] = ()  # stories per week, oldest first; the last is this period's


@dataclass(frozen=True, slots=True)
class Rendered:
    """A digest rendered for email and for reports/."""

    subject: str  # one line, already cleaned for a header
    preheader: str
    html: str
    text: str


# Stored hashes are only comparable under the same hashing; the warehouse keeps this name
# beside them. The first scheme ("sha1-affine32": datasketch's sha1 per shingle string and
# its permutations) cost ~2.6 ms per article in the event loop; this one is numpy end to end.
SIGNATURE_SCHEME = "poly64-affine32"


@dataclass(frozen=True)
class Signature:
    """What grouping keeps of an article: its story, shingle count and MinHash values."""

    key: str
    story_id: str
    shingles: int
    hashes: tuple[int, ...]
