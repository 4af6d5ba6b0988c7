"""The `newswatch` command. Heavy modules (Prefect, DuckDB, trafilatura) load inside commands."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from flows.config import ConfigError, Paths, Settings, load_settings, resolve_paths

if TYPE_CHECKING:
    from flows.runtime.prefect_api import PrefectApi
    from flows.topic import Topic

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


def run_ingest(
    paths: Paths, *, fan_out: int = 0, api: PrefectApi | None = None, retry_failed: bool = False
) -> dict[str, Any]:
    """Validate, then run the ingest flow; config and warehouse problems exit with their codes."""
    _settings(paths)  # fail before anything is written
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
                _fail(EXIT_CONFIG, "--fan-out needs a Prefect server: set PREFECT_API_URL")
        with _exit_codes(api):
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


@contextlib.contextmanager
def _exit_codes(api: PrefectApi) -> Iterator[None]:
    """A flow's known failures as DESIGN.md's exit codes, each with its one-line reason."""
    from flows.runtime.runlock import AlreadyRunning
    from warehouse.db import WarehouseError

    try:
        yield
    except AlreadyRunning as exc:
        _fail(EXIT_BUSY, str(exc))
    except WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))
    except ConfigError as exc:
        _fail(EXIT_CONFIG, str(exc))
    except Exception as exc:
        if why := api.explain(exc):  # its Prefect API went away
            _fail(1, why)
        raise


def _ready(api: PrefectApi) -> None:
    from flows.runtime.prefect_server import ServerError

    try:
        api.ready()
    except ServerError as exc:
        _fail(1, str(exc))


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
    settings = _settings(paths)
    from datetime import UTC, datetime

    from flows.delivery.period import PeriodError, choose
    from flows.runtime import prefect_api

    try:
        period_options = {
            k: v for k, v in options.items() if k in ("week", "until", "days", "recent")
        }
        choose(settings.digest.timezone, now=datetime.now(UTC), **period_options)
    except PeriodError as exc:
        _fail(EXIT_CONFIG, str(exc))
    with contextlib.ExitStack() as stack:
        if api is None:
            api = stack.enter_context(prefect_api.PrefectApi(paths.data_dir))
        from flows.digest import digest as digest_flow

        _ready(api)
        with _exit_codes(api):
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
    _settings(paths)  # fail before anything is written or started
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
    from flows.runtime import prefect_api

    prefect_api.configure(paths.data_dir)
    from flows.serve import ServeError, schedules_from_env
    from flows.serve import serve as serve_schedules

    try:
        schedules = schedules_from_env(os.environ)
    except ConfigError as exc:
        _fail(EXIT_CONFIG, str(exc))
    try:
        serve_schedules(paths, schedules)
    except ServeError as exc:
        _fail(1, str(exc))


def _one_topic(topics: Path | None, topic: str | None) -> Topic:
    """The topic named, or the only one; exit 2 naming the choices otherwise."""
    from flows.config import load_topics

    try:
        known = load_topics(resolve_paths(topics=topics).topics)
    except ConfigError as exc:
        _fail(EXIT_CONFIG, str(exc))
    chosen = [t for t in known if topic in (None, t.id)]
    if not chosen or (topic is None and len(known) > 1):
        _fail(EXIT_CONFIG, f"name one topic with --topic: {', '.join(t.id for t in known)}")
    return chosen[0]


def _labelled(db: Path | None, topic: str | None) -> list[dict[str, Any]]:
    from warehouse import db as wdb
    from warehouse import labels

    try:
        with wdb.read_connection(resolve_paths(db=db).db, wait_seconds=30) as con:
            return labels.current_labels(con, topic)
    except wdb.WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))


@app.command("eval")
def evaluate_cmd(
    corpus: Annotated[Path | None, typer.Option("--corpus", help="labelled JSONL corpus")] = None,
    labels: Annotated[
        bool, typer.Option("--labels", help="the labelled articles in the warehouse instead")
    ] = False,
    topics: TopicsOpt = None,
    topic: Annotated[str | None, typer.Option(help="topic id (default: the only one)")] = None,
    db: DbOpt = None,
) -> None:
    """Precision, recall and F1 of the matcher on a labelled corpus, beside a keyword alert."""
    from flows.matching.evaluation import CorpusError, evaluate, format_report, load_corpus
    from flows.matching.labels import corpus_items

    if (corpus is None) == (not labels):
        _fail(EXIT_CONFIG, "give either --corpus FILE.jsonl or --labels")
    chosen = _one_topic(topics, topic)
    if labels:
        items = corpus_items(_labelled(db, chosen.id))
        if not items:
            _fail(1, f"no labelled articles for {chosen.id}; add some with `newswatch label`")
    else:
        try:
            items = load_corpus(corpus)  # type: ignore[arg-type]  # not None: checked above
        except (CorpusError, OSError) as exc:
            _fail(EXIT_CONFIG, str(exc))
    typer.echo(format_report(evaluate(chosen, items)))


@app.command()
def label(
    url: Annotated[str, typer.Argument(help="a stored article's URL")],
    verdict: Annotated[str, typer.Argument(metavar="relevant|not_relevant")],
    topic: Annotated[str | None, typer.Option(help="topic id (default: the only one)")] = None,
    note: Annotated[str | None, typer.Option(help="why, in a few words")] = None,
    by: Annotated[str | None, typer.Option(help="who labels [default: $USER]")] = None,
    db: DbOpt = None,
    topics: TopicsOpt = None,
) -> None:
    """Record an analyst's verdict on a stored article (v_labels); it survives rescoring."""
    import getpass
    from datetime import UTC, datetime

    from flows.matching.labels import VERDICTS, UnknownArticle, record
    from warehouse.db import WarehouseError

    if verdict not in VERDICTS:
        _fail(EXIT_CONFIG, f"verdict {verdict!r}: use {' or '.join(VERDICTS)}")
    chosen = _one_topic(topics, topic)
    who = by or os.environ.get("USER") or getpass.getuser()
    try:
        done = record(
            resolve_paths(db=db).db, chosen, url, verdict, note=note, by=who, now=datetime.now(UTC)
        )
    except UnknownArticle as exc:
        _fail(1, str(exc))
    except WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))
    said = {None: "never scored", True: "a match", False: "no match"}[done.matched_then]
    agrees = (
        ""
        if done.matched_then is None
        else (" (agrees)" if done.matched_then == (verdict == "relevant") else " (disagrees)")
    )
    typer.echo(
        f"{done.topic}: {done.url} labelled {verdict} by {who} "
        f"(profile {chosen.version}); stored verdict: {said}{agrees}"
    )


labels_app = typer.Typer(help="Analysts' labels kept in the warehouse.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")


@labels_app.command("export")
def labels_export(
    out: Annotated[Path, typer.Argument(help="the JSONL file to write (corpus format)")],
    topic: Annotated[str | None, typer.Option(help="only this topic's labels")] = None,
    db: DbOpt = None,
) -> None:
    """Write the labels in force as a corpus that `newswatch eval --corpus` reads."""
    from flows.matching.labels import write_corpus

    rows = _labelled(db, topic)
    try:
        written = write_corpus(rows, out)
    except OSError as exc:
        _fail(1, f"{out}: {exc.strerror or exc}")
    typer.echo(f"{out}: {written} labelled articles")


topic_app = typer.Typer(
    help="Topic profiles: draft one from its seed, show one.", no_args_is_help=True
)
app.add_typer(topic_app, name="topic")


@topic_app.command("draft")
def topic_draft(
    seed: Annotated[Path, typer.Option("--seed", help="the seed article, plain UTF-8 text")],
    topic_id: Annotated[str, typer.Option("--id", help="the new topic's id, e.g. my-topic")],
    topics: TopicsOpt = None,
    language: Annotated[str | None, typer.Option(help="the seed's language [detected]")] = None,
    force: Annotated[bool, typer.Option(help="replace an existing topic file")] = False,
) -> None:
    """Write topics/<id>.yaml drafted from a seed article: its entities, sides and aliases."""
    import re

    from flows.matching.draft import write_draft
    from flows.matching.seed_entities import SeedError

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,79}", topic_id):
        _fail(EXIT_CONFIG, f"--id {topic_id!r}: use lowercase letters, digits and -, e.g. my-topic")
    try:
        path, profile = write_draft(
            seed, resolve_paths(topics=topics).topics, topic_id, force=force, lang=language
        )
    except SeedError as exc:
        _fail(EXIT_CONFIG, f"{seed}: {exc}")
    except FileExistsError as exc:
        _fail(1, str(exc))
    groups = profile["groups"]
    typer.echo(
        f"{path}: {len(profile['entities'])} entities in groups {', '.join(groups)}; "
        f"required: {', '.join(profile['rule']['require'])}"
    )
    typer.echo(f"review it with `newswatch topic show {topic_id}`")


@topic_app.command("show")
def topic_show(
    name: Annotated[str | None, typer.Argument(help="topic id [every topic]")] = None,
    topics: TopicsOpt = None,
) -> None:
    """Each entity of a topic: where it came from (the seed or by hand), groups and aliases."""
    from flows.config import load_topics
    from flows.matching.draft import show

    try:
        known = load_topics(resolve_paths(topics=topics).topics)
    except ConfigError as exc:
        _fail(EXIT_CONFIG, str(exc))
    chosen = [t for t in known if name in (None, t.id)]
    if not chosen:
        _fail(EXIT_CONFIG, f"no topic {name!r}; known: {', '.join(t.id for t in known)}")
    typer.echo("\n\n".join(show(t) for t in chosen))


@app.command()
def rescore(
    db: DbOpt = None,
    sources: SourcesOpt = None,
    topics: TopicsOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would change")] = False,
) -> None:
    """Re-apply the current topic profiles to every stored article; fetches nothing."""
    from flows.rescore import rescore as rescore_all
    from warehouse.db import WarehouseError

    settings = _settings(resolve_paths(db=db, sources=sources, topics=topics))
    try:
        changes = rescore_all(settings, dry_run=dry_run)
    except WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))
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
    from warehouse import store

    paths = resolve_paths(db=db)
    if query is not None:
        _export_query(paths.db, query, out, name, fmt)
        return
    try:
        with wdb.read_connection(paths.db, wait_seconds=30) as con:
            written = store.export_parquet(con, out)
    except wdb.WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))
    for table, rows in written:
        typer.echo(f"{out / (table + '.parquet')}: {rows} rows")


def _export_query(db: Path, query: str, out: Path, name: str, fmt: str) -> None:
    from warehouse import db as wdb
    from warehouse import store

    if fmt not in ("parquet", "csv"):
        _fail(EXIT_CONFIG, f"--format {fmt}: expected parquet or csv")
    if not name or Path(name).name != name or name.startswith("."):
        _fail(EXIT_CONFIG, f"--name {name!r}: expected a plain file name, e.g. weekly_matches")
    out.mkdir(parents=True, exist_ok=True)
    target = (out / f"{name}.{fmt}").resolve()
    tmp = target.with_name(target.name + ".tmp")
    try:  # the query runs sandboxed like `sql`: it may write the one staging file, nothing else
        with wdb.analyst_connection(db, wait_seconds=30, writable=tmp) as con:
            rows = store.export_query(con, query, tmp, fmt)
    except wdb.WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))
    except wdb.QueryRefused as exc:
        tmp.unlink(missing_ok=True)
        _fail(1, f"query refused: {exc}")
    except Exception as exc:  # noqa: BLE001 (an analyst's SQL error is reported, not a traceback)
        tmp.unlink(missing_ok=True)
        _fail(1, f"query failed: {str(exc).splitlines()[0]}")
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
    from warehouse import store

    paths = resolve_paths(db=db)
    key = canonical_url(url) or url
    try:
        with wdb.read_connection(paths.db, wait_seconds=30) as con:
            found = store.explain_rows(con, key)
    except wdb.WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))
    if not found:
        _fail(1, f"no stored article under {key}")
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
    """Run a read-only SQL query against the warehouse and print it as a table, values verbatim.

    It reads the warehouse and nothing else (no files, network, ATTACH or extensions);
    `newswatch export --query` writes a query's rows to a file."""
    from warehouse import db as wdb
    from warehouse import store

    paths = resolve_paths(db=db)
    try:
        with wdb.analyst_connection(paths.db, wait_seconds=30) as con:
            columns, rows = store.query(con, query)
    except wdb.WarehouseError as exc:
        _fail(EXIT_WAREHOUSE, str(exc))
    except wdb.QueryRefused as exc:
        _fail(1, f"query refused: {exc}")
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
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
