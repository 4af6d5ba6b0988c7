"""The matcher's fast paths agree with their plain definitions: hits, sentences, snippets."""

from __future__ import annotations

import random

import pytest

from flows.matching.aliases import _sorted_scan, build_automaton, scan
from flows.matching.match import _snippet, compile_topic
from flows.matching.sentences import sentence_starts
from flows.topic import Topic

# Aliases that overlap every way the scan has to resolve: a multi-word alias covering shorter
# ones, suffixes inside longer aliases, open aliases with a shared stem (equal spans), an open
# alias against a longer plain one, and keys that are not plain words.
OVERLAPS = Topic.model_validate(
    {
        "id": "overlaps",
        "name": "Overlapping aliases",
        "groups": {"a": "side a", "b": "side b"},
        "rule": {"require": ["a", "b"], "threshold": 0.5},
        "entities": [
            {"name": "Polska", "groups": ["a"], "aliases": {"pl": ["Polska", "Grupa"]}},
            {"name": "PGZ", "groups": ["b"], "aliases": {"pl": ["Polska Grupa Zbrojeniowa"]}},
            {"name": "arms", "groups": ["b"], "aliases": {"pl": ["Zbrojeniowa", "zbroj*"]}},
            {"name": "Verteidigung", "groups": ["b"], "aliases": {"de": ["Verteidigung*"]}},
            {"name": "Verteidigungs", "groups": ["a"], "aliases": {"de": ["Verteidigungs*"]}},
            {"name": "minister", "groups": ["a"], "aliases": {"de": ["Verteidigungsminister"]}},
            {"name": "odd", "groups": ["a"], "aliases": {"en": ["U.S.", "-grid", "PILICA+"]}},
        ],
    }
)
PIECES = [
    "Polska",
    "Grupa",
    "Zbrojeniowa",
    "Polska Grupa",
    "Polska Grupa Zbrojeniowa",
    "zbrojeniowy",
    "Verteidigung",
    "Verteidigungs",
    "Verteidigungsminister",
    "Verteidigungsministerium",
    "U.S.",
    "-grid",
    "PILICA+",
    "x",
    "",
]
SEPARATORS = [" ", " ", "", "-", ", ", ". ", "\n", "s", "(", " \x00"]


def test_fast_scan_agrees_with_the_sorted_definition() -> None:
    automaton = build_automaton(OVERLAPS)
    rng = random.Random(6)
    for _ in range(3000):
        words = rng.choices(PIECES, k=rng.randint(1, 10))
        text = "".join(w + rng.choice(SEPARATORS) for w in words)
        padded = f"\x00{text}\x00"
        assert scan(automaton, padded) == _sorted_scan(automaton, padded), text


def test_a_covering_alias_replaces_the_hits_it_covers() -> None:
    automaton = build_automaton(OVERLAPS)
    hits, written, _ = scan(automaton, "\x00Polska Grupa Zbrojeniowa i Polska\x00")
    assert [entity for _, _, entity in hits] == [1, 0]  # PGZ, then Polska
    assert written == {"Polska Grupa Zbrojeniowa": 1, "Polska": 1}


@pytest.mark.parametrize(
    "text",
    ["One two.", "  One\ttwo \n three  ", "One  two", "\nOne two\n", "Tab\there", "x\u2003y", ""],
)
def test_snippet_collapses_whitespace_like_split_and_join(text: str) -> None:
    assert _snippet(text) == " ".join(text.split())[:280]


def test_sentence_bounds_within_a_larger_text_match_the_text_alone() -> None:
    body = "Gen. Smith met the U.S. envoy. They talked.\nMr. Jones left! Then (all) went."
    for prefix in ("", "\x00Title\x00", "Abbrev Gen"):
        sentences, lines = sentence_starts(prefix + body + "\x00", len(prefix), len(prefix + body))
        alone = sentence_starts(body)
        assert [s - len(prefix) for s in sentences] == alone[0]
        assert [s - len(prefix) for s in lines] == alone[1]


def test_a_compiled_topic_stays_hashable() -> None:
    compiled = compile_topic(OVERLAPS)
    assert {compiled: 1}[compiled] == 1  # its key -> entity dict takes no part in the hash
