"""The matcher's core rule: every required group (here: the UK, Poland, defence) must meet in
one sentence, or in the title with the lead. A group named elsewhere in the article does not
count. Written for the test; no corpus text."""

from __future__ import annotations

import pytest

from flows.config import load_topics
from flows.matching.match import CompiledTopic, compile_topic, match_text
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def compiled() -> CompiledTopic:
    return compile_topic(load_topics(ROOT / "topics", only=("uk-poland-defence",))[0])


POLAND_DEFENCE = (
    "The Polish army has ordered two hundred new tanks from a domestic manufacturer, the "
    "defence ministry in Warsaw said on Tuesday. The armoured brigades on the eastern border "
    "will receive the first vehicles next year, and soldiers will train on them this winter.\n"
    "Officials said the contract would also cover ammunition, spare parts and maintenance for "
    "two decades, and that most of the work would be done in factories near Kraków."
)
UK_ELSEWHERE = (
    "\nIn unrelated news, the United Kingdom's weather service forecast heavy snow for the "
    "weekend, and British railways warned travellers of delays."
)


@pytest.mark.parametrize(
    ("missing", "title", "text"),
    [
        ("UK", "Polish army orders new tanks", POLAND_DEFENCE + UK_ELSEWHERE),
        (
            "Poland",
            "British army orders new tanks",
            POLAND_DEFENCE.replace("Polish", "British")
            .replace("in Warsaw", "in London")
            .replace("near Kraków", "near Leeds")
            + "\nIn unrelated news, Polish farmers protested about grain prices in Warsaw.",
        ),
    ],
)
def test_a_group_named_only_in_an_unrelated_sentence_does_not_make_a_match(
    compiled: CompiledTopic, missing: str, title: str, text: str
) -> None:
    result = match_text(compiled, title=title, text=text, language="en")
    assert not result.matched, f"{missing} only in an unrelated sentence, yet {result.score:.2f}"
    assert result.score < 0.3


def test_the_same_groups_in_one_sentence_do_make_a_match(compiled: CompiledTopic) -> None:
    together = POLAND_DEFENCE + (
        "\nBritain and Poland will also hold a joint defence exercise with the new tanks."
    )
    result = match_text(
        compiled, title="Polish army orders new tanks", text=together, language="en"
    )
    assert result.matched, result.score
