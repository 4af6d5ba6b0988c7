"""The analysts' commands on the warehouse: rescore, export, explain, sources and sql.

They register on the `newswatch` app of flows/cli/__init__.py, which imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from flows.cli import DbOpt, SourcesOpt, TopicsOpt, app, checked_settings
from flows.config import ConfigError, resolve_paths
from warehouse.errors import NewswatchError, QueryError, WarehouseError

# how long an analyst's command waits for a run's write to finish before saying who holds it
LOCK_WAIT_SECONDS = 30.0


@app.command()
def rescore(
    db: DbOpt = None,
    sources: SourcesOpt = None,
    topics: TopicsOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would change")] = False,
) -> None:
    """Re-apply the current topic profiles to every stored article; fetches nothing."""
    from flows.rescore import rescore as rescore_all

    settings = checked_settings(resolve_paths(db=db, sources=sources, topics=topics))
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
        if c.labels.checked:
            lab = c.labels
            typer.echo(
                f"  labelled: {lab.right} of {lab.checked} agree with the new verdicts; "
                f"{'would fix' if dry_run else 'fixed'} {len(lab.fixed)}, "
                f"{'would break' if dry_run else 'broke'} {len(lab.broken)}"
            )
            for sign, items in (("fixed", lab.fixed), ("broken", lab.broken)):
                for url, title in items:
                    typer.echo(f"    {sign}: {title} <{url}>")
    if dry_run:
        typer.echo("dry run: nothing written")


@app.command()
def export(
    db: DbOpt = None,
    out: Annotated[Path, typer.Option("--out", help="directory for the Parquet files")] = Path(
        "warehouse/export"
    ),
    query: Annotated[
        str | None,
        typer.Option(
            "--query", help='one SELECT whose rows to write instead, e.g. "FROM v_matches"'
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="file name (without suffix) for --query")] = "query",
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv, for --query")] = "parquet",
) -> None:
    """Write the warehouse's tables and views as Parquet files (zstd), one per table;
    with --query, one query's rows as Parquet or CSV."""
    from warehouse import db as wdb
    from warehouse import queries

    paths = resolve_paths(db=db)
    if query is not None:
        _export_query(paths.db, query, out, name, fmt)
        return
    with wdb.read_connection(paths.db, wait_seconds=LOCK_WAIT_SECONDS) as con:
        written = queries.export_parquet(con, out)
    for table, rows in written:
        typer.echo(f"{out / (table + '.parquet')}: {rows} rows")


def _export_query(db: Path, query: str, out: Path, name: str, fmt: str) -> None:
    from warehouse import db as wdb
    from warehouse import queries

    if fmt not in ("parquet", "csv"):
        raise ConfigError(f"--format {fmt}: expected parquet or csv")
    if not name or Path(name).name != name or name.startswith("."):
        raise ConfigError(f"--name {name!r}: expected a plain file name, e.g. weekly_matches")
    out.mkdir(parents=True, exist_ok=True)
    target = (out / f"{name}.{fmt}").resolve()
    tmp = target.with_name(target.name + ".tmp")
    # the query runs sandboxed like `sql`: it may write the one staging file, nothing else
    with (
        _analysts_sql(cleanup=tmp),
        wdb.analyst_connection(db, wait_seconds=LOCK_WAIT_SECONDS, writable=tmp) as con,
    ):
        rows = queries.export_query(con, query, tmp, fmt)
    tmp.replace(target)
    typer.echo(f"{target}: {rows} rows")


@app.command()
def explain(
    url: Annotated[str, typer.Argument(help="the article's URL (tracking parameters are ignored)")],
    db: DbOpt = None,
) -> None:
    """Why an article matched or not: entities, aliases, sentences and the parts of its score."""
    from flows.matching.explain import describe
    from flows.web.urls import canonical_url
    from warehouse import db as wdb
    from warehouse import queries

    paths = resolve_paths(db=db)
    key = canonical_url(url) or url
    with wdb.read_connection(paths.db, wait_seconds=LOCK_WAIT_SECONDS) as con:
        found = queries.explain_rows(con, key)
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
    settings = checked_settings(paths)
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
    """Run a read-only SQL query against the warehouse and print it as a table, values verbatim.

    It reads the warehouse and nothing else (no files, network, ATTACH or extensions);
    `newswatch export --query` writes a query's rows to a file."""
    from warehouse import db as wdb
    from warehouse import queries

    paths = resolve_paths(db=db)
    with _analysts_sql(), wdb.analyst_connection(paths.db, wait_seconds=LOCK_WAIT_SECONDS) as con:
        columns, rows = queries.query(con, query)
    _print_table(columns, rows, max_rows=max_rows, width=width)


@contextlib.contextmanager
def _analysts_sql(cleanup: Path | None = None) -> Iterator[None]:
    """An analyst's query that fails or is refused is one line, exit 1 (not a traceback); the
    warehouse's own failures (missing, locked, damaged: exit 3) pass as they are. `cleanup`, a
    file the query was writing, is removed when it fails."""
    from warehouse.db import QueryRefused

    try:
        yield
    except Exception as exc:  # any error of the analyst's SQL, or of the warehouse
        if cleanup is not None:
            cleanup.unlink(missing_ok=True)
        if isinstance(exc, WarehouseError):
            raise
        if isinstance(exc, QueryRefused):
            raise QueryError(f"query refused: {exc}") from exc
        raise QueryError(f"query failed: {str(exc).splitlines()[0]}") from exc


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_table(
    columns: list[str], rows: list[tuple[Any, ...]], *, max_rows: int, width: int
) -> None:
    from rich.console import Console
    from rich.table import Column, Table
    from rich.text import Text

    # Text, not str: values are shown as stored, never read as rich markup or :emoji: codes.
    table = Table(*(Column(header=Text(str(c))) for c in columns), show_lines=False)
    for r in rows[:max_rows]:
        table.add_row(*(Text(_cell(v, width)) for v in r))
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(table)
    more = f" (showing {max_rows})" if len(rows) > max_rows else ""
    console.print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}{more}")
