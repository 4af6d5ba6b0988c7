"""Rescoring: the current profile applied to stored articles, with a dry run, no fetching."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT
from warehouse import db, spool, store
from warehouse.evidence import Evidence
from warehouse.rows import ArticleRow, Batch, MatchRow

NOW = datetime(2026, 11, 20, tzinfo=UTC)
ON = (
    "Britain and Poland sign treaty on defence",
    "The United Kingdom and Poland signed a defence "
    "and security treaty in Warsaw, pledging joint training of their armed forces against Russian threats.",
)
OFF = (
    "England beat Poland at Wembley",
    "England beat Poland 2-1 in a football qualifier at Wembley.",
)


def article(key: str, title: str, text: str) -> ArticleRow:
    return ArticleRow(
        key=key,
        url=key,
        source="S",
        feed_url="https://s.example/feed",
        guid=None,
        title=title,
        author=None,
        published_at=NOW,
        first_seen_at=NOW,
        language="en",
        site_name=None,
        summary="",
        text=text,
        extraction="trafilatura",
        page_status="ok",
        extract_error=None,
        content_hash=key,
        story_id=key[-8:],
        run_id="r",
    )


def stale(key: str, matched: bool) -> MatchRow:
    return MatchRow(
        topic="uk-poland-defence",
        article_key=key,
        score=0.9 if matched else 0.1,
        matched=matched,
        entities=(),
        evidence=Evidence(),
        profile_version="old",
        scored_at=NOW,
    )


def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    # Verdicts made by an older profile: the treaty story missed, the football story matched.
    batch = spool.write_batch(
        tmp_path / "spool",
        "b",
        Batch(
            articles=(
                article("https://s.example/on", *ON),
                article("https://s.example/off", *OFF),
            ),
            matches=(stale("https://s.example/on", False), stale("https://s.example/off", True)),
        ),
    )
    with db.write_connection(path) as con:
        db.migrate(con)
        store.load_batch(con, batch)
    return path


def verdicts(path: Path) -> dict[str, tuple[bool, str]]:
    with db.read_connection(path) as con:
        rows = con.execute("SELECT article_key, matched, profile_version FROM matches").fetchall()
    return {k.rsplit("/", 1)[1]: (m, v) for k, m, v in rows}


def test_dry_run_lists_changes_and_writes_nothing_then_rescore_applies_them(tmp_path: Path) -> None:
    path = warehouse(tmp_path)
    env = {
        "NEWSWATCH_TOPICS": str(ROOT / "topics"),
        "NEWSWATCH_SOURCES": str(ROOT / "sources.yaml"),
    }
    dry = CliRunner().invoke(app, ["rescore", "--dry-run", "--db", str(path)], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would add 1, would drop 1" in dry.output
    assert "+ Britain and Poland sign treaty on defence" in dry.output
    assert "- England beat Poland at Wembley" in dry.output
    assert verdicts(path) == {"on": (False, "old"), "off": (True, "old")}

    done = CliRunner().invoke(app, ["rescore", "--db", str(path)], env=env)
    assert done.exit_code == 0, done.output
    after = verdicts(path)
    assert after["on"][0] is True and after["off"][0] is False
    assert after["on"][1] == after["off"][1] != "old"  # each records the profile that made it
    again = CliRunner().invoke(app, ["rescore", "--dry-run", "--db", str(path)], env=env)
    assert "would add 0, would drop 0" in again.output and "0 by an older profile" in again.output
