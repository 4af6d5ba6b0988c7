"""reports.mail against a real aiosmtpd server on loopback: structure, hostile headers, security."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from flows.config import SmtpSettings
from reports import mail
from warehouse.records import Rendered

SENDER = "Newswatch <digest@news.example>"
PASSWORD = "hunter2-correct-horse"
RENDERED = Rendered(
    subject="UK–Poland defence: 3 stories, 16–22 Nov 2026",
    preheader="Treaty talks, frigates, a joint exercise",
    html="<html><body><h1>UK–Poland defence</h1><p>Łódź hosts talks.</p></body></html>",
    text="UK–Poland defence\n\nŁódź hosts talks.\n",
)


# --- a scriptable SMTP server (also used by test_deliver) ------------------------------------


@dataclass
class Recorder:
    """aiosmtpd handler: stores what it accepts; replies are scripted per test."""

    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address → "550 …"
    data_replies: list[str] = field(default_factory=list)  # popped per DATA; "drop" hangs up
    messages: list[Envelope] = field(default_factory=list)  # every message the server took
    commands: list[str] = field(default_factory=list)  # AUTH / MAIL, as the server saw them
    data_count: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_count += 1
        reply = self.data_replies.pop(0) if self.data_replies else "250 2.0.0 queued"
        if reply == "drop":
            # The server keeps the message but the client never hears its 250.
            self.messages.append(envelope)
            assert server.transport is not None
            server.transport.close()
            return "250 2.0.0 queued"
        if reply.startswith("250"):
            self.messages.append(envelope)
        return reply


class _RecordingSMTP(SMTP):
    async def smtp_AUTH(self, arg: str) -> None:
        self.event_handler.commands.append("AUTH")
        await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        self.event_handler.commands.append("MAIL")
        await super().smtp_MAIL(arg)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _RecordingSMTP(self.handler, **self.SMTP_kwargs)


@dataclass
class Server:
    host: str
    port: int
    handler: Recorder
    auth_seen: list[Any]


def free_port() -> int:
    """aiosmtpd's Controller cannot bind port 0 and report it, so pick one first."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refuse_all(seen: list[Any]) -> Any:
    def authenticator(*args: Any) -> AuthResult:
        seen.append(args[-1])
        return AuthResult(success=False, handled=False)

    return authenticator


def accept_password(seen: list[Any]) -> Any:
    def authenticator(*args: Any) -> AuthResult:
        seen.append(args[-1])
        return AuthResult(success=args[-1].password == PASSWORD.encode())

    return authenticator


@contextmanager
def smtp_server(
    handler: Recorder | None = None, *, auth: str | None = None, **kwargs: Any
) -> Iterator[Server]:
    """aiosmtpd on 127.0.0.1; auth='refuse' or 'accept' offers AUTH (without TLS unless given)."""
    handler = handler or Recorder()
    seen: list[Any] = []
    if auth is not None:
        kwargs["authenticator"] = (refuse_all if auth == "refuse" else accept_password)(seen)
        kwargs.setdefault("auth_require_tls", False)
    controller = _Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield Server("127.0.0.1", controller.port, handler, seen)
    finally:
        controller.stop()


def settings(
    port: int,
    *recipients: str,
    security: str = "none",
    user: str | None = None,
    host: str = "127.0.0.1",
) -> SmtpSettings:
    return SmtpSettings(
        host=host,
        port=port,
        user=user,
        password=PASSWORD if user else None,
        security=security,  # type: ignore[arg-type]
        sender=SENDER,
        recipients=recipients or ("ana@readers.example",),
    )


def parsed(envelope: Envelope) -> EmailMessage:
    """The message exactly as the server received it."""
    assert isinstance(envelope.original_content, bytes)
    message = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def message_to(recipient: str = "ana@readers.example", **kw: Any) -> EmailMessage:
    rendered = kw.pop("rendered", RENDERED)
    return mail.build_message(
        rendered,
        sender=SENDER,
        recipient=recipient,
        message_id=mail.make_message_id("uk-poland", "2026-W47", recipient, "news.example"),
        list_id="UK-Poland defence <uk-poland.news.example>",
        **kw,
    )


# --- message structure ------------------------------------------------------------------------


def test_message_is_multipart_alternative_with_text_first_and_list_headers() -> None:
    message = message_to(unsubscribe="https://news.example/unsubscribe?t=abc")
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert "Łódź hosts talks." in parts[0].get_content()
    assert "<p>Łódź hosts talks.</p>" in parts[1].get_content()
    assert message["Subject"] == RENDERED.subject
    assert message["From"] == SENDER and message["To"] == "ana@readers.example"
    assert message["List-Id"] == "UK-Poland defence <uk-poland.news.example>"
    assert message["List-Unsubscribe"] == "<https://news.example/unsubscribe?t=abc>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    sent = email.utils.parsedate_to_datetime(str(message["Date"]))
    assert abs(sent - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    # Every line 7-bit and short: no server extension is needed to carry it.
    assert all(len(line) <= 78 for line in message.as_bytes().splitlines())
    assert message.as_bytes().isascii()


def test_list_unsubscribe_only_when_configured_and_one_click_only_for_https() -> None:
    plain = message_to()
    assert "List-Unsubscribe" not in plain and "List-Unsubscribe-Post" not in plain
    mailto = message_to(unsubscribe="mailto:leave@news.example")
    assert mailto["List-Unsubscribe"] == "<mailto:leave@news.example>"
    assert "List-Unsubscribe-Post" not in mailto


def test_message_id_is_deterministic_per_topic_period_and_recipient() -> None:
    one = mail.make_message_id("uk-poland", "2026-W47", "a@x.example", "news.example")
    assert one == mail.make_message_id("uk-poland", "2026-W47", "a@x.example", "news.example")
    assert one.startswith("<newswatch.") and one.endswith("@news.example>")
    assert len(one.split("@")[0]) == len("<newswatch.") + 24
    others = {
        mail.make_message_id("uk-poland", "2026-W48", "a@x.example", "news.example"),
        mail.make_message_id("uk-poland", "2026-W47", "b@x.example", "news.example"),
        mail.make_message_id("other", "2026-W47", "a@x.example", "news.example"),
    }
    assert one not in others and len(others) == 3
    assert message_to()["Message-ID"] == mail.make_message_id(
        "uk-poland", "2026-W47", "ana@readers.example", "news.example"
    )
    assert mail.sender_domain(SENDER) == "news.example"


def test_configured_header_values_that_could_bend_a_header_are_refused() -> None:
    with pytest.raises(ValueError, match="recipient"):
        message_to("ana@readers.example=?UTF-8?Q?=0A?=")
    with pytest.raises(ValueError, match="unsubscribe"):
        message_to(unsubscribe="https://news.example/u\u202e")


@pytest.mark.parametrize(
    "subject",
    [
        "Breaking\r\nBcc: evil@x.example",
        "=?UTF-8?Q?=0A?=Bcc: evil@x.example",
        "Poland \u202eecnefed\u202c news\nBcc: evil@x.example",
    ],
)
def test_hostile_subject_arrives_as_one_line_without_extra_headers(subject: str) -> None:
    rendered = Rendered(subject=subject, preheader="", html="<p>x</p>", text="x")
    with smtp_server() as server:
        outcome = mail.send(settings(server.port), message_to(rendered=rendered), timeout=5)
        assert outcome.status == "sent", outcome.detail
        (received,) = server.handler.messages
    assert received.rcpt_tos == ["ana@readers.example"]
    raw = received.original_content
    assert isinstance(raw, bytes)
    head = raw.split(b"\r\n\r\n", 1)[0]
    # Any line break counts: a bare LF is where CVE-2024-6923 put its Bcc.
    lines = head.splitlines()
    names = [line.split(b":", 1)[0].strip().lower() for line in lines if line[:1] not in b" \t"]
    assert b"bcc" not in names
    assert names.count(b"subject") == 1
    message = parsed(received)
    assert "Bcc" not in message
    got = str(message["Subject"])
    assert "\n" not in got and "\r" not in got and "\u202e" not in got
    assert "Bcc: evil@x.example" in got  # still readable, but only as text
    assert set(message.keys()) == set(message_to().keys())


# --- delivery outcomes ------------------------------------------------------------------------


def test_sent_message_arrives_intact() -> None:
    with smtp_server() as server:
        outcome = mail.send(settings(server.port), message_to(), timeout=5)
        (received,) = server.handler.messages
    assert (outcome.status, outcome.code, outcome.refused) == ("sent", 250, {})
    assert received.mail_from == "digest@news.example"
    message = parsed(received)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Message-ID"] == message_to()["Message-ID"]


def test_one_of_two_recipients_refused_is_reported_per_recipient() -> None:
    handler = Recorder(rcpt_replies={"bob@readers.example": "550 5.1.1 no such user"})
    with smtp_server(handler) as server:
        outcome = mail.send(
            settings(server.port), message_to("ana@readers.example, bob@readers.example")
        )
    assert outcome.status == "sent"
    assert outcome.refused == {"bob@readers.example": (550, "5.1.1 no such user")}
    assert handler.messages[0].rcpt_tos == ["ana@readers.example"]


@pytest.mark.parametrize(
    ("where", "reply", "status"),
    [
        ("rcpt", "451 4.7.1 greylisted", "retry"),
        ("rcpt", "550 5.1.1 unknown", "failed"),
        ("data", "452 4.3.1 out of space", "retry"),
        ("data", "554 5.7.1 spam", "failed"),
    ],
)
def test_reply_codes_decide_retry_or_failed(where: str, reply: str, status: str) -> None:
    handler = Recorder()
    if where == "rcpt":
        handler.rcpt_replies["ana@readers.example"] = reply
    else:
        handler.data_replies.append(reply)
    with smtp_server(handler) as server:
        outcome = mail.send(settings(server.port), message_to(), timeout=5)
    assert outcome.status == status
    assert outcome.code == int(reply[:3])
    assert reply[4:] in outcome.detail
    assert handler.messages == []


def test_connection_lost_after_the_message_went_out_is_unknown() -> None:
    handler = Recorder(data_replies=["drop"])
    with smtp_server(handler) as server:
        outcome = mail.send(settings(server.port), message_to(), timeout=5)
    assert outcome.status == "unknown" and outcome.stage == "body"
    assert "may have been delivered" in outcome.detail
    assert len(handler.messages) == 1


def test_no_greeting_is_a_retry_after_the_timeout() -> None:
    # The kernel completes the handshake on a listening socket; nobody ever speaks.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        outcome = mail.send(settings(port), message_to(), timeout=0.5)
    assert (outcome.status, outcome.stage) == ("retry", "connect")
    assert "no greeting" in outcome.detail and "0.5 s" in outcome.detail


def test_connection_refused_is_a_retry_with_a_clear_detail() -> None:
    outcome = mail.send(settings(free_port()), message_to(), timeout=2)
    assert (outcome.status, outcome.stage) == ("retry", "connect")
    assert "connection refused" in outcome.detail


# --- security ---------------------------------------------------------------------------------


def test_starttls_not_offered_is_a_config_error_and_no_password_is_sent() -> None:
    # The server would accept AUTH in clear text: the client must not try.
    with smtp_server(auth="accept") as server:
        smtp = settings(server.port, security="starttls", user="digest")
        with pytest.raises(mail.MailConfigError, match="does not offer STARTTLS") as caught:
            mail.send(smtp, message_to(), timeout=5)
    assert PASSWORD not in str(caught.value)
    assert server.handler.commands == [] and server.auth_seen == []


def test_login_in_clear_text_is_refused_unless_the_host_is_loopback() -> None:
    smtp = settings(25, security="none", user="digest", host="smtp.news.example")
    with pytest.raises(mail.MailConfigError, match="unencrypted"):
        mail.send(smtp, message_to(), timeout=0.1)  # refused before any connection is made


def test_authentication_failure_is_failed_without_the_password() -> None:
    with smtp_server(auth="refuse") as server:
        smtp = settings(server.port, security="none", user="digest")
        outcome = mail.send(smtp, message_to(), timeout=5)
    assert (outcome.status, outcome.code, outcome.stage) == ("failed", 535, "auth")
    assert "authentication failed" in outcome.detail
    assert PASSWORD not in outcome.detail and PASSWORD not in repr(outcome)
    assert server.auth_seen and "MAIL" not in server.handler.commands


def _certificate(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (server context, client context trusting it)."""
    # cryptography comes with the locked environment (through Prefect), not as our own dependency.
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "newswatch test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


def test_starttls_then_login_then_send(tmp_path: Path) -> None:
    server_tls, client_tls = _certificate(tmp_path)
    with smtp_server(auth="accept", tls_context=server_tls, require_starttls=True) as server:
        smtp = settings(server.port, security="starttls", user="digest")
        outcome = mail.send(smtp, message_to(), timeout=5, context=client_tls)
    assert outcome.status == "sent", outcome.detail
    assert server.handler.commands == ["AUTH", "MAIL"] and len(server.handler.messages) == 1


def test_implicit_tls_then_login_then_send(tmp_path: Path) -> None:
    server_tls, client_tls = _certificate(tmp_path)
    with smtp_server(auth="accept", ssl_context=server_tls) as server:
        smtp = settings(server.port, security="ssl", user="digest")
        outcome = mail.send(smtp, message_to(), timeout=5, context=client_tls)
    assert outcome.status == "sent", outcome.detail
    assert len(server.handler.messages) == 1


def test_unverifiable_certificate_is_a_config_error_before_login(tmp_path: Path) -> None:
    server_tls, _ = _certificate(tmp_path)
    with smtp_server(auth="accept", tls_context=server_tls) as server:
        smtp = settings(server.port, security="starttls", user="digest")
        with pytest.raises(mail.MailConfigError, match="certificate"):
            mail.send(smtp, message_to(), timeout=5)  # the system's trust store: not ours
    assert server.handler.commands == [] and server.auth_seen == []
