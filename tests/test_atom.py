"""The feed of matches: valid Atom (RFC 4287's required elements), stable ids, hostile text inert."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import feedparser
from lxml import etree

from reports.atom import ATOM, feed_id, render_atom, story_id
from tests.test_render import HOSTILE_TITLES, HOSTILE_URLS, corpus, story  # noqa: F401
from warehouse.records import Coverage, Story

NS = {"a": ATOM}
GENERATED = datetime(2026, 11, 23, 7, tzinfo=UTC)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def atom(stories: tuple[Story, ...] | list[Story], **kw: object) -> bytes:
    args: dict[str, object] = {
        "topic_id": "uk-poland-defence",
        "topic_name": "UK–Poland defence",
        "stories": stories,
        "generated_at": GENERATED,
        "window": "the last 30 days",
    }
    return render_atom(**(args | kw))  # type: ignore[arg-type]


def strict(body: bytes) -> etree._Element:
    """Parsed by a validating-strict XML parser: no recovery, no entities, no network."""
    parser = etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    return etree.fromstring(body, parser)


def required_elements(root: etree._Element) -> None:
    """RFC 4287 4.1.1/4.1.2: what every feed and entry must carry, once."""
    assert root.tag == f"{{{ATOM}}}feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"a:{name}", NS)) == 1, name
    assert root.find("a:author/a:name", NS) is not None  # or every entry would need one
    for el in root.findall(".//a:updated", NS) + root.findall(".//a:published", NS):
        assert RFC3339.match(el.text or ""), el.text
    ids = []
    for entry in root.findall("a:entry", NS):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"a:{name}", NS)) == 1, name
        ids.append(entry.findtext("a:id", namespaces=NS))
        alternate = entry.findall("a:link[@rel='alternate']", NS)
        assert alternate or entry.find("a:content", NS) is not None  # 4.1.2
        for text in entry.iterfind("a:title", NS):
            assert text.get("type") == "text" and len(text) == 0  # no markup inside
    assert all(i and i.startswith("urn:uuid:") for i in ids) and len(set(ids)) == len(ids)


def test_one_entry_per_story_newest_first_with_what_a_reader_needs() -> None:
    stories = [story(i) for i in range(5)]  # story i is published 3 h after story i-1
    body = atom(list(reversed(stories[2:])) + stories[:2])  # any order in
    root = strict(body)
    required_elements(root)
    parsed = feedparser.parse(io.BytesIO(body))
    assert parsed.bozo == 0 and parsed.version == "atom10"
    assert [e.title for e in parsed.entries] == [s.title for s in reversed(stories)]
    first, newest = parsed.entries[0], stories[4]
    assert first.link == newest.url and first.author == newest.source
    assert first.summary == (
        f"Why-4: names Poland, United Kingdom and CAMM together in the headline · "
        f"also covered by {newest.also[0].source}, {newest.also[1].source}"
    )
    assert first.published == "2026-11-17T21:30:00Z" == first.updated
    assert parsed.feed.updated == "2026-11-17T21:30:00Z"  # the newest entry's
    assert parsed.feed.title == "UK–Poland defence · newswatch matches"


def test_ids_are_stable_and_name_the_story_not_the_copy() -> None:
    a = strict(atom([story(1)]))
    later = replace(story(1), title="Retitled", url="https://other.example/copy", score=0.5)
    b = strict(atom([later], generated_at=GENERATED + timedelta(days=3)))
    assert a.findtext("a:entry/a:id", namespaces=NS) == b.findtext("a:entry/a:id", namespaces=NS)
    assert a.findtext("a:entry/a:id", namespaces=NS) == story_id("uk-poland-defence", "s001")
    assert a.findtext("a:id", namespaces=NS) == feed_id("uk-poland-defence")
    assert story_id("other-topic", "s001") != story_id("uk-poland-defence", "s001")


def test_an_empty_feed_is_still_valid_and_a_self_link_comes_from_the_base_url() -> None:
    body = atom([], self_url="https://reports.example/nw/uk-poland-defence/matches.atom")
    root = strict(body)
    required_elements(root)
    assert root.findtext("a:updated", namespaces=NS) == "2026-11-23T07:00:00Z"
    (link,) = root.findall("a:link[@rel='self']", NS)
    assert link.get("href") == "https://reports.example/nw/uk-poland-defence/matches.atom"
    assert not feedparser.parse(io.BytesIO(body)).bozo


def test_hostile_titles_and_links_are_text_and_dropped() -> None:
    hostile = [
        story(
            i,
            title=t + "\ufffe\x0b",
            url=HOSTILE_URLS[i % len(HOSTILE_URLS)],
            source=t,
            why=t,
            also=(Coverage(t, None),),
        )
        for i, t in enumerate(HOSTILE_TITLES)
    ]
    body = atom(hostile, topic_name="UK–Poland\r\n<b>defence</b>")
    root = strict(body)
    required_elements(root)
    assert b"<script" not in body and b"<img" not in body and b"javascript:" not in body
    assert not root.findall(".//a:link", NS)  # not one of the hostile URLs is http(s) to a host
    titles = [t.text for t in root.iterfind("a:entry/a:title", NS)]
    assert "<script>alert(1)</script>" in titles  # the reader sees it, as text
    assert all("\u202e" not in (t or "") and "\r" not in (t or "") for t in titles)
    parsed = feedparser.parse(io.BytesIO(body))
    assert parsed.bozo == 0 and len(parsed.entries) == len(hostile)


def test_feedparser_sanitize_corpus_stays_text(corpus: list[tuple[str, str]]) -> None:  # noqa: F811
    per_feed = 100
    for start in range(0, len(corpus), per_feed):
        chunk = corpus[start : start + per_feed]
        stories = [
            story(
                i,
                story_id=f"c{start + i}",
                title=text,
                why=text,
                source=text,
                snippet=text,
                url=None if i % 2 else "https://news.example/a",
                also=(Coverage(text, None),),
            )
            for i, (_, text) in enumerate(chunk)
        ]
        body = atom(stories, topic_name=chunk[0][1])
        root = strict(body)  # well-formed whatever the payload
        required_elements(root)
        for el in root.iter():  # only Atom's own elements, whatever the payloads held
            assert isinstance(el.tag, str) and el.tag.startswith(f"{{{ATOM}}}"), chunk[0][0]
        assert len(root.findall("a:entry", NS)) == len(chunk)
        assert feedparser.parse(io.BytesIO(body)).bozo == 0, chunk[0][0]
