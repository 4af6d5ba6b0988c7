"""Extraction: trafilatura on fixture pages, language, size cap, and the killable worker pool."""

from __future__ import annotations

import asyncio
import os
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
import trafilatura

from flows.collect import workers
from flows.collect.extraction import (
    LANGID_MAX_CHARS,
    Page,
    clean_text,
    detect_language,
    extract_page,
)
from flows.collect.workers import ExtractionPool
from flows.config import ExtractSettings
from tests import extract_faults as faults  # module-level: the workers import it by name
from warehouse.records import Extracted

PAGES = Path(__file__).parent / "fixtures" / "pages"
FEED_URL = "https://news.example/feed-item?id=42"  # what the feed linked to: never a canonical
CAP = 1_500_000
ODD_SPACES = ("\xa0", "\u202f", "\u2009", "\u200b", "\u00ad")


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def article(head: str = "", lang: str = "en", body: str = "") -> bytes:
    """A plain article page with `head` markup added."""
    paragraphs = body or "".join(
        f"<p>Paragraph {i} of a plain article about the harbour, long enough to count.</p>"
        for i in range(6)
    )
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>Plain</title>'
        f"{head}</head><body><article><h1>Plain</h1>{paragraphs}</article></body></html>"
    ).encode()


def huge_page(size: int = 8_000_000) -> bytes:
    """`size` bytes of distinct <p> paragraphs (identical ones would be deduplicated away)."""
    parts, total, i = [], 0, 0
    while total < size:
        part = f"<p>Paragraph {i}: the council met on day {i} to discuss item {i % 101}.</p>\n"
        parts.append(part)
        total, i = total + len(part), i + 1
    return f"<html><body><article><h1>Huge</h1>{''.join(parts)}</article></body></html>".encode()


def assert_clean(*values: str | None) -> None:
    for value in values:
        assert value is None or not any(c in value for c in ODD_SPACES), repr(value)


# --- extract_page -------------------------------------------------------------------------


def test_news_article_keeps_the_story_and_drops_the_furniture() -> None:
    result = extract_page(page("en_news_article.html"), FEED_URL, max_bytes=CAP)

    assert result.status == "ok" and result.error is None
    assert result.title == "Harbour strike ends after dockers accept 9% pay offer"
    assert result.author == "Helen Marsh"
    assert result.published == "2024-03-12"
    assert result.site_name == "The Riverside Gazette"
    assert result.language == "en"
    assert result.canonical_url == (
        "https://www.riverside-gazette.example/business/2024/03/12/harbour-strike-ends-pay-offer"
    )
    text = result.text
    assert text.startswith("Dockers at Northport have voted to accept a revised pay offer")
    assert "backed the deal by 412 votes to 118" in text
    assert text.endswith('"It will be good to see the lorries back."')
    for boilerplate in (
        "We use cookies",  # consent banner
        "Puzzles",  # navigation
        "Ceasefire talks in Cairo",  # most-read rail
        "About time. The management",  # reader comments
        "Sign up to Business Today",  # newsletter box
        "Registered in England",  # footer
        "gtag",  # scripts
    ):
        assert boilerplate not in text


@pytest.mark.parametrize("name", ["en_news_article.html", "pl_news_article.html"])
def test_without_metadata_the_text_is_the_same_and_the_feed_gives_the_rest(name: str) -> None:
    full = extract_page(page(name), FEED_URL, max_bytes=CAP)
    lean = extract_page(page(name), FEED_URL, max_bytes=CAP, metadata=False)

    assert lean.status == "ok" and lean.text == full.text
    assert lean.title is None and lean.author is None and lean.published is None
    assert lean.site_name == full.site_name  # from the page's og:site_name
    assert (lean.language, lean.canonical_url) == (full.language, full.canonical_url)


@pytest.mark.parametrize("name", ["en_news_article.html", "pl_news_article.html"])
def test_only_the_fields_the_feed_lacks_are_searched_for(name: str) -> None:
    full = extract_page(page(name), FEED_URL, max_bytes=CAP)
    author = extract_page(page(name), FEED_URL, max_bytes=CAP, metadata=frozenset({"author"}))
    dated = extract_page(page(name), FEED_URL, max_bytes=CAP, metadata=frozenset({"date"}))

    assert author.author == full.author is not None
    assert author.title is None and author.published is None
    assert dated.published == full.published is not None
    assert dated.title is None and dated.author is None
    for result in (author, dated):
        assert (result.status, result.text, result.site_name) == (
            full.status,
            full.text,
            full.site_name,
        )
        assert (result.language, result.canonical_url) == (full.language, full.canonical_url)


def test_an_author_named_only_in_the_byline_is_still_found() -> None:
    byline = '<div class="byline"><a rel="author" href="/jane">Jane Doe</a></div>'
    html = article(body=byline + "".join(f"<p>Paragraph {i} about the harbour, long enough to count.</p>" for i in range(6)))  # fmt: skip
    found = extract_page(html, FEED_URL, max_bytes=CAP, metadata=frozenset({"author"}))
    assert found.status == "ok" and found.author == "Jane Doe"


PARAGRAPHS = "".join(
    f"<p>Paragraph {i} about the harbour, long enough to count.</p>" for i in range(6)
)


@pytest.mark.parametrize(
    "byline",
    [
        '<p class="article-author-name">By Jane Doe</p>',
        '<span data-testid="AuthorCard">Jane Doe</span>',
        '<div id="comments"><span class="author">A Commenter</span></div><p class="x">'
        '<span class="writer">Jane Doe</span></p>',  # the comments are pruned first
        '<figure><span class="author">Photo Agency</span></figure><h4 id="zuozhe">Jane Doe</h4>',
        "<author>Jane Doe</author>",
    ],
)
def test_the_author_search_finds_what_trafilaturas_own_finds(byline: str) -> None:
    """Its XPath expressions run as Python rules here (flows/collect/xpath_rules.py)."""
    html = article(body=byline + PARAGRAPHS)
    found = extract_page(html, FEED_URL, max_bytes=CAP, metadata=frozenset({"author"}))
    assert found.status == "ok"
    assert found.author == trafilatura.metadata.extract_author(trafilatura.load_html(html))
    assert found.author == "Jane Doe"


def test_unknown_metadata_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="headline"):
        extract_page(page("en_news_article.html"), FEED_URL, max_bytes=CAP, metadata=frozenset({"headline"}))  # fmt: skip


def test_pool_searches_only_the_metadata_each_page_is_marked_for() -> None:
    en = page("en_news_article.html")
    with ExtractionPool(ExtractSettings(workers=1)) as pool:
        results = pool.extract_many(
            [
                ("full", en, FEED_URL),
                ("lean", en, FEED_URL, False),
                ("none", en, FEED_URL, frozenset()),
                ("author", en, FEED_URL, frozenset({"author"})),
            ]
        )

    assert results["full"].author == "Helen Marsh" and results["full"].title is not None
    assert results["lean"].author is None and results["none"] == results["lean"]
    assert results["author"].author == "Helen Marsh" and results["author"].title is None
    assert len({r.text for r in results.values()}) == 1


def test_polish_article_keeps_diacritics_and_loses_nbsp() -> None:
    result = extract_page(page("pl_news_article.html"), None, max_bytes=CAP)

    assert result.status == "ok"
    assert result.language == "pl"
    assert result.author == "Katarzyna Wiśniewska"
    assert result.published == "2024-05-06"
    assert result.title == (
        "Gdańsk: nowy terminal promowy otwarty. Pierwszy statek z Karlskrony już w porcie"
    )
    assert result.canonical_url == (
        "https://www.dziennik-baltycki.example/gdansk/terminal-promowy-otwarty/ar/c1-18765432"
    )
    assert "prezes zarządu portu, Łukasz Żółkiewski" in result.text
    # the pull quote is where trafilatura itself leaves the &nbsp; in
    assert "kapitan jednostki w rozmowie z naszym dziennikarzem" in result.text
    assert "plików cookie" not in result.text
    assert "marynarz_z_oksywia" not in result.text and "Ciekawe, ile" not in result.text
    assert_clean(result.text, result.title, result.author, result.site_name)


def test_url_given_is_not_reported_as_canonical_or_site_name() -> None:
    result = extract_page(page("fr_article_no_canonical.html"), FEED_URL, max_bytes=CAP)

    assert result.status == "ok" and result.language == "fr"
    assert result.canonical_url is None  # trafilatura's own url field echoes FEED_URL here
    assert result.site_name is None  # trafilatura's fallback would be "news.example"
    assert result.published is None  # no "© 2024" -> 2024-01-01 guess
    assert result.title == "Lyon : la ligne de tramway T10 mise en service avec six mois de retard"
    assert "« Enfin ! »" in result.text and "25 000 voyageurs" in result.text
    assert_clean(result.text, result.title)


@pytest.mark.parametrize(
    ("head", "url", "expected"),
    [
        ('<link rel="canonical" href="https://a.example/x">', FEED_URL, "https://a.example/x"),
        (
            '<link rel="Canonical" href="/news/x?id=1">',
            FEED_URL,
            "https://news.example/news/x?id=1",
        ),
        ('<link rel="canonical" href="/news/x">', None, None),  # relative, nothing to resolve on
        (
            '<meta property="og:url" content="https://a.example/og">',
            FEED_URL,
            "https://a.example/og",
        ),
        ('<base href="https://a.example/">', FEED_URL, None),  # trafilatura would report this
        ('<link rel="alternate" hreflang="x-default" href="https://a.example/">', FEED_URL, None),
        ('<link rel="canonical" href="javascript:alert(1)">', FEED_URL, None),
        ("", FEED_URL, None),
    ],
)
def test_canonical_url_only_as_declared(head: str, url: str | None, expected: str | None) -> None:
    result = extract_page(article(head), url, max_bytes=CAP)
    assert result.status == "ok"
    assert result.canonical_url == expected


def test_boilerplate_only_page_is_empty() -> None:
    # trafilatura's fallback returns the menu ("The Riverside Gazette\nNews\nBusiness...")
    result = extract_page(page("boilerplate_only.html"), FEED_URL, max_bytes=CAP)
    assert result.status == "empty" and result.text == ""
    assert result.error == "only menu and link text found"


@pytest.mark.parametrize(
    "body", [b"", b"  \n\t ", b"\x00\x01\x02\x03binary", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj"]
)
def test_nothing_usable_is_empty(body: bytes) -> None:
    result = extract_page(body, FEED_URL, max_bytes=CAP)
    assert result == Extracted(status="empty", error=result.error)


def test_huge_page_is_cut_at_the_cap_and_finishes_quickly() -> None:
    html = huge_page()
    started = time.perf_counter()
    result = extract_page(html, None, max_bytes=500_000)
    elapsed = time.perf_counter() - started

    assert result.status == "ok"
    assert result.error == f"page of {len(html):,} bytes cut to its first 500,000 (max 500,000)"
    assert "Paragraph 100:" in result.text and "Paragraph 20000:" not in result.text
    assert elapsed < 10  # ~0.4 s here; the whole 8 MB takes minutes (NOTES.md)


def test_page_with_its_article_beyond_the_cap_is_too_large() -> None:
    html = b"<html><head><script>" + b"var x = 1;" * 20_000 + b"</script></head>" + article()
    result = extract_page(html, FEED_URL, max_bytes=100_000)
    assert result.status == "too_large" and result.text == ""
    assert result.error is not None and result.error.startswith(f"page of {len(html):,} bytes")


def test_cut_does_not_split_a_character() -> None:
    sentence = "Zażółć gęślą jaźń – mówi kapitan Łukasz Żółkiewski w rozmowie. " * 40
    html = article(body=f"<p>{sentence}</p><p>{sentence}</p>")
    cap = next(n for n in range(3000, 3010) if html[n] & 0xC0 == 0x80)  # inside a character
    result = extract_page(html, None, max_bytes=cap)
    assert result.status == "ok" and result.error is not None
    *whole, last = result.text.split()
    words = {"Plain", *sentence.split()}
    assert set(whole) <= words and any(word.startswith(last) for word in words)
    assert "\ufffd" not in result.text  # a split character decodes to U+FFFD


def test_short_text_falls_back_to_the_declared_language() -> None:
    html = article(lang="pl-PL", body="<p>Krótka notka o porcie.</p>")
    result = extract_page(html, None, max_bytes=CAP)
    assert result.text == "Plain\nKrótka notka o porcie." and result.language == "pl"


def test_extraction_never_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("trafilatura tried to fetch")

    for name in ("fetch_url", "fetch_response"):
        monkeypatch.setattr(trafilatura.downloads, name, no_network)
        monkeypatch.setattr(trafilatura, name, no_network)
    assert extract_page(page("en_news_article.html"), FEED_URL, max_bytes=CAP).status == "ok"


def test_clean_text_normalises_spaces() -> None:
    raw = "w\xa0Gdańsku i\u202fdalej\u2009tu\u3000i  tam\n\n  Ukra\u00adina\u200b \ufeffkoniec  \n"
    assert clean_text(raw) == "w Gdańsku i dalej tu i tam\nUkraina koniec"


# --- detect_language ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "sentence"),
    [
        ("en", "The city council approved the new budget after a long debate about schools."),
        ("pl", "Rada miasta przyjęła nowy budżet po długiej debacie o szkołach i komunikacji."),
        ("de", "Der Stadtrat hat den neuen Haushalt nach einer langen Debatte beschlossen."),
        ("fr", "Le conseil municipal a adopté le nouveau budget après un long débat sur l'école."),
    ],
)
def test_detect_language(code: str, sentence: str) -> None:
    assert detect_language(sentence) == code


@pytest.mark.parametrize("text", ["", "Ala ma kota.", " " * 200, "x" * 10 + " " * 100])
def test_detect_language_needs_enough_text(text: str) -> None:
    assert detect_language(text) is None


def test_detect_language_reads_only_the_beginning() -> None:
    english = "The harbour strike ended after the dockers accepted the offer. "
    polish = "Strajk w porcie zakończył się po przyjęciu oferty przez dokerów. "
    text = english * (LANGID_MAX_CHARS // len(english) + 1) + polish * 1000
    assert detect_language(text) == "en"


# --- ExtractionPool -----------------------------------------------------------------------


def test_pool_survives_hung_crashed_and_failing_pages() -> None:
    en, pl = page("en_news_article.html"), page("pl_news_article.html")
    settings = ExtractSettings(workers=2, page_timeout_seconds=2.0, max_html_bytes=300_000)
    batch: list[Page] = [
        ("hang", faults.HANG + en, FEED_URL),
        ("en", en, FEED_URL),
        ("exit", faults.EXIT + en, None),
        ("pl", pl, None),
        ("segfault", faults.SEGFAULT + en, None),
        ("raise", faults.RAISE + en, None),
        ("huge", huge_page(), None),  # the size cap applies inside the worker too
        ("en-again", en, None),
    ]
    with ExtractionPool(settings, function=faults.faulty_extract) as pool:
        pool.extract_many([("warm-up", en, None)])  # time the batch, not the start-up
        started = time.perf_counter()
        results = pool.extract_many(batch)
        elapsed = time.perf_counter() - started

    assert set(results) == {key for key, _, _ in batch}
    assert results["hang"].status == "timeout"
    assert results["hang"].error == "extraction ran past 2 s; its worker was killed"
    # the deadline, plus crash recovery and pebble's polling: the two crashed workers'
    # replacements each load trafilatura and the language model (~0.7 s of CPU) first
    assert 2.0 <= elapsed < 2.0 + 6.0
    assert results["exit"] == Extracted(status="crashed", error="worker died: exit code 1")
    assert results["segfault"] == Extracted(
        status="crashed", error="worker died: killed by SIGSEGV"
    )
    assert results["raise"] == Extracted(status="error", error="ValueError: this page is cursed")
    for key in ("en", "pl", "en-again", "huge"):
        assert results[key].status == "ok" and results[key].text, key
    assert results["en"].canonical_url is not None and results["pl"].language == "pl"
    assert results["huge"].error is not None and "cut to its first 300,000" in results["huge"].error


def test_pool_recycles_workers() -> None:
    batch = ((f"page-{i}", b"", None) for i in range(10))  # any iterable will do
    settings = ExtractSettings(workers=2)
    with ExtractionPool(settings, function=faults.report_pid, max_tasks=2) as pool:
        results = pool.extract_many(batch)
    pids = Counter(result.text for result in results.values())
    assert len(results) == 10 and max(pids.values()) <= 2 and len(pids) >= 5


def test_broken_pool_is_restarted_and_its_pages_retried_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = ExtractionPool(ExtractSettings(workers=1))
    submitted: Counter[str] = Counter()
    restarts: list[int] = []

    def submit(item: Page) -> tuple[Future[Extracted], int]:
        key = item[0]
        submitted[key] += 1
        future: Future[Extracted] = Future()
        if key == "poison" or (key == "bystander" and submitted[key] == 1):
            future.set_exception(BrokenProcessPool("All workers expired"))
        else:
            future.set_result(Extracted(status="ok", text=key))
        return future, pool._generation

    def restart(generation: int) -> None:
        if generation == pool._generation:  # as _restart: a pool already replaced stays
            restarts.append(generation)
            pool._generation += 1

    pool._entered = True  # no workers: submitting is replaced
    monkeypatch.setattr(pool, "_submit_locked", submit)
    monkeypatch.setattr(pool, "_restart", restart)
    results = pool.extract_many([(k, b"", None) for k in ("bystander", "poison", "fine")])

    assert results["fine"].status == "ok" and results["bystander"].status == "ok"
    assert results["poison"].status == "crashed" and submitted["poison"] == 2
    assert restarts == [0, 1]


def test_pages_in_flight_beside_a_pool_breaker_both_times_are_not_blamed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As pebble does when a worker dies before it acknowledges its page: the poison page breaks
    # the pool, and every page in flight beside it fails with BrokenProcessPool too.
    pool = ExtractionPool(ExtractSettings(workers=1))
    flying: list[Future[Extracted]] = []
    submitted: Counter[str] = Counter()

    def finish(future: Future[Extracted], key: str) -> None:
        if not future.done():
            future.set_result(Extracted(status="ok", text=key))

    def break_pool() -> None:
        for future in flying:
            if not future.done():
                future.set_exception(BrokenProcessPool("All workers expired"))

    def submit(item: Page) -> tuple[Future[Extracted], int]:
        submitted[item[0]] += 1
        future: Future[Extracted] = Future()
        flying.append(future)
        if item[0] == "poison":
            threading.Timer(0.05, break_pool).start()
        else:
            threading.Timer(0.3, finish, (future, item[0])).start()
        return future, pool._generation

    def restart(generation: int) -> None:
        if generation == pool._generation:
            pool._generation += 1

    pool._entered = True  # no workers: submitting is replaced
    monkeypatch.setattr(pool, "_submit_locked", submit)
    monkeypatch.setattr(pool, "_restart", restart)
    results = pool.extract_many([(k, b"", None) for k in ("a", "poison", "b")])

    assert {k: r.status for k, r in results.items()} == {
        "a": "ok",
        "poison": "crashed",
        "b": "ok",
    }
    assert submitted == {"a": 2, "poison": 2, "b": 2}


def test_a_really_broken_pool_is_restarted_and_keeps_serving() -> None:
    # A worker that dies before it acknowledges its page breaks the pebble pool itself:
    # every later schedule() raises until ExtractionPool replaces the pool.
    settings = ExtractSettings(workers=1, page_timeout_seconds=5.0)
    batch: list[Page] = [
        ("before", b"", None),
        ("poison", faults.DiesOnArrival(), None),
        ("after", b"", None),
    ]
    with ExtractionPool(settings, function=faults.report_pid) as pool:
        first = pool._generation
        results = pool.extract_many(batch)
        later = pool.extract_many([("later", b"", None)])
        generations = pool._generation - first
    assert {key: r.status for key, r in results.items()} == {
        "before": "ok",
        "poison": "crashed",
        "after": "ok",
    }
    assert results["poison"].error == "the worker pool broke twice with this page"
    assert later["later"].status == "ok"
    assert generations == 2  # broken once with the page, once more on its retry


def test_pages_of_a_pool_replaced_by_another_thread_are_resubmitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = ExtractionPool(ExtractSettings(workers=1))
    monkeypatch.setattr("flows.collect.workers.POLL_SECONDS", 0.05)

    def submit(item: Page) -> tuple[Future[Extracted], int]:
        future: Future[Extracted] = Future()
        if pool._generation == 0:  # this pool never answers: another thread replaces it
            threading.Timer(0.1, setattr, (pool, "_generation", 1)).start()
        else:
            future.set_result(Extracted(status="ok", text=item[0]))
        return future, pool._generation

    pool._entered = True  # no workers: submitting is replaced
    monkeypatch.setattr(pool, "_submit_locked", submit)
    results = pool.extract_many([("a", b"", None), ("b", b"", None)])
    assert {k: r.text for k, r in results.items()} == {"a": "a", "b": "b"}


def test_pool_serves_several_threads_at_once() -> None:
    en = page("en_news_article.html")
    batches = [
        [("a-exit", faults.EXIT, None), *((f"a{i}", en, None) for i in range(4))],
        [("b-hang", faults.HANG, None), *((f"b{i}", en, None) for i in range(4))],
    ]
    settings = ExtractSettings(workers=2, page_timeout_seconds=1.0)
    with (
        ExtractionPool(settings, function=faults.faulty_extract) as pool,
        ThreadPoolExecutor(2) as threads,
    ):
        a, b = threads.map(pool.extract_many, batches)
    assert a.pop("a-exit").status == "crashed" and b.pop("b-hang").status == "timeout"
    assert len(a) == len(b) == 4
    assert all(r.status == "ok" for r in (*a.values(), *b.values()))


def test_pages_extracted_from_the_event_loop_survive_hung_crashed_and_failing_pages() -> None:
    en = page("en_news_article.html")
    settings = ExtractSettings(workers=2, page_timeout_seconds=2.0)
    keys = ("hang", "exit", "raise", "en", "en-again")
    marks = {"hang": faults.HANG, "exit": faults.EXIT, "raise": faults.RAISE}

    async def run(pool: ExtractionPool) -> dict[str, Extracted]:
        got = await asyncio.gather(*(pool.extract((k, marks.get(k, b"") + en, None)) for k in keys))
        return dict(zip(keys, got, strict=True))

    with ExtractionPool(settings, function=faults.faulty_extract, window=2) as pool:
        results = asyncio.run(run(pool))
    assert results["hang"].status == "timeout"
    assert results["exit"] == Extracted(status="crashed", error="worker died: exit code 1")
    assert results["raise"] == Extracted(status="error", error="ValueError: this page is cursed")
    assert results["en"].status == results["en-again"].status == "ok"
    assert results["en"].text and results["en"].signed


def test_a_broken_pool_is_replaced_for_pages_extracted_from_the_event_loop() -> None:
    settings = ExtractSettings(workers=1, page_timeout_seconds=5.0)

    async def run(pool: ExtractionPool) -> list[Extracted]:
        before = await pool.extract(("before", b"", None))
        poison = await pool.extract(("poison", faults.DiesOnArrival(), None))
        after = await pool.extract(("after", b"", None))
        return [before, poison, after]

    with ExtractionPool(settings, function=faults.report_pid) as pool:
        first = pool._generation
        before, poison, after = asyncio.run(run(pool))
        generations = pool._generation - first
    assert before.status == after.status == "ok"
    assert poison == Extracted(status="crashed", error="the worker pool broke twice with this page")
    assert generations == 2  # broken once with the page, once more on its retry


def _my_workers() -> set[int]:
    """Live grandchildren of this process: the forkserver's workers (its children are the
    forkserver and multiprocessing's resource tracker)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    children = {pid for pid, parent in parents.items() if parent == os.getpid()}
    return {pid for pid, parent in parents.items() if parent in children}


def _wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _started_early(workers_: int) -> set[int]:
    """`start_early` with this many workers, once they are running: their PIDs."""
    before = _my_workers()
    workers.start_early(ExtractSettings(workers=workers_))
    _wait_for(lambda: len(_my_workers() - before) == workers_)
    return _my_workers() - before


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_started_early_extract_the_runs_pages_at_normal_priority() -> None:
    early = _started_early(1)
    with ExtractionPool(ExtractSettings(workers=1), function=faults.report_scheduling) as pool:
        results = pool.extract_many([("a", b"", None), ("b", b"", None)])
    pids = {int(r.text.split()[0]) for r in results.values()}
    policies = {int(r.text.split()[1]) for r in results.values()}
    assert len(pids) == 1 and pids <= early  # the pool took the early worker, started none
    assert policies == {os.SCHED_OTHER}  # it loaded at idle priority, extracts at normal


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_unused_early_workers_stop_and_a_pool_of_another_size_starts_its_own() -> None:
    early = _started_early(2)
    with ExtractionPool(ExtractSettings(workers=1), function=faults.report_pid) as pool:
        pid = int(pool.extract_many([("a", b"", None)])["a"].text)
        _wait_for(lambda: not (early & _my_workers()))  # stopped, not left running
    assert pid not in early

    before = _my_workers()
    workers.start_early(ExtractSettings(workers=1))
    workers.start_early(ExtractSettings(workers=1))  # once per run: a second call starts none
    _wait_for(lambda: len(_my_workers() - before) >= 1)
    time.sleep(0.5)
    early = _my_workers() - before
    assert len(early) == 1
    workers.stop_early()  # a run with nothing new
    _wait_for(lambda: not (early & _my_workers()))
    workers.stop_early()  # nothing left to stop


def test_pool_defaults_to_one_worker_per_core() -> None:
    assert ExtractionPool(ExtractSettings()).workers == os.cpu_count()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")
def test_the_pipe_to_the_workers_holds_a_window_of_pages() -> None:
    # A page (~100 KB) did not fit the default 64 KiB pipe: a worker done with one page waited
    # for the parent to get the GIL back and write the next (measured: 4-5 % of its time).
    import fcntl

    with ExtractionPool(ExtractSettings(workers=2)) as pool:
        assert pool._pool is not None
        writer = pool._pool._pool_manager.worker_manager.pool_channel.writer
        assert fcntl.fcntl(writer.fileno(), fcntl.F_GETPIPE_SZ) >= pool.window * 100_000
        page = b"<html><body><article><p>" + b"word " * 60_000 + b"</p></article></body></html>"
        got = pool.extract_many([(str(k), page, None) for k in range(2 * pool.window)])
    assert {r.status for r in got.values()} == {"ok"} and len(got) == 2 * pool.window


def test_pool_outside_with_block_is_refused() -> None:
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        ExtractionPool(ExtractSettings(workers=1)).extract_many([("k", b"<p>x</p>", None)])


def test_clean_text_is_the_regex_definition_on_every_kind_of_space() -> None:
    # The definition clean_text is a faster form of: invisible characters out, each run of
    # whitespace but the newline -> one space, lines stripped, blank lines dropped.
    def by_regex(text: str) -> str:
        text = re.sub(r"[\u00ad\u200b\u2060\ufeff]", "", text)
        text = re.sub(r"[^\S\n]+", " ", text)
        return "\n".join(line for line in (part.strip() for part in text.split("\n")) if line)

    alphabet = (
        "ab ćż\n\t\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u2029\u202f\u2009\u3000\u00ad\u200b\u2060\ufeff"
    )
    rng = random.Random(2026)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert clean_text(text) == by_regex(text), repr(text)


def test_the_runs_main_process_loads_neither_trafilatura_nor_the_language_model() -> None:
    """The workers extract and sign; the main process (its RSS counts in a run's peak) loads
    neither trafilatura, the language model nor numpy for that."""
    import subprocess
    import sys

    code = (
        "import sys, flows.cli, flows.ingest, flows.collect.pages, flows.collect.workers\n"
        "print(sorted(m for m in ('trafilatura', 'py3langid', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_workers_sign_what_they_extract_as_the_main_process_would() -> None:
    """The worker's MinHash of an extracted text is the one the main process would compute."""
    from flows.collect import stories

    en = page("en_news_article.html")
    with ExtractionPool(ExtractSettings(workers=1)) as pool:
        got = pool.extract_many([("en", en, FEED_URL), ("empty", b"", None)])
    assert got["en"].signed and got["en"].minhash == stories.minhash(got["en"].text)
    assert got["en"].minhash is not None and len(got["en"].minhash[1]) == stories.NUM_PERM
    assert not got["empty"].signed and got["empty"].minhash is None
