"""Inflected forms of the UK–Poland profile's key words (issue 15's inflection audit).

Sentences written for these tests; each names a party or the substance only by a form the
profile lacked before the audit (bench/alias_audit.py lists the paradigms it checks).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config import load_topics
from flows.matching.aliases import scan
from flows.matching.match import CompiledTopic, compile_topic, match_text

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compiled() -> CompiledTopic:
    return compile_topic(load_topics(ROOT / "topics", only=("uk-poland-defence",))[0])


def entities_found(compiled: CompiledTopic, text: str) -> list[str]:
    hits = scan(compiled.automaton, f"\x00{text}\x00")[0]
    return [compiled.names[entity] for _, _, entity in hits]


@pytest.mark.parametrize(
    ("words", "entity"),
    [
        ("Brytyjkom, Brytyjkami, Brytyjkach", "United Kingdom"),
        ("Polakowie, Polce, Polkę, Polką, Polkom, Polkach", "Poles"),
        ("natowska, natowskie, natowscy, Natowskiego", "NATO"),
        ("Sojuszowi Północnoatlantyckiemu", "NATO"),
        ("traktacie obronnym", "defence and security treaty"),
        ("obron, obronom, obronami, obronach, obronnościach", "defence"),
        ("bezpieczeństw, bezpieczeństwom, bezpieczeństwami, bezpieczeństwach", "security"),
        ("wojskowo, wojskom, wojskami, wojskach, armiom", "armed forces"),
        ("rakietom, rakietami, rakietach, rakietowe, rakietowa, czołgowi, bronie, broniach, uzbrojeń",
         "weapons and missiles"),
        ("ćwiczeniem, ćwiczeniom, manewrom", "military exercises and training"),
        ("fregacie", "navy and warships"),
        ("dron, drona, dronem, dronie, dronom", "drones"),
        ("Brite, Britinnen", "United Kingdom"),
        ("Polinnen", "Poles"),
        ("Manövern, Manövers", "military exercises and training"),
        ("verbündet, verbündeten", "alliance"),
        ("munition", "weapons and missiles"),
        ("britanno-polonais, britanno-polonaise", "UK–Poland (bilateral)"),
        ("addestramenti", "military exercises and training"),
    ],
)  # fmt: skip
def test_each_inflected_form_names_its_entity(
    compiled: CompiledTopic, words: str, entity: str
) -> None:
    forms = words.split(", ")
    assert entities_found(compiled, words) == [entity] * len(forms)


def test_forms_left_out_on_purpose_stay_out(compiled: CompiledTopic) -> None:
    # a tennis racket, a political manoeuvre, an interview: not defence words
    assert entities_found(compiled, "rakietą manewrem wywiadzie") == []


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("Polscy oficerowie na brytyjskiej fregacie",
         "Polscy oficerowie spędzą miesiąc na brytyjskiej fregacie."),
        ("Polska testuje brytyjskiego drona", "Polska testuje brytyjskiego drona nad Bałtykiem."),
        ("Londyn i Warszawa o natowskiej tarczy",
         "Londyn i Warszawa rozmawiały o natowskiej tarczy nad Europą."),
        ("Polska wzmocni się rakietami z Wielkiej Brytanii",
         "Polska wzmocni się rakietami z Wielkiej Brytanii jeszcze w tym roku."),
        ("Ein Brite bei polnischen Manövern", "Ein Brite nahm an polnischen Manövern teil."),
        ("La Pologne achète une munition britannique",
         "La Pologne achète une munition britannique pour ses canons."),
        ("Exercice britanno-polonais en mer Baltique",
         "Un exercice britanno-polonais commence lundi en mer Baltique."),
        ("Addestramenti britannici in Polonia",
         "Gli addestramenti britannici in Polonia riprendono a marzo."),
    ],
)  # fmt: skip
def test_a_story_named_only_by_the_new_forms_matches(
    compiled: CompiledTopic, title: str, text: str
) -> None:
    result = match_text(compiled, title=title, text=text)
    assert result.matched, result.evidence
