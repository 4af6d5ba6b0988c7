"""The article built from an entry, its page and its extraction (flows/collect/articles.py)."""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import UTC, datetime

import pytest

from flows.collect.articles import _one_space, build_article, needs_page_metadata
from warehouse.records import Entry, Extracted


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


def _entry(**changes: object) -> Entry:
    entry = Entry(
        key="https://news.example/a",
        source="News",
        feed_url="https://news.example/feed.xml",
        url="https://news.example/a",
        link="https://news.example/a",
        guid=None,
        title="Harbour strike ends",
        summary="Dockers accept.",
        published_at=datetime(2024, 3, 12, 9, tzinfo=UTC),
        author="Helen Marsh",
    )
    return dataclasses.replace(entry, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("missing", "field"), [("title", "title"), ("author", "author"), ("published_at", "date")]
)
def test_page_metadata_is_needed_only_for_what_the_feed_lacks(missing: str, field: str) -> None:
    assert needs_page_metadata(_entry()) == frozenset()
    assert needs_page_metadata(_entry(**{missing: "" if missing == "title" else None})) == {field}
    assert needs_page_metadata(_entry(title="", author=None, published_at=None)) == {
        "title",
        "author",
        "date",
    }


def test_an_entry_with_title_author_and_date_uses_none_of_the_pages_metadata() -> None:
    lean = Extracted(status="ok", text="Dockers at Northport voted.", site_name="Gazette")
    full = dataclasses.replace(
        lean, title="Page title", author="Page Author", published="2020-01-01"
    )
    now = datetime(2024, 3, 13, tzinfo=UTC)
    assert build_article(_entry(), None, lean, now=now) == build_article(
        _entry(), None, full, now=now
    )
