"""Analysts' labels: recorded through the CLI, scored by eval --labels, exported, tallied by rescore."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT
from tests.test_rescore import warehouse
from warehouse import db

ON, OFF = "https://s.example/on", "https://s.example/off"


def env(topics: Path = ROOT / "topics") -> dict[str, str]:
    return {
        "NEWSWATCH_TOPICS": str(topics),
        "NEWSWATCH_SOURCES": str(ROOT / "sources.yaml"),
        "USER": "alice",
    }


def cli(*args: str, path: Path, topics: Path = ROOT / "topics") -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--db", str(path)], env=env(topics))
    return result.exit_code, result.output


def label_rows(path: Path) -> list[tuple[object, ...]]:
    with db.read_connection(path) as con:
        return con.execute(
            "SELECT topic, url, label, note, labelled_by, profile_version FROM v_labels ORDER BY url"
        ).fetchall()


def test_label_on_an_unknown_url_is_one_line_exit_1_and_writes_nothing(tmp_path: Path) -> None:
    path = warehouse(tmp_path)
    code, out = cli("label", "https://s.example/never-seen", "relevant", path=path)
    assert code == 1 and out.count("\n") == 1
    assert "no stored article under https://s.example/never-seen" in out
    assert label_rows(path) == []
    code, out = cli("label", ON, "maybe", path=path)
    assert code == 2 and "relevant or not_relevant" in out


def test_label_without_a_warehouse_creates_none(tmp_path: Path) -> None:
    code, out = cli("label", ON, "relevant", path=tmp_path / "none.duckdb")
    assert code == 3 and "run `newswatch ingest` first" in out
    assert not (tmp_path / "none.duckdb").exists()


def test_labels_are_recorded_scored_exported_and_survive_rescoring(tmp_path: Path) -> None:
    path = warehouse(tmp_path)  # stored verdicts by an old profile: both wrong
    code, out = cli(
        "label", ON + "?utm_source=rss#top", "relevant", "--note", "the treaty", path=path
    )
    assert code == 0, out
    assert "labelled relevant by alice" in out and "stored verdict: no match (disagrees)" in out
    code, out = cli("label", OFF, "not_relevant", "--by", "bob", path=path)
    assert code == 0, out
    rows = label_rows(path)
    version = rows[0][5]
    assert rows == [
        ("uk-poland-defence", OFF, "not_relevant", None, "bob", version),
        ("uk-poland-defence", ON, "relevant", "the treaty", "alice", version),
    ]

    # eval --labels scores the current profile; the export read by eval --corpus says the same
    code, report = cli("eval", "--labels", path=path)
    assert code == 0, report
    assert "2 items" in report and "Errors (0)" in report
    exported = tmp_path / "labels.jsonl"
    code, out = cli("labels", "export", str(exported), path=path)
    assert code == 0 and "2 labelled articles" in out
    lines = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert {x["url"]: (x["label"], x["why"]) for x in lines} == {
        ON: ("relevant", "the treaty"),
        OFF: ("not_relevant", None),
    }
    assert CliRunner().invoke(app, ["eval", "--corpus", str(exported)], env=env()).output == report

    # the current profile fixes both labelled articles; rescoring keeps the labels
    code, out = cli("rescore", "--dry-run", path=path)
    assert "labelled: 2 of 2 agree with the new verdicts; would fix 2, would break 0" in out
    code, out = cli("rescore", path=path)
    assert code == 0 and "fixed 2, broke 0" in out
    assert label_rows(path) == rows
    with db.write_connection(path) as con:
        assert db.migrate(con) == []  # an upgrade re-runs nothing, the labels stay
    assert label_rows(path) == rows

    # a profile change that loses the treaty story breaks one labelled article
    topics = tmp_path / "topics"
    shutil.copytree(ROOT / "topics", topics)
    profile = topics / "uk-poland-defence.yaml"
    text = profile.read_text(encoding="utf-8")
    profile.write_text(text.replace("threshold: 0.5", "threshold: 1.0"), encoding="utf-8")
    code, out = cli("rescore", "--dry-run", path=path, topics=topics)
    assert "labelled: 1 of 2 agree with the new verdicts; would fix 0, would break 1" in out
    assert f"broken: Britain and Poland sign treaty on defence <{ON}>" in out


def test_a_new_verdict_supersedes_the_old_one_which_stays_on_record(tmp_path: Path) -> None:
    path = warehouse(tmp_path)
    assert cli("label", ON, "not_relevant", path=path)[0] == 0
    assert cli("label", ON, "relevant", "--note", "second look", path=path)[0] == 0
    assert [r[2:4] for r in label_rows(path)] == [("relevant", "second look")]
    with db.read_connection(path) as con:
        assert con.execute("SELECT count(*) FROM labels").fetchone() == (2,)


def test_eval_labels_without_labels_or_with_both_sources_says_so(tmp_path: Path) -> None:
    path = warehouse(tmp_path)
    code, out = cli("eval", "--labels", path=path)
    assert code == 1 and "newswatch label" in out
    code, out = cli("eval", "--labels", "--corpus", str(tmp_path / "x.jsonl"), path=path)
    assert code == 2 and "either --corpus" in out


def test_rescore_dry_run_reads_a_warehouse_from_before_labels(tmp_path: Path) -> None:
    path = warehouse(tmp_path)
    with db.write_connection(path) as con:
        con.execute("DROP VIEW v_labels")
        con.execute("DROP TABLE labels")
    code, out = cli("rescore", "--dry-run", path=path)
    assert code == 0 and "labelled" not in out


def test_v_labels_has_the_documented_columns_and_is_exported(tmp_path: Path) -> None:
    path = warehouse(tmp_path)
    with db.read_connection(path) as con:
        cols = [r[0] for r in con.execute("DESCRIBE v_labels").fetchall()]
    assert cols[:7] == [
        "topic",
        "url",
        "label",
        "note",
        "labelled_at",
        "labelled_by",
        "profile_version",
    ]
    code, out = cli("export", "--out", str(tmp_path / "pq"), path=path)
    assert code == 0 and "v_labels.parquet: 0 rows" in out
