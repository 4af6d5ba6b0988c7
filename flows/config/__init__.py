"""The only reader of YAML and the environment: validated once, passed down as frozen values."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

# Re-exported: every layer imports its settings from flows.config.
from flows.config.channels import ChannelSettings as ChannelSettings
from flows.config.channels import load_channels
from flows.config.channels import redact as redact
from flows.config.schema import DEFAULT_USER_AGENT as DEFAULT_USER_AGENT
from flows.config.schema import EVENTS as EVENTS
from flows.config.schema import ChannelEntry as ChannelEntry
from flows.config.schema import DigestSettings as DigestSettings
from flows.config.schema import Event as Event
from flows.config.schema import ExtractSettings as ExtractSettings
from flows.config.schema import FeedSettings as FeedSettings
from flows.config.schema import FetchSettings as FetchSettings
from flows.config.schema import HealthSettings as HealthSettings
from flows.config.schema import IPNetwork as IPNetwork
from flows.config.schema import SourcesFile as SourcesFile
from flows.topic import Topic
from warehouse.errors import ConfigError as ConfigError  # its old home; still importable


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
    health: HealthSettings = field(default_factory=HealthSettings)
    channels: tuple[ChannelSettings, ...] = ()


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
        health=sources.health,
        channels=load_channels(paths.sources, sources.channels, topics, env),
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
    return _sources_file(path, _read_text(path, what="the sources file"))


# A command reads its files several times (the CLI validates before each flow starts, and
# each flow reads them again from its parameters): each text is parsed and validated once per
# process. Keyed by the text itself, so an edited file is read anew; the models are frozen.
@functools.lru_cache(maxsize=4)
def _sources_file(path: Path, text: str) -> SourcesFile:
    data = _parse_yaml(path, text, what="the sources file")
    try:
        return SourcesFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(path, data, exc)) from None


@functools.lru_cache(maxsize=8)  # ~0.4 MB each (the shipped profile): a long serve keeps few
def _topic_file(path: Path, text: str) -> Topic:
    data = _parse_yaml(path, text, what="a topic file")
    if isinstance(data, dict):
        data.setdefault("id", path.stem)
    try:
        return Topic.model_validate(data)
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
        topic = _topic_file(path, _read_text(path, what="a topic file"))
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


# libyaml's loader reads the topic profile (1,500 aliases) in ~20-30 ms instead of ~300 ms.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_text(path: Path, *, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: {what} does not exist; fix: create it or pass its path"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {what} cannot be read ({exc}); fix: save it as UTF-8") from None


def _parse_yaml(path: Path, text: str, *, what: str) -> Any:
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
