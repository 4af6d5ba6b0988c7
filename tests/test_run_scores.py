"""A run's match rows, scored as its articles arrive: the same rows as scoring them at the end."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from flows.config import load_topics
from flows.matching.match import compile_topic
from flows.matching.mutes import match_article
from flows.matching.run_scores import RunScores
from tests.conftest import ROOT
from tests.test_mutes import TREATY
from warehouse.records import Article
from warehouse.rows import MatchRow

NOW = datetime(2026, 11, 20, tzinfo=UTC)
TOPIC = load_topics(ROOT / "topics")[0]
OTHER = TOPIC.model_copy(update={"id": "second-topic"})


def article(key: str, title: str, text: str) -> Article:
    return Article(
        key=key, url=key, source="S", feed_url="https://s.example/feed", guid=None,
        title=title, author=None, published_at=NOW, first_seen_at=NOW, language="en",
        site_name=None, summary="", text=text, extraction="trafilatura", page_status="ok",
        extract_error=None, content_hash=key,
    )  # fmt: skip


ON = article("https://a.example/on", *TREATY)
OFF = article("https://a.example/off", "Local football", "The match ended in a draw.")


def scored_alone(a: Article) -> list[MatchRow]:
    """Each topic's row for one article, the matcher called directly."""
    return [
        MatchRow.of(
            a.key,
            match_article(
                compile_topic(t), title=a.title, text=a.text, language=a.language,
                url=a.url or a.key, source=a.source,
            ),
            NOW,
        )
        for t in (TOPIC, OTHER)
    ]  # fmt: skip


def test_rows_are_the_matchers_topic_by_topic_added_or_not() -> None:
    scores = RunScores((TOPIC, OTHER), NOW)
    scores.add(ON)  # arrived with its batch; OFF did not
    rows = scores.rows([ON, OFF])
    on, off = scored_alone(ON), scored_alone(OFF)
    assert rows == [on[0], off[0], on[1], off[1]]
    assert [r.topic for r in rows] == [TOPIC.id, TOPIC.id, OTHER.id, OTHER.id]
    assert rows[0].matched and not rows[1].matched


def test_an_article_is_scored_once_and_a_later_copy_of_its_key_on_its_own() -> None:
    scores = RunScores((TOPIC,), NOW)
    scores.add(ON)
    first = scores.rows([ON])
    assert scores.rows([ON])[0] is first[0]  # kept from when it arrived, not scored again
    changed = dataclasses.replace(ON, title="Local football", text="The match ended in a draw.")
    scores.add(changed)  # same key, another article: the first copy's rows are not its rows
    assert not scores.rows([changed])[0].matched and first[0].matched


def test_nothing_new_compiles_no_topic() -> None:
    scores = RunScores((TOPIC,), NOW)
    assert scores.rows([]) == []
    assert scores._compiled is None
