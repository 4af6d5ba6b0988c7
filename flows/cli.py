"""The `newswatch` command. Heavy modules (Prefect, DuckDB, trafilatura) load inside commands."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from flows.config import ConfigError, Paths, Settings, load_settings, resolve_paths

# Exit codes (DESIGN.md): 0 the run completed, even with failed feeds.
EXIT_CONFIG = 2  # bad sources.yaml, topic file or environment variable
EXIT_WAREHOUSE = 3  # the warehouse cannot be opened or is locked for too long
EXIT_BUSY = 75  # another ingest is running on the same warehouse (EX_TEMPFAIL: try later)

app = typer.Typer(
    help="newswatch: news feeds → full text → topic match → DuckDB warehouse → weekly digest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SourcesOpt = Annotated[
    Path | None, typer.Option("--sources", help="sources.yaml [env NEWSWATCH_SOURCES]")
]
DbOpt = Annotated[Path | None, typer.Option("--db", help="warehouse file [env NEWSWATCH_DB]")]
TopicsOpt = Annotated[
    Path | None, typer.Option("--topics", help="topics directory [env NEWSWATCH_TOPICS]")
]


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"newswatch: {message}", err=True)
    raise typer.Exit(code)


def _settings(paths: Paths) -> Settings:
    try:
        return load_settings(paths)
    except ConfigError as exc:
        _fail(EXIT_CONFIG, str(exc))


def run_ingest(paths: Paths) -> dict[str, Any]:
    """Validate, then run the ingest flow; config and warehouse problems exit with their codes."""
    _settings(paths)  # fail before anything is written
    from flows import prefect_env

    prefect_env.configure(paths.data_dir)
    from flows.ingest import ingest as ingest_flow
    from flows.runlock import AlreadyRunning
    from warehouse.db import WarehouseError

    try:
        result: dict[str, Any] = asyncio.run(
            ingest_flow(sources=str(paths.sources), db=str(paths.db), topics=str(paths.topics))
        )
    except AlreadyRunning as exc:
        _fail(EXIT_BUSY, str(exc))
    except WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))
    except ConfigError as exc:
        _fail(EXIT_CONFIG, str(exc))
    return result


@app.command()
def ingest(sources: SourcesOpt = None, db: DbOpt = None, topics: TopicsOpt = None) -> None:
    """Fetch the feeds, extract new articles, match them and store everything."""
    result = run_ingest(resolve_paths(sources=sources, db=db, topics=topics))
    _print_ingest(result)


@app.command()
def run(sources: SourcesOpt = None, db: DbOpt = None, topics: TopicsOpt = None) -> None:
    """The main job: one ingest run, then the last seven days' matches."""
    paths = resolve_paths(sources=sources, db=db, topics=topics)
    result = run_ingest(paths)
    _print_ingest(result)
    if result["status"] == "degraded":
        typer.echo(
            "No feed could be reached: check this machine's network. Stored history follows."
        )
    from warehouse import db as wdb
    from warehouse import store

    try:
        with wdb.read_connection(paths.db, wait_seconds=30) as con:
            columns, rows = store.query(
                con,
                "SELECT topic, coalesce(published_at, first_seen_at)::DATE AS day, source, title, "
                "round(score, 2) AS score, entities FROM v_matches "
                "WHERE coalesce(published_at, first_seen_at) >= now() - INTERVAL 7 DAY "
                "ORDER BY score DESC, day DESC",
            )
    except wdb.WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))
    typer.echo(f"\nMatches of the last 7 days ({len(rows)}):")
    _print_table(columns, rows, max_rows=50, width=90)


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
    from flows.sources_check import check_feeds

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
    except wdb.WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))
    except Exception as exc:  # noqa: BLE001 (an analyst's SQL error is reported, not a traceback)
        _fail(1, f"query failed: {str(exc).splitlines()[0]}")
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
    failed = [
        f
        for f in result["feeds"]
        if f["status"] not in ("ok", "not_modified", "ill_formed", "rate_limited")
    ]
    for f in failed:
        typer.echo(f"  failed  {f['source']}: {f['status']} — {f['error'] or ''}")
    for f in result["feeds"]:
        if f["status"] in ("ill_formed", "rate_limited"):
            typer.echo(f"  warning {f['source']}: {f['status']} — {f['error'] or ''}")
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
