"""Mutes: sources, URL patterns and terms that never match; stored and explained all the same."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.config import load_topics
from flows.matching.match import compile_topic
from flows.matching.mutes import match_article
from tests.conftest import ROOT
from tests.test_rescore import article
from warehouse import db, spool, store
from warehouse.evidence import Muted
from warehouse.rows import ArticleRow, Batch

TREATY = (
    "Britain and Poland sign treaty on defence",
    "The United Kingdom and Poland signed a defence and security treaty in Warsaw, "
    "pledging joint training of their armed forces against Russian threats.",
)
MUTES = """
mutes:
  sources: [Tabloid Daily, mirror.example]
  urls: ["*://news.example/sponsored/*", "re:/(quiz|puzzle)/"]
  terms: [horoscope]
"""


def topics_with(tmp_path: Path, extra: str) -> Path:
    topics = tmp_path / "topics"
    shutil.copytree(ROOT / "topics", topics)
    profile = topics / "uk-poland-defence.yaml"
    profile.write_text(profile.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return topics


def row(key: str, source: str, title: str = TREATY[0], text: str = TREATY[1]) -> ArticleRow:
    return dataclasses.replace(article(key, title, text), source=source)


ARTICLES = [
    row("https://news.example/world/treaty", "Good Paper"),
    row("https://news.example/world/tabloid", "Tabloid Daily"),
    row("https://www.mirror.example/a", "Mirror Feed"),
    row("https://eu.mirror.example/b", "Mirror EU"),
    row("https://news.example/sponsored/treaty", "Good Paper"),
    row("https://news.example/quiz/treaty", "Good Paper"),
    row("https://news.example/world/stars", "Good Paper", text=TREATY[1] + " Your horoscope."),
]


def test_each_kind_of_mute_applies_and_says_which_entry(tmp_path: Path) -> None:
    topic = load_topics(topics_with(tmp_path, MUTES))[0]
    compiled = compile_topic(topic)
    found = {}
    for a in ARTICLES:
        m = match_article(
            compiled,
            title=a.title,
            text=a.text,
            language="en",
            url=a.url,
            source=a.source,
        )
        assert m.score >= topic.rule.threshold  # on topic: only a mute keeps it out
        assert m.matched is (m.evidence.muted is None)
        found[a.url] = m.evidence.muted and m.evidence.muted.mute
    assert found == {
        "https://news.example/world/treaty": None,
        "https://news.example/world/tabloid": "sources[0]",  # the feed's name
        "https://www.mirror.example/a": "sources[1]",  # a site, www. and subdomains too
        "https://eu.mirror.example/b": "sources[1]",
        "https://news.example/sponsored/treaty": "urls[0]",  # a glob
        "https://news.example/quiz/treaty": "urls[1]",  # a regular expression
        "https://news.example/world/stars": "terms[0]",
    }


def test_a_term_is_a_whole_word_and_its_sentence_is_the_evidence(tmp_path: Path) -> None:
    compiled = compile_topic(load_topics(topics_with(tmp_path, MUTES))[0])

    def mute(text: str) -> Muted | None:
        m = match_article(
            compiled, title=TREATY[0], text=text, language="en", url=None, source=None
        )
        return m.evidence.muted

    assert mute(TREATY[1] + " Horoscopes and horoscopers aside.") is None
    muted = mute(TREATY[1] + " Horoscope: Leo.")
    assert muted is not None and muted.entry == "Horoscope" and "Horoscope: Leo" in muted.found


def test_an_empty_mute_section_keeps_the_profile_version(tmp_path: Path) -> None:
    plain = load_topics(ROOT / "topics")[0]
    empty = load_topics(topics_with(tmp_path, "\nmutes: {}\n"))[0]
    assert plain.version == empty.version
    other = tmp_path / "other"
    other.mkdir()
    muted = load_topics(topics_with(other, "\nmutes: {terms: [horoscope]}\n"))[0]
    assert muted.version != plain.version


def test_muted_articles_are_stored_not_in_v_matches_and_explain_says_why(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    batch = spool.write_batch(tmp_path / "spool", "b", Batch(articles=tuple(ARTICLES)))
    with db.write_connection(path) as con:
        db.migrate(con)
        store.load_batch(con, batch)
        con.execute("INSERT INTO article_keys SELECT key, key FROM articles")
    env = {
        "NEWSWATCH_TOPICS": str(topics_with(tmp_path, MUTES)),
        "NEWSWATCH_SOURCES": str(ROOT / "sources.yaml"),
    }
    done = CliRunner().invoke(app, ["rescore", "--db", str(path)], env=env)
    assert done.exit_code == 0, done.output
    assert "added 1," in done.output
    with db.read_connection(path) as con:
        stored = con.execute("SELECT count(*) FROM v_articles").fetchone()
        matched = con.execute("SELECT url FROM v_matches").fetchall()
    assert stored == (len(ARTICLES),) and matched == [("https://news.example/world/treaty",)]

    shown = CliRunner().invoke(
        app, ["explain", "https://news.example/sponsored/treaty", "--db", str(path)]
    )
    assert shown.exit_code == 0, shown.output
    assert "MUTED: score" in shown.output
    assert "muted by mutes.urls[0] '*://news.example/sponsored/*'" in shown.output
    assert "entities:" in shown.output  # the evidence is all still there


def test_eval_applies_the_mutes_to_corpus_items_with_a_url(tmp_path: Path) -> None:
    import json

    corpus = tmp_path / "c.jsonl"
    items = [
        {"title": TREATY[0], "text": TREATY[1], "label": "relevant", "url": u}
        for u in ("https://news.example/world/x", "https://news.example/sponsored/x")
    ]
    corpus.write_text("\n".join(map(json.dumps, items)), encoding="utf-8")
    env = {"NEWSWATCH_TOPICS": str(topics_with(tmp_path, MUTES))}
    out = CliRunner().invoke(app, ["eval", "--corpus", str(corpus)], env=env).output
    assert "Errors (1)" in out and "false negative: line-2" in out


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ("mutes: [Tabloid Daily]", "mutes: must be a mapping with any of `sources:`"),
        ("mutes:\n  urls: ['re:(sport']", "mutes.urls: entry 0 ('re:(sport') is not a valid"),
        ("mutes:\n  urls: [ok.example/sport]", "must start with http://, https:// or *"),
        ("mutes:\n  urls: ['*://x.example/[a']", "unbalanced [ or ]"),
        ("mutes:\n  sites: [x.example]", "mutes.sites: Extra inputs are not permitted"),
        ("mutes:\n  terms: [' quiz']", "mutes.terms: entry 0 (' quiz') is empty or has spaces"),
    ],
)
def test_a_bad_mute_is_exit_2_naming_file_entry_and_fix(
    tmp_path: Path, section: str, says: str
) -> None:
    topics = topics_with(tmp_path, "\n" + section + "\n")
    env = {"NEWSWATCH_TOPICS": str(topics), "NEWSWATCH_SOURCES": str(ROOT / "sources.yaml")}
    path = tmp_path / "w.duckdb"
    result = CliRunner().invoke(app, ["rescore", "--dry-run", "--db", str(path)], env=env)
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith(f"newswatch: {topics / 'uk-poland-defence.yaml'}: ")
    assert says in line and "fix:" in line and "\n" not in line
    assert not path.exists()


def test_ingest_scoring_applies_the_mutes(tmp_path: Path) -> None:
    from flows.config import load_settings, resolve_paths
    from flows.ingest import _score
    from warehouse.records import Article

    paths = resolve_paths(topics=topics_with(tmp_path, MUTES), sources=ROOT / "sources.yaml")
    fields = {
        f.name: getattr(ARTICLES[1], f.name)
        for f in dataclasses.fields(ARTICLES[1])
        if f.name not in ("story_id", "run_id")
    }
    now = datetime(2026, 11, 20, tzinfo=UTC)
    rows = _score(load_settings(paths, env={}), [Article(**fields)], now)  # type: ignore[arg-type]
    muted = rows[0].evidence.muted
    assert rows[0].matched is False and muted is not None and muted.mute == "sources[0]"
