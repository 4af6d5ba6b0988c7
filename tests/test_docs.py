"""The README keeps up with the code: commands, paths and views it names exist; CI runs its test
command; it stays short (the details live in docs/ and bench/README.md)."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from flows.cli import app
from tests.conftest import ROOT
from warehouse import db

README = (ROOT / "README.md").read_text(encoding="utf-8")
# Written by a run, not part of the clone:
RUN_OUTPUT = {
    "warehouse/.data/",
    "warehouse/newswatch.duckdb",
    "warehouse/.data/logs/newswatch.log",
}


def test_every_command_is_in_the_readme_table() -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    documented = set(re.findall(r"^\| `newswatch (\w+)", README, flags=re.M))
    assert commands == documented


def test_every_path_the_readme_names_exists() -> None:
    named = set(
        re.findall(r"`((?:flows|warehouse|reports|topics|tests|bench|docs)/[\w./-]*)`", README)
    )
    named |= set(re.findall(r"\]\(((?:docs|bench)/[\w./-]+)\)", README))  # links
    assert len(named) >= 20, named  # the module map and the links are really checked
    missing = sorted(p for p in named - RUN_OUTPUT if not (ROOT / p).exists())
    assert missing == []


def test_every_view_the_readme_names_exists(tmp_path: Path) -> None:
    named = set(re.findall(r"`(v_\w+)`", README))
    with db.write_connection(tmp_path / "w.duckdb") as con:
        db.migrate(con)
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    assert {"v_matches", "v_articles", "v_source_health", "v_digests"} <= named
    assert named - views == set()


def test_the_readme_starts_short() -> None:
    assert len(README.encode()) < 15_000
    for doc in ("docs/reliability.md", "docs/scale-out.md", "bench/README.md"):
        assert doc in README


def test_ci_runs_the_readme_test_command() -> None:
    fence = re.search(r"```sh\n(.*?)```", README, flags=re.S)
    assert fence is not None
    main_job, tests = (line.split("#")[0].strip() for line in fence.group(1).strip().splitlines())
    assert main_job.endswith("newswatch run") and "pip install" in main_job
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
