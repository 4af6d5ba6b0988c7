"""The `newswatch` command. Heavy modules (Prefect, DuckDB, trafilatura) load inside commands."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows import failures
from flows.config import ConfigError, Paths, Settings, load_settings, resolve_paths
from flows.runtime import quick_start
from warehouse.errors import NewswatchError, PrefectApiError

if TYPE_CHECKING:
    from flows.runtime.prefect_api import PrefectApi

# Exit codes (README): 0 the run completed, even with failed feeds; the others are carried by
# the exceptions of warehouse/errors.py, which flows/failures.py turns into one line each.

app = typer.Typer(
    cls=failures.OneLineGroup,
    help="newswatch: news feeds → full text → topic match → DuckDB warehouse → weekly digest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="NEWSWATCH_DEBUG",
            help="on a failure, print the traceback too (it always goes to "
            "warehouse/.data/logs/newswatch.log)",
        ),
    ] = False,
) -> None:
    """newswatch: news feeds → full text → topic match → DuckDB warehouse → weekly digest."""
    failures.set_debug(debug)


SourcesOpt = Annotated[
    Path | None, typer.Option("--sources", help="sources.yaml [env NEWSWATCH_SOURCES]")
]
DbOpt = Annotated[Path | None, typer.Option("--db", help="warehouse file [env NEWSWATCH_DB]")]
TopicsOpt = Annotated[
    Path | None, typer.Option("--topics", help="topics directory [env NEWSWATCH_TOPICS]")
]


def checked_settings(paths: Paths) -> Settings:
    return load_settings(paths)  # ConfigError: exit 2 (flows/failures.py)


def run_ingest(
    paths: Paths, *, fan_out: int = 0, api: PrefectApi | None = None, retry_failed: bool = False
) -> dict[str, Any]:
    """Validate, then run the ingest flow; config and warehouse problems exit with their codes."""
    from flows.runtime.prefect_api import PrefectApi

    with contextlib.ExitStack() as stack:
        if api is None:  # fanned out, the workers need a server the user runs
            api = stack.enter_context(PrefectApi(paths.data_dir, temporary=not fan_out))
        settings = checked_settings(paths)  # fail before anything is written
        failures.check_writable(paths)
        api.start()  # in a new data directory only now (flows/runtime/prefect_api.py)
        _load_tls_context()
        if not fan_out and not api.boots_a_server:
            # With a running server, the imports below keep one core busy for ~2 s and leave
            # the other idle: the extraction workers load trafilatura there meanwhile, ready for
            # the first page. Not beside our own temporary server, which needs that core to
            # boot; and a run with nothing new stops them unused (~1 CPU-s on the idle core).
            from flows.collect import workers

            workers.start_early(settings.extract)
            stack.callback(workers.stop_early)
        from flows.ingest import ingest as ingest_flow

        _ready(api)
        if fan_out:
            from prefect.settings import PREFECT_API_URL

            if not PREFECT_API_URL.value():  # the temporary server has no workers to fan out to
                raise ConfigError("--fan-out needs a Prefect server: set PREFECT_API_URL")
        with _api_gone(api):
            result: dict[str, Any] = asyncio.run(
                ingest_flow(
                    sources=str(paths.sources),
                    db=str(paths.db),
                    topics=str(paths.topics),
                    reports=str(paths.reports),
                    fan_out=fan_out,
                    retry_failed=retry_failed,
                )
            )
    return result


def _load_tls_context() -> None:
    """The Fetchers' TLS context loads certifi's certificates (~30 ms, mostly outside the GIL)
    in a thread, while the flow's imports keep this one busy: not later, on the run's path."""
    from flows.collect.fetch import tls_context

    threading.Thread(target=tls_context, name="tls-context", daemon=True).start()


@contextlib.contextmanager
def _api_gone(api: PrefectApi) -> Iterator[None]:
    """A flow that failed because its Prefect API went away says so (other failures pass)."""
    try:
        yield
    except NewswatchError:
        raise
    except Exception as exc:
        if why := api.explain(exc):
            raise PrefectApiError(why) from exc
        raise


def _ready(api: PrefectApi) -> None:
    api.ready()  # ServerError: exit 1 with its first line
    failures.quiet_prefect_tracebacks()
    quick_start.settled()


@app.command()
def ingest(
    sources: SourcesOpt = None,
    db: DbOpt = None,
    topics: TopicsOpt = None,
    fan_out: Annotated[
        int,
        typer.Option(
            "--fan-out",
            min=0,
            help="spread the pages over N collect-pages runs on Prefect workers "
            "(needs PREFECT_API_URL; README: Scale-out)",
        ),
    ] = 0,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="fetch the feeds backing off after failures now, not later"
        ),
    ] = False,
) -> None:
    """Fetch the feeds, extract new articles, match them and store everything."""
    result = run_ingest(
        resolve_paths(sources=sources, db=db, topics=topics),
        fan_out=fan_out,
        retry_failed=retry_failed,
    )
    _print_ingest(result)


ReportsOpt = Annotated[
    Path | None, typer.Option("--reports", help="reports directory [env NEWSWATCH_REPORTS]")
]


def run_digest(paths: Paths, *, api: PrefectApi | None = None, **options: Any) -> dict[str, Any]:
    """Validate, then run the digest flow."""
    settings = checked_settings(paths)
    from datetime import UTC, datetime

    from flows.delivery.period import choose
    from flows.runtime import prefect_api

    period_options = {k: v for k, v in options.items() if k in ("week", "until", "days", "recent")}
    choose(settings.digest.timezone, now=datetime.now(UTC), **period_options)  # PeriodError: 2
    failures.check_writable(paths, reports=True)
    with contextlib.ExitStack() as stack:
        if api is None:
            api = stack.enter_context(prefect_api.PrefectApi(paths.data_dir))
        api.start()  # before Prefect is imported: it reads the settings start() makes
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        from flows.digest import digest as digest_flow

        _ready(api)
        # No flow-run heartbeat for the digest: it ends in seconds, and Prefect's sync flow
        # engine waits for its heartbeat thread's next wake-up at exit (0.5-1 s of every run).
        with _api_gone(api), temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            result: dict[str, Any] = digest_flow(
                db=str(paths.db),
                sources=str(paths.sources),
                topics=str(paths.topics),
                reports=str(paths.reports),
                **options,
            )
    return result


def _print_digest(result: dict[str, Any]) -> None:
    for t in result["topics"]:
        typer.echo(
            f"digest {t['topic']} {t.get('label', result['label'])} "
            f"({t.get('period', result['period'])}): "
            f"{t['stories']} stories → {', '.join(t['files'])}"
        )
        if "delivery" in t:
            typer.echo(f"  {t['delivery']}")
        for r in t.get("sent", []):
            typer.echo(
                f"  {r['recipient']}: {r['status']}" + (f" — {r['detail']}" if r["detail"] else "")
            )


@app.command()
def run(
    sources: SourcesOpt = None,
    db: DbOpt = None,
    topics: TopicsOpt = None,
    reports: ReportsOpt = None,
) -> None:
    """The main job: one ingest, the report of the seven days ending now; sends complete weeks."""
    paths = resolve_paths(sources=sources, db=db, topics=topics, reports=reports)
    from flows.runtime.prefect_api import PrefectApi

    with PrefectApi(paths.data_dir) as api:  # one Prefect API for both flows
        checked_settings(paths)  # fail before anything is written
        failures.check_writable(paths, reports=True)
        api.start()  # in a new data directory only now (flows/runtime/prefect_api.py)
        result = run_ingest(paths, api=api)
        _print_ingest(result)
        if result["status"] == "degraded":
            typer.echo(
                "No feed could be reached: check this machine's network. "
                "The digest below shows what was stored before."
            )
        _print_digest(run_digest(paths, api=api, recent=True, send=True, force=False))


@app.command()
def digest(
    db: DbOpt = None,
    sources: SourcesOpt = None,
    topics: TopicsOpt = None,
    reports: ReportsOpt = None,
    week: Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W47")] = None,
    until: Annotated[
        str | None, typer.Option(help="last day of a rolling window, YYYY-MM-DD")
    ] = None,
    days: Annotated[int | None, typer.Option(help="length of the rolling window")] = None,
    send: Annotated[bool, typer.Option("--send/--no-send", help="email it (needs SMTP)")] = True,
    force: Annotated[bool, typer.Option(help="send again even if already sent")] = False,
) -> None:
    """Render (and send) the digest; by default for the last complete ISO week."""
    paths = resolve_paths(sources=sources, db=db, topics=topics, reports=reports)
    _print_digest(run_digest(paths, week=week, until=until, days=days, send=send, force=force))


@app.command()
def serve(sources: SourcesOpt = None, db: DbOpt = None, topics: TopicsOpt = None) -> None:
    """Register the ingest and digest schedules with Prefect and run them."""
    paths = resolve_paths(sources=sources, db=db, topics=topics)
    checked_settings(paths)
    failures.check_writable(paths)
    from flows.runtime import prefect_api

    prefect_api.configure(paths.data_dir)
    from flows.serve import schedules_from_env
    from flows.serve import serve as serve_schedules

    serve_schedules(paths, schedules_from_env(os.environ))  # ConfigError 2, ServeError 1


def _print_ingest(result: dict[str, Any]) -> None:
    if result["status"] == "degraded":  # one cause, not a line per feed
        first = result["feeds"][0]
        typer.echo(f"  every feed failed on the network, e.g. {first['source']}: {first['error']}")
        typer.echo(result["summary"])
        return
    from flows.collect.feed_health import NOT_FAILURES

    failed = [f for f in result["feeds"] if f["status"] not in NOT_FAILURES]
    for f in failed:
        typer.echo(f"  failed  {f['source']}: {f['status']} — {f['error'] or ''}")
    for f in result["feeds"]:
        if f["status"] in ("ill_formed", "rate_limited"):
            typer.echo(f"  warning {f['source']}: {f['status']} — {f['error'] or ''}")
        elif f.get("warning"):
            typer.echo(f"  warning {f['source']}: {f['warning']}")
    for w in result.get("waiting", []):
        until = f"{w['until']:%Y-%m-%d %H:%M} UTC" if w["until"] else "later"
        if w["failures"]:
            n = w["failures"]
            why = f"{n} failure{'s' if n != 1 else ''}, last {w['last_status']}"
            typer.echo(f"  backing off after failures: {w['source']} until {until} ({why})")
        else:
            typer.echo(f"  waiting as the server asked: {w['source']} until {until}")
    if any(w["failures"] for w in result.get("waiting", [])):
        typer.echo(
            "  to try them now: `newswatch ingest --retry-failed`; a changed entry in "
            "sources.yaml (or fetch: settings) is tried at once too"
        )
    typer.echo(result["summary"])
    if result.get("refused_batch"):  # not a lock: waiting would not help
        typer.echo(
            f"  nothing of this run was stored; its batch is in {result['refused_batch']}; "
            "its REASON.txt says how to retry"
        )
    elif not result["stored"]:
        typer.echo(
            f"  the warehouse was locked by {result['lock_holder'] or 'another process'}; "
            f"results are safe in {result['spool_batch']} and load on the next run"
        )


def main() -> None:  # pragma: no cover
    """The `newswatch` command (console script and `python -m flows.cli`)."""
    quick_start.starting()  # settled once a flow's imports are done (_ready)
    try:
        app()
    except SystemExit as done:  # typer ends every command so; anything else unwinds as usual
        quick_start.leave(done.code)


# The analysts' commands register themselves on `app`: measuring and correcting the matcher
# (eval, label, labels, topic) in flows/cli/matcher.py; the warehouse's (rescore, export,
# explain, sources, sql) in flows/cli/analysts.py.
from flows.cli import analysts, matcher  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    main()
