"""Alias hits: every name of a topic in one Aho-Corasick automaton, found as whole words."""

from __future__ import annotations

import unicodedata
from typing import Any

import ahocorasick

from flows.topic import Topic

ALL_CAPS_MIN = 5  # shorter aliases get no ALL-CAPS variant: "MON", "US" are acronyms already

# Odd spaces break multi-word aliases; extractors leave many non-breaking ones.
_SPACES = "\u00a0\u2007\u202f\u2009\u200a\u2002\u2003"
_SCAN_ORDER = {c: i for i, c in enumerate("etaoinsrhldcumfpgwybvkxjqz")}
_NEVER = " \x00"  # text never holds NUL: normalise removes it

Hit = tuple[int, int, int]  # (start, stop, entity) in the text scanned


# Words an English headline in Title Case leaves lowercase; elsewhere they are joiners anyway.
_TITLE_LOWER = frozenset(
    ["a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "vs"]
)


def _variants(alias: str) -> list[str]:
    """The alias, its sentence-start capital, its headline Title Case ("Armed Forces") and,
    when long, its headline ALL-CAPS form."""
    out = [alias]
    if alias[0].islower():
        out.append(alias[0].upper() + alias[1:])
        words = alias.split(" ")
        if len(words) > 1:
            titled = " ".join(
                w if w in _TITLE_LOWER or not w[0].islower() else w[0].upper() + w[1:]
                for w in words
            )
            titled = titled[0].upper() + titled[1:]
            if titled not in out:
                out.append(titled)
    if len(alias.rstrip("*")) >= ALL_CAPS_MIN and alias.upper() != alias:
        out.append(alias.upper())
    return out


# The ends of a key that need a word boundary in the text; most keys are words at both ends.
_LEFT, _RIGHT, _OPEN = 1, 2, 4


def _code(entity: int, flags: int) -> int:
    """The entity of a plain word; for other keys the entity and flags, negative (-1: none)."""
    # The scan tests one sign for the common case instead of three flags.
    return entity if flags == _LEFT | _RIGHT else -2 - (entity * 8 + flags)


def build_automaton(topic: Topic) -> Any:
    """Every alias form -> (length - 1, entity code, the form if a plain word, else None)."""
    entries: dict[str, tuple[int, int, str | None]] = {}
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
                flags = (_LEFT if key[0].isalnum() else 0) | (
                    _OPEN if form.endswith("*") else _RIGHT if key[-1].isalnum() else 0
                )
                code = _code(index, flags)
                entries.setdefault(key, (len(key) - 1, code, key if code >= 0 else None))
    # pyahocorasick keeps a node's children in insertion order and scans them one by one, so
    # keys starting with frequent letters go in first, and a key that never completes makes a
    # space find its child at once instead of scanning the whole root: 2x faster.
    automaton = ahocorasick.Automaton()
    automaton.add_word(_NEVER, (len(_NEVER) - 1, -1, None))
    for key in sorted(entries, key=lambda k: (_SCAN_ORDER.get(k[0], len(_SCAN_ORDER)), k)):
        automaton.add_word(key, entries[key])
    automaton.make_automaton()
    return automaton


def normalise(text: str) -> str:
    """NFC, no NUL, plain spaces: the form aliases are matched in."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if text.isascii():  # NFC already, and no odd space
        return text
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    for space in _SPACES:  # str.translate would cost more than all the matching
        if space in text:
            text = text.replace(space, " ")
    return text


# The hits in text order; alias as written -> hits, in order of first appearance; and the
# entity of each alias written that is no plain-word key.
Scan = tuple[list[Hit], dict[str, int], dict[str, int]]


def scan(automaton: Any, padded: str) -> Scan:
    """Whole-word alias hits in text between NULs, the leftmost-longest winning overlaps.

    The NULs give every hit a character on each side that is no letter, so no bounds are
    checked; texts joined by a NUL are scanned in one pass.
    """
    hits: list[Hit] = []
    written: dict[str, int] = {}
    odd: dict[str, int] = {}
    last = 0  # where the last hit kept stops
    # Outputs come by end, so a hit either follows the last one kept, lies inside it ("Brytanii"
    # in "Wielkiej Brytanii") or covers the last ones ("Polska Grupa Zbrojeniowa" after
    # "Polska"); only other overlaps need the sort that defines the result.
    for end, (back, code, alias) in automaton.iter(padded):
        start = end - back
        if code >= 0:
            if padded[start - 1].isalnum() or padded[end + 1].isalnum():
                continue
            entity, stop = code, end + 1
        else:
            if code == -1:  # the scan-order key, at a space before a NUL
                continue
            stop = _stop(padded, start, end, -2 - code)
            if not stop:
                continue
            entity, alias = (-2 - code) >> 3, padded[start:stop]
        if start < last:
            first = hits[-1][0]
            if first < start and stop <= last:
                continue
            if start > first:
                return _sorted_scan(automaton, padded)
            while hits and (hits[-1][0] > start or (hits[-1][0] == start and hits[-1][1] < stop)):
                popped = padded[hits[-1][0] : hits[-1][1]]
                written[popped] -= 1
                if not written[popped]:  # as if never seen: its first appearance is later
                    del written[popped]
                    odd.pop(popped, None)
                del hits[-1]
            if hits and (hits[-1][0] == start or hits[-1][1] > start):
                return _sorted_scan(automaton, padded)
        hits.append((start, stop, entity))
        written[alias] = written.get(alias, 0) + 1
        if code < 0:
            odd[alias] = entity
        last = stop
    return hits, written, odd


def _stop(padded: str, start: int, end: int, code: int) -> int:
    """Where a key that is not a plain word stops, or 0 where it is no whole-word hit."""
    if code & _LEFT and padded[start - 1].isalnum():
        return 0
    stop = end + 1
    if code & _OPEN:
        while padded[stop].isalnum():
            stop += 1
    elif code & _RIGHT and padded[stop].isalnum():
        return 0
    return stop


def _sorted_scan(automaton: Any, padded: str) -> Scan:
    """The definition: every whole-word hit, sorted, each kept unless it overlaps one kept."""
    # (start, -stop, open, entity, not a plain word): sorts in C
    found: list[tuple[int, int, bool, int, bool]] = []
    for end, (back, entity, _) in automaton.iter(padded):
        if entity == -1:
            continue
        start = end - back
        code = -2 - entity if entity < 0 else _LEFT | _RIGHT
        stop = _stop(padded, start, end, code)
        if stop:
            odd = entity < 0
            found.append((start, -stop, bool(code & _OPEN), code >> 3 if odd else entity, odd))
    # leftmost-longest, an explicit alias before an open one: "energy security" hides "security"
    found.sort()
    hits: list[Hit] = []
    written: dict[str, int] = {}
    odd_entities: dict[str, int] = {}
    last = 0
    for start, stop, _, entity, odd in found:
        if start >= last:
            last = -stop
            hits.append((start, last, entity))
            alias = padded[start:last]
            written[alias] = written.get(alias, 0) + 1
            if odd:
                odd_entities[alias] = entity
    return hits, written, odd_entities
