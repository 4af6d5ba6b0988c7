"""The digest's period queries and the ingest's key lookups, on rows chosen for their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.test_warehouse import article
from warehouse import db, spool, store
from warehouse.evidence import Evidence
from warehouse.rows import ArticleKeyRow, ArticleRow, Batch, MatchRow, SignatureRow

START = datetime(2026, 11, 16, tzinfo=UTC)
END = START + timedelta(days=7)
TOPIC = "t"


def _row(key: str, published: datetime | None, seen: datetime, story: str) -> ArticleRow:
    return article(key, title=key, published_at=published, first_seen_at=seen, story_id=story)


def _load(path: Path, rows: list[tuple[str, datetime | None, datetime, str, bool]]) -> None:
    articles = [_row(k, published, seen, story) for k, published, seen, story, _ in rows]
    matches = tuple(
        MatchRow(
            topic=TOPIC,
            article_key=k,
            score=0.9 if matched else 0.1,
            matched=matched,
            entities=("Poland",),
            evidence=Evidence(),
            profile_version="v1",
            scored_at=seen,
        )
        for k, _, seen, _, matched in rows
    )
    keys = tuple(ArticleKeyRow(key=a.key, article_key=a.key) for a in articles)
    batch = spool.write_batch(
        path.parent / "spool",
        "b",
        Batch(articles=tuple(articles), article_keys=keys, matches=matches),
    )
    with db.write_connection(path) as con:
        db.migrate(con)
        store.load_batch(con, batch)


def test_a_period_holds_articles_by_publication_time_else_first_seen_time(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    inside, before, after = (
        START + timedelta(days=2),
        START - timedelta(days=300),
        END + timedelta(hours=1),
    )
    _load(
        path,
        [
            ("https://a.example/in", inside, inside, "s1", True),
            ("https://a.example/copy", inside, inside + timedelta(hours=1), "s1", True),
            ("https://a.example/at-start", START, inside, "s2", True),
            ("https://a.example/at-end", END, inside, "s3", True),  # the end is excluded
            ("https://a.example/old-relisted", before, inside, "s4", True),
            ("https://a.example/seen-late", inside, after, "s5", True),
            ("https://a.example/undated", None, inside, "s6", True),
            ("https://a.example/undated-before", None, before, "s7", True),
            ("https://a.example/not-matched", inside, inside, "s8", False),
        ],
    )
    with db.read_connection(path) as con:
        rows = store.period_matches(con, TOPIC, START, END)
        counts = store.period_counts(con, TOPIC, START, END)
    at = {r["key"].rsplit("/", 1)[1]: r["at"] for r in rows}
    assert at == {
        "in": inside,
        "copy": inside,
        "at-start": START,
        "seen-late": inside,
        "undated": inside,  # its first-seen time stands in
    }
    assert list(rows[0]) == [
        "key", "url", "title", "source", "at", "score", "entities", "evidence", "story_id",
        "language",
    ]  # fmt: skip
    # Articles: the five matched ones above and the unmatched one; stories: s1, s2, s5, s6.
    assert counts == (6, 4)
    with db.read_connection(path) as con:
        times = store.matched_story_times(con, TOPIC, START, END)
    # What the trend chart counts per week: the same stories as the digest, each copy's time.
    assert sorted(times) == [("s1", inside), ("s2", START), ("s5", inside), ("s6", inside)]
    assert len({story for story, _ in times}) == counts[1]


def test_unseen_keys_are_right_beyond_the_index_lookup_limit(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    stored = [f"https://a.example/{i}" for i in range(50)]
    _load(path, [(k, START, START, k, False) for k in stored])
    new = [f"https://b.example/{i}" for i in range(3000)]  # > index_scan_max_count (2048)
    with db.read_connection(path) as con:
        assert store.unseen_keys(con, stored[:10] + new[:5]) == set(new[:5])
        assert store.unseen_keys(con, stored + new + new[:3]) == set(new)
        assert store.unseen_keys(con, []) == set()


def test_recent_signatures_come_back_as_plain_python_values(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    hashes = [0, 1, 2**32 - 1, *range(125)]
    rows = tuple(
        SignatureRow(
            key=f"https://a.example/{i}",
            story_id=f"s{i}",
            shingles=40 + i,
            hashes=tuple(hashes),
            signed_at=START + timedelta(days=i),
            scheme="new" if i else "old",
        )
        for i in range(3)
    )
    batch = spool.write_batch(tmp_path / "spool", "b", Batch(article_signatures=rows))
    with db.write_connection(path) as con:
        db.migrate(con)
        store.load_batch(con, batch)
    with db.read_connection(path) as con:
        recent = store.recent_signatures(con, START + timedelta(days=1), "new")
        none = store.recent_signatures(con, END, "new")
    assert sorted(recent) == [
        ("https://a.example/1", "s1", 41, hashes),
        ("https://a.example/2", "s2", 42, hashes),
    ]
    assert all(type(v) is int for _, _, shingles, hs in recent for v in [shingles, *hs])
    assert all(type(k) is str and type(s) is str for k, s, _, _ in recent)
    assert none == []
