"""`newswatch sql` reads the warehouse and nothing else, and shows values exactly as stored."""

# ruff: noqa: S608  (the hostile SQL is built on purpose: that is what these tests send)

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.test_warehouse import article
from warehouse import db, spool, store
from warehouse.evidence import Evidence
from warehouse.rows import ArticleKeyRow, Batch, MatchRow

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
HOSTILE_TITLES = (
    "UK and Poland sign pact [video] [/video]",
    "Defence chiefs :fire: meet in Warsaw",
    "Closing tag [/x] and [bold]markup[/bold]",
)


def _warehouse(path: Path) -> None:
    """A real warehouse: migrations, views, three matched articles with hostile titles."""
    articles = [
        article(f"https://a.example/{i}", title=t, published_at=NOW - timedelta(days=i))
        for i, t in enumerate(HOSTILE_TITLES)
    ]
    keys = tuple(ArticleKeyRow(key=a.key, article_key=a.key) for a in articles)
    matches = tuple(
        MatchRow(
            topic="t",
            article_key=a.key,
            score=0.5 + i / 10,
            matched=True,
            entities=("Poland",),
            evidence=Evidence(),
            profile_version="v1",
            scored_at=NOW,
        )
        for i, a in enumerate(articles)
    )
    batch = spool.write_batch(
        path.parent / "spool",
        "b",
        Batch(articles=tuple(articles), article_keys=keys, matches=matches),
    )
    with db.write_connection(path) as con:
        db.migrate(con)
        store.load_batch(con, batch)


def _sql(path: Path, query: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["sql", query, "--db", str(path)])
    return result.exit_code, result.output


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    _warehouse(path)
    return path


def _matches(path: Path) -> int:
    with db.read_connection(path) as con:
        row = con.execute("SELECT count(*) FROM matches").fetchone()
    return int(row[0]) if row else -1


def test_copy_to_the_warehouse_file_is_refused_and_leaves_it_whole(warehouse: Path) -> None:
    before = _digest(warehouse)
    code, out = _sql(warehouse, f"COPY (SELECT 'x') TO '{warehouse}' (FORMAT csv)")
    assert code == 1, out
    assert "query refused" in out and "export --query" in out
    assert _digest(warehouse) == before and _matches(warehouse) == 3


def test_attach_read_write_then_detach_cannot_reach_the_rows(
    warehouse: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.duckdb"
    attack = (
        f"ATTACH '{other}' AS m (READ_WRITE); USE m; DETACH w; "
        f"ATTACH '{warehouse}' AS rw (READ_WRITE); DELETE FROM rw.matches"
    )
    code, out = _sql(warehouse, attack)
    assert code == 1 and "query refused" in out, out
    assert not other.exists()
    # each step alone, in case one of them slips through
    for step in (f"ATTACH '{other}' AS m (READ_WRITE)", "ATTACH ':memory:' AS m", "DETACH w"):
        code, out = _sql(warehouse, step)
        assert code == 1, (step, out)
    assert _matches(warehouse) == 3 and not other.exists()


def test_no_file_outside_the_warehouse_is_read(warehouse: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE\n", encoding="utf-8")
    (tmp_path / "secret.csv").write_text("a\nTOP-SECRET-VALUE\n", encoding="utf-8")
    for query in (
        f"SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_text('/etc/hostname')",
        f"SELECT * FROM read_csv('{tmp_path / 'secret.csv'}')",
        f"SELECT * FROM '{tmp_path / 'secret.csv'}'",
        f"SELECT * FROM glob('{tmp_path}/*')",
    ):
        code, out = _sql(warehouse, query)
        assert code == 1 and "query refused" in out, (query, out)
        assert "TOP-SECRET-VALUE" not in out


def test_extensions_and_settings_cannot_be_changed(warehouse: Path) -> None:
    for query in ("INSTALL fts", "LOAD fts", "INSTALL httpfs"):
        code, out = _sql(warehouse, query)
        assert code == 1 and "query refused" in out, (query, out)
    for query in (
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET lock_configuration",
        "SET autoinstall_known_extensions = true",
    ):
        code, out = _sql(warehouse, query)
        assert code == 1 and "the configuration has been locked" in out, (query, out)


def test_writes_to_the_warehouse_are_refused(warehouse: Path) -> None:
    before = _digest(warehouse)
    for query in ("DELETE FROM matches", "DROP VIEW v_matches", "CREATE TABLE x AS SELECT 1"):
        code, out = _sql(warehouse, query)
        assert code == 1 and "read-only" in out, (query, out)
    assert _digest(warehouse) == before and _matches(warehouse) == 3


def test_ordinary_analytical_sql_and_every_view_still_work(warehouse: Path) -> None:
    code, out = _sql(
        warehouse,
        "WITH ranked AS (SELECT url, score, row_number() OVER (ORDER BY score DESC) AS r, "
        "sum(score) OVER () AS total FROM v_matches) SELECT url, r, round(total, 1) AS total "
        "FROM ranked WHERE r = 1",
    )
    assert code == 0, out
    assert "https://a.example/2" in out and "1 row" in out and "1.8" in out
    for view in ("v_matches", "v_articles", "v_source_health", "v_digests"):
        code, out = _sql(warehouse, f"SELECT count(*) AS n FROM {view}")
        assert code == 0, (view, out)
    code, out = _sql(warehouse, "SELECT date_trunc('week', published_at) AS w FROM v_articles")
    assert code == 0 and "3 rows" in out, out
    code, out = _sql(warehouse, "SELECT current_setting('TimeZone') AS tz")
    assert code == 0 and "UTC" in out, out


def test_values_are_printed_verbatim_never_as_markup(warehouse: Path) -> None:
    code, out = _sql(warehouse, "SELECT title FROM v_articles ORDER BY published_at DESC")
    assert code == 0, out
    for title in HOSTILE_TITLES:
        assert title in out
    assert "🔥" not in out
    code, out = _sql(warehouse, "SELECT '[/x]' AS \"[/y]\", ':fire:' AS \"[red]c[/red]\"")
    assert code == 0, out
    assert "[/x]" in out and "[/y]" in out and ":fire:" in out and "[red]c[/red]" in out


def test_export_query_writes_the_rows_and_nothing_else(warehouse: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["export", "--db", str(warehouse), "--out", str(out_dir), "--query",
         "SELECT url, title FROM v_matches ORDER BY score DESC", "--name", "top", "--format", "csv"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = (out_dir / "top.csv").read_text(encoding="utf-8")
    assert written.splitlines()[0] == "url,title"
    assert "https://a.example/2" in written.splitlines()[1] and len(written.splitlines()) == 4
    assert "3 rows" in result.output
    before = _digest(warehouse)
    for query in (
        f"SELECT 1) TO '{warehouse}' (FORMAT csv); SELECT (1",
        f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'",
        f"SELECT * FROM read_text('{out_dir / 'top.csv'}')",
    ):
        result = CliRunner().invoke(
            app, ["export", "--db", str(warehouse), "--out", str(out_dir), "--query", query]
        )
        assert result.exit_code == 1, (query, result.output)
    assert _digest(warehouse) == before and not (tmp_path / "x.csv").exists()
    assert sorted(p.name for p in out_dir.iterdir()) == ["top.csv"]
