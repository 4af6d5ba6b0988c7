"""Topic matching: Aho-Corasick alias hits, required groups per sentence, a reasoned score."""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import ahocorasick

from flows.topic import Topic
from warehouse.records import MatchResult

EVIDENCE_WINDOWS = 5  # sentences kept as evidence
SNIPPET_CHARS = 280
ALL_CAPS_MIN = 5  # shorter aliases get no ALL-CAPS variant: "MON", "US" are acronyms already

# Odd spaces break multi-word aliases; extractors leave many non-breaking ones.
_SPACES = "\u00a0\u2007\u202f\u2009\u200a\u2002\u2003"
# A line break, or end punctuation and spaces before anything but a lowercase letter; the
# leading character class lets the regex engine skip ahead (4x faster than an alternation).
_BREAK = re.compile(r"[\n.!?…](?:(?<=\n)\s*|[.!?…]*[\"'”’»)\]]*[ \t]+(?![a-z\s]))")
_SCAN_ORDER = {c: i for i, c in enumerate("etaoinsrhldcumfpgwybvkxjqz")}
_NEVER = " \x00"  # text never holds NUL: _normalise removes it
# Tokens that end with a full stop without ending a sentence (titles, ranks, shorthand).
_ABBREVIATION_TEXT = (
    "Mr Mrs Ms Dr St Gen Col Lt Maj Capt Adm Sgt Prof Sen Rep Gov No Nr Mme Hr gen płk ppłk mjr "
    "kpt adm dr prof inż ks św tzw np ok tys mln mld ul ca bzw wg Wlk"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_TEXT.split())

Hits = list[tuple[int, int, int]]  # (start, stop, entity) in text order


@dataclass(frozen=True, slots=True)
class CompiledTopic:
    """A topic ready to match: the automaton and per-entity lookups."""

    topic: Topic
    version: str
    automaton: Any  # ahocorasick.Automaton: key -> (length, entity, open_end, left, right)
    names: tuple[str, ...]
    groups: tuple[frozenset[str], ...]
    sorted_groups: tuple[tuple[str, ...], ...]  # for the evidence
    weights: tuple[float, ...]
    crowd: tuple[bool, ...]  # the entity is one of the "other states" of rule.crowd
    contrast: tuple[tuple[str, ...], ...]  # the entity's contrast groups


def _variants(alias: str) -> list[str]:
    """The alias, its sentence-start capital and, when long, its headline ALL-CAPS form."""
    out = [alias]
    if alias[0].islower():
        out.append(alias[0].upper() + alias[1:])
    if len(alias.rstrip("*")) >= ALL_CAPS_MIN and alias.upper() != alias:
        out.append(alias.upper())
    return out


@lru_cache(maxsize=16)
def compile_topic(topic: Topic) -> CompiledTopic:
    """Build the automaton once per profile version (cached)."""
    entries: dict[str, tuple[int, int, bool, bool, bool]] = {}
    aliases = [
        (index, alias)
        for index, entity in enumerate(topic.entities)
        for alias in sorted({a for names in entity.aliases.values() for a in names})
    ]
    # Listed aliases first: a generated capital or ALL-CAPS form never takes another's key.
    for generated in (False, True):
        for index, alias in aliases:
            for form in _variants(alias)[1:] if generated else [alias]:
                key = form.rstrip("*")
                entries.setdefault(
                    key, (len(key), index, form.endswith("*"), key[0].isalnum(), key[-1].isalnum())
                )
    # pyahocorasick keeps a node's children in insertion order and scans them one by one, so
    # keys starting with frequent letters go in first, and a key that never completes makes a
    # space find its child at once instead of scanning the whole root: 2x faster.
    automaton = ahocorasick.Automaton()
    automaton.add_word(_NEVER, (0, -1, False, False, False))
    for key in sorted(entries, key=lambda k: (_SCAN_ORDER.get(k[0], len(_SCAN_ORDER)), k)):
        automaton.add_word(key, entries[key])
    automaton.make_automaton()
    crowd = topic.rule.crowd.group if topic.rule.crowd else None
    return CompiledTopic(
        topic=topic,
        version=topic.version,
        automaton=automaton,
        names=tuple(e.name for e in topic.entities),
        groups=tuple(frozenset(e.groups) for e in topic.entities),
        sorted_groups=tuple(tuple(sorted(set(e.groups))) for e in topic.entities),
        weights=tuple(e.weight for e in topic.entities),
        crowd=tuple(crowd in e.groups for e in topic.entities),
        contrast=tuple(
            tuple(g for g in e.groups if g in topic.rule.contrast) for e in topic.entities
        ),
    )


def _normalise(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    for space in _SPACES:  # str.translate would cost more than all the matching
        if space in text:
            text = text.replace(space, " ")
    return text


def find_hits(compiled: CompiledTopic, text: str) -> Hits:
    """Whole-word alias hits as (start, stop, entity), the longest winning overlaps."""
    found: list[tuple[int, int, bool, int]] = []  # (start, -stop, open_end, entity): sorts in C
    size = len(text)
    for end, (length, entity, open_end, left, right) in compiled.automaton.iter(text):
        if entity < 0:  # the scan-order key, should raw text still hold NUL
            continue
        start = end - length + 1
        if left and start > 0 and text[start - 1].isalnum():
            continue
        stop = end + 1
        if open_end:
            while stop < size and text[stop].isalnum():
                stop += 1
        elif right and stop < size and text[stop].isalnum():
            continue
        found.append((start, -stop, open_end, entity))
    # leftmost-longest, an explicit alias before an open one: "energy security" hides "security"
    found.sort()
    hits: Hits = []
    last = 0
    for start, stop, _, entity in found:
        if start >= last:
            hits.append((start, -stop, entity))
            last = -stop
    return hits


def _sentence_starts(text: str) -> tuple[list[int], list[int]]:
    """Start offsets of sentences and of paragraphs (lines)."""
    sentences, paragraphs = [0], [0]
    for m in _BREAK.finditer(text):
        end = m.end()
        if text[m.start()] == "\n":
            paragraphs.append(end)
        else:
            token = text[text.rfind(" ", max(0, m.start() - 12), m.start()) + 1 : m.start()]
            if "." in token or (len(token) == 1 and token.isupper()) or token in _ABBREVIATIONS:
                continue  # "U.S. Navy", "J. Smith", "Gen. Smith"
        sentences.append(end)
    return sentences, paragraphs


@dataclass(slots=True)
class _Window:
    """A title, sentence or paragraph: the strongest weight per group and the other states in it."""

    start: int
    best: dict[str, float] = field(default_factory=dict)
    crowd: set[int] = field(default_factory=set)


def _windows(compiled: CompiledTopic, hits: Hits, starts: list[int]) -> dict[int, _Window]:
    """The windows that hold hits, by index into starts."""
    groups, weights, crowd = compiled.groups, compiled.weights, compiled.crowd  # hot loop
    windows: dict[int, _Window] = {}
    index, following = 0, starts[1] if len(starts) > 1 else None
    for start, _, entity in hits:  # hits are in text order: walk the starts alongside
        if following is not None and start >= following:
            index = bisect.bisect_right(starts, start, index) - 1
            following = starts[index + 1] if index + 1 < len(starts) else None
        window = windows.get(index)
        if window is None:
            window = windows[index] = _Window(starts[index])
        if crowd[entity]:
            window.crowd.add(entity)
        weight, best = weights[entity], window.best
        for group in groups[entity]:
            if weight > best.get(group, 0.0):
                best[group] = weight
    return windows


def _strength(compiled: CompiledTopic, best: dict[str, float], crowd: set[int]) -> float:
    rule = compiled.topic.rule
    value = 1.0
    for group in rule.require:
        value *= best.get(group, 0.0)
    if rule.crowd:
        value *= max(0.0, 1.0 - rule.crowd.step * max(0, len(crowd) - rule.crowd.free))
    for group, contrast in rule.contrast.items():
        if group in best:  # a sentence naming a match or a war memorial is about that
            value *= 1.0 - contrast.max
    return value


def _either(a: float, b: float) -> float:
    """Noisy-or: independent pieces of evidence add up without passing 1."""
    return 1.0 - (1.0 - a) * (1.0 - b)


def _span(text: str, starts: list[int], index: int) -> str:
    return text[starts[index] : starts[index + 1] if index + 1 < len(starts) else len(text)]


def _score(
    compiled: CompiledTopic, title: str, text: str, title_hits: Hits, text_hits: Hits
) -> tuple[dict[str, float], list[tuple[float, str, str, str]]]:
    """The title, lead and body parts of the score, and the windows that made them."""
    rule, required = compiled.topic.rule, set(compiled.topic.rule.require)
    parts = {"title": 0.0, "lead": 0.0, "body": 0.0}
    counted: list[tuple[float, str, str, str]] = []  # (contribution, where, unit, text)

    def add(value: float, where: str, unit: str, snippet: str) -> None:
        parts[where] = _either(parts[where], value)
        counted.append((value, where, unit, snippet))

    heading = _windows(compiled, title_hits, [0]).get(0, _Window(0))
    if required <= heading.best.keys():
        value = rule.weights.title * _strength(compiled, heading.best, heading.crowd)
        add(value, "title", "title", title)
    lacks = required - heading.best.keys()  # what a lead sentence must add to a partial title
    sentence_starts, paragraph_starts = _sentence_starts(text)
    paragraphs: dict[int, _Window] = {}  # merged from their sentences; every line starts one
    full: set[int] = set()  # paragraphs holding a sentence that counted
    completed: tuple[float, str] = (0.0, "")  # the best lead sentence completing the title
    for index, window in _windows(compiled, text_hits, sentence_starts).items():
        where = "lead" if window.start < rule.lead_chars else "body"
        at = bisect.bisect_right(paragraph_starts, window.start) - 1
        paragraph = paragraphs.get(at) or paragraphs.setdefault(at, _Window(paragraph_starts[at]))
        paragraph.crowd |= window.crowd
        for group, weight in window.best.items():
            paragraph.best[group] = max(weight, paragraph.best.get(group, 0.0))
        if required <= window.best.keys():
            full.add(at)
            value = getattr(rule.weights, where) * _strength(compiled, window.best, window.crowd)
            add(value, where, "sentence", _span(text, sentence_starts, index))
        if where == "lead" and lacks != required and lacks <= window.best.keys():
            best = {
                g: max(heading.best.get(g, 0.0), window.best.get(g, 0.0))
                for g in heading.best.keys() | window.best.keys()
            }
            value = rule.weights.lead * rule.title_context * _strength(compiled, best, window.crowd)
            if value > completed[0]:
                completed = (value, _span(text, sentence_starts, index))
    if completed[0]:  # the title's part of the evidence counts once, with its best sentence
        add(completed[0], "lead", "sentence+title", completed[1])
    for index, window in paragraphs.items():
        if index not in full and required <= window.best.keys():
            where = "lead" if window.start < rule.lead_chars else "body"
            value = getattr(rule.weights, where) * rule.paragraph
            value *= _strength(compiled, window.best, window.crowd)
            add(value, where, "paragraph", _span(text, paragraph_starts, index))
    return parts, counted


def match_text(
    compiled: CompiledTopic, *, title: str, text: str, language: str | None = None
) -> MatchResult:
    """Score one article against one topic; the evidence says which names and sentences counted."""
    # `language` is only recorded: every alias applies to every text, because pages quote
    # names, programmes and units in their original language.
    rule, required = compiled.topic.rule, set(compiled.topic.rule.require)
    title, text = _normalise(title.strip()), _normalise(text)
    head = text.lstrip()
    newline = head.find("\n")
    if title and newline > 0 and head[:newline].strip() == title:
        text = head[newline + 1 :]  # pages often repeat the headline as their first line
    title_hits, text_hits = find_hits(compiled, title), find_hits(compiled, text)

    written: dict[tuple[int, str], int] = {}  # (entity, alias as written) -> count
    contrast: dict[str, int] = {}
    for source, hits, weight in ((title, title_hits, 2), (text, text_hits, 1)):
        for start, stop, entity in hits:
            key = (entity, source[start:stop])
            written[key] = written.get(key, 0) + 1
            for group in compiled.contrast[entity]:  # title hits count twice
                contrast[group] = contrast.get(group, 0) + weight
    found: dict[int, dict[str, int]] = {}  # entity -> alias as written -> count
    for (entity, alias), count in sorted(written.items(), key=lambda kv: -kv[1]):
        found.setdefault(entity, {})[alias] = count
    present = {g for e in found for g in compiled.groups[e]}

    if required <= present:
        parts, counted = _score(compiled, title, text, title_hits, text_hits)
    else:  # most articles: nothing to weigh
        parts, counted = {"title": 0.0, "lead": 0.0, "body": 0.0}, []
    positive = _either(_either(parts["title"], parts["lead"]), parts["body"])
    penalties = {
        g: min(c.max, c.per_hit * contrast[g]) for g, c in rule.contrast.items() if g in contrast
    }
    score = round(positive * max(0.0, 1.0 - sum(penalties.values())), 4)

    order = sorted(found, key=lambda e: (-sum(found[e].values()), compiled.names[e]))
    counted.sort(key=lambda c: -c[0])
    windows = [
        {"where": w, "unit": u, "weight": round(v, 4), "text": " ".join(t.split())[:SNIPPET_CHARS]}
        for v, w, u, t in counted[:EVIDENCE_WINDOWS]
    ]
    evidence: dict[str, Any] = {
        "language": language,
        "entities": {
            compiled.names[e]: {
                "groups": list(compiled.sorted_groups[e]),
                "count": sum(found[e].values()),
                "aliases": found[e],
            }
            for e in order
        },
        "missing": sorted(required - present),
        "windows": windows,
        "parts": {
            **{k: round(v, 4) for k, v in parts.items()},
            "positive": round(positive, 4),
            "penalties": {g: round(p, 4) for g, p in penalties.items()},
        },
        "threshold": rule.threshold,
    }
    return MatchResult(
        topic=compiled.topic.id,
        score=score,
        matched=score >= rule.threshold,
        entities=tuple(compiled.names[e] for e in order),
        evidence=evidence,
        profile_version=compiled.version,
    )
