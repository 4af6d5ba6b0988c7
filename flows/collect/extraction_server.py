"""Imported once by the extraction forkserver, never elsewhere.

Loading trafilatura and the language model here, before any worker exists, means every
worker forks with them already in memory (shared, copy-on-write) instead of loading its own
copy, and the first page of each worker does not pay for it.
"""

from flows.collect.extraction import warm_up

warm_up()
