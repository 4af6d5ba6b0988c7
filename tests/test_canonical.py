"""Which rel=canonical a page may give its article: its own address in another form, never
another article's."""

from __future__ import annotations

import pytest

from flows.collect.articles import page_key
from flows.web.urls import canonical_url, same_article
from warehouse.records import Entry, Extracted, FetchResult


def entry(link: str) -> Entry:
    url = canonical_url(link)
    assert url is not None
    return Entry(
        key=url,
        source="S",
        feed_url="https://news.example/feed",
        url=url,
        link=link,
        guid=None,
        title="t",
        summary="s",
        published_at=None,
    )


def key(link: str, declared: str, final: str | None = None) -> str:
    page = FetchResult(url=link, status="ok", final_url=final or link)
    return page_key(entry(link), page, Extracted(status="ok", canonical_url=declared))


@pytest.mark.parametrize(
    ("link", "declared", "final"),
    [
        ("https://news.example/a?utm_source=rss&fbclid=x", "https://news.example/a", None),
        ("https://news.example/a/amp", "https://news.example/a", None),
        ("https://news.example/a.amp", "https://news.example/a", None),
        ("https://news.example/amp/a", "https://www.news.example/a/", None),
        ("https://news.example/a?amp=1", "https://news.example/a", None),
        ("https://news.example/a?outputType=amp", "https://news.example/a", None),
        ("https://m.news.example/a", "https://www.news.example/a", None),
        ("https://amp.news.example/a", "https://news.example/a", None),
        ("http://news.example/a/index.html", "https://news.example/a/", None),
        # the site moved the article: the canonical names where it was served from
        ("https://news.example/old-slug", "https://news.example/new-slug",
         "https://news.example/new-slug"),
        ("https://news.example/?p=123", "https://news.example/2026/11/slug/",
         "https://news.example/2026/11/slug/"),
    ],
)  # fmt: skip
def test_a_canonical_naming_the_page_itself_in_another_form_is_the_key(
    link: str, declared: str, final: str | None
) -> None:
    assert key(link, declared, final) == canonical_url(declared)


@pytest.mark.parametrize(
    ("link", "declared", "final"),
    [
        # another article on the same site, relative or absolute, with variant marks or not
        ("https://news.example/hostile", "https://news.example/real", None),
        ("https://news.example/hostile", "/real", None),
        ("https://news.example/hostile", "https://www.news.example/real/amp?amp=1", None),
        ("https://news.example/a?id=1", "https://news.example/a?id=2", None),
        ("https://news.example/real/comments", "https://news.example/real", None),
        # a redirect within the site does not let the page claim a third address
        ("https://news.example/hostile", "https://news.example/real",
         "https://news.example/elsewhere"),
        # another site: never, even when the fetch ended there
        ("https://news.example/a", "https://other.example/a", None),
        ("https://news.example/a", "https://other.example/a", "https://other.example/a"),
    ],
)  # fmt: skip
def test_a_canonical_naming_another_article_is_ignored(
    link: str, declared: str, final: str | None
) -> None:
    assert key(link, declared, final) == canonical_url(link)


def test_same_article_ignores_only_the_marks_of_a_variant() -> None:
    assert same_article("https://www.a.example/x/", "http://a.example/x?utm_medium=feed")
    assert same_article("https://a.example:8443/x", "https://m.a.example:8443/x/amp")
    assert not same_article("https://a.example:8443/x", "https://a.example:8444/x")
    assert not same_article("https://a.example/X", "https://a.example/x")
    assert not same_article("https://a.example/x?page=2", "https://a.example/x")
    assert not same_article("https://a.example/x", "https://b.example/x")
    assert not same_article("javascript:alert(1)", "javascript:alert(1)")
