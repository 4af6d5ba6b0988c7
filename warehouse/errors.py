"""Every failure newswatch reports to its user, each class carrying the exit code it ends with.

The bottom of the layers (it imports nothing of newswatch), so that every layer may raise them;
the CLI maps them to one line and an exit code in one place (flows/failures.py).
A message names the cause and the fix on its first line; anything after it (a server's log,
say) goes to the log file only.

    NewswatchError              1  the run could not finish (the base)
    ├── ConfigError             2  a configuration file, variable or option is unusable
    │   ├── flows.delivery.period.PeriodError, flows.matching.evaluation.CorpusError
    │   ├── reports.mail.MailConfigError        the SMTP settings cannot be used safely
    │   └── ReportsUnwritable                    the reports directory cannot be written
    ├── WarehouseError          3  the warehouse cannot be used: missing, damaged, locked
    │   ├── warehouse.db.WarehouseBusy           held by another process for too long
    │   └── Unwritable                           its directory or run state: read-only,
    │                                            no permission, no space left
    ├── AnotherRun             75  another ingest holds this warehouse's run lock
    │   └── flows.runtime.runlock.AlreadyRunning
    ├── PrefectApiError         1  the run's Prefect API did not start, or went away
    │   ├── flows.runtime.prefect_server.ServerError, flows.serve.ServeError
    ├── QueryError              1  an analyst's SQL failed
    └── handled where they are raised, never shown (exit 1 if one ever escaped):
        flows.collect.feed_fetch.TransientFeedError, flows.collect.feeds.NotAFeed,
        flows.collect.fetch._Failure, warehouse.store.UnloadableBatch
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import ClassVar

EXIT_FAILED = 1  # an analyst's SQL failed, or the run's Prefect API did not start or went away
EXIT_CONFIG = 2  # bad sources.yaml, topic file, environment variable or option
EXIT_WAREHOUSE = 3  # the warehouse cannot be used (or written), or is locked for too long
EXIT_BUSY = 75  # another ingest is running on the same warehouse (EX_TEMPFAIL: try later)


class NewswatchError(Exception):
    """A failure with a one-line cause and fix; `exit_code` is what the command exits with."""

    exit_code: ClassVar[int] = EXIT_FAILED


class ConfigError(NewswatchError):
    """A configuration file or variable is unusable; the message names file, entry and fix."""

    exit_code: ClassVar[int] = EXIT_CONFIG


class WarehouseError(NewswatchError):
    """The warehouse cannot be used (missing, corrupt, unreadable, unwritable)."""

    exit_code: ClassVar[int] = EXIT_WAREHOUSE


class AnotherRun(NewswatchError):
    """Another run holds the lock this one needs; try again later."""

    exit_code: ClassVar[int] = EXIT_BUSY


class PrefectApiError(NewswatchError):
    """The Prefect API a run needs did not start, did not answer, or went away."""


class QueryError(NewswatchError):
    """An analyst's query failed; the message is DuckDB's first line."""


# errno values that mean "this place cannot be written", whatever the file
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_REFUSED = {errno.EACCES, errno.EPERM, errno.EROFS}


class Unwritable(WarehouseError):
    """A file of the warehouse or its run state cannot be written: read-only, no permission,
    no space left."""


class ReportsUnwritable(ConfigError):
    """The reports directory cannot be written (configuration: --reports, NEWSWATCH_REPORTS)."""


def why_unwritable(exc: BaseException) -> str | None:
    """'no space left on its device', 'permission denied'… when `exc` refuses a write, else None."""
    err = exc.errno if isinstance(exc, OSError) else None
    detail = str(exc)
    if err in _NO_SPACE or "No space left on device" in detail:
        return "no space left on its device"
    if err == errno.EROFS or "Read-only file system" in detail:
        return "it is on a read-only file system"
    if err in _REFUSED or "Permission denied" in detail:
        return "permission denied"
    return None


def unwritable_message(why: str, place: Path, what: str, fix: str) -> str:
    """One line: what cannot be written, why, and the fix (freeing space, when that is why)."""
    if why.startswith("no space"):
        fix = f"free space on the disk holding {place}, then run again"
    return f"cannot write {what} {place}: {why}; {fix}"
