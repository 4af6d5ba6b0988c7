"""feedparser's own test documents, served over loopback HTTP with their declared headers, through
the project's fetcher and parser: no exception escapes, and titles and summaries decode as
feedparser expects."""

from __future__ import annotations

import ast
import asyncio
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flows.collect.feeds import SUMMARY_MAX, TITLE_MAX, NotAFeed, _plain_text, parse_response
from flows.collect.fetch import Fetcher
from flows.config import FetchSettings
from tests.conftest import ROOT, require_corpus
from tests.test_feeds import _CORPUS_NOT_FEEDS
from warehouse.records import FetchResult, ParsedFeed

# Beside the repository, as in CI (../shared); conftest clears NEWSWATCH_* variables before
# test modules are imported, so no environment variable could point elsewhere.
CORPUS = ROOT.parent / "shared" / "corpora" / "feedparser"
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# As feedparser's harness (tests/helpers.py) reads them: Header lines repeatable, Expect one line.
_HEADER = re.compile(r"^Header:\s+([^:]+):(.*)$", re.MULTILINE)
_EXPECT = re.compile(r"Expect:\s*(.*)\s*-->")
_BOMS = (
    (b"\x00\x00\xfe\xff", 0, "utf-32be"),
    (b"\xff\xfe\x00\x00", 0, "utf-32le"),
    (b"\x00\x00\x00\x3c", 0, "utf-32be"),
    (b"\x3c\x00\x00\x00", 0, "utf-32le"),
    (b"\x00\x3c\x00\x3f", 0, "utf-16be"),
    (b"\x3c\x00\x3f\x00", 0, "utf-16le"),
    (b"\xfe\xff", 2, "utf-16be"),
    (b"\xff\xfe", 2, "utf-16le"),
    (b"\xef\xbb\xbf", 3, "utf-8"),
)
# What parse_feed already calls not a feed when it reads these files from disk
# (test_feeds.py::test_feedparser_corpus_gives_a_feed_or_not_a_feed); HTTP changes none of it.
NOT_FEEDS = _CORPUS_NOT_FEEDS


@dataclass(frozen=True)
class Case:
    path: str  # relative to the corpus, and the URL path it is served under
    body: bytes
    headers: tuple[tuple[str, str], ...]
    expect: str


def _text(body: bytes) -> str:
    """The file as text, its encoding told by its first bytes (as feedparser's harness does)."""
    for start, skip, encoding in _BOMS:
        if body.startswith(start):
            return body[skip:].decode(encoding, errors="ignore")
    return body.decode("utf-8", errors="ignore")


def _case(path: Path) -> Case:
    body = path.read_bytes()
    text = _text(body)
    name = path.relative_to(CORPUS).as_posix()
    headers = [(key.strip(), value.strip()) for key, value in _HEADER.findall(text)]
    # feedparser's harness fetches the files named *http* with text/xml unless they say
    # otherwise, and parses the rest from disk, without any header: no Content-Type here either.
    if "http" in name and not any(key.lower() == "content-type" for key, _ in headers):
        headers.append(("Content-Type", "text/xml"))
    expect = _EXPECT.search(text)
    return Case(name, body, tuple(headers), expect[1].strip() if expect else "")


def expected_texts(expect: str) -> dict[str, str]:
    """{"feed title" | "entry title" | "entry summary": text} that an Expect expression requires,
    read from its syntax tree: the corpus's expressions are never run."""
    try:
        tree = ast.parse(expect, mode="eval").body
    except SyntaxError:
        return {}
    # "a and b": each part must hold; an "or" offers alternatives and is left out.
    parts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    found: dict[str, str] = {}
    for node in parts:
        if not isinstance(node, ast.Compare) or not all(isinstance(op, ast.Eq) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]  # a == b == 'x' says both are 'x'
        values = [v for v in map(_literal, operands) if isinstance(v, str)]
        if len(values) != 1:
            continue
        for target in filter(None, map(_target, operands)):
            found[target] = values[0]
    return found


def _literal(node: ast.expr) -> object:
    """The value of a literal, or of literal strings joined with +; None for anything else."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        return left + right if isinstance(left, str) and isinstance(right, str) else None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


# feedparser's names for what parse_feed keeps; an entry's description is its summary.
_FIELDS = {"title": "title", "summary": "summary", "description": "summary"}


def _target(node: ast.expr) -> str | None:
    """What feed['title'], entries[0].description, entries[0]['title_detail']['value'] and the
    like refer to in a ParsedFeed; None for anything it does not keep."""
    if (
        isinstance(node, ast.Subscript)
        and _is_const(node.slice, "value")
        and isinstance(node.value, ast.Subscript)
        and isinstance(node.value.slice, ast.Constant)
        and node.value.slice.value in ("title_detail", "summary_detail")
    ):
        field, owner = str(node.value.slice.value).removesuffix("_detail"), node.value.value
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        field, owner = str(node.slice.value), node.value
    elif isinstance(node, ast.Attribute):
        field, owner = node.attr, node.value
    else:
        return None
    kept = _FIELDS.get(field)
    if kept == "title" and isinstance(owner, ast.Name) and owner.id == "feed":
        return "feed title"
    if (
        kept is not None
        and isinstance(owner, ast.Subscript)
        and isinstance(owner.value, ast.Name)
        and owner.value.id == "entries"
        and _is_const(owner.slice, 0)
    ):
        return f"entry {kept}"
    return None


def _is_const(node: ast.expr, value: object) -> bool:
    return (
        isinstance(node, ast.Constant) and type(node.value) is type(value) and node.value == value
    )


class CorpusServer:
    """Every corpus file at its own path on 127.0.0.1, with the headers it declares."""

    def __init__(self, cases: dict[str, Case]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one connection serves many files

            def do_GET(self) -> None:
                case = cases.get(self.path.lstrip("/"))
                if case is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                for key, value in case.headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(case.body)))
                self.end_headers()
                self.wfile.write(case.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    require_corpus(CORPUS)
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.parent != CORPUS)
    return {case.path: case for case in map(_case, files)}


@pytest.fixture(scope="module")
def server(cases: dict[str, Case]) -> Iterator[CorpusServer]:
    running = CorpusServer(cases)
    yield running
    running.close()


Outcome = tuple[FetchResult, ParsedFeed | NotAFeed]


@pytest.fixture(scope="module")
def outcomes(cases: dict[str, Case], server: CorpusServer) -> dict[str, Outcome | BaseException]:
    """Each file fetched and parsed once; anything but NotAFeed that escapes is kept to report."""
    settings = FetchSettings(
        allow_private_addresses=("127.0.0.1",),
        timeout_seconds=20,
        per_host_connections=8,  # the fetcher's own limit bounds the gather
        max_connections=8,
    )

    async def one(fetcher: Fetcher, case: Case) -> Outcome:
        url = server.url(case.path)
        got = await fetcher.fetch(url, max_bytes=settings.max_feed_bytes)
        try:
            return got, parse_response(got, source="corpus", feed_url=url, max_entries=50, now=NOW)
        except NotAFeed as exc:
            return got, exc

    async def run() -> list[Outcome | BaseException]:
        async with Fetcher(settings) as fetcher:
            return await asyncio.gather(
                *(one(fetcher, case) for case in cases.values()), return_exceptions=True
            )

    return dict(zip(cases, asyncio.run(run()), strict=True))


def test_every_file_is_fetched_and_is_a_feed_or_not_a_feed(
    cases: dict[str, Case], outcomes: dict[str, Outcome | BaseException]
) -> None:
    assert len(cases) > 2_000
    escaped = {p: repr(o) for p, o in outcomes.items() if isinstance(o, BaseException)}
    assert escaped == {}
    done = {p: o for p, o in outcomes.items() if not isinstance(o, BaseException)}
    assert {p: got.status for p, (got, _) in done.items() if not got.ok} == {}
    not_feeds = {p for p, (_, parsed) in done.items() if isinstance(parsed, NotAFeed)}
    assert not_feeds == NOT_FEEDS
    for path, (_, parsed) in done.items():
        if isinstance(parsed, NotAFeed):
            continue
        for entry in parsed.entries:
            assert entry.key, path
            assert not re.search(r"[\r\n]", entry.title), path
            assert entry.link is None or entry.link.lower().startswith("http"), path


# Where our text differs from feedparser's on purpose: ours is the markup read as HTML by lxml,
# as a browser reads it; feedparser's comes from its own SGML-style sanitizer.
KNOWN_DIFFERENCES = {
    **dict.fromkeys(
        [
            "wellformed/sanitize/feed_title_crazy.xml feed title",
            "wellformed/sanitize/entry_title_crazy.xml entry title",
            "wellformed/sanitize/entry_summary_crazy.xml entry summary",
            "wellformed/sanitize/item_content_encoded_crazy.xml entry summary",
            "wellformed/sanitize/item_description_crazy.xml entry summary",
            "wellformed/sanitize/item_fullitem_crazy.xml entry summary",
        ],
        "feedparser keeps a <script>'s code as text ('function executeMe() {'); we drop it",
    ),
    **dict.fromkeys(
        [
            "wellformed/sanitize/xml_declaration_unexpected_character.xml feed title",
            "wellformed/rss/item_description_not_a_doctype.xml entry summary",
        ],
        "'<!DOCTYPE ~' and \"<!'\" are a bogus doctype or comment to HTML, shown as nothing",
    ),
    "wellformed/sanitize/xml_malicious_comment.xml feed title": (
        "only '-->' closes an HTML comment, so 'sa<!-- -- x >fe' is 'sa', not 'safe'"
    ),
    "encoding/bozo_linenoise.xml entry summary": "'<>' is text to HTML; feedparser drops it",
}


def compare(
    cases: dict[str, Case], outcomes: dict[str, Outcome | BaseException], kind: str
) -> tuple[int, dict[str, tuple[str, str]]]:
    """How many `kind` expectations ("title" or "summary") were checked, and {where: (ours,
    feedparser's)} for those that differ."""
    checked, differ = 0, {}
    for path, case in cases.items():
        wanted = {k: v for k, v in expected_texts(case.expect).items() if k.endswith(kind)}
        outcome = outcomes[path]
        if not wanted or isinstance(outcome, BaseException):
            continue  # an escaped exception fails the first test
        parsed = outcome[1]
        if isinstance(parsed, NotAFeed):
            # Only json/example.json: feedparser 6.0 reads XML only, newer ones JSON Feed too.
            assert path in NOT_FEEDS, path
            continue
        first = parsed.entries[0] if parsed.entries else None
        ours = {
            "feed title": parsed.title or "",
            "entry title": first.title if first else "",
            "entry summary": first.summary if first else "",
        }
        for target, text in wanted.items():
            checked += 1
            # parse_feed stores plain text by design: every field read as HTML, markup and
            # scripts dropped, whitespace (non-breaking included) collapsed, titles to one line.
            # feedparser's expected value, often sanitized HTML, goes through the same function.
            if kind == "title":
                expected = _plain_text(text, TITLE_MAX, one_line=True)
            else:
                expected = _plain_text(text, SUMMARY_MAX, one_line=False)
            if ours[target] != expected:
                differ[f"{path} {target}"] = (ours[target], expected)
    return checked, differ


def test_titles_decode_as_feedparser_expects(
    cases: dict[str, Case], outcomes: dict[str, Outcome | BaseException]
) -> None:
    checked, differ = compare(cases, outcomes, "title")
    assert checked >= 480  # 485 in the corpus as copied: the Expect lines were all read
    assert {k: v for k, v in differ.items() if k not in KNOWN_DIFFERENCES} == {}
    assert set(differ) == {k for k in KNOWN_DIFFERENCES if k.endswith("title")}


def test_summaries_decode_as_feedparser_expects(
    cases: dict[str, Case], outcomes: dict[str, Outcome | BaseException]
) -> None:
    checked, differ = compare(cases, outcomes, "summary")
    assert checked >= 560  # 572
    assert {k: v for k, v in differ.items() if k not in KNOWN_DIFFERENCES} == {}
    assert set(differ) == {k for k in KNOWN_DIFFERENCES if k.endswith("summary")}


def test_the_charset_in_the_http_header_decides() -> None:
    # Nothing in the corpus needs the header's charset: without it, feedparser's fallback to
    # windows-1252 decodes its cases as well. Polish in windows-1250 does need it.
    title = "Źdźbło żółte"
    body = (
        f'<rss version="2.0"><channel><title>{title}</title><item><title>{title}</title>'
        "<link>https://e.pl/1</link></item></channel></rss>"
    ).encode("cp1250")
    served = {
        "labelled.xml": Case(
            "labelled.xml",
            body,
            (("Content-Type", "application/rss+xml; charset=windows-1250"),),
            "",
        ),
        "unlabelled.xml": Case("unlabelled.xml", body, (), ""),
    }
    server = CorpusServer(served)

    async def run() -> list[ParsedFeed]:
        settings = FetchSettings(allow_private_addresses=("127.0.0.1",), timeout_seconds=10)
        async with Fetcher(settings) as fetcher:
            parsed = []
            for path in served:
                url = server.url(path)
                got = await fetcher.fetch(url, max_bytes=100_000)
                parsed.append(
                    parse_response(got, source="s", feed_url=url, max_entries=10, now=NOW)
                )
            return parsed

    try:
        labelled, unlabelled = asyncio.run(run())
    finally:
        server.close()
    assert labelled.title == labelled.entries[0].title == title
    assert unlabelled.entries[0].title != title  # so it was the header that decided
