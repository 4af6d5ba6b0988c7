"""justext's stop-list of every language, held once in each extraction worker.

trafilatura's last fallback, justext (pages where its own extraction and readability's find too
little: 10 of the 181 real pages of bench/real_pages.py), classifies paragraphs against the stop
words of all languages, a tuple of ~154,000 words. justext's `define_stoplist` lower-cases every
word into a new string and keeps the set (lru_cache) beside that tuple: ~12 MB of duplicate
strings in every worker for the rest of its life. `share_words` makes it keep the words that are
already lower-case (all of trafilatura's are: justext's `get_stoplist` lower-cases them), so the
set is the same and each word is held once.

Called in the extraction workers only (they import justext; the run's main process never does).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=128)  # justext's own bound: one entry per stop-list
def define_stoplist(stoplist: Iterable[str]) -> frozenset[str]:
    """justext.core.define_stoplist's set, reusing the words that need no lower-casing."""
    return frozenset(word if word == (lower := word.lower()) else lower for word in stoplist)


def share_words() -> None:
    """Make justext's paragraph classifier use `define_stoplist` above."""
    import justext.core  # in a worker, where trafilatura has loaded it already

    justext.core.define_stoplist = define_stoplist
