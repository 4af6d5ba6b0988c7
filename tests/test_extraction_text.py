"""article_text calls trafilatura's extraction cascade itself: it must give bare_extraction's text."""

from __future__ import annotations

import gzip
from concurrent.futures import ThreadPoolExecutor
from copy import copy
from pathlib import Path
from typing import Any

import pytest
import trafilatura
import trafilatura.external
import trafilatura.utils
from lxml import etree
from lxml import html as lxml_html
from trafilatura.settings import Document

from flows.collect import cascade
from flows.collect.cascade import article_text

PAGES = Path(__file__).parent / "fixtures" / "pages"
URL = "https://news.example/2024/03/12/story"
# extraction._OPTIONS under bare_extraction's names
BARE = {
    "include_comments": False, "include_tables": True, "include_images": False,
    "include_links": False, "include_formatting": False, "deduplicate": False,
    "favor_precision": False, "fast": False,
}  # fmt: skip
LONG_PARAGRAPH = " ".join(
    f"Sentence {i} about the ferry timetable on the island, which changed again." for i in range(6)
)
PARAGRAPHS = "".join(f"<p>Paragraph {i} of a plain story about the harbour.</p>" for i in range(8))
BUILT = {
    "short": b"<html><body><article><p>Two words.</p></article></body></html>",
    "no text": b"<html><head><title>x</title></head><body><div><img src=a.png></div></body></html>",
    "table": (
        b"<html><body><article><h1>Results</h1><table><tr><td>Ayr</td><td>12</td></tr>"
        b"<tr><td>Troon</td><td>9</td></tr></table>"
        + PARAGRAPHS.encode()
        + b"</article></body></html>"
    ),
    # a short article beside much other text: trafilatura retries in recall mode
    "escalates": (
        b"<html><body><article><p>The council met on Tuesday to discuss the harbour and its "
        b"future plans for the summer season.</p></article><div class=sidebar>"
        + b"".join(b"<p>%s</p>" % LONG_PARAGRAPH.encode() for _ in range(8))
        + b"</div></body></html>"
    ),
    "div soup": (
        b"<html><body><nav><a href=/>Home</a><a href=/n>News</a></nav><div class=c>"
        + PARAGRAPHS.replace("p>", "div>").encode()
        + b"</div><div id=comments><div class=comment>First!</div></div></body></html>"
    ),
}


def cases() -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in PAGES.glob("*.html")) + sorted(BUILT.items())


@pytest.mark.parametrize(("name", "html"), cases(), ids=[name for name, _ in cases()])
def test_article_text_is_bare_extractions_text(name: str, html: bytes) -> None:
    expected = trafilatura.bare_extraction(html, url=URL, **BARE)
    tree = trafilatura.load_html(html)
    assert tree is not None

    text = article_text(tree, URL)

    assert text == (expected.text or "" if isinstance(expected, Document) else "")


def test_the_comparison_is_not_between_empty_texts() -> None:
    texts = {name: article_text(trafilatura.load_html(html), URL) for name, html in cases()}
    assert texts.pop("no text") == ""
    assert all(texts.values()), texts


def _readability_inputs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of the text of every page readability is run on, from now on."""
    lengths: list[int] = []
    run = trafilatura.external.try_readability

    def spy(tree: Any) -> Any:
        lengths.append(len(tree.text_content().strip()))
        return run(tree)

    monkeypatch.setattr(trafilatura.external, "try_readability", spy)
    return lengths


@pytest.mark.parametrize("name", ["en_news_article.html", "pl_news_article.html"])
def test_readability_is_not_run_where_the_article_is_most_of_the_page(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lengths = _readability_inputs(monkeypatch)

    text = article_text(trafilatura.load_html((PAGES / name).read_bytes()), URL)

    assert text and lengths == [0]  # handed the empty page


def test_readability_runs_where_it_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    lengths = _readability_inputs(monkeypatch)

    text = article_text(trafilatura.load_html(BUILT["div soup"]), URL)

    assert lengths and lengths[0] > 0
    assert "Paragraph 7" in text  # readability's text: trafilatura's own keeps less of it


def test_skipping_readability_where_it_wins_would_change_the_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the comparison with bare_extraction above guards against."""
    monkeypatch.setattr(cascade, "readability_cannot_win", lambda *_: True)
    expected = trafilatura.bare_extraction(BUILT["div soup"], url=URL, **BARE)
    assert isinstance(expected, Document)

    assert article_text(trafilatura.load_html(BUILT["div soup"]), URL) != expected.text


def _page_measures(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every html2txt page text the cascade computes, from now on."""
    lengths: list[int] = []
    run = cascade._html2txt

    def spy(tree: Any, clean: bool = True) -> str:
        text = run(tree, clean)
        lengths.append(len(text))
        return text

    monkeypatch.setattr(cascade, "_html2txt", spy)
    return lengths


def test_a_short_text_on_a_long_page_is_measured_against_the_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    measured = _page_measures(monkeypatch)

    text = article_text(trafilatura.load_html(BUILT["escalates"]), URL)

    assert measured and "Sentence 5 about the ferry" in text  # the recall retry's text


@pytest.mark.parametrize("name", ["en_news_article.html", "pl_news_article.html", "short"])
def test_the_page_is_not_measured_where_the_text_is_a_fifth_of_its_bound(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    measured = _page_measures(monkeypatch)
    html = BUILT[name] if name in BUILT else (PAGES / name).read_bytes()

    assert article_text(trafilatura.load_html(html), URL)
    assert measured == []


def test_skipping_the_page_measure_where_it_counts_would_change_the_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cascade, "page_text_bound", lambda _tree: 0)
    expected = trafilatura.bare_extraction(BUILT["escalates"], url=URL, **BARE)
    assert isinstance(expected, Document)

    assert article_text(trafilatura.load_html(BUILT["escalates"]), URL) != expected.text


VIDEOS = (
    b"<html><body><div class=article><p>Watch:</p><iframe src='https://www.youtube.com/embed/x'>"
    b"</iframe><iframe src='https://vimeo.com/1'></iframe><p>and more.</p></div></body></html>"
)


def test_the_readability_bound_is_at_least_readabilitys_length() -> None:
    for html in [html for _name, html in cases()] + [VIDEOS]:
        tree = trafilatura.load_html(html)
        found = trafilatura.external.try_readability(copy(tree))
        length = len(" ".join(etree.tostring(found, method="text", encoding=str).split()))

        assert cascade.readability_text_bound(tree) >= length > 0 or html == BUILT["no text"]


def test_the_page_text_bound_is_at_least_html2txts_length() -> None:
    for _name, html in cases():
        tree = trafilatura.load_html(html)
        assert cascade.page_text_bound(tree) >= len(trafilatura.html2txt(tree))


@pytest.mark.parametrize(("name", "html"), cases(), ids=[name for name, _ in cases()])
def test_load_page_parses_as_trafilatura_does(name: str, html: bytes) -> None:
    ours, theirs = cascade.load_page(html, 10**7), trafilatura.load_html(html)

    assert etree.tostring(ours) == etree.tostring(theirs)
    assert article_text(ours, URL) == article_text(theirs, URL)


DOC = "<html><head><title>t</title></head><body><p>Text of the page, caf\u00e9.</p></body></html>"
LOADS = {  # page: parsed from its bytes (True), or left to trafilatura.load_html (False)
    "plain UTF-8": (f"<!DOCTYPE html>\n{DOC}".encode(), True),
    "no doctype": (DOC.encode(), True),
    "a control character": (DOC.replace("Text", "Te\x0bxt").encode(), False),
    "U+FFFE": (DOC.replace("Text", "Te\ufffext").encode(), False),
    "XHTML doctype (rewritten)": (
        b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x.dtd">\n' + DOC.encode(),
        False,
    ),
    "doctype, no line break": (f"<!DOCTYPE html>{DOC}".encode(), False),
    "self-closing <html/>": (f'<html lang="en"/>\n{DOC[6:]}'.encode(), False),
    "leading no-break space": (f"\u00a0{DOC}".encode(), False),
    "byte-order mark": (f"\ufeff<!DOCTYPE html>\n{DOC}".encode(), False),
    "gzip": (gzip.compress(DOC.encode()), False),
    "Latin-1": (DOC.encode("latin-1"), False),
    "no HTML": (b"just a line of text", False),
}


@pytest.mark.parametrize(("html", "from_bytes"), LOADS.values(), ids=list(LOADS))
def test_load_page_parses_utf8_bytes_only_where_load_html_would_get_the_same_tree(
    html: bytes, from_bytes: bool
) -> None:
    """Where load_html would repair, inflate, guess an encoding or reject, it runs itself.

    Today two of the guards are also covered by another: libxml2 makes an empty tree of a page
    with a self-closing <html/> (load_html parses it again), and gzip and zstd bodies are no
    UTF-8. Each of the other guards, left out, fails a case here."""
    trafilatura.utils.HTML_PARSER = cascade._PARSER  # what load_page parses with
    try:
        theirs = trafilatura.load_html(html, 10**6)
    finally:
        trafilatura.utils.HTML_PARSER = cascade._TRAFILATURAS_PARSER
    ours = cascade.load_page(html, 10**6)

    assert (cascade._load_utf8(html, 10**6) is not cascade._UNSURE) is from_bytes
    if theirs is None:
        assert ours is None
    else:
        assert etree.tostring(ours) == etree.tostring(theirs)


def test_load_page_builds_no_form_classes_and_leaves_trafilaturas_parser_alone() -> None:
    html = b"<html><body><form><input name=q><label>Find</label></form><p>Text.</p></body></html>"
    parser = trafilatura.utils.HTML_PARSER

    tree = cascade.load_page(html, 10**6)

    assert {type(e) for e in tree.iter("form", "input", "label", "p")} == {lxml_html.HtmlElement}
    assert trafilatura.utils.HTML_PARSER is parser
    assert type(trafilatura.load_html(html).find(".//form")) is lxml_html.FormElement


def test_threads_extracting_at_once_get_trafilaturas_texts() -> None:
    """The skips hold per thread: one thread's page never decides another's (nor a direct
    trafilatura call's) step."""
    pages = [BUILT["escalates"], (PAGES / "en_news_article.html").read_bytes(), BUILT["div soup"]]
    expected = []
    for html in pages:
        bare = trafilatura.bare_extraction(html, url=URL, **BARE)
        assert isinstance(bare, Document)
        expected.append(bare.text)

    def ours(i: int) -> bool:
        html = pages[i % len(pages)]
        return article_text(cascade.load_page(html, 10**7), URL) == expected[i % len(pages)]

    def theirs(i: int) -> bool:
        bare = trafilatura.bare_extraction(pages[i % len(pages)], url=URL, **BARE)
        return isinstance(bare, Document) and bare.text == expected[i % len(pages)]

    with ThreadPoolExecutor(6) as pool:
        done = [pool.submit(ours if i % 2 else theirs, i // 2) for i in range(360)]
        assert all(f.result() for f in done)
