"""The article built from an entry, its page and its extraction (flows/collect/articles.py)."""

from __future__ import annotations

import random
import re

import pytest

from flows.collect.articles import _one_space


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\n", "a", " a", "a ", "a  b\n\nc\t", "\u00a0x\u2009y\u202f", "ż\u3000ł \x1c z"],
)
def test_one_space_equals_the_regex_the_stored_hashes_were_made_with(text: str) -> None:
    assert _one_space(text) == re.sub(r"\s+", " ", text)


def test_one_space_equals_the_regex_on_random_text() -> None:
    rng = random.Random(7)
    pieces = ["word", "ą", " ", "  ", "\n", "\t", "\u00a0", "\u2028", "\x1f", "\x85", "."]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        assert _one_space(text) == re.sub(r"\s+", " ", text), repr(text)
