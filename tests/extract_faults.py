"""Page functions that misbehave on cue, for ExtractionPool tests; workers import them by name."""

from __future__ import annotations

import os
import signal
import time

from flows.collect.extraction import extract_page
from warehouse.records import Extracted

HANG = b"<!-- fault: hang -->"
EXIT = b"<!-- fault: exit -->"
SEGFAULT = b"<!-- fault: segfault -->"
RAISE = b"<!-- fault: raise -->"


def faulty_extract(html: bytes, url: str | None, *, max_bytes: int) -> Extracted:
    """extract_page, except for pages that carry a fault marker."""
    if html.startswith(HANG):
        time.sleep(3600)
    elif html.startswith(EXIT):
        os._exit(1)
    elif html.startswith(SEGFAULT):
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(60)  # the signal is delivered asynchronously
    elif html.startswith(RAISE):
        raise ValueError("this page is cursed")
    return extract_page(html, url, max_bytes=max_bytes)


def report_pid(html: bytes, url: str | None, *, max_bytes: int) -> Extracted:
    """Which worker process handled the page, to observe recycling."""
    return Extracted(status="ok", text=str(os.getpid()))


def report_scheduling(html: bytes, url: str | None, *, max_bytes: int) -> Extracted:
    """The worker's pid and the scheduling policy of the thread that extracts its pages."""
    return Extracted(status="ok", text=f"{os.getpid()} {os.sched_getscheduler(0)}")


class DiesOnArrival(bytes):
    """A page whose worker dies while unpickling it, before it takes the task: pebble cannot
    tell which task killed it and breaks the whole pool (BrokenProcessPool)."""

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return (os._exit, (1,))
