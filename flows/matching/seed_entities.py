"""The named entities of a seed article, each with every place in the seed it was found.

Rule-based and offline: runs of capitalised words are the candidates; the gazetteer
(flows/matching/names.py) knows countries, regions and cities in many languages; office
titles and organisation words are told apart by small per-language word lists; what is
left of two or three capitalised words is a person.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from flows.matching.names import Gazetteer, gazetteer, inflected_places, stem_country
from flows.matching.sentences import sentence_starts

MAX_SEED_BYTES = 200_000  # one article; more is not a seed

_TOKEN = re.compile(r"(?:[A-Z]\.){2,}|[^\W\d_](?:[\w’'-]*\w)?|\d+(?:[.,-]\d+)*")
_CONNECT_TEXT = "of and for de du des la le von der und i oraz et"
_CONNECT = frozenset(_CONNECT_TEXT.split())
_OF = frozenset(("of", "von", "de", "du", "des"))  # "President Paul Lemaire of France"
_SPLIT_TEXT = "and und i oraz et"
_SPLIT = frozenset(_SPLIT_TEXT.split())
# Office titles before a name ("Chancellor Anna Berger"): dropped from the person.
_TITLES_TEXT = (
    "Prime Minister Ministers President Vice Secretary Chancellor General Defence Defense "
    "Foreign Affairs Home State Deputy Chief King Queen Prince Mr Mrs Ms Dr Sir Lord Lady "
    "Admiral Colonel Ambassador Commander Premier Premiera Minister Ministra Prezydent "
    "Premierminister Präsident Bundeskanzler Kanzler Ministre Président Premier"
)
_TITLES = frozenset(_TITLES_TEXT.split())
# Words that make a name an organisation, an agreement or a programme.
_ORGANISATION_TEXT = (
    "Ministry Ministerstwo Ministerium Ministère Agency Agencja Council Rada Alliance Sojusz "
    "Organisation Organization Union Unia Forces Army Navy Force Armed Group Company Ltd Inc "
    "Commission Komisja Parliament Sejm Bundestag Government Rząd Department Office Committee "
    "Bank Corporation Systems Industries Institute Party Partia Command"
)
_ORGANISATION = frozenset(_ORGANISATION_TEXT.split())
_AGREEMENT_TEXT = (
    "Treaty Traktat Vertrag Traité Agreement Umowa Abkommen Accord Pact Pakt Partnership "
    "Partnerstwo Partnerschaft Declaration Deklaracja Programme Program Initiative"
)
_AGREEMENT = frozenset(_AGREEMENT_TEXT.split())


class SeedError(ValueError):
    """The seed cannot be drafted from; the message says why and what to do."""


@dataclass
class Found:
    """One entity of the seed and every place it was found."""

    kind: str  # country, city, region, person, organisation, agreement, equipment, name
    key: str  # place code, or the name itself
    name: str
    spans: list[tuple[int, int]] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)  # as written in the seed
    side: str | None = None  # a country code the seed ties it to


def check_size(size: int) -> None:
    """SeedError when a seed of this many bytes cannot be one article."""
    if size > MAX_SEED_BYTES:
        raise SeedError(
            f"the seed is {size:,} bytes; a seed is one article of at most "
            f"{MAX_SEED_BYTES:,}; fix: save only the article's text"
        )


def read_seed(data: bytes) -> str:
    """The seed's text, or SeedError: too large, binary, not UTF-8, empty."""
    check_size(len(data))
    if b"\x00" in data[:8192]:
        raise SeedError("the seed is binary, not text; fix: save the article as plain UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SeedError(
            f"the seed is not UTF-8 text (byte {exc.start}); fix: save it as UTF-8"
        ) from None
    if not text.strip():
        raise SeedError("the seed is empty; fix: paste the article's text into it")
    return text.replace("\xa0", " ")


def seed_language(text: str) -> str:
    """The seed's language code (py3langid), English when unsure."""
    import py3langid

    lang, _ = py3langid.classify(text[:5000])
    return str(lang or "en")


def stop_words(lang: str) -> frozenset[str]:
    from stop_words import StopWordError, get_stop_words

    try:
        return frozenset(get_stop_words(lang))
    except StopWordError:
        return frozenset()


def _candidates(text: str, stops: frozenset[str], gaz: Gazetteer) -> list[list[re.Match[str]]]:
    """Runs of capitalised tokens (with connectors and trailing numbers) in the text."""
    sentences, paragraphs = sentence_starts(text)
    starts = {*sentences, *paragraphs}
    tokens = list(_TOKEN.finditer(text))
    lower = {t.group() for t in tokens if t.group().islower()}
    runs: list[list[re.Match[str]]] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        while run and run[-1].group() in _CONNECT:
            run.pop()
        if run:
            runs.append(list(run))
        run.clear()

    for i, tok in enumerate(tokens):
        word = tok.group()
        adjacent = bool(run) and text[run[-1].end() : tok.start()] == " "
        before = text[max(0, tok.start() - 8) : tok.start()].rstrip(" \t\"'“„(")
        at_start = tok.start() in starts or not before or before.endswith(("\n", ":"))
        capital = word[0].isupper() and word not in gaz.calendar
        if capital and at_start and not run and (word.lower() in stops or word.lower() in lower):
            capital = False  # "The", "According": capitalised only as the sentence's first word
        if capital and word.lower() in stops and not word.isupper():
            capital = False
        if capital:
            if run and not adjacent:
                close()
            run.append(tok)
        elif run and adjacent and word in _CONNECT and i + 1 < len(tokens):
            following = tokens[i + 1].group()
            if following[0].isupper() and text[tok.end() : tokens[i + 1].start()] == " ":
                run.append(tok)
            else:
                close()
        elif run and adjacent and word[0].isdigit():
            run.append(tok)
            close()
        else:
            close()
    close()
    return runs


def _place(words: str, gaz: Gazetteer) -> tuple[str, str] | None:
    """(kind, code) when the words name a place, or are a country's demonym."""
    code = gaz.by_name.get(words) or gaz.inflected.get(words)
    if code is not None:
        return gaz.places[code].kind, code
    code = gaz.demonym.get(words) or stem_country(words, gaz)
    return ("demonym", code) if code else None


def find_entities(text: str, lang: str) -> list[Found]:
    """Every named entity of the seed, with its spans; places merged by code."""
    gaz = dataclasses.replace(gazetteer(lang), inflected=inflected_places(lang))
    stops = stop_words(lang) | stop_words("en")
    found: dict[tuple[str, str], Found] = {}

    def add(kind: str, key: str, name: str, span: tuple[int, int], side: str | None) -> None:
        entry = found.setdefault((kind, key), Found(kind, key, name))
        entry.spans.append(span)
        if text[span[0] : span[1]] not in entry.forms:
            entry.forms.append(text[span[0] : span[1]])
        entry.side = entry.side or side

    for run in _candidates(text, stops, gaz):
        pieces: list[list[re.Match[str]]] = [[]]
        for tok in run:  # "Germany and France": two places, not one name
            if tok.group() in _SPLIT:
                pieces.append([])
            else:
                pieces[-1].append(tok)
        joined = text[run[0].start() : run[-1].end()]
        if len(pieces) > 1 and (
            _place(joined, gaz) or not all(_place(_words(text, p), gaz) for p in pieces if p)
        ):
            pieces = [list(run)]  # "Security and Defence Partnership Treaty"
        for piece in pieces:
            cut = max((i for i, t in enumerate(piece) if t.group() in _OF), default=None)
            tail = _place(_words(text, piece[cut + 1 :]), gaz) if cut else None
            if cut and tail and not _place(_words(text, piece), gaz):
                _classify(text, piece[cut + 1 :], gaz, add)
                _classify(text, piece[:cut], gaz, add, side=tail[1] if tail[0] != "city" else None)
            else:
                _classify(text, piece, gaz, add)
    entities = list(found.values())
    for e in entities:  # a demonym belongs to its country
        if e.kind == "demonym":
            country = found.setdefault(
                ("country", e.key), Found("country", e.key, gaz.places[e.key].name)
            )
            country.spans += e.spans
            country.forms += [f for f in e.forms if f not in country.forms]
    people = {e.name.split()[-1]: e for e in entities if e.kind == "person"}
    for e in entities:  # "Berger said": the person named in full before
        if e.kind == "name" and e.key in people:
            people[e.key].spans += e.spans
            e.kind = "demonym"  # merged: dropped below
    return sorted((e for e in found.values() if e.kind != "demonym"), key=lambda e: e.spans[0][0])


def _words(text: str, piece: list[re.Match[str]]) -> str:
    return text[piece[0].start() : piece[-1].end()] if piece else ""


def _classify(
    text: str, piece: list[re.Match[str]], gaz: Gazetteer, add: Any, side: str | None = None
) -> None:
    while piece:
        words = _words(text, piece)
        span = (piece[0].start(), piece[-1].end())
        place = _place(words, gaz)
        if place:
            kind, code = place
            add("city" if kind == "city" else kind, code, gaz.places[code].name, span, None)
            return
        head = _place(piece[0].group(), gaz)  # "French President ...": the side, then the rest
        if head and len(piece) > 1:
            kind, code = head
            add(kind, code, gaz.places[code].name, (piece[0].start(), piece[0].end()), None)
            side = code if kind in ("demonym", "country") else side
            piece = piece[1:]
            continue
        break
    if not piece:
        return
    names = [t.group() for t in piece]
    if any(n in _AGREEMENT for n in names):
        add("agreement", _words(text, piece), _words(text, piece), _span(piece), side)
        return
    if any(n in _ORGANISATION for n in names):
        add("organisation", _words(text, piece), _words(text, piece), _span(piece), side)
        return
    while piece and piece[0].group() in _TITLES:
        piece = piece[1:]
    if not piece:
        return
    names = [t.group() for t in piece]
    words = _words(text, piece)
    place = _place(words, gaz)  # "Premier Wielkiej Brytanii": an office of a country
    if place:
        kind, code = place
        add(kind, code, gaz.places[code].name, _span(piece), None)
    elif any(any(c.isdigit() for c in n) for n in names):
        add("equipment", words, words, _span(piece), side)
    elif len(piece) == 1 and names[0].replace(".", "").isupper() and len(names[0]) >= 2:
        add("organisation", words, words, _span(piece), side)
    elif 2 <= len(piece) <= 3 and all(n[0].isupper() and n.isalpha() for n in names):
        add("person", words, words, _span(piece), side)
    elif len(piece) == 1 and text.count(words) >= 2:
        add("name", words, words, _span(piece), side)


def _span(piece: list[re.Match[str]]) -> tuple[int, int]:
    return piece[0].start(), piece[-1].end()
