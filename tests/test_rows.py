"""Typed rows: each row type has exactly its table's columns; evidence decodes from any version."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_warehouse import NOW, tables
from warehouse import db, spool
from warehouse.evidence import EntityEvidence, Evidence, Muted, ScoreParts, Window
from warehouse.rows import TABLES, Batch, FetchLogRow, RunRow, SignatureRow


def test_every_row_type_has_exactly_its_tables_columns(tmp_path: Path) -> None:
    with db.write_connection(tmp_path / "w.duckdb") as con:
        db.migrate(con)
        columns = {
            table: {
                name
                for (name,) in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                    [table],
                ).fetchall()
            }
            for table in TABLES
        }
    batch = tables("https://a.example/1")
    run = RunRow("r1", NOW, NOW, "ok", 1, 1, 0, 0, 1, 1)
    log = FetchLogRow("r1", "page", "k", "A", NOW, "ok", 200, None, None, 5)
    signature = SignatureRow("k", "s", 30, (1, 2), "poly64-affine32", NOW)
    full = Batch(
        sources=batch.sources,
        runs=(run,),
        fetch_log=(log,),
        articles=batch.articles,
        article_keys=batch.article_keys,
        matches=batch.matches,
        article_signatures=(signature,),
    )
    written = spool.write_batch(tmp_path / "spool", "b", full)
    for table in TABLES:
        (line,) = (written / f"{table}.jsonl").read_text(encoding="utf-8").splitlines()
        assert set(json.loads(line)) == columns[table], table


def test_evidence_round_trips_through_its_stored_json() -> None:
    evidence = Evidence(
        language="pl",
        entities={"Poland": EntityEvidence(groups=("pl",), count=2, aliases={"Polska": 2})},
        missing=("defence",),
        windows=(Window(where="lead", unit="sentence", weight=0.5, text="Polska i…"),),
        parts=ScoreParts(title=0.1, lead=0.5, body=0.0, positive=0.55, penalties={"sport": 0.2}),
        threshold=0.5,
    )
    stored = json.dumps(evidence.to_json(), ensure_ascii=False)
    assert Evidence.from_json(stored) == evidence
    assert list(json.loads(stored)) == [
        "language",
        "entities",
        "missing",
        "windows",
        "parts",
        "rules",
        "threshold",
    ]


def test_evidence_of_rows_from_any_version_decodes() -> None:
    assert Evidence.from_json(None) == Evidence()
    assert Evidence.from_json("{}") == Evidence()
    partial = Evidence.from_json(
        {"windows": [{"where": "lead", "unit": "sentence", "text": "T"}], "extra": 1}
    )
    assert partial.windows == (Window(where="lead", unit="sentence", weight=None, text="T"),)
    assert partial.parts is None and partial.threshold is None


def test_rules_and_mutes_round_trip_and_are_left_out_when_none() -> None:
    muted = Evidence(
        rules={"venue": ("in London",)},
        muted=Muted(mute="sources[0]", entry="Tabloid Daily", found="Tabloid Daily"),
    )
    stored = json.dumps(muted.to_json())
    assert Evidence.from_json(stored) == muted
    assert json.loads(stored)["muted"] == {
        "mute": "sources[0]",
        "entry": "Tabloid Daily",
        "found": "Tabloid Daily",
    }
    assert "muted" not in Evidence().to_json()
