"""Chat/webhook channels through Apprise, against a real HTTP server on loopback."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner
from werkzeug import Request, Response

from flows.cli import app
from flows.config import ChannelEntry, ChannelSettings, ConfigError, load_channels, redact
from flows.delivery.chat import announce
from reports.chat import ChatText, alert_message, digest_message
from tests.conftest import ROOT, require_corpus
from tests.test_mail import free_port
from tests.test_render import SANITIZE, digest, payloads, story
from warehouse import db
from warehouse import outbox as outbox_table

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)
TEXT = ChatText("UK–Poland defence: 16–22 Nov 2026 — 2 stories", "1. Treaty signed — BBC")
SECRET = "s3cr3tT0ken42abc"


@pytest.fixture
def hook() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def channel(url: str, name: str = "team-chat") -> ChannelSettings:
    return ChannelSettings(name, url, redact(url), None, ("digest", "alert", "health"))


def json_url(server: HTTPServer | int, path: str = "/hook") -> str:
    port = server if isinstance(server, int) else server.port
    return f"json://127.0.0.1:{port}{path}/{SECRET}"


def send(path: Path, *channels: ChannelSettings, **kw: Any) -> list[Any]:
    kw.setdefault("allow", LOOPBACK)
    kw.setdefault("sleep", lambda _s: None)
    kw.setdefault("read_timeout", 5.0)
    allow = kw.pop("allow")
    return announce(
        path / "w.duckdb", channels, allow, topic="t", period="2026-W47", text=TEXT, **kw
    )


def posts(server: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in server.log]


def rows(path: Path) -> list[outbox_table.OutboxRow]:
    with db.read_connection(path / "w.duckdb") as con:
        return outbox_table.outbox_rows(con)


def test_a_webhook_gets_the_message_once_and_again_only_when_forced(
    tmp_path: Path, hook: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook.expect_request(f"/hook/{SECRET}", method="POST").respond_with_data("ok")
    target = channel(json_url(hook))
    first = send(tmp_path, target)
    again = send(tmp_path, target)
    assert len(hook.log) == 1
    forced = send(tmp_path, target, force=True)
    assert len(hook.log) == 2
    assert [r.status for r in first + again + forced] == ["sent"] * 3
    assert first[0].sent_now and not again[0].sent_now and "already sent" in again[0].detail
    body = posts(hook)[0]
    assert body["title"] == TEXT.title and body["message"] == TEXT.body
    (row,) = rows(tmp_path)
    assert (row.channel, row.recipient, row.status) == ("team-chat", "json://127.0.0.1", "sent")
    stored = " ".join(str(v) for v in row.__dict__.values())
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    shown = " ".join([*ours, *(r.detail for r in first + again + forced), repr(target)])
    assert SECRET not in stored and SECRET not in shown


@pytest.mark.parametrize(
    ("code", "status", "tries"), [(404, "failed", 1), (500, "pending", 3), (429, "pending", 3)]
)
def test_4xx_fails_and_5xx_or_429_is_retried_and_left_for_the_next_run(
    tmp_path: Path, hook: HTTPServer, code: int, status: str, tries: int
) -> None:
    hook.expect_request(f"/hook/{SECRET}").respond_with_data("no", status=code)
    (result,) = send(tmp_path, channel(json_url(hook)), retries=2)
    assert (result.status, len(hook.log)) == (status, tries)
    assert str(code) in result.detail and SECRET not in result.detail
    send(tmp_path, channel(json_url(hook)), retries=0)
    assert len(hook.log) == tries + (1 if status == "pending" else 0)  # a failure is not retried
    assert rows(tmp_path)[0].last_code == code


def test_a_timeout_after_the_post_is_unknown_and_never_repeated(
    tmp_path: Path, hook: HTTPServer
) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(1.5)
        return Response("late")

    hook.expect_request(f"/hook/{SECRET}").respond_with_handler(slow)
    (first,) = send(tmp_path, channel(json_url(hook)), read_timeout=0.5)
    (second,) = send(tmp_path, channel(json_url(hook)), read_timeout=0.5)
    assert (first.status, second.status) == ("unknown", "unknown")
    assert "may have arrived" in first.detail and "not resent automatically" in second.detail
    assert len(hook.log) <= 1  # the second run did not post again


def test_a_reset_after_the_request_is_unknown(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    got: list[bytes] = []

    def reset_after_reading() -> None:
        conn, _ = listener.accept()
        got.append(conn.recv(65536))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # RST, no reply

    thread = threading.Thread(target=reset_after_reading, daemon=True)
    thread.start()
    (result,) = send(tmp_path, channel(json_url(listener.getsockname()[1])))
    thread.join(5)
    listener.close()
    assert got and got[0].startswith(b"POST")
    assert result.status == "unknown"


def test_refused_address_and_unreachable_receiver_stay_pending(
    tmp_path: Path, hook: HTTPServer
) -> None:
    hook.expect_request(f"/hook/{SECRET}").respond_with_data("ok")
    (refused,) = send(tmp_path, channel(json_url(hook)), allow=False)
    assert refused.status == "pending" and len(hook.log) == 0
    assert "fetch.allow_private_addresses" in refused.detail
    (down,) = send(tmp_path, channel(json_url(free_port()), name="down"), retries=1)
    assert down.status == "pending" and "could not connect" in down.detail
    (later,) = send(tmp_path, channel(json_url(hook)))  # allowed now: the same row is sent
    assert later.status == "sent" and len(hook.log) == 1


def test_one_broken_channel_does_not_stop_the_others(tmp_path: Path, hook: HTTPServer) -> None:
    hook.expect_request("/bad/" + SECRET).respond_with_data("no", status=503)
    hook.expect_request(f"/hook/{SECRET}").respond_with_data("ok")
    results = send(
        tmp_path, channel(json_url(hook, "/bad"), "broken"), channel(json_url(hook)), retries=0
    )
    assert [(r.channel, r.status) for r in results] == [
        ("broken", "pending"),
        ("team-chat", "sent"),
    ]


def test_digest_message_is_short_and_harmless() -> None:
    built = digest(7)
    hostile = story(
        0, title="<@here> [click](javascript:alert(1))\u202e\nBcc: x", url="javascript:x"
    )
    built = dataclasses.replace(built, stories=(hostile, *built.stories[1:]))
    text = digest_message(built, "https://news.example/reports/t/2026-W47.html")
    assert built.period_label in text.title
    assert text.body.splitlines()[-1] == "Full report: https://news.example/reports/t/2026-W47.html"
    assert "… and 2 more" in text.body and len(text.body.splitlines()) <= 2 * 5 + 2
    first = text.body.splitlines()[0]
    assert (
        not any(ch in first for ch in "<>[]@\u202e")
        and "javascript" not in text.body.split("\n")[1]
    )
    assert "Full report" not in digest_message(built, None).body


ENTRY = {"name": "team-chat", "url": "${HOOK}"}


def test_channel_urls_come_from_the_environment_and_are_checked_at_start(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    env = {"HOOK": f"slack://T0000/B0000/{SECRET}"}
    (ok,) = load_channels(path, (ChannelEntry(**ENTRY),), (), env)
    assert ok.redacted == "slack://" and SECRET not in repr(ok) and ok.url.endswith(SECRET)
    for url, words in [
        ("nosuch://x/" + SECRET, "knows no service nosuch://"),
        ("json:/broken", "no scheme://"),
        ("slack://", "slack:// URL is malformed"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_channels(path, (ChannelEntry(**ENTRY),), (), {"HOOK": url})
        message = str(caught.value)
        assert words in message and "channels[0] ('team-chat')" in message and "fix:" in message
        assert SECRET not in message
    with pytest.raises(ConfigError, match=r"needs \$\{HOOK\}.*export HOOK"):
        load_channels(path, (ChannelEntry(**ENTRY),), (), {})


def test_a_bad_channel_is_exit_2_naming_the_entry(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "feeds:\n  - name: A\n    url: https://example.org/feed.xml\n"
        "channels:\n  - name: team-chat\n    url: ${HOOK}\n",
        encoding="utf-8",
    )
    env = {
        "NEWSWATCH_TOPICS": str(ROOT / "topics"),
        "NEWSWATCH_SOURCES": str(sources),
        "HOOK": f"nosuch://host/{SECRET}",
    }
    result = CliRunner().invoke(app, ["ingest", "--db", str(tmp_path / "w.duckdb")], env=env)
    assert result.exit_code == 2, result.output
    assert "channels[0] ('team-chat')" in result.output and SECRET not in result.output
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize(("code", "status"), [(200, "sent"), (403, "failed"), (502, "pending")])
def test_other_services_are_classified_the_same_way_ntfy_on_loopback(
    tmp_path: Path, hook: HTTPServer, code: int, status: str
) -> None:
    hook.expect_request("/").respond_with_json({"id": "x"} if code == 200 else {}, status=code)
    url = f"ntfy://127.0.0.1:{hook.port}/newswatch-{SECRET}"
    (refused,) = send(tmp_path / "a", channel(url), allow=False)  # an IP host: checked too
    assert refused.status == "pending" and hook.log == []
    (result,) = send(tmp_path / "b", channel(url), retries=0)
    assert result.status == status and len(hook.log) == 1
    assert SECRET not in result.detail and result.recipient == "ntfy://127.0.0.1"


def test_feedparsers_sanitizer_corpus_reaches_chat_as_harmless_plain_text() -> None:
    # Every payload of feedparser's sanitizer corpus (scripts, event handlers, javascript:
    # links, markup), as a story's title and outlet: in a digest and in an alert, each line
    # that carries it holds no markup, mention or bidi character, and the only links are http(s).
    require_corpus(SANITIZE)
    corpus = [text for path in sorted(SANITIZE.glob("*.xml")) for text in payloads(path)]
    assert len(corpus) > 100  # the corpus is really there
    built = digest(1)
    for text in corpus:
        hostile = story(0, title=text, url="javascript:alert(1)")
        hostile = dataclasses.replace(hostile, source=text)
        message = digest_message(dataclasses.replace(built, stories=(hostile,)), None)
        alert = alert_message("UK–Poland", text, "javascript:alert(1)", text, 0.9)
        for line in [
            message.title,
            message.body.splitlines()[0],
            alert.title,
            *alert.body.splitlines(),
        ]:
            assert not any(ch in line for ch in "<>[]`@\u202e\u202d\u2066\u2067"), (text, line)
        # the only links are the ones newswatch writes, and never javascript: (the story's was)
        lines = [*alert.body.splitlines(), *message.body.splitlines()]
        links = [s for line in lines if ":" in (s := line.strip()) and " " not in s]
        assert all(s.startswith(("http://", "https://")) for s in links), (text, links)
