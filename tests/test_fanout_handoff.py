"""The ingest's side of a fan-out handoff: a collect run that completed but left no usable
`.out.json` must not cost its entries (no Prefect server here: run_deployment is stubbed)."""

from __future__ import annotations

import asyncio
import types
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from prefect.logging import disable_run_logger
from prefect.states import Completed

from flows import fanout
from flows.collect.pages import Collection
from flows.config import Settings
from warehouse.records import Entry


def _entry(n: int) -> Entry:
    url = f"https://a.example/{n}"
    return Entry(
        key=url,
        source="A",
        feed_url="https://a.example/feed",
        url=url,
        link=url,
        guid=None,
        title=f"Title {n}",
        summary=f"The feed's summary of story {n}, kept when the page is not collected.",
        published_at=None,
    )


@pytest.mark.parametrize(
    "out_json",
    [None, b"", b"\x00\xff{", b'{"host": "x", "pid": 1, "worker_pid": 1, "pages": [["no"]]}'],
    ids=["missing", "empty", "garbage", "not-ours"],
)
def test_a_completed_collect_run_without_a_usable_handoff_keeps_its_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out_json: bytes | None
) -> None:
    async def run_deployment(name: str, *, parameters: dict[str, Any], **_: Any) -> Any:
        if out_json is not None:
            Path(f"{parameters['handoff']}.out.json").write_bytes(out_json)
        return types.SimpleNamespace(id=uuid.uuid4(), name="pages 1/1", state=Completed())

    monkeypatch.setattr(fanout, "run_deployment", run_deployment)
    settings = cast(Settings, types.SimpleNamespace(paths=types.SimpleNamespace(sources="s.yaml")))
    collect = fanout.collect_on_workers(settings, 1, tmp_path / "handoff")
    entries = [_entry(n) for n in range(3)]
    collection = Collection(now=datetime(2026, 1, 5, tzinfo=UTC), run_id="run-1")
    with disable_run_logger():
        asyncio.run(collect(entries, collection))

    assert sorted(key for key, _ in collection.articles) == sorted(e.key for e in entries)
    for _, article in collection.articles:
        assert article.text.startswith("The feed's summary of story"), article
    assert [(e.key, page.status) for e, page in collection.fetches] == [
        (e.key, "not_collected") for e in entries
    ]
    for _, page in collection.fetches:
        assert page.error is not None and "out.json is missing or unreadable" in page.error
    assert list((tmp_path / "handoff").iterdir()) == []  # the handoff files are cleaned up
