"""How saves write the file: the v1.5 format, small row groups, keys checked in the index."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from flows.config import Paths
from tests.test_warehouse import article, tables
from warehouse import batches, db, spool, store
from warehouse.rows import Batch, FetchLogRow, RunRow


def _row_groups(path: Path, table: str) -> list[int]:
    """Rows per row group of a table, as stored in the file."""
    with db.read_connection(path) as con:
        return [
            int(n)
            for (n,) in con.execute(
                "SELECT max(count) FROM pragma_storage_info(?) WHERE column_name = 'key' "
                "GROUP BY row_group_id ORDER BY row_group_id",
                [table],
            ).fetchall()
        ]


def test_saves_keep_the_v1_5_format_and_append_in_small_row_groups(paths: Paths) -> None:
    first = [f"https://a.example/{n}" for n in range(db.ROW_GROUP_SIZE + 100)]
    assert batches.save(paths, "1", tables(*first)).articles == len(first)
    assert batches.save(paths, "2", tables("https://a.example/late", run="r2")).articles == 1

    with db.read_connection(paths.db) as con:  # a plain connection, as an analyst's tools open it
        tags = con.execute(
            "SELECT tags FROM duckdb_databases() WHERE path = ?", [str(paths.db)]
        ).fetchone()
    assert tags is not None and tags[0]["storage_version"].startswith("v1.5.0")
    # A later session appends to the small last row group and its checkpoint leaves the full one
    # alone: with DuckDB's default size both saves would sit in one row group, rewritten by each.
    assert _row_groups(paths.db, "articles") == [db.ROW_GROUP_SIZE, 101]
    assert max(_row_groups(paths.db, "article_keys")) == db.ROW_GROUP_SIZE


def test_rows_already_stored_or_repeated_in_a_batch_are_stored_once(paths: Paths) -> None:
    assert batches.save(paths, "1", tables("https://a.example/1", "https://a.example/2")).stored
    again = tables("https://a.example/2", "https://a.example/3", run="r2")
    repeated = replace(
        again,
        articles=(
            replace(again.articles[0], title="changed"),  # stored already: left as it was
            again.articles[1],
            article("https://a.example/3", title="second copy", run_id="r2"),  # first row wins
        ),
        runs=(_run("r2"),),
        fetch_log=(_page("r2", "https://a.example/3"),),
    )

    saved = batches.save(paths, "2", repeated)

    assert saved.stored and (saved.articles, saved.matches) == (1, 1)
    with db.read_connection(paths.db) as con:
        assert con.execute("SELECT url, title FROM v_articles ORDER BY url").fetchall() == [
            ("https://a.example/1", "T"),
            ("https://a.example/2", "T"),
            ("https://a.example/3", "T"),
        ]
        matches = con.execute("SELECT count(*), count(DISTINCT url) FROM v_matches").fetchone()
        assert matches == (3, 3)
        # the rest of the batch went in with it
        assert con.execute("SELECT run_id FROM runs").fetchall() == [("r2",)]
        assert con.execute("SELECT count(*) FROM fetch_log").fetchone() == (1,)


def test_a_batch_loaded_twice_adds_nothing_the_second_time(paths: Paths) -> None:
    batch = Batch(
        articles=(article("https://a.example/1"),),
        runs=(_run("r1"),),
        fetch_log=(_page("r1", "https://a.example/1"),),
    )
    written = spool.write_batch(paths.data_dir / "spool", "b", batch)
    with db.write_connection(paths.db) as con:
        db.migrate(con)
        assert store.load_batch(con, written).articles == 1
        assert store.load_batch(con, written).articles == 0
        counts = con.execute(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM runs), "
            "(SELECT count(*) FROM fetch_log)"
        ).fetchone()
    assert counts == (1, 1, 1)


def _run(run_id: str) -> RunRow:
    at = article("x").first_seen_at
    return RunRow(run_id, at, at, "ok", 1, 1, 0, 0, 1, 1)


def _page(run_id: str, url: str) -> FetchLogRow:
    at = article("x").first_seen_at
    return FetchLogRow(run_id, "page", url, "A", at, "ok", 200, None, None, 10)
