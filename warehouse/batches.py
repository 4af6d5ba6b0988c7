"""A run's batches: what the ingest reads before a run, and how its results are saved.

Every batch is first written to the spool (warehouse/spool.py), then loaded; a batch that the
warehouse refuses is quarantined, one that cannot be loaded now (a lock) waits for the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import duckdb
from pydantic import TypeAdapter, ValidationError

from warehouse import db, spool, store
from warehouse.errors import Unwritable, unwritable_message, why_unwritable
from warehouse.records import SIGNATURE_SCHEME, Entry, Signature, SourceState
from warehouse.rows import Batch

log = logging.getLogger("newswatch.ingest")


class Paths(Protocol):
    """Where the warehouse lives (flows.config.Paths is one): the file and its run state."""

    @property
    def db(self) -> Path: ...

    @property
    def data_dir(self) -> Path: ...


LOCK_WAIT_SECONDS = 30.0  # how long a write waits for an analyst's connection to close


@dataclass
class WarehouseAtStart:
    """What a run found on opening the warehouse: the feeds' states, and whether it can write."""

    source_states: dict[str, SourceState] = field(default_factory=dict)  # by feed URL
    available: bool = True  # False: not even readable; the run goes on blind and spools
    holder: str | None = None  # who kept us from writing at the start, if anyone
    loaded_spool: int = 0
    quarantined: tuple[str, ...] = ()  # "directory: reason" of spool batches moved aside


@dataclass(frozen=True)
class Saved:
    """How a run's results ended up."""

    stored: bool  # False: kept in the spool for the next run
    articles: int = 0
    matches: int = 0
    batch: Path | None = None
    holder: str | None = None
    quarantined: tuple[str, ...] = ()  # "directory: reason" of batches the warehouse refused
    refused: str | None = None  # this run's own batch, when refused: its "directory: reason"


def spool_dir(paths: Paths) -> Path:
    return paths.data_dir / "spool"


def quarantine_dir(paths: Paths) -> Path:
    return paths.data_dir / "quarantine"


def _wait(wait_seconds: float | None) -> float:
    # Read at call time, not bound as a default at import: the wait can be changed (tests do).
    return LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds


def open_warehouse(paths: Paths, *, wait_seconds: float | None = None) -> WarehouseAtStart:
    """Migrate, load what earlier runs could not save, and read the feeds' states."""
    try:
        with db.write_connection(paths.db, wait_seconds=_wait(wait_seconds)) as con:
            db.migrate(con)
            loaded, refused = _load_pending(con, paths)
            return WarehouseAtStart(
                source_states=store.source_states(con),
                loaded_spool=len(loaded),
                quarantined=tuple(refused.values()),
            )
    except db.WarehouseBusy as exc:
        return _known_read_only(paths, exc)


def _load_pending(
    con: duckdb.DuckDBPyConnection, paths: Paths
) -> tuple[dict[Path, store.LoadCounts], dict[Path, str]]:
    """Load every spool batch, oldest first; one the warehouse refuses is quarantined."""
    loaded: dict[Path, store.LoadCounts] = {}
    refused: dict[Path, str] = {}
    for batch in spool.pending(spool_dir(paths)):
        try:
            loaded[batch] = store.load_batch(con, batch)
        except store.UnloadableBatch as exc:  # it must not block the batches behind it
            moved = spool.quarantine(batch, quarantine_dir(paths), str(exc))
            log.error("spool batch cannot be loaded; moved to %s: %s", moved, exc)
            refused[batch] = f"{moved}: {exc}"
            continue
        spool.discard(batch)
    return loaded, refused


def _known_read_only(paths: Paths, busy: db.WarehouseBusy) -> WarehouseAtStart:
    """What can be read while another process keeps writers out; results go to the spool.

    A reader (an analyst's session) blocks writers, not other readers: reading the feeds'
    states lets a locked run respect their backoff and not rewrite their failure history,
    the states that earlier locked runs left in the spool included.
    """
    try:
        with db.read_connection(paths.db, wait_seconds=0) as con:
            states = store.source_states(con, spool.pending(spool_dir(paths)))
    except (db.WarehouseError, duckdb.Error):
        log.warning("warehouse busy (%s): fetching anyway; results wait in the spool", busy)
        return WarehouseAtStart(available=False, holder=busy.holder)
    log.warning("warehouse busy for writes (%s): results will wait in the spool", busy)
    return WarehouseAtStart(source_states=states, holder=busy.holder)


def unseen(
    paths: Paths, keys: Iterable[str], known: WarehouseAtStart, *, wait_seconds: float
) -> set[str]:
    """Keys not yet stored; when the warehouse is locked every key counts as new (loads dedupe)."""
    keys = set(keys)
    if not keys or not known.available:
        return keys
    try:
        with db.read_connection(paths.db, wait_seconds=wait_seconds) as con:
            return store.unseen_keys(con, keys)
    except db.WarehouseBusy:
        return keys


def recent_signatures(
    paths: Paths, known: WarehouseAtStart, since: datetime, *, wait_seconds: float | None = None
) -> list[Signature]:
    """Signatures of recently stored articles; none when the warehouse is locked."""
    if not known.available:
        return []
    try:
        with db.read_connection(paths.db, wait_seconds=_wait(wait_seconds)) as con:
            rows = store.recent_signatures(con, since, SIGNATURE_SCHEME)
    except db.WarehouseBusy:
        return []
    return [Signature(key, story, shingles, tuple(hashes)) for key, story, shingles, hashes in rows]


def save(
    paths: Paths,
    name: str,
    rows: Batch,
    *,
    wait_seconds: float | None = None,
) -> Saved:
    """Spool the run's rows, then load every pending batch; if locked, they stay spooled.

    Unwritable when not even the spool can be written; a WarehouseError naming the spooled
    batch when the warehouse cannot take it (a full disk, a damaged file): it loads next run.
    """
    try:
        batch = spool.write_batch(spool_dir(paths), name, rows)
    except OSError as exc:
        if (why := why_unwritable(exc)) is None:
            raise
        fix = "make it writable; the next run fetches this run's new pages again"
        message = unwritable_message(why, spool_dir(paths), "this run's results to", fix)
        raise Unwritable(f"{message}; nothing of this run was stored") from exc
    try:
        with db.write_connection(paths.db, wait_seconds=_wait(wait_seconds)) as con:
            db.migrate(con)
            loaded, refused = _load_pending(con, paths)
            mine = loaded.get(batch, store.LoadCounts())
    except db.WarehouseBusy as exc:
        log.warning("%s: this run's results are kept in %s for the next run", exc, batch)
        return Saved(stored=False, batch=batch, holder=exc.holder)
    except db.WarehouseError as exc:
        kept = f"{exc}; this run's results are kept in {batch} and load on the next run"
        raise (Unwritable if isinstance(exc, Unwritable) else db.WarehouseError)(kept) from exc
    quarantined = tuple(refused.values())
    if batch in refused:
        return Saved(stored=False, quarantined=quarantined, refused=refused[batch])
    return Saved(stored=True, articles=mine.articles, matches=mine.matches, quarantined=quarantined)


# Entries whose pages a run had no time for (flows/collect/pages.py, Budget): never stored, so
# their keys stay new, and kept here so that the next run takes them even if the feed has moved on.
_DEFERRED = TypeAdapter(list[Entry])


def deferred_path(paths: Paths) -> Path:
    return paths.data_dir / "deferred.json"


def load_deferred(paths: Paths) -> list[Entry]:
    """The entries an earlier run left for this one; an unreadable file is reported, not fatal."""
    path = deferred_path(paths)
    try:
        return _DEFERRED.validate_json(path.read_bytes())
    except FileNotFoundError:
        return []
    except (OSError, ValidationError) as exc:
        log.warning("%s not read (%s): its entries are taken when their feeds list them", path, exc)
        return []


def save_deferred(paths: Paths, entries: Iterable[Entry]) -> None:
    """Replace the deferred entries, whole or not at all."""
    path = deferred_path(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(_DEFERRED.dump_json(list(entries)))
    tmp.replace(path)
