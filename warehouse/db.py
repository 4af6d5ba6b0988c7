"""DuckDB connections: short-lived, retried while another process holds the file; migrations."""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse.errors import QueryError, Unwritable, unwritable_message, why_unwritable
from warehouse.errors import WarehouseError as WarehouseError  # its old home

MIGRATIONS = Path(__file__).with_name("migrations")
VIEWS = Path(__file__).with_name("views.sql")
# Files stay readable by the DuckDB CLI on PyPI (duckdb-cli 1.5.x), which analysts reach for.
STORAGE_VERSION = "v1.5.0"  # given when a write session creates the file
# Rows a write session puts in one row group. In the v1.5 format a checkpoint rewrites, whole,
# every row group that a write appended to; with DuckDB's default (122,880 rows, ~3 months of
# articles) one hourly save at 1M articles rewrote up to ~160 MB in 1.5-4 s. At 2,048 rows (the
# least DuckDB allows) a save re-compresses at most 2,048 rows (~8 MB of text), for space: the
# rows take 24 % (a run's rows) to 38 % (the 1M-article benchmark) more than in 122,880-row
# groups; 4,096 rows took 6 % more, but saves ~0.1 s longer when its last row group was nearly
# full (bench/README.md). Readers (any DuckDB, 1.5 included) read them as any other.
# It is a property of the session, not of the file: every writer must attach the file with it,
# or its checkpoints merge the small row groups back (write_connection does).
ROW_GROUP_SIZE = 2048
ALIAS = "warehouse"  # the file's name inside a write session (its tables: warehouse.main.*)

_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


class QueryRefused(QueryError):
    """An analyst's query tried to reach past the warehouse (a file, the network, an extension)."""


class WarehouseBusy(WarehouseError):
    """Another process held the warehouse for longer than we were willing to wait."""

    def __init__(self, path: Path, holder: str | None, waited: float) -> None:
        self.holder = holder
        who = f"{holder}" if holder else "another process"
        super().__init__(
            f"{path} is locked by {who}; gave up after {waited:.0f} s; try again once it "
            "has finished (an open DuckDB session holds the file too: close it)"
        )


def lock_holder(exc: BaseException) -> str | None:
    """'program (PID n)' from DuckDB's lock error, or None when it is not a lock error."""
    found = _HOLDER.search(str(exc))
    if found:
        return f"{Path(found['program']).name} (PID {found['pid']})"
    return "another process" if "Could not set lock" in str(exc) else None


# DuckDB's words for a file that is not (or no longer) a whole database
_DAMAGED = ("Corrupt database file", "not a valid DuckDB database", "Could not read enough bytes")
_DAMAGED_FIX = (
    "newswatch leaves it as it is: restore it from a backup, or move it aside and run "
    "`newswatch ingest` to start a new warehouse"
)


def unusable(path: Path, exc: duckdb.Error) -> WarehouseError | None:
    """The one-line WarehouseError for a damaged or unwritable warehouse file, else None."""
    if why := why_unwritable(exc):
        fix = "make its directory writable, or keep the warehouse elsewhere (--db, NEWSWATCH_DB)"
        return Unwritable(unwritable_message(why, path, "the warehouse", fix))
    return damaged(path, exc, internal_too=True)


def damaged(path: Path, exc: duckdb.Error, *, internal_too: bool = False) -> WarehouseError | None:
    """The one-line WarehouseError when DuckDB says the file is damaged, else None.

    internal_too: an internal error counts as damage too (newswatch's own statements; an
    analyst's SQL may meet one of DuckDB's bugs in a sound file).
    """
    if any(mark in str(exc) for mark in _DAMAGED) or (
        internal_too and isinstance(exc, duckdb.InternalException)
    ):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return WarehouseError(f"{path} is damaged ({first}); {_DAMAGED_FIX}")
    return None


def _connect(
    path: Path,
    *,
    read_only: bool,
    wait_seconds: float,
    config: dict[str, str | bool | int | float | list[str]] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying with jittered backoff while another process holds its lock."""
    if read_only and not path.exists():
        raise WarehouseError(f"{path}: no warehouse here yet; run `newswatch ingest` first")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable_directory(path, exc) from exc
    start = time.monotonic()
    delay = 0.05
    while True:
        try:
            if read_only:
                con = duckdb.connect(str(path), read_only=True, config=config or {})
            else:
                con = _attach_for_writes(path)
            con.execute("SET TimeZone = 'UTC'")
            return con
        except duckdb.IOException as exc:
            holder = lock_holder(exc)
            if holder is None:
                raise unusable(path, exc) or WarehouseError(f"{path}: {exc}") from exc
            waited = time.monotonic() - start
            if waited >= wait_seconds:
                raise WarehouseBusy(path, holder, waited) from exc
            time.sleep(min(delay * random.uniform(0.5, 1.5), max(0.0, wait_seconds - waited)))  # noqa: S311
            delay = min(delay * 2, 2.0)
        except duckdb.Error as exc:
            raise unusable(path, exc) or WarehouseError(f"{path}: {exc}") from exc


def _attach_for_writes(path: Path) -> duckdb.DuckDBPyConnection:
    """A session with the file attached as the default database, with small row groups."""
    options = f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}"
    if not path.exists():
        options += f", STORAGE_VERSION '{STORAGE_VERSION}'"
    con = duckdb.connect(":memory:")
    try:
        quoted = str(path).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS {ALIAS} ({options})")
        con.execute(f"USE {ALIAS}")
    except BaseException:
        con.close()
        raise
    return con


def _unwritable_directory(path: Path, exc: OSError) -> WarehouseError:
    why = why_unwritable(exc)
    if why is None:
        return WarehouseError(f"{path.parent}: {exc}")
    fix = "make it writable, or keep the warehouse elsewhere (--db, NEWSWATCH_DB)"
    return Unwritable(unwritable_message(why, path.parent, "the warehouse directory", fix))


@contextmanager
def write_connection(
    path: Path, *, wait_seconds: float = 30.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short write session: hold it only for the statements, then let readers back in.

    A damaged file or a full disk met by a statement is a WarehouseError, like one met at open.
    """
    con = _connect(path, read_only=False, wait_seconds=wait_seconds)
    try:
        yield con
    except duckdb.Error as exc:
        if (known := unusable(path, exc)) is not None:
            raise known from exc
        raise
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
    except duckdb.Error as exc:
        if (known := unusable(path, exc)) is not None:
            raise known from exc
        raise
    finally:
        con.close()


# An analyst's session: no extension installed or loaded behind the query's back (the views
# need none: json, parquet and icu are built in).
_SANDBOX: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


@contextmanager
def analyst_connection(
    path: Path, *, wait_seconds: float = 30.0, writable: Path | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only session for arbitrary SQL: no file but the warehouse (and `writable`), no
    network, no ATTACH, no INSTALL or LOAD, and its configuration locked so no SET undoes it."""
    con = _connect(path, read_only=True, wait_seconds=wait_seconds, config=_SANDBOX)
    try:
        if writable is not None:  # only settable while external access is still on
            quoted = str(writable).replace("'", "''")
            con.execute(f"SET allowed_paths = ['{quoted}']")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        yield con
    except duckdb.Error as exc:  # a damaged block met by the query, not the analyst's SQL
        if (known := damaged(path, exc)) is not None:
            raise known from exc
        raise
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN … COMMIT, rolled back on any failure with the original error kept.

    A COMMIT that fails (no space left on the device, a constraint checked at commit) has
    already ended the transaction: the ROLLBACK after it fails too, and its "no transaction is
    active" must not replace the error that says what happened.
    """
    con.execute("BEGIN")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


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
    with transaction(con):
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [version])
