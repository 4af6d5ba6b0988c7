"""End to end: an ingest, then the digest flow rendering to reports/ and mailing through aiosmtpd."""

from __future__ import annotations

import asyncio
import email
import io
from collections.abc import Iterator
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from flows.cli import app
from tests import newsroom
from tests.conftest import ROOT
from tests.test_mail import Recorder, smtp_server
from warehouse import db

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.usefixtures("prefect_server", "collect_prefect_leaks"),
    # Prefect's own API client leaks a socket per flow run: see tests/test_ingest.py.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
READERS = ("ana@readers.example", "bob@readers.example")


@pytest.fixture
def ingested(tmp_path: Path) -> Iterator[dict[str, Any]]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        sources = tmp_path / "sources.yaml"
        sources.write_text(newsroom.sources_yaml(newsroom.publish(server)), encoding="utf-8")
        paths = {
            "sources": str(sources),
            "db": str(tmp_path / "warehouse" / "w.duckdb"),
            "topics": str(ROOT / "topics"),
        }
        from flows.ingest import ingest

        reports = str(tmp_path / "reports")
        asyncio.run(ingest(**paths, reports=reports))
        yield {**paths, "reports": reports, "server": server}
    finally:
        server.clear()
        server.stop()


def mail_env(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setenv("NEWSWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NEWSWATCH_SMTP_PORT", str(port))
    monkeypatch.setenv("NEWSWATCH_SMTP_SECURITY", "none")
    monkeypatch.setenv("NEWSWATCH_DIGEST_FROM", "newswatch@desk.example")
    monkeypatch.setenv("NEWSWATCH_DIGEST_TO", ",".join(READERS))


def received(handler: Recorder) -> list[Message]:
    return [email.message_from_bytes(e.content, policy=default) for e in handler.messages]  # type: ignore[arg-type]


def test_digest_is_mailed_once_per_reader_and_written_to_reports(
    ingested: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.digest import digest

    paths = {k: ingested[k] for k in ("sources", "db", "topics", "reports")}
    with smtp_server() as smtp:
        mail_env(monkeypatch, smtp.port)
        first = digest(**paths, week="2026-W47")
        messages = received(smtp.handler)
        assert sorted(m["To"] for m in messages) == sorted(READERS)
        (topic,) = first["topics"]
        assert topic["stories"] == 3 and {r["status"] for r in topic["sent"]} == {"sent"}

        msg = messages[0]
        assert msg.get_content_type() == "multipart/alternative"
        assert (
            msg["Subject"]
            == "UK–Poland defence and security cooperation · 3 stories · 16–22 Nov 2026"
        )
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "RAF Typhoons deploy to Poland" in html and "England beat Poland" not in html
        assert "Also covered by" in html and "RDF Post" in html  # the wire copy, grouped
        # The reader's why-line is plain words; the score parts stay in the full report.
        seen = " ".join(lxml.html.document_fromstring(html).text_content().split())
        # The trend: twelve weeks to W47, the three stories all in the last, marked one.
        (chart,) = lxml.html.document_fromstring(html).xpath("//table[contains(@class, 'chart')]")
        counts = chart.xpath("(./tr | ./tbody/tr)[1]/td")
        assert [td.text_content() for td in counts] == ["0"] * 11 + ["3"]
        assert "current" in counts[-1].get("class") and "16 Nov  ███" in text
        assert "Why it matched: names " in seen and "Why it matched: names " in text
        assert "score" not in text.lower()
        # No report URL configured: the email names no report, and no path on this machine.
        raw = bytes(msg).decode("ascii", "replace") + html + text
        assert "Full report" not in raw and str(Path(ingested["reports"]).parent) not in raw
        # Broken answers 500 and Homepage is a page, not a feed; Wire's cut-off Atom is read
        flat = " ".join(text.split())
        failing = flat[flat.index("Source health: ") :]
        assert failing.startswith("Source health: 2 of 5 feeds failing: Broken (http_500 since ")
        assert ", Homepage (" in failing, failing

        report = Path(ingested["reports"]) / "uk-poland-defence"
        assert {p.name for p in report.iterdir()} == {
            "2026-W47.html",
            "2026-W47.txt",
            "2026-W47.eml",
            "matches.atom",  # written by the ingest
        }

        again = digest(**paths, week="2026-W47")
        assert len(smtp.handler.messages) == 2
        assert {r["status"] for r in again["topics"][0]["sent"]} == {"sent"}
        digest(**paths, week="2026-W47", force=True)
        assert len(smtp.handler.messages) == 4

    with db.read_connection(Path(ingested["db"])) as con:
        rows = con.execute(
            "SELECT recipient, status, message_id FROM v_digests ORDER BY recipient"
        ).fetchall()
    assert [(r, s) for r, s, _ in rows] == [(READERS[0], "sent"), (READERS[1], "sent")]
    assert all(m.startswith("<newswatch.") for _, _, m in rows)


def test_run_without_smtp_writes_the_digest_and_says_it_was_not_sent(
    ingested: dict[str, Any],
) -> None:
    args = [
        "run",
        "--sources",
        ingested["sources"],
        "--db",
        ingested["db"],
        "--reports",
        ingested["reports"],
    ]
    result = CliRunner().invoke(app, args, env={"NEWSWATCH_TOPICS": ingested["topics"]})
    assert result.exit_code == 0, result.output
    assert "no SMTP configured" in result.output
    written = list((Path(ingested["reports"]) / "uk-poland-defence").glob("*.html"))
    assert len(written) == 1 and "_" in written[0].stem  # the seven days ending now


def test_run_daily_for_a_week_sends_each_reader_the_complete_week_once(
    ingested: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`newswatch run`'s digest step on seven consecutive days: one email per reader."""
    from datetime import UTC, datetime, timedelta

    from flows.digest import digest

    paths = {k: ingested[k] for k in ("sources", "db", "topics", "reports")}
    monkeypatch.setenv("NEWSWATCH_DIGEST_REPORT_BASE_URL", "https://reports.example/nw/")
    report = Path(ingested["reports"]) / "uk-poland-defence"
    monday = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # the fixture's stories are in W47
    with smtp_server() as smtp:
        mail_env(monkeypatch, smtp.port)
        for day in range(7):  # Monday to Sunday of 2026-W48, as cron would run it
            result = digest(**paths, recent=True, now=monday + timedelta(days=day))
            rolling, week = result["topics"]
            assert "_" in rolling["period"] and "sent" not in rolling  # read, never mailed
            assert week["period"] == "2026-W47"
            assert {r["status"] for r in week["sent"]} == {"sent"}
            page = lxml.html.parse(str(report / f"{rolling['period']}.html")).getroot()
            # The rolling report's trend ends with its own seven days: the same count.
            counts = page.xpath("//table[contains(@class, 'chart')]/tbody/tr[1]/td")
            assert len(counts) == 12 and counts[-1].text_content() == str(rolling["stories"])
        messages = received(smtp.handler)
        assert sorted(m["To"] for m in messages) == sorted(READERS)  # once each, not daily
        assert all(m["Subject"].endswith("· 16–22 Nov 2026") for m in messages)
        html = messages[0].get_body(("html",)).get_content()  # type: ignore[union-attr]
        link = "https://reports.example/nw/uk-poland-defence/2026-W47.html"
        assert lxml.html.document_fromstring(html).xpath("//a[@href=$u]", u=link)
        assert (report / "2026-W47.html").is_file()  # what the link points at, to be served
        assert len(list(report.glob("2026-11-*_2026-11-*.html"))) == 7

        # An ad-hoc digest of the same seven days is the same week: not mailed again.
        again = digest(**paths, until="2026-11-22", days=7)
        assert again["period"] == "2026-W47" and len(smtp.handler.messages) == 2

        # The next Monday the next week (empty here) goes out, once.
        nxt = digest(**paths, recent=True, now=monday + timedelta(days=7))
        assert nxt["topics"][1]["period"] == "2026-W48"
        assert len(smtp.handler.messages) == 4


def test_ingest_writes_the_feed_of_matches_one_entry_per_story(ingested: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    import feedparser

    from flows.config import settings_for
    from flows.delivery.match_feed import write_match_feeds

    path = Path(ingested["reports"]) / "uk-poland-defence" / "matches.atom"
    assert path.is_file()  # by the ingest itself, whatever today's date makes of the fixtures
    assert not feedparser.parse(io.BytesIO(path.read_bytes())).bozo

    # The fixture's stories are dated in 2026-W47: read the feed as a week later.
    settings = settings_for(**{k: ingested[k] for k in ("sources", "db", "topics", "reports")})
    assert write_match_feeds(settings, datetime(2026, 11, 29, tzinfo=UTC)) == [str(path)]
    parsed = feedparser.parse(io.BytesIO(path.read_bytes()))
    assert not parsed.bozo and parsed.version == "atom10"
    titles = [e.title for e in parsed.entries]
    assert len(titles) == 3 and "RAF Typhoons deploy to Poland" in " ".join(titles)
    assert "England beat Poland" not in " ".join(titles)  # not a match
    # The wire story carried by two outlets is one entry, naming the other outlet.
    assert len({e.id for e in parsed.entries}) == 3
    assert any("also covered by" in e.summary for e in parsed.entries)
    times = [e.published_parsed for e in parsed.entries]
    assert times == sorted(times, reverse=True)  # newest first
    with db.read_connection(Path(ingested["db"])) as con:
        urls = {r[0] for r in con.execute("SELECT url FROM v_matches").fetchall()}
    assert {e.link for e in parsed.entries} <= urls  # canonical links
