"""The digest renderer: facts in both parts, escaping of hostile feed text, size, empty weeks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lxml import etree, html

from reports.render import EMAIL_LIST_MAX, clean_header, render, safe_url
from tests.conftest import ROOT, require_corpus
from warehouse.records import Coverage, Digest, FailingFeed, Story, WeekCount

LONDON = ZoneInfo("Europe/London")
SHARED = ROOT.parent / "shared"
SANITIZE = SHARED / "corpora" / "feedparser" / "wellformed" / "sanitize"
OUTLETS = (
    "Reuters",
    "BBC News",
    "Defense News",
    "Notes from Poland",
    "The Guardian",
    "Rzeczpospolita",
    "Breaking Defense",
    "Financial Times",
    "PAP",
    "Forces News",
)


def story(i: int, **changes: object) -> Story:
    """A plausible story; the i-th of a week, two other outlets covering it."""
    base = Story(
        story_id=f"s{i:03d}",
        title=f"UK and Poland sign deal number {i} on Narew air defence missiles",
        url=f"https://news.example/2026/11/uk-poland-{i}",
        source=OUTLETS[i % len(OUTLETS)],
        published_at=datetime(2026, 11, 17, 9, 30, tzinfo=UTC) + timedelta(hours=3 * i),
        score=0.95 - i / 100,
        entities=("Poland", "United Kingdom", "CAMM"),
        snippet=(
            f"Story {i}: British and Polish ministers agreed in Warsaw to build CAMM missiles "
            "for the Narew programme together. Deliveries start in 2027."
        ),
        why=f"why-{i}: names Poland, United Kingdom and CAMM together in the headline",
        detail=f"detail-{i}: Poland, United Kingdom, CAMM · score 0.{90 - i % 50:02d} (title 0.70)",
        also=(
            Coverage(OUTLETS[(i + 1) % len(OUTLETS)], f"https://other.example/{i}"),
            Coverage(OUTLETS[(i + 2) % len(OUTLETS)], None),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def digest(n: int = 7, **changes: object) -> Digest:
    base = Digest(
        topic_id="uk-poland-defence",
        topic_name="UK–Poland defence",
        period_key="2026-W47",
        period_label="16–22 Nov 2026",
        start=datetime(2026, 11, 16, tzinfo=LONDON),
        end=datetime(2026, 11, 23, tzinfo=LONDON),
        timezone="Europe/London",
        stories=tuple(story(i) for i in range(n)),
        top=5,
        previous_count=4,
        articles_seen=412,
        leading_entities=(("Poland", n), ("United Kingdom", n - 1), ("CAMM", 3)),
        feeds_total=24,
        failing=(
            FailingFeed("BBC News – Europe", "timeout", datetime(2026, 11, 17, 6, tzinfo=UTC)),
            FailingFeed("Defence24", "http_404", None, "404 Not Found"),
        ),
        generated_at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC),
        report_url="https://reports.example/uk-poland-defence/2026-W47.html",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def walk(markup: str) -> Iterator[str]:
    """Every way the markup could run script or leave http(s): one message per finding."""
    root = html.document_fromstring(markup)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag.lower() in ("script", "iframe", "object", "embed", "frame", "applet", "base"):
            yield f"element <{el.tag}>"
        for name, value in el.attrib.items():
            if name.lower().startswith("on"):
                yield f"<{el.tag} {name}=…>"
            if name.lower() in ("href", "src", "action", "formaction", "background", "srcset"):
                scheme = re.match(r"\s*([a-zA-Z][a-zA-Z0-9+.-]*):", value)
                if not scheme or scheme.group(1).lower() not in ("http", "https"):
                    yield f"<{el.tag} {name}={value!r}>"
            if "javascript:" in value.lower().replace(" ", ""):
                yield f"<{el.tag} {name}={value!r}>"


def flat(text: str) -> str:
    return " ".join(text.split())


def visible_text(markup: str) -> str:
    root = html.document_fromstring(markup)
    for hidden in root.xpath("//*[contains(@class, 'preheader')] | //head"):
        hidden.drop_tree()
    return " ".join(root.text_content().split())


# --- a normal week -----------------------------------------------------------------------------


def test_subject_counts_and_dates() -> None:
    assert render(digest(7)).subject == "UK–Poland defence · 7 stories · 16–22 Nov 2026"
    assert render(digest(1)).subject == "UK–Poland defence · 1 story · 16–22 Nov 2026"
    assert render(digest(0)).subject == "UK–Poland defence · no stories · 16–22 Nov 2026"


def test_preheader_is_the_top_headline_hidden_in_html_and_first_in_text() -> None:
    out = render(digest(7))
    assert out.preheader.startswith(story(0).title)
    assert "and 6 more" in out.preheader
    assert out.text.splitlines()[0] == out.preheader
    pre = html.document_fromstring(out.html).xpath("//div[contains(@class, 'preheader')]")
    assert len(pre) == 1 and pre[0].text_content() == out.preheader
    assert "display:none" in pre[0].get("style").replace(" ", "")


@pytest.mark.parametrize(
    ("previous", "expected"),
    [(4, "+3 on last week"), (7, "same as last week"), (9, "−2 on last week"), (None, None)],
)
def test_change_from_last_week(previous: int | None, expected: str | None) -> None:
    out = render(digest(7, previous_count=previous))
    summary = next(line for line in out.text.splitlines() if line.startswith("7 stories"))
    if expected is None:
        assert "last week" not in summary
    else:
        assert expected in summary and expected in visible_text(out.html)


def test_summary_counts_outlets_articles_and_leading_entities() -> None:
    out = render(digest(7))
    # seven stories, each with two others: outlets 0..8 of the ten
    fact = "7 stories from 9 outlets (+3 on last week), out of 412 articles read this week."
    assert fact in flat(out.text) and fact in visible_text(out.html)
    assert "Most named: Poland (7), United Kingdom (6), CAMM (3)" in visible_text(out.html)


def test_featured_stories_in_full_and_the_rest_compact() -> None:
    d = digest(7)
    out = render(d)
    doc = html.document_fromstring(out.html)
    text = visible_text(out.html)
    for s in d.stories[:5]:
        (a,) = doc.xpath("//a[@href=$u]", u=s.url)
        assert a.text_content() == s.title
        assert s.snippet in text and s.why in text
        assert s.snippet in flat(out.text) and s.why in flat(out.text)
    assert "Reuters · Tue 17 Nov 2026, 09:30 GMT" in text  # story 0, 09:30 UTC = GMT
    assert "Also covered by BBC News and Defense News" in text
    (first,) = doc.xpath("//td[@class='story'][.//a[@href=$u]]", u=d.stories[0].url)
    also = first.xpath(".//p[starts-with(normalize-space(), 'Also covered by')]//a")
    assert [(a.text_content(), a.get("href")) for a in also] == [
        ("BBC News", "https://other.example/0")  # Defense News has no URL: text, not a link
    ]
    for s in d.stories[5:]:
        assert doc.xpath("//a[@href=$u]", u=s.url)[0].text_content() == s.title
        assert s.snippet not in text and s.why not in text  # compact: title, outlet, date only
        assert s.title in out.text and s.url in out.text and s.why not in out.text
    assert "TOP STORIES" in out.text and "MORE STORIES" in out.text
    assert "6. UK and Poland sign deal number 5" in out.text


def test_story_language_marks_its_headline() -> None:
    polish = story(0, title="Polska i Wielka Brytania podpisują umowę", language="pl")
    out = render(digest(1, stories=(polish,)))
    assert html.document_fromstring(out.html).xpath("//a[@lang='pl']")[0].text == polish.title
    odd = render(digest(1, stories=(replace(polish, language='pl" x="'),)))
    assert not html.document_fromstring(odd.html).xpath("//*[@lang!='en']")


def test_dates_are_in_the_digest_timezone() -> None:
    summer = story(0, published_at=datetime(2026, 7, 1, 23, 30, tzinfo=UTC))
    out = render(digest(1, stories=(summer,)))
    assert "Thu 2 Jul 2026, 00:30 BST" in out.text
    warsaw = render(digest(1, stories=(summer,), timezone="Europe/Warsaw"))
    assert "Thu 2 Jul 2026, 01:30 CEST" in visible_text(warsaw.html)


def test_full_report_link_and_footer_health() -> None:
    d = digest(7)
    out = render(d)
    for part in (visible_text(out.html), out.text):
        assert f"every story in full: {d.report_url}" in part
        assert (
            "Source health: 2 of 24 feeds failing: BBC News – Europe (timeout since "
            "Tue 17 Nov), Defence24 (http_404)."
        ) in flat(part)
    assert html.document_fromstring(out.html).xpath("//a[@href=$u]", u=d.report_url)
    healthy = render(replace(d, failing=()))
    assert "All 24 feeds answered." in healthy.text and "All 24 feeds answered." in healthy.html
    unset = render(replace(d, report_url=None))
    assert "Full report" not in unset.text and "Full report" not in unset.html


@pytest.mark.parametrize(
    "where", ["/srv/newswatch/reports/uk-poland-defence/2026-W47.html", "C:\\reports\\w47.html"]
)
def test_a_path_on_the_server_never_reaches_the_email(where: str) -> None:
    out = render(digest(7, report_url=where))
    for part in (out.html, out.text, out.preheader, out.subject):
        assert "Full report" not in part and "srv" not in part and "reports\\" not in part


def test_full_report_has_every_story_in_full() -> None:
    d = digest(12)
    email, full = render(d), render(d, full=True)
    for s in d.stories:
        assert s.why in visible_text(full.html) and s.why in flat(full.text)
        assert s.detail in visible_text(full.html) and s.detail in flat(full.text)
        assert s.detail not in email.html and s.detail not in email.text  # score parts: report
    assert sum(s.why in visible_text(email.html) for s in d.stories) == 5
    assert "score" not in visible_text(email.html).lower() and "score" not in email.text.lower()
    assert "MORE STORIES" not in full.text and "Full report" not in full.text
    assert "(full report)" in html.document_fromstring(full.html).findtext(".//title")


def test_a_heavy_week_lists_at_most_a_hundred_stories_and_stays_under_gmails_clip() -> None:
    d = digest(600, top=10)
    email, full = render(d), render(d, full=True)
    listed = [s for s in d.stories if s.url in email.html]
    assert len(listed) == 10 + EMAIL_LIST_MAX and listed == list(d.stories[: len(listed)])
    assert "and 490 more stories in the full report" in visible_text(email.html)
    assert "and 490 more stories in the full report" in flat(email.text)
    assert len(email.html.encode()) < 100_000  # Gmail clips at ~102 KB
    assert all(s.url in full.html for s in d.stories) and "more stories in" not in full.text


def test_document_basics_and_size_of_fifty_stories() -> None:
    out = render(digest(50, top=10))
    doc = html.document_fromstring(out.html)
    assert doc.get("lang") == "en"
    assert out.html.index("<meta charset") < 1024  # browsers only look for it that early
    assert doc.xpath("//meta[@charset='utf-8']")
    assert doc.findtext(".//title") == out.subject
    assert not doc.xpath("//*[contains(@style, 'flex') or contains(@style, 'grid')]")
    tables = doc.xpath("//table")
    assert tables and all(t.get("role") == "presentation" for t in tables)
    assert doc.xpath("//table[@width='600']")
    assert "@media" in out.html  # the narrow-screen rule survives inlining
    assert doc.xpath("//td[contains(@class, 'story')]")[0].get("style")  # CSS was inlined
    size = len(out.html.encode())
    assert 20_000 < size < 100_000, size  # Gmail clips at ~102 KB


def test_empty_week_is_an_honest_note() -> None:
    out = render(digest(0, previous_count=3, leading_entities=()))
    note = (
        "No stories matched UK–Poland defence this week (3 stories last week); "
        "412 articles from 24 feeds were read."
    )
    assert note in visible_text(out.html) and note in flat(out.text)
    assert out.preheader.startswith("No stories matched")
    assert "2 of 24 feeds failing" in out.text and "TOP STORIES" not in out.text
    silent = render(digest(0, articles_seen=0, previous_count=None))
    said = (
        "No stories matched UK–Poland defence this week; no article from this week is stored, "
        "and 2 of 24 feeds are failing (listed under source health)."
    )
    assert said in flat(silent.text) and said in visible_text(silent.html)
    assert "2 of 24 feeds failing" in flat(silent.text)
    # Every feed answered, yet nothing is stored: the note does not send readers to a health
    # line that says all is well; it names the other cause.
    quiet = render(digest(0, articles_seen=0, previous_count=None, failing=()))
    for part in (flat(quiet.text), visible_text(quiet.html)):
        assert (
            "no article from this week is stored, though the feeds answered when last fetched: "
            "check that the ingest ran in this period." in part
        )
        assert "All 24 feeds answered." in part and "check the source health" not in part
        assert "were read" not in part


def test_most_named_ties_read_the_same_in_every_render() -> None:
    from flows.delivery.ranking import leading_entities

    names = ("Poland", "CAMM", "United Kingdom", "Narew", "Miecznik", "NATO")
    orders = [names, names[::-1], names[2:] + names[:2]]
    seen = {
        leading_entities(
            [story(i, entities=order) for i in range(3)] + [story(9, entities=("NATO",))]
        )
        for order in orders
    }
    assert seen == {(("NATO", 4), ("CAMM", 3), ("Miecznik", 3), ("Narew", 3), ("Poland", 3))}


# --- the trend chart ---------------------------------------------------------------------------

TREND = (2, 0, 5, 3, 1, 0, 4, 7, 2, 0, 6, 3)


def weeks(counts: tuple[int, ...], partial: bool = False) -> tuple[WeekCount, ...]:
    """ISO weeks ending with 2026-W47 (Monday 16 Nov), oldest first."""
    last = datetime(2026, 11, 16, tzinfo=LONDON)
    return tuple(
        WeekCount(
            week=f"2026-W{47 - len(counts) + 1 + i}",
            start=last - timedelta(weeks=len(counts) - 1 - i),
            stories=n,
            partial=partial and i == len(counts) - 1,
        )
        for i, n in enumerate(counts)
    )


@pytest.mark.parametrize("full", [False, True])
def test_trend_chart_shows_twelve_weeks_counts_and_this_week_marked(full: bool) -> None:
    out = render(digest(7, trend=weeks(TREND)), full=full)
    (chart,) = html.document_fromstring(out.html).xpath("//table[contains(@class, 'chart')]")
    counts, slots, labels = chart.xpath("./tr | ./tbody/tr")
    assert [td.text_content() for td in counts.xpath("./td")] == [str(n) for n in TREND]
    bars = chart.xpath(".//td[contains(concat(' ', @class, ' '), ' bar ')]")
    assert len(bars) == 12 and len(slots.xpath("./td")) == 12
    heights = [int(b.get("height")) for b in bars]
    assert heights[7] == 56 and heights[2] == round(56 * 5 / 7) and heights[4] == 8
    assert all(heights[i] == 1 for i, n in enumerate(TREND) if n == 0)  # a baseline, no bar
    assert [" ".join(td.itertext()) for td in labels.xpath("./td")][::11] == ["31 Aug", "16 Nov"]
    for row in (counts, slots.xpath(".//td[contains(@class, 'bar')]"), labels):
        cells = row.xpath("./td") if not isinstance(row, list) else row
        marked = [i for i, td in enumerate(cells) if "current" in td.get("class", "").split()]
        assert marked == [11]  # this digest's week, and only it
    assert bars[11].get("bgcolor") != bars[10].get("bgcolor")
    assert not chart.xpath(".//img") and "url(" not in out.html  # drawn with cells, no images
    seen = visible_text(out.html)
    assert "Matched stories per week, last 12 weeks" in seen
    assert "Marked: this digest's week, from 16 Nov: 3 stories; the 11 weeks before " in seen
    assert "averaged 2.7." in seen
    bar_line = re.compile(r"^[ 0-9]{2} [A-Z][a-z]{2}  ")
    lines = [line for line in out.text.splitlines() if bar_line.match(line)]
    assert len(lines) == 12
    assert [int(line.split("◀")[0].split()[-1]) for line in lines] == list(TREND)
    assert lines[-1].startswith("16 Nov  ██████████ ")
    assert lines[-1].endswith("◀ this digest's week")
    assert lines[7].startswith("19 Oct  " + "█" * 24)


def test_trend_of_a_week_in_progress_says_so_and_an_empty_trend_is_left_out() -> None:
    out = render(digest(2, trend=weeks((0,) * 11 + (2,), partial=True)))
    assert "Marked: this week so far, from 16 Nov: 2 stories" in visible_text(out.html)
    assert "◀ this week so far" in out.text
    bare = render(digest(2, trend=()))
    assert "chart" not in bare.html and "per week" not in bare.text


# --- hostile input -----------------------------------------------------------------------------

HOSTILE_TITLES = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '" onmouseover="x',
    "Line one\r\nBcc: x@evil.example",
    "Poland \u202egnirts desrever\u202c deal",
    "=?UTF-8?Q?=0A?=Bcc: x@evil.example",
)
HOSTILE_URLS = (
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    'https://news.example/" onmouseover="alert(1)',
    "https://news.example/\u202e",
    "//evil.example/x",
    "https://trusted.example@evil.example/",
)


def hostile_digest() -> Digest:
    stories = tuple(
        story(
            i,
            title=t,
            url=HOSTILE_URLS[i % len(HOSTILE_URLS)],
            source=t,
            snippet=t,
            why=t,
            also=tuple(Coverage(t, u) for u in HOSTILE_URLS),
            language='en" onclick="x',
        )
        for i, t in enumerate(HOSTILE_TITLES * 2)
    )
    return digest(
        stories=stories,
        top=6,
        topic_name="UK–Poland defence\r\n<b>",
        failing=(FailingFeed("<script>x</script>", "timeout\nBcc:", None),),
        report_url="javascript:alert(1)",
    )


@pytest.mark.parametrize("full", [False, True])
def test_hostile_feed_text_is_escaped_and_links_dropped(full: bool) -> None:
    out = render(hostile_digest(), full=full)
    assert list(walk(out.html)) == []
    assert "<script" not in out.html.lower() and "<img" not in out.html.lower()
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", out.html, re.I)  # inside a tag, not as text
    assert "onerror=alert(1)&gt;" in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html  # shown, as text
    assert not html.document_fromstring(out.html).xpath("//a")  # no safe URL anywhere
    for part in (out.html, out.text, out.subject, out.preheader):
        assert "\u202e" not in part and "\r" not in part
    assert "javascript:" not in out.text and "data:" not in out.text


def test_subject_is_one_clean_line() -> None:
    out = render(
        digest(
            stories=(story(0, title=HOSTILE_TITLES[-1]),),
            topic_name="UK–Poland\r\ndefence =?UTF-8?Q?=0A?=Bcc: x@evil.example",
        )
    )
    assert out.subject == (
        "UK–Poland defence = ?UTF-8?Q?=0A?=Bcc: x@evil.example · 1 story · 16–22 Nov 2026"
    )
    assert "=?" not in out.subject and "\n" not in out.subject
    assert clean_header(out.subject) == out.subject  # the mailer cleans it again


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\r\nb\tc\u2028d\u2029e\x85f\x0bg", "a b c d e f g"),
        ("left \u202aembed\u202c \u2066iso\u2069 \u202eover\u202d", "left embed iso over"),
        ("=?UTF-8?Q?=0A?=Bcc: x@evil.example", "= ?UTF-8?Q?=0A?=Bcc: x@evil.example"),
        ("==??", "== ??"),
        ("=\u200b?utf-8?b?QmNjOg==?=", "= ?utf-8?b?QmNjOg== ?="),  # zero-width space dropped first
        ("\x00bell\x07 null", "bell null"),
        ("  Polska\u00a0i  Wielka Brytania ", "Polska i Wielka Brytania"),
    ],
)
def test_clean_header(raw: str, clean: str) -> None:
    assert clean_header(raw) == clean


def test_clean_header_caps_length_at_a_word() -> None:
    cleaned = clean_header("word " * 100)
    assert len(cleaned) <= 200 and cleaned.endswith("word…")


@pytest.mark.parametrize("url", (*HOSTILE_URLS, "ftp://x.example/", "https://", "", None))
def test_safe_url_refuses(url: str | None) -> None:
    assert safe_url(url) is None


@pytest.mark.parametrize(
    "url", ["https://news.example/a?b=1&c=2#x", "HTTP://Example.org/", "https://wp.pl/żołnierze"]
)
def test_safe_url_keeps_plain_links(url: str) -> None:
    assert safe_url(url) == url


# --- the feedparser sanitize corpus ------------------------------------------------------------

PAYLOAD_TAGS = {
    "title",
    "content",
    "description",
    "summary",
    "subtitle",
    "tagline",
    "info",
    "copyright",
    "body",
    "encoded",
    "div",
}


def payloads(path: Path) -> list[str]:
    """The raw texts a feed file carries (entities decoded, markup serialised) and the file."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    found = [raw]
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(path.read_bytes(), parser)
    for el in [] if root is None else root.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname in PAYLOAD_TAGS:
            inner = (el.text or "") + "".join(etree.tostring(c, encoding=str) for c in el)
            if inner.strip():
                found.append(inner)
    return found


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    require_corpus(SANITIZE)
    return [(p.name, text) for p in sorted(SANITIZE.glob("*.xml")) for text in payloads(p)]


def test_corpus_is_what_we_think(corpus: list[tuple[str, str]]) -> None:
    texts = [t for _, t in corpus]
    assert len({name for name, _ in corpus}) > 700
    # decoded, live-looking payloads, not only their &lt;-escaped form
    assert sum("<script" in t.lower() for t in texts) > 20
    assert sum(bool(re.search(r"<[a-z][^>]*\son[a-z]+=", t, re.I)) for t in texts) > 20
    assert any("javascript:" in t.lower() for t in texts)


def test_feedparser_sanitize_corpus_renders_inert(corpus: list[tuple[str, str]]) -> None:
    per_digest = 40
    for start in range(0, len(corpus), per_digest):
        chunk = corpus[start : start + per_digest]
        stories = tuple(
            story(
                i,
                title=text,
                snippet=text,
                why=name,
                source=text,
                also=(Coverage(text, "https://other.example/"), Coverage(text, None)),
            )
            for i, (name, text) in enumerate(chunk)
        )
        d = digest(
            stories=stories,
            top=per_digest // 2,
            failing=(FailingFeed(chunk[0][1], "timeout", None),),
        )
        for full in (False, True):
            out = render(d, full=full)
            assert list(walk(out.html)) == [], chunk[0][0]
            assert "\n" not in out.subject and "=?" not in out.subject
