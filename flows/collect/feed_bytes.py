"""A feed's bytes before feedparser sees them: entity bombs refused, the middle of a long feed
cut, UTF-16 halves joined, and whether the last item was closed (a truncated download)."""

from __future__ import annotations

import re

from warehouse.errors import NewswatchError

# expat 2.5 lets entities amplify a document 100-fold (a 4.8 MB feed became a 464 MB title,
# 2 GB of memory): we refuse DTD entities that would expand beyond this many characters.
ENTITY_EXPANSION_MAX = 10_000_000
_ENTITY_DECL = re.compile(rb"""<!ENTITY\s+(%\s*)?([^\s"'%&;<>]+)\s+(?:"([^"]*)"|'([^']*)')""")
_ENTITY_REF = re.compile(rb"&([A-Za-z_:][\w.:-]{0,200});")
_PREDEFINED = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
# Emoji written as UTF-16 halves (&#55357;&#56832;) are invalid XML and crash feedparser's
# fallback parser: a high-low pair becomes the character, any other half U+FFFD.
_SURROGATE = (
    rb"&#([xX]0*[dD][89a-fA-F][0-9a-fA-F]{2}"  # hex D800-DFFF; decimal 55296-57343:
    rb"|0*(?:5529[6-9]|55[3-9]\d\d|56\d{3}|57[0-2]\d\d|573[0-3]\d|5734[0-3]));"
)
_SURROGATE_REFS = re.compile(_SURROGATE + b"(?:" + _SURROGATE + b")?")
# Item tags, by the kind the document starts with (so an Atom <entry> inside an RSS <item>
# is not counted), unprefixed only: a prefixed <x:item> may be anything.
_ITEM_OPEN = re.compile(rb"<(item|entry)[\s/>]")
_OPEN = {kind: re.compile(rb"<%s[\s/>]" % kind) for kind in (b"item", b"entry")}
_CLOSE = {kind: re.compile(rb"</%s\s*>" % kind) for kind in (b"item", b"entry")}


class NotAFeed(NewswatchError, ValueError):
    """The body is no RSS, Atom or RDF feed; the message says what it is instead."""


def refuse_entity_bombs(body: bytes) -> None:
    """Raise NotAFeed for DTD entities that would blow up on expansion."""
    if b"\x00" in body:  # UTF-16/32: the markup we look for is ASCII between NUL bytes
        body = body.replace(b"\x00", b"")
    # Entities exist only in a DOCTYPE's internal subset; scanning from there on (not just to
    # its "]>", which an entity value may contain) leaves no declaration unseen.
    doctype = body.find(b"<!DOCTYPE")
    if doctype < 0 or body.find(b"<!ENTITY", doctype) < 0:
        return
    sizes: dict[bytes, int] = {}
    for match in _ENTITY_DECL.finditer(body, doctype):
        is_parameter, name, value = match[1], match[2], match[3] or match[4] or b""
        # Parameter entities can declare further entities out of sight of this check, and an
        # entity built of other entities is the billion-laughs shape; no real feed needs either.
        if is_parameter:
            raise NotAFeed("declares an internal parameter entity")
        if any(ref[1] not in _PREDEFINED for ref in _ENTITY_REF.finditer(value)):
            raise NotAFeed("declares nested entities (billion-laughs shape)")
        sizes[name] = len(value)
    expanded = 0
    for ref in _ENTITY_REF.finditer(body):
        expanded += sizes.get(ref[1], 0)
        if expanded > ENTITY_EXPANSION_MAX:
            raise NotAFeed(f"entities would expand to more than {ENTITY_EXPANSION_MAX:,} chars")


def cut_middle(body: bytes, max_entries: int) -> tuple[int | None, bytes]:
    """Drop the middle items of a long feed before parsing; returns (items counted, text)."""
    # feedparser needs ~100 µs per item: a 5.8 MB feed of 50,000 items took 5.2-5.7 s and
    # 200 MB, its first 200 items 0.1 s. A feed lists its items newest first or oldest first:
    # keep the first and the last `max_entries` (the newest of them by date are chosen after
    # parsing) and the document's own end, and cut the items in between.
    first = _ITEM_OPEN.search(body)
    if first is None or b"\x00" in body:  # UTF-16/32: byte offsets of ASCII patterns are unsure
        return None, body
    starts = [m.start() for m in _OPEN[first[1]].finditer(body)]
    if len(starts) <= 2 * max_entries:
        return None, body
    if max_entries:
        return len(starts), body[: starts[max_entries]] + body[starts[-max_entries] :]
    close = _CLOSE[first[1]]
    # From the last start tag; if that item is unclosed (truncated), from the first one cut.
    ends = [m.end() for m in close.finditer(body, starts[-1])]
    ends = ends or [m.end() for m in close.finditer(body, starts[max_entries])]
    if not ends:
        return None, body
    return len(starts), body[: starts[max_entries]] + body[ends[-1] :]


def _join_surrogates(match: re.Match[bytes]) -> bytes:
    high, low = (int(n[1:], 16) if n[:1] in b"xX" else int(n) for n in (match[1], match[2] or b"0"))
    if 0xD800 <= high <= 0xDBFF and 0xDC00 <= low <= 0xDFFF:
        return b"&#x%X;" % (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    return b"&#xFFFD;" * (2 if match[2] else 1)


def last_item_closed(text: bytes) -> bool:
    if b"\x00" in text:
        text = text.replace(b"\x00", b"")
    first = _ITEM_OPEN.search(text)
    if first is None:  # no unprefixed item tag: nothing to judge by, keep what feedparser kept
        return True
    starts = [m.start() for m in _OPEN[first[1]].finditer(text)]
    return _CLOSE[first[1]].search(text, starts[-1]) is not None


def join_surrogates(text: bytes) -> bytes:
    """UTF-16 halves written as character references become the character, or U+FFFD."""
    return _SURROGATE_REFS.sub(_join_surrogates, text)
