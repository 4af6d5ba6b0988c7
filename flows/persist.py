"""The ingest's warehouse edge: what it reads before a run and how a run's results are saved."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.config import Paths
from flows.stories import Signature
from warehouse import db, spool, store
from warehouse.records import SourceState

log = logging.getLogger("newswatch.ingest")

LOCK_WAIT_SECONDS = 30.0  # how long a write waits for an analyst's connection to close


@dataclass
class Known:
    """What the warehouse told us at the start of a run."""

    states: dict[str, SourceState] = field(default_factory=dict)
    available: bool = True  # False: locked; the run goes on blind and spools its results
    holder: str | None = None
    loaded_spool: int = 0


@dataclass(frozen=True)
class Saved:
    """How a run's results ended up."""

    stored: bool  # False: kept in the spool for the next run
    articles: int = 0
    matches: int = 0
    batch: Path | None = None
    holder: str | None = None


def spool_dir(paths: Paths) -> Path:
    return paths.data_dir / "spool"


def open_warehouse(paths: Paths, *, wait_seconds: float = LOCK_WAIT_SECONDS) -> Known:
    """Migrate, load what earlier runs could not save, and read the feeds' states."""
    try:
        with db.write_connection(paths.db, wait_seconds=wait_seconds) as con:
            db.migrate(con)
            loaded = 0
            for batch in spool.pending(spool_dir(paths)):
                store.load_batch(con, batch)
                spool.discard(batch)
                loaded += 1
            return Known(states=store.source_states(con), loaded_spool=loaded)
    except db.WarehouseBusy as exc:
        log.warning("warehouse busy (%s): fetching anyway; results wait in the spool", exc)
        return Known(available=False, holder=exc.holder)


def unseen(paths: Paths, keys: Iterable[str], known: Known, *, wait_seconds: float) -> set[str]:
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
    paths: Paths, known: Known, since: datetime, *, wait_seconds: float = LOCK_WAIT_SECONDS
) -> list[Signature]:
    """Signatures of recently stored articles; none when the warehouse is locked."""
    if not known.available:
        return []
    try:
        with db.read_connection(paths.db, wait_seconds=wait_seconds) as con:
            rows = store.recent_signatures(con, since)
    except db.WarehouseBusy:
        return []
    return [Signature(key, story, shingles, tuple(hashes)) for key, story, shingles, hashes in rows]


def save(
    paths: Paths,
    name: str,
    tables: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    wait_seconds: float = LOCK_WAIT_SECONDS,
) -> Saved:
    """Spool the run's rows, then load every pending batch; if locked, they stay spooled."""
    batch = spool.write_batch(spool_dir(paths), name, tables)
    try:
        with db.write_connection(paths.db, wait_seconds=wait_seconds) as con:
            db.migrate(con)
            mine = store.LoadCounts()
            for pending in spool.pending(spool_dir(paths)):
                counts = store.load_batch(con, pending)
                spool.discard(pending)
                if pending == batch:
                    mine = counts
    except db.WarehouseBusy as exc:
        log.warning("%s: this run's results are kept in %s for the next run", exc, batch)
        return Saved(stored=False, batch=batch, holder=exc.holder)
    return Saved(stored=True, articles=mine.articles, matches=mine.matches)
