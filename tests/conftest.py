"""Shared fixtures: an isolated Prefect home, one temporary Prefect server per session."""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from flows.config import Paths

ROOT = Path(__file__).resolve().parent.parent

# Before anything imports Prefect: its home, database and logs live in a throwaway directory.
_PREFECT_HOME = tempfile.mkdtemp(prefix="newswatch-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.pop("PREFECT_API_URL", None)
# The user's configuration stays out; the fault suite's own knobs (test_faults.py) stay in.
for _name in [n for n in os.environ if n.startswith("NEWSWATCH_")]:
    if not _name.startswith("NEWSWATCH_FAULT_"):
        del os.environ[_name]


def require_corpus(path: Path) -> Path:
    """A corpus of ../shared beside the clone. Absent, its tests are skipped on a developer's
    machine, but fail in CI (CI=true), where it is always laid out: no test goes missing
    quietly."""
    if path.is_dir():
        return path
    message = f"corpus not found at {path} (../shared beside the clone)"
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(message + "; CI always has it, so its absence is an error")
    pytest.skip(message)


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    """A warehouse's paths in the test's own directory (nothing there yet)."""
    from flows.config import Paths

    return Paths(
        sources=tmp_path / "s.yaml",
        topics=tmp_path,
        db=tmp_path / "w.duckdb",
        reports=tmp_path / "r",
    )


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect API for every flow test (≈12 s to start)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # Without the heartbeat setting each flow run waits ~1 s at exit for its heartbeat thread.
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture
def collect_prefect_leaks() -> Iterator[None]:
    """After each test of a module that runs flows in this process: Prefect 3.9.1's flow engine
    leaves one socket of its API client unclosed per flow run (results.py,
    read_server_default_result_storage). Collected here, under that module's
    ignore::ResourceWarning, it cannot surface later in a test that holds warnings as errors."""
    yield
    gc.collect()
