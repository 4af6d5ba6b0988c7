"""Channels ready to use: each URL expanded from the environment and checked with Apprise,
offline. A channel's URL is a secret (it carries tokens): only its redacted form is shown."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flows.config.schema import ChannelEntry, Event
from warehouse.errors import ConfigError

if TYPE_CHECKING:
    from flows.topic import Topic


@dataclass(frozen=True)
class ChannelSettings:
    """A channel ready to use: its URL expanded from the environment (a secret: never shown)."""

    name: str
    url: str  # never logged, never stored: use `redacted`
    redacted: str  # scheme and host only, e.g. json://hooks.example.org or slack://
    topics: tuple[str, ...] | None
    events: tuple[Event, ...]

    def __repr__(self) -> str:  # keep the URL's tokens out of any log line or traceback
        return f"ChannelSettings(name={self.name!r}, url={self.redacted!r})"

    def wants(self, event: Event, topic: str | None = None) -> bool:
        """Whether this channel carries `event` (for `topic`, when the event has one)."""
        if event not in self.events:
            return False
        return topic is None or self.topics is None or topic in self.topics


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Schemes whose host is a machine's name (not a token): shown as scheme://host, else scheme://.
_HOST_SCHEMES = frozenset(
    {
        *("json", "jsons", "form", "forms", "xml", "xmls", "ntfy", "ntfys", "matrix"),
        *("matrixs", "gotify", "gotifys", "apprise", "apprises", "mmost", "mmosts", "rocket"),
        "rockets",
    }
)


def load_channels(
    path: Path,
    entries: tuple[ChannelEntry, ...],
    topics: tuple[Topic, ...],
    env: Mapping[str, str],
) -> tuple[ChannelSettings, ...]:
    """Expand each channel's ${VAR}s and check that Apprise knows the service (no network)."""
    known = {t.id for t in topics}
    channels = []
    for index, entry in enumerate(entries):
        where = f"{path}: channels[{index}] ({entry.name!r})"
        unknown = [t for t in entry.topics or () if t not in known]
        if unknown:
            raise ConfigError(
                f"{where}: topic {unknown[0]!r} is not loaded; fix: use one of "
                f"{', '.join(sorted(known))}, or drop `topics:` for every topic"
            )
        missing = [v for v in _VAR.findall(entry.url) if not env.get(v, "").strip()]
        if missing:
            raise ConfigError(
                f"{where}: the URL needs ${{{missing[0]}}}, which is not set; fix: export "
                f"{missing[0]} with the service's URL or token (secrets live in the environment)"
            )
        url = _VAR.sub(lambda m: env[m.group(1)].strip(), entry.url).strip()
        problem = _apprise_problem(url)
        if problem:
            raise ConfigError(f"{where}: {problem}")
        channels.append(ChannelSettings(entry.name, url, redact(url), entry.topics, entry.events))
    return tuple(channels)


def redact(url: str) -> str:
    """scheme://host for services addressed by host name, scheme:// for token-only services."""
    from urllib.parse import urlsplit

    scheme, sep, _ = url.partition("://")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme.lower()):
        return ""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    if scheme.lower() not in _HOST_SCHEMES or not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", host):
        host = ""
    return f"{scheme.lower()}://{host}"


def _apprise_problem(url: str) -> str | None:
    """Why Apprise cannot use this URL, without echoing it (its tokens are secrets)."""
    import logging

    import apprise
    from apprise.manager_plugins import NotificationManager

    scheme = url.partition("://")[0].lower() if "://" in url else ""
    fix = "fix: write it as an Apprise URL, e.g. json://host/path, slack://…, ntfy://host/topic"
    if not scheme:
        return f"the URL has no scheme:// (a service name); {fix}"
    if scheme not in NotificationManager():  # type: ignore[no-untyped-call]  # untyped library
        return f"Apprise knows no service {scheme}://; {fix}"
    quiet = logging.getLogger("apprise")
    propagate, quiet.propagate = quiet.propagate, False
    try:
        # Its messages may quote the URL: captured and dropped.
        with apprise.LogCapture(level=logging.DEBUG):  # type: ignore[no-untyped-call]
            service = apprise.Apprise.instantiate(url)
    finally:
        quiet.propagate = propagate
    if service is None:
        return (
            f"the {scheme}:// URL is malformed (Apprise cannot read its parts); fix: check the "
            "service's URL format in Apprise's documentation and the variable it comes from"
        )
    return None
