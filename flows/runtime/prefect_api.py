"""Prefect defaults that work offline, set before Prefect is first imported."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from filelock import FileLock, Timeout

from flows.runtime import prefect_server
from flows.runtime.prefect_server import ServerChild

# The temporary server keeps every run's history and never vacuums its SQLite file (~9 KB per
# task run). In ephemeral mode nothing in it is needed between runs, so past this size it goes.
PRUNE_BYTES = 200_000_000


def configure(data_dir: Path, *, prune_bytes: int = PRUNE_BYTES) -> None:
    """Keep Prefect's home beside the warehouse; the user's own settings win."""
    data_dir.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str((data_dir / "prefect").resolve()),
        # The temporary server needs 9-23 s to start here; the default 20 s fails under load.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    if not os.environ.get("PREFECT_API_URL") and not os.environ.get(
        "PREFECT_API_DATABASE_CONNECTION_URL"
    ):
        prune_ephemeral_database(Path(os.environ["PREFECT_HOME"]), prune_bytes)


def prune_ephemeral_database(home: Path, limit: int) -> bool:
    """Remove the temporary server's database once it outgrows `limit` bytes."""
    database = home / "prefect.db"
    try:
        if database.stat().st_size <= limit:
            return False
    except FileNotFoundError:
        return False
    for path in (database, home / "prefect.db-wal", home / "prefect.db-shm"):
        path.unlink(missing_ok=True)
    _first_start_marker(home).unlink(missing_ok=True)  # the next server makes it afresh
    return True


class PrefectApi:
    """The Prefect API a command's flows talk to, chosen once per command.

    Without `PREFECT_API_URL` in the environment, our own temporary server (the app Prefect's
    ephemeral mode runs) starts before Prefect is imported, and boots while the command
    imports Prefect: ~3 s of a cron run's start-up that Prefect itself would spend waiting
    after the import. `ready()`, once Prefect is imported, keeps a server named by a profile
    instead, or waits for ours and points this process at it.

    It starts on entry when the data directory has been used before (its Prefect home holds
    a database), so that it boots while the command checks its configuration; otherwise at
    `start()`, which the command calls once it knows it may write there.
    """

    def __init__(self, data_dir: Path, *, temporary: bool = True) -> None:
        self.data_dir = data_dir
        self.temporary = temporary  # False: only a server the user runs will do
        self._child: ServerChild | None = None
        self._stack = contextlib.ExitStack()
        self._ready = False
        self._started = False
        self._first_start: FileLock | None = None

    def __enter__(self) -> PrefectApi:
        home = os.environ.get("PREFECT_HOME") or self.data_dir / "prefect"
        if _first_start_marker(Path(home)).exists():  # a data directory used before
            with contextlib.suppress(OSError):  # unwritable now: the command's checks say so
                self.start()
        return self

    def start(self) -> None:
        """Choose the API: serve's on this clone, a named one, or our temporary server."""
        if self._started:
            return
        configure(self.data_dir)
        if not _named_api() and (url := prefect_server.serve_api(_home())):
            # `newswatch serve` runs on this clone: its server, not a temporary one
            os.environ["PREFECT_API_URL"] = url
            self._stack.callback(os.environ.pop, "PREFECT_API_URL", None)
        elif self.temporary and not _named_api():
            self._first_start = _first_start(_home())
            self._child = self._start()
        self._started = True

    @property
    def boots_a_server(self) -> bool:
        """Whether, once started, this command is starting its own temporary server."""
        return self._child is not None

    def __exit__(self, *exc: object) -> None:
        self._first_start_done(healthy=False)
        alive = self._child is not None and self._child.process.poll() is None
        if alive and self._ready:
            _drain_prefect_workers()  # their logs and events go to our server: send them first
        self._stack.close()
        if self._child is not None:
            self._child.release()  # nothing of ours needs it now; don't wait for its shutdown
            self._child = None

    def _start(self) -> ServerChild:
        migrate = not _database_current(_home())
        return prefect_server.temporary(_home(), dict(os.environ), migrate=migrate)

    def ready(self) -> None:
        """Point this process at the API; ServerError if our temporary server does not start."""
        if self._ready:
            return
        self.start()
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_CLIENT_CSRF_SUPPORT_ENABLED,
            PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED,
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
            temporary_settings,
        )

        if PREFECT_API_URL.value():  # a profile or prefect.toml names a server: use it
            if self._child is not None:
                self._child.stop(graceful_seconds=5.0)
                self._child = None
        elif self.temporary:
            timeout = float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
            for _attempt in range(3):
                child = self._child = self._child or self._start()
                try:
                    child.wait_healthy(timeout)
                    break
                except prefect_server.ServerError:
                    if not child.port_was_taken():
                        raise
                    child.stop()
                    self._child = None  # another process took the port we were handed: again
            else:
                raise prefect_server.ServerError("no free port for the temporary Prefect server")
            self._first_start_done(healthy=True)
            child.warm_up()
            if not _database_current(_home()):  # migrated by this Prefect: the next skips it
                _first_start_marker(_home()).write_text(_prefect_version(), encoding="utf-8")
            # Settings were read when Prefect was imported; this process uses the server now.
            # Our own server runs this Prefect and no CSRF protection: the client's version
            # checks and CSRF token requests (two of each in a run) would ask what is known.
            self._stack.enter_context(
                temporary_settings(
                    {
                        PREFECT_API_URL: child.url,
                        PREFECT_CLIENT_SERVER_VERSION_CHECK_ENABLED: False,
                        PREFECT_CLIENT_CSRF_SUPPORT_ENABLED: False,
                    }
                )
            )
        self._ready = True

    def _first_start_done(self, *, healthy: bool) -> None:
        if self._first_start is None:
            return
        if healthy:  # its database is made: later servers only open it
            _first_start_marker(_home()).write_text(_prefect_version(), encoding="utf-8")
        self._first_start.release()
        self._first_start = None

    def explain(self, exc: BaseException) -> str | None:
        """One line for a run that failed because its Prefect API went away; None otherwise."""
        import httpx

        child = self._child
        after = "whatever the run saved is kept, and the next run carries on from there"
        if child is not None and child.process.poll() is not None:
            return (
                f"the temporary Prefect server exited during the run (code "
                f"{child.process.returncode}; its log: {child.log}); {after}"
            )
        if isinstance(exc, httpx.TransportError):  # newswatch's own fetches never raise
            from prefect.settings import PREFECT_API_URL

            return f"the Prefect API {PREFECT_API_URL.value()} stopped answering ({exc}); {after}"
        return None


def _home() -> Path:
    return Path(os.environ["PREFECT_HOME"])


def _first_start_marker(home: Path) -> Path:
    """Made once the home's database exists; it holds the Prefect version that migrated it."""
    return home / ".database-made"


def _database_current(home: Path) -> bool:
    """Whether the temporary server's database exists, migrated by the installed Prefect."""
    if os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL"):
        return False  # a database of the user's choosing: Prefect checks it as usual
    try:
        made_by = _first_start_marker(home).read_text(encoding="utf-8").strip()
        return made_by == _prefect_version() and (home / "prefect.db").stat().st_size > 0
    except OSError:
        return False


def _prefect_version() -> str:
    from importlib.metadata import version

    return version("prefect")  # from the package's metadata: no import of Prefect


def _first_start(home: Path) -> FileLock | None:
    """On a fresh Prefect home, one temporary server at a time until the first has made its
    database: two servers creating it at once race in Prefect's migrations (one exits 3).
    """
    if _first_start_marker(home).exists():
        return None
    home.mkdir(parents=True, exist_ok=True)
    lock = FileLock(home / ".first-start.lock")
    wait = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 120)
    try:
        lock.acquire(timeout=wait)
    except Timeout:  # the first is stuck: start anyway, and say why if this one fails
        return None
    if _first_start_marker(home).exists():  # made while we waited
        lock.release()
        return None
    return lock


def _named_api() -> str:
    """PREFECT_API_URL as known before Prefect is imported (a profile may still name one)."""
    if url := os.environ.get("PREFECT_API_URL", "").strip():
        return url
    if "prefect.settings" in sys.modules:  # already imported: asking costs nothing
        from prefect.settings import PREFECT_API_URL

        return (PREFECT_API_URL.value() or "").strip()
    return ""


def _drain_prefect_workers(timeout: float = 5.0) -> None:
    """Send the flow's queued log lines and events now, while their server still runs.

    Prefect itself drains these at interpreter exit, after our server would be gone.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout, at_exit=False)
