"""The run lock's and the digest sender's lock message: the live holder's PID, never a dead one."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from subprocess import Popen

import pytest

from tests.faults_support import holding
from warehouse import locks


def holder(lock_path: Path, *, pid_after: float | None) -> AbstractContextManager[Popen[str]]:
    """Another process that takes the lock, then writes its PID after `pid_after` s (never: None)."""
    write = (
        f"time.sleep({pid_after}); open({str(lock_path.with_suffix('.pid'))!r}, 'w')"
        ".write(str(os.getpid()))\n"
        if pid_after is not None
        else ""
    )
    return holding(
        "import os, sys, time\n"
        "from filelock import FileLock\n"
        f"held = FileLock({str(lock_path)!r})\nheld.acquire()\n"
        "print('ready', flush=True)\n" + write + "time.sleep(60)\n"
    )


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_holder_that_writes_its_pid_a_moment_late_is_named(tmp_path: Path) -> None:
    lock_path = tmp_path / "ingest.lock"
    lock_path.with_suffix(".pid").write_text(str(dead_pid()))  # left by a killed earlier run
    with (
        holder(lock_path, pid_after=0.05) as proc,
        pytest.raises(locks.Held) as held,
        locks.exclusive(lock_path),
    ):
        pass
    assert held.value.holder == str(proc.pid)


def test_the_pid_of_a_dead_earlier_holder_is_never_named(tmp_path: Path) -> None:
    lock_path = tmp_path / "ingest.lock"
    lock_path.with_suffix(".pid").write_text(str(dead_pid()))
    with (
        holder(lock_path, pid_after=None),
        pytest.raises(locks.Held) as held,
        locks.exclusive(lock_path),
    ):
        pass
    assert held.value.holder is None
    assert str(held.value) == f"{lock_path} is held"


def test_a_released_lock_leaves_no_pid_behind(tmp_path: Path) -> None:
    lock_path = tmp_path / "ingest.lock"
    with locks.exclusive(lock_path):
        assert lock_path.with_suffix(".pid").read_text() == str(os.getpid())
    assert not lock_path.with_suffix(".pid").exists()
