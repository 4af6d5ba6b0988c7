"""Prefect defaults that work offline, set before Prefect is first imported."""

from __future__ import annotations

import os
from pathlib import Path


def configure(data_dir: Path) -> None:
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
