"""py3langid's language identifier, loaded from an uncompressed copy of its model.

py3langid ships its model LZMA-compressed: decompressing it took 0.5 of the ~0.7 CPU-s each
extraction worker spends starting, and every run starts its workers anew. The first worker
that finds no copy writes the decompressed model (the same .npz file, ~70 MB) to the user's
cache directory; later ones read from it only what their texts need. Its two large tables
(the DFA's transitions, 39 MB; each feature's scores per language, 28 MB) stay in the file:
a row is read (pread) the first time the walk reaches its state or a text has its feature,
and kept. On 181 real pages in 8 languages that is ~20 MB of rows; mapping the file instead
(session 6) kept ~54 MB of it resident in every worker, because the kernel maps the 64 KB
around each page a walk touches. The walk and the scores are py3langid's own over those rows,
so the answers are the same (tests compare every score). Without a writable cache directory
the packaged model is read as before.

The copy is only ever replaced by a rename, never rewritten in place, and each identifier
keeps it open: one deleted or replaced meanwhile stays readable through it.

On the packaged model's path the DFA's two per-state tables (104,583 entries each) are kept
as typed arrays, not py3langid's lists of Python ints: ~7.5 MB less in every worker, and the
walk is no slower (measured 0.19 against 0.23-0.31 ms per 600-character sample).

Imported by the extraction workers only: keep it free of prefect, httpx and duckdb.
"""

from __future__ import annotations

import lzma
import os
import shutil
import tempfile
import threading
import weakref
import zipfile
from array import array
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import py3langid.langid as langid

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/newswatch`, or `~/.cache/newswatch`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newswatch"


def packaged_model() -> Path:
    return Path(langid.MODEL_DIR) / str(langid.MODEL_FILE)


def cached_model_path(directory: Path) -> Path:
    """The copy for this py3langid release and this very model file (its size and time)."""
    source = packaged_model().stat()
    version = metadata.version("py3langid")
    return directory / f"py3langid-{version}-{source.st_size}-{source.st_mtime_ns}.npz"


def load_identifier(directory: Path | None = None) -> langid.LanguageIdentifier:
    """py3langid's identifier (no probability normalisation, as `py3langid.classify` uses)."""
    path = _uncompressed(directory or cache_dir())
    if path is not None:
        try:
            return _from_npz(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # a damaged copy
            path.unlink(missing_ok=True)  # the next worker writes it again
    return _compact(langid.LanguageIdentifier.from_model_file(packaged_model()))


def _compact(identifier: langid.LanguageIdentifier) -> langid.LanguageIdentifier:
    """The state -> feature and state -> row-offset tables as arrays instead of lists of ints.

    py3langid's walk only indexes them (`visit_counts`); `_rowbase` is its own precomputed
    `[row << 8 for row in tk_row]`, left alone if a release names it differently.
    """
    if isinstance(identifier.tk_output, list):
        identifier.tk_output = array("i", identifier.tk_output)
    rowbase = getattr(identifier, "_rowbase", None)
    if isinstance(rowbase, list):
        identifier._rowbase = array("I", rowbase)
    return identifier


class _Open:
    """The copy, open for reading until nothing uses it: a copy deleted or replaced meanwhile
    (only ever by a rename) stays readable through it."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        weakref.finalize(self, os.close, self.fd)


class _Rows:
    """The rows of one of the model's 2-D tables, read from the copy the first time each is
    asked for and kept, packed in the order they were read."""

    def __init__(self, file: _Open, offset: int, shape: tuple[int, ...], dtype: np.dtype[Any]):
        count, self.width = shape
        self._file, self._offset, self._dtype = file, offset, dtype
        self._row_bytes = self.width * dtype.itemsize
        self._start = np.full(count, -1, dtype=np.int64)  # row -> its start in `data`; -1: unread
        self.data = array(_ITEM_CODES[dtype.itemsize])  # the rows read, as the walk indexes them

    def start(self, row: int) -> int:
        """Where `row` starts in `data` (read now if it was not)."""
        at = int(self._start[row])
        if at < 0:
            raw = os.pread(self._file.fd, self._row_bytes, self._offset + row * self._row_bytes)
            if len(raw) != self._row_bytes:  # the copy is never rewritten in place: damaged
                raise OSError(f"the language model's copy ends inside row {row}")
            at = len(self.data)
            self.data.frombytes(raw)
            self._start[row] = at
        return at

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """These rows, in this order, as a new (n, width) array: what `table[rows]` gives."""
        starts = self._start[rows]
        if (starts < 0).any():
            for row in rows[starts < 0].tolist():
                self.start(row)
            starts = self._start[rows]
        table = np.frombuffer(self.data, dtype=self._dtype).reshape(-1, self.width)
        chosen: np.ndarray = table[starts // self.width]  # a copy: the view goes, `data` may grow
        del table
        return chosen

    @property
    def read(self) -> int:
        """How many rows have been read."""
        return len(self.data) // self.width


class _OnDemand(langid.LanguageIdentifier):  # type: ignore[misc]  # py3langid is untyped
    """py3langid's identifier over the uncompressed copy, its two large tables (the DFA's
    transitions, 39 MB; the features' scores per language, 28 MB) left in the file: each row
    is read the first time a text needs it. The walk and the scores are py3langid's own
    (`visit_counts`, `_sparse_score`) over those rows, so the answers are the same.
    """

    __slots__ = ("_at", "_lock", "_moves", "_scores")

    def __init__(
        self,
        moves: _Rows,
        scores: _Rows,
        pc: np.ndarray,
        classes: list[str],
        rows: array[int],
        output: array[int],
    ) -> None:
        empty = np.zeros((0, scores.width), dtype=np.float16)
        super().__init__(empty, pc, classes, None, output, tk_row=[])
        self.tk_row = rows  # type: ignore[misc]  # py3langid's slot: state -> its row
        self._moves, self._scores = moves, scores
        self._at = array("i", [-1]) * len(rows)  # state -> where its row starts in moves.data
        self._lock = threading.Lock()  # one reader at a time: `data` grows while it reads

    def set_languages(self, langs: Any = None) -> None:
        raise NotImplementedError("load the packaged model to restrict the languages")

    def _raw_score(self, text: bytes) -> np.ndarray:
        with self._lock:
            visits = self._visits(text)
            if not visits:
                fill = 0.0 if self._norm_probs else langid.RAW_FLOOR
                return np.full(len(self.nb_classes), fill, dtype=np.float32)
            idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
            counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
            scores: np.ndarray = np.log1p(counts) @ self._scores.rows(idx) + self.nb_pc
            return scores

    def _visits(self, text: bytes) -> Counter[int] | None:
        """py3langid's `visit_counts`, its rows of transitions read as the walk reaches them."""
        at, rows, output, moves = self._at, self.tk_row, self.tk_output, self._moves
        step = moves.data  # grows in place: the same array throughout
        state, found = 0, list[int]()
        append = found.append
        for letter in text:
            base = at[state]
            if base < 0:
                base = at[state] = moves.start(rows[state])
            state = step[base + letter]
            feature = output[state]
            if feature >= 0:
                append(feature)
        return Counter(found) if found else None

    @property
    def rows_read(self) -> tuple[int, int]:
        """Rows read so far of the transitions and of the scores."""
        return self._moves.read, self._scores.read


_ITEM_CODES = {2: "H", 4: "I"}  # array.array codes by item size: the walk's ints, raw float16
_SMALL = ("pc", "classes", "nextmove_row", "out_feat")  # read whole (~0.6 MB)


def _from_npz(path: Path) -> _OnDemand:
    """The identifier over the copy: its small arrays read, the two large ones left there."""
    members = _members(path)
    file = _Open(path)
    small = {name: _read(file.fd, *members[name]) for name in _SMALL}
    moves, scores = members["nextmove"], members["ptc"]
    if moves[2] != np.dtype(np.uint32) or len(moves[1]) != 1 or moves[1][0] % 256:
        raise ValueError(f"{path}: unexpected transitions {moves[2]} {moves[1]}")
    if scores[2].itemsize not in _ITEM_CODES or len(scores[1]) != 2:
        raise ValueError(f"{path}: unexpected scores {scores[2]} {scores[1]}")
    return _OnDemand(
        _Rows(file, moves[0], (moves[1][0] // 256, 256), moves[2]),
        _Rows(file, *scores),
        small["pc"],
        small["classes"].tolist(),
        array("H", small["nextmove_row"].astype(np.uint16).tobytes()),
        array("i", small["out_feat"].astype(np.int32).tobytes()),
    )


def _read(file: int, offset: int, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    size = int(np.prod(shape)) * dtype.itemsize
    raw = os.pread(file, size, offset)
    if len(raw) != size:
        raise ValueError("the language model's copy is cut short")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _members(path: Path) -> dict[str, tuple[int, tuple[int, ...], np.dtype[Any]]]:
    """Where each array of an uncompressed .npz (np.savez's zip of .npy files) starts, its
    shape and type; ValueError when it is not such a file, or is shorter than they say."""
    found = {}
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
        for member in members:
            if member.compress_type != zipfile.ZIP_STORED or not member.filename.endswith(".npy"):
                raise ValueError(f"{path}: {member.filename} is not a stored .npy")
            # the local file header: 30 bytes, then the name and the extra field (their lengths)
            file.seek(member.header_offset + 26)
            lengths = file.read(4)
            name_len, extra_len = (int.from_bytes(lengths[i : i + 2], "little") for i in (0, 2))
            file.seek(member.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(file)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"{path}: {member.filename}: .npy version {version}")
            shape, fortran, dtype = read_header(file)
            if fortran or dtype.hasobject or not dtype.isnative:
                raise ValueError(f"{path}: {member.filename}: not a plain native C-ordered array")
            start = file.tell()
            if start + int(np.prod(shape)) * dtype.itemsize > size:
                raise ValueError(f"{path}: {member.filename} is cut short")
            found[member.filename[: -len(".npy")]] = (start, tuple(shape), dtype)
    return found


def _uncompressed(directory: Path) -> Path | None:
    """The cached copy, written now if missing; None when it cannot be written."""
    path = cached_model_path(directory)
    if path.exists():
        return path
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Written beside, then renamed: a worker never reads another's half-written copy.
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".part", delete=False) as part:
            try:
                with lzma.open(packaged_model()) as source:
                    shutil.copyfileobj(source, part, length=_CHUNK)
                part.close()
                Path(part.name).replace(path)
            except BaseException:
                Path(part.name).unlink(missing_ok=True)
                raise
    except OSError:  # read-only home, full disk: the packaged model still works
        return None
    return path
