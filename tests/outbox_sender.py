"""One digest delivery in a process of its own, for tests of two senders at once.

python -m tests.outbox_sender <warehouse> <smtp port>  → its results as JSON lines
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from flows.delivery.outbox import deliver
from tests.test_mail import RENDERED, settings

TOPIC, PERIOD = "uk-poland", "2026-W47"
READERS = ("ana@readers.example", "bob@readers.example")


def main(db: str, port: str) -> None:
    results = deliver(
        Path(db),
        settings(int(port), *READERS),
        topic=TOPIC,
        period=PERIOD,
        rendered=RENDERED,
        list_id="UK-Poland defence <uk-poland.news.example>",
        retries=0,
        timeout=30.0,
    )
    for result in results:
        print(json.dumps(dataclasses.asdict(result)), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
