"""The README keeps up with the commands, and CI runs the README's test command."""

from __future__ import annotations

import re

import typer.main

from flows.cli import app
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_command_is_in_the_readme_table() -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    documented = set(re.findall(r"^\| `newswatch (\w+)", README, flags=re.M))
    assert commands == documented


def test_ci_runs_the_readme_test_command() -> None:
    fence = re.search(r"```sh\n(.*?)```", README, flags=re.S)
    assert fence is not None
    main_job, tests = (line.split("#")[0].strip() for line in fence.group(1).strip().splitlines())
    assert main_job.endswith("newswatch run") and "pip install" in main_job
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
