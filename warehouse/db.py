"""DuckDB connections: short-lived, retried while another process holds the file; migrations."""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse.errors import WarehouseError as WarehouseError  # its old home

MIGRATIONS = Path(__file__).with_name("migrations")
VIEWS = Path(__file__).with_name("views.sql")
# Files stay readable by the DuckDB CLI on PyPI (duckdb-cli 1.5.x), which analysts reach for.
CREATE_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "storage_compatibility_version": "v1.5.0"
}

_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


class WarehouseBusy(WarehouseError):
    """Another process held the warehouse for longer than we were willing to wait."""

    def __init__(self, path: Path, holder: str | None, waited: float) -> None:
        self.holder = holder
        who = f"{holder}" if holder else "another process"
        super().__init__(f"{path} is locked by {who}; gave up after {waited:.0f} s")


def lock_holder(exc: BaseException) -> str | None:
    """'program (PID n)' from DuckDB's lock error, or None when it is not a lock error."""
    found = _HOLDER.search(str(exc))
    if found:
        return f"{Path(found['program']).name} (PID {found['pid']})"
    return "another process" if "Could not set lock" in str(exc) else None


def _connect(path: Path, *, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying with jittered backoff while another process holds its lock."""
    if read_only and not path.exists():
        raise WarehouseError(f"{path}: no warehouse here yet; run `newswatch ingest` first")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    delay = 0.05
    while True:
        try:
            config = {} if read_only or path.exists() else CREATE_CONFIG
            con = duckdb.connect(str(path), read_only=read_only, config=config)
            con.execute("SET TimeZone = 'UTC'")
            return con
        except duckdb.IOException as exc:
            holder = lock_holder(exc)
            if holder is None:
                raise WarehouseError(f"{path}: {exc}") from exc
            waited = time.monotonic() - start
            if waited >= wait_seconds:
                raise WarehouseBusy(path, holder, waited) from exc
            time.sleep(min(delay * random.uniform(0.5, 1.5), max(0.0, wait_seconds - waited)))  # noqa: S311
            delay = min(delay * 2, 2.0)
        except duckdb.Error as exc:
            raise WarehouseError(f"{path}: {exc}") from exc


@contextmanager
def write_connection(
    path: Path, *, wait_seconds: float = 30.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short write session: hold it only for the statements, then let readers back in."""
    con = _connect(path, read_only=False, wait_seconds=wait_seconds)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def read_connection(
    path: Path, *, wait_seconds: float = 30.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only session (it too waits while an ingest writes)."""
    con = _connect(path, read_only=True, wait_seconds=wait_seconds)
    try:
        yield con
    finally:
        con.close()


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; refresh the views."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.stem not in done:
            _apply(con, path.stem, path.read_text(encoding="utf-8"))
            applied.append(path.stem)
    views = VIEWS.read_text(encoding="utf-8")
    version = "views-" + hashlib.sha256(views.encode()).hexdigest()[:12]
    if version not in done:
        _apply(con, version, views)
        applied.append(version)
    return applied


def _apply(con: duckdb.DuckDBPyConnection, version: str, sql: str) -> None:
    con.execute("BEGIN")
    try:
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [version])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
