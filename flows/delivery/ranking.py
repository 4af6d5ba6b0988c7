"""Matches of a period → ranked stories, copies grouped. Pure."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from flows.web.urls import safe_link
from warehouse.evidence import Evidence
from warehouse.records import Coverage, Story

SNIPPET_CHARS = 320
# Rank = match strength, lifted by the number of outlets carrying the story (log-scaled, so
# ten copies do not bury a strong single report) and, a little, by recency within the period.
OUTLET_LIFT = 0.15
RECENCY_LIFT = 0.1


def stories(
    rows: Iterable[dict[str, Any]],
    *,
    start: datetime,
    end: datetime,
    require: Sequence[str] = (),
) -> list[Story]:
    """Group matched copies by story_id and rank the stories, best first.

    `require`: the topic's required groups, which the why-line names an entity of each.
    """
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["story_id"]].append(row)
    ranked = []
    for copies in groups.values():
        copies.sort(key=lambda r: (-r["score"], r["at"]))
        best = copies[0]
        others = _also(best, copies[1:])
        outlets = 1 + len(others)
        span = max((end - start).total_seconds(), 1.0)
        recency = min(max((best["at"] - start).total_seconds() / span, 0.0), 1.0)
        rank = best["score"] * (1 + OUTLET_LIFT * math.log2(outlets)) * (1 + RECENCY_LIFT * recency)
        ranked.append((rank, best["at"], _story(best, others, require)))
    ranked.sort(key=lambda item: (-item[0], -item[1].timestamp()))
    return [story for _, _, story in ranked]


def leading_entities(ranked: Sequence[Story], most: int = 5) -> tuple[tuple[str, int], ...]:
    """The entities named by the most stories; ties by name, so every render agrees."""
    counts = Counter(name for s in ranked for name in set(s.entities))
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:most])


def _also(best: dict[str, Any], rest: Sequence[dict[str, Any]]) -> tuple[Coverage, ...]:
    seen = {best["source"]}
    out = []
    for row in rest:
        if row["source"] not in seen:
            seen.add(row["source"])
            out.append(Coverage(source=row["source"], url=safe_link(row["url"])))
    return tuple(out)


def _story(row: dict[str, Any], also: tuple[Coverage, ...], require: Sequence[str]) -> Story:
    evidence: Evidence = row["evidence"]
    entities = tuple(row["entities"] or ())
    return Story(
        story_id=row["story_id"],
        title=row["title"],
        url=safe_link(row["url"]),
        source=row["source"],
        published_at=row["at"],
        score=float(row["score"]),
        entities=entities,
        snippet=snippet(evidence),
        why=why(entities, evidence, require),
        detail=score_detail(entities, float(row["score"]), evidence),
        also=also,
        language=row.get("language"),
    )


def snippet(evidence: Evidence) -> str:
    """The first sentence (or paragraph) where the topic's entities meet, outside the title."""
    for window in evidence.windows:
        if window.unit != "title" and window.text:
            text = " ".join(window.text.split())
            return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"
    return ""


def why(entities: Sequence[str], evidence: Evidence, require: Sequence[str] = ()) -> str:
    """For readers: 'names United Kingdom, Poland and CAMM together in the headline'."""
    names: list[str] = []
    for group in require:  # the strongest entity of each required group (evidence: most first)
        name = next((n for n, e in evidence.entities.items() if group in e.groups), None)
        if name and name not in names:
            names.append(name)
    if not names:
        names = list(entities[:3])
    if not names:
        return ""
    places = {w.where for w in evidence.windows}
    where = [text for place, text in _PLACES if place in places]
    if where == [_BODY]:
        said = f" together, but only {_BODY}"
    elif where:
        said = f" together in {_and([w if w != _BODY else 'further down' for w in where])}"
    else:
        said = ""
    penalties = evidence.parts.penalties if evidence.parts is not None else {}
    against = [g for g, v in penalties.items() if v]
    also = f"; also reads as {_and(against)}, which counts against it" if against else ""
    return f"names {_and(names)}{said}{also}"


_BODY = "further down the article"
_PLACES = (("title", "the headline"), ("lead", "the opening"), ("body", _BODY))


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def score_detail(entities: Sequence[str], score: float, evidence: Evidence) -> str:
    """For the full report: 'United Kingdom, Poland, CAMM · score 0.87 (title 0.70, …)'."""
    parts = evidence.parts
    shown = []
    if parts is not None:
        shown = [f"title {parts.title:.2f}", f"lead {parts.lead:.2f}", f"body {parts.body:.2f}"]
        shown += [f"−{name} {v:.2f}" for name, v in parts.penalties.items() if v]
    names = ", ".join(entities[:6]) + (" …" if len(entities) > 6 else "")
    detail = f" ({', '.join(shown)})" if shown else ""
    return f"{names} · score {score:.2f}{detail}"
