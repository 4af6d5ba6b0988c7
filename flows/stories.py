"""Copies of one story across outlets: word shingles, MinHash, LSH, then an overlap check.

Two articles are the same story when the estimated overlap of their 5-word shingles,
|A ∩ B| / min(|A|, |B|), is at least OVERLAP. The trade's figures: Nexis groups at 80 %
content overlap, Feedly treats 85 % across different sources as a duplicate. We use 0.80:
a wire copy with its own standfirst or a trimmed ending still groups, while two outlets'
own reports of one event share a few quotes (well under 30 % in our tests) and stay apart.
Overlap (not Jaccard) because one copy is often shorter: a summary-length copy inside a
full text has Jaccard ≈ its relative size but overlap ≈ 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

SHINGLE = 5  # words
NUM_PERM = 128
SCHEME = "affine32"  # stored hashes are only comparable under the same scheme and seed
OVERLAP = 0.80
CANDIDATE_JACCARD = 0.3  # LSH recall threshold; the overlap check decides
MIN_SHINGLES = 25  # shorter texts (title-only, short summaries) are their own story
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Signature:
    """What grouping keeps of an article: its story, shingle count and MinHash values."""

    key: str
    story_id: str
    shingles: int
    hashes: tuple[int, ...]


def shingles(text: str) -> set[bytes]:
    words = [w.lower() for w in _WORD.findall(text)]
    return {" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)}


def sign(key: str, story_id: str, text: str) -> Signature | None:
    """The article's signature, or None when it is too short to compare reliably."""
    found = shingles(text)
    if len(found) < MIN_SHINGLES:
        return None
    m = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
    m.update_batch(list(found))
    return Signature(key, story_id, len(found), tuple(int(h) for h in m.hashvalues))


def overlap(a: Signature, b: Signature) -> float:
    """Estimated |A ∩ B| / min(|A|, |B|) from the MinHash Jaccard estimate and the set sizes."""
    jaccard = float(np.mean(np.array(a.hashes) == np.array(b.hashes)))
    inter = jaccard * (a.shingles + b.shingles) / (1 + jaccard)
    return inter / min(a.shingles, b.shingles)


class Grouper:
    """Assign story ids to new articles against recent ones (and each other)."""

    def __init__(self, recent: Iterable[Signature]) -> None:
        self._lsh = MinHashLSH(threshold=CANDIDATE_JACCARD, num_perm=NUM_PERM)
        self._known: dict[str, Signature] = {}
        for sig in recent:
            self._add(sig)

    def _add(self, sig: Signature) -> None:
        if sig.key not in self._known:
            self._known[sig.key] = sig
            self._lsh.insert(sig.key, self._minhash(sig))

    @staticmethod
    def _minhash(sig: Signature) -> MinHash:
        return MinHash(
            num_perm=NUM_PERM, hashvalues=np.array(sig.hashes, dtype=np.uint32), scheme=SCHEME
        )

    def assign(self, sig: Signature) -> Signature:
        """The signature with the story id of its closest copy, if one overlaps enough."""
        best: tuple[float, Signature] | None = None
        for key in self._lsh.query(self._minhash(sig)):
            other = self._known[key]
            score = overlap(sig, other)
            if score >= OVERLAP and (best is None or score > best[0]):
                best = (score, other)
        placed = (
            sig if best is None else Signature(sig.key, best[1].story_id, sig.shingles, sig.hashes)
        )
        self._add(placed)
        return placed


def group(new: Sequence[Signature], recent: Iterable[Signature]) -> dict[str, str]:
    """key → story id for the new articles, in order (earlier copies found first)."""
    grouper = Grouper(recent)
    return {sig.key: grouper.assign(sig).story_id for sig in new}
