"""A deterministic synthetic newsroom for the ingest benchmark: article pages and their feeds.

`write_corpus(root, pages, bases, seed)` writes, for each outlet k (one origin each):

    root/<k>/feed.xml                  RSS 2.0 or Atom, every entry of that outlet
    root/<k>/<section>/<yyyy>/<mm>/<dd>/<slug>-<n>.html   the article pages (~100 KB each)
    root/<k>/.../*.html.gz             the same bytes gzipped (what the server sends)
    root/0/empty.xml                   a valid RSS feed with no items (fixed start-up)
    root/manifest.json                 what was generated: sizes, topics, feed kinds

Pages are built like real news pages: a <head> with analytics, ad-config and JSON-LD scripts
and a stylesheet, a mega-menu, a cookie banner, the article (headline, byline, 8-20
paragraphs of generated prose, figures, ad slots), related-link rails, a long comments
section and a footer, in one of four site templates. Page i depends only on (seed, i), so
the first N pages are the same whatever N is. About 10 % of the articles are on topic
(UK-Poland defence cooperation) and about 5 % are near misses (England v Poland football,
UK-France defence), so the matcher has work to do.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

BASE_TIME = datetime(2026, 11, 17, 6, 0, tzinfo=UTC)
TOPIC_SHARE = 0.10
NEAR_MISS_SHARE = 0.05
LIVE_SHARE = 0.03  # live blogs: hundreds of updates, 150-500 KB: the costly tail of real corpora


# ---- prose -------------------------------------------------------------------------------
def _split(text: str, sep: str | None = None) -> list[str]:
    """A word bank written as one string (words, or phrases separated by `sep`)."""
    return text.split(sep)


FIRST = _split(
    "Anna James Maria Tom Sarah David Olivia Piotr Katarzyna Mark Helen Oliver Amelia Ewa Tomasz "
    "Grace Daniel Laura Marek Agnieszka Richard Emma Paul Sophie Michael Joanna Chris Hannah Adam "
    "Rachel Simon Alice Krzysztof Lucy Robert Zofia Ian Claire Peter Fiona"
)
LAST = _split(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Nowak Kowalski Wiśniewski Wójcik "
    "Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak Dąbrowski Patel Khan Murphy "
    "O'Brien Campbell Stewart Morgan Hughes Edwards"
)
PLACES = _split(
    "Leeds Manchester Bristol Glasgow Cardiff Belfast Norwich Sheffield Leicester Brighton "
    "Gdańsk Kraków Wrocław Poznań Łódź Lublin Rotterdam Lyon Munich Valencia Porto Turin Ghent "
    "Aarhus Tampere Graz Brno Cluj Riga Tartu"
)
ORGS = _split(
    "the city council|the regional health authority|the transport ministry|the central bank|"
    "the statistics office|the energy regulator|the teachers' union|a consortium of local firms|"
    "the port authority|the environment agency|the competition watchdog|the university|"
    "the chamber of commerce|the housing association|the water company|the rail operator|"
    "the fire service|the farmers' union|the national museum|a group of residents",
    "|",
)
SUBJECTS = _split(
    "officials|analysts|residents|economists|campaigners|researchers|shop owners|commuters|"
    "local councillors|doctors|teachers|engineers|investors|farmers|union leaders|planners|"
    "parents|tourism operators|hospital managers|small businesses",
    "|",
)
VERBS = _split(
    "warned that|said that|argued that|confirmed that|expect that|fear that|welcomed news that|"
    "questioned whether|were told that|noted that|insisted that|estimated that|reported that|"
    "doubted that|predicted that|acknowledged that",
    "|",
)
CLAUSES = _split(
    "the new timetable would cut journeys by {n} minutes|"
    "prices had risen by {p} per cent since the spring|"
    "the budget for {place} would be reviewed before {month}|"
    "waiting lists had fallen for the {ord} month in a row|"
    "the scheme could create about {k} jobs over {n} years|"
    "the flooding had damaged {k} homes along the river|"
    "the bridge would stay closed until at least {month}|"
    "demand for electricity peaked at {p} per cent above the forecast|"
    "the new ward would open with {n} beds in {month}|"
    "rents in {place} had climbed faster than wages|"
    "the festival drew {k} visitors over {n} days|"
    "enrolment at the college was up {p} per cent on last year|"
    "the tram extension was {n} months behind schedule|"
    "the plant would switch to recycled materials by {year}|"
    "broadband coverage in rural areas had reached {p} per cent|"
    "the harbour dredging would cost about {k} thousand pounds|"
    "the proposal needed the approval of {org}|"
    "nobody had yet explained how the plan would be paid for|"
    "the closure of the depot would affect {k} workers|"
    "the heatwave had pushed water use to a record|"
    "the library would keep its Sunday opening hours|"
    "the exhibition would travel to {place} in {month}|"
    "the match-day parking rules would be relaxed|"
    "the council tax rise would be capped at {p} per cent|"
    "a review of the bus network was long overdue",
    "|",
)
OPENERS = (
    "On {day},|Earlier this week,|In a statement,|Speaking in {place},|By the end of {month},|"
    "According to figures published on {day},|For the first time since {year},|"
    "In an interview with this newspaper,|At a meeting in {place},|Late on {day},|"
    "After months of delay,|Despite the objections,|In the past year,|Last {month},|"
)
OPENERS_LIST = _split(OPENERS.strip("|"), "|")
ASIDES = _split(
    "which has been debated for years|although the details remain unclear|"
    "a figure disputed by the opposition|as first reported in {month}|"
    "in line with earlier forecasts|the highest level since {year}|"
    "according to a spokesperson for {org}|after a consultation that drew {k} responses|"
    "a move critics called premature|subject to a vote next {month}",
    "|",
)
QUOTES = _split(
    "We have listened carefully and we think this is the right decision|"
    "It is too early to say what this means for families in {place}|"
    "The numbers speak for themselves|Nobody should be surprised by this|"
    "We will keep pressing for a better deal|This has been a difficult year for everyone|"
    "There is still a lot of work to do|We want to get this right rather than rush it|"
    "People here deserve a clear answer|I am proud of what the team has achieved",
    "|",
)
MONTHS = _split(
    "January February March April May June July August September October November December"
)
DAYS = _split("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
ORDINALS = _split("second third fourth fifth sixth seventh eighth ninth tenth")
SECTIONS = _split("news business world politics uk-news local science health culture sport")

ON_TOPIC_LEAD = _split(
    "The United Kingdom and Poland agreed on {day} to deepen their defence cooperation, "
    "the defence ministries in London and Warsaw said.|"
    "British and Polish defence ministers met in Warsaw to discuss joint air-defence "
    "production and the deployment of British troops in Poland.|"
    "Britain will send additional Royal Air Force Typhoons to Poland to help guard NATO's "
    "eastern flank, the Ministry of Defence said on {day}.|"
    "Poland's defence minister said the CAMM missiles built with British partners for the "
    "Narew air-defence programme would be delivered ahead of schedule.|"
    "The UK and Poland signed a new security and defence treaty, committing both countries "
    "to joint exercises, intelligence sharing and co-production of weapons.",
    "|",
)
ON_TOPIC_BODY = _split(
    "Polish officials said the partnership with Britain was central to the country's "
    "security against Russian threats.|"
    "British soldiers will train alongside Polish units at a range in the north-east of Poland "
    "as part of NATO's forward presence.|"
    "The agreement builds on the 2017 defence and security treaty between the UK and Poland.|"
    "The Polish navy's Miecznik frigates are based on a British design, and the UK defence "
    "ministry said more industrial cooperation would follow.|"
    "Defence analysts in London said the deal made Poland one of Britain's closest security "
    "partners in Europe.",
    "|",
)
ON_TOPIC_TITLES = _split(
    "Britain and Poland deepen defence ties with new air-defence deal|"
    "UK to station more troops in Poland as allies sign security pact|"
    "RAF Typhoons head to Poland to guard NATO airspace|"
    "Poland and UK agree to co-produce CAMM missiles|"
    "London and Warsaw sign defence and security treaty",
    "|",
)
NEAR_MISS_TITLES = _split(
    "England beat Poland in World Cup qualifier at Wembley|"
    "Britain and France agree to coordinate nuclear deterrence|"
    "Polish lorry drivers return to UK haulage firms|"
    "Poland orders more Korean tanks for its army",
    "|",
)
NEAR_MISS_BODY = _split(
    "England came from behind to beat Poland 2-1, and the manager praised his side's defence.|"
    "The United Kingdom and France said the defence agreement covers joint planning.|"
    "British haulage companies say Polish drivers are returning, as trade between Poland and "
    "the UK rose.|"
    "Poland signed a contract with a South Korean firm for another 180 tanks, the defence "
    "ministry in Warsaw said.",
    "|",
)
HEADLINE_NOUNS = _split(
    "Council|Rail operator|Hospital trust|Ministers|Regulator|Port|Farmers|University|Residents|"
    "Energy firm|Museum|Police|Teachers|Airport|Brewery|Water company|Charity|Football club",
    "|",
)
HEADLINE_VERBS = _split(
    "unveils plan for|delays decision on|warns over|backs|rejects|opens|rethinks|"
    "cuts costs of|expands|reviews|defends|pauses",
    "|",
)
HEADLINE_OBJECTS = _split(
    "new tram line|housing scheme|winter budget|flood defences|school meals|night buses|"
    "wind farm|city centre parking|cancer ward|harbour redevelopment|library hours|"
    "cycle lanes|recycling rules|summer festival|pay offer|water bills",
    "|",
)


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        n=rng.randint(2, 45),
        p=rng.randint(2, 38),
        k=rng.randint(120, 9800),
        place=rng.choice(PLACES),
        month=rng.choice(MONTHS),
        day=rng.choice(DAYS),
        year=rng.randint(1998, 2025),
        ord=rng.choice(ORDINALS),
        org=rng.choice(ORGS),
    )


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _sentence(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.12:
        quote = _fill(rng, rng.choice(QUOTES))
        return f'"{quote}," said {_person(rng)}, of {rng.choice(ORGS)}.'
    parts = []
    if rng.random() < 0.45:
        parts.append(_fill(rng, rng.choice(OPENERS_LIST)))
    who = rng.choice(SUBJECTS) if rng.random() < 0.6 else rng.choice(ORGS)
    if rng.random() < 0.3:
        who = f"{who} in {rng.choice(PLACES)}"
    parts.append(f"{who} {rng.choice(VERBS)} {_fill(rng, rng.choice(CLAUSES))}")
    if rng.random() < 0.35:
        parts[-1] += f", {_fill(rng, rng.choice(ASIDES))}"
    if rng.random() < 0.25:
        parts[-1] += f", and {_fill(rng, rng.choice(CLAUSES))}"
    text = " ".join(parts) + "."
    return text[0].upper() + text[1:]


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(2, 6)))


# ---- articles ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Article:
    index: int
    outlet: int
    kind: str  # "plain", "on_topic" or "near_miss"
    live: bool  # a live blog: many more paragraphs
    title: str
    author: str
    section: str
    published: datetime
    slug: str
    paragraphs: tuple[str, ...]
    comments: tuple[tuple[str, str, str], ...]  # (author, when, text)
    path: str  # /<section>/<yyyy>/<mm>/<dd>/<slug>-<index>.html, within the outlet's origin


def article(seed: int, index: int, outlets: int) -> Article:
    """Article `index`: depends only on (seed, index, outlets)."""
    rng = random.Random(f"{seed}:{index}")
    outlet = index % outlets
    roll = rng.random()
    kind = "plain"
    if roll < TOPIC_SHARE:
        kind = "on_topic"
    elif roll < TOPIC_SHARE + NEAR_MISS_SHARE:
        kind = "near_miss"
    live = random.Random(f"{seed}:live:{index}").random() < LIVE_SHARE
    paragraphs = [_paragraph(rng) for _ in range(rng.randint(8, 20))]
    if live:
        paragraphs += [_paragraph(rng) for _ in range(rng.randint(150, 700))]
    if kind == "on_topic":
        title = rng.choice(ON_TOPIC_TITLES) if rng.random() < 0.6 else _headline(rng)
        paragraphs[0] = _fill(rng, rng.choice(ON_TOPIC_LEAD)) + " " + paragraphs[0]
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(1, len(paragraphs))
            paragraphs[at] = paragraphs[at] + " " + rng.choice(ON_TOPIC_BODY)
    elif kind == "near_miss":
        pick = rng.randrange(len(NEAR_MISS_TITLES))
        title = NEAR_MISS_TITLES[pick]
        paragraphs[0] = NEAR_MISS_BODY[pick] + " " + paragraphs[0]
    else:
        title = _headline(rng)
    if live:
        title = "As it happened: " + title
    published = BASE_TIME - timedelta(minutes=7 * index + rng.randint(0, 6))
    slug = "-".join(
        "".join(c for c in w.lower() if c in string.ascii_lowercase + string.digits)
        for w in title.split()[:8]
    ).strip("-")
    section = rng.choice(SECTIONS)
    comments = tuple(
        (
            _person(rng) if rng.random() < 0.4 else _handle(rng),
            f"{rng.randint(1, 23)} hours ago",
            " ".join(_sentence(rng) for _ in range(rng.randint(1, 2))),
        )
        for _ in range(rng.randint(12, 40))
    )
    return Article(
        index=index,
        outlet=outlet,
        kind=kind,
        live=live,
        title=title,
        author=_person(rng),
        section=section,
        published=published,
        slug=slug,
        paragraphs=tuple(paragraphs),
        comments=comments,
        path=f"/{section}/{published:%Y/%m/%d}/{slug}-{index}.html",
    )


def _headline(rng: random.Random) -> str:
    return (
        f"{rng.choice(HEADLINE_NOUNS)} {rng.choice(HEADLINE_VERBS)} "
        f"{rng.choice(HEADLINE_OBJECTS)} in {rng.choice(PLACES)}"
    )


def _handle(rng: random.Random) -> str:
    return rng.choice(LAST).lower().replace("'", "") + str(rng.randint(1, 9999))


# ---- site templates ----------------------------------------------------------------------
@dataclass(frozen=True)
class Outlet:
    index: int
    name: str
    base: str  # http://127.0.0.1:<port>
    template: int  # 0 broadsheet, 1 tabloid, 2 app-style (React), 3 WordPress regional
    feed: str  # "rss" or "atom"
    lang: str


OUTLET_NAMES = _split(
    "The Northern Ledger|Daily Courier|Wire Today|Riverside Gazette|The Evening Standard-Bearer|"
    "Metro Pulse|Global Dispatch|Valley Chronicle|The Weekly Observer|Harbour Herald|"
    "The Morning Post-Script|City Beat",
    "|",
)


def outlets(bases: list[str]) -> list[Outlet]:
    """One outlet per base URL; templates and feed kinds rotate (4 templates, 6 RSS : 4 Atom)."""
    return [
        Outlet(
            index=k,
            name=OUTLET_NAMES[k % len(OUTLET_NAMES)] + ("" if k < len(OUTLET_NAMES) else f" {k}"),
            base=base,
            template=k % 4,
            feed="atom" if k % 5 in (2, 4) else "rss",
            lang="en-GB" if k % 3 else "en",
        )
        for k, base in enumerate(bases)
    ]


def _ident(rng: random.Random, n: int = 6) -> str:
    return "".join(rng.choice(string.ascii_letters) for _ in range(n))


def _minified_js(rng: random.Random, size: int) -> str:
    """Plausible minified JavaScript of about `size` characters (a vendor snippet inlined)."""
    out: list[str] = ["!function(e,t){"]
    length = 0
    while length < size:
        a, b, c = _ident(rng, 2), _ident(rng, 3), _ident(rng, 1)
        chunk = rng.choice(
            [
                f"var {a}=function({c}){{return {c}&&{c}.{b}?{c}.{b}:{rng.randint(0, 999)}}};",
                f'e.{b}=e.{b}||[];e.{b}.push({{"k":"{_ident(rng, 8)}",'
                f'"v":{rng.randint(0, 10**6)}}});',
                f"function {a}{b}({c},n){{for(var r=0;r<n.length;r++){c}[n[r]]=t[n[r]]||null;"
                f"return {c}}}",
                f'if(t.cookie.indexOf("{_ident(rng, 5)}=")<0){{t.cookie="{_ident(rng, 5)}='
                f'{rng.randint(0, 1 << 30)};path=/;max-age=31536000"}}',
                f'document.addEventListener("{rng.choice(["scroll", "click", "load"])}",'
                f"function({c}){{{a}({c}.target,{rng.randint(1, 99)})}},!1);",
            ]
        )
        out.append(chunk)
        length += len(chunk)
    out.append("}(window,document);")
    return "".join(out)


def _css(rng: random.Random, rules: int) -> str:
    props = [
        "margin:0 auto",
        "padding:{n}px {m}px",
        "font-size:{n}px",
        "line-height:1.{n}",
        "color:#{h}",
        "background:#{h}",
        "display:flex",
        "border-bottom:1px solid #{h}",
        "max-width:{w}px",
        "font-family:Georgia,serif",
        "letter-spacing:.0{n}em",
        "grid-template-columns:repeat({m},1fr)",
    ]
    out = []
    for _ in range(rules):
        sel = rng.choice(["", ".", "#"]) + _ident(rng, rng.randint(4, 10)).lower()
        if rng.random() < 0.4:
            sel += " " + rng.choice(["a", "li", "p", "span", "h2", "img", "div"])
        body = ";".join(
            rng.choice(props).format(
                n=rng.randint(1, 9),
                m=rng.randint(2, 24),
                h=f"{rng.randrange(1 << 24):06x}",
                w=rng.randint(300, 1400),
            )
            for _ in range(rng.randint(2, 6))
        )
        out.append(f"{sel}{{{body}}}")
    return "".join(out)


def _svg(rng: random.Random, name: str) -> str:
    """An inline icon, as real pages carry dozens (share buttons, menus, comment counts)."""
    points = " ".join(f"{rng.uniform(0, 24):.2f} {rng.uniform(0, 24):.2f}" for _ in range(12))
    return (
        f'<svg class="icon icon--{name}" viewBox="0 0 24 24" width="20" height="20" '
        f'aria-hidden="true" focusable="false"><path fill-rule="evenodd" d="M{points}Z"/></svg>'
    )


def _img(rng: random.Random, alt: str, w: int) -> str:
    name = _ident(rng, 14).lower()
    srcset = ", ".join(f"/img/{name}-{x}.jpg {x}w" for x in (320, 640, 960, 1280))
    return (
        f'<picture><source type="image/webp" srcset="{srcset.replace(".jpg", ".webp")}" '
        f'sizes="(min-width: 980px) {w}px, 100vw"><img src="/img/{name}-640.jpg" srcset="{srcset}"'
        f' alt="{escape(alt)}" width="{w}" height="{w * 9 // 16}" loading="lazy" decoding="async">'
        "</picture>"
    )


def _nav(rng: random.Random, outlet: Outlet, links: int) -> str:
    groups = []
    for s in SECTIONS:
        items = "".join(
            f'<li class="menu__item"><a class="menu__link" href="/{s}/{_ident(rng, 5).lower()}">'
            f'<span class="menu__label">{escape(rng.choice(PLACES))} '
            f"{escape(rng.choice(HEADLINE_OBJECTS))}</span></a></li>"
            for _ in range(max(2, links // len(SECTIONS)))
        )
        groups.append(
            f'<li class="menu__section"><button class="menu__toggle" aria-expanded="false">'
            f"<span>{s.replace('-', ' ').title()}</span>{_svg(rng, 'chevron')}</button>"
            f'<div class="menu__panel"><ul class="menu__list">{items}</ul></div></li>'
        )
    return (
        f'<nav class="site-nav" aria-label="Main"><div class="site-nav__inner"><a class="logo" '
        f'href="/">{_svg(rng, "logo")}<span class="visually-hidden">{escape(outlet.name)}</span>'
        f'</a><button class="burger" aria-label="Menu">{_svg(rng, "menu")}</button>'
        f'<ul class="menu">{"".join(groups)}</ul>'
        '<form class="search" action="/search" role="search">'
        f'<input name="q" placeholder="Search"><button>{_svg(rng, "search")}</button></form>'
        f'<a class="subscribe" href="/subscribe">Subscribe</a><a class="signin" href="/login">'
        f"{_svg(rng, 'user')}<span>Sign in</span></a></div></nav>"
    )


COOKIE = (
    '<div id="cookie-consent" class="cmp-banner" role="dialog"><div class="cmp-banner__text">'
    "<p>We and our {n} partners use cookies and similar technologies to store and access "
    "information on your device, to personalise ads and content, to measure ad and content "
    "performance and to develop our services. You can change your choices at any time in the "
    'Privacy Centre.</p></div><div class="cmp-banner__buttons"><button class="accept">Accept all'
    '</button><button class="reject">Reject all</button><a href="/privacy">Manage options</a>'
    "</div></div>"
)


def _card(rng: random.Random, thumbs: bool) -> str:
    headline = _headline(rng)
    section = rng.choice(SECTIONS)
    media = f'<div class="card__media">{_img(rng, headline, 300)}</div>' if thumbs else ""
    return (
        f'<div class="card card--{section}"><div class="card__inner"><a class="card__link" '
        f'href="/{section}/2026/11/'
        f'{rng.randint(1, 17):02d}/{_ident(rng, 8).lower()}-{rng.randint(1000, 99999)}.html">'
        f'{media}<div class="card__content"><span class="card__kicker">{section.title()}</span>'
        f'<h3 class="card__title"><span>{escape(headline)}</span></h3>'
        + (f'<p class="card__summary">{escape(_sentence(rng))}</p>' if rng.random() < 0.5 else "")
        + f'<div class="card__meta"><time>{rng.randint(1, 23)}h ago</time><span class="card__'
        f'comments">{_svg(rng, "comment")}<span>{rng.randint(0, 400)}</span></span></div></div>'
        "</a></div></div>"
    )


def _rail(rng: random.Random, title: str, count: int, thumbs: bool) -> str:
    cards = "".join(f"<li>{_card(rng, thumbs)}</li>" for _ in range(count))
    return f'<aside class="rail"><h2 class="rail__title">{title}</h2><ol>{cards}</ol></aside>'


def _threads(a: Article) -> list[list[int]]:
    """Comments grouped into threads: a top-level comment and its replies."""
    rng = random.Random(f"threads:{a.index}")
    threads: list[list[int]] = []
    i = 0
    while i < len(a.comments):
        size = min(len(a.comments) - i, rng.choice((1, 1, 1, 2, 3, 4)))
        threads.append(list(range(i, i + size)))
        i += size
    return threads


def _comments(rng: random.Random, a: Article, style: int) -> str:
    def wp(i: int, depth: int, replies: str) -> str:
        who, when, text = a.comments[i]
        return (
            f'<li id="comment-{a.index * 100 + i}" class="comment even depth-{depth}">'
            f'<article class="comment-body"><footer class="comment-meta"><div class="comment-'
            f'author vcard"><img alt="" src="/avatar/{_ident(rng, 10)}.png" class="avatar" '
            f'height="40" width="40"><b class="fn">{escape(who)}</b> <span class="says">says:'
            f'</span></div><div class="comment-metadata"><a href="#comment-{i}"><time>{when}'
            f'</time></a></div></footer><div class="comment-content"><p>{escape(text)}</p></div>'
            f'<div class="reply"><a rel="nofollow" class="comment-reply-link" href="#comment-{i}"'
            f">Reply</a></div></article>{replies}</li>"
        )

    def div(i: int, depth: int, replies: str) -> str:
        who, when, text = a.comments[i]
        return (
            f'<div class="comment comment--depth-{depth}" data-id="{a.index * 100 + i}"><div '
            f'class="comment__header"><img class="comment__avatar" src="/avatar/'
            f'{_ident(rng, 10)}.png" alt="" width="32"><span class="comment__author">'
            f'{escape(who)}</span><span class="comment__time">{when}</span></div><div class="'
            f'comment__body"><p>{escape(text)}</p></div><div class="comment__actions"><button '
            f'class="like">{_svg(rng, "like")}<span>{rng.randint(0, 90)}</span></button><button '
            f'class="reply">Reply</button><a href="/report?c={a.index * 100 + i}">Report</a>'
            f"</div>{replies}</div>"
        )

    one, box = (div, '<div class="comment__replies">{}</div>')
    if style == 3:
        one, box = (wp, '<ol class="children">{}</ol>')
    body = "".join(
        one(t[0], 1, box.format("".join(one(r, 2, "") for r in t[1:])) if t[1:] else "")
        for t in _threads(a)
    )
    if style == 3:
        return (
            f'<div id="comments" class="comments-area"><h2 class="comments-title">'
            f'{len(a.comments)} thoughts on "{escape(a.title)}"</h2><ol class="comment-list">'
            f"{body}</ol></div>"
        )
    return (
        f'<section class="comments" id="comments"><h2>Comments ({len(a.comments)})</h2>'
        f'<p class="comments__rules">Comments are moderated. Please read our community '
        f"guidelines.</p>{body}</section>"
    )


def _footer(rng: random.Random, outlet: Outlet) -> str:
    cols = "".join(
        f'<div class="footer-col"><h3>{h}</h3><ul>'
        + "".join(
            f'<li><a href="/{h.lower()}/{_ident(rng, 6).lower()}">'
            f"{escape(rng.choice(ORGS))}</a></li>"
            for _ in range(8)
        )
        + "</ul></div>"
        for h in ("About", "Help", "Subscribe", "Partners")
    )
    social = "".join(
        f'<li><a href="https://{s}.example/{_ident(rng, 6)}">{_svg(rng, s)}</a></li>'
        for s in ("x", "facebook", "instagram", "youtube", "linkedin")
    )
    return (
        f'<footer class="site-footer"><ul class="social">{social}</ul>{cols}<p class="legal">'
        f"© 2026 {escape(outlet.name)} Ltd. Registered in England and Wales. All rights "
        "reserved. Reproduction without permission is prohibited.</p></footer>"
    )


def _head(rng: random.Random, a: Article, o: Outlet, url: str) -> str:
    published = a.published.isoformat()
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": a.title,
            "datePublished": published,
            "dateModified": (a.published + timedelta(minutes=rng.randint(5, 300))).isoformat(),
            "author": [{"@type": "Person", "name": a.author}],
            "publisher": {"@type": "Organization", "name": o.name, "logo": f"{o.base}/logo.png"},
            "mainEntityOfPage": url,
            "articleSection": a.section,
            "image": [f"{o.base}/img/{_ident(rng, 14)}.jpg"],
        },
        ensure_ascii=False,
    )
    analytics = (
        "window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
        f"gtag('js',new Date());gtag('config','G-{_ident(rng, 10).upper()}',"
        f"{{'content_group':'{a.section}','article_id':'{a.index}'}});"
        + _minified_js(rng, rng.randint(2000, 4000))
    )
    adconfig = "var adConfig=" + json.dumps(
        {
            "site": o.name,
            "section": a.section,
            "slots": [
                {
                    "id": f"ad-{i}",
                    "sizes": [[300, 250], [728, 90], [970, 250]][: rng.randint(1, 3)],
                    "targeting": {"pos": i, "kw": [_ident(rng, 5) for _ in range(4)]},
                }
                for i in range(rng.randint(6, 14))
            ],
            "consent": {"vendors": [rng.randint(1, 999) for _ in range(60)]},
        }
    )
    return (
        f'<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{escape(a.title)} | {escape(o.name)}</title>"
        f'<meta name="description" content="{escape(a.paragraphs[0][:160])}">'
        f'<link rel="canonical" href="{escape(url)}">'
        f'<meta property="og:title" content="{escape(a.title)}">'
        f'<meta property="og:site_name" content="{escape(o.name)}">'
        f'<meta property="og:url" content="{escape(url)}">'
        '<meta property="og:type" content="article">'
        f'<meta property="article:published_time" content="{published}">'
        f'<meta name="author" content="{escape(a.author)}">'
        f'<link rel="preload" href="/static/app.{_ident(rng, 8)}.js" as="script">'
        f"<script>{analytics}</script>"
        f"<script>{adconfig}</script>"
        f'<script type="application/ld+json">{ld}</script>'
        f"<script>{_minified_js(rng, rng.randint(3000, 9000))}</script>"
        f"<style>{_css(rng, rng.randint(60, 120))}</style></head>"
    )


def _figure(rng: random.Random) -> str:
    return (
        f'<figure class="media">{_img(rng, _headline(rng), 860)}<figcaption><span class="caption">'
        f'{escape(_sentence(rng))}</span> <span class="credit">Photograph: {escape(_person(rng))}'
        "</span></figcaption></figure>"
    )


def _ad(rng: random.Random, i: int) -> str:
    return (
        f'<div class="ad-slot ad-slot--inline" id="ad-inline-{i}" data-ad-unit="/'
        f'{rng.randint(1000, 9999)}/article/inline" data-sizes="300x250,728x90">'
        '<span class="ad-label">Advertisement</span></div>'
    )


def _linked(rng: random.Random, text: str) -> str:
    """The paragraph's HTML, with an inline link or emphasis on a few words now and then."""
    words = escape(text).split(" ")
    if len(words) > 12 and rng.random() < 0.4:
        at = rng.randrange(2, len(words) - 5)
        span = rng.randint(2, 4)
        inner = " ".join(words[at : at + span])
        tag = (
            f'<a href="/{rng.choice(SECTIONS)}/{_ident(rng, 7).lower()}">{inner}</a>'
            if rng.random() < 0.7
            else f"<strong>{inner}</strong>"
        )
        words[at : at + span] = [tag]
    return " ".join(words)


def _body_blocks(rng: random.Random, a: Article, p_tag: str) -> str:
    blocks = []
    for i, text in enumerate(a.paragraphs):
        blocks.append(p_tag.format(text=_linked(rng, text)))
        if i == 1:
            blocks.append(_figure(rng))
        elif i % 4 == 3:
            blocks.append(_ad(rng, i))
        elif i % 7 == 5:
            blocks.append(
                f'<aside class="read-more"><strong>Read more:</strong> <a href="/news/'
                f'{_ident(rng, 9).lower()}">{escape(_headline(rng))}</a></aside>'
            )
    return "".join(blocks)


P_PLAIN = "<p>{text}</p>"
P_TABLOID = '<div class="story-block"><p class="story-paragraph">{text}</p></div>'
P_APP = (
    '<div data-component="text-block" class="css-1a2b3c"><div class="css-4d5e6f">'
    '<p class="Paragraph">{text}</p></div></div>'
)


def _share(rng: random.Random) -> str:
    return (
        '<ul class="share">'
        + "".join(
            f'<li><a class="share__{s}" href="https://{s}.example/share">{_svg(rng, s)}'
            f'<span class="visually-hidden">Share on {s}</span></a></li>'
            for s in ("x", "facebook", "whatsapp", "email", "copy")
        )
        + "</ul>"
    )


def page_html(a: Article, o: Outlet, target: int) -> bytes:
    """The page of article `a` at outlet `o`, padded with story cards to about `target` bytes."""
    rng = random.Random(f"page:{a.index}")
    url = o.base + a.path
    when = a.published.strftime("%d %B %Y, %H:%M")
    head = _head(rng, a, o, url)
    nav = _nav(rng, o, links=rng.randint(50, 130))
    cookie = COOKIE.format(n=rng.randint(120, 900))
    rails = _rail(rng, "Most read", 8, thumbs=False) + _rail(rng, "Related", 4, thumbs=True)
    share = _share(rng)
    comments = _comments(rng, a, o.template)
    if o.template == 0:  # broadsheet: semantic article
        main = (
            f'<main id="main"><article class="article"><header class="article-header">'
            f'<p class="kicker"><a href="/{a.section}/">{a.section.title()}</a></p>'
            f'<h1 class="headline">{escape(a.title)}</h1><p class="standfirst">'
            f'{escape(a.paragraphs[0][:180])}</p><p class="byline">By <a rel="author" href="/'
            f'profile/{a.author.lower().replace(" ", "-")}">{escape(a.author)}</a></p><time '
            f'datetime="{a.published.isoformat()}">{when}</time>{share}</header><div class='
            f'"article-body">{_body_blocks(rng, a, P_PLAIN)}</div></article>'
            f"{rails}{comments}</main>"
        )
    elif o.template == 1:  # tabloid: div soup, ads everywhere
        main = (
            f'<div id="content" class="content-wrapper"><div class="story"><div class="story-'
            f'header"><h1 class="story-headline">{escape(a.title)}</h1><div class="author-'
            f'block"><span class="author-name">{escape(a.author)}</span><span class="date">'
            f'{when}</span></div></div>{share}<div class="story-body"><div class="story-body__'
            f'inner">{_body_blocks(rng, a, P_TABLOID)}</div></div>'
            f'<div class="newsletter"><h3>Sign up to our daily newsletter</h3><form><input type'
            f'="email" placeholder="Your email"><button>Subscribe</button></form></div></div>'
            f"{rails}{comments}</div>"
        )
    elif o.template == 2:  # app-style: hashed classes, data attributes
        cls = f"css-{_ident(rng, 6).lower()}"
        main = (
            f'<main class="{cls}"><div data-testid="article" class="ArticleWrapper {cls}"><h1 '
            f'data-testid="headline" class="Headline-sc-{_ident(rng, 5)}">{escape(a.title)}</h1>'
            f'<div data-testid="byline" class="Byline">{escape(a.author)} · <time datetime="'
            f'{a.published.isoformat()}">{when}</time></div>{share}<div class="ArticleBody-'
            f'{_ident(rng, 5)}">{_body_blocks(rng, a, P_APP)}</div></div>{rails}{comments}</main>'
        )
    else:  # WordPress regional
        main = (
            f'<div id="primary" class="content-area"><main id="main" class="site-main"><article'
            f' id="post-{a.index}" class="post-{a.index} post type-post status-publish hentry">'
            f'<header class="entry-header"><h1 class="entry-title">{escape(a.title)}</h1>'
            f'<div class="entry-meta"><span class="posted-on"><time class="entry-date published"'
            f' datetime="{a.published.isoformat()}">{when}</time></span><span class="byline"> '
            f'by <span class="author vcard">{escape(a.author)}</span></span></div></header>'
            f'<div class="entry-content">{_body_blocks(rng, a, P_PLAIN)}</div>{share}<footer '
            f'class="entry-footer"><span class="cat-links">Posted in {a.section}</span></footer>'
            f"</article>{comments}</main></div>"
            f'<div id="secondary" class="widget-area">{rails}</div>'
        )
    top = (
        f'<!DOCTYPE html><html lang="{o.lang}">{head}<body class="article-page t{o.template}">'
        f'<a class="skip" href="#main">Skip to content</a><header class="site-header">{nav}'
        f"{cookie}</header>{main}"
    )
    bottom = f'{_footer(rng, o)}<script src="/static/app.js" async></script></body></html>'
    size = len(top.encode("utf-8")) + len(bottom.encode("utf-8"))
    cards: list[str] = []  # "More from ...": story cards until the page reaches its size
    while size < target:
        card = f"<li>{_card(rng, thumbs=rng.random() < 0.7)}</li>"
        cards.append(card)
        size += len(card.encode("utf-8"))
    more = (
        f'<section class="more-stories"><h2>More from {escape(o.name)}</h2><ul class="grid">'
        f"{''.join(cards)}</ul></section>"
        if cards
        else ""
    )
    return (top + more + bottom).encode("utf-8")


# ---- feeds -------------------------------------------------------------------------------
def _summary(a: Article) -> str:
    words = a.paragraphs[0].split()
    return " ".join(words[:40]) + ("…" if len(words) > 40 else "")


def rss(o: Outlet, items: list[Article]) -> bytes:
    out = []
    for i, a in enumerate(items):
        link = o.base + a.path + ("?utm_source=rss&utm_medium=feed" if i % 3 == 0 else "")
        guid = (
            f'<guid isPermaLink="true">{escape(o.base + a.path)}</guid>'
            if i % 2
            else f'<guid isPermaLink="false">{o.index}-{a.index}</guid>'
        )
        out.append(
            f"<item><title>{escape(a.title)}</title><link>{escape(link)}</link>{guid}"
            f"<pubDate>{format_datetime(a.published)}</pubDate>"
            f"<dc:creator>{escape(a.author)}</dc:creator><category>{a.section}</category>"
            f"<description>{escape(_summary(a))}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>{escape(o.name)}</title><link>{o.base}/</link>"
        f"<description>Latest news from {escape(o.name)}</description><language>{o.lang}</language>"
        f'<atom:link href="{o.base}/feed.xml" rel="self" type="application/rss+xml"/>'
        f"<lastBuildDate>{format_datetime(BASE_TIME)}</lastBuildDate>{''.join(out)}</channel></rss>"
    ).encode()


def atom(o: Outlet, items: list[Article]) -> bytes:
    out = "".join(
        f'<entry><title type="text">{escape(a.title)}</title>'
        f'<link rel="alternate" type="text/html" href="{escape(o.base + a.path)}"/>'
        f"<id>tag:{o.name.lower().replace(' ', '')},2026:{a.index}</id>"
        f"<published>{a.published.isoformat()}</published>"
        f"<updated>{(a.published + timedelta(minutes=30)).isoformat()}</updated>"
        f"<author><name>{escape(a.author)}</name></author>"
        f'<category term="{a.section}"/>'
        f'<summary type="html">{escape(_summary(a))}</summary></entry>'
        for a in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        f'xml:lang="{o.lang}"><title>{escape(o.name)}</title><id>{o.base}/</id>'
        f'<link rel="self" href="{o.base}/feed.xml"/><link rel="alternate" href="{o.base}/"/>'
        f"<updated>{BASE_TIME.isoformat()}</updated>{out}</feed>"
    ).encode()


def empty_rss(o: Outlet) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(o.name)} (quiet)</title><link>{o.base}/</link>"
        "<description>Nothing new</description></channel></rss>"
    ).encode()


# ---- on disk -----------------------------------------------------------------------------
def page_size(seed: int, index: int) -> int:
    """Target size of page `index`: 70-150 KB, median about 100 KB (real pages: median 111 KB)."""
    rng = random.Random(f"{seed}:size:{index}")
    return int(min(150_000, max(70_000, rng.lognormvariate(11.51, 0.18))))


def write_corpus(root: Path, pages: int, bases: list[str], seed: int = 2026) -> dict[str, object]:
    """Write the pages and feeds under `root` (one directory per outlet); return the manifest."""
    sites = outlets(bases)
    arts = [article(seed, i, len(sites)) for i in range(pages)]
    sizes = []
    for a in arts:
        o = sites[a.outlet]
        html = page_html(a, o, page_size(seed, a.index))
        sizes.append(len(html))
        path = root / str(o.index) / a.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(html)
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(html, 6, mtime=0))
    for o in sites:
        items = sorted(
            (a for a in arts if a.outlet == o.index), key=lambda a: a.published, reverse=True
        )
        body = rss(o, items) if o.feed == "rss" else atom(o, items)
        (root / str(o.index)).mkdir(parents=True, exist_ok=True)
        (root / str(o.index) / "feed.xml").write_bytes(body)
    (root / "0" / "empty.xml").write_bytes(empty_rss(sites[0]))
    ordered = sorted(sizes)

    def pct(q: float) -> int:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0

    manifest: dict[str, object] = {
        "seed": seed,
        "pages": pages,
        "outlets": [
            {"name": o.name, "base": o.base, "template": o.template, "feed": o.feed} for o in sites
        ],
        "html_bytes_total": sum(sizes),
        "html_bytes_mean": sum(sizes) // max(1, len(sizes)),
        "html_bytes_median": pct(0.5),
        "html_bytes_p90": pct(0.9),
        "html_bytes_min": pct(0.0),
        "html_bytes_max": ordered[-1] if ordered else 0,
        "on_topic": sum(a.kind == "on_topic" for a in arts),
        "near_miss": sum(a.kind == "near_miss" for a in arts),
        "live_blogs": sum(a.live for a in arts),
        "digest": hashlib.sha256(
            b"".join(hashlib.sha256(a.path.encode() + a.title.encode()).digest() for a in arts)
        ).hexdigest()[:16],
        "page_files": [str(sites[a.outlet].index) + a.path for a in arts],
        "page_urls": [sites[a.outlet].base + a.path for a in arts],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest
