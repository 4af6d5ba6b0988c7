"""Polish inflection audit: `uv run python bench/alias_audit.py [--all]`.

For each key Polish word of the UK–Poland profile (the two states, their peoples and
adjectives, the capitals, the core defence vocabulary), Morfeusz 2 generates the paradigm:
every case and number, every gender of an adjective (positive degree and the compound
"brytyjsko-" form), and for multi-word names every case of the phrase. Each form, and the
capitalised form a sentence start gives a common word, is run through the compiled matcher's
own alias scan; the forms that no alias of the expected entity covers whole are printed with
Morfeusz's other readings of them, so that a form which is also another word ("wojsko" is
fine, "Polki" is also the dance "polka") can be judged before it is added. The script only
reports: it changes nothing. Forms left out on
purpose are listed in SKIPPED with the reason, and not reported again. German, French and
Italian forms are listed by hand in HAND (adjective endings generated) and checked the same
way. Words left out of all languages, and why: German "Pole" (the North Pole, pole position
in English text), French "char" and "arme", Italian "arma" (other words in other languages,
or chariots), French "troupe" and "manœuvre" (a theatre troupe, a political manoeuvre).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flows.config import load_topics
from flows.matching.aliases import normalise, scan
from flows.matching.match import CompiledTopic, compile_topic
from flows.matching.names import _morfeusz, polish_phrase_forms

ROOT = Path(__file__).resolve().parent.parent

# (lemma as Morfeusz spells it, the part of speech wanted, the entity that must match it,
#  singular only: a name has no plural worth listing)
WORDS: list[tuple[str, str, str, bool]] = [
    ("Brytania", "subst", "United Kingdom", True),
    ("brytyjski", "adj", "United Kingdom", False),
    ("Brytyjczyk", "subst", "United Kingdom", False),
    ("Brytyjka", "subst", "United Kingdom", False),
    ("Polska", "subst", "Poland", True),
    ("polski", "adj", "Poland", False),
    ("Polak", "subst", "Poles", False),
    ("Polka:Sf", "subst", "Poles", False),  # not the surname Polka (m1)
    ("Londyn", "subst", "London", True),
    ("Warszawa", "subst", "Warsaw", True),
    ("obrona", "subst", "defence", False),
    ("obronny", "adj", "defence", False),
    ("obronność", "subst", "defence", False),
    ("wojsko", "subst", "armed forces", False),
    ("wojskowy", "adj", "armed forces", False),
    ("armia", "subst", "armed forces", False),
    ("żołnierz", "subst", "armed forces", False),
    ("bezpieczeństwo", "subst", "security", False),
    ("natowski", "adj", "NATO", False),
    ("rakieta", "subst", "weapons and missiles", False),
    ("rakietowy", "adj", "weapons and missiles", False),
    ("pocisk", "subst", "weapons and missiles", False),
    ("czołg", "subst", "weapons and missiles", False),
    ("broń", "subst", "weapons and missiles", False),
    ("amunicja", "subst", "weapons and missiles", False),
    ("uzbrojenie", "subst", "weapons and missiles", False),
    ("sojusz", "subst", "alliance", False),
    ("sojusznik", "subst", "alliance", False),
    ("sojuszniczy", "adj", "alliance", False),
    ("ćwiczenie", "subst", "military exercises and training", False),
    ("manewr", "subst", "military exercises and training", False),
    ("okręt", "subst", "navy and warships", False),
    ("fregata", "subst", "navy and warships", False),
    ("myśliwiec", "subst", "air power", False),
    ("odstraszanie", "subst", "deterrence", False),
    ("dron", "subst", "drones", False),
    ("wywiad", "subst", "intelligence sharing", False),
]


def _endings(stem: str, ends: tuple[str, ...]) -> list[str]:
    return [stem + end for end in ends]


_DE_ADJ = ("", "e", "en", "er", "es", "em")
# German, French and Italian by hand (no morphology library here): lang -> entity -> forms.
HAND: dict[str, dict[str, list[str]]] = {
    "de": {
        "United Kingdom": [
            *_endings("britisch", _DE_ADJ),
            *_endings("Britisch", _DE_ADJ),
            "Großbritannien", "Großbritanniens", "Grossbritannien", "Grossbritanniens",
            "Vereinigtes Königreich", "Vereinigten Königreich", "Vereinigten Königreichs",
            "Brite", "Briten", "Britin", "Britinnen",
        ],
        "Poland": [*_endings("polnisch", _DE_ADJ), *_endings("Polnisch", _DE_ADJ),
                   "Polen", "Polens"],
        "Poles": ["Polin", "Polinnen"],
        "defence": [
            "Verteidigung", "Verteidigungs", "Verteidigungsminister", "Landesverteidigung",
            "Luftverteidigung", "verteidigen", "verteidigt",
        ],
        "armed forces": [
            "Militär", "Militärs", "militärisch", "militärischen", "Armee", "Armeen",
            "Streitkräfte", "Streitkräften", "Truppen", "Soldaten", "Soldatinnen",
        ],
        "military exercises and training": ["Übung", "Übungen", "Manöver", "Manövern", "Manövers"],
        "alliance": ["Verbündete", "Verbündeten", "verbündet", "verbündeten", "Bündnis",
                     "Bündnisses"],
    },
    "fr": {
        "United Kingdom": ["britannique", "britanniques", "Britannique", "Britanniques",
                           "Royaume-Uni", "Grande-Bretagne"],
        "Poland": ["polonais", "polonaise", "polonaises", "Polonais", "Polonaise", "Polonaises",
                   "Pologne"],
        "UK–Poland (bilateral)": ["anglo-polonais", "anglo-polonaise", "britanno-polonais",
                                  "britanno-polonaise", "britanno-polonaises"],
        "defence": ["défense", "défenses", "Défense", "défensif", "défensive"],
        "armed forces": ["militaire", "militaires", "Militaire", "armée", "armées", "soldats"],
        "weapons and missiles": ["missile", "missiles", "munition", "munitions"],
    },
    "it": {
        "United Kingdom": [*_endings("britannic", ("o", "a", "i", "he")), "Britannici",
                           "Regno Unito", "Gran Bretagna"],
        "Poland": [*_endings("polacc", ("o", "a", "hi", "he")), "Polacchi", "Polonia"],
        "defence": ["difesa", "difese", "Difesa", "difensivo", "difensiva"],
        "armed forces": ["militare", "militari", "Militari", "esercito", "soldati"],
        "military exercises and training": ["esercitazione", "esercitazioni", "addestramento",
                                            "addestramenti"],
    },
}  # fmt: skip

# Forms left out on purpose: lemma -> (the forms, or None for every form missed; why).
SKIPPED: dict[str, tuple[frozenset[str] | None, str]] = {
    "rakieta": (
        frozenset(["rakieta", "rakiecie", "rakietę", "rakietą"]),
        "singular: also a tennis racket; the plurals name missiles far more often",
    ),
    "manewr": (
        frozenset(["manewr", "manewru", "manewrowi", "manewrem", "manewrze"]),
        "singular: a political or driving manoeuvre; only the plural means exercises",
    ),
    "wywiad": (None, "also an interview ('w wywiadzie dla'); the listed two forms are enough"),
}

# Multi-word names, every case of the phrase (names.polish_phrase_forms).
PHRASES: list[tuple[str, str]] = [
    ("Wielka Brytania", "United Kingdom"),
    ("Zjednoczone Królestwo", "United Kingdom"),
    ("traktat obronny", "defence and security treaty"),
    ("Sojusz Północnoatlantycki", "NATO"),
    ("siły zbrojne", "armed forces"),
]


def paradigm(lemma: str, pos: str, singular: bool) -> list[tuple[str, str]]:
    """(form, tag) of every form of one lemma: nouns in all cases (and numbers), adjectives
    in the positive degree in every gender, plus the adja compound form."""
    out: list[tuple[str, str]] = []
    base = lemma.split(":")[0]
    for orth, lemma_id, tag, *_ in _morfeusz().generate(base):
        if lemma_id.split(":")[0] != base or (":" in lemma and lemma_id != lemma):
            continue
        kind = tag.split(":")[0]
        if pos == "adj" and not (kind == "adja" or (kind == "adj" and tag.endswith(":pos"))):
            continue
        if pos == "subst" and kind != "subst":
            continue
        if singular and kind == "subst" and tag.split(":")[1] == "pl":
            continue
        if ":voc" in tag and tag.count(".") == 0 and ":voc:" in tag:
            continue  # a lone vocative ("Polsko!") is not news text
        out.append((orth, tag))
    return out


def readings(form: str, lemma: str) -> list[str]:
    """Morfeusz's readings of a form that belong to another lemma (ignoring surnames)."""
    other = set()
    for _, _, (_, lemma_id, tag, kinds, _) in _morfeusz().analyse(form):
        base = lemma_id.split(":")[0]
        if base.lower() == lemma.split(":")[0].lower() or tag == "ign":
            continue
        if kinds and set(kinds) <= {"nazwisko", "imię"}:
            continue  # a rare surname is no reason to miss a word
        other.add(f"{base}[{tag.split(':')[0]}]")
    return sorted(other)


def covered(compiled: CompiledTopic, form: str, entity: int) -> bool:
    """Whether one alias hit of the entity spans the whole form."""
    padded = "\x00" + normalise(form) + "\x00"
    hits, _, _ = scan(compiled.automaton, padded)
    return any(h[0] == 1 and h[1] == len(padded) - 1 and h[2] == entity for h in hits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=Path, default=ROOT / "topics")
    parser.add_argument("--all", action="store_true", help="print covered forms too")
    args = parser.parse_args(argv)
    topic = next(t for t in load_topics(args.topics) if t.id == "uk-poland-defence")
    compiled = compile_topic(topic)
    index = {name: i for i, name in enumerate(compiled.names)}
    missing = checked = skipped = 0
    for lemma, pos, entity, singular in WORDS:
        forms: dict[str, str] = {}
        for orth, tag in paradigm(lemma, pos, singular):
            forms.setdefault(orth, tag)
            if orth[0].islower():  # a sentence start capitalises a common word
                forms.setdefault(orth[0].upper() + orth[1:], tag)
        for form, tag in forms.items():
            checked += 1
            ok = covered(compiled, form, index[entity])
            if ok and not args.all:
                continue
            skip_forms, _ = SKIPPED.get(lemma, (frozenset(), ""))
            if not ok and (skip_forms is None or form.lower() in skip_forms):
                skipped += 1
                continue
            missing += not ok
            other = readings(form, lemma)
            flag = "ok  " if ok else "MISS"
            also = f"  also: {', '.join(other)}" if other else ""
            print(f"{flag} pl {lemma:<14} {form:<22} {tag:<32} -> {entity}{also}")
    for phrase, entity in PHRASES:
        for form in polish_phrase_forms(phrase):
            if phrase[0].islower():  # the generator capitalises each word: a common phrase
                form = " ".join(w[0].lower() + w[1:] for w in form.split())
            variants = {form, form[0].upper() + form[1:]}
            for variant in sorted(variants):
                checked += 1
                ok = covered(compiled, variant, index[entity])
                if ok and not args.all:
                    continue
                missing += not ok
                print(f"{'ok  ' if ok else 'MISS'} pl {phrase:<14} {variant:<40} -> {entity}")
    for lang, entities in HAND.items():
        for entity, hand_forms in entities.items():
            for form in hand_forms:
                checked += 1
                ok = covered(compiled, form, index[entity])
                if ok and not args.all:
                    continue
                missing += not ok
                print(f"{'ok  ' if ok else 'MISS'} {lang} {form:<37} -> {entity}")
    for lemma, (_, why) in SKIPPED.items():
        print(f"skipped on purpose: pl {lemma}: {why}")
    print(
        f"{checked} forms checked, {missing} not matched by their entity, {skipped} skipped",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
