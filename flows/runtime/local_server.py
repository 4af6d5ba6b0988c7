"""`newswatch serve`'s own Prefect server: `prefect server start` as a child process, with its
SQLite database and log beside the warehouse, stopped when serve stops (or is killed)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from flows.runtime.prefect_server import ServerError, free_port, port_free, spawn
from warehouse.errors import PrefectApiError

DEFAULT_PORT = 4200


class ServeError(PrefectApiError):
    """The schedules cannot be served: the local server did not start, or a flow is missing."""


@contextlib.contextmanager
def local_server(data_dir: Path, *, port: int | None = None, timeout: float = 120) -> Iterator[str]:
    """Run `prefect server start` (SQLite in data_dir/prefect) as a child; yield its API URL."""
    home = data_dir / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    port = port if port is not None else (DEFAULT_PORT if port_free(DEFAULT_PORT) else free_port())
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)  # the server is its own API; never a remote one
    env.setdefault("PREFECT_HOME", str(home.resolve()))
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    # Its own file: a concurrent `newswatch ingest` uses prefect.db under PREFECT_HOME for its
    # temporary server, and two servers writing one SQLite file wait on each other's locks.
    env.setdefault(
        "PREFECT_API_DATABASE_CONNECTION_URL",
        f"sqlite+aiosqlite:///{(home / 'server.db').resolve()}",
    )
    argv = ["server", "start", "--host", "127.0.0.1", "--port", str(port)]
    log = home / "server.log"
    child = spawn("prefect", argv, port=port, env=env, log=log, name="the local Prefect server")
    try:
        try:
            child.wait_healthy(timeout, poll=0.5)
        except ServerError as exc:
            raise ServeError(str(exc)) from None
        yield child.url
    finally:
        child.stop()
