"""Measuring and correcting the matcher: eval, label, labels export, topic draft and show.

They register on the `newswatch` app of flows/cli/__init__.py, which imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows.cli import DbOpt, TopicsOpt, app
from flows.config import ConfigError, resolve_paths
from warehouse.errors import NewswatchError

if TYPE_CHECKING:
    from flows.topic import Topic


def _one_topic(topics: Path | None, topic: str | None) -> Topic:
    """The topic named, or the only one; exit 2 naming the choices otherwise."""
    from flows.config import load_topics

    known = load_topics(resolve_paths(topics=topics).topics)
    chosen = [t for t in known if topic in (None, t.id)]
    if not chosen or (topic is None and len(known) > 1):
        raise ConfigError(f"name one topic with --topic: {', '.join(t.id for t in known)}")
    return chosen[0]


def _labelled(db: Path | None, topic: str | None) -> list[dict[str, Any]]:
    from warehouse import db as wdb
    from warehouse import labels

    with wdb.read_connection(resolve_paths(db=db).db, wait_seconds=30) as con:
        return labels.current_labels(con, topic)


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
    from flows.matching.evaluation import evaluate, format_report, load_corpus
    from flows.matching.labels import corpus_items

    if (corpus is None) == (not labels):
        raise ConfigError("give either --corpus FILE.jsonl or --labels")
    chosen = _one_topic(topics, topic)
    if labels:
        items = corpus_items(_labelled(db, chosen.id))
        if not items:
            raise NewswatchError(
                f"no labelled articles for {chosen.id}; add some with `newswatch label`"
            )
    else:
        try:  # CorpusError (a ConfigError) names the line and the fix itself
            items = load_corpus(corpus)  # type: ignore[arg-type]  # not None: checked above
        except OSError as exc:
            raise ConfigError(
                f"{corpus}: {exc.strerror}; fix: give --corpus a readable file"
            ) from exc
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

    from flows.matching.labels import VERDICTS, record

    if verdict not in VERDICTS:
        raise ConfigError(f"verdict {verdict!r}: use {' or '.join(VERDICTS)}")
    chosen = _one_topic(topics, topic)
    who = by or os.environ.get("USER") or getpass.getuser()
    done = record(  # UnknownArticle: exit 1, nothing written
        resolve_paths(db=db).db, chosen, url, verdict, note=note, by=who, now=datetime.now(UTC)
    )
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
        raise NewswatchError(f"{out}: {exc.strerror or exc}") from exc
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
        raise ConfigError(f"--id {topic_id!r}: use lowercase letters, digits and -, e.g. my-topic")
    try:
        path, profile = write_draft(
            seed, resolve_paths(topics=topics).topics, topic_id, force=force, lang=language
        )
    except SeedError as exc:
        raise ConfigError(f"{seed}: {exc}") from exc
    except FileExistsError as exc:
        raise NewswatchError(str(exc)) from exc
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

    known = load_topics(resolve_paths(topics=topics).topics)
    chosen = [t for t in known if name in (None, t.id)]
    if not chosen:
        raise ConfigError(f"no topic {name!r}; known: {', '.join(t.id for t in known)}")
    typer.echo("\n\n".join(show(t) for t in chosen))
