"""Prefect defaults that work offline, set before Prefect is first imported."""

from __future__ import annotations

import os
from pathlib import Path

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
    return True
