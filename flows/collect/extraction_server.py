"""Imported once by the extraction forkserver, never elsewhere.

Loading trafilatura and the language model here, before any worker exists, means every
worker forks with them already in memory (shared, copy-on-write) instead of loading its own
copy, and the first page of each worker does not pay for it.

The forkserver also watches its parent, the run's main process: if that dies (even by
SIGKILL), the forkserver kills itself, and its workers follow (flows/collect/lifeline.py).
"""

import flows.collect.workers  # noqa: F401  # the pool's side (pebble) loaded once, too
from flows.collect.extraction import warm_up
from flows.collect.lifeline import watch_parent

watch_parent()
warm_up()
