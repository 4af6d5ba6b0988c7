"""The `newswatch` command. Heavy modules (Prefect, DuckDB, trafilatura) load inside commands."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows import failures
from flows.config import ConfigError, Paths, Settings, load_settings, resolve_paths
from warehouse.errors import NewswatchError, PrefectApiError, QueryError

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


def _settings(paths: Paths) -> Settings:
    return load_settings(paths)  # ConfigError: exit 2 (flows/failures.py)


def run_ingest(paths: Paths, *, fan_out: int = 0, api: PrefectApi | None = None) -> dict[str, Any]:
    """Validate, then run the ingest flow; config and warehouse problems exit with their codes."""
    _settings(paths)  # fail before anything is written
    failures.check_writable(paths)
    from flows.runtime.prefect_api import PrefectApi

    with contextlib.ExitStack() as stack:
        if api is None:  # fanned out, the workers need a server the user runs
            api = stack.enter_context(PrefectApi(paths.data_dir, temporary=not fan_out))
        from flows.collect.extraction import forkserver

        if not fan_out:  # fanned out, the pages are extracted on the workers
            forkserver()  # the extraction workers' parent loads trafilatura while Prefect starts
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
                    fan_out=fan_out,
                )
            )
    return result


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
) -> None:
    """Fetch the feeds, extract new articles, match them and store everything."""
    result = run_ingest(resolve_paths(sources=sources, db=db, topics=topics), fan_out=fan_out)
    _print_ingest(result)


ReportsOpt = Annotated[
    Path | None, typer.Option("--reports", help="reports directory [env NEWSWATCH_REPORTS]")
]


def run_digest(paths: Paths, *, api: PrefectApi | None = None, **options: Any) -> dict[str, Any]:
    """Validate, then run the digest flow."""
    settings = _settings(paths)
    from datetime import UTC, datetime

    from flows.delivery.period import choose
    from flows.runtime import prefect_api

    period_options = {k: v for k, v in options.items() if k in ("week", "until", "days", "recent")}
    choose(settings.digest.timezone, now=datetime.now(UTC), **period_options)  # PeriodError: 2
    failures.check_writable(paths, reports=True)
    with contextlib.ExitStack() as stack:
        if api is None:
            api = stack.enter_context(prefect_api.PrefectApi(paths.data_dir))
        from flows.digest import digest as digest_flow

        _ready(api)
        with _api_gone(api):
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
            f"digest {t['topic']} {result['label']} ({result['period']}): "
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
    """The main job: one ingest run, then the digest of the seven days ending now."""
    paths = resolve_paths(sources=sources, db=db, topics=topics, reports=reports)
    _settings(paths)  # fail before anything is written or started
    failures.check_writable(paths, reports=True)
    from flows.runtime.prefect_api import PrefectApi

    with PrefectApi(paths.data_dir) as api:  # one Prefect API for both flows
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
    _settings(paths)
    failures.check_writable(paths)
    from flows.runtime import prefect_api

    prefect_api.configure(paths.data_dir)
    from flows.serve import schedules_from_env
    from flows.serve import serve as serve_schedules

    serve_schedules(paths, schedules_from_env(os.environ))  # ConfigError 2, ServeError 1


@app.command("eval")
def evaluate_cmd(
    corpus: Annotated[Path, typer.Option("--corpus", help="labelled JSONL corpus")],
    topics: TopicsOpt = None,
    topic: Annotated[str | None, typer.Option(help="topic id (default: the only one)")] = None,
) -> None:
    """Precision, recall and F1 of the matcher on a labelled corpus, beside a keyword alert."""
    from flows.config import load_topics
    from flows.matching.evaluation import evaluate, format_report, load_corpus

    paths = resolve_paths(topics=topics)
    known = load_topics(paths.topics)
    chosen = [t for t in known if topic in (None, t.id)]
    if not chosen or (topic is None and len(known) > 1):
        raise ConfigError(f"name one topic with --topic: {', '.join(t.id for t in known)}")
    try:
        items = load_corpus(corpus)  # CorpusError: exit 2
    except OSError as exc:
        raise ConfigError(f"{corpus}: {exc.strerror}; fix: give --corpus a readable file") from exc
    typer.echo(format_report(evaluate(chosen[0], items)))


@app.command()
def rescore(
    db: DbOpt = None,
    sources: SourcesOpt = None,
    topics: TopicsOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would change")] = False,
) -> None:
    """Re-apply the current topic profiles to every stored article; fetches nothing."""
    from flows.rescore import rescore as rescore_all

    settings = _settings(resolve_paths(db=db, sources=sources, topics=topics))
    changes = rescore_all(settings, dry_run=dry_run)  # WarehouseError: exit 3
    verb = ("would add", "would drop") if dry_run else ("added", "dropped")
    for c in changes:
        typer.echo(
            f"{c.topic} (profile {c.version}): {c.scored} articles scored, "
            f"{c.outdated} by an older profile; {verb[0]} {len(c.added)}, "
            f"{verb[1]} {len(c.dropped)}"
        )
        for sign, items in (("+", c.added), ("-", c.dropped)):
            for url, title in items:
                typer.echo(f"  {sign} {title} <{url}>")
    if dry_run:
        typer.echo("dry run: nothing written")


@app.command()
def export(
    db: DbOpt = None,
    out: Annotated[Path, typer.Option("--out", help="directory for the Parquet files")] = Path(
        "warehouse/export"
    ),
) -> None:
    """Write the warehouse's tables and views as Parquet files (zstd), one per table."""
    from warehouse import db as wdb
    from warehouse import store

    paths = resolve_paths(db=db)
    with wdb.read_connection(paths.db, wait_seconds=30) as con:
        written = store.export_parquet(con, out)
    for name, rows in written:
        typer.echo(f"{out / (name + '.parquet')}: {rows} rows")


@app.command()
def explain(
    url: Annotated[str, typer.Argument(help="the article's URL (tracking parameters are ignored)")],
    db: DbOpt = None,
) -> None:
    """Why an article matched or not: entities, aliases, sentences and the parts of its score."""
    from flows.matching.explain import describe
    from flows.web.urls import canonical_url
    from warehouse import db as wdb
    from warehouse import store

    paths = resolve_paths(db=db)
    key = canonical_url(url) or url
    with wdb.read_connection(paths.db, wait_seconds=30) as con:
        found = store.explain_rows(con, key)
    if not found:
        raise NewswatchError(f"no stored article under {key}")
    typer.echo(describe(found))


@app.command("sources")
def sources_cmd(
    sources: SourcesOpt = None,
    check: Annotated[bool, typer.Option("--check", help="fetch every feed once, live")] = False,
) -> None:
    """List the configured feeds; with --check, fetch each once and say how it answered."""
    paths = resolve_paths(sources=sources)
    settings = _settings(paths)
    if not check:
        _print_table(
            ["name", "language", "url"],
            [(f.name, f.language, f.url) for f in settings.feeds],
            max_rows=1000,
            width=120,
        )
        return
    from flows.collect.sources_check import check_feeds

    results = asyncio.run(check_feeds(settings))
    _print_table(
        ["name", "status", "entries", "newest item", "detail"], results, max_rows=1000, width=80
    )
    bad = [r for r in results if r[1] not in ("ok", "ill_formed")]
    typer.echo(f"{len(results) - len(bad)} of {len(results)} feeds answered with entries")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help='e.g. "SELECT * FROM v_matches"')],
    db: DbOpt = None,
    max_rows: Annotated[int, typer.Option(help="rows to print at most")] = 200,
    width: Annotated[int, typer.Option(help="characters shown per cell at most")] = 120,
) -> None:
    """Run a read-only SQL query against the warehouse and print it as a table."""
    from warehouse import db as wdb
    from warehouse import store

    paths = resolve_paths(db=db)
    try:
        with wdb.read_connection(paths.db, wait_seconds=30) as con:
            columns, rows = store.query(con, query)
    except wdb.WarehouseError:
        raise
    except Exception as exc:  # an analyst's SQL error is reported, not a traceback
        raise QueryError(f"query failed: {str(exc).splitlines()[0]}") from exc
    _print_table(columns, rows, max_rows=max_rows, width=width)


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_table(
    columns: list[str], rows: list[tuple[Any, ...]], *, max_rows: int, width: int
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for r in rows[:max_rows]:
        table.add_row(*(_cell(v, width) for v in r))
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    more = f" (showing {max_rows})" if len(rows) > max_rows else ""
    console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}{more}")


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
    if result["skipped"]:
        typer.echo(f"  backing off after failures: {', '.join(result['skipped'])}")
    typer.echo(result["summary"])
    if not result["stored"]:
        typer.echo(
            f"  the warehouse was locked by {result['lock_holder'] or 'another process'}; "
            f"results are safe in {result['spool_batch']} and load on the next run"
        )


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
