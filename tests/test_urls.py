"""URL canonicalisation, click-tracker unwrapping, same-site and safe-link checks."""

from __future__ import annotations

import pytest

from flows.web.urls import (
    TRACKING_PARAMS,
    canonical_url,
    safe_link,
    same_site,
    unwrap_redirector,
)

BING = (
    "https://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=69E3&url=https%3a%2f%2f"
    "www.publisher.example.com%2fworld%2fstory-3%3fp%3d7%26utm_campaign%3dbing&c=1234&mkt=pl-pl"
)
GOOGLE_NEWS = "https://news.google.com/rss/articles/CBMiK2h0dHBzOi8vZXhhbXBsZS5jb20vYT9ibGE?oc=5"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM/a", "http://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("http://example.com:8080", "http://example.com:8080/"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com?id=1", "https://example.com/?id=1"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/a?", "https://example.com/a"),
        ("https://example.com./a", "https://example.com/a"),
        ("  https://example.com/a \n", "https://example.com/a"),
        ("https://zażółć.pl/ścieżka?q=łódź", "https://xn--za-6ja4f8n1l.pl/%C5%9Bcie%C5%BCka?q=%C5%82%C3%B3d%C5%BA"),
        ("https://ZAŻÓŁĆ.PL/", "https://xn--za-6ja4f8n1l.pl/"),
        ("https://example.com/%c5%9b", "https://example.com/%C5%9B"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        ("http://127.0.0.1:8000/x", "http://127.0.0.1:8000/x"),
        # a hashbang route is the story's only name on such sites
        ("https://example.com/#!/story/1", "https://example.com/#!/story/1"),
    ],
)  # fmt: skip
def test_canonical_url_normalises(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://ex.com/a?utm_source=rss&id=5&utm_medium=feed&UTM_Campaign=x&p=2",
            "https://ex.com/a?id=5&p=2",
        ),
        ("https://ex.com/a?fbclid=1&gclid=2&dclid=3&msclkid=4&yclid=5&igshid=6", "https://ex.com/a"),
        ("https://ex.com/a?mc_cid=1&mc_eid=2&_ga=3&ocid=4&cmpid=5&ito=6", "https://ex.com/a"),
        ("https://ex.com/a?at_medium=RSS&at_campaign=KARANGA&CMP=share&xtor=RSS-1", "https://ex.com/a"),
        ("https://ex.com/a?src=rss&ref=feed&src=RSS", "https://ex.com/a"),
        # src/ref that are not "from a feed" may name content: kept
        ("https://ex.com/a?src=img.png&ref=123", "https://ex.com/a?src=img.png&ref=123"),
        # content identifiers are never tracking, whatever their neighbours
        (
            "https://ex.com/a?id=1&p=2&article=3&story=4&utm_source=x",
            "https://ex.com/a?id=1&p=2&article=3&story=4",
        ),
        # order of the remaining parameters is kept; empty pairs go
        ("https://ex.com/a?z=1&&a=2&y=3", "https://ex.com/a?z=1&a=2&y=3"),
        # exact names only: lowercase `cmp` may be a site's own parameter
        ("https://ex.com/a?cmp=1&CMP=2", "https://ex.com/a?cmp=1"),
        ("https://ex.com/a?q=a+b&x=%2F", "https://ex.com/a?q=a+b&x=%2F"),
    ],
)  # fmt: skip
def test_canonical_url_strips_tracking_parameters_only(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_tracking_set_holds_no_content_identifiers() -> None:
    assert {"id", "p", "article", "story", "page", "q", "s"}.isdisjoint(TRACKING_PARAMS)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@example.com/a",
        "https://user@example.com/a",
        "ftp://example.com/a",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "mailto:a@example.com",
        "//example.com/a",  # scheme-relative without a base
        "/relative/path",
        "",
        "http://",
        "http:///path",
        "http://[::1/x",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://exa mple.com/",
        "http://example..com/",
        "http://" + "a" * 64 + ".com/",
    ],
)
def test_canonical_url_rejects(url: str) -> None:
    assert canonical_url(url) is None


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("/news/1?utm_source=x", "https://feeds.example.com/rss.xml", "https://feeds.example.com/news/1"),
        ("story-2", "https://ex.com/section/feed.xml", "https://ex.com/section/story-2"),
        ("../up", "https://ex.com/a/b/feed.xml", "https://ex.com/a/up"),
        ("//cdn.example.com/x", "https://ex.com/feed", "https://cdn.example.com/x"),
        ("https://other.com/x", "https://ex.com/feed", "https://other.com/x"),
        ("javascript:alert(1)", "https://ex.com/feed", None),
    ],
)  # fmt: skip
def test_canonical_url_resolves_against_base(url: str, base: str, expected: str | None) -> None:
    assert canonical_url(url, base) == expected


MESSY = [
    "HTTP://WWW.Example.COM:80/a/b?utm_source=x&id=1&fbclid=y#top",
    "https://zażółć.pl/ścieżka?q=łódź&utm_medium=rss",
    "https://example.com/a b?c d=e f",
    "https://example.com/%7euser/%c5%9b?x=%e2%82%ac",
    "https://example.com/100%/x?y=50%",
    "https://example.com/#!/story/ż",
    "http://[2001:DB8::1]:8080",
    "https://example.com/a?src=rss&src=feed&ref=x",
    "https://example.com./?a=1&&b=2&",
    "https://example.com/;jsessionid=1?x",
    BING,
]


@pytest.mark.parametrize("url", MESSY)
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert once is not None
    assert canonical_url(once) == once
    assert once.isascii()


def test_unwrap_bing_apiclick() -> None:
    assert (
        unwrap_redirector(BING)
        == "https://www.publisher.example.com/world/story-3?p=7&utm_campaign=bing"
    )
    assert (
        canonical_url(unwrap_redirector(BING))
        == "https://www.publisher.example.com/world/story-3?p=7"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://www.bing.com/news/apiclick.aspx?url=javascript%3aalert(1)",
        "https://www.bing.com/news/apiclick.aspx?url=file%3a%2f%2f%2fetc%2fpasswd",
        "https://www.bing.com/news/apiclick.aspx?ref=FexRss",
        "https://www.bing.com/news/search?q=x&url=https%3a%2f%2fexample.com",  # not the tracker
        "https://evil.example/news/apiclick.aspx?url=https%3a%2f%2fexample.com",
        GOOGLE_NEWS,  # opaque: resolving it would need Google
        "https://example.com/story?url=https%3a%2f%2fother.com",
        "not a url",
    ],
)
def test_unwrap_leaves_everything_else(url: str) -> None:
    assert unwrap_redirector(url) == url


def test_unwrap_google_alerts_redirect() -> None:
    alert = (
        "https://www.google.com/url?rct=j&sa=t&url=https://www.example.pl/a/1%3Fx%3D2"
        "&ct=ga&cd=CAEYACoTNjA&usg=AOvVaw1"
    )
    assert unwrap_redirector(alert) == "https://www.example.pl/a/1?x=2"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("https://www.bbc.co.uk/news/1", "https://bbc.co.uk/news/1", True),
        ("https://m.bbc.co.uk/news/1", "https://www.BBC.co.uk/other", True),
        ("https://amp.theguardian.com/a", "http://theguardian.com:8080/b", True),
        ("https://news.bbc.co.uk/a", "https://bbc.co.uk/a", False),
        ("https://evil.com/bbc.co.uk", "https://bbc.co.uk/", False),
        ("https://bbc.co.uk.evil.com/", "https://bbc.co.uk/", False),
        ("https://zażółć.pl/", "https://www.xn--za-6ja4f8n1l.pl/", True),
        ("not a url", "not a url", False),
        ("https://example.com/", "javascript:alert(1)", False),
    ],
)
def test_same_site(a: str, b: str, expected: bool) -> None:
    assert same_site(a, b) is expected
    assert same_site(b, a) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a?b=1", "https://example.com/a?b=1"),
        (" http://example.com/a ", "http://example.com/a"),
        ("HTTPS://example.com/", "HTTPS://example.com/"),
        (None, None),
        ("", None),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        ("data:text/html,x", None),
        ("file:///etc/passwd", None),
        ("vbscript:msgbox(1)", None),
        ("https://user:pw@example.com/", None),
        ("https://example.com/a\r\nBcc: x@example.com", None),
        ("//example.com/a", None),
        ("https://", None),
    ],
)
def test_safe_link(url: str | None, expected: str | None) -> None:
    assert safe_link(url) == expected
