"""(library) The shared real-page corpus: Zyte's article-extraction benchmark, read in place.

The corpus lives beside the clone (`../shared/corpora/article-extraction-benchmark/`, or
`$NEWSWATCH_REAL_PAGES`) and is never copied into the repository. Its own scorer
(`evaluate.py`) is imported from there, so the figures are the benchmark's.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "corpora" / "article-extraction-benchmark"


@dataclass(frozen=True)
class RealPage:
    id: str
    url: str  # where the page was fetched from (the ground truth's)
    html: bytes  # as fetched, decompressed
    truth: str  # the human-checked article body


def corpus_dir() -> Path:
    path = Path(os.environ.get("NEWSWATCH_REAL_PAGES", DEFAULT_DIR))
    if not (path / "ground-truth.json").is_file():
        raise SystemExit(
            f"real-page corpus not found at {path}: clone beside ../shared, or set "
            "NEWSWATCH_REAL_PAGES to the article-extraction-benchmark directory"
        )
    return path


def load_pages() -> list[RealPage]:
    """The 181 pages, in the ground truth's order."""
    base = corpus_dir()
    truth = json.loads((base / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        RealPage(
            id=key,
            url=item["url"],
            html=gzip.decompress((base / "html" / f"{key}.html.gz").read_bytes()),
            truth=item.get("articleBody", ""),
        )
        for key, item in truth.items()
    ]


def scorer() -> ModuleType:
    """The benchmark's own evaluate.py, imported from the corpus directory."""
    spec = importlib.util.spec_from_file_location("zyte_evaluate", corpus_dir() / "evaluate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(pages: list[RealPage], texts: dict[str, str]) -> dict[str, Any]:
    """F1, precision, recall (the scorer's own averages) and per-page F1 for `texts` by id."""
    ev = scorer()
    tp_fp_fns = [ev.string_shingle_matching(true=p.truth, pred=texts.get(p.id, "")) for p in pages]
    metrics = ev.metrics_from_tp_fp_fns(tp_fp_fns)
    per_page = {p.id: _f1(*t) for p, t in zip(pages, tp_fp_fns, strict=True)}
    return {
        "f1": round(metrics["f1"], 4),
        "precision": round(metrics["precision"], 4),
        "recall": round(metrics["recall"], 4),
        "per_page_f1": per_page,
    }


def paired(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Per-page F1 differences after − before: how many pages moved, and by how much."""
    diffs = [after[k] - before[k] for k in before]
    moved = sorted((after[k] - before[k], k) for k in before if abs(after[k] - before[k]) > 1e-9)
    return {
        "pages": len(diffs),
        "mean_diff": round(statistics.mean(diffs), 5),
        "better": sum(d > 1e-9 for d in diffs),
        "worse": sum(d < -1e-9 for d in diffs),
        "same": sum(abs(d) <= 1e-9 for d in diffs),
        "largest_losses": [(k[:12], round(d, 3)) for d, k in moved[:5] if d < 0],
        "largest_gains": [(k[:12], round(d, 3)) for d, k in moved[::-1][:5] if d > 0],
    }


def _f1(tp: float, fp: float, fn: float) -> float:
    p = 1.0 if fp == fn == 0 else (0.0 if tp == fp == 0 else tp / (tp + fp))
    r = 1.0 if fp == fn == 0 else (0.0 if tp == fn == 0 else tp / (tp + fn))
    return 2 * p * r / (p + r) if p + r else 0.0
