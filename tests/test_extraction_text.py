"""article_text calls trafilatura's extraction cascade itself: it must give bare_extraction's text."""

from __future__ import annotations

from pathlib import Path

import pytest
import trafilatura
from trafilatura.settings import Document

from flows.collect.extraction import article_text

PAGES = Path(__file__).parent / "fixtures" / "pages"
URL = "https://news.example/2024/03/12/story"
# extraction._OPTIONS under bare_extraction's names
BARE = {
    "include_comments": False, "include_tables": True, "include_images": False,
    "include_links": False, "include_formatting": False, "deduplicate": False,
    "favor_precision": False, "fast": False,
}  # fmt: skip
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
