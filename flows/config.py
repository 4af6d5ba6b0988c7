"""The only reader of YAML and the environment: validated once, passed down as frozen values."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from flows.topic import Topic

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_USER_AGENT = (
    "newswatch/0.1 (news monitoring for analysts; +https://github.com/newswatch/newswatch)"
)


class ConfigError(Exception):
    """A configuration file or variable is unusable; the message names file, entry and fix."""


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


class SourcesFile(_Strict):
    """The whole of sources.yaml."""

    fetch: FetchSettings = FetchSettings()
    extract: ExtractSettings = ExtractSettings()
    digest: DigestSettings = DigestSettings()
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
        return self


@dataclass(frozen=True)
class SmtpSettings:
    """Mail delivery, from NEWSWATCH_SMTP_* and NEWSWATCH_DIGEST_* variables."""

    host: str
    port: int
    user: str | None
    password: str | None  # never logged, never stored
    security: Literal["none", "starttls", "ssl"]
    sender: str
    recipients: tuple[str, ...]

    def __repr__(self) -> str:  # keep the password out of any log line or traceback
        return f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security!r})"


@dataclass(frozen=True)
class Paths:
    """Where newswatch reads and writes; CLI options override environment over defaults."""

    sources: Path
    topics: Path
    db: Path
    reports: Path

    @property
    def data_dir(self) -> Path:
        """Run state beside the warehouse: spool of unsaved results, Prefect home, locks."""
        return self.db.parent / ".data"


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated."""

    paths: Paths
    fetch: FetchSettings
    extract: ExtractSettings
    digest: DigestSettings
    feeds: tuple[FeedSettings, ...]
    topics: tuple[Topic, ...]
    smtp: SmtpSettings | None


def resolve_paths(
    *,
    sources: Path | None = None,
    topics: Path | None = None,
    db: Path | None = None,
    reports: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Paths:
    """CLI option, else NEWSWATCH_* variable, else the documented default."""
    env = os.environ if env is None else env

    def pick(given: Path | None, var: str, default: str) -> Path:
        return given if given is not None else Path(env.get(var) or default)

    return Paths(
        sources=pick(sources, "NEWSWATCH_SOURCES", "sources.yaml"),
        topics=pick(topics, "NEWSWATCH_TOPICS", "topics"),
        db=pick(db, "NEWSWATCH_DB", "warehouse/newswatch.duckdb"),
        reports=pick(reports, "NEWSWATCH_REPORTS", "reports"),
    )


def load_settings(paths: Paths, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate sources, topics and SMTP settings; ConfigError on the first problem."""
    env = os.environ if env is None else env
    sources = load_sources(paths.sources)
    topics = load_topics(paths.topics, only=sources.topics)
    return Settings(
        paths=paths,
        fetch=sources.fetch,
        extract=sources.extract,
        digest=_digest_env(sources.digest, env),
        feeds=tuple(f for f in sources.feeds if f.enabled),
        topics=topics,
        smtp=load_smtp(env),
    )


def settings_for(
    *,
    sources: str | None = None,
    topics: str | None = None,
    db: str | None = None,
    reports: str | None = None,
) -> Settings:
    """Settings from a flow's parameters (paths as strings, as Prefect deployments pass them)."""

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    return load_settings(
        resolve_paths(
            sources=path(sources), topics=path(topics), db=path(db), reports=path(reports)
        )
    )


def load_sources(path: Path) -> SourcesFile:
    """sources.yaml → SourcesFile."""
    data = _read_yaml(path, what="the sources file")
    try:
        return SourcesFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(path, data, exc)) from None


def load_topics(directory: Path, only: tuple[str, ...] | None = None) -> tuple[Topic, ...]:
    """Every topics/<id>.yaml (or just the ids named in sources.yaml) → Topic, seed checked."""
    if not directory.is_dir():
        raise ConfigError(
            f"{directory}: the topics directory does not exist; "
            "fix: create it with one <id>.yaml per topic, or set NEWSWATCH_TOPICS"
        )
    files = sorted(directory.glob("*.yaml"))
    topics: list[Topic] = []
    for path in files:
        data = _read_yaml(path, what="a topic file")
        if isinstance(data, dict):
            data.setdefault("id", path.stem)
        try:
            topic = Topic.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_explain(path, data, exc)) from None
        if topic.id != path.stem:
            raise ConfigError(
                f"{path}: id {topic.id!r} differs from the file name; "
                f"fix: rename the file to {topic.id}.yaml or set id: {path.stem}"
            )
        if topic.seed and not (path.parent / topic.seed).is_file():
            raise ConfigError(
                f"{path}: seed {topic.seed!r} not found beside the topic file; "
                "fix: put the seed article there or remove the seed key"
            )
        topics.append(topic)
    if only is not None:
        known = {t.id for t in topics}
        missing = [t for t in only if t not in known]
        if missing:
            raise ConfigError(
                f"sources.yaml: topics lists {', '.join(missing)}, which has no file in "
                f"{directory}; fix: add {missing[0]}.yaml there or remove it from topics"
            )
        topics = [t for t in topics if t.id in only]
    if not topics:
        raise ConfigError(f"{directory}: no topic files (*.yaml); fix: add one, e.g. my-topic.yaml")
    return tuple(topics)


def _digest_env(digest: DigestSettings, env: Mapping[str, str]) -> DigestSettings:
    """NEWSWATCH_DIGEST_REPORT_BASE_URL, when set, overrides digest.report_base_url."""
    var = "NEWSWATCH_DIGEST_REPORT_BASE_URL"
    if var not in env:
        return digest
    try:
        return DigestSettings.model_validate({**digest.model_dump(), "report_base_url": env[var]})
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(
            f"{var}={env[var]!r}: {msg}; fix: set it to where reports/ is served, or unset it"
        ) from None


def load_smtp(env: Mapping[str, str]) -> SmtpSettings | None:
    """SMTP from the environment; None when NEWSWATCH_SMTP_HOST is unset."""
    host = env.get("NEWSWATCH_SMTP_HOST", "").strip()
    if not host:
        return None
    security = env.get("NEWSWATCH_SMTP_SECURITY", "starttls").strip().lower() or "starttls"
    if security not in ("none", "starttls", "ssl"):
        raise ConfigError(
            f"NEWSWATCH_SMTP_SECURITY={security!r}: fix: set it to none, starttls or ssl"
        )
    default_port = {"none": 25, "starttls": 587, "ssl": 465}[security]
    port_text = env.get("NEWSWATCH_SMTP_PORT", "").strip()
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ConfigError(
            f"NEWSWATCH_SMTP_PORT={port_text!r} is not a number; fix: e.g. {default_port}"
        ) from None
    recipients = tuple(
        r.strip() for r in env.get("NEWSWATCH_DIGEST_TO", "").split(",") if r.strip()
    )
    sender = env.get("NEWSWATCH_DIGEST_FROM", "").strip()
    if not recipients or not sender:
        raise ConfigError(
            "NEWSWATCH_SMTP_HOST is set but NEWSWATCH_DIGEST_FROM or NEWSWATCH_DIGEST_TO is "
            "empty; fix: set both (NEWSWATCH_DIGEST_TO takes comma-separated addresses)"
        )
    return SmtpSettings(
        host=host,
        port=port,
        user=env.get("NEWSWATCH_SMTP_USER") or None,
        password=env.get("NEWSWATCH_SMTP_PASSWORD") or None,
        security=security,  # type: ignore[arg-type]  # checked against the three names above
        sender=sender,
        recipients=recipients,
    )


# libyaml's loader reads the topic profile (1,500 aliases) in ~30 ms instead of ~300 ms, and
# every run reads it twice (the CLI validates before the flow starts).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path, *, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: {what} does not exist; fix: create it or pass its path"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {what} cannot be read ({exc}); fix: save it as UTF-8") from None
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506  # a safe loader, in C when present
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{path}: not valid YAML{where}: {problem}; "
            "fix: correct the indentation or quoting there"
        ) from None


def _explain(path: Path, data: Any, exc: ValidationError) -> str:
    """One line per problem: file, entry (by index and name), field, what is wrong, the fix."""
    if not isinstance(data, dict):
        return f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}"
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        entry = _entry_label(data, loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            fix = f"add `{loc[-1]}:`"
        elif err["type"] == "extra_forbidden":
            fix = f"remove `{loc[-1]}` or check its spelling"
        else:
            fix = f"correct `{loc[-1]}`" if loc else "correct the file"
        lines.append(f"{path}: {entry}: {msg}; fix: {fix}")
    return "\n".join(lines)


def _entry_label(data: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    node: Any = data
    for key in loc:
        if isinstance(key, int):
            name = (
                node[key].get("name")
                if isinstance(node, list) and isinstance(node[key], dict)
                else None
            )
            parts[-1] = f"{parts[-1]}[{key}]" + (f" ({name!r})" if name else "")
        else:
            parts.append(str(key))
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts) or "top level"
