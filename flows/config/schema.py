"""The schema of sources.yaml: each block a frozen pydantic model, validated once."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_USER_AGENT = (
    "newswatch/0.1 (news monitoring for analysts; +https://github.com/newswatch/newswatch)"
)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FetchSettings(_Strict):
    """How newswatch talks to the network; `fetch:` in sources.yaml."""

    # false, true, or addresses/networks that may be dialled although private or loopback
    allow_private_addresses: bool | tuple[str, ...] = False
    user_agent: str = DEFAULT_USER_AGENT
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0  # wall clock, whole request
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    max_feed_bytes: Annotated[int, Field(gt=0)] = 5_000_000  # decoded
    max_page_bytes: Annotated[int, Field(gt=0)] = 5_000_000  # decoded
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    per_host_connections: Annotated[int, Field(ge=1, le=64)] = 2
    max_connections: Annotated[int, Field(ge=1, le=512)] = 16
    max_retry_after_seconds: Annotated[float, Field(ge=0, le=600)] = 30.0  # waited within a run
    max_entries_per_feed: Annotated[int, Field(ge=1, le=100_000)] = 200
    # New entries one feed may add in a run once it has been read before; more means the feed
    # mints new GUIDs or links on every request (or is busier than a run can take): capped,
    # with a warning in v_source_health.last_warning.
    max_new_entries_per_feed: Annotated[int, Field(ge=1, le=100_000)] = 100

    @field_validator("allow_private_addresses", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            for item in value:
                try:
                    ipaddress.ip_network(str(item), strict=False)
                except ValueError as exc:
                    raise ValueError(f"{item!r} is not an IP address or network ({exc})") from exc
            return tuple(str(item) for item in value)
        return value

    def private_allowlist(self) -> bool | tuple[IPNetwork, ...]:
        """True/False, or the networks that may be dialled although private."""
        if isinstance(self.allow_private_addresses, bool):
            return self.allow_private_addresses
        return tuple(ipaddress.ip_network(a, strict=False) for a in self.allow_private_addresses)


class ExtractSettings(_Strict):
    """How pages become text; `extract:` in sources.yaml."""

    workers: Annotated[int, Field(ge=0, le=64)] = 0  # 0: one per core
    max_html_bytes: Annotated[int, Field(gt=0)] = 1_500_000  # larger pages are cut to this
    page_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 20.0
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 100  # pages per Prefect task
    # No page starts after this long into a run (pages under way finish within their own
    # deadlines), so an hourly run stays hourly; the pages left are taken by the next run.
    run_budget_seconds: Annotated[float, Field(gt=0, le=86_400)] = 2700.0
    # One feed's pages, their times added up, may take this share of the budget; its other
    # pages wait for the next run, so one slow site cannot hold up the others.
    feed_share: Annotated[float, Field(gt=0, le=1)] = 0.25


class DigestSettings(_Strict):
    """The weekly digest; `digest:` in sources.yaml (recipients come from the environment)."""

    timezone: str = "Europe/London"
    top: Annotated[int, Field(ge=1, le=100)] = 10  # stories shown in full; the rest listed
    send_empty: bool = True  # an empty week still sends a short, honest note
    list_id: str = "newswatch digest <digest.newswatch.invalid>"
    unsubscribe: str | None = None  # mailto: or https: address for List-Unsubscribe
    # Where reports/ is served: the email's "Full report" links to <base>/<topic>/<period>.html.
    # Unset, the email names no report (never a path on this server).
    report_base_url: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r}; use an IANA name such as Europe/London"
            ) from None
        return value

    @field_validator("report_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// address, e.g. https://news.example/r")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("must be a plain address, without credentials, ?query or #fragment")
        return value.rstrip("/")

    @field_validator("unsubscribe")
    @classmethod
    def _unsubscribe(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("mailto:", "https://")):
            raise ValueError("must be a mailto: or https:// address")
        return value


class FeedSettings(_Strict):
    """One feed; an item of `feeds:` in sources.yaml."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    url: str
    language: str | None = None
    enabled: bool = True
    optional: bool = False  # known to flap (bot walls, datacenter blocks): reported, not alarming
    note: str | None = None  # where the address comes from and when it was last seen working

    def fingerprint(self, fetch: FetchSettings) -> str:
        """What decides how this feed is fetched: its entry (not its name or note) and `fetch:`."""
        settings = [
            self.model_dump(mode="json", exclude={"name", "note"}),
            fetch.model_dump(mode="json"),
        ]
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http:// or https:// address")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials (user:password@)")
        return value.strip()


Event = Literal["digest", "alert", "health"]
EVENTS: tuple[Event, ...] = ("digest", "alert", "health")


class ChannelEntry(_Strict):
    """One chat or webhook channel; an item of `channels:` in sources.yaml (URL not expanded)."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\s:]([^:]*[^\s:])?$")]
    url: Annotated[str, Field(min_length=1)]  # an Apprise URL; ${VAR} comes from the environment
    topics: tuple[str, ...] | None = None  # default: every topic
    events: Annotated[tuple[Event, ...], Field(min_length=1)] = EVENTS


class HealthSettings(_Strict):
    """When a failing feed or a stalled schedule is announced; `health:` in sources.yaml."""

    failures: Annotated[int, Field(ge=1, le=10_000)] = 3  # consecutive failed runs, or ...
    hours: Annotated[float, Field(gt=0, le=24 * 365)] = 24.0  # ... failing for this long
    stale_hours: Annotated[float, Field(gt=0, le=24 * 365)] = 6.0  # serve: no completed ingest


class SourcesFile(_Strict):
    """The whole of sources.yaml."""

    fetch: FetchSettings = FetchSettings()
    extract: ExtractSettings = ExtractSettings()
    digest: DigestSettings = DigestSettings()
    health: HealthSettings = HealthSettings()
    channels: tuple[ChannelEntry, ...] = ()
    topics: tuple[str, ...] | None = None  # topic ids to apply; default: every file in topics/
    feeds: tuple[FeedSettings, ...]

    @model_validator(mode="after")
    def _unique(self) -> SourcesFile:
        for attr in ("name", "url"):
            seen: set[str] = set()
            for feed in self.feeds:
                value = getattr(feed, attr)
                if value in seen:
                    raise ValueError(f"two feeds have the {attr} {value!r}; each must be unique")
                seen.add(value)
        names = [c.name for c in self.channels]
        for name in names:
            if names.count(name) > 1 or name == "email":
                raise ValueError(
                    f"channel name {name!r} is used twice or is reserved ('email'); "
                    "each channel needs its own name"
                )
        return self
