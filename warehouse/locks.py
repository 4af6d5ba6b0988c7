"""Advisory file locks that the OS releases when their process dies, the holder's PID beside."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


class Held(Exception):
    """Another live process holds the lock; `holder` is its PID when it wrote one."""

    def __init__(self, path: Path, holder: str | None) -> None:
        super().__init__(f"{path} is held" + (f" by PID {holder}" if holder else ""))
        self.holder = holder


@contextmanager
def exclusive(lock_path: Path, *, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the lock for the block, or raise Held; a dead holder's lock is free at once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=wait_seconds)
    except Timeout:
        raise Held(lock_path, _read_pid(lock_path.with_suffix(".pid"))) from None
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
