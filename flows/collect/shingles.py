"""MinHash signatures of texts, with numpy: see flows/collect/stories.py for the scheme.

Imported where texts are signed (the extraction workers; the run's main process only for an
article made from its feed entry's summary), not by the grouping: numpy costs ~0.1 s and
~15 MB in a process that would not otherwise load it.
"""

from __future__ import annotations

import numpy as np

from flows.collect.stories import MIN_SHINGLES, NUM_PERM, SHINGLE

_PERM_CHUNK = 16
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
