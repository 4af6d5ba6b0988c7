"""Copies of one story across outlets: word shingles, MinHash, LSH banding, an overlap check.

Two articles are the same story when the estimated overlap of their 5-word shingles,
|A ∩ B| / min(|A|, |B|), is at least OVERLAP. The trade's figures: Nexis groups at 80 %
content overlap, Feedly treats 85 % across different sources as a duplicate. We use 0.80:
a wire copy with its own standfirst or a trimmed ending still groups, while two outlets'
own reports of one event share a few quotes (well under 30 % in our tests) and stay apart.
Overlap (not Jaccard) because one copy is often shorter: a summary-length copy inside a
full text has Jaccard ≈ its relative size but overlap ≈ 1.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence

import numpy as np

from warehouse.records import Signature

SHINGLE = 5  # words
NUM_PERM = 128
OVERLAP = 0.80
CANDIDATE_JACCARD = 0.3  # LSH recall threshold; the overlap check decides
# LSH banding for CANDIDATE_JACCARD: 37 bands of 3 values (111 of the 128) minimise false
# positives + false negatives, integrated over Jaccard 0-0.3 and 0.3-1 (tests check the
# optimum). Two signatures are candidates when any band is equal in both.
BANDS, ROWS = 37, 3
_BAND = np.dtype((np.void, ROWS * 4))  # one band's three uint32 values as one hashable key
_PERM_CHUNK = 16
MIN_SHINGLES = 25  # shorter texts (title-only, short summaries) are their own story

_U64 = np.uint64
_BASE = _U64(0x100000001B3)  # FNV's 64-bit prime: odd, so invertible modulo 2**64
_BASE_INVERSE = _U64(pow(0x100000001B3, -1, 2**64))
_MIX = _U64(0x9E3779B97F4A7C15)  # splitmix64's constants spread the combined bits
_MUL = _U64(0xBF58476D1CE4E5B9)
_rng = np.random.default_rng(20261124)  # fixed: part of the scheme
# (a * h + b) mod 2**32, one column per permutation; uint32 arithmetic wraps by itself
_PERM_A = (_rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64) | _U64(1)).astype(np.uint32)
_PERM_B = _rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64).astype(np.uint32)
# A byte belongs to a word when it is an ASCII letter, digit or underscore, or any byte of a
# multi-byte UTF-8 character (letters of every other script; rare symbols too: harmless).
_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _WORD_BYTE[_c] = True
_WORD_BYTE[0x80:] = True


def word_hashes(text: str) -> np.ndarray:
    """A 64-bit polynomial hash of each word of the lower-cased text, in order.

    Computed for all words at once from prefix sums: with S[i] = sum of byte[j] * B^-j over
    j <= i, the hash of bytes s..e-1 is (S[e-1] - S[s-1]) * B^(e-1), all modulo 2**64.
    """
    data = np.frombuffer(text.lower().encode(), dtype=np.uint8)
    if not len(data):
        return np.zeros(0, dtype=np.uint64)
    inside = _WORD_BYTE[data]
    edges = np.diff(inside.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not len(starts):
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(len(data), _BASE, dtype=np.uint64))  # B^(i+1)
        inverse = np.cumprod(np.full(len(data), _BASE_INVERSE, dtype=np.uint64))  # B^-(i+1)
        prefix = np.cumsum((data.astype(np.uint64) + _U64(1)) * inverse, dtype=np.uint64)
        before = np.where(starts > 0, prefix[np.maximum(starts - 1, 0)], _U64(0))
        return (prefix[ends - 1] - before) * powers[ends - 1]


def shingle_hashes(text: str) -> np.ndarray:
    """The distinct 32-bit hashes of the text's 5-word shingles (lower-cased words)."""
    word = word_hashes(text)
    n = len(word) - SHINGLE + 1
    if n < 1:
        return np.zeros(0, dtype=np.uint32)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(SHINGLE):  # order matters: "a b c d e" and "e d c b a" differ
            h = (h ^ word[i : i + n]) * _MIX
        h ^= h >> _U64(31)
        h *= _MUL
    return np.unique((h >> _U64(32)).astype(np.uint32))


def sign(key: str, story_id: str, text: str) -> Signature | None:
    """The article's signature, or None when it is too short to compare reliably."""
    found = minhash(text)
    return None if found is None else Signature(key, story_id, *found)


def minhash(text: str) -> tuple[int, tuple[int, ...]] | None:
    """The text's number of distinct shingles and its MinHash values (what a Signature holds
    besides the keys), or None when it is too short to compare reliably."""
    found = shingle_hashes(text)
    if len(found) < MIN_SHINGLES:
        return None
    least = np.empty(NUM_PERM, dtype=np.uint32)
    # a band of permutations at a time: a live blog's 30k shingles would otherwise make a
    # 15 MB array at once, which an extraction worker's heap keeps
    with np.errstate(over="ignore"):
        for i in range(0, NUM_PERM, _PERM_CHUNK):
            a, b = _PERM_A[i : i + _PERM_CHUNK, None], _PERM_B[i : i + _PERM_CHUNK, None]
            least[i : i + _PERM_CHUNK] = (a * found + b).min(axis=1)  # rows: contiguous minima
    return len(found), tuple(least.tolist())


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
    values = np.array(sig.hashes[: BANDS * ROWS], dtype=np.uint32)
    keys: list[bytes] = values.view(_BAND).tolist()
    return keys


def group(new: Sequence[Signature], recent: Iterable[Signature]) -> dict[str, str]:
    """key → story id for the new articles, in order (earlier copies found first)."""
    grouper = Grouper(recent)
    return {sig.key: grouper.assign(sig).story_id for sig in new}
