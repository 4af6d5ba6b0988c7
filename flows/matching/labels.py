"""Analysts' labels: record a verdict, turn the labelled articles into a corpus, tally rescoring."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flows.matching.evaluation import Item, parse_corpus
from flows.topic import Topic
from flows.web.urls import canonical_url
from warehouse import db
from warehouse import labels as stored
from warehouse.errors import NewswatchError

VERDICTS = ("relevant", "not_relevant")


class UnknownArticle(NewswatchError, LookupError):
    """The URL names no stored article; nothing was written (exit 1)."""


@dataclass(frozen=True)
class Recorded:
    """What `newswatch label` wrote."""

    topic: str
    url: str
    title: str
    label: str
    matched_then: bool | None  # the stored verdict (None: never scored for this topic)


def record(
    path: Path,
    topic: Topic,
    url: str,
    label: str,
    *,
    note: str | None,
    by: str,
    now: datetime,
) -> Recorded:
    """Append an analyst's verdict on a stored article; UnknownArticle when none is stored."""
    if label not in VERDICTS:
        raise ValueError(f"label {label!r}: use {' or '.join(VERDICTS)}")
    if not path.exists():  # a write connection would create an empty warehouse
        raise db.WarehouseError(f"{path}: no warehouse here yet; run `newswatch ingest` first")
    key = canonical_url(url) or url
    with db.write_connection(path) as con:
        found = stored.labelled_article(con, key, topic.id)
        if found is None:
            raise UnknownArticle(
                f"no stored article under {key}; only stored articles can be labelled "
                "(v_articles lists them)"
            )
        db.migrate(con)  # a warehouse from before labels gets its table
        stored.add_label(
            con,
            topic=topic.id,
            article_key=found["key"],
            label=label,
            note=note,
            labelled_by=by,
            labelled_at=now,
            profile_version=topic.version,
            matched_then=found["matched"],
        )
    return Recorded(topic.id, found["url"] or found["key"], found["title"], label, found["matched"])


def corpus_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Labelled articles in the corpus format of relevance/README.md (`why` is the note)."""
    out = []
    for r in rows:
        published = r["published_at"]
        out.append(
            {
                "id": r["url"] or r["key"],
                "url": r["url"],
                "title": r["title"],
                "title_source": "page",
                "text": r["text"] or "",
                "language": r["language"],
                "published_date": published.date().isoformat() if published else None,
                "label": r["label"],
                "why": r["note"],
                "topic_tag": r["source"],  # the report's per-tag table becomes per outlet
                "source": r["source"],  # for the topic's mutes
                "topic": r["topic"],
                "labelled_by": r["labelled_by"],
                "labelled_at": r["labelled_at"].isoformat(),
                "profile_version": r["profile_version"],
            }
        )
    return out


def corpus_items(rows: Sequence[dict[str, Any]]) -> list[Item]:
    """The same items `eval --corpus` reads from an export of these labels."""
    return parse_corpus(json.dumps(r, ensure_ascii=False) for r in corpus_rows(rows))


def write_corpus(rows: Sequence[dict[str, Any]], out: Path) -> int:
    """Write the labelled articles as JSONL (atomically); the number written."""
    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in corpus_rows(rows)]
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(out)
    return len(lines)


@dataclass
class LabelTally:
    """How a rescoring changes the verdicts on labelled articles: fixed, broken, still wrong."""

    labels: dict[str, str]  # article key -> relevant / not_relevant
    checked: int = 0
    right: int = 0  # labelled articles the new verdict agrees with
    fixed: list[tuple[str, str]] = field(default_factory=list)  # (url, title)
    broken: list[tuple[str, str]] = field(default_factory=list)

    def observe(self, key: str, shown: tuple[str, str], before: bool, after: bool) -> None:
        """Count one rescored article (nothing when it has no label)."""
        label = self.labels.get(key)
        if label is None:
            return
        wanted = label == "relevant"
        self.checked += 1
        self.right += after == wanted
        if before != wanted and after == wanted:
            self.fixed.append(shown)
        elif before == wanted and after != wanted:
            self.broken.append(shown)
