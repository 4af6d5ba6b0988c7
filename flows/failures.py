"""How a command's failure reaches its user: one line naming the cause and the fix, the exit
code its exception carries (warehouse/errors.py), and the traceback in the log file
(`<warehouse directory>/.data/logs/newswatch.log`), or on the terminal with `--debug`.

This is the one place where exceptions become exit codes; commands raise, they do not catch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from typer import _click  # typer 0.29 carries its own copy of click
from typer.core import TyperGroup

from flows.config import Paths, resolve_paths
from warehouse.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_WAREHOUSE,
    NewswatchError,
    ReportsUnwritable,
    Unwritable,
    unwritable_message,
    why_unwritable,
)

_ARGV = "newswatch.argv"
_PASS_THROUGH = (typer.Exit, typer.Abort, _click.exceptions.ClickException)  # click's own ends


def log_file(paths: Paths) -> Path:
    """Where a failed command leaves its traceback: beside the warehouse's other run state."""
    return paths.data_dir / "logs" / "newswatch.log"


class OneLineGroup(TyperGroup):
    """The `newswatch` group: every failure of a command ends here, as one line and a code."""

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        ctx.meta[_ARGV] = list(args)  # the command's own options say where its log goes
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except Exception as exc:  # noqa: BLE001 (every failure ends here, as one line and a code)
            paths = _paths(ctx.meta.get(_ARGV, []))
            code, line = explain(exc, paths)
            debug = bool(ctx.params.get("debug"))
            saved = _save_traceback(exc, paths, ctx.meta.get(_ARGV, []))
            if debug:
                traceback.print_exception(exc, file=sys.stderr)
            elif code == EXIT_FAILED and not isinstance(exc, NewswatchError):
                line += f"; the traceback is in {saved}" if saved else "; --debug shows why"
            typer.echo(f"newswatch: {line}", err=True)
            for cause in _chain(exc):  # their frames hold connections: release them now
                if cause.__traceback__ is not None:
                    traceback.clear_frames(cause.__traceback__)
            raise typer.Exit(code) from None


def check_writable(paths: Paths, *, reports: bool = False) -> None:
    """Before anything starts: the run state beside the warehouse (spool, run lock, logs,
    Prefect's home) and, for a digest, the reports directory can be written."""
    places: list[tuple[Path, type[NewswatchError], str, str]] = []
    if reports:  # first: a run refused for its reports has not made its run state either
        reports_option = "--reports, NEWSWATCH_REPORTS"
        places.append((paths.reports, ReportsUnwritable, "reports to", reports_option))
    run_state = (paths.data_dir, Unwritable, "the warehouse's run state in", "--db, NEWSWATCH_DB")
    places.append(run_state)
    for directory, error, what, option in places:
        probe = directory / f".write-probe-{os.getpid()}"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with probe.open("wb") as out:  # a few KB, so that a disk already full says so
                out.write(bytes(4096))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            if (why := why_unwritable(exc)) is None:
                raise
            fix = f"make it writable, or choose another place ({option})"
            raise error(unwritable_message(why, directory, what, fix)) from exc
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()


def explain(exc: BaseException, paths: Paths) -> tuple[int, str]:
    """The exit code and the one line for a failure."""
    for cause in _chain(exc):
        if isinstance(cause, NewswatchError):
            return cause.exit_code, _first_line(cause)
    for cause in _chain(exc):
        why = why_unwritable(cause)
        if why is None:
            continue
        name = getattr(cause, "filename", None)
        place = Path(name) if isinstance(name, str) else paths.db.parent
        if _under(place, paths.reports):
            fix = "make it writable, or choose another with --reports or NEWSWATCH_REPORTS"
            return EXIT_CONFIG, unwritable_message(why, place, "the report", fix)
        fix = (
            "make it writable, or keep the warehouse elsewhere with --db or NEWSWATCH_DB "
            "(its run state lives beside it, in .data/)"
        )
        return EXIT_WAREHOUSE, unwritable_message(why, place, "the file", fix)
    return EXIT_FAILED, f"unexpected {type(exc).__name__}: {_first_line(exc)}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].rstrip(":") if lines else type(exc).__name__


def _under(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except (ValueError, OSError):
        return False
    return True


def _paths(argv: list[str]) -> Paths:
    """The command's paths from its own options (or the environment, or the defaults)."""
    given: dict[str, Path | None] = {"db": None, "reports": None}
    for name in given:
        flag = f"--{name}"
        for i, arg in enumerate(argv):
            if arg == flag and i + 1 < len(argv):
                given[name] = Path(argv[i + 1])
            elif arg.startswith(flag + "="):
                given[name] = Path(arg.split("=", 1)[1])
    return resolve_paths(db=given["db"], reports=given["reports"])


def _save_traceback(exc: BaseException, paths: Paths, argv: list[str]) -> Path | None:
    """Append the traceback to the log file; None when there is none to write to.

    Only into an existing run-state directory: a command that failed before creating one
    (a configuration error) leaves nothing behind.
    """
    log = log_file(paths)
    if not paths.data_dir.is_dir():
        return None
    try:
        log.parent.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        text = "".join(traceback.format_exception(exc))
        with log.open("a", encoding="utf-8") as out:
            out.write(f"--- {stamp} newswatch {' '.join(argv)}\n{text}")
    except OSError:
        return None
    return log


_debug = False  # set by the command line's --debug, for the filter below


def set_debug(debug: bool) -> None:
    global _debug
    _debug = debug


class _NoTracebackOnTerminal(logging.Filter):
    """On the terminal, a failure the CLI reports in one line is not also told by Prefect's
    task and flow loggers; other lines keep their text, without the traceback (it goes to the
    log file, and to Prefect's API)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _debug:
            return True
        if record.exc_info:
            reported = record.exc_info[1]
            record.exc_info = None
            record.exc_text = None
            if reported is not None and _reported_in_one_line(reported):
                return False
        if record.levelno >= logging.ERROR or "Finished in state Failed" in record.getMessage():
            return not _tells_a_reported_failure(record.getMessage())
        return True


def _reported_in_one_line(exc: BaseException) -> bool:
    return any(isinstance(c, NewswatchError) or why_unwritable(c) for c in _chain(exc))


def _tells_a_reported_failure(message: str) -> bool:
    """Prefect's "… encountered an exception: Name: …" lines, for the failures we report."""
    found = re.search(r"exception:? (\w+)[:(]", message)
    if found is None:
        return False
    return found[1] in _names(NewswatchError) or why_unwritable(Exception(message)) is not None


def _names(cls: type[BaseException]) -> set[str]:
    subclasses = cls.__subclasses__()
    return {cls.__name__}.union(*(_names(c) for c in subclasses))


def quiet_prefect_tracebacks() -> None:
    """Keep Prefect's console handler from printing tracebacks of failures we report ourselves."""
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, _NoTracebackOnTerminal) for f in handler.filters
        ):
            handler.addFilter(_NoTracebackOnTerminal())
