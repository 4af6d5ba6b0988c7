"""py3langid's language identifier, loaded from an uncompressed copy of its model.

py3langid ships its model LZMA-compressed: decompressing it took 0.5 of the ~0.7 CPU-s each
extraction worker spends starting, and every run starts its workers anew. The first worker
that finds no copy writes the decompressed model (the same .npz file, ~70 MB) to the user's
cache directory; later ones read it in a few hundredths of a second. The identifier is
py3langid's own class over the same arrays, so it gives the same answers (tests compare the
two). Without a writable cache directory the packaged model is read as before.

Either way the DFA's two per-state tables (104,583 entries each) are kept as typed arrays, not
py3langid's lists of Python ints: ~7.5 MB less in every worker, and the walk is no slower
(measured 0.19 against 0.23-0.31 ms per 600-character sample).

Imported by the extraction workers only: keep it free of prefect, httpx and duckdb.
"""

from __future__ import annotations

import lzma
import os
import shutil
import tempfile
import zipfile
from array import array
from importlib import metadata
from pathlib import Path

import numpy as np
import py3langid.langid as langid
from py3langid.modelio import _to_array

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
            return _compact(_from_npz(path))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # a damaged copy
            path.unlink(missing_ok=True)  # the next worker writes it again
    return _compact(langid.LanguageIdentifier.from_model_file(packaged_model()))


def _compact(identifier: langid.LanguageIdentifier) -> langid.LanguageIdentifier:
    """The state -> feature and state -> row-offset tables as arrays instead of lists of ints.

    py3langid's walk only indexes them (`visit_counts`); `_rowbase` is its own precomputed
    `[row << 8 for row in tk_row]`, left alone if a release names it differently.
    """
    identifier.tk_output = array("i", identifier.tk_output)
    rowbase = getattr(identifier, "_rowbase", None)
    if isinstance(rowbase, list):
        identifier._rowbase = array("I", rowbase)
    return identifier


def _from_npz(path: Path) -> langid.LanguageIdentifier:
    """What py3langid.modelio.load_model does after decompressing, then from_model_file."""
    with path.open("rb") as file, np.load(file, allow_pickle=False) as data:
        return langid.LanguageIdentifier(
            np.asarray(data["ptc"]),
            np.asarray(data["pc"]),
            data["classes"].tolist(),
            _to_array(data["nextmove"]),
            data["out_feat"].tolist(),
            tk_row=_to_array(data["nextmove_row"]),
        )


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
