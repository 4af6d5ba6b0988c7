"""`newswatch topic draft` and `topic show`: a profile drafted from a seed, offline, bounded."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.config import load_topics
from flows.matching.seed_entities import find_entities
from tests.conftest import ROOT

SEED = ROOT / "topics" / "uk-poland-defence.seed.txt"


def draft(tmp_path: Path, seed: Path, *extra: str) -> tuple[int, str, Path]:
    topics = tmp_path / "topics"
    result = CliRunner().invoke(
        app,
        ["topic", "draft", "--seed", str(seed), "--id", "drafted", "--topics", str(topics), *extra],
    )
    return result.exit_code, result.output, topics


def test_the_draft_of_the_project_seed_holds_its_entities_each_pointing_into_it(
    tmp_path: Path,
) -> None:
    code, out, topics = draft(tmp_path, SEED)
    assert code == 0, out
    assert "required: united_kingdom, poland, substance" in out
    topic = load_topics(topics)[0]  # a valid profile, its seed copied beside it
    assert (topics / "drafted.seed.txt").read_bytes() == SEED.read_bytes()
    text = SEED.read_text(encoding="utf-8")
    by_name = {e.name: e for e in topic.entities}
    for name in ("United Kingdom", "Poland", "London", "Keir Starmer", "Donald Tusk", "NATO"):
        assert name in by_name, name
    assert "Security and Defence Partnership Treaty" in by_name
    for e in topic.entities:
        assert e.seed is not None
        for start, end in e.seed.offsets:
            assert text[start:end] in {a for names in e.aliases.values() for a in names}
        start, end = e.seed.offsets[0]
        assert text[start:end] in e.seed.sentence
    uk, pl, london = by_name["United Kingdom"], by_name["Poland"], by_name["London"]
    assert {"Britain", "UK"} <= set(uk.aliases["en"]) and uk.groups == ("united_kingdom",)
    assert "Wielkiej Brytanii" in uk.aliases["pl"] and "Royaume-Uni" in uk.aliases["fr"]
    assert "Vereinigtes Königreich" in uk.aliases["de"]
    # demonyms from CLDR's names of regional languages ("British English", "angielski brytyjski")
    assert "British" in uk.aliases["en"] and "brytyjskich" in uk.aliases["pl"]
    assert "britanniques" in uk.aliases["fr"]
    assert {"Polsce", "polskiego"} <= set(pl.aliases["pl"])
    assert {"Polen", "polnischen"} <= set(pl.aliases["de"]) and "Pologne" in pl.aliases["fr"]
    assert "Londynie" in london.aliases["pl"] and london.groups == ("united_kingdom",)
    assert by_name["Donald Tusk"].groups == ("poland",)  # "Polish Prime Minister Donald Tusk"
    assert "Tuska" in by_name["Donald Tusk"].aliases["any"]
    assert by_name["Russia"].groups == ("other_state",)


def test_topic_show_says_where_each_entity_comes_from(tmp_path: Path) -> None:
    code, _, topics = draft(tmp_path, SEED)
    assert code == 0
    shown = CliRunner().invoke(app, ["topic", "show", "drafted", "--topics", str(topics)])
    assert shown.exit_code == 0, shown.output
    assert "0 added by hand" in shown.output
    assert "- Donald Tusk [poland] from the seed at " in shown.output
    assert "    any: Donald Tusk, Tusk, Tuska" in shown.output
    curated = CliRunner().invoke(app, ["topic", "show", "--topics", str(ROOT / "topics")])
    assert curated.exit_code == 0
    assert "0 from the seed" in curated.output and "[uk] added by hand" in curated.output
    missing = CliRunner().invoke(app, ["topic", "show", "nope", "--topics", str(topics)])
    assert missing.exit_code == 2 and "known: drafted" in missing.output


def test_a_draft_never_replaces_a_topic_file_without_force(tmp_path: Path) -> None:
    code, _, topics = draft(tmp_path, SEED)
    assert code == 0
    target = topics / "drafted.yaml"
    target.write_text(target.read_text(encoding="utf-8") + "# my own edit\n", encoding="utf-8")
    code, out, _ = draft(tmp_path, SEED)
    assert code == 1 and "exists; fix: pass --force" in out
    assert target.read_text(encoding="utf-8").endswith("# my own edit\n")
    code, out, _ = draft(tmp_path, SEED, "--force")
    assert code == 0 and "my own edit" not in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "the seed is empty"),
        (b"  \n\t\n", "the seed is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary"),
        ("Zażółć gęślą jaźń".encode("cp1250"), "not UTF-8"),
        (b"The Alliance and the Kingdom met. " * 320_000, "a seed is one article"),
    ],
)
def test_a_bad_seed_is_a_clear_error_in_seconds_and_writes_nothing(
    tmp_path: Path, content: bytes, says: str
) -> None:
    seed = tmp_path / "seed.txt"
    seed.write_bytes(content)
    began = time.monotonic()
    code, out, topics = draft(tmp_path, seed)
    assert time.monotonic() - began < 5
    assert code == 2 and says in out and str(seed) in out and "fix:" in out
    assert not (topics / "drafted.yaml").exists()


def test_a_long_seed_gives_a_bounded_draft_in_seconds(tmp_path: Path) -> None:
    seed = tmp_path / "long.txt"
    sentence = (
        "Chancellor Anna Berger of Germany met President Paul Lemaire of France in Paris on "
        "Tuesday to sign a defence pact on Harbour Patrol 7 drones and shared air defence. "
    )
    seed.write_text(sentence * 1000, encoding="utf-8")  # 180 KB
    began = time.monotonic()
    code, out, topics = draft(tmp_path, seed)
    assert code == 0, out
    assert time.monotonic() - began < 30  # ~3 s alone; shared CI cores
    topic = load_topics(topics)[0]
    assert set(topic.rule.require) == {"germany", "france", "substance"}
    assert len(topic.entities) < 80


def test_entities_of_a_text_by_kind() -> None:
    text = (
        "Chancellor Anna Berger of Germany met President Paul Lemaire in Paris. "
        "The Nordic Shield Agreement covers Harbour Patrol 7 drones. Berger said the OSCE "
        "would observe. On Monday the French delegation left."
    )
    found = {(e.kind, e.name) for e in find_entities(text, "en")}
    assert {
        ("person", "Anna Berger"),
        ("person", "Paul Lemaire"),
        ("country", "Germany"),
        ("country", "France"),  # from "French"
        ("city", "Paris"),
        ("agreement", "Nordic Shield Agreement"),
        ("equipment", "Harbour Patrol 7"),
        ("organisation", "OSCE"),
    } <= found
    assert not any(name in ("The", "On", "Monday") for _, name in found)
    berger = next(e for e in find_entities(text, "en") if e.name == "Anna Berger")
    assert len(berger.spans) == 2  # "Berger said" is the same person


def test_the_draft_applies_to_a_corpus_as_is(tmp_path: Path) -> None:
    code, _, topics = draft(tmp_path, SEED)
    assert code == 0
    items = [
        {
            "title": "Poland and Britain extend their security treaty",
            "text": "Poland and the UK agreed in London to widen the security treaty.",
            "label": "relevant",
        },
        {
            "title": "Poland beat England",
            "text": "Poland beat England in a friendly in London.",
            "label": "not_relevant",
        },
    ]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(map(json.dumps, items)), encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "--corpus", str(corpus), "--topics", str(topics)])
    assert result.exit_code == 0, result.output
    assert "Errors (0)" in result.output


def test_a_polish_seed_finds_inflected_places_and_drafts_polish_cases(tmp_path: Path) -> None:
    seed = tmp_path / "pl.txt"
    seed.write_text(
        "Niemcy i Francja podpisały w Paryżu umowę o obronności.\n\n"
        "Kanclerz Niemiec spotkał się w Paryżu z prezydentem Francji. Umowa o obronności "
        "przewiduje wspólne ćwiczenia, a ministrowie obrony Niemiec i Francji będą się "
        "spotykać w Berlinie.",
        encoding="utf-8",
    )
    code, out, topics = draft(tmp_path, seed)
    assert code == 0, out
    topic = load_topics(topics)[0]
    by_name = {e.name: e for e in topic.entities}
    assert set(topic.rule.require) == {"germany", "france", "substance"}
    assert by_name["Paris"].seed is not None and len(by_name["Paris"].seed.offsets) == 2
    assert {"Paryżu", "Paryża"} <= set(by_name["Paris"].aliases["pl"])
    assert {"Niemiec", "Niemcy"} <= set(by_name["Germany"].aliases["pl"])
    assert "Deutschland" in by_name["Germany"].aliases["de"]
    assert {"obronności", "obronność"} <= set(by_name["obronności"].aliases["pl"])
