"""Re-apply the current topic profiles to stored articles, without fetching anything."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from flows.config import Settings
from flows.matching.labels import LabelTally
from flows.matching.match import compile_topic
from flows.matching.mutes import match_article
from warehouse import db, spool, store
from warehouse import labels as stored_labels
from warehouse.rows import MatchRow

CHUNK = 2_000  # articles read at a time: memory stays flat however large the warehouse


@dataclass
class Change:
    """What rescoring did (or would do) to one topic's matches."""

    topic: str
    version: str
    scored: int = 0
    added: list[tuple[str, str]] = field(default_factory=list)  # (url or key, title)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    outdated: int = 0  # stored verdicts made by another profile version
    labels: LabelTally = field(default_factory=lambda: LabelTally({}))


def rescore(settings: Settings, *, dry_run: bool) -> list[Change]:
    """Score every stored article with each topic; write unless dry_run."""
    changes = []
    with tempfile.TemporaryDirectory(prefix="newswatch-rescore-") as tmp:
        out = Path(tmp) / "matches.jsonl"
        with out.open("w", encoding="utf-8") as sink, db.read_connection(settings.paths.db) as con:
            for topic in settings.topics:
                compiled = compile_topic(topic)
                change = Change(topic=topic.id, version=topic.version)
                change.labels = LabelTally(stored_labels.label_of(con, topic.id))
                now = datetime.now(UTC)
                for chunk in store.articles_for_scoring(con, topic.id, CHUNK):
                    for a in chunk:
                        m = match_article(
                            compiled,
                            title=a["title"],
                            text=a["text"],
                            language=a["language"],
                            url=a["url"] or a["key"],
                            source=a["source"],
                        )
                        change.scored += 1
                        change.outdated += a["profile_version"] != m.profile_version
                        label = (a["url"] or a["key"], a["title"])
                        if m.matched and not a["matched"]:
                            change.added.append(label)
                        elif a["matched"] and not m.matched:
                            change.dropped.append(label)
                        change.labels.observe(a["key"], label, a["matched"], m.matched)
                        sink.write(spool.line(MatchRow.of(a["key"], m, now)))
                changes.append(change)
        if not dry_run:
            with db.write_connection(settings.paths.db) as con:
                db.migrate(con)
                store.replace_matches(con, out)
    return changes
