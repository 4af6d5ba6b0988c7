"""parse_feed: RSS 2.0, Atom, RDF, broken and hostile bodies, the cap, and feedparser's corpus."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from flows.collect.feeds import SUMMARY_MAX, TITLE_MAX, NotAFeed, parse_feed
from tests.conftest import ROOT, require_corpus
from warehouse.records import Entry, ParsedFeed

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
CORPUS = ROOT.parent / "shared" / "corpora" / "feedparser"  # ../shared beside the clone, as in CI
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FEED_URL = "https://news.example.pl/feeds/rss.xml"


def parse(body: bytes, max_entries: int = 100, content_type: str | None = None) -> ParsedFeed:
    return parse_feed(
        body,
        source="test",
        feed_url=FEED_URL,
        max_entries=max_entries,
        now=NOW,
        content_type=content_type,
    )


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rss(items: str, head: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return f'{head}<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


def by_title(feed: ParsedFeed) -> dict[str, Entry]:
    return {entry.title: entry for entry in feed.entries}


# --- well-formed feeds ---------------------------------------------------------------------


def test_rss2_fixture() -> None:
    feed = parse(fixture("rss2.xml"))
    assert feed.title == "Wiadomości & News"
    assert not feed.ill_formed
    assert feed.problem is None
    first = feed.entries[0]
    assert first.title == "Zażółć gęślą jaźń: Polska i Wielka Brytania"
    assert first.url == "https://news.example.pl/swiat/zazolc?id=42"
    assert first.link == "https://news.example.pl/swiat/zazolc?utm_source=rss&utm_medium=feed&id=42"
    assert first.key == first.url
    assert first.guid == "pl-1"
    assert first.source == "test"
    assert first.feed_url == FEED_URL
    assert first.summary == "Pierwszy akapit.\nDrugi akapit z linkiem."
    assert first.published_at == datetime(2021, 9, 6, 14, 45, tzinfo=UTC)
    assert first.author == "Jan Kowalski"
    # the last item canonicalises to the first one's URL: first wins
    assert len(feed.entries) == 6
    assert [e.key for e in feed.entries].count(first.key) == 1


def test_rss2_titles_are_plain_text() -> None:
    entries = parse(fixture("rss2.xml")).entries
    assert entries[1].title == "x & y"
    assert entries[2].title == "Breaking news"  # <script> and its content removed
    assert entries[3].title == "Line one Line two Line three"
    for entry in entries:
        assert not re.search(r"[\r\n\t<>]", entry.title)


def test_rss2_links() -> None:
    entries = parse(fixture("rss2.xml")).entries
    assert entries[1].url == "https://news.example.pl/relative/story-2"  # resolved against the feed
    bing = entries[2]
    assert bing.link == "https://www.publisher.example.com/story/3?p=7&utm_campaign=bing"
    assert bing.url == "https://www.publisher.example.com/story/3?p=7"
    for entry in entries[3:]:  # javascript:, data:, file:
        assert entry.link is None
        assert entry.url is None
    assert entries[3].key == f"guid:{FEED_URL}#pl-4"
    assert entries[4].key.startswith("sha256:")
    assert entries[5].key.startswith("sha256:")
    assert entries[4].key != entries[5].key


def test_rss2_summary_from_description_or_content() -> None:
    entries = parse(fixture("rss2.xml")).entries
    assert entries[3].summary == "Only this remains"  # script and style dropped with their text
    assert entries[5].summary == "Only content, no description"
    assert entries[1].summary == ""


def test_dates_clamped_and_floored() -> None:
    entries = parse(fixture("rss2.xml")).entries
    assert entries[3].published_at == NOW  # 2100 is in the future
    assert entries[4].published_at is None  # 1971 is before any feed
    assert entries[5].published_at is None  # none given
    for entry in entries:
        assert entry.published_at is None or entry.published_at.tzinfo is UTC


def test_atom_fixture() -> None:
    feed = parse(fixture("atom.xml"))
    assert feed.title == "Atom feed"
    first, second, third = feed.entries
    assert first.title == "x & y"
    assert first.link == "https://blog.example.com/posts/first-post?utm_source=atom&utm_medium=feed"
    assert first.url == "https://blog.example.com/posts/first-post"  # xml:base, not the feed URL
    assert first.summary == "Krótkie streszczenie"
    assert first.author == "Anna Nowak"
    assert first.published_at == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)  # from <updated>
    assert second.title == "XHTML title"
    assert second.summary == "Para one\nPara two"
    assert second.published_at == datetime(2024, 4, 30, 9, 0, tzinfo=UTC)  # published first
    assert third.url is None
    assert third.key == f"guid:{FEED_URL}#tag:blog.example.com,2024:3"


def test_rdf_fixture() -> None:
    feed = parse(fixture("rdf.xml"))
    assert feed.title == "RDF feed"
    first, second = feed.entries
    assert first.title == "Łódź wins"
    assert first.url == "https://rdf.example.org/a?story=5"
    assert first.summary == "Ślązacy & Mazurzy"
    assert first.published_at == datetime(2023, 2, 3, 3, 5, 6, tzinfo=UTC)
    assert first.author == "Zofia"
    assert second.url == "https://rdf.example.org/b"


def test_feed_with_no_items_is_not_an_error() -> None:
    feed = parse(rss(""))
    assert feed.entries == ()
    assert feed.title == "T"
    assert not feed.ill_formed


def test_encoding_from_content_type_and_prolog() -> None:
    item = "<item><title>Źdźbło żółte</title><link>https://e.pl/1</link></item>"
    declared = (
        rss(item, '<?xml version="1.0" encoding="iso-8859-2"?>').decode().encode("iso-8859-2")
    )
    assert parse(declared).entries[0].title == "Źdźbło żółte"
    undeclared = rss(item, "").decode().encode("cp1250")
    header = "application/rss+xml; charset=windows-1250"
    assert parse(undeclared, content_type=header).entries[0].title == "Źdźbło żółte"
    # No header and no prolog is UTF-8 (feedparser would say ISO-8859-1 given other headers)
    assert parse(rss(item, "")).entries[0].title == "Źdźbło żółte"
    utf16 = rss(item, '<?xml version="1.0" encoding="utf-16"?>').decode().encode("utf-16")
    assert parse(utf16).entries[0].title == "Źdźbło żółte"


def test_long_fields_are_capped() -> None:
    long_title = "word " * 1_000
    long_summary = "<p>" + "sentence. " * 5_000 + "</p>"
    feed = parse(rss(f"<item><title>{long_title}</title><description><![CDATA[{long_summary}]]>"
                     "</description><link>https://e.pl/1</link></item>"))  # fmt: skip
    entry = feed.entries[0]
    assert len(entry.title) <= TITLE_MAX
    assert len(entry.summary) <= SUMMARY_MAX
    assert entry.summary.startswith("sentence. sentence.")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_feed(rss(""), source="s", feed_url=FEED_URL, max_entries=1, now=datetime(2026, 1, 1))


# --- identity --------------------------------------------------------------------------------


def test_same_guid_on_every_item_keeps_distinct_links_apart() -> None:
    items = "".join(
        f"<item><title>Story {i}</title><link>https://e.pl/{i}</link><guid>same</guid></item>"
        for i in range(5)
    )
    entries = parse(rss(items)).entries
    assert [e.key for e in entries] == [f"https://e.pl/{i}" for i in range(5)]


def test_identity_falls_back_to_guid_then_hash() -> None:
    items = (
        "<item><title>A</title><guid isPermaLink='false'>g-1</guid></item>"
        "<item><title>A</title><guid isPermaLink='false'>g-1</guid></item>"  # duplicate: dropped
        "<item><title>B</title><description>b</description></item>"
        "<item><title>C</title><description>c</description></item>"
        "<item><title>B</title><description>b</description></item>"  # duplicate: dropped
    )
    keys = [e.key for e in parse(rss(items)).entries]
    assert keys[0] == f"guid:{FEED_URL}#g-1"
    assert len(keys) == 3
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", key) for key in keys[1:])
    # the hash is stable from run to run
    assert keys == [e.key for e in parse(rss(items)).entries]


def bulletins(guid: str, numbers: range, *, permalink: bool = False) -> str:
    flag = "true" if permalink else "false"
    return "".join(
        f"<item><title>Bulletin {i}</title><description>Item {i}.</description>"
        f"<guid isPermaLink='{flag}'>{guid}</guid></item>"
        for i in numbers
    )


def test_one_guid_on_link_less_items_keys_each_by_its_content() -> None:
    entries = parse(rss(bulletins("urn:same", range(3)))).entries
    assert [e.title for e in entries] == ["Bulletin 0", "Bulletin 1", "Bulletin 2"]
    keys = [e.key for e in entries]
    assert len(set(keys)) == 3
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", key) for key in keys)
    assert {e.guid for e in entries} == {"urn:same"}  # what the feed said is kept
    # the same document next run, and a later one with a new item on top: the same keys
    assert keys == [e.key for e in parse(rss(bulletins("urn:same", range(3)))).entries]
    later = parse(rss(bulletins("urn:same", range(4)[::-1]))).entries
    assert set(keys) < {e.key for e in later}


def test_one_permalink_guid_on_link_less_items_keys_each_by_its_content() -> None:
    # feedparser makes the permalink the link of every item: it is no item's own page
    body = rss(bulletins("https://e.pl/news", range(3), permalink=True))
    entries = parse(body).entries
    assert len({e.key for e in entries}) == 3
    assert all(e.key.startswith("sha256:") and e.link is None and e.url is None for e in entries)
    assert [e.key for e in entries] == [e.key for e in parse(body).entries]


def test_identical_items_sharing_a_guid_stay_one() -> None:
    items = bulletins("urn:same", range(1)) * 3
    assert [e.key for e in parse(rss(items)).entries] == [f"guid:{FEED_URL}#urn:same"]
    # among different items, the repeats of one still collapse
    items = bulletins("urn:same", range(1)) * 2 + bulletins("urn:same", range(1, 3))
    entries = parse(rss(items)).entries
    assert [e.title for e in entries] == ["Bulletin 0", "Bulletin 1", "Bulletin 2"]
    permalinks = bulletins("https://e.pl/news", range(1), permalink=True) * 2
    (entry,) = parse(rss(permalinks)).entries
    assert entry.key == entry.link == "https://e.pl/news"


def test_item_with_nothing_to_show_is_skipped() -> None:
    items = (
        "<item></item><item><guid isPermaLink='false'>x</guid></item><item><title>t</title></item>"
    )
    assert [e.title for e in parse(rss(items)).entries] == ["t"]


# --- the cap ---------------------------------------------------------------------------------


def big_rss(n: int) -> bytes:
    items = "".join(
        f"<item><title>Story {i}</title><link>https://example.com/n/{i}</link>"
        f"<description>Item {i}</description></item>\n"
        for i in range(n)
    )
    return rss(items)


def test_cap_keeps_the_first_entries_and_counts_the_rest() -> None:
    body = big_rss(2_000)
    full = parse(body, max_entries=2_000)
    capped = parse(body, max_entries=100)  # cut before parsing
    assert len(full.entries) == 2_000 and full.dropped == 0
    assert capped.entries == full.entries[:100]
    assert capped.dropped == 1_900
    assert not capped.ill_formed and capped.problem is None
    assert parse(body, max_entries=0) == ParsedFeed(entries=(), title="T", dropped=2_000)


def dated_rss(n: int, *, oldest_first: bool, same_day: bool = False) -> bytes:
    order = range(n) if oldest_first else reversed(range(n))
    items = "".join(
        f"<item><title>Story {i}</title><link>https://example.com/n/{i}</link>"
        f"<pubDate>{_rfc822(0 if same_day else i)}</pubDate></item>\n"
        for i in order
    )
    return rss(items)


def _rfc822(minutes: int) -> str:
    at = datetime(2025, 6, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    return at.strftime("%a, %d %b %Y %H:%M:%S +0000")


@pytest.mark.parametrize("oldest_first", [True, False])
def test_cap_keeps_the_newest_entries_by_date_whichever_way_the_feed_is_sorted(
    oldest_first: bool,
) -> None:
    for n in (150, 2_000):  # one within twice the cap (not cut before parsing), one beyond it
        feed = parse(dated_rss(n, oldest_first=oldest_first), max_entries=100)
        assert {e.title for e in feed.entries} == {f"Story {i}" for i in range(n - 100, n)}
        assert feed.dropped == n - 100


def test_cap_breaks_date_ties_by_document_order_and_ranks_undated_entries_last() -> None:
    tied = parse(dated_rss(300, oldest_first=True, same_day=True), max_entries=10)
    assert [e.title for e in tied.entries] == [f"Story {i}" for i in range(10)]
    mixed = rss(
        "<item><title>undated</title><link>https://example.com/u</link></item>"
        + "".join(
            f"<item><title>Story {i}</title><link>https://example.com/n/{i}</link>"
            f"<pubDate>{_rfc822(i)}</pubDate></item>"
            for i in range(3)
        )
    )
    assert [e.title for e in parse(mixed, max_entries=2).entries] == ["Story 1", "Story 2"]
    assert [e.title for e in parse(mixed, max_entries=3).entries] == [
        "Story 0",
        "Story 1",
        "Story 2",
    ]


@pytest.mark.parametrize("kind", ["atom", "rdf"])
def test_cap_on_atom_and_rdf(kind: str) -> None:
    if kind == "atom":
        entry = '<entry><title>E{0}</title><link href="https://a.com/{0}"/></entry>'
        head = '<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
        tail = "<updated>2024-01-01T00:00:00Z</updated></feed>"
    else:
        entry = '<item rdf:about="{0}"><title>E{0}</title><link>https://a.com/{0}</link></item>'
        head = (
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>A</title></channel>'
        )
        tail = "</rdf:RDF>"
    body = head + "".join(entry.format(i) for i in range(50)) + tail
    feed = parse(body.encode(), max_entries=10)
    assert [e.title for e in feed.entries] == [f"E{i}" for i in range(10)]
    assert feed.dropped == 40
    assert not feed.ill_formed


def test_fifty_thousand_entries_are_cut_before_parsing() -> None:
    body = big_rss(50_000)
    assert len(body) > 5_000_000
    started = time.perf_counter()
    feed = parse(body, max_entries=200)
    elapsed = time.perf_counter() - started
    # Parsing all 50,000 takes feedparser 5-6 s; the first 200 about 0.05 s.
    assert elapsed < 2.0
    assert len(feed.entries) == 200
    assert feed.entries[-1].title == "Story 199"
    assert feed.dropped == 49_800
    assert not feed.ill_formed


# --- ill-formed feeds ------------------------------------------------------------------------


def test_truncated_fixture_keeps_complete_items() -> None:
    feed = parse(fixture("truncated.xml"))
    assert feed.ill_formed
    assert feed.problem is not None and "no element found" in feed.problem
    assert [e.title for e in feed.entries] == ["First complete", "Second complete"]


FULL_ITEM = (
    "<item><title>Zażółć &amp; co</title><link>https://t.pl/3?id=3</link><guid>g3</guid>"
    "<description><![CDATA[<p>Hello <b>world</b></p>]]></description>"
    "<pubDate>Mon, 06 Sep 2021 16:45:00 +0000</pubDate></item>"
)


def test_truncation_anywhere_never_keeps_a_partial_item() -> None:
    head = rss("<item><title>one</title><link>https://t.pl/1</link></item>").decode()
    head = head.removesuffix("</channel></rss>")
    whole = (head + FULL_ITEM + "\n</channel></rss>").encode()
    start = len(head.encode())
    item_end = start + len(FULL_ITEM.encode())
    complete = parse(whole).entries[1]
    for cut in range(start, len(whole)):
        feed = parse(whole[:cut])
        assert feed.entries[0].title == "one"
        kept = feed.entries[1:]
        if cut < item_end:
            assert kept == (), cut
            assert feed.ill_formed, cut
        else:
            assert kept == (complete,), cut


def test_undefined_entity_mid_feed_keeps_all_items() -> None:
    items = "".join(
        f"<item><title>A&nbsp;{i}</title><link>https://e.pl/{i}</link></item>" for i in range(3)
    )
    feed = parse(rss(items))
    assert feed.ill_formed
    assert feed.problem is not None and "undefined entity" in feed.problem
    assert [e.title for e in feed.entries] == ["A 0", "A 1", "A 2"]


def test_emoji_as_surrogate_references_are_repaired() -> None:
    # Some CMSes write an emoji as two UTF-16 halves; expat refuses them and feedparser's
    # fallback parser crashes on them.
    items = (
        "<item><title>Hi &#55357;&#56832; &#xD83D;&#xDE00; lone &#55357; end</title>"
        "<link>https://e.pl/1</link></item>"
    )
    feed = parse(rss(items))
    assert feed.entries[0].title == "Hi \U0001f600 \U0001f600 lone \ufffd end"
    assert not feed.ill_formed


def test_a_feedparser_crash_is_not_a_feed() -> None:
    # An end tag without its start tag: KeyError('license') inside feedparser 6.0.
    body = (
        b'<rss version="2.0" xmlns:creativeCommons="http://backend.userland.com/creativeCommonsRssModule">'
        b"<channel><item><title>x</title></creativeCommons:license></item></channel></rss>"
    )
    with pytest.raises(NotAFeed, match="feedparser failed: KeyError"):
        parse(body)


# --- not feeds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b" \r\n\t ", "empty"),
        (b"/etc/passwd", "plain text"),
        (b"http://127.0.0.1/x", "plain text"),
        (b'{"version": "https://jsonfeed.org/version/1", "items": []}', "JSON"),
        (b"[1, 2]", "JSON"),
        (b'<?xml version="1.0"?><note><to>x</to></note>', "not RSS"),
        (b"<html><body><p>hi</p></body></html>", "HTML"),
    ],
)
def test_not_a_feed(body: bytes, reason: str) -> None:
    with pytest.raises(NotAFeed, match=reason):
        parse(body)


def test_html_page_fixture() -> None:
    with pytest.raises(NotAFeed, match="HTML page"):
        parse(fixture("page.html"), content_type="text/html; charset=utf-8")


def test_a_path_in_the_body_is_never_opened(tmp_path: Path) -> None:
    feed_file = tmp_path / "feed.xml"
    feed_file.write_bytes(fixture("rss2.xml"))
    assert parse(feed_file.read_bytes()).entries  # the file itself is a good feed
    for body in (str(feed_file).encode(), feed_file.as_uri().encode()):
        with pytest.raises(NotAFeed):
            parse(body)


def test_a_url_in_the_body_is_never_fetched(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        fixture("rss2.xml"), content_type="application/rss+xml"
    )
    with pytest.raises(NotAFeed):
        parse(httpserver.url_for("/feed.xml").encode())
    assert httpserver.log == []


def test_a_str_body_is_refused() -> None:
    with pytest.raises(TypeError):
        parse("https://example.com/feed.xml")  # type: ignore[arg-type]


# --- hostile XML ----------------------------------------------------------------------------


def test_xxe_fixture_does_not_expand_external_entity() -> None:
    feed = parse(fixture("xxe.xml"))
    texts = [feed.title or ""] + [f for e in feed.entries for f in (e.title, e.summary)]
    assert not any("root:" in text for text in texts)


def test_xxe_with_a_file_of_our_own(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER-7f3a")
    for decl in (f'<!ENTITY x SYSTEM "{secret.as_uri()}">', f'<!ENTITY x SYSTEM "{secret}">'):
        body = (
            f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n{decl}\n]>\n<rss version="2.0"><channel>'
            "<title>T &x;</title><item><title>a &x; b</title><link>https://e.pl/1</link>"
            "<description>&x;</description><author>&x;</author></item></channel></rss>"
        ).encode()
        feed = parse(body)
        assert "SECRET-MARKER" not in repr(feed)


def test_external_parameter_entity_is_not_loaded(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "SECRET-MARKER-7f3a">')
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY % p SYSTEM "{dtd.as_uri()}">\n%p;\n]>\n'
        '<rss version="2.0"><channel><title>T</title><item><title>a &leak; b</title>'
        "<link>https://e.pl/1</link></item></channel></rss>"
    ).encode()
    assert "SECRET-MARKER" not in repr(parse(body))


def test_billion_laughs_fixture_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(NotAFeed, match="nested entities"):
        parse(fixture("billion_laughs.xml"))
    assert time.perf_counter() - started < 5


def test_billion_laughs_on_one_line_is_refused() -> None:
    # feedparser's own DOCTYPE clean-up only sees declarations that start a line
    body = fixture("billion_laughs.xml").replace(b"\n<!ENTITY", b"<!ENTITY")
    with pytest.raises(NotAFeed, match="nested entities"):
        parse(body)


def test_quadratic_blowup_is_refused_quickly() -> None:
    # Below expat's 100x amplification limit: 4.8 MB would become a 464 MB title.
    body = rss(
        "<item><title>" + "&a;" * 1_600_000 + "</title><link>https://e.pl/1</link></item>",
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "' + "a" * 290 + '">\n]>',
    )
    started = time.perf_counter()
    with pytest.raises(NotAFeed, match="expand"):
        parse(body)
    assert time.perf_counter() - started < 5
    utf16 = body.decode().replace(
        '<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>'
    )
    with pytest.raises(NotAFeed, match="expand"):
        parse(utf16.encode("utf-16"))


def test_internal_parameter_entities_are_refused() -> None:
    body = rss("", "<!DOCTYPE rss [\n<!ENTITY % p \"<!ENTITY b 'x'>\">\n%p;\n]>")
    with pytest.raises(NotAFeed, match="parameter entity"):
        parse(body)


def test_a_small_entity_declaration_still_works() -> None:
    body = rss(
        "<item><title>&id; story</title><guid isPermaLink='false'>&id;2006</guid></item>",
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n  <!ENTITY id "tag:example.com,">\n]>',
    )
    entry = parse(body).entries[0]
    assert entry.title == "tag:example.com, story"
    assert entry.guid == "tag:example.com,2006"


# --- feedparser's corpus ---------------------------------------------------------------------

_CONTENT_TYPE = re.compile(
    rb"^\s*Header:\s*Content-type:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE
)
# Expected NotAFeed: an empty document, a JSON Feed (feedparser 6.0 reads XML only) and CDF
# channels without items (feedparser gives them no version).
_CORPUS_NOT_FEEDS = {
    "illformed/rss_empty_document.xml",
    "json/example.json",
    *(
        f"wellformed/cdf/channel_{name}.xml"
        for name in (
            "abstract_map_description", "abstract_map_tagline", "href_map_link",
            "href_map_links", "lastmod", "lastmod_parsed", "title",
        )
    ),
}  # fmt: skip


def test_feedparser_corpus_gives_a_feed_or_not_a_feed() -> None:
    require_corpus(CORPUS)
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.parent != CORPUS)
    assert len(files) > 2_000
    not_feeds = set()
    for path in files:
        body = path.read_bytes()
        header = _CONTENT_TYPE.search(body[:2_000])
        content_type = header[1].decode("latin-1") if header else None
        try:
            feed = parse(body, max_entries=50, content_type=content_type)
        except NotAFeed:
            not_feeds.add(path.relative_to(CORPUS).as_posix())
            continue
        for entry in feed.entries:
            assert entry.key, path
            assert "\n" not in entry.title and "\r" not in entry.title, path
            assert entry.link is None or entry.link.lower().startswith("http"), path
    assert not_feeds == _CORPUS_NOT_FEEDS


def test_relative_links_resolve_against_where_the_feed_was_served_after_redirects() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>A</title><link>/news/a</link><guid>g1</guid></item></channel></rss>"
    )
    parsed = parse_feed(
        body,
        source="S",
        feed_url="https://old.example/feed",
        max_entries=10,
        now=datetime(2026, 11, 20, tzinfo=UTC),
        base_url="https://new.example/rss/feed",
    )
    (entry,) = parsed.entries
    assert entry.link == "https://new.example/news/a"
    assert entry.feed_url == "https://old.example/feed"
