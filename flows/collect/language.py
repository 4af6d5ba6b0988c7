"""py3langid's language identifier, loaded from an uncompressed copy of its model.

py3langid ships its model LZMA-compressed: decompressing it took 0.5 of the ~0.7 CPU-s each
extraction worker spends starting, and every run starts its workers anew. The first worker
that finds no copy writes the decompressed model (the same .npz file, ~70 MB) to the user's
cache directory; later ones map it into memory (mmap, read-only) instead of reading it: a
worker's RSS then holds only the pages of the tables its texts touch (English pages: ~35 of the
68 MB; 724 real pages in 8 languages: most of it). The identifier is py3langid's own class over
the same arrays, so it gives the same answers (tests compare the two). Without a writable cache
directory the packaged model is read as before.

The copy is only ever replaced by a rename, never rewritten in place, so a mapped file cannot
shrink under a worker (that would be SIGBUS).

Either way the DFA's two per-state tables (104,583 entries each) are kept as typed arrays, not
py3langid's lists of Python ints: ~7.5 MB less in every worker, and the walk is no slower
(measured 0.19 against 0.23-0.31 ms per 600-character sample).

Imported by the extraction workers only: keep it free of prefect, httpx and duckdb.
"""

from __future__ import annotations

import lzma
import mmap
import os
import shutil
import tempfile
import zipfile
from array import array
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import py3langid.langid as langid

_CHUNK = 1 << 20
# the model's integer tables' types, as array.array (and memoryview) call them
_INT_CODES: dict[np.dtype[Any], Literal["H", "I", "i"]] = {
    np.dtype(np.uint16): "H",
    np.dtype(np.uint32): "I",
    np.dtype(np.int32): "i",
}


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
            return _compact(_from_npz(path))
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


def _from_npz(path: Path) -> langid.LanguageIdentifier:
    """What py3langid.modelio.load_model does after decompressing, then from_model_file, over
    arrays mapped from the file rather than read."""
    data = _mapped_arrays(path)
    nextmove, rows, out_feat = data["nextmove"], data["nextmove_row"], data["out_feat"]
    return langid.LanguageIdentifier(
        data["ptc"],
        data["pc"],
        data["classes"].tolist(),
        _ints(nextmove),  # indexed like py3langid's array("I"): the same ints
        _ints(out_feat),
        tk_row=_ints(rows),
    )


def _ints(values: np.ndarray) -> memoryview[int]:
    """A flat integer array as a memoryview that indexes to ints (numpy's own says "=i")."""
    code = _INT_CODES.get(values.dtype)
    if code is None or values.ndim != 1:
        raise ValueError(f"unexpected array {values.dtype} {values.shape}")
    return values.data.cast("B").cast(code)


def _mapped_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed .npz (np.savez's zip of .npy files), read-only views of
    one memory map of it; ValueError when it is not such a file."""
    with path.open("rb") as file:
        memory = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    arrays = {}
    for member in members:
        if member.compress_type != zipfile.ZIP_STORED or not member.filename.endswith(".npy"):
            raise ValueError(f"{path}: {member.filename} is not a stored .npy")
        header = member.header_offset
        # the local file header: 30 bytes, then the name and the extra field (their lengths)
        name_len = int.from_bytes(memory[header + 26 : header + 28], "little")
        extra_len = int.from_bytes(memory[header + 28 : header + 30], "little")
        memory.seek(header + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(memory)
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }.get(version)
        if read_header is None:
            raise ValueError(f"{path}: {member.filename}: .npy version {version}")
        shape, fortran, dtype = read_header(memory)
        if fortran or dtype.hasobject:
            raise ValueError(f"{path}: {member.filename}: not a plain C-ordered array")
        count = int(np.prod(shape))
        array_ = np.frombuffer(memory, dtype=dtype, count=count, offset=memory.tell())
        arrays[member.filename[: -len(".npy")]] = array_.reshape(shape)
    return arrays


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
