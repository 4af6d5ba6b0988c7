"""Scoring: the title, sentences and paragraphs that hold every required group, by place."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from math import prod

from flows.matching.sentences import sentence_starts
from flows.topic import Topic

# A window's strongest weight per scored group, by slot (0.0 where absent), and the other
# states named in it.
Window = tuple[list[float], set[int]]
Counted = tuple[float, str, str, str]  # (contribution, where, unit, text)


@dataclass(frozen=True, slots=True)
class Scoring:
    """A topic's rule as plain numbers, and each entity's part in it."""

    # Only required and contrast groups change a score: they get slots, required ones first.
    slots: tuple[tuple[tuple[int, float], ...], ...]  # entity -> (slot, weight) per scored group
    size: int  # slots in all
    crowd: tuple[bool, ...]  # entity -> one of the "other states" of rule.crowd
    required: int  # slots 0 to required - 1
    keep: tuple[tuple[int, float], ...]  # contrast slot -> share of the strength it leaves
    crowd_factor: tuple[float, ...]  # other states in a window -> share of the strength left
    title: float
    lead: float
    body: float
    paragraph: float
    title_context: float
    lead_chars: int


def scoring_for(topic: Topic) -> Scoring:
    """The rule and the entities' groups, flattened once per profile."""
    rule, crowd = topic.rule, topic.rule.crowd
    scored = [*rule.require, *rule.contrast]
    return Scoring(
        slots=tuple(
            tuple((scored.index(g), e.weight) for g in e.groups if g in scored)
            for e in topic.entities
        ),
        size=len(scored),
        crowd=tuple(crowd is not None and crowd.group in e.groups for e in topic.entities),
        required=len(rule.require),
        keep=tuple((scored.index(g), 1.0 - c.max) for g, c in rule.contrast.items()),
        crowd_factor=tuple(
            max(0.0, 1.0 - crowd.step * max(0, n - crowd.free)) if crowd else 1.0
            for n in range(len(topic.entities) + 1)
        ),
        title=rule.weights.title,
        lead=rule.weights.lead,
        body=rule.weights.body,
        paragraph=rule.paragraph,
        title_context=rule.title_context,
        lead_chars=rule.lead_chars,
    )


def _windows(scoring: Scoring, at: Iterable[int], entities: Iterable[int]) -> dict[int, Window]:
    """The windows that hold hits, by the window number of each hit."""
    slots, crowd, size = scoring.slots, scoring.crowd, scoring.size
    windows: dict[int, Window] = {}
    for number, entity in dict.fromkeys(zip(at, entities, strict=True)):  # once per window
        window = windows.get(number)
        if window is None:
            window = windows[number] = ([0.0] * size, set())
        best = window[0]
        for slot, weight in slots[entity]:
            if weight > best[slot]:
                best[slot] = weight
        if crowd[entity]:
            window[1].add(entity)
    return windows


def _strength(scoring: Scoring, best: list[float], crowd: set[int]) -> float:
    # prod multiplies from 1 left to right, as a loop would: the same floats, the same scores
    value = prod(best[: scoring.required]) * scoring.crowd_factor[len(crowd)]
    for slot, keep in scoring.keep:
        if best[slot]:  # a sentence naming a match or a war memorial is about that
            value *= keep
    return value


def either(a: float, b: float) -> float:
    """Noisy-or: independent pieces of evidence add up without passing 1."""
    return 1.0 - (1.0 - a) * (1.0 - b)


def _span(text: str, starts: list[int], index: int, stop: int) -> str:
    return text[starts[index] : starts[index + 1] if index + 1 < len(starts) else stop]


def weigh(
    scoring: Scoring,
    title: str,
    title_entities: Sequence[int],
    text: str,
    bounds: tuple[int, int],
    starts: Sequence[int],
    entities: Sequence[int],
) -> tuple[dict[str, float], list[Counted]]:
    """The title, lead and body parts of the score, and the windows that made them.

    The body is text[bounds[0]:bounds[1]], and starts are its hits' offsets in text.
    """
    counted: list[Counted] = []
    begin, stop = bounds
    required, lead_chars = scoring.required, begin + scoring.lead_chars
    heading, heading_crowd = _windows(scoring, [0] * len(title_entities), title_entities).get(
        0
    ) or (
        [0.0] * scoring.size,
        set(),
    )
    if 0.0 not in heading[:required]:
        value = scoring.title * _strength(scoring, heading, heading_crowd)
        counted.append((value, "title", "title", title))
    partial = any(heading[:required])  # a lead sentence may complete what the title lacks
    sentences, lines = sentence_starts(text, begin, stop)
    # A hit's window number is bisect_right's answer: sentence n starts at sentences[n - 1].
    windows = _windows(scoring, map(bisect_right, repeat(sentences), starts), entities)
    full: set[int] = set()  # paragraphs holding a sentence that counted
    paragraphs: dict[int, Window] = {}  # merged from their sentences; every line starts one
    completed: Counted | None = None  # the best lead sentence completing the title
    top = scoring.lead * scoring.title_context  # no completion is worth more: none beats it
    for number, (best, crowd) in windows.items():
        start = sentences[number - 1]
        line = bisect_right(lines, start)
        paragraph = paragraphs.get(line)
        paragraphs[line] = (
            (best, crowd)
            if paragraph is None
            else (list(map(max, best, paragraph[0])), paragraph[1] | crowd)
        )
        if 0.0 not in best[:required]:
            full.add(line)
            lead = start < lead_chars
            value = (scoring.lead if lead else scoring.body) * _strength(scoring, best, crowd)
            span = _span(text, sentences, number - 1, stop)
            counted.append((value, "lead" if lead else "body", "sentence", span))
        if partial and start < lead_chars and (completed is None or completed[0] < top):
            merged = list(map(max, heading, best))
            if 0.0 not in merged[:required]:
                value = top * _strength(scoring, merged, crowd)
                if value > (completed[0] if completed else 0.0):
                    span = _span(text, sentences, number - 1, stop)
                    completed = (value, "lead", "sentence+title", span)
    if completed:  # the title's part of the evidence counts once, with its best sentence
        counted.append(completed)
    for line, (best, crowd) in paragraphs.items():
        if line not in full and 0.0 not in best[:required]:
            lead = lines[line - 1] < lead_chars
            value = (scoring.lead if lead else scoring.body) * scoring.paragraph
            value *= _strength(scoring, best, crowd)
            span = _span(text, lines, line - 1, stop)
            counted.append((value, "lead" if lead else "body", "paragraph", span))
    parts = {"title": 0.0, "lead": 0.0, "body": 0.0}
    for value, where, _, _ in counted:
        parts[where] = either(parts[where], value)
    return parts, counted
