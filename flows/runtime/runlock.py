"""One ingest at a time per warehouse: a second run skips instead of interleaving."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from warehouse import locks
from warehouse.errors import AnotherRun


class AlreadyRunning(AnotherRun):
    """Another ingest holds this warehouse's run lock."""


@contextmanager
def single_run(lock_path: Path, *, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the run lock for the block; the OS releases it if the process dies."""
    with ExitStack() as stack:
        try:
            stack.enter_context(locks.exclusive(lock_path, wait_seconds=wait_seconds))
        except locks.Held as exc:
            who = f" (PID {exc.holder})" if exc.holder else ""
            raise AlreadyRunning(
                f"another ingest is running on this warehouse{who}; skipped"
            ) from None
        yield
