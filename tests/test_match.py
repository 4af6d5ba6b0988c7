"""The matcher on the shipped UK–Poland profile: positives, hard negatives, weighting, evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.config import load_topics
from flows.matching.aliases import scan
from flows.matching.match import CompiledTopic, compile_topic, match_text
from flows.topic import Topic
from warehouse.evidence import Evidence

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def topic() -> Topic:
    return load_topics(ROOT / "topics", only=("uk-poland-defence",))[0]


@pytest.fixture(scope="module")
def compiled(topic: Topic) -> CompiledTopic:
    return compile_topic(topic)


def names(compiled: CompiledTopic, text: str) -> list[tuple[str, str]]:
    """(entity, text as found) for every whole-word hit, the longest winning overlaps."""
    hits = scan(compiled.automaton, f"\x00{text}\x00")[0]  # NULs stand for the text's edges
    return [(compiled.names[e], text[s - 1 : t - 1]) for s, t, e in hits]


POSITIVES = {
    "en-deployment": (
        "Britain sends air defence battery to Poland",
        "The UK will station a Sky Sabre air defence battery in Poland, the Ministry of Defence "
        "said on Monday. British soldiers will operate it alongside Polish troops near the border "
        "with Belarus.\nPolish Defence Minister Władysław Kosiniak-Kamysz welcomed the decision.",
    ),
    "en-no-title-help": (
        "Talks in Warsaw",
        "Defence Secretary John Healey met his Polish counterpart to discuss joint missile "
        "production. The two ministers agreed that British and Polish engineers would work "
        "together on the next generation of air defence for NATO's eastern flank.",
    ),
    "pl-inflections": (
        "Polsko-brytyjskie ćwiczenia na poligonie",
        "Minister obrony narodowej zaprosił Wielką Brytanię do wspólnych ćwiczeń wojskowych w "
        "Polsce. W ramach polsko-brytyjskiego porozumienia brytyjscy żołnierze spędzą pół roku "
        "w Orzyszu razem z żołnierzami Wojska Polskiego.",
    ),
    "pl-genitive": (
        "Rząd o współpracy z Londynem",
        "Polska kupi od Wielkiej Brytanii kolejne pociski dla systemu obrony powietrznej Narew. "
        "Umowa wzmacnia bezpieczeństwo Polski i brytyjski przemysł zbrojeniowy.",
    ),
    "de": (
        "Großbritannien verlegt Soldaten nach Polen",
        "Die britische Regierung schickt weitere Soldaten nach Polen, um die Nato-Ostflanke zu "
        "stärken. Der polnische Verteidigungsminister dankte Großbritannien für die Unterstützung.",
    ),
    "fr": (
        "Le Royaume-Uni et la Pologne renforcent leur défense",
        "Des soldats britanniques participeront à des exercices militaires en Pologne. Londres et "
        "Varsovie veulent aussi coopérer dans la défense antiaérienne.",
    ),
}

NEGATIVES = {
    "football": (
        "Late header rescues England against Poland",
        "England needed a header in the last minute to beat Poland in the qualifier. British fans "
        "groaned as the Polish defence held out until stoppage time.",
    ),
    "tennis": (
        "Polish star reaches Wimbledon quarter-final",
        "The Polish world number two beat a British qualifier in London to reach the "
        "quarter-final. The defending champion said her serve had improved on grass.",
    ),
    "business": (
        "Polish parcel firm expands in the UK",
        "Keir Starmer and Donald Tusk welcomed a new investment in parcel lockers during talks in "
        "Warsaw. The Polish company will create thousands of jobs in Britain.",
    ),
    "immigration": (
        "Starmer sets out plan to cut net migration",
        "The Prime Minister said net migration to the UK must fall. Employers who recruited "
        "Polish workers after 2004 warned about shortages; the security of the border came first.",
    ),
    "poles-after-brexit": (
        "Poles in Britain worry about settled status",
        "Thousands of Poles living in the UK have not yet applied to stay after Brexit, the Polish "
        "embassy in London said.",
    ),
    "uk-france": (
        "Britain and France align nuclear deterrents",
        "The UK and France agreed to coordinate their nuclear deterrence, the defence ministers "
        "said in Paris. The move answers Russian threats to Europe.",
    ),
    "poland-korea": (
        "Poland orders more K2 tanks",
        "Poland signed another contract with South Korea for K2 tanks. The Polish army expects "
        "the first vehicles of the new batch within two years.",
    ),
    "many-allies": (
        "NATO exercise begins in the Baltic",
        "Troops from the United States, Germany, France, Canada, Poland, the UK, Estonia and "
        "Latvia took part in the NATO exercise. The drills will run for two weeks.",
    ),
    "ww2": (
        "Pilots of 1940 honoured",
        "Veterans met at a memorial in west London to honour Polish pilots who served in RAF "
        "squadrons during the Second World War. The anniversary service ended with a flypast.",
    ),
}


@pytest.mark.parametrize("case", sorted(POSITIVES))
def test_positives_match(compiled: CompiledTopic, case: str) -> None:
    title, text = POSITIVES[case]
    result = match_text(compiled, title=title, text=text, language=case[:2])
    assert result.matched, result.evidence
    assert {"United Kingdom", "Poland"} <= set(result.entities), result.entities


@pytest.mark.parametrize("case", sorted(NEGATIVES))
def test_hard_negatives_do_not_match(compiled: CompiledTopic, case: str) -> None:
    title, text = NEGATIVES[case]
    result = match_text(compiled, title=title, text=text, language="en")
    assert not result.matched, result.evidence
    assert result.score < compiled.topic.rule.threshold


def test_polish_inflections_are_recognised(compiled: CompiledTopic) -> None:
    text = (
        "Polska, Polski, w Polsce, przez Polskę, z Polską; Wielka Brytania, Wielkiej Brytanii, "
        "Wielką Brytanię, z Wielką Brytanią; brytyjski, brytyjskiego, brytyjskich, brytyjskimi, "
        "brytyjską; w Londynie, do Londynu; Rosja, Rosji, rosyjskiego."
    )
    found = names(compiled, text)
    assert [n for n, _ in found].count("Poland") == 5
    assert [n for n, _ in found].count("United Kingdom") == 9
    assert [n for n, _ in found].count("London") == 2
    assert [n for n, _ in found].count("Russia") == 3


def test_hyphenated_bilateral_adjectives_name_both_sides(compiled: CompiledTopic) -> None:
    for text in ("polsko-brytyjskiego", "brytyjsko-polskich", "polsko – brytyjskich"):
        assert {n for n, _ in names(compiled, text)} == {"Poland", "United Kingdom"}, text


def test_german_compounds_match_through_open_aliases(compiled: CompiledTopic) -> None:
    found = names(compiled, "Der Verteidigungsminister und die Luftverteidigungssysteme")
    assert found == [("defence", "Verteidigungsminister"), ("defence", "Luftverteidigungssysteme")]


def test_case_sensitivity_traps(compiled: CompiledTopic) -> None:
    assert names(compiled, "She bought nail polish and a polished table.") == []
    assert names(compiled, "Tell us what you think, uk readers.") == []
    assert names(compiled, "The US and the UK.") == [
        ("United States", "US"),
        ("United Kingdom", "UK"),
    ]


def test_generated_capital_and_caps_variants(compiled: CompiledTopic) -> None:
    assert names(compiled, "Brytyjscy żołnierze") == [
        ("United Kingdom", "Brytyjscy"),
        ("armed forces", "żołnierze"),
    ]
    assert ("Poland", "POLAND") in names(compiled, "BRITAIN AND POLAND SIGN PACT")


def test_headline_title_case_variants(compiled: CompiledTopic) -> None:
    assert names(compiled, "Fighter Jets Land in Poland") == [
        ("air power", "Fighter Jets"),
        ("Poland", "Poland"),
    ]
    # Title Case hides the word "Security" in a civil sense as it does in running text
    assert names(compiled, "Talks on Energy Security and the Security of Supply") == [
        ("civil security", "Energy Security"),
        ("civil security", "Security of Supply"),
    ]


def test_word_boundaries_and_dotted_acronyms(compiled: CompiledTopic) -> None:
    assert names(compiled, "UKRAINE, PolandX, xNATO") == [("Ukraine", "UKRAINE")]
    assert names(compiled, "The U.K. and Poland") == [
        ("United Kingdom", "U.K."),
        ("Poland", "Poland"),
    ]


def test_longest_alias_hides_the_shorter_one(compiled: CompiledTopic) -> None:
    assert names(compiled, "energy security") == [("civil security", "energy security")]
    assert names(compiled, "the Battle of Britain") == [
        ("history and commemoration", "Battle of Britain")
    ]


def test_non_breaking_spaces_do_not_split_aliases(compiled: CompiledTopic) -> None:
    result = match_text(compiled, title="", text="Wielka\u00a0Brytania i Polska")
    assert result.evidence.entities["United Kingdom"].aliases == {"Wielka Brytania": 1}


def test_abbreviation_does_not_end_the_sentence(compiled: CompiledTopic) -> None:
    result = match_text(
        compiled, title="", text="The U.K. Defence Secretary flew to Poland for talks."
    )
    (window,) = result.evidence.windows
    assert window.unit == "sentence"
    assert window.text.startswith("The U.K. Defence Secretary")


@pytest.mark.parametrize(
    "text",
    [
        "Brig. Gen. Smith of the British Army flew to Poland for talks.",
        "Gen. bryg. Kowalski z Wojska Polskiego rozmawiał z brytyjskim attaché.",
        "Le gén. Dupont a reçu des militaires britanniques en Pologne.",
    ],
)
def test_ranks_do_not_end_the_sentence(compiled: CompiledTopic, text: str) -> None:
    result = match_text(compiled, title="", text=text)
    (window,) = result.evidence.windows
    assert window.unit == "sentence" and window.text == text


def test_title_counts_more_than_lead_and_lead_more_than_body(compiled: CompiledTopic) -> None:
    claim = "British troops will stay in Poland to deter Russia."
    filler = "Finance ministers discussed the budget for next year in great detail. " * 40
    in_title = match_text(compiled, title=claim, text=filler)
    in_lead = match_text(compiled, title="Budget talks", text=claim + " " + filler)
    in_body = match_text(compiled, title="Budget talks", text=filler + claim)
    assert in_title.score > in_lead.score > in_body.score > 0
    assert in_title.matched  # a title holding all three suffices
    assert in_title.evidence.parts.title == pytest.approx(0.7)


def test_passing_mention_deep_in_a_long_article_does_not_match(compiled: CompiledTopic) -> None:
    mention = "Britain and Poland also discussed defence. "
    filler = "Farm ministers met to discuss grain prices, subsidies and the harvest outlook. " * 60
    result = match_text(compiled, title="EU farm ministers meet", text=filler + mention * 2)
    assert not result.matched
    assert result.evidence.parts.body > 0
    assert result.evidence.parts.lead == 0


def test_short_excerpt_with_the_story_in_its_lead_matches(compiled: CompiledTopic) -> None:
    text = (
        "The UK and Poland agreed on Friday to build missiles together. "
        "British and Polish defence firms will share the work."
    )
    assert match_text(compiled, title="Missile pact", text=text).matched


def test_repeated_headline_is_not_counted_twice(compiled: CompiledTopic) -> None:
    title, text = POSITIVES["en-deployment"]
    once = match_text(compiled, title=title, text=text)
    twice = match_text(compiled, title=title, text=f"{title}\n{text}")
    assert once.score == twice.score


def test_evidence_is_json_and_explains_the_score(compiled: CompiledTopic, topic: Topic) -> None:
    title, text = POSITIVES["en-deployment"]
    result = match_text(compiled, title=title, text=text, language="en")
    evidence = json.loads(json.dumps(result.evidence.to_json()))  # the stored form
    assert evidence == result.evidence.to_json()
    assert Evidence.from_json(json.dumps(evidence)) == result.evidence
    assert result.topic == "uk-poland-defence"
    assert result.profile_version == topic.version
    assert 0 <= result.score <= 1
    assert set(evidence) == {
        "language", "entities", "missing", "windows", "parts", "rules", "threshold"
    }  # fmt: skip
    assert evidence["rules"] == {}  # a plain bilateral story: no rule weakened anything
    assert evidence["language"] == "en"
    assert evidence["missing"] == []
    assert evidence["entities"]["Poland"]["aliases"]["Poland"] >= 2
    assert evidence["entities"]["Sky Sabre"]["groups"] == ["defence", "uk"]
    assert list(evidence["entities"]) == list(result.entities)
    assert set(evidence["parts"]) == {"title", "lead", "body", "positive", "penalties"}
    assert 0 < len(evidence["windows"]) <= 5
    assert {"where", "unit", "weight", "text"} == set(evidence["windows"][0])
    assert evidence["windows"][0]["weight"] >= evidence["windows"][-1]["weight"]


def test_contrast_penalty_is_reported(compiled: CompiledTopic) -> None:
    title, text = NEGATIVES["football"]
    result = match_text(compiled, title=title, text=text)
    assert result.evidence.parts.penalties["sport"] > 0


def test_missing_group_is_reported_and_scores_zero(compiled: CompiledTopic) -> None:
    result = match_text(compiled, title="Poland and Britain", text="Trade grew last year.")
    assert result.score == 0
    assert result.evidence.missing == ("defence",)
    assert result.evidence.windows == ()


def test_compiled_topic_is_cached(topic: Topic) -> None:
    assert compile_topic(topic) is compile_topic(topic)


def test_empty_text(compiled: CompiledTopic) -> None:
    result = match_text(compiled, title="", text="")
    assert (result.score, result.matched, result.entities) == (0, False, ())
