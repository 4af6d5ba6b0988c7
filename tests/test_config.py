"""Configuration: the shipped defaults load; bad files fail naming file, entry and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config import ConfigError, load_settings, load_smtp, load_sources, resolve_paths
from tests.conftest import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_defaults_load() -> None:
    settings = load_settings(resolve_paths(sources=ROOT / "sources.yaml", topics=ROOT / "topics"))
    assert len(settings.feeds) >= 15
    assert settings.fetch.allow_private_addresses is False
    languages = {f.language for f in settings.feeds}
    assert {"en", "pl"} <= languages
    assert [t.id for t in settings.topics] == ["uk-poland-defence"]
    assert all(f.url.startswith("https://") for f in settings.feeds)


def test_bad_feed_url_names_file_entry_and_fix(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds:\n  - name: Good\n    url: https://a.example/f\n"
        "  - name: Broken\n    url: ftp://b.example/feed\n",
    )
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    message = str(err.value)
    assert str(path) in message
    assert "feeds[1] ('Broken').url" in message
    assert "http://" in message and "fix:" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "feeds:\n  - url: https://a.example/f\n",
            "feeds[0].name: Field required; fix: add `name:`",
        ),
        ("feeds:\n  - name: A\n    url: https://a.example/f\n    colour: red\n", "remove `colour`"),
        ("fetch:\n  timeout_seconds: -1\nfeeds: []\n", "fetch.timeout_seconds"),
        ("fetch:\n  allow_private_addresses: [not-an-ip]\nfeeds: []\n", "not an IP address"),
        (
            "feeds:\n  - name: A\n    url: https://a.example/f\n  - name: A\n    url: https://b.example/f\n",
            "two feeds have the name 'A'",
        ),
        ("feeds:\n  - name: A\n    url: https://user:secret@a.example/f\n", "credentials"),
        ("feeds: [\n", "not valid YAML at line"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_invalid_sources_are_explained(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        load_sources(write(tmp_path, text))
    assert expected in str(err.value)


def test_private_allowlist_forms(tmp_path: Path) -> None:
    s = load_sources(
        write(
            tmp_path, 'fetch:\n  allow_private_addresses: ["127.0.0.1", "10.1.0.0/16"]\nfeeds: []\n'
        )
    )
    networks = s.fetch.private_allowlist()
    assert isinstance(networks, tuple) and [str(n) for n in networks] == [
        "127.0.0.1/32",
        "10.1.0.0/16",
    ]
    assert (
        load_sources(
            write(tmp_path, "fetch:\n  allow_private_addresses: true\nfeeds: []\n")
        ).fetch.private_allowlist()
        is True
    )


def test_missing_files_say_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; fix"):
        load_sources(tmp_path / "nope.yaml")
    paths = resolve_paths(sources=write(tmp_path, "feeds: []\n"), topics=tmp_path / "no-topics")
    with pytest.raises(ConfigError, match="topics directory does not exist"):
        load_settings(paths)


def test_environment_overrides_defaults(tmp_path: Path) -> None:
    env = {"NEWSWATCH_DB": str(tmp_path / "x.duckdb"), "NEWSWATCH_SOURCES": "s.yaml"}
    paths = resolve_paths(env=env)
    assert paths.db == tmp_path / "x.duckdb" and paths.sources == Path("s.yaml")
    assert resolve_paths(db=Path("cli.duckdb"), env=env).db == Path("cli.duckdb")
    assert resolve_paths(env={}).db == Path("warehouse/newswatch.duckdb")


def test_smtp_from_environment_keeps_password_out_of_repr() -> None:
    assert load_smtp({}) is None
    smtp = load_smtp(
        {
            "NEWSWATCH_SMTP_HOST": "mail.example",
            "NEWSWATCH_SMTP_PASSWORD": "hunter2",
            "NEWSWATCH_DIGEST_FROM": "nw@example.org",
            "NEWSWATCH_DIGEST_TO": "a@x.org, b@y.org",
            "NEWSWATCH_SMTP_SECURITY": "ssl",
        }
    )
    assert smtp is not None
    assert smtp.port == 465 and smtp.recipients == ("a@x.org", "b@y.org")
    assert "hunter2" not in repr(smtp)
    with pytest.raises(ConfigError, match="none, starttls or ssl"):
        load_smtp({"NEWSWATCH_SMTP_HOST": "h", "NEWSWATCH_SMTP_SECURITY": "tls"})
    with pytest.raises(ConfigError, match="NEWSWATCH_DIGEST_TO"):
        load_smtp({"NEWSWATCH_SMTP_HOST": "h"})


def test_report_base_url_from_the_file_or_the_environment(tmp_path: Path) -> None:
    sources = write(
        tmp_path,
        "digest:\n  report_base_url: https://news.example/reports/\n"
        "feeds:\n  - name: A\n    url: https://a.example/f\n",
    )
    paths = resolve_paths(sources=sources, topics=ROOT / "topics")
    assert load_settings(paths, env={}).digest.report_base_url == "https://news.example/reports"
    env = {"NEWSWATCH_DIGEST_REPORT_BASE_URL": "https://other.example/r"}
    assert load_settings(paths, env=env).digest.report_base_url == "https://other.example/r"
    unset = {"NEWSWATCH_DIGEST_REPORT_BASE_URL": ""}
    assert load_settings(paths, env=unset).digest.report_base_url is None
    with pytest.raises(ConfigError) as err:
        load_settings(paths, env={"NEWSWATCH_DIGEST_REPORT_BASE_URL": "/srv/reports"})
    assert "NEWSWATCH_DIGEST_REPORT_BASE_URL='/srv/reports'" in str(err.value)
    assert "fix:" in str(err.value)
    bad = write(
        tmp_path,
        "digest:\n  report_base_url: file:///srv/reports\n"
        "feeds:\n  - name: A\n    url: https://a.example/f\n",
    )
    with pytest.raises(ConfigError, match=r"digest\.report_base_url: must be an http"):
        load_sources(bad)


def test_files_are_validated_once_a_command_and_an_edit_is_read_anew(tmp_path: Path) -> None:
    """The CLI and each flow load the same files: unchanged, they give the same values without
    parsing them again; a file edited meanwhile (as `serve` reads it before every run) counts."""
    import shutil

    topics = tmp_path / "topics"
    shutil.copytree(ROOT / "topics", topics)
    sources = write(tmp_path, (ROOT / "sources.yaml").read_text(encoding="utf-8"))
    paths = resolve_paths(sources=sources, topics=topics)
    first, again = load_settings(paths), load_settings(paths)
    assert again.topics[0] is first.topics[0]  # the same frozen value, not a second parse
    assert again.feeds == first.feeds

    profile = topics / "uk-poland-defence.yaml"
    text = profile.read_text(encoding="utf-8")
    profile.write_text(text.replace("\nname: ", "\nname: Edited ", 1), encoding="utf-8")
    sources.write_text(sources.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    edited = load_settings(paths)
    assert edited.topics[0].name.startswith("Edited ") and not first.topics[0].name.startswith(
        "Edited "
    )
    assert edited.topics[0].version != first.topics[0].version

    profile.write_text(text.replace("\nname: ", "\nname: [", 1), encoding="utf-8")
    for _ in range(2):  # a broken file is an error every time it is read, never a stale value
        with pytest.raises(ConfigError, match="not valid YAML"):
            load_settings(paths)
