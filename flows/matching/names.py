"""Names of places in many languages, and Polish inflections, from offline sources only.

Babel's CLDR data names countries, regions and time-zone cities in every language and says
which languages a country speaks officially; pycountry adds the ISO official names; Morfeusz 2
(the SGJP dictionary, in its wheel) inflects Polish with case and gender tags, so that a
two-word name inflects in agreement. Nothing here reads the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

LANGUAGES = ("en", "pl", "de", "fr")  # every draft names places in these, plus the seed's


@dataclass(frozen=True)
class Place:
    """A country, a region or a city, with its names by language."""

    code: str  # ISO 3166 alpha-2, a CLDR region code, or a time zone for a city
    kind: str  # country, region, city or union
    name: str  # in English
    country: str | None = None  # a city's country
    names: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Gazetteer:
    """Every place by each name it has, and demonym adjectives by country."""

    places: dict[str, Place]
    by_name: dict[str, str]  # surface name -> place code
    demonym: dict[str, str]  # English adjective -> country code ("Polish" -> PL)
    calendar: frozenset[str]  # month and weekday names: capitalised, never entities
    stems: dict[str, list[tuple[str, str]]]  # first 4 letters -> (word of a country name, code)
    inflected: dict[str, str] = field(default_factory=dict)  # the seed language's case forms


def _prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.lower(), b.lower(), strict=False):
        if x != y:
            break
        n += 1
    return n


# Long by design: a table of names in several languages, built once per process; its length
# is data, not logic.
@cache
def gazetteer(extra_language: str | None = None) -> Gazetteer:
    """Built once per process (~0.3 s)."""
    import pycountry
    from babel import Locale, UnknownLocaleError
    from babel.core import get_global
    from babel.languages import get_official_languages

    langs = list(LANGUAGES)
    if extra_language and extra_language not in langs:
        try:
            Locale(extra_language)
            langs.append(extra_language)
        except (UnknownLocaleError, ValueError):
            pass
    locales = {lang: Locale(lang) for lang in langs}
    en = locales["en"]
    iso = {c.alpha_2: c for c in pycountry.countries}
    places: dict[str, Place] = {}
    for code, english in en.territories.items():
        kind = "country" if code in iso else "region" if code.isdigit() else "union"
        if code in ("ZZ", "QO", "EZ") or "-" in code:
            continue
        names = {lang: [n] for lang, loc in locales.items() if (n := loc.territories.get(code))}
        if code in iso:
            for attr in ("official_name", "common_name", "name"):
                extra = getattr(iso[code], attr, None)
                if extra and extra not in names["en"]:
                    names["en"].append(extra)
        places[code] = Place(code, kind, english, names=names)
    for zone, country in get_global("zone_territories").items():
        if "/" not in zone or zone.startswith("Etc/") or country not in places:
            continue
        english = zone.rsplit("/", 1)[1].replace("_", " ")
        names = {"en": [english]}
        for lang, loc in locales.items():
            city = loc.time_zones.get(zone, {}).get("city")
            if city and city != english:
                names[lang] = [city]
        places[zone] = Place(zone, "city", english, country=country, names=names)

    by_name: dict[str, str] = {}
    clash: set[str] = set()
    parts: dict[str, set[str]] = {}  # a run of words inside a country's English names
    for code, place in places.items():
        surfaces = {n for names in place.names.values() for n in names}
        if place.kind == "country":
            for n in place.names["en"]:
                words = n.replace(",", "").split()
                if len(words) > 1 and all(w[0].isupper() for w in words):
                    initials = "".join(w[0] for w in words)
                    surfaces |= {initials, ".".join(initials) + "."}
                for i in range(len(words)):
                    for j in range(i + 1, len(words) + 1):
                        run = words[i:j]
                        if len(run) == 1 and j != len(words) and words[j][0].isupper():
                            continue  # one word stands for the name only as its head noun
                        if run[0][0].isupper() and run[-1][0].isupper() and len(" ".join(run)) >= 5:
                            parts.setdefault(" ".join(run), set()).add(code)
        for surface in surfaces:
            if by_name.setdefault(surface, code) != code:
                clash.add(surface)
    for surface in clash:  # a name two places share names neither
        del by_name[surface]
    for words_run, codes in parts.items():  # "Britain" from "... of Great Britain and ..."
        if len(codes) == 1 and words_run not in by_name and words_run not in clash:
            by_name[words_run] = codes.pop()

    demonym: dict[str, str] = {}
    for code, place in places.items():
        if place.kind != "country":
            continue
        for lang in get_official_languages(code, de_facto=True)[:1]:
            adjective = en.languages.get(lang)
            if adjective and _prefix(adjective, place.name) >= 2:
                demonym.setdefault(adjective, code)
    calendar = frozenset(
        str(name)
        for loc in locales.values()
        for table in (loc.months, loc.days)
        for context in table.values()
        for width in ("wide", "abbreviated")
        for name in context.get(width, {}).values()
    )
    stems: dict[str, list[tuple[str, str]]] = {}
    for code, place in places.items():
        if place.kind == "country":
            for part in {p for name in place.names.get("en", []) for p in name.split()}:
                if len(part) >= 5:
                    stems.setdefault(part[:4].lower(), []).append((part, code))
    return Gazetteer(places, by_name, demonym, calendar, stems)


def stem_country(word: str, gaz: Gazetteer) -> str | None:
    """The one country a demonym-like word shares a stem with ("British" -> Britain -> GB)."""
    if not word[:1].isupper() or not word.isalpha() or len(word) < 5:
        return None
    found = {
        code
        for part, code in gaz.stems.get(word[:4].lower(), ())
        if part != word and _prefix(part, word) >= min(4, len(part) - 1)
    }
    return found.pop() if len(found) == 1 else None


def language_adjectives(country: str) -> dict[str, list[str]]:
    """Adjectives of a country from CLDR language names: "polski", "British English", ..."""
    from babel import Locale
    from babel.languages import get_official_languages

    place = gazetteer().places[country]
    out: dict[str, list[str]] = {}
    variants = [str(v) for v in Locale("en").languages]
    for variant in (v for v in variants if v.endswith(f"_{country}")):
        # regional variants: "British English", "angielski brytyjski", "anglais britannique"
        base = variant.split("_")[0]
        for lang in LANGUAGES:
            words = Locale(lang).languages.get(variant, "").replace("(", " ").split()
            known = Locale(lang).languages.get(base, "").lower()
            for word in (w for w in words if w.lower() != known and w.isalpha() and len(w) > 3):
                out.setdefault(lang, []).extend(_adjective_forms(lang, word))
    for lang in get_official_languages(country, de_facto=True)[:1]:
        if _prefix(Locale("en").languages.get(lang, ""), place.name) < 2:
            continue  # English is not "British": only names that carry the country's
        for code in LANGUAGES:
            name = Locale(code).languages.get(lang)
            if name:
                out.setdefault(code, []).extend(_adjective_forms(code, name))
    return out


def _adjective_forms(lang: str, word: str) -> list[str]:
    """An adjective's forms: Polish from Morfeusz, German and French by their endings."""
    if lang not in ("pl", "de", "fr"):
        return [word]
    base = word.lower()
    if lang == "pl":
        return polish_forms(base, adjective=True) or [base]
    if lang == "de":
        for end in ("es", "er", "en", "em", "e"):
            if base.endswith("isch" + end):
                base = base[: -len(end)]
        return [base + end for end in ("", "e", "en", "er", "es", "em")]
    if base.endswith("ien"):  # autrichien, autrichienne
        return [base, base + "ne", base + "s", base + "nes"]
    ends = (
        ("", "s")
        if base.endswith("e")
        else ("", "e", "es")
        if base[-1] in "sx"
        else ("", "e", "s", "es")
    )
    return [base + end for end in ends]


@cache
def _morfeusz() -> Any:
    import morfeusz2

    return morfeusz2.Morfeusz(generate=True)


def _tag(tag: str) -> tuple[str, set[str], set[str], set[str]]:
    """(part of speech, numbers, cases, genders) of a Morfeusz tag such as subst:sg:gen:f."""
    parts = tag.split(":")
    pos = parts[0]
    if pos not in ("subst", "adj", "depr", "ppas") or len(parts) < 4:
        return pos, set(), set(), set()
    return pos, set(parts[1].split(".")), set(parts[2].split(".")), set(parts[3].split("."))


def polish_forms(word: str, *, adjective: bool = False) -> list[str]:
    """Every singular form of a Polish name (every form of an adjective); [] when unknown."""
    m = _morfeusz()
    lemmas = {
        (a[2][1].split(":")[0], a[2][2].split(":")[0]) for a in m.analyse(word) if a[2][2] != "ign"
    }
    wanted = "adj" if adjective else "subst"
    forms: list[str] = []
    for lemma, pos in sorted(lemmas):
        if pos != wanted:
            continue
        for orth, _, tag, *_ in m.generate(lemma):
            kind, numbers, cases, _ = _tag(tag)
            if adjective and (tag.startswith("adja") or (kind == "adj" and tag.endswith("pos"))):
                forms.append(orth)
            elif not adjective and kind == "subst" and "sg" in numbers and cases != {"voc"}:
                forms.append(orth[0].upper() + orth[1:] if word[0].isupper() else orth)
    return sorted(set(forms), key=forms.index) if forms else []


def polish_phrase_forms(phrase: str) -> list[str]:
    """A two- or three-word Polish name in every case, its adjectives agreeing with its noun."""
    words = phrase.split()
    if len(words) == 1:
        return polish_forms(phrase)
    m = _morfeusz()
    paradigms: list[dict[tuple[str, str], str]] = []
    noun_gender: set[str] | None = None
    for word in words:
        analyses = [a[2] for a in m.analyse(word) if a[2][2] != "ign"]
        nouns = [a for a in analyses if a[2].startswith("subst") and _tag(a[2])[2] & {"nom"}]
        if nouns and noun_gender is None:
            noun_gender = _tag(nouns[0][2])[3]
    if noun_gender is None:
        return []
    for word in words:
        analyses = [a[2] for a in m.analyse(word) if a[2][2] != "ign"]
        table: dict[tuple[str, str], str] = {}
        for _, lemma, tag, *_ in analyses:
            kind, numbers, cases, _ = _tag(tag)
            kind = "adj" if kind == "ppas" else kind
            if "nom" not in cases or kind not in ("subst", "adj"):
                continue
            number = sorted(numbers)[0]
            for orth, _, gtag, *_ in m.generate(lemma.split(":")[0]):
                gk, gn, gc, gg = _tag(gtag)
                gk = "adj" if gk == "ppas" else gk
                if gk != kind or number not in gn or (kind == "adj" and not gg & noun_gender):
                    continue
                if kind == "adj" and not gtag.endswith("pos"):
                    continue
                for case in gc - {"voc"}:
                    table.setdefault((number, case), orth[0].upper() + orth[1:])
            break
        if not table:
            return []
        paradigms.append(table)
    keys = set.intersection(*(set(t) for t in paradigms))
    return sorted({" ".join(t[k] for t in paradigms) for k in keys} | {phrase})


@cache
def inflected_places(lang: str) -> dict[str, str]:
    """Every inflected form of a country or city name -> its code (Polish only; ~1-2 s)."""
    if lang != "pl":
        return {}
    gaz = gazetteer()
    out: dict[str, str] = {}
    clash: set[str] = set()
    for code, place in gaz.places.items():
        if place.kind not in ("country", "city", "region"):
            continue
        for name in place.names.get("pl", []):
            for form in polish_phrase_forms(name):
                if out.setdefault(form, code) != code:
                    clash.add(form)
    return {form: code for form, code in out.items() if form not in clash}
