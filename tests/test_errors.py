"""The one error path through the real CLI: each failure a user can cause or meet at run time
prints one line naming the cause and the fix, exits with the code the README documents,
writes nothing half and loses nothing (the spool keeps what could not be loaded).

The faults are real: small tmpfs mounts made read-only or filled up, an immutable directory
(root ignores permission bits, not `chattr +i`), warehouse files truncated or overwritten, an
SMTP relay that does not offer STARTTLS, and two processes started at the same instant.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT
from tests.faults_support import Room, duplicates, rows, sources_yaml, story
from tests.test_mail import smtp_server
from tests.test_warehouse import held_lock
from warehouse import db, spool

ENV = {"NEWSWATCH_TOPICS": str(ROOT / "topics"), "NEWSWATCH_SOURCES": str(ROOT / "sources.yaml")}
WEEK = ["--week", "2026-W47"]

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounts a tmpfs (root, as on the CI machines)"
)
# Tests that run a flow in this process carry test_faults.py's markers: Prefect 3.9.1's flow
# engine leaves one API-client socket unclosed per run.


def system(*argv: str, check: bool = True) -> None:
    subprocess.run(argv, check=check)


@contextlib.contextmanager
def tmpfs(directory: Path, size: str = "4m") -> Iterator[Path]:
    """A small file system of its own at `directory`, gone afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    system("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory))
    try:
        yield directory
    finally:
        system("umount", "-l", str(directory), check=False)


def remount_read_only(directory: Path) -> None:
    system("mount", "-o", "remount,ro", str(directory))


def fill(directory: Path, *, leave: int = 0) -> Path:
    """Fill the file system holding `directory` until `leave` bytes are free."""
    filler = directory / "filler"
    free = shutil.disk_usage(directory).free
    with filler.open("wb") as out, contextlib.suppress(OSError):
        out.write(bytes(max(0, free - leave)))
    return filler


@contextlib.contextmanager
def immutable(directory: Path) -> Iterator[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    system("chattr", "+i", str(directory))
    try:
        yield directory
    finally:
        system("chattr", "-i", str(directory))


def one_line(output: str) -> str:
    """The failure's line: exactly one, and no traceback on the terminal."""
    assert "Traceback" not in output, output
    said = [line for line in output.splitlines() if line.startswith("newswatch: ")]
    assert len(said) == 1, output
    return said[0]


def cli(*argv: str, **env: str) -> Any:
    return CliRunner().invoke(app, list(argv), env={**ENV, **env})


@dataclass(frozen=True)
class Done:
    exit_code: int
    output: str


@pytest.fixture
def newswatch(prefect_server: None) -> Callable[..., Done]:
    """`python -m flows.cli …` in a process of its own, on the session's Prefect server (a
    flow run in this process would print through a console handler of an earlier test)."""
    from prefect.settings import PREFECT_API_URL

    url = str(PREFECT_API_URL.value())

    def run(*argv: str, **extra: str) -> Done:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
        env.update(ENV, PREFECT_API_URL=url, PYTHONUNBUFFERED="1", **extra)
        done = subprocess.run(
            [sys.executable, "-m", "flows.cli", *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
        return Done(done.returncode, done.stdout.decode(errors="replace"))

    return run


def new_warehouse(path: Path) -> Path:
    with db.write_connection(path) as con:
        db.migrate(con)
    return path


def digest(path: Path, reports: Path, *extra: str) -> Any:
    return cli("digest", "--db", str(path), "--reports", str(reports), *WEEK, *extra)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- places that cannot be written ------------------------------------------------------------


@needs_root
@pytest.mark.parametrize("how", ["read-only mount", "immutable directory"])
def test_an_unwritable_reports_directory_is_one_line_before_anything_starts(
    tmp_path: Path, how: str
) -> None:
    reports = tmp_path / "reports"
    with contextlib.ExitStack() as stack:
        if how == "read-only mount":
            stack.enter_context(tmpfs(reports))
            remount_read_only(reports)
            why = "it is on a read-only file system"
        else:
            stack.enter_context(immutable(reports))
            why = "permission denied"
        warehouse = new_warehouse(tmp_path / "kept" / "w.duckdb")
        done = digest(warehouse, reports, "--no-send")
        assert done.exit_code == 2, done.output
        line = one_line(done.output)
        assert f"cannot write reports to {reports}: {why}" in line
        assert "--reports" in line and "NEWSWATCH_REPORTS" in line

        fresh = tmp_path / "fresh"  # the main job: refused before its ingest starts
        ran = cli("run", "--db", str(fresh / "w.duckdb"), "--reports", str(reports))
        assert ran.exit_code == 2, ran.output
        assert f"cannot write reports to {reports}" in one_line(ran.output)
        assert not fresh.exists()  # no warehouse, no spool, no Prefect home
        assert sorted(p.name for p in reports.iterdir()) == []


@needs_root
def test_a_read_only_warehouse_directory_is_one_line_with_code_3(tmp_path: Path) -> None:
    place = tmp_path / "warehouse"
    with tmpfs(place):
        warehouse = new_warehouse(place / "w.duckdb")
        before = sha256(warehouse)
        remount_read_only(place)
        reports = tmp_path / "reports"
        for argv in (
            ["ingest", "--db", str(warehouse)],
            ["digest", "--db", str(warehouse), "--reports", str(reports), *WEEK, "--no-send"],
        ):
            done = cli(*argv)
            assert done.exit_code == 3, done.output
            line = one_line(done.output)
            assert f"cannot write the warehouse's run state in {place / '.data'}" in line
            assert "read-only file system" in line and "NEWSWATCH_DB" in line
            assert "Prefect" not in line  # the cause, not the first thing that tripped on it
        # Reading needs no writing: analysts still query it.
        read = cli("sql", "SELECT count(*) AS n FROM v_articles", "--db", str(warehouse))
        assert read.exit_code == 0, read.output
        assert sha256(warehouse) == before
    assert not reports.exists() or list(reports.iterdir()) == []  # no report, not even half


@needs_root
def test_a_full_disk_before_a_run_is_one_line_with_code_3(tmp_path: Path) -> None:
    place = tmp_path / "warehouse"
    with tmpfs(place, size="2m"):
        warehouse = new_warehouse(place / "w.duckdb")
        fill(place)
        done = cli("ingest", "--db", str(warehouse))
        assert done.exit_code == 3, done.output
        line = one_line(done.output)
        assert "no space left on its device" in line and "free space on the disk holding" in line


@needs_root
def test_a_full_disk_inside_a_transaction_says_so_and_keeps_nothing_half(tmp_path: Path) -> None:
    # A COMMIT that fails ends the transaction; the ROLLBACK after it used to fail as well
    # ("cannot rollback - no transaction is active") and hide the reason.
    place = tmp_path / "warehouse"
    with tmpfs(place, size="3m"):
        warehouse = new_warehouse(place / "w.duckdb")
        fill(place, leave=64 * 1024)  # less than one of DuckDB's 256 KB blocks
        with (
            pytest.raises(db.WarehouseError) as caught,
            db.write_connection(warehouse) as con,
            db.transaction(con),
        ):
            con.execute("CREATE TABLE big AS SELECT repeat('x', 1000) AS t FROM range(2000)")
        assert "no space left on its device" in str(caught.value)
        assert "no transaction is active" not in str(caught.value)
        (place / "filler").unlink()
        assert rows(warehouse, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'big'") == [
            (0,)
        ]


# --- the warehouse file itself ----------------------------------------------------------------


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 4])
    else:  # the first blocks after the headers overwritten, as by a stray `dd`
        path.write_bytes(data[:4096] + b"garbage!" * 4096 + data[4096 + 8 * 4096 :])


@pytest.mark.parametrize("how", ["truncated", "overwritten"])
def test_a_damaged_warehouse_is_one_line_with_code_3_and_never_rewritten(
    tmp_path: Path, how: str
) -> None:
    warehouse = new_warehouse(tmp_path / "w.duckdb")
    damage(warehouse, how)
    before = sha256(warehouse)
    for argv in (
        ["sql", "SELECT count(*) FROM v_articles", "--db", str(warehouse)],
        ["explain", "https://example.org/a", "--db", str(warehouse)],
        ["rescore", "--db", str(warehouse)],
    ):
        done = cli(*argv)
        assert done.exit_code == 3, (argv, done.output)
        line = one_line(done.output)
        assert f"{warehouse} is damaged" in line, line
        assert "restore it from a backup" in line and "newswatch leaves it as it is" in line
    assert sha256(warehouse) == before


def damage_a_block_of(path: Path, table: str, column: str) -> None:
    """Overwrite bytes in the middle of the block holding `column`'s first stored segment: the
    file still opens (catalog and headers intact); reading that column fails DuckDB's block
    checksum. (The same bytes 4 KB into that block, where DuckDB 2.0.0 reads the segment's own
    header, made it try to allocate 256 GiB instead: docs/reliability.md.)"""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        found = con.execute(
            "SELECT min(block_id) FROM pragma_storage_info(?) WHERE column_name = ? "
            "AND block_id >= 0",
            [table, column],
        ).fetchone()
        size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
    finally:
        con.close()
    assert found is not None and found[0] is not None and size is not None, "nothing stored"
    headers = 3 * 4096  # DuckDB's main header and its two database headers
    with path.open("r+b") as out:
        out.seek(headers + int(found[0]) * int(size[0]) + int(size[0]) // 2)
        out.write(b"garbage!" * 64)


def test_a_warehouse_damaged_in_a_data_block_is_one_line_with_code_3_when_a_command_reads_it(
    tmp_path: Path,
) -> None:
    warehouse = new_warehouse(tmp_path / "w.duckdb")
    with db.write_connection(warehouse) as con:  # ~4 MB of article text: several blocks
        con.execute(
            "INSERT INTO articles SELECT 'https://example.org/' || i, 'https://example.org/' || i, "
            "'Source', 'https://example.org/feed', NULL, 'Title ' || i, NULL, now(), now(), "
            "'en', NULL, NULL, (SELECT string_agg(md5(i::VARCHAR || j::VARCHAR), ' ') "
            "FROM range(60) t(j)), 'trafilatura', 'ok', NULL, md5(i::VARCHAR), 'story' || i, "
            "'run' FROM range(4000) t(i)"
        )
    damage_a_block_of(warehouse, "articles", "text")
    before = sha256(warehouse)

    opens = cli("sql", "SELECT count(*) FROM articles", "--db", str(warehouse))
    assert opens.exit_code == 0 and "4000" in opens.output, opens.output  # damage not met
    out = tmp_path / "export"
    for argv in (
        ["sql", "SELECT sum(length(text)) FROM articles", "--db", str(warehouse)],
        [
            "export",
            "--query",
            "SELECT text FROM articles",
            "--out",
            str(out),
            "--db",
            str(warehouse),
        ],
        ["export", "--out", str(out), "--db", str(warehouse)],
        ["rescore", "--db", str(warehouse)],
    ):
        done = cli(*argv)
        assert done.exit_code == 3, (argv, done.output)
        line = one_line(done.output)
        assert f"{warehouse} is damaged (Corrupt database file" in line, line
        assert "restore it from a backup" in line and "newswatch leaves it as it is" in line
    assert list(out.iterdir()) == []  # no half-written export left behind
    assert sha256(warehouse) == before


@pytest.mark.parametrize("how", ["truncated", "overwritten"])
@pytest.mark.prefect
def test_an_ingest_into_a_damaged_warehouse_stops_with_code_3_and_writes_nothing(
    tmp_path: Path, how: str, newswatch: Callable[..., Done]
) -> None:
    warehouse = new_warehouse(tmp_path / "w.duckdb")
    damage(warehouse, how)
    before = sha256(warehouse)
    sources = tmp_path / "sources.yaml"
    sources.write_text(sources_yaml({"Nowhere": "http://127.0.0.1:9/feed.xml"}), encoding="utf-8")
    done = newswatch("ingest", "--db", str(warehouse), "--sources", str(sources))
    assert done.exit_code == 3, done.output
    assert f"{warehouse} is damaged" in one_line(done.output)
    assert sha256(warehouse) == before
    assert spool.pending(tmp_path / ".data" / "spool") == []


# --- a disk that fills up while an ingest saves -----------------------------------------------


@contextlib.contextmanager
def a_filling_disk(
    tmp_path: Path, newswatch: Callable[..., Done], *, leave: int
) -> Iterator[tuple[Path, Callable[[], Done], Path]]:
    """A warehouse on an 8 MB tmpfs with a first run's 3 articles stored and 37 more in the feed,
    the disk then filled until `leave` bytes are free: (warehouse, its ingest, the filler)."""
    place = tmp_path / "warehouse"
    with Room() as room, tmpfs(place, size="8m"):
        warehouse = place / "w.duckdb"
        room.add_feed("/feed.xml", [room.item_for(story(n), when=n) for n in range(3)])
        sources = tmp_path / "sources.yaml"
        sources.write_text(sources_yaml({"Feed": room.url("/feed.xml")}), encoding="utf-8")

        def ingest() -> Done:
            return newswatch("ingest", "--db", str(warehouse), "--sources", str(sources))

        first = ingest()
        assert first.exit_code == 0, first.output
        room.add_items("/feed.xml", *(room.item_for(story(n), when=n) for n in range(3, 40)))
        yield warehouse, ingest, fill(place, leave=leave)


@needs_root
@pytest.mark.prefect
def test_a_disk_full_at_the_save_keeps_the_run_in_the_spool_and_loses_nothing(
    tmp_path: Path, newswatch: Callable[..., Done]
) -> None:
    # room for the spool batch, not for DuckDB
    with a_filling_disk(tmp_path, newswatch, leave=192 * 1024) as (warehouse, ingest, filler):
        spool_dir = warehouse.parent / ".data" / "spool"
        full = ingest()
        assert full.exit_code == 3, full.output
        line = one_line(full.output)
        assert "no space left on its device" in line, line
        assert "this run's results are kept in" in line and "load on the next run" in line
        kept = spool.pending(spool_dir)
        assert len(kept) == 1 and str(kept[0]) in line
        filler.unlink()
        assert rows(warehouse, "SELECT count(*) FROM v_articles") == [(3,)]  # nothing half

        after = ingest()
        assert after.exit_code == 0, after.output
        assert spool.pending(spool_dir) == []
        assert rows(warehouse, "SELECT count(*) FROM v_articles") == [(40,)]
        assert duplicates(warehouse) == {}


@needs_root
@pytest.mark.prefect
def test_a_disk_full_before_the_spool_batch_is_written_stores_nothing_half_and_the_next_run_catches_up(
    tmp_path: Path, newswatch: Callable[..., Done]
) -> None:
    # Room for the start's own check (4 KB written and removed), not for the spool batch.
    # A disk with no room at all is refused before the run starts (check_writable).
    with a_filling_disk(tmp_path, newswatch, leave=32 * 1024) as (warehouse, ingest, filler):
        spool_dir = warehouse.parent / ".data" / "spool"
        full = ingest()
        assert full.exit_code == 3, full.output
        line = one_line(full.output)
        assert "no space left on its device" in line, line
        assert "cannot write this run's results to" in line
        assert line.endswith("then run again; nothing of this run was stored"), line
        assert list(spool_dir.iterdir()) == []  # the half-written batch gave its space back
        filler.unlink()
        assert rows(warehouse, "SELECT count(*) FROM v_articles") == [(3,)]
        assert rows(warehouse, "SELECT count(*) FROM runs") == [(1,)]

        after = ingest()
        assert after.exit_code == 0, after.output
        assert rows(warehouse, "SELECT count(*) FROM v_articles") == [(40,)]
        assert duplicates(warehouse) == {} and spool.pending(spool_dir) == []


def test_a_warehouse_locked_by_another_process_is_one_line_with_code_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.cli import analysts

    monkeypatch.setattr(analysts, "LOCK_WAIT_SECONDS", 3.0)  # 30 s as shipped
    warehouse = new_warehouse(tmp_path / "w.duckdb")
    with held_lock(warehouse, seconds=120, read_only=False) as holder:
        done = cli("sql", "SELECT count(*) FROM v_articles", "--db", str(warehouse))  # waits 3 s
    assert done.exit_code == 3, done.output
    line = one_line(done.output)
    assert f"{warehouse} is locked by" in line and f"(PID {holder.pid})" in line
    assert "gave up after 3 s; try again once it has finished" in line


@pytest.mark.prefect
def test_a_refused_address_is_one_line_for_its_feed_and_the_run_completes(
    tmp_path: Path, newswatch: Callable[..., Done]
) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(  # loopback, with the default fetch settings: refused before dialling
        "feeds:\n  - name: Inward\n    url: http://127.0.0.1:9/feed.xml\n", encoding="utf-8"
    )
    done = newswatch("ingest", "--db", str(tmp_path / "w.duckdb"), "--sources", str(sources))
    assert done.exit_code == 0, done.output  # a failed feed is reported and recorded, not fatal
    assert "Traceback" not in done.output, done.output
    said = [line for line in done.output.splitlines() if line.startswith("  failed ")]
    assert said == [
        "  failed  Inward: refused_address — 127.0.0.1 is not a public address; to fetch it "
        'anyway, allow it in sources.yaml: fetch: allow_private_addresses: ["127.0.0.1"]'
    ]  # the cause and the setting that allows it


# --- SMTP that cannot be used as configured ---------------------------------------------------


@pytest.mark.prefect
def test_a_relay_without_starttls_is_one_line_with_code_2_and_the_email_stays_pending(
    tmp_path: Path, newswatch: Callable[..., Done]
) -> None:
    warehouse = new_warehouse(tmp_path / "w.duckdb")
    reports = tmp_path / "reports"
    with smtp_server() as server:
        smtp = {
            "NEWSWATCH_SMTP_HOST": "127.0.0.1",
            "NEWSWATCH_SMTP_PORT": str(server.port),
            "NEWSWATCH_SMTP_SECURITY": "starttls",
            "NEWSWATCH_DIGEST_FROM": "digest@example.org",
            "NEWSWATCH_DIGEST_TO": "ana@example.org",
        }
        done = newswatch("digest", "--db", str(warehouse), "--reports", str(reports), *WEEK, **smtp)
        assert done.exit_code == 2, done.output
        line = one_line(done.output)
        assert "does not offer STARTTLS" in line and "NEWSWATCH_SMTP_SECURITY" in line
        assert server.handler.commands == []  # nothing offered

        debug = newswatch(
            "--debug", "digest", "--db", str(warehouse), "--reports", str(reports), *WEEK, **smtp
        )
        assert debug.exit_code == 2
        assert "Traceback" in debug.output and "MailConfigError" in debug.output
    outbox = rows(warehouse, "SELECT recipient, status FROM outbox")
    assert outbox == [("ana@example.org", "pending")]  # sent by the next run that can
    log = (tmp_path / ".data" / "logs" / "newswatch.log").read_text(encoding="utf-8")
    assert "Traceback" in log and "does not offer STARTTLS" in log
    assert list(reports.rglob("*.html"))  # the digest itself was written


# --- two commands at the same instant on a fresh data directory -------------------------------


def test_two_commands_at_once_on_a_fresh_data_directory_both_start_prefect(
    tmp_path: Path,
) -> None:
    # Without a Prefect server each command starts a temporary one; on a fresh home two of them
    # used to race in Prefect's own migrations and one exited with code 3.
    warehouse = new_warehouse(tmp_path / "w.duckdb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSWATCH_", "PREFECT_"))}
    env.update(ENV, PYTHONUNBUFFERED="1", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180")
    argv = [sys.executable, "-m", "flows.cli", "digest", "--db", str(warehouse), "--no-send"]
    argv += ["--reports", str(tmp_path / "reports"), *WEEK]
    children = [
        subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [c.communicate(timeout=300)[0].decode(errors="replace") for c in children]
    for child, output in zip(children, outputs, strict=True):
        assert child.returncode == 0, output
        assert "Traceback" not in output, output
    assert (tmp_path / ".data" / "prefect" / "prefect.db").exists()
