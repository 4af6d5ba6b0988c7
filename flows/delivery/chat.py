"""Chat and webhook channels through Apprise (the only module that sends with it).

Apprise's `Apprise.notify()` answers one bool for every service together, which cannot tell a
message the receiver refused (HTTP 4xx: failed) from one worth retrying (5xx, 429) or one that
may have arrived (a read timeout or a reset after the request went out: unknown). So each
channel instantiates its one service (`Apprise.instantiate(url)`) and calls that plugin's
`notify()` inside Apprise's own `LogCapture`: every HTTP plugin we offer (json, Slack, Teams,
Discord, ntfy, Matrix) logs a refused reply as `…error=<status>.` and a network failure as
`Socket Exception: <requests' message>`, which names a connection that was never made
(`NewConnectionError`, `ConnectTimeout`, a name that does not resolve) as such. Anything we
cannot read is `unknown`, the reading that never sends twice. The captured text is parsed here
and dropped: it may quote tokens, so it never reaches a log, the warehouse or an error message.

Posting `json://` ourselves with httpx would classify exactly but add a second HTTP client and
a second copy of Apprise's JSON payload; the log reading is covered by tests against a real
loopback server for each outcome, so an Apprise upgrade that changes it fails there first.

Private addresses: a `json://`/`jsons://` host is resolved, and any service URL whose host is
an IP literal is checked, against `fetch.allow_private_addresses` (flows/web/addresses.py)
before anything is sent. Apprise dials on its own afterwards, so a name that re-resolves
between our check and its request (DNS rebinding) is not caught; webhook hosts are configured
by the operator, not taken from feeds.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import apprise

from flows.config import ChannelSettings
from flows.delivery.channels import Outcome
from flows.delivery.outbox import DeliveryResult, send_once
from flows.web.addresses import Allowlist, dialable
from reports.chat import ChatText

log = logging.getLogger("newswatch.channels")

_CODE = re.compile(r"error=(\d{3})\b")
# requests/urllib3 words for a connection that was never made: nothing was offered.
_NOT_CONNECTED = (
    "NewConnectionError",
    "ConnectTimeout",
    "NameResolutionError",
    "Failed to resolve",
    "Failed to establish a new connection",
    "Connection refused",
)
_RESOLVED_SCHEMES = frozenset({"json", "jsons"})


@dataclass(frozen=True)
class ChatChannel:
    """One configured channel carrying one message (the same text for its one recipient)."""

    settings: ChannelSettings
    text: ChatText
    allow: Allowlist
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    setup_errors: tuple[type[Exception], ...] = ()

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def recipient(self) -> str:
        """The outbox's recipient: the redacted URL (scheme and host), never the secret one."""
        return self.settings.redacted or f"{self.settings.name}://"

    def prepare(self, recipient: str, message_id: str) -> ChatText:
        return self.text

    def send(self, recipient: str, message: ChatText) -> Outcome:
        where = f"{self.name} ({self.recipient})"
        refused = _refused_address(self.settings.url, self.allow)
        if refused:
            return Outcome("failed", None, f"{where}: {refused}", offered=False)
        # Apprise's and urllib3's debug lines quote the URL's path, where webhook tokens live:
        # Apprise's are captured (read below, then dropped), urllib3's are switched off.
        quiet, wire = logging.getLogger("apprise"), logging.getLogger("urllib3.connectionpool")
        propagate, quiet.propagate = quiet.propagate, False
        disabled, wire.disabled = wire.disabled, True
        try:
            with apprise.LogCapture(level=logging.DEBUG) as captured:  # type: ignore[no-untyped-call]
                service = apprise.Apprise.instantiate(self.settings.url)
                if service is None:  # checked at start-up; the environment may have changed
                    return Outcome("failed", None, f"{where}: Apprise cannot read the URL", False)
                service.socket_connect_timeout = self.connect_timeout
                service.socket_read_timeout = self.read_timeout
                ok = service.notify(
                    body=message.body, title=message.title, body_format=apprise.NotifyFormat.TEXT
                )
                said = captured.getvalue()
        except Exception as exc:  # noqa: BLE001  # a plugin's own bug: we cannot tell how far it got
            return Outcome("unknown", None, f"{where}: Apprise raised {type(exc).__name__}")
        finally:
            quiet.propagate, wire.disabled = propagate, disabled
        return classify(bool(ok), said, where, self.read_timeout)


def classify(ok: bool, said: str, where: str, read_timeout: float) -> Outcome:
    """Apprise's verdict and log → sent / retry / failed / unknown (see the module docstring)."""
    if ok:
        return Outcome("sent", None, f"{where}: accepted")
    codes = [int(c) for c in _CODE.findall(said)]
    if codes:
        code = codes[-1]
        if code == 429 or code >= 500:
            return Outcome("retry", code, f"{where}: answered HTTP {code} (try again later)")
        return Outcome("failed", code, f"{where}: refused with HTTP {code}; check the URL/token")
    if any(marker in said for marker in _NOT_CONNECTED):
        return Outcome("retry", None, f"{where}: could not connect", offered=False)
    if "Read timed out" in said:
        reason = f"no reply within {read_timeout:g} s"
    elif "Socket Exception" in said:
        reason = "connection lost"
    else:
        reason = "the service reported a failure without a reason"
    return Outcome(
        "unknown", None, f"{where}: {reason} after the message was sent; it may have arrived"
    )


def _refused_address(url: str, allow: Allowlist) -> str | None:
    """Why this URL's host may not be dialled (private, loopback, unresolvable), or None."""
    scheme = url.partition("://")[0].lower()
    try:
        host = (urlsplit(url).hostname or "").strip("[]")
        port = urlsplit(url).port
    except ValueError:
        return None  # not host-shaped (a token-only service): Apprise dials the service's host
    if not host:
        return None
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if scheme not in _RESOLVED_SCHEMES:
            return None
        try:
            infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
        except OSError:
            return f"refused_address: {host} does not resolve; fix: check the host name"
        addresses = sorted({str(info[4][0]) for info in infos})
    blocked = [a for a in addresses if not dialable(a, allow)]
    if not blocked:
        return None
    return (
        f"refused_address: {host} is {blocked[0]}, a private or loopback address; fix: allow "
        f'it in fetch.allow_private_addresses (e.g. ["{blocked[0]}"]) if it is yours'
    )


def announce(
    db_path: Path,
    channels: Sequence[ChannelSettings],
    allow: Allowlist,
    *,
    topic: str,
    period: str,
    text: ChatText,
    force: bool = False,
    retries: int = 2,
    backoff: float = 2.0,
    read_timeout: float = 30.0,
    connect_timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DeliveryResult]:
    """Send `text` once per channel for (topic, period); one channel's trouble stays its own."""
    results: list[DeliveryResult] = []
    for settings in channels:
        channel = ChatChannel(settings, text, allow, connect_timeout, read_timeout)
        message_id = hashlib.sha256(f"{topic}|{period}|{channel.name}".encode()).hexdigest()[:24]
        results += send_once(
            db_path,
            channel,
            topic=topic,
            period=period,
            message_ids={channel.recipient: message_id},
            subject=text.title,
            force=force,
            retries=retries,
            backoff=backoff,
            sleep=sleep,
        )
    return results


def trouble(results: Sequence[DeliveryResult]) -> list[str]:
    """One line per channel whose message is not sent, for the run summary."""
    return [
        f"channel {r.channel}: {r.status}: {r.detail}" for r in results if r.status not in ("sent",)
    ]
