"""Commands that need no network or Prefect: eval, and the errors of digest and explain."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT

ENV = {"NEWSWATCH_TOPICS": str(ROOT / "topics"), "NEWSWATCH_SOURCES": str(ROOT / "sources.yaml")}


def test_eval_prints_figures_beside_the_keyword_baseline(tmp_path: Path) -> None:
    items = [
        {
            "title": "UK and Poland sign defence treaty",
            "language": "en",
            "label": "relevant",
            "topic_tag": "treaty",
            "text": "Britain and Poland signed a defence treaty in London to deepen "
            "military cooperation of their armed forces against Russia.",
        },
        {
            "title": "England beat Poland",
            "language": "en",
            "label": "not_relevant",
            "topic_tag": "sport",
            "text": "England beat Poland 2-1 at Wembley.",
        },
        {
            "title": "NATO summit",
            "language": "en",
            "label": "ambiguous",
            "topic_tag": "nato",
            "text": "Allies met.",
        },
    ]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps(i) for i in items), encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "--corpus", str(corpus)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "1.000" in result.output and "keyword" in result.output.lower()


def test_eval_bad_corpus_names_the_line(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"title": "x"}\nnot json\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "--corpus", str(corpus)], env=ENV)
    assert result.exit_code == 2 and "line 1" in result.output


def test_digest_rejects_a_bad_period_before_doing_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["digest", "--week", "2026-47", "--db", str(tmp_path / "w.duckdb")], env=ENV
    )
    assert result.exit_code == 2 and "expected YYYY-Www" in result.output
    both = CliRunner().invoke(app, ["digest", "--week", "2026-W47", "--days", "3"], env=ENV)
    assert both.exit_code == 2 and "not both" in both.output


def test_explain_without_a_warehouse_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["explain", "https://x.example/a", "--db", str(tmp_path / "w.duckdb")]
    )
    assert result.exit_code == 3 and "run `newswatch ingest` first" in result.output


def test_help_lists_the_documented_commands_without_importing_prefect() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from flows.cli import app; "
        "out = CliRunner().invoke(app, ['--help']).output; "
        "print(out); print('PREFECT-LOADED' if 'prefect' in sys.modules else 'no-prefect')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for command in (
        "run",
        "ingest",
        "digest",
        "serve",
        "sql",
        "explain",
        "rescore",
        "eval",
        "sources",
    ):
        assert f" {command} " in out
    assert out.strip().endswith("no-prefect")
