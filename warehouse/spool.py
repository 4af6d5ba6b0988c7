"""A run's results as files on disk, written atomically before the warehouse is touched.

A batch is a directory of JSON-lines files, one per table. It is loaded in one transaction
and deleted afterwards; loading is idempotent, so a crash between the two loses nothing and
duplicates nothing. A batch that could not be loaded (the warehouse was locked) waits here
for the next run; one the warehouse refuses (corrupted on disk, or rows that no longer fit
the schema) is moved aside to a quarantine directory with the reason, so it cannot block
every later run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

TABLES = (
    "sources",
    "runs",
    "fetch_log",
    "articles",
    "article_keys",
    "matches",
    "article_signatures",
)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a spool file")


def row(record: Any, **extra: Any) -> dict[str, Any]:
    """A dataclass record as a plain row, with extra columns."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        data = dataclasses.asdict(record)
    else:
        data = dict(record)
    data.update(extra)
    return data


def write_batch(
    spool_dir: Path, name: str, tables: Mapping[str, Iterable[Mapping[str, Any]]]
) -> Path:
    """Write one batch; it appears under its final name only once complete (rename is atomic)."""
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown spool tables: {sorted(unknown)}")
    spool_dir.mkdir(parents=True, exist_ok=True)
    tmp = spool_dir / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for table, rows in tables.items():
            with (tmp / f"{table}.jsonl").open("w", encoding="utf-8") as out:
                for item in rows:
                    out.write(json.dumps(item, default=_default, ensure_ascii=False))
                    out.write("\n")
                out.flush()
                os.fsync(out.fileno())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk gets its space back at once
        raise
    final = spool_dir / name
    tmp.rename(final)
    _fsync_dir(spool_dir)
    return final


def pending(spool_dir: Path) -> list[Path]:
    """Complete batches waiting to be loaded, oldest first; half-written ones are cleared."""
    if not spool_dir.is_dir():
        return []
    batches = []
    for path in sorted(spool_dir.iterdir()):
        if path.name.startswith(".tmp-"):
            shutil.rmtree(path, ignore_errors=True)  # a writer died mid-batch: nothing was loaded
        elif path.is_dir():
            batches.append(path)
    return batches


def quarantine(batch: Path, quarantine_dir: Path, reason: str) -> Path:
    """Move a batch that cannot be loaded out of the spool, with a file saying why."""
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    (batch / "REASON.txt").write_text(
        f"{reason}\n\nTo retry after fixing it, move this directory back into {batch.parent}.\n",
        encoding="utf-8",
    )
    target = quarantine_dir / batch.name
    if target.exists():  # the same name quarantined before: keep both
        target = quarantine_dir / f"{batch.name}-{uuid.uuid4().hex[:8]}"
    batch.rename(target)
    _fsync_dir(quarantine_dir)
    return target


def discard(batch: Path) -> None:
    """Remove a batch once the warehouse has committed it."""
    shutil.rmtree(batch)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
