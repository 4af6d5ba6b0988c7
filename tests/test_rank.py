"""Ranking and grouping: copies of a story appear once, with the other outlets."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from flows.delivery import ranking
from warehouse.evidence import Evidence

START = datetime(2026, 11, 16, tzinfo=UTC)
END = START + timedelta(days=7)


def row(key: str, story: str, source: str, score: float, day: int, **kw: Any) -> dict[str, Any]:
    evidence = {
        "windows": [
            {"where": "title", "unit": "title", "text": "T"},
            {"where": "lead", "unit": "sentence", "text": f"Sentence of {key}."},
        ],
        "parts": {"title": 0.7, "lead": 0.5, "body": 0.0, "penalties": {}},
    }
    base = {
        "key": key,
        "url": f"https://{source}.example/{key}",
        "title": f"Title {key}",
        "source": source,
        "at": START + timedelta(days=day),
        "score": score,
        "entities": ["United Kingdom", "Poland", "CAMM"],
        "evidence": Evidence.from_json(evidence),
        "story_id": story,
        "language": "en",
    }
    base.update(kw)
    return base


def test_copies_are_grouped_under_the_best_copy_with_also_covered_by() -> None:
    stories = ranking.stories(
        [
            row("a1", "s1", "gazette", 0.70, 1),
            row("a2", "s1", "times", 0.90, 2),
            row("a3", "s1", "gazette", 0.60, 3),  # same outlet twice: listed once
            row("b1", "s2", "post", 0.95, 1),
        ],
        start=START,
        end=END,
    )
    assert {s.story_id for s in stories} == {"s1", "s2"}  # three copies of s1 shown as one
    s1 = next(s for s in stories if s.story_id == "s1")
    assert s1.source == "times" and s1.score == 0.90
    assert [c.source for c in s1.also] == ["gazette"]
    assert s1.snippet == "Sentence of a2."
    assert (
        s1.why == "names United Kingdom, Poland and CAMM together in the headline and the opening"
    )
    assert s1.detail.startswith("United Kingdom, Poland, CAMM · score 0.90 (title 0.70, lead 0.50")


def test_the_why_line_names_an_entity_of_each_required_group_and_where_they_meet() -> None:
    evidence = Evidence.from_json(
        {
            "entities": {
                "Poland": {"groups": ["poland"], "count": 5},
                "CAMM": {"groups": ["defence"], "count": 3},
                "United Kingdom": {"groups": ["uk"], "count": 2},
                "air defence": {"groups": ["defence"], "count": 1},
            },
            "windows": [{"where": "body", "unit": "sentence", "text": "…"}],
            "parts": {"title": 0.0, "lead": 0.0, "body": 0.6, "penalties": {"sport": 0.15}},
        }
    )
    line = ranking.why(("Poland", "CAMM"), evidence, ("uk", "poland", "defence"))
    assert line == (
        "names United Kingdom, Poland and CAMM together, but only further down the article; "
        "also reads as sport, which counts against it"
    )
    both = dataclasses.replace(
        evidence,
        windows=Evidence.from_json({"windows": [{"where": "title"}, {"where": "body"}]}).windows,
        parts=None,
    )
    assert ranking.why((), both, ("uk", "poland", "defence")).endswith(
        "together in the headline and further down"
    )
    assert "score" not in line and "0." not in line


def test_more_outlets_and_recency_lift_the_rank_but_strength_leads() -> None:
    wide = [row(f"w{i}", "wide", f"outlet{i}", 0.6, 1) for i in range(4)]
    strong = [row("x", "strong", "solo", 0.9, 0)]
    weak_recent = [row("y", "weak", "late", 0.55, 6)]
    order = [s.story_id for s in ranking.stories(wide + strong + weak_recent, start=START, end=END)]
    assert order == ["strong", "wide", "weak"]
    equal = [
        row("one", "one", "a", 0.8, 3),
        *(row(f"t{i}", "three", f"o{i}", 0.8, 3) for i in range(3)),
    ]
    assert [s.story_id for s in ranking.stories(equal, start=START, end=END)] == ["three", "one"]
    same = [row("p", "p", "a", 0.6, 0), row("q", "q", "b", 0.6, 6)]
    assert [s.story_id for s in ranking.stories(same, start=START, end=END)] == ["q", "p"]


def test_unsafe_links_are_dropped() -> None:
    (story,) = ranking.stories(
        [row("j", "j", "evil", 0.8, 1, url="javascript:alert(1)")], start=START, end=END
    )
    assert story.url is None


def test_leading_entities_count_stories() -> None:
    stories = ranking.stories(
        [row("a", "a", "x", 0.8, 1), row("b", "b", "y", 0.8, 1, entities=["Poland"])],
        start=START,
        end=END,
    )
    assert ranking.leading_entities(stories)[0] == ("Poland", 2)
