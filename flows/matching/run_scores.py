"""A run's match rows, each article scored as its batch of pages arrives.

Scored at the end, the articles of 724 real pages kept one core busy for 0.1 s after the last
page, with the other idle; scored as they arrive, that time is spent while the workers extract.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flows.matching.match import CompiledTopic, compile_topic
from flows.matching.mutes import match_article
from flows.topic import Topic
from warehouse.records import Article
from warehouse.rows import MatchRow


class RunScores:
    """Every topic's match row for each article of one run, scored once, as soon as it is added."""

    def __init__(self, topics: Sequence[Topic], now: datetime) -> None:
        self._topics = tuple(topics)
        self._now = now
        self._compiled: list[CompiledTopic] | None = None
        self._scored: dict[str, tuple[Article, list[MatchRow]]] = {}  # by key: the first copy

    def compiled(self) -> list[CompiledTopic]:
        """The topics compiled (~30 ms a profile), once, when the first article is scored."""
        if self._compiled is None:
            self._compiled = [compile_topic(topic) for topic in self._topics]
        return self._compiled

    def add(self, article: Article) -> None:
        """Score an article now (a second article with the same key is scored when asked for)."""
        if article.key not in self._scored:
            self._scored[article.key] = (article, self._score(article))

    def rows(self, articles: Sequence[Article]) -> list[MatchRow]:
        """The rows of these articles, topic by topic; an article not added yet is scored here."""
        if not articles:  # no profile compiled for a run with nothing new
            return []
        per_article = [self._rows_of(article) for article in articles]
        return [rows[t] for t in range(len(self._topics)) for rows in per_article]

    def _rows_of(self, article: Article) -> list[MatchRow]:
        scored = self._scored.get(article.key)
        if scored is not None and scored[0] is article:
            return scored[1]
        return self._score(article)

    def _score(self, a: Article) -> list[MatchRow]:
        return [
            MatchRow.of(
                a.key,
                match_article(
                    compiled,
                    title=a.title,
                    text=a.text,
                    language=a.language,
                    url=a.url or a.key,
                    source=a.source,
                ),
                self._now,
            )
            for compiled in self.compiled()
        ]
