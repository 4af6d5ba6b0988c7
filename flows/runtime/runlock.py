"""One ingest at a time per warehouse: a second run skips instead of interleaving."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from warehouse.errors import AnotherRun


class AlreadyRunning(AnotherRun):
    """Another ingest holds this warehouse's run lock."""


@contextmanager
def single_run(lock_path: Path, *, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the run lock for the block; the OS releases it if the process dies."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=wait_seconds)
    except Timeout:
        holder = _read_pid(lock_path.with_suffix(".pid"))
        who = f" (PID {holder})" if holder else ""
        raise AlreadyRunning(f"another ingest is running on this warehouse{who}; skipped") from None
    try:
        lock_path.with_suffix(".pid").write_text(str(os.getpid()))
        yield
    finally:
        lock.release()


def _read_pid(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
