"""A run's bookkeeping: the rows it leaves in the warehouse and the summary it prints."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from flows.collect import feed_health
from flows.collect.pages import DEFERRED
from flows.config import FeedSettings, Settings
from warehouse.batches import Saved, WarehouseAtStart
from warehouse.records import Article, Entry, FeedOutcome, FetchResult, SourceState
from warehouse.rows import (
    ArticleKeyRow,
    ArticleRow,
    Batch,
    FetchLogRow,
    MatchRow,
    RunRow,
    SignatureRow,
)


@dataclasses.dataclass
class RunReport:
    """What happened in one ingest run."""

    run_id: str
    started_at: datetime
    outcomes: list[FeedOutcome] = dataclasses.field(default_factory=list)
    skipped: list[FeedSettings] = dataclasses.field(default_factory=list)
    entries_new: int = 0
    pages_fetched: int = 0
    pages_deferred: int = 0  # not started: the run's time budget, or a feed's share, was spent
    saved: Saved | None = None
    new_articles: int = 0
    new_matches: int = 0
    quarantined: list[str] = dataclasses.field(default_factory=list)  # spool batches refused
    waiting: list[SourceState] = dataclasses.field(default_factory=list)  # of skipped feeds

    def add_feeds(self, outcomes: Iterable[FeedOutcome]) -> None:
        self.outcomes.extend(outcomes)

    @property
    def failed(self) -> list[FeedOutcome]:
        return [o for o in self.outcomes if o.status not in feed_health.NOT_FAILURES]

    @property
    def status(self) -> str:
        return "degraded" if feed_health.network_outage(self.outcomes) else "ok"

    def feed_line(self) -> str:
        reasons = Counter(o.status for o in self.failed)
        why = ", ".join(f"{n} {s}" for s, n in reasons.most_common())
        line = f"{len(self.outcomes) - len(self.failed)} ok, {len(self.failed)} failed"
        return f"{line} ({why})" if why else line

    def batch_name(self) -> str:
        return f"{self.started_at:%Y%m%dT%H%M%S}-{self.run_id}"

    def batch(
        self,
        settings: Settings,
        known: WarehouseAtStart,
        now: datetime,
        *,
        pages: Sequence[tuple[Entry, FetchResult]],
        seen: Sequence[tuple[str, Article]],
        articles: Sequence[ArticleRow],
        matches: Sequence[MatchRow],
        signatures: Sequence[SignatureRow],
    ) -> Batch:
        """Every row this run writes: the content rows as given, with the run's bookkeeping."""
        self.entries_new = len(seen)
        self.pages_deferred = sum(1 for _, page in pages if page.status == DEFERRED)
        self.pages_fetched = len(pages) - self.pages_deferred
        return Batch(
            sources=self._source_rows(settings, known, now),
            runs=(self._run_row(settings),),
            fetch_log=self._log_rows(pages, now),
            articles=tuple(articles),
            article_keys=tuple(ArticleKeyRow.every_key(seen)),
            matches=tuple(matches),
            article_signatures=tuple(signatures),
        )

    def _source_rows(
        self, settings: Settings, known: WarehouseAtStart, now: datetime
    ) -> tuple[SourceState, ...]:
        if not known.available:
            # The feeds' states could not be read: rows computed from nothing would reset every
            # failing feed's count and history when loaded. This run's outcomes stay in fetch_log.
            return ()
        outage = feed_health.network_outage(self.outcomes)
        by_url = {o.url: o for o in self.outcomes}
        rows = []
        for feed in settings.feeds:
            prev = known.source_states.get(feed.url)
            outcome = by_url.get(feed.url)
            if outcome is None:  # backing off: untouched, but still listed
                state = prev or SourceState(url=feed.url, name=feed.name)
                state = dataclasses.replace(state, name=feed.name, active=True)
            else:
                sent = feed_health.validators(prev, now) != (None, None)
                state = feed_health.next_state(prev, outcome, now, conditional=sent, outage=outage)
            rows.append(dataclasses.replace(state, config_hash=feed.fingerprint(settings.fetch)))
        return tuple(rows)

    def _run_row(self, settings: Settings) -> RunRow:
        return RunRow(
            run_id=self.run_id,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            status=self.status,
            feeds_total=len(settings.feeds),
            feeds_ok=len(self.outcomes) - len(self.failed),
            feeds_failed=len(self.failed),
            feeds_skipped=len(self.skipped),
            entries_new=self.entries_new,
            pages_fetched=self.pages_fetched,
        )

    def _log_rows(
        self, pages: Sequence[tuple[Entry, FetchResult]], now: datetime
    ) -> tuple[FetchLogRow, ...]:
        return (
            *(FetchLogRow.of_feed(self.run_id, o, now) for o in self.outcomes),
            *(FetchLogRow.of_page(self.run_id, entry, page, now) for entry, page in pages),
        )

    def finish(self, saved: Saved, batch: Batch) -> None:
        self.saved = saved
        self.quarantined.extend(saved.quarantined)
        self.new_articles = saved.articles if saved.stored else len(batch.articles)
        self.new_matches = (
            saved.matches if saved.stored else sum(1 for m in batch.matches if m.matched)
        )

    def summary_line(self) -> str:
        saved = self.saved
        if saved is not None and saved.refused is not None:
            where = "NOT SAVED: the warehouse refused this run's batch (quarantined)"
        else:
            where = "saved" if saved and saved.stored else "kept in the spool for the next run"
        if self.quarantined:
            where += (
                f"; {len(self.quarantined)} spool batch(es) could not be loaded and were "
                f"moved aside: {'; '.join(self.quarantined)}"
            )
        state = (
            " — DEGRADED: no feed could be reached; is the network down?"
            if self.status == "degraded"
            else ""
        )
        later = (
            f"; {self.pages_deferred} pages wait for the next run (out of time)"
            if self.pages_deferred
            else ""
        )
        return (
            f"run {self.run_id}: feeds {self.feed_line()}, {len(self.skipped)} backing off; "
            f"{self.new_articles} new articles, {self.new_matches} matches{later}; {where}{state}"
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the CLI and for Prefect's result."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "stored": bool(self.saved and self.saved.stored),
            "lock_holder": self.saved.holder if self.saved else None,
            "spool_batch": str(self.saved.batch) if self.saved and self.saved.batch else None,
            "refused_batch": self.saved.refused if self.saved else None,
            "quarantined": self.quarantined,
            "feeds": [
                {
                    "source": o.source,
                    "url": o.url,
                    "status": o.status,
                    "error": o.error,
                    "entries": o.entries,
                    "warning": o.warning,
                }
                for o in self.outcomes
            ],
            "skipped": [f.name for f in self.skipped],
            "waiting": [
                {
                    "source": s.name,
                    "until": s.next_attempt_at,
                    "failures": s.consecutive_failures,
                    "last_status": s.last_status,
                }
                for s in self.waiting
            ],
            "entries_new": self.entries_new,
            "pages_fetched": self.pages_fetched,
            "pages_deferred": self.pages_deferred,
            "new_articles": self.new_articles,
            "new_matches": self.new_matches,
            "summary": self.summary_line(),
        }
