"""Scoring: the title, sentences and paragraphs that hold every required group, by place."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from math import prod

from flows.matching.sentences import sentence_starts
from flows.topic import Topic

# A window's strongest weight per scored group, by slot (0.0 where absent), and the other
# states named in it.
Window = tuple[list[float], set[int]]
Counted = tuple[float, str, str, str]  # (contribution, where, unit, text)
NOTES_KEPT = 3  # places kept per rule fired
NOTE_CHARS = 160


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
    # contrast (slot, group, share of sentences, share of matching ones) for flows.topic.Background
    background: tuple[tuple[int, str, float, float], ...]
    carrier: tuple[bool, ...]  # entity -> a back-reference ("the two countries")
    carried: tuple[int, ...]  # the slots a back-reference takes from the sentence before
    carry_weight: float
    partner: tuple[int, ...]  # the parties' slots, when a title's other partner counts
    adjacent: float  # share for two neighbouring sentences holding the groups (0.0: no rule)
    adjacent_each: tuple[int, ...]  # the slots each of the two must hold itself
    adjacent_sides: tuple[int, ...]  # the slots naming both sides, when one sentence holds them


def scoring_for(topic: Topic, shadows: Sequence[tuple[int, float]] = ()) -> Scoring:
    """The rule and the entities' groups, flattened once per profile.

    Shadows are extra entities after the topic's own: (entity copied, share of its weight),
    for a name the rules weaken where it stands (a venue, one word in a list).
    """
    rule, crowd = topic.rule, topic.rule.crowd
    scored = [*rule.require, *rule.contrast]
    entities = [(e.groups, e.weight) for e in topic.entities]
    entities += [(entities[i][0], entities[i][1] * share) for i, share in shadows]
    carry = rule.carry
    return Scoring(
        slots=tuple(
            tuple((scored.index(g), weight) for g in groups if g in scored)
            for groups, weight in entities
        ),
        size=len(scored),
        crowd=tuple(crowd is not None and crowd.group in groups for groups, _ in entities),
        required=len(rule.require),
        keep=tuple((scored.index(g), 1.0 - c.max) for g, c in rule.contrast.items()),
        crowd_factor=tuple(
            max(0.0, 1.0 - crowd.step * max(0, n - crowd.free)) if crowd else 1.0
            for n in range(len(entities) + 1)
        ),
        title=rule.weights.title,
        lead=rule.weights.lead,
        body=rule.weights.body,
        paragraph=rule.paragraph,
        title_context=rule.title_context,
        lead_chars=rule.lead_chars,
        background=tuple(
            (scored.index(g), g, c.background.sentences, c.background.evidence)
            for g, c in rule.contrast.items()
            if c.background is not None
        ),
        carrier=tuple(carry is not None and carry.group in groups for groups, _ in entities),
        carried=tuple(scored.index(g) for g in carry.groups if g in rule.require) if carry else (),
        carry_weight=carry.weight if carry else 0.0,
        partner=tuple(scored.index(g) for g in crowd.parties if g in rule.require)
        if crowd and crowd.title_partner
        else (),
        adjacent=rule.adjacent.weight if rule.adjacent else 0.0,
        adjacent_each=tuple(scored.index(g) for g in rule.adjacent.each) if rule.adjacent else (),
        adjacent_sides=tuple(scored.index(g) for g in rule.adjacent.sides) if rule.adjacent else (),
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


def _strength(
    scoring: Scoring, best: list[float], crowd: set[int], context: frozenset[int] = frozenset()
) -> float:
    # prod multiplies from 1 left to right, as a loop would: the same floats, the same scores
    value = prod(best[: scoring.required]) * scoring.crowd_factor[len(crowd)]
    for slot, keep in scoring.keep:
        # a sentence naming a match or a war memorial is about that, unless it is background
        if best[slot] and slot not in context:
            value *= keep
    return value


def either(a: float, b: float) -> float:
    """Noisy-or: independent pieces of evidence add up without passing 1."""
    return 1.0 - (1.0 - a) * (1.0 - b)


def _span(text: str, starts: list[int], index: int, stop: int) -> str:
    return text[starts[index] : starts[index + 1] if index + 1 < len(starts) else stop]


def _partnered(
    scoring: Scoring,
    heading: list[float],
    others: set[int],
    title_entities: Sequence[int],
    entities: Sequence[int],
) -> str:
    """Why a title naming another state tells that partnership's story, or "": it holds every
    required group but one party, and the text names the title's other states more often
    than that party (a war named as the place, "the border with Ukraine", is no
    partner)."""
    missing = [slot for slot in range(scoring.required) if not heading[slot]]
    if len(missing) != 1 or missing[0] not in scoring.partner:
        return ""
    slot, slots = missing[0], scoring.slots
    # title hits count twice, as for the contrast penalties
    other = 2 * sum(e in others for e in title_entities) + sum(e in others for e in entities)
    side = sum(1 for e in entities for s, _ in slots[e] if s == slot)
    return f"the other state {other}x, the missing side {side}x" if other > side else ""


def _end(starts: Sequence[int], number: int, stop: int) -> int:
    """Where sentence `number` (1-based) ends."""
    return starts[number] if number < len(starts) else stop


def _adjacent(
    scoring: Scoring, windows: dict[int, Window], numbers: list[int]
) -> tuple[int, list[float], set[int]] | None:
    """The strongest two neighbouring sentences that hold every required group between them,
    share one (or one names all `adjacent.sides`), and each hold the `adjacent.each` groups:
    (first sentence, merged best, crowd)."""
    required, each, sides = scoring.required, scoring.adjacent_each, scoring.adjacent_sides
    found: tuple[int, list[float], set[int]] | None = None
    strongest = 0.0
    for first, second in pairwise(numbers):
        if second != first + 1:
            continue
        (a, a_crowd), (b, b_crowd) = windows[first], windows[second]
        if not all(a[slot] and b[slot] for slot in each):
            continue
        # one continues the other: a required group in both ("Starmer arrived in Poland. He
        # said Britain would spend more on defence"), or one names both sides and the other
        # says what they agreed ("Britain and Poland signed a treaty. It covers missiles"),
        # not two unrelated sentences that happen to meet
        if not any(a[slot] and b[slot] for slot in range(required)) and not (
            sides and (all(a[slot] for slot in sides) or all(b[slot] for slot in sides))
        ):
            continue
        merged = list(map(max, a, b))
        if 0.0 in merged[:required]:
            continue
        value = prod(merged[:required])
        if value > strongest:
            strongest, found = value, (first, merged, a_crowd | b_crowd)
    return found


Fired = dict[str, list[str]]  # rule -> where it applied, for the evidence


def note(fired: Fired, rule: str, text: str) -> None:
    """Record where a rule applied, a few places per rule, each on one short line."""
    notes = fired.setdefault(rule, [])
    if len(notes) < NOTES_KEPT:
        notes.append(" ".join(text.split())[:NOTE_CHARS])


def _context(
    scoring: Scoring, heading: list[float], windows: dict[int, Window], sentences: int
) -> tuple[frozenset[int], list[str]]:
    """The contrast slots whose hits are background here (see flows.topic.Background)."""
    slots, notes, required = [], [], scoring.required
    body = [best for best, _ in windows.values()]
    evidence = [best for best in (heading, *body) if 0.0 not in best[:required]]
    for slot, group, share, of_evidence in scoring.background:
        named = sum(1 for best in body if best[slot])
        cited = sum(1 for best in evidence if best[slot])
        titled = 2 if heading[slot] else 0  # the title counts twice, as for the penalties
        if not named and not titled:
            continue
        # a headline may recall an anniversary: the body must name it twice for it to count
        if named >= 2 and named + titled >= share * (sentences + 2):
            verdict = (
                f"{group} is the subject: named in {named + titled} of {sentences + 2} sentences"
            )
        elif evidence and cited >= of_evidence * len(evidence):
            verdict = f"{group} is the subject: in {cited} of {len(evidence)} matching sentences"
        else:
            slots.append(slot)
            notes.append(
                f"{group} is background: named in {named + titled} of {sentences + 2} sentences, "
                f"{cited} of {len(evidence)} matching"
            )
            continue
        notes.append(verdict)
    return frozenset(slots), notes


def _carry(
    scoring: Scoring,
    heading: list[float],
    windows: dict[int, Window],
    numbers: Sequence[int],
    entities: Sequence[int],
) -> set[int]:
    """Give a sentence holding a back-reference the carried groups of the sentence before it
    (the title, before the first sentence: "Warsaw and London… The two countries' ministers")."""
    carrier, carried, share = scoring.carrier, scoring.carried, scoring.carry_weight
    taken: set[int] = set()
    for number in sorted({n for n, e in zip(numbers, entities, strict=True) if carrier[e]})[::-1]:
        window = windows.get(number - 1)
        before = heading if number == 1 else window[0] if window else None
        if before is None or not all(before[slot] for slot in carried):
            continue
        best = windows[number][0]
        # from the highest number down: the sentence before is unchanged; the pair is one
        # reference, so the share applies once to its strength, not to each side
        for index, slot in enumerate(carried):
            best[slot] = max(best[slot], before[slot] * (share if index == 0 else 1.0))
        taken.add(number)
    return taken


# Long by design: the per-window loop of the hot path (see match_text); its steps share
# the windows, the lead bound and the title's partial groups.
def weigh(
    scoring: Scoring,
    title: str,
    title_entities: Sequence[int],
    text: str,
    bounds: tuple[int, int],
    starts: Sequence[int],
    entities: Sequence[int],
) -> tuple[dict[str, float], list[Counted], Fired, set[str]]:
    """The title, lead and body parts, the windows that made them, the rules fired, and the
    contrast groups that are only background here.

    The body is text[bounds[0]:bounds[1]], and starts are its hits' offsets in text.
    """
    counted: list[Counted] = []
    fired: Fired = {}
    begin, stop = bounds
    required, lead_chars = scoring.required, begin + scoring.lead_chars
    heading, heading_crowd = _windows(scoring, [0] * len(title_entities), title_entities).get(
        0
    ) or (
        [0.0] * scoring.size,
        set(),
    )
    sentences, lines = sentence_starts(text, begin, stop)
    # A hit's window number is bisect_right's answer: sentence n starts at sentences[n - 1].
    numbers = [bisect_right(sentences, at) for at in starts]
    windows = _windows(scoring, numbers, entities)
    context: frozenset[int] = frozenset()
    background: set[str] = set()
    if scoring.background:
        context, notes = _context(scoring, heading, windows, len(sentences))
        if notes:
            fired["background"] = notes
            background = {g for slot, g, _, _ in scoring.background if slot in context}
    taken = _carry(scoring, heading, windows, numbers, entities) if scoring.carried else set()
    if 0.0 not in heading[:required]:
        value = scoring.title * _strength(scoring, heading, heading_crowd, context)
        counted.append((value, "title", "title", title))
    partial = any(heading[:required])  # a lead sentence may complete what the title lacks
    if partial and heading_crowd and scoring.partner:
        partner = _partnered(scoring, heading, heading_crowd, title_entities, entities)
        if partner:
            partial = False
            note(fired, "partner", f"{title} ({partner})")
    full: set[int] = set()  # paragraphs holding a sentence that counted
    paragraphs: dict[int, Window] = {}  # merged from their sentences; every line starts one
    members: dict[int, list[int]] = {}  # paragraph -> its sentences with hits, in order
    completed: Counted | None = None  # the best lead sentence completing the title
    top = scoring.lead * scoring.title_context  # no completion is worth more: none beats it
    for number, (best, crowd) in windows.items():
        start = sentences[number - 1]
        line = bisect_right(lines, start)
        paragraph = paragraphs.get(line)
        members.setdefault(line, []).append(number)
        paragraphs[line] = (
            (best, crowd)
            if paragraph is None
            else (list(map(max, best, paragraph[0])), paragraph[1] | crowd)
        )
        if 0.0 not in best[:required]:
            full.add(line)
            lead = start < lead_chars
            value = (scoring.lead if lead else scoring.body) * _strength(
                scoring, best, crowd, context
            )
            span = _span(text, sentences, number - 1, stop)
            counted.append((value, "lead" if lead else "body", "sentence", span))
            if number in taken:
                note(fired, "carry", span)
        if partial and start < lead_chars and (completed is None or completed[0] < top):
            merged = list(map(max, heading, best))
            if 0.0 not in merged[:required]:
                # a title that is a list keeps its lead sentences a list
                listing = heading_crowd if len(heading_crowd) > len(crowd) else crowd
                value = top * _strength(scoring, merged, listing, context)
                if value > (completed[0] if completed else 0.0):
                    span = _span(text, sentences, number - 1, stop)
                    completed = (value, "lead", "sentence+title", span)
    if completed:  # the title's part of the evidence counts once, with its best sentence
        counted.append(completed)
    for line, (best, crowd) in paragraphs.items():
        if line not in full and 0.0 not in best[:required]:
            lead = lines[line - 1] < lead_chars
            value = scoring.lead if lead else scoring.body
            pair = _adjacent(scoring, windows, members[line]) if scoring.adjacent else None
            if pair is None:
                value *= scoring.paragraph
                value *= _strength(scoring, best, crowd, context)
                unit, span = "paragraph", _span(text, lines, line - 1, stop)
            else:
                value *= scoring.adjacent
                value *= _strength(scoring, *pair[1:], context)
                unit = "sentences"
                span = text[sentences[pair[0] - 1] : _end(sentences, pair[0] + 1, stop)]
                note(fired, "adjacent", span)
            counted.append((value, "lead" if lead else "body", unit, span))
    parts = {"title": 0.0, "lead": 0.0, "body": 0.0}
    for value, where, _, _ in counted:
        parts[where] = either(parts[where], value)
    return parts, counted, fired, background
