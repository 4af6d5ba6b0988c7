"""One digest email: build it, offer it to an SMTP server, classify the reply (smtplib only)."""

from __future__ import annotations

import hashlib
import ipaddress
import smtplib
import ssl
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Literal, Protocol

from reports.render import clean_header
from warehouse.errors import ConfigError
from warehouse.records import Rendered

Status = Literal["sent", "retry", "failed", "unknown"]
# How far a session got. Before "envelope" the message itself was never offered; from "body" on
# (the server said 354 and we sent the message) a lost connection may hide an accepted message.
Stage = Literal["connect", "tls", "auth", "envelope", "data", "body", "done"]
_STAGE_OF_COMMAND: dict[str, Stage] = {
    "starttls": "tls",
    "auth": "auth",
    "mail": "envelope",
    "rcpt": "envelope",
    "data": "data",
}
_DETAIL_MAX = 300


class MailConfigError(ConfigError):
    """The SMTP settings cannot be used safely; raised before any message is offered."""


class SmtpServer(Protocol):
    """What sending needs from the settings (flows.config.SmtpSettings has it)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def user(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def security(self) -> Literal["none", "starttls", "ssl"]: ...


@dataclass(frozen=True)
class SendOutcome:
    """What the server did with one message."""

    status: Status
    code: int | None
    detail: str  # one line for people; never holds a secret
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)  # per refused recipient
    stage: Stage = "done"


def build_message(
    rendered: Rendered,
    *,
    sender: str,
    recipient: str,
    message_id: str,
    list_id: str,
    unsubscribe: str | None = None,
) -> EmailMessage:
    """The digest as multipart/alternative (plain text, then HTML) for one recipient."""
    message = EmailMessage()
    # Feed text reaches the Subject: cleaned so no CR/LF, bidi trick or encoded word survives.
    message["Subject"] = clean_header(rendered.subject)
    message["From"] = _verbatim(sender, "sender")
    message["To"] = _verbatim(recipient, "recipient")
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = _verbatim(message_id, "Message-ID")
    message["List-Id"] = clean_header(list_id)
    if unsubscribe:
        link = _verbatim(unsubscribe, "unsubscribe address")
        message["List-Unsubscribe"] = f"<{link}>"
        if link.lower().startswith("https://"):
            # RFC 8058: providers may POST to an https link to unsubscribe in one click.
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Quoted-printable keeps every line short and 7-bit, whatever the server's extensions.
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    _check_headers(message)
    return message


def make_message_id(topic: str, period: str, recipient: str, domain: str) -> str:
    """The same Message-ID for every send of one digest, so receivers can spot a duplicate."""
    digest = hashlib.sha256(f"{topic}|{period}|{recipient}".encode()).hexdigest()[:24]
    return f"<newswatch.{digest}@{_verbatim(domain, 'domain')}>"


def sender_domain(sender: str) -> str:
    """The domain of the From address ('localhost' when it has none)."""
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def send(
    smtp: SmtpServer,
    message: EmailMessage,
    *,
    timeout: float = 30.0,
    context: ssl.SSLContext | None = None,
) -> SendOutcome:
    """Offer one message and classify the reply; MailConfigError (nothing offered) if unsafe."""
    where = f"{smtp.host}:{smtp.port}"
    if smtp.user and smtp.security == "none" and not _loopback(smtp.host):
        # A plain-text AUTH hands the password to anyone on the path; on loopback it never
        # leaves the machine (a local relay), the one place an explicit `none` may log in.
        raise MailConfigError(
            f"{where}: refusing to log in over an unencrypted connection; fix: set "
            "NEWSWATCH_SMTP_SECURITY=starttls (port 587) or ssl (port 465)"
        )
    tls = context or ssl.create_default_context()
    client: _Client | None = None
    try:
        if smtp.security == "ssl":
            client = _SSLClient(smtp.host, smtp.port, timeout=timeout, context=tls)
        else:
            client = _Client(smtp.host, smtp.port, timeout=timeout)
        refused = _session(client, smtp, message, tls, where)
        client.stage = "done"
    except ssl.SSLCertVerificationError as exc:
        raise MailConfigError(
            f"{where}: the server's TLS certificate cannot be verified ({exc.verify_message}); "
            "fix: use the server's proper host name or a certificate your system trusts"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        if client is None:  # no session: refused, unreachable, or no greeting
            return _classify(exc, "connect", where, timeout, smtp.password, greeted=False)
        return _classify(exc, client.stage, where, timeout, smtp.password)
    finally:
        if client is not None:
            _close(client)
    detail = f"{where}: accepted"
    if refused:
        detail += f"; refused {', '.join(sorted(refused))}"
    return SendOutcome(
        "sent",
        250,
        _scrub(detail, smtp.password),
        {a: (code, _scrub(_text(text), smtp.password)) for a, (code, text) in refused.items()},
    )


class _Client(smtplib.SMTP):
    """smtplib.SMTP that remembers how far the session got, so a lost connection can be judged."""

    stage: Stage = "connect"

    def putcmd(self, cmd: str, args: str = "") -> None:
        self.stage = _STAGE_OF_COMMAND.get(cmd.lower(), self.stage)
        super().putcmd(cmd, args)

    def getreply(self) -> tuple[int, bytes]:
        code, text = super().getreply()
        if self.stage == "data" and code == 354:
            self.stage = "body"  # the message goes out next; its final "." may be accepted
        return code, text


class _SSLClient(_Client, smtplib.SMTP_SSL):
    """The same over implicit TLS (port 465)."""


def _session(
    client: _Client, smtp: SmtpServer, message: EmailMessage, tls: ssl.SSLContext, where: str
) -> dict[str, tuple[int, bytes]]:
    client.ehlo()
    if smtp.security == "starttls":
        if not client.has_extn("starttls"):
            raise MailConfigError(
                f"{where} does not offer STARTTLS, so nothing was sent and no password left "
                "this machine; fix: point NEWSWATCH_SMTP_HOST/PORT at a server that offers it, "
                "or use NEWSWATCH_SMTP_SECURITY=ssl for port 465"
            )
        client.starttls(context=tls)
        client.ehlo()
    if smtp.user:
        if not client.has_extn("auth"):
            raise MailConfigError(
                f"{where} offers no AUTH on this connection; fix: check the port and "
                "NEWSWATCH_SMTP_SECURITY, or unset NEWSWATCH_SMTP_USER"
            )
        client.login(smtp.user, smtp.password or "")
    # The envelope is exactly the To header: nothing else in the message can add a recipient.
    to = [address for _, address in getaddresses(message.get_all("To", [])) if address]
    return client.send_message(message, from_addr=parseaddr(str(message["From"]))[1], to_addrs=to)


def _classify(
    exc: OSError,
    stage: Stage,
    where: str,
    timeout: float,
    secret: str | None,
    *,
    greeted: bool = True,
) -> SendOutcome:
    """SMTP reply codes decide: 4xx (and any failure before the message went out) → retry."""
    status: Status
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # The server's text is left out: some servers echo what was sent.
        detail = (
            f"{where}: authentication failed ({exc.smtp_code}); "
            "fix: check NEWSWATCH_SMTP_USER and NEWSWATCH_SMTP_PASSWORD"
        )
        return SendOutcome("failed", exc.smtp_code, detail, stage="auth")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = {a: (code, _text(text)) for a, (code, text) in exc.recipients.items()}
        codes = [code for code, _ in refused.values()]
        status = "retry" if any(_transient(code) for code in codes) else "failed"
        said = "; ".join(f"{a}: {code} {text}" for a, (code, text) in refused.items())
        detail = _scrub(f"{where}: recipient refused ({said})", secret)
        return SendOutcome(status, codes[0] if codes else None, detail, refused, stage)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        status = "failed" if 500 <= code < 600 else "retry"
        detail = f"{where}: {_DOING[stage]} refused: {code} {_text(exc.smtp_error)}"
        return SendOutcome(status, code, _scrub(detail, secret), stage=stage)
    if isinstance(exc, TimeoutError):
        reason = f"no reply within {timeout:g} s"
    elif isinstance(exc, ConnectionRefusedError):
        reason = "connection refused (is the server running, and is the port right?)"
    else:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, smtplib.SMTPServerDisconnected) and "timed out" in reason:
            reason = f"no reply within {timeout:g} s"
    if stage == "body":
        detail = (
            f"{where}: connection lost after the message was sent, before the server's "
            f"verdict ({reason}); it may have been delivered"
        )
        return SendOutcome("unknown", None, _scrub(detail, secret), stage=stage)
    if not greeted and isinstance(exc, smtplib.SMTPServerDisconnected):
        reason = f"no greeting from the server ({reason})"
    if isinstance(exc, smtplib.SMTPException) and not isinstance(
        exc, smtplib.SMTPServerDisconnected
    ):
        # e.g. SMTPUTF8 needed but not offered: trying again will not change it.
        return SendOutcome("failed", None, _scrub(f"{where}: {reason}", secret), stage=stage)
    detail = f"{where}: {_DOING[stage]} failed: {reason}"
    return SendOutcome("retry", None, _scrub(detail, secret), stage=stage)


_DOING: dict[Stage, str] = {
    "connect": "connecting",
    "tls": "STARTTLS",
    "auth": "login",
    "envelope": "envelope (MAIL/RCPT)",
    "data": "DATA",
    "body": "message",
    "done": "closing",
}


def _close(client: _Client) -> None:
    """QUIT politely; a failure here changes nothing about the message."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


def _transient(code: int) -> bool:
    return 400 <= code < 500


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:_DETAIL_MAX]


def _scrub(detail: str, secret: str | None) -> str:
    """Belt and braces: the password never reaches a detail, a log line or the warehouse."""
    return detail.replace(secret, "***") if secret else detail


def _loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _verbatim(value: str, what: str) -> str:
    """Configured values go into headers as they are: refuse any that could bend a header."""
    if "=?" in value or any(unicodedata.category(ch)[0] == "C" for ch in value):
        raise ValueError(f"{what} {value!r} holds control characters or an encoded word")
    return value


def _check_headers(message: EmailMessage) -> None:
    """Re-read the serialized headers: exactly the ones we set (CVE-2024-6923 on 3.11.7)."""
    parsed = BytesHeaderParser().parsebytes(message.as_bytes())
    if sorted(k.lower() for k in parsed) != sorted(k.lower() for k in message):
        raise ValueError("a header value produced an extra header when serialized; not sending")
