"""Advisory file locks that the OS releases when their process dies, the holder's PID beside."""

from __future__ import annotations

import contextlib
import os
import time
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
    pid_path = lock_path.with_suffix(".pid")
    try:
        lock.acquire(timeout=wait_seconds)
    except Timeout:
        raise Held(lock_path, _holder(pid_path)) from None
    mine = str(os.getpid())
    try:
        pid_path.write_text(mine)
        yield
    finally:
        if _read_pid(pid_path) == mine:  # a later reader must not name us
            with contextlib.suppress(OSError):
                pid_path.unlink()
        lock.release()


HOLDER_WAIT_SECONDS = 0.5  # the holder writes its PID just after it takes the lock


def _holder(pid_path: Path) -> str | None:
    """The PID in the file if that process is alive, waiting a moment for a holder that has
    just taken the lock to write it; None rather than the PID of a holder that died."""
    deadline = time.monotonic() + HOLDER_WAIT_SECONDS
    while True:
        pid = _read_pid(pid_path)
        if pid is not None and _alive(pid):
            return pid
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, OverflowError, ProcessLookupError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _read_pid(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
