"""Extraction levers on the real pages, paired: `uv run python bench/extract_levers.py`.

Each variant extracts every page of the shared real-page corpus (bench/real_pages.py) in
this one process, pages interleaved across variants and repeated, so that a disturbance of
the shared machine hits every variant alike. Per page the least CPU time of the repeats
counts (`time.process_time`). Prints CPU ms per page (mean of those minima) beside plain
`trafilatura.extract(html, include_comments=False)`, and the benchmark scorer's F1 (P, R)
with a per-page comparison against the first variant.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import trafilatura
from trafilatura.metadata import extract_metadata

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
import real_pages  # noqa: E402  (bench/ is not a package)

from flows.collect import extraction as fx  # noqa: E402
from flows.config import ExtractSettings  # noqa: E402

MAX_BYTES = ExtractSettings().max_html_bytes
DATE_PARAMS = {
    "original_date": True,
    "extensive_search": False,
    "max_date": datetime.now().astimezone().strftime("%Y-%m-%d"),
}
# extraction._OPTIONS (trafilatura's Extractor names) as bare_extraction's keywords
BASE = {
    "include_comments": False, "include_tables": True, "include_images": False,
    "include_links": False, "include_formatting": False, "deduplicate": False,
    "favor_precision": False, "fast": False,
}  # fmt: skip


def plain(html: bytes, url: str) -> str:
    return trafilatura.extract(html, include_comments=False) or ""


def ours(html: bytes, url: str) -> str:
    return fx.extract_page(html, url, max_bytes=MAX_BYTES).text


def ours_no_metadata(html: bytes, url: str) -> str:
    """What the ingest runs when the feed entry gives the title, author and date."""
    return fx.extract_page(html, url, max_bytes=MAX_BYTES, metadata=False).text


def ours_author(html: bytes, url: str) -> str:
    """What the ingest runs when the feed entry lacks only the author."""
    return fx.extract_page(html, url, max_bytes=MAX_BYTES, metadata=frozenset({"author"})).text


def bare(html: bytes, url: str, **options: Any) -> str:
    tree = trafilatura.load_html(html, MAX_BYTES)
    doc = trafilatura.bare_extraction(tree, url=url, **(BASE | options))
    return fx.clean_text(getattr(doc, "text", None) or "")


def bare_fast(html: bytes, url: str) -> str:
    return bare(html, url, fast=True)


def bare_precision(html: bytes, url: str) -> str:
    return bare(html, url, favor_precision=True)


# Parts of extract_page, each alone (their text is empty: CPU only).
def part_load(html: bytes, url: str) -> str:
    trafilatura.load_html(html, MAX_BYTES)
    return ""


def part_copy(html: bytes, url: str) -> str:
    copy.deepcopy(trafilatura.load_html(html, MAX_BYTES))
    return ""


def part_metadata(html: bytes, url: str) -> str:
    extract_metadata(trafilatura.load_html(html, MAX_BYTES), url, DATE_PARAMS, False)
    return ""


def part_page_metadata(html: bytes, url: str) -> str:
    tree = trafilatura.load_html(html, MAX_BYTES)
    fx.page_metadata(tree, url)
    return ""


def part_checks(html: bytes, url: str) -> str:
    """load + the link check, the canonical link and language detection on the page's text."""
    tree = trafilatura.load_html(html, MAX_BYTES)
    assert tree is not None
    text = fx.clean_text(tree.text_content())[:20000]
    marks = fx._marks(tree)
    fx._mostly_links(text, marks.link_labels)
    fx._canonical(marks.canonicals, url)
    fx.detect_language(text)
    return ""


VARIANTS: dict[str, Callable[[bytes, str], str]] = {
    "plain": plain,
    "ours": ours,
    "ours_no_metadata": ours_no_metadata,
    "ours_author": ours_author,
    "bare_balanced": bare,
    "bare_fast": bare_fast,
    "bare_precision": bare_precision,
    "part_load": part_load,
    "part_copy": part_copy,
    "part_metadata": part_metadata,
    "part_page_metadata": part_page_metadata,
    "part_load_checks": part_checks,
}


def metadata_differences(pages: list[real_pages.RealPage]) -> list[tuple[str, str, Any, Any]]:
    """Fields where extraction.page_metadata differs from trafilatura's extract_metadata."""
    out = []
    for page in pages:
        ref = extract_metadata(trafilatura.load_html(page.html, MAX_BYTES), page.url, DATE_PARAMS)
        got = fx.page_metadata(trafilatura.load_html(page.html, MAX_BYTES), page.url)
        for name in ("title", "author", "url", "date", "sitename"):
            if getattr(ref, name) != getattr(got, name):
                out.append((page.id[:12], name, getattr(ref, name), getattr(got, name)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    pages = real_pages.load_pages()
    variants = {name: VARIANTS[name] for name in args.variants}
    fx.warm_up()
    for fn in variants.values():  # lazy imports and caches, outside the measurement
        fn(pages[0].html, pages[0].url)
    load0 = os.getloadavg()
    cpu: dict[str, dict[str, float]] = {name: {} for name in variants}
    texts: dict[str, dict[str, str]] = {name: {} for name in variants}
    names = list(variants)
    wall0, cpu0 = time.monotonic(), time.process_time()
    for rep in range(args.repeats):
        for i, page in enumerate(pages):
            shift = (i + rep) % len(names)
            for name in names[shift:] + names[:shift]:  # rotate: no variant always first
                t = time.process_time()
                texts[name][page.id] = variants[name](page.html, page.url)
                spent = time.process_time() - t
                cpu[name][page.id] = min(cpu[name].get(page.id, spent), spent)
    own_share = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    plain_ms = 1000 * sum(cpu["plain"].values()) / len(pages) if "plain" in cpu else None
    scores = {n: real_pages.score(pages, texts[n]) for n in names if not n.startswith("part_")}
    first = next(iter(scores))
    print(f"{len(pages)} pages, {args.repeats} repeats; load average {load0} at start")
    print(f"this process got {own_share:.2f} of a core while measuring")
    print(f"{'variant':<20} {'CPU ms/page':>11} {'× plain':>8}  {'F1':>6} {'P':>6} {'R':>6}")
    results: dict[str, Any] = {}
    for name in names:
        ms = 1000 * sum(cpu[name].values()) / len(pages)
        row: dict[str, Any] = {"cpu_ms_per_page": round(ms, 2)}
        line = f"{name:<20} {ms:11.2f} {ms / plain_ms if plain_ms else 0:8.2f}"
        if name in scores:
            s = scores[name]
            row |= {k: s[k] for k in ("f1", "precision", "recall")}
            line += f"  {s['f1']:.4f} {s['precision']:.4f} {s['recall']:.4f}"
            if name != first:
                row["paired_vs_" + first] = real_pages.paired(
                    scores[first]["per_page_f1"], s["per_page_f1"]
                )
                pr = row["paired_vs_" + first]
                line += f"  vs {first}: {pr['better']} better, {pr['worse']} worse"
                line += f", mean {pr['mean_diff']:+.4f}"
        print(line)
        results[name] = row
    differences = metadata_differences(pages)
    print(
        f"page_metadata vs trafilatura's extract_metadata: {len(differences)} of "
        f"{5 * len(pages)} fields differ" + "".join(f"\n  {d}" for d in differences[:10])
    )
    results["metadata_differences"] = differences
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
