"""Where a name stands: a capital after "in" is a venue, an item of a list is not a pair.

Each rule weakens a hit by moving it to a shadow entity: a copy of its entity with part of
its weight (flows.matching.scoring.scoring_for), so the scoring itself stays unchanged.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from flows.matching.scoring import Fired, note
from flows.topic import Topic

LIST_ITEM_WORDS = 3  # an item inside a list is a few words: "trade", "the energy sector"
_CLAUSE_END = re.compile(r'[.!?:;()\[\]\n\x00"“”«»„]')

# a clause's separators (a joiner in them?), items, short items, and item starts
Pieces = tuple[list[bool], list[tuple[int, int]], list[bool], list[int]]

Hit = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Wording:
    """A topic's venue and list rules, ready to apply to one text's hits."""

    shadows: tuple[tuple[int, float], ...]  # shadow k is entity base + k: (entity, weight share)
    venue_of: dict[int, int] = field(hash=False)  # place entity -> its venue shadow
    venue_words: frozenset[str]
    listed_of: dict[int, int] = field(hash=False)  # substance word entity -> its passing shadow
    substance: frozenset[int]  # every entity of the listed group, shadows included
    items: int  # items that make a list of substance words
    party_of: dict[int, int] = field(hash=False)  # party entity -> its shadow inside a list
    states: dict[int, object] = field(hash=False)  # entity naming a state -> which state
    others: frozenset[int]  # entities naming another state
    list_at: int  # state items that make a list of states (0: no such rule)
    separator: re.Pattern[str] | None  # between list items: a comma, or a joiner
    joiner: re.Pattern[str] | None  # a joiner between two words

    def weaken(self, padded: str, hits: list[Hit], fired: Fired) -> list[int]:
        """The entity of each hit, a venue, a listed party or a passing word moved to its shadow."""
        out = [entity for _, _, entity in hits]
        at = [start for start, _, _ in hits]
        ends = [m.start() for m in _CLAUSE_END.finditer(padded)]  # the NULs are among them
        clauses: dict[int, Pieces] = {}
        # a list of states holds another state: most texts name none and skip the search
        others = self.list_at and any(e in self.others for e in out)
        listing: dict[int, bool] = {}  # clause (by its end) -> holds a comma and a joiner

        def in_list(stop: int) -> bool:
            after = bisect_left(ends, stop)
            found = listing.get(after)
            if found is None:
                begin, end = ends[after - 1] + 1, ends[after]
                found = listing[after] = padded.find(",", begin, end) >= 0 and bool(
                    self.joiner is not None and self.joiner.search(padded, begin, end)
                )
            return found

        for index, (start, stop, entity) in enumerate(hits):
            shadow = self.venue_of.get(entity)
            if shadow is not None:
                word = _word_before(padded, start)
                if word in self.venue_words:
                    out[index] = shadow
                    note(fired, "venue", f"{word} {padded[start:stop]}")
                continue
            shadow = self.party_of.get(entity)
            if shadow is not None:
                if not others or not in_list(stop):
                    continue
                pieces = self._list_around(padded, ends, clauses, start, stop, 3)
                # each other state counts, and each side of the pair once: "Poland, Malbork"
                # names one state
                named = {
                    self.states[hits[k][2]]
                    for a, b in pieces
                    for k in range(bisect_left(at, a), bisect_left(at, b))
                    if hits[k][2] in self.states
                }
                if len(named) >= self.list_at:
                    out[index] = shadow
                    note(fired, "list", padded[pieces[0][0] : pieces[-1][1]])
                continue
            shadow = self.listed_of.get(entity)
            if shadow is not None and in_list(stop):
                pieces = self._list_around(padded, ends, clauses, start, stop, self.items)
                if pieces and not any(
                    k != index and hits[k][2] in self.substance
                    for k in range(bisect_left(at, pieces[0][0]), bisect_left(at, pieces[-1][1]))
                ):
                    out[index] = shadow
                    note(fired, "passing", padded[pieces[0][0] : pieces[-1][1]])
        return out

    def _list_around(
        self,
        padded: str,
        ends: list[int],
        clauses: dict[int, Pieces],
        start: int,
        stop: int,
        items: int,
    ) -> list[tuple[int, int]]:
        """The items of the list the hit is one short item of, with a comma among them, or []."""
        if self.separator is None:
            return []
        after = bisect_left(ends, stop)
        begin, end = ends[after - 1] + 1, ends[after]  # the clause: no list crosses its ends
        if padded.find(",", begin, end) < 0:  # every list has a comma
            return []
        cached = clauses.get(begin)
        if cached is None:
            cuts = list(self.separator.finditer(padded, begin, end))
            bounds = [begin, *(x for m in cuts for x in m.span()), end]
            pieces = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
            short = [0 < len(padded[a:b].split()) <= LIST_ITEM_WORDS for a, b in pieces]
            joined = [bool(m.group().strip(", \t")) for m in cuts]
            cached = clauses[begin] = (joined, pieces, short, bounds[::2])
        joined, pieces, short, starts = cached
        here = bisect_right(starts, start) - 1
        if stop > pieces[here][1] or not short[here]:  # the hit spans a separator, or is long
            return []
        if len(padded[start:stop].split()) < len(padded[slice(*pieces[here])].split()) - 1:
            return []  # more than one word around the hit: "security cooperation with X"
        first = last = here
        while first > 0 and short[first - 1]:
            first -= 1
        while last < len(pieces) - 1 and short[last + 1]:
            last += 1
        # the first and last items often run into the clause: "ministers from X", "Y met"
        first, last = max(0, first - 1), min(len(pieces) - 1, last + 1)
        # "A, B, C and D": commas between the items, a joiner only before the last one
        end = here
        if not (here > first and joined[here - 1]):  # the hit is not the last item: find it
            while end < last and not joined[end]:
                end += 1
            if end == last:
                return []
            end += 1
        head = end - 1
        while head > first and not joined[head - 1]:
            head -= 1
        if end - head + 1 < items:
            return []
        return pieces[head : end + 1]


def _word_before(padded: str, start: int) -> str:
    """The word just before a hit, lowercase ("" when no plain space separates them)."""
    if padded[start - 1] != " ":
        return ""
    at = start - 1
    while padded[at - 1].isalpha():  # the text starts with a NUL, so this stops
        at -= 1
    return padded[at : start - 1].lower()


def wording_for(topic: Topic) -> Wording:
    """The shadows and lookups of a topic's venue and list rules (none when it has neither)."""
    rule, base, entities = topic.rule, len(topic.entities), topic.entities
    shadows: list[tuple[int, float]] = []

    def shadow(index: int, share: float) -> int:
        shadows.append((index, share))
        return base + len(shadows) - 1

    venue_of: dict[int, int] = {}
    if rule.venue:
        places = set(rule.venue.places)
        for index, entity in enumerate(entities):
            if entity.name in places:
                venue_of[index] = shadow(index, rule.venue.weight)
    party_of: dict[int, int] = {}
    states: dict[int, object] = {}
    others: set[int] = set()
    crowd = rule.crowd
    if crowd and crowd.list_at:
        for index, entity in enumerate(entities):
            sides = tuple(g for g in entity.groups if g in crowd.parties)
            if crowd.group in entity.groups:
                others.add(index)
                states[index] = index
            elif sides:
                states[index] = sides
            if sides and index not in venue_of:
                party_of[index] = shadow(index, 0.0)  # a party in a list is no party
    listed_of: dict[int, int] = {}
    substance: set[int] = set()
    if rule.listed:
        group = rule.listed.group
        for index, entity in enumerate(entities):
            if group in entity.groups:
                substance.add(index)
            if entity.groups == (group,):  # a name that also names a party is never passing
                listed_of[index] = shadow(index, rule.listed.weight)
                substance.add(listed_of[index])
    separator = joiner = None
    if rule.joiners:
        joiners = "|".join(map(re.escape, sorted(rule.joiners, key=len, reverse=True)))
        separator = re.compile(rf"\s*,\s*(?:(?:{joiners})\s+)?|\s+(?:{joiners})\s+")
        joiner = re.compile(rf"\s(?:{joiners})\s")
    words = {w.lower() for ws in (rule.venue.after.values() if rule.venue else ()) for w in ws}
    return Wording(
        shadows=tuple(shadows),
        venue_of=venue_of,
        venue_words=frozenset(words),
        listed_of=listed_of,
        substance=frozenset(substance),
        items=rule.listed.items if rule.listed else 0,
        party_of=party_of,
        states=states,
        others=frozenset(others),
        list_at=crowd.list_at if crowd and crowd.list_at else 0,
        separator=separator,
        joiner=joiner,
    )
