"""Topic matching: alias hits, required groups per sentence, a reasoned score."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any

from flows.matching.aliases import build_automaton, normalise, scan
from flows.matching.scoring import Scoring, either, scoring_for, weigh
from flows.matching.wording import Wording, wording_for
from flows.topic import Topic
from warehouse.evidence import EntityEvidence, Evidence, ScoreParts, Window
from warehouse.records import MatchResult

EVIDENCE_WINDOWS = 5  # sentences kept as evidence
SNIPPET_CHARS = 280


@dataclass(frozen=True, slots=True)
class CompiledTopic:
    """A topic ready to match: the automaton and per-entity lookups."""

    topic: Topic
    version: str
    automaton: Any  # ahocorasick.Automaton, see flows.matching.aliases.build_automaton
    entity_of: dict[str, int] = field(hash=False)  # plain-word key -> its entity
    names: tuple[str, ...]
    name_order: tuple[int, ...]  # the entity's place among the names sorted
    groups: tuple[frozenset[str], ...]
    sorted_groups: tuple[tuple[str, ...], ...]  # for the evidence
    contrast: tuple[tuple[str, ...], ...]  # the entity's contrast groups
    contrasted: frozenset[int]  # the entities in a contrast group
    required: frozenset[str]
    scoring: Scoring
    wording: Wording  # where a name stands weakens it: a venue, one word in a list


@lru_cache(maxsize=16)
def compile_topic(topic: Topic) -> CompiledTopic:
    """Build the automaton and lookups once per profile version (cached)."""
    names = tuple(e.name for e in topic.entities)
    place = {name: index for index, name in enumerate(sorted(set(names)))}
    automaton = build_automaton(topic)
    wording = wording_for(topic)
    return CompiledTopic(
        topic=topic,
        version=topic.version,
        automaton=automaton,
        entity_of={key: entity for key, (_, entity, plain) in automaton.items() if plain},
        names=names,
        name_order=tuple(place[name] for name in names),
        groups=tuple(frozenset(e.groups) for e in topic.entities),
        sorted_groups=tuple(tuple(sorted(set(e.groups))) for e in topic.entities),
        contrast=tuple(
            tuple(g for g in e.groups if g in topic.rule.contrast) for e in topic.entities
        ),
        contrasted=frozenset(
            i for i, e in enumerate(topic.entities) if set(e.groups) & set(topic.rule.contrast)
        ),
        required=frozenset(topic.rule.require),
        scoring=scoring_for(topic, wording.shadows),
        wording=wording,
    )


def _snippet(text: str) -> str:
    """The text on one line, spaces collapsed, cut short."""
    text = text.strip()
    # printable: no whitespace but plain spaces, so only runs of them need collapsing
    if not text.isprintable() or "  " in text:
        text = " ".join(text.split())
    return text[:SNIPPET_CHARS]


# Long by design: the matcher's hot path keeps its locals in one frame (bench/match_speed.py
# measures it: ~70 µs per dense excerpt, where every call and attribute lookup shows).
def match_text(
    compiled: CompiledTopic, *, title: str, text: str, language: str | None = None
) -> MatchResult:
    """Score one article against one topic; the evidence says which names and sentences counted."""
    # `language` is only recorded: every alias applies to every text, because pages quote
    # names, programmes and units in their original language.
    rule, required = compiled.topic.rule, compiled.required
    title, text = normalise(title.strip()), normalise(text)
    head = text.lstrip()
    newline = head.find("\n")
    if title and newline > 0 and head[:newline].strip() == title:
        text = head[newline + 1 :]  # pages often repeat the headline as their first line
    # One pass over both: title hits end before its NUL, and the text starts after it.
    padded = f"\x00{title}\x00{text}\x00"
    hits, written, odd = scan(compiled.automaton, padded)
    split = bisect_left(hits, (len(title) + 1,))
    starts, _, entities = zip(*hits, strict=True) if hits else ((), (), ())

    found: dict[int, dict[str, int]] = {}  # entity -> alias as written -> count, most first
    totals: dict[int, int] = {}  # entity -> hits
    for alias, count in sorted(written.items(), key=itemgetter(1), reverse=True):
        # The same keys fit a text wherever it stands, so an alias as written names one entity.
        entity = odd[alias] if alias in odd else compiled.entity_of[alias]
        aliases = found.get(entity)
        if aliases is None:
            found[entity] = {alias: count}
            totals[entity] = count
        else:
            aliases[alias] = count
            totals[entity] += count
    contrast: dict[str, int] = {}
    for entity in compiled.contrasted.intersection(totals):
        hits_twice = totals[entity] + entities[:split].count(entity)  # title hits count twice
        for group in compiled.contrast[entity]:
            contrast[group] = contrast.get(group, 0) + hits_twice
    present = set().union(*map(compiled.groups.__getitem__, totals))

    fired: dict[str, list[str]] = {}
    background: set[str] = set()
    if required <= present:
        weighed = (
            compiled.wording.weaken(padded, hits, fired) if compiled.wording.shadows else entities
        )
        parts, counted, fired_in_windows, background = weigh(
            compiled.scoring,
            title,
            weighed[:split],
            padded,
            (len(title) + 2, len(padded) - 1),
            starts[split:],
            weighed[split:],
        )
        fired.update(fired_in_windows)
    else:  # most articles: nothing to weigh
        parts, counted = {"title": 0.0, "lead": 0.0, "body": 0.0}, []
    positive = either(either(parts["title"], parts["lead"]), parts["body"])
    penalties = (
        {
            g: min(c.max, c.per_hit * contrast[g])
            for g, c in rule.contrast.items()
            if g in contrast and g not in background
        }
        if contrast
        else {}
    )
    score = round(positive * max(0.0, 1.0 - sum(penalties.values())), 4)

    # most hits first, then by name: stable sorts, the second one deciding
    order = sorted(found, key=compiled.name_order.__getitem__)
    order.sort(key=totals.__getitem__, reverse=True)
    counted.sort(key=itemgetter(0), reverse=True)
    windows = tuple(
        Window(where=w, unit=u, weight=round(v, 4), text=_snippet(t))
        for v, w, u, t in counted[:EVIDENCE_WINDOWS]
    )
    evidence = Evidence(
        language=language,
        entities={
            compiled.names[e]: EntityEvidence(
                groups=compiled.sorted_groups[e], count=totals[e], aliases=found[e]
            )
            for e in order
        },
        missing=tuple(sorted(required - present)),
        windows=windows,
        parts=ScoreParts(
            title=round(parts["title"], 4),
            lead=round(parts["lead"], 4),
            body=round(parts["body"], 4),
            positive=round(positive, 4),
            penalties={g: round(p, 4) for g, p in penalties.items()},
        ),
        rules={name: tuple(where) for name, where in fired.items()},  # matching.wording, scoring
        threshold=rule.threshold,
    )
    return MatchResult(
        topic=compiled.topic.id,
        score=score,
        matched=score >= rule.threshold,
        entities=tuple(map(compiled.names.__getitem__, order)),
        evidence=evidence,
        profile_version=compiled.version,
    )
