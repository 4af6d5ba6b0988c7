"""The matcher's named rules, one error class each, on sentences written for these tests.

Each test goes through the public matcher and checks what a user sees: matched or not, and
which rule the evidence says fired (`newswatch explain` prints the same evidence).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from flows.config import load_topics
from flows.matching.aliases import scan
from flows.matching.evaluation import evaluate, format_report, parse_corpus
from flows.matching.explain import describe
from flows.matching.match import CompiledTopic, compile_topic, match_text
from flows.topic import Topic
from warehouse.records import MatchResult

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def topic() -> Topic:
    return load_topics(ROOT / "topics", only=("uk-poland-defence",))[0]


@pytest.fixture(scope="module")
def compiled(topic: Topic) -> CompiledTopic:
    return compile_topic(topic)


def run(compiled: CompiledTopic, title: str, text: str) -> MatchResult:
    return match_text(compiled, title=title, text=text)


# ---- history: background to today's news, or the subject --------------------------------


def test_history_in_passing_does_not_sink_current_news(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "RAF jets head to Poland",
        "Four Royal Air Force Typhoons will patrol Polish airspace from next week, the Ministry "
        "of Defence said. The pilots will fly alongside Polish F-16s over the eastern flank. "
        "British crews will stay for four months. Commanders said the deployment would deter "
        "Russia. Local officials welcomed the crews. The jets arrive weeks after the anniversary "
        "of the Battle of Britain, in which Polish pilots flew for the RAF in 1940.",
    )
    assert result.matched, result.evidence
    assert result.evidence.parts.penalties == {}
    (note,) = result.evidence.rules["background"]
    assert note.startswith("history is background")


def test_an_anniversary_in_the_headline_is_background(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "On the alliance's anniversary, Britain and Poland sign a defence treaty",
        "Britain and Poland signed a defence treaty on Friday. British troops will keep serving "
        "in Orzysz. Polish officials said the deal would deter Russia. The treaty also covers "
        "joint missile production. Officials recalled the alliance of 1939. Ministers will meet "
        "again next year.",
    )
    assert result.matched, result.evidence
    assert result.evidence.parts.penalties == {}
    assert result.evidence.rules["background"][0].startswith("history is background")


def test_a_history_piece_is_still_penalised(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "The airmen of 1940",
        "In 1940 Polish pilots escaped to Britain and joined RAF squadrons. In September 1940 "
        "they flew in the Battle of Britain against the Luftwaffe. Many of the veterans settled "
        "in England after 1945. A memorial near London lists their names.",
    )
    assert not result.matched, result.evidence
    assert result.evidence.parts.penalties["history"] > 0
    assert "history is the subject" in result.evidence.rules["background"][0]


# ---- lists are not pairs; a venue is not a party ------------------------------------------


def test_a_list_of_four_states_is_not_a_pair(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "Ministers meet on air defence",
        "Defence ministers from Germany, France, Poland and the United Kingdom met on Monday to "
        "discuss joint purchases of air defence systems.",
    )
    assert not result.matched, result.evidence
    assert "Germany, France, Poland and the United Kingdom" in result.evidence.rules["list"][0]


def test_a_bilateral_pair_with_one_more_state_is_no_list(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "Britain and Poland to train Ukrainian troops",
        "British and Polish instructors will train Ukrainian soldiers together in Poland.",
    )
    assert result.matched, result.evidence
    assert "list" not in result.evidence.rules


def test_a_capital_named_as_the_venue_is_weak_evidence(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "Polish minister at a conference",
        "The Polish defence minister spoke about missile production at a conference in London.",
    )
    assert not result.matched, result.evidence
    assert result.evidence.rules["venue"] == ("in London",)


# ---- a passing word is not substance ------------------------------------------------------


def test_one_defence_word_among_trade_sectors_is_passing(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "Poland and Britain sign trade memorandum",
        "British and Polish ministers agreed to expand cooperation in finance, energy, defence "
        "and tourism.",
    )
    assert not result.matched, result.evidence
    (note,) = result.evidence.rules["passing"]
    assert note.endswith("energy, defence and tourism")


def test_a_list_of_defence_words_is_substance(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "Poland and Britain sign memorandum",
        "British and Polish ministers agreed to expand cooperation in intelligence, air defence "
        "and deterrence.",
    )
    assert result.matched, result.evidence
    assert "passing" not in result.evidence.rules


def test_commas_around_a_clause_are_no_list(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "British jets for Poland",
        "Poland's minister, a former pilot, fears drones. British jets will patrol Polish "
        "airspace.",
    )
    assert "passing" not in result.evidence.rules
    assert "list" not in result.evidence.rules


def test_business_words_that_armies_also_use_are_not_defence(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "Polish parcel firm deploys lockers across the UK",
        "The Polish company said it had deployed 1,000 lockers in British cities.",
    )
    assert result.evidence.missing == ("defence",)
    assert not result.matched


def test_energy_security_in_polish_cases_is_not_defence(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "Rozmowy polsko-brytyjskie o bezpieczeństwie energetycznym",
        "Ministrowie rozmawiali w Warszawie o bezpieczeństwie energetycznym i cenach gazu.",
    )
    assert result.evidence.missing == ("defence",)
    assert not result.matched


# ---- implicit parties ---------------------------------------------------------------------


def test_the_two_countries_refers_back_to_the_pair(compiled: CompiledTopic) -> None:
    named = "John Healey met Władysław Kosiniak-Kamysz in Warsaw on Tuesday to discuss defence."
    back = " The two countries will build air defence missiles together from next year."
    alone = run(compiled, "Ministers meet", named)
    result = run(compiled, "Ministers meet", named + back)
    assert not alone.matched and result.matched, result.evidence
    assert result.evidence.rules["carry"][0].startswith("The two countries will build")


def test_the_two_countries_in_the_first_sentence_refers_back_to_the_title(
    compiled: CompiledTopic,
) -> None:
    text = (
        "The two countries' defence ministers met on Monday. They agreed to build missiles "
        "together."
    )
    result = run(compiled, "Britain and Poland strengthen ties", text)
    assert result.matched, result.evidence
    assert result.evidence.rules["carry"] == (
        "The two countries' defence ministers met on Monday.",
    )


def test_a_back_reference_to_another_pair_carries_nothing(compiled: CompiledTopic) -> None:
    text = (
        "Britain and Germany signed a memorandum on Tuesday. The two countries will build air "
        "defence missiles for Poland from next year."
    )
    result = run(compiled, "Ministers meet", text)
    assert not result.matched, result.evidence
    assert "carry" not in result.evidence.rules


# ---- two neighbouring sentences: one names the pair, the next the substance --------------

VISIT = "The British prime minister arrived in Poland on Friday for talks."
PLEDGE = "He said Britain would spend more on air defence and keep its troops on the eastern flank."


def test_neighbouring_sentences_that_share_a_party_make_a_pair(compiled: CompiledTopic) -> None:
    result = run(compiled, "Starmer and Tusk meet in Warsaw", f"{VISIT} {PLEDGE}")
    assert result.matched, result.evidence
    (note,) = result.evidence.rules["adjacent"]
    assert note.startswith("The British prime minister arrived") and note.endswith("flank.")
    assert [w.unit for w in result.evidence.windows if w.unit == "sentences"] == ["sentences"]


def test_a_sentence_naming_both_sides_pairs_with_the_next_one_s_substance(
    compiled: CompiledTopic,
) -> None:
    text = (
        "Keir Starmer and Donald Tusk signed the agreement in Warsaw on Thursday. It covers "
        "joint training, intelligence sharing and weapons production."
    )
    result = run(compiled, "UK and Poland agree new treaty", text)
    assert result.matched, result.evidence
    assert result.evidence.rules["adjacent"][0].startswith("Keir Starmer and Donald Tusk")


def test_neighbours_in_different_paragraphs_make_no_pair(compiled: CompiledTopic) -> None:
    result = run(compiled, "Starmer and Tusk meet in Warsaw", f"{VISIT}\n{PLEDGE}")
    assert not result.matched, result.evidence
    assert "adjacent" not in result.evidence.rules


def test_neighbours_sharing_no_group_stay_a_paragraph(compiled: CompiledTopic) -> None:
    text = "The Polish ambassador spoke on Friday. British troops trained on the eastern flank."
    result = run(compiled, "Starmer and Tusk meet in Warsaw", text)
    assert not result.matched, result.evidence
    assert "adjacent" not in result.evidence.rules
    assert [w.unit for w in result.evidence.windows] == ["sentence+title", "paragraph"]


def test_adjacent_groups_must_be_declared() -> None:
    profile = ROOT / "topics" / "uk-poland-defence.yaml"
    data = yaml.safe_load(profile.read_text(encoding="utf-8"))
    data["rule"]["adjacent"] = {"sides": ["uk", "poalnd"], "weight": 0.8}
    with pytest.raises(ValidationError, match="names group 'poalnd', which `groups:` does not"):
        Topic.model_validate(data)


# ---- a headline pairing one side with a third state ------------------------------------------

PURCHASE = (
    "Britain will buy German howitzers for its army, the Ministry of Defence said. The deal "
    "follows the prime minister's visit to Poland, where he pledged British support for NATO's "
    "eastern flank."
)


def test_a_headline_with_another_partner_completes_no_lead_sentence(
    compiled: CompiledTopic,
) -> None:
    result = run(compiled, "UK to buy German howitzers", PURCHASE)
    assert not result.matched, result.evidence
    (note,) = result.evidence.rules["partner"]
    assert note == "UK to buy German howitzers (the other state 3x, the missing side 1x)"
    assert run(compiled, "UK to buy new howitzers", PURCHASE).matched


def test_a_third_state_named_as_a_place_is_no_partner(compiled: CompiledTopic) -> None:
    text = (
        "British air defence launchers will protect Polish airports near the border with "
        "Ukraine, the Ministry of Defence said. Poland's government welcomed the decision. Polish "
        "crews will train with the British."
    )
    result = run(compiled, "British launchers to guard the border with Ukraine", text)
    assert result.matched, result.evidence
    assert "partner" not in result.evidence.rules


def test_a_headline_naming_both_sides_and_a_third_state_is_no_other_partnership(
    compiled: CompiledTopic,
) -> None:
    result = run(compiled, "Poland and UK buy German howitzers", PURCHASE)
    assert result.matched, result.evidence
    assert "partner" not in result.evidence.rules


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (  # Polish: the UK only as a Briton (instrumental), Poland only as an air base
            "Brytyjskie myśliwce w Malborku",
            "Z Brytyjczykiem za sterami samoloty bojowe wystartowały z Malborka.",
        ),
        (  # Polish: the UK side only as a minister's name in the instrumental case
            "Rozmowy o obronie powietrznej",
            "Minister Kosiniak-Kamysz rozmawiał z Johnem Healeyem o obronie powietrznej Polski.",
        ),
        (  # German: a compound for combat aircraft, the UK only as an adjective
            "Britische Kampfflugzeuge für Polen",
            "Britische Kampfflugzeuge werden ab Montag in Polen stationiert.",
        ),
        (  # French: combat aircraft, British and Polish only as adjectives
            "Des avions de combat britanniques pour la Pologne",
            "Des avions de combat britanniques protégeront le ciel polonais cet hiver.",
        ),
        (  # Italian: exercises and airspace
            "Regno Unito e Polonia, esercitazioni congiunte",
            "Regno Unito e Polonia terranno esercitazioni congiunte nello spazio aereo polacco.",
        ),
    ],
)
def test_parties_and_defence_vocabulary_outside_english(
    compiled: CompiledTopic, title: str, text: str
) -> None:
    result = run(compiled, title, text)
    assert result.matched, result.evidence


@pytest.mark.parametrize(
    ("title", "text"),
    [
        # each case names one side or the substance only by a word the profile lacked before
        ("Londres et Varsovie renforcent l'Otan", "Le Royaume-Uni et la Pologne veulent renforcer l'Otan cette année."),
        ("La Gb manda i caccia in Polonia", "I caccia della Gb sorvoleranno la Polonia da lunedì."),
        ("L'Inghilterra manda truppe in Polonia", "Gli inglesi manderanno truppe in Polonia per il fianco orientale."),
        ("Esercitazione anglo-polacca", "Al via un'esercitazione anglo-polacca sul Baltico."),
        ("Brytyjskie wyrzutnie trafią do Polski", "Brytyjski pułk przywiezie do Polski haubice i wyrzutnie."),
        ("Reino Unido e Polônia reforçam a defesa", "O Reino Unido vai enviar mísseis para a Polônia."),
        ("Poland orders British Brimstone", "Poland will buy Brimstone and Storm Shadow from British makers."),
        ("UK and Poland join Defender Europe", "Britain and Poland will both take part in Defender Europe this spring."),
        ("Britische Truppenverlegung nach Polen", "Großbritannien plant eine Truppenverlegung nach Polen."),
        ("Whitehall backs Polish air defence", "Whitehall will finance Polish air defence."),
        ("Soldats d'outre-Manche en Pologne", "Les soldats d'outre-Manche resteront en Pologne cet hiver."),
        ("Żołnierze z Wysp zostają w Polsce", "Żołnierze z Wysp zostaną na poligonie w Wędrzynie do wiosny."),
        ("Polish troops train on Salisbury Plain", "Soldiers from Poland trained on Salisbury Plain this week."),
        ("Brytyjscy żołnierze w Białymstoku", "Żołnierze brytyjscy przyjechali do Białegostoku na ćwiczenia."),
        ("King Charles visits Polish troops", "King Charles met Polish soldiers training in Wiltshire."),
        ("Szydło: more British soldiers", "Beata Szydło welcomed more British soldiers to the eastern flank."),
        ("Brytyjski projekt fregat dla Gdyni", "Stocznia w Gdyni zbuduje fregaty według brytyjskiego projektu."),
    ],
)  # fmt: skip
def test_inflections_offices_systems_and_exercises_by_language(
    compiled: CompiledTopic, title: str, text: str
) -> None:
    result = run(compiled, title, text)
    assert result.matched, result.evidence


def test_polish_case_forms_of_defence_words(compiled: CompiledTopic) -> None:
    text = (
        "żołnierzem, brygadą, okrętem, fregatą, myśliwcem, pociskiem, sojuszem, armiami, Polakiem"
    )
    found = [
        compiled.topic.entities[e] for _, _, e in scan(compiled.automaton, f"\x00{text}\x00")[0]
    ]
    assert [e.groups for e in found] == [("defence",)] * 8 + [("poland",)]
    # a hunter (myśliwy) is no fighter jet (myśliwiec), and Armin no army
    assert scan(compiled.automaton, "\x00myśliwy Armin\x00")[0] == []


def test_a_hunt_is_no_fighter_jet(compiled: CompiledTopic) -> None:
    title = "La caccia ai lavoratori polacchi nel Regno Unito"
    result = run(compiled, title, "Nel Regno Unito la caccia ai lavoratori polacchi continua.")
    assert not result.matched and result.evidence.missing == ("defence",), result.evidence


def test_capitals_by_adjective_name_their_state(compiled: CompiledTopic) -> None:
    text = "londyńskie biuro, warszawskiego rządu, Warschauer Regierung, la presse londonienne"
    found = [compiled.names[e] for _, _, e in scan(compiled.automaton, f"\x00{text}\x00")[0]]
    assert found == ["London", "Warsaw", "Warsaw", "London"]


def test_italian_list_of_states_is_not_a_pair(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "Germania, Francia, Polonia e Regno Unito discutono di difesa",
        "I ministri si sono riuniti per discutere di difesa e di sostegno militare.",
    )
    assert not result.matched, result.evidence
    assert "list" in result.evidence.rules


# ---- explain shows the rules; the profile names real entities ------------------------------


def test_explain_prints_which_rule_fired(compiled: CompiledTopic) -> None:
    result = run(
        compiled,
        "Poland and Britain sign trade memorandum",
        "British and Polish ministers agreed to expand cooperation in finance, energy, defence "
        "and tourism.",
    )
    row: dict[str, Any] = {
        "title": "t", "url": "https://example.org/a", "source": "s", "published_at": None,
        "language": "en", "extraction": "feed", "story_id": 1, "topic": result.topic,
        "matched": result.matched, "score": result.score, "evidence": result.evidence,
        "profile_version": result.profile_version,
    }  # fmt: skip
    shown = describe([row])
    assert "rule passing fired: " in shown
    assert "energy, defence and tourism" in shown.split("rule passing fired: ")[1].split("\n")[0]


def test_explain_prints_the_neighbouring_sentences_and_the_other_partner(
    compiled: CompiledTopic,
) -> None:
    shown = []
    for title, text in (
        ("Starmer and Tusk meet in Warsaw", f"{VISIT} {PLEDGE}"),
        ("UK to buy German howitzers", PURCHASE),
    ):
        result = run(compiled, title, text)
        row: dict[str, Any] = {
            "title": title, "url": "https://example.org/a", "source": "s", "published_at": None,
            "language": "en", "extraction": "feed", "story_id": 1, "topic": result.topic,
            "matched": result.matched, "score": result.score, "evidence": result.evidence,
            "profile_version": result.profile_version,
        }  # fmt: skip
        shown.append(describe([row]))
    assert "rule adjacent fired: The British prime minister arrived in Poland" in shown[0]
    assert "(lead, sentences, +" in shown[0]
    assert "rule partner fired: UK to buy German howitzers (the other state 3x" in shown[1]

    profile = ROOT / "topics" / "uk-poland-defence.yaml"
    data = yaml.safe_load(profile.read_text(encoding="utf-8"))
    data["rule"]["venue"]["places"] = ["Atlantis"]
    with pytest.raises(ValidationError, match="venue place 'Atlantis' is no entity"):
        Topic.model_validate(data)


def test_a_long_word_before_a_full_stop_ends_the_sentence(compiled: CompiledTopic) -> None:
    text = (
        "Die Regierung tagte. Der Minister sprach über Verteidigungszusammenarbeit. "
        "Britische Soldaten bleiben in Polen."
    )
    result = run(compiled, "Nachrichten", text)
    texts = [w.text for w in result.evidence.windows if w.unit == "sentence"]
    assert texts == ["Britische Soldaten bleiben in Polen."]


# ---- the machinery is the topic's to word: an invented topic uses the same rules ----------

INVENTED = """\
id: ruritania-borduria-ports
name: Ruritania–Borduria port cooperation
groups: {ru: Ruritanian side, bo: Bordurian side, port: ports and shipping, back: back-references}
rule:
  require: [ru, bo, port]
  threshold: 0.5
  venue: {places: [Strelsau], after: {en: [in]}, weight: 0.5}
  carry: {group: back, groups: [ru, bo]}
  joiners: [and]
entities:
  - {name: Ruritania, groups: [ru], aliases: {en: [Ruritania, Ruritanian]}}
  - {name: Strelsau, groups: [ru], aliases: {en: [Strelsau]}}
  - {name: Borduria, groups: [bo], aliases: {en: [Borduria, Bordurian]}}
  - {name: ports, groups: [port], aliases: {en: [port, harbour, ferry]}}
  - {name: the pair, groups: [back], aliases: {en: [the two neighbours]}}
"""


def test_an_invented_topic_words_its_own_rules_and_eval_prints_them() -> None:
    invented = Topic.model_validate(yaml.safe_load(INVENTED))
    line = {
        "id": "x1",
        "title": "Talks",
        "text": "Bordurian envoys discussed a ferry in Strelsau.",
        "language": "en",
        "label": "relevant",
        "topic_tag": "t",
    }
    report = format_report(evaluate(invented, parse_corpus([json.dumps(line)])))
    assert "rule venue: in Strelsau" in report
    carried = match_text(
        compile_topic(invented),
        title="Talks",
        text="Ruritania and Borduria met on Monday. The two neighbours will share a ferry.",
    )
    assert carried.evidence.rules["carry"] == ("The two neighbours will share a ferry.",)
