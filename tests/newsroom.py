"""A small newsroom served on loopback: realistic article pages and their feeds, for tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

BASE_TIME = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Story:
    slug: str
    title: str
    paragraphs: tuple[str, ...]
    lang: str = "en"


# Written for these tests; none of it comes from the relevance corpus.
ON_TOPIC = [
    Story(
        "uk-poland-air-defence",
        "Britain and Poland sign deal to co-produce air defence missiles",
        (
            "The United Kingdom and Poland agreed on Tuesday to jointly produce CAMM missiles for the "
            "Narew air defence programme, the defence ministries in London and Warsaw said.",
            "British Defence Secretary John Healey said the agreement deepened the defence partnership "
            "with Poland and would strengthen NATO's eastern flank against Russian threats.",
            "Polish Defence Minister Władysław Kosiniak-Kamysz said British and Polish engineers would "
            "work side by side, and that the first missiles would be assembled in Poland next year.",
            "The deal builds on the security and defence treaty the two countries signed in 2025.",
        ),
    ),
    Story(
        "brytyjscy-zolnierze-w-polsce",
        "Brytyjscy żołnierze ćwiczą z Wojskiem Polskim na poligonie",
        (
            "Żołnierze z Wielkiej Brytanii i Polski rozpoczęli wspólne ćwiczenia wojskowe na poligonie "
            "w Orzyszu, poinformowało Ministerstwo Obrony Narodowej.",
            "Brytyjski kontyngent ćwiczy z polskimi pancerniakami w ramach wzmocnionej wysuniętej "
            "obecności NATO. Współpraca obronna Polski i Wielkiej Brytanii jest coraz ściślejsza.",
            "Minister obrony Wielkiej Brytanii podkreślił, że Londyn pozostaje bliskim sojusznikiem "
            "Warszawy w obliczu zagrożenia ze strony Rosji.",
        ),
        lang="pl",
    ),
    Story(
        "typhoons-poland-air-policing",
        "RAF Typhoons deploy to Poland to guard NATO airspace",
        (
            "Royal Air Force Typhoon jets have arrived in Poland to help police the alliance's airspace "
            "after repeated drone incursions, the Ministry of Defence said.",
            "The UK deployment follows a request from Warsaw, and British pilots will fly alongside "
            "the Polish Air Force from a base in the east of the country.",
        ),
    ),
]
# Another outlet runs the first story from the wire, with its own dateline and headline.
SYNDICATED = Story(
    "wire-uk-poland-missiles",
    "UK, Poland to co-produce missiles (wire)",
    ("WARSAW (Wire) — " + ON_TOPIC[0].paragraphs[0], *ON_TOPIC[0].paragraphs[1:]),
)
HARD_NEGATIVE = [
    Story(
        "england-poland-football",
        "England beat Poland 2-1 in World Cup qualifier at Wembley",
        (
            "England came from behind to beat Poland 2-1 at Wembley on Saturday night.",
            "Poland's captain scored first, but two second-half goals sent England top of the group. "
            "The England manager praised his side's defence, which held firm in the final minutes.",
        ),
    ),
    Story(
        "uk-france-deterrence",
        "Britain and France agree to coordinate nuclear deterrence",
        (
            "The United Kingdom and France said they would coordinate their nuclear deterrents for "
            "the first time, in a declaration signed by Keir Starmer and the French president.",
            "The defence agreement covers joint planning and a new steering group in Paris and London.",
        ),
    ),
    Story(
        "poland-korean-tanks",
        "Poland signs contract for more Korean K2 tanks",
        (
            "Poland signed a contract with South Korea's Hyundai Rotem for another 180 K2 tanks, the "
            "defence ministry in Warsaw said, as the country builds up its army against Russia.",
            "Part of the order will be produced in Poland under licence from the Korean firm.",
        ),
    ),
    Story(
        "polish-lorry-drivers",
        "Polish lorry drivers return to UK haulage firms",
        (
            "British haulage companies say Polish drivers are returning to UK routes after a shortage.",
            "Trade between Poland and the United Kingdom rose last year, industry figures show.",
        ),
    ),
]


def page(story: Story, url: str) -> str:
    """An article page with the furniture of a real news site around the story."""
    nav = "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(30))
    rail = "".join(
        f'<li><a href="/related/{i}">Related headline number {i}</a></li>' for i in range(15)
    )
    body = "".join(f"<p>{escape(p)}</p>" for p in story.paragraphs)
    comments = "".join(
        f'<div class="comment"><p>Reader {i}: interesting.</p></div>' for i in range(5)
    )
    return f"""<!doctype html><html lang="{story.lang}"><head><meta charset="utf-8">
<title>{escape(story.title)} | Test Gazette</title>
<link rel="canonical" href="{escape(url)}">
<meta property="og:site_name" content="Test Gazette">
<script>window.dataLayer = [{{"page": "article"}}]; function track() {{ return 1; }}</script>
<style>body {{ font-family: serif; }} .nav li {{ display: inline; }}</style></head>
<body><header><nav class="nav"><ul>{nav}</ul></nav><div class="cookie">We use cookies. Accept?</div></header>
<main><article><h1>{escape(story.title)}</h1><p class="byline">By A. Reporter</p>{body}</article>
<aside class="rail"><h2>Most read</h2><ul>{rail}</ul></aside>
<section class="comments"><h2>Comments</h2>{comments}</section></main>
<footer><p>© Test Gazette. All rights reserved.</p></footer></body></html>"""


def rss2(server: HTTPServer, stories: list[Story], *, utm: bool = False) -> str:
    items = []
    for i, s in enumerate(stories):
        link = server.url_for(f"/news/{s.slug}") + (
            "?utm_source=rss&utm_medium=feed" if utm else ""
        )
        when = format_datetime(BASE_TIME + timedelta(hours=i))
        items.append(
            f"<item><title>{escape(s.title)}</title><link>{escape(link)}</link>"
            f'<guid isPermaLink="false">{s.slug}</guid><pubDate>{when}</pubDate>'
            f"<description>{escape(s.paragraphs[0])}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Test Gazette</title><link>{server.url_for('/')}</link>{''.join(items)}</channel></rss>"
    )


def atom(server: HTTPServer, stories: list[Story]) -> str:
    entries = "".join(
        f'<entry><title>{escape(s.title)}</title><link href="{escape(server.url_for("/news/" + s.slug))}"/>'
        f"<id>urn:test:{s.slug}</id><updated>{(BASE_TIME + timedelta(hours=i)).isoformat()}</updated>"
        f"<summary>{escape(s.paragraphs[0])}</summary></entry>"
        for i, s in enumerate(stories)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Atom Times</title><id>urn:test:atom</id><updated>{BASE_TIME.isoformat()}</updated>{entries}</feed>"
    )


def rss1(server: HTTPServer, stories: list[Story]) -> str:
    items = "".join(
        f'<item rdf:about="{escape(server.url_for("/news/" + s.slug))}"><title>{escape(s.title)}</title>'
        f"<link>{escape(server.url_for('/news/' + s.slug))}</link><description>{escape(s.paragraphs[0])}</description>"
        f"<dc:date>{(BASE_TIME + timedelta(hours=i)).isoformat()}</dc:date></item>"
        for i, s in enumerate(stories)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<channel rdf:about="{server.url_for("/rdf")}"><title>RDF Post</title>'
        f"<link>{server.url_for('/')}</link><description>x</description></channel>{items}</rdf:RDF>"
    )


def serve_with_etag(server: HTTPServer, path: str, body: str, content_type: str) -> None:
    """Serve a document with an ETag and Last-Modified, answering 304 to matching validators."""
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:16] + '"'
    modified = format_datetime(BASE_TIME, usegmt=True)

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(
            body, content_type=content_type, headers={"ETag": etag, "Last-Modified": modified}
        )

    server.expect_request(path).respond_with_handler(handler)


def publish(server: HTTPServer) -> dict[str, str]:
    """Serve three feeds, a broken one, a page posing as a feed and every article; their URLs."""
    for s in [*ON_TOPIC, SYNDICATED, *HARD_NEGATIVE]:
        url = server.url_for(f"/news/{s.slug}")
        server.expect_request(f"/news/{s.slug}").respond_with_data(
            page(s, url), content_type="text/html; charset=utf-8"
        )
    serve_with_etag(
        server,
        "/rss.xml",
        rss2(server, [ON_TOPIC[0], HARD_NEGATIVE[0], ON_TOPIC[1]]),
        "application/rss+xml",
    )
    # The same first story again, with tracking parameters, from another feed: one row.
    serve_with_etag(
        server,
        "/atom.xml",
        atom(server, [HARD_NEGATIVE[1], HARD_NEGATIVE[2]]).replace("</feed>", "")
        + rss_entry_as_atom(server, ON_TOPIC[0])
        + "</feed>",
        "application/atom+xml",
    )
    serve_with_etag(
        server,
        "/rdf.xml",
        rss1(server, [ON_TOPIC[2], HARD_NEGATIVE[3], SYNDICATED]),
        "application/rdf+xml",
    )
    server.expect_request("/broken.xml").respond_with_data("oops", status=500)
    server.expect_request("/not-a-feed").respond_with_data(
        "<html><body><h1>Welcome</h1></body></html>", content_type="text/html"
    )
    return {
        name: server.url_for(path)
        for name, path in [
            ("Gazette RSS", "/rss.xml"),
            ("Atom Times", "/atom.xml"),
            ("RDF Post", "/rdf.xml"),
            ("Broken", "/broken.xml"),
            ("Homepage", "/not-a-feed"),
        ]
    }


def rss_entry_as_atom(server: HTTPServer, s: Story) -> str:
    link = server.url_for(f"/news/{s.slug}") + "?utm_source=atom&utm_campaign=x#comments"
    return (
        f'<entry><title>{escape(s.title)}</title><link href="{escape(link)}"/><id>urn:other:{s.slug}</id>'
        f"<updated>{BASE_TIME.isoformat()}</updated><summary>{escape(s.paragraphs[0])}</summary></entry>"
    )


def sources_yaml(feeds: dict[str, str]) -> str:
    lines = [
        "fetch:",
        '  allow_private_addresses: ["127.0.0.1"]',
        "  timeout_seconds: 10",
        "extract:",
        "  workers: 2",
        "  page_timeout_seconds: 30",
        "feeds:",
    ]
    for name, url in feeds.items():
        lines += [f"  - name: {name}", f"    url: {url}"]
    return "\n".join(lines) + "\n"
