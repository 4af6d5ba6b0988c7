"""Imported once by the extraction forkserver, never elsewhere.

The server stays small: a run's peak memory is the sum of its processes' RSS, and whatever the
server loaded would count once in it and again in each worker forked from it (RSS counts
shared pages in every process). So trafilatura and the language model load in the workers
(flows.collect.workers.start_worker), and the workers skip the parent's main module.

The forkserver also watches its parent, the run's main process: if that dies (even by
SIGKILL), the forkserver kills itself, and its workers follow (flows/collect/lifeline.py).
"""

import multiprocessing.spawn

import flows.collect.workers  # noqa: F401  # the pool's side (pebble) loaded once
from flows.collect.lifeline import watch_parent


def _skip_main(main_path: str) -> None:
    """Every function a worker runs lives in an importable module (flows.collect, tests'
    fault injectors), so the parent's main module is never needed there; multiprocessing
    would run it in each worker (the `newswatch` script: typer, pydantic, the config: ~25 MB
    and ~0.3 s apiece)."""


multiprocessing.spawn._fixup_main_from_path = _skip_main  # type: ignore[attr-defined]
watch_parent()
