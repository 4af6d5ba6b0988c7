"""Copies of one story across outlets: word shingles, MinHash, LSH banding, an overlap check.

Two articles are the same story when the estimated overlap of their 5-word shingles,
|A ∩ B| / min(|A|, |B|), is at least OVERLAP. The trade's figures: Nexis groups at 80 %
content overlap, Feedly treats 85 % across different sources as a duplicate. We use 0.80:
a wire copy with its own standfirst or a trimmed ending still groups, while two outlets'
own reports of one event share a few quotes (well under 30 % in our tests) and stay apart.
Overlap (not Jaccard) because one copy is often shorter: a summary-length copy inside a
full text has Jaccard ≈ its relative size but overlap ≈ 1.

The signing (shingle hashes, MinHash) needs numpy and lives in flows/collect/shingles.py,
loaded by the processes that sign; the grouping here is plain Python, so the run's main
process, which groups what the workers signed, does not load numpy for it.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterable, Sequence

from warehouse.records import Signature

SHINGLE = 5  # words
NUM_PERM = 128
OVERLAP = 0.80
CANDIDATE_JACCARD = 0.3  # LSH recall threshold; the overlap check decides
# LSH banding for CANDIDATE_JACCARD: 37 bands of 3 values (111 of the 128) minimise false
# positives + false negatives, integrated over Jaccard 0-0.3 and 0.3-1 (tests check the
# optimum). Two signatures are candidates when any band is equal in both.
BANDS, ROWS = 37, 3
_BANDED = struct.Struct(f"={BANDS * ROWS}I")  # the banded values, as numpy's uint32 bytes
MIN_SHINGLES = 25  # shorter texts (title-only, short summaries) are their own story


def sign(key: str, story_id: str, text: str) -> Signature | None:
    """The article's signature, or None when it is too short to compare reliably."""
    found = minhash(text)
    return None if found is None else Signature(key, story_id, *found)


def minhash(text: str) -> tuple[int, tuple[int, ...]] | None:
    """The text's number of distinct shingles and its MinHash values (what a Signature holds
    besides the keys), or None when it is too short to compare reliably."""
    from flows.collect import shingles  # numpy: only in a process that signs

    return shingles.minhash(text)


def overlap(a: Signature, b: Signature) -> float:
    """Estimated |A ∩ B| / min(|A|, |B|) from the MinHash Jaccard estimate and the set sizes."""
    # the share of equal values, counted in Python: 128 values are too few for numpy to pay
    # (arrays made from the tuples cost ~8x the count); the same float (n / 128 is exact)
    equal: int = sum(map(operator.eq, a.hashes, b.hashes))
    jaccard = equal / len(a.hashes)
    inter = jaccard * (a.shingles + b.shingles) / (1 + jaccard)
    return inter / min(a.shingles, b.shingles)


class Grouper:
    """Assign story ids to new articles against recent ones (and each other)."""

    def __init__(self, recent: Iterable[Signature]) -> None:
        self._bands: list[dict[bytes, list[str]]] = [{} for _ in range(BANDS)]
        self._known: dict[str, Signature] = {}
        self._rank: dict[str, int] = {}  # order in which they became known
        for sig in recent:
            self._add(sig, _band_keys(sig))

    def _add(self, sig: Signature, keys: list[bytes]) -> None:
        if sig.key not in self._known:
            self._known[sig.key] = sig
            self._rank[sig.key] = len(self._rank)
            for band, key in zip(self._bands, keys, strict=True):
                band.setdefault(key, []).append(sig.key)

    def assign(self, sig: Signature) -> Signature:
        """The signature with the story id of its closest copy, if one overlaps enough; on a
        tie, the copy known first."""
        keys = _band_keys(sig)
        candidates = {
            known
            for band, key in zip(self._bands, keys, strict=True)
            for known in band.get(key, ())
        }
        best: tuple[float, Signature] | None = None
        for known in sorted(candidates, key=self._rank.__getitem__):
            other = self._known[known]
            score = overlap(sig, other)
            if score >= OVERLAP and (best is None or score > best[0]):
                best = (score, other)
        placed = (
            sig if best is None else Signature(sig.key, best[1].story_id, sig.shingles, sig.hashes)
        )
        self._add(placed, keys)
        return placed


def _band_keys(sig: Signature) -> list[bytes]:
    """One hashable key per band: its three values' bytes."""
    packed = _BANDED.pack(*sig.hashes[: BANDS * ROWS])
    size = ROWS * 4
    return [packed[i : i + size] for i in range(0, len(packed), size)]


def group(new: Sequence[Signature], recent: Iterable[Signature]) -> dict[str, str]:
    """key → story id for the new articles, in order (earlier copies found first)."""
    grouper = Grouper(recent)
    return {sig.key: grouper.assign(sig).story_id for sig in new}
