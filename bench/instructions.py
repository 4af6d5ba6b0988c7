"""Instructions, not seconds: `uv run python bench/instructions.py [--pages 40] [--out FILE]`.

On a shared host whose speed moves by half from one minute to the next (bench/README.md,
sessions 11 and 12), timings cannot show a change of a few per cent. valgrind's callgrind
counts the instructions a process executes, the same on every run of the same code. Each
figure is the difference between a child run over N pages and one over 2N, divided by N:
the interpreter's start-up, the imports and the warm-up cancel out, and what is left is pages
N to 2N-1 of the shared real-page corpus (bench/real_pages.py; cycled past 181).

  extract, lean    extract_page as the ingest calls it for an entry with title, author, date
  extract, author  the same for an entry without an author: the page's author is searched
  plain            trafilatura.extract(html, include_comments=False), issue 13's yardstick
  fetch            the Fetcher reading those pages, gzipped, from a loopback server

Instructions are not time (a cache miss costs more than an add), but a change that removes
work shows here, alone, whatever the host does. The extraction counts repeat to the last
digits; the Fetcher's depend on how the bytes arrive (how much each read finds waiting), so
they move by a few per cent between runs: compare two versions run side by side. Needs
valgrind (`apt install valgrind`); the children run ~50x slower than natively, two at a time:
5-10 min for 40 pages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
import harness  # noqa: E402  (bench/ is not a package)
import real_pages  # noqa: E402

KINDS = ("extract, lean", "extract, author", "plain", "fetch")
_COLLECTED = re.compile(r"Collected : (\d+)")


# --- the children: one workload over `n` pages, under callgrind ------------------------------
def _child(kind: str, n: int, manifest: Path | None) -> None:
    if kind == "fetch":
        assert manifest is not None
        _fetch(json.loads(manifest.read_text(encoding="utf-8")), n)
        return
    import trafilatura

    from flows.collect.extraction import extract_page, warm_up
    from flows.config import ExtractSettings

    pages = real_pages.load_pages()
    cap = ExtractSettings().max_html_bytes
    metadata: Any = {"extract, lean": False, "extract, author": frozenset({"author"})}.get(kind)
    warm_up()
    for i in range(n):
        page = pages[i % len(pages)]
        if kind == "plain":
            trafilatura.extract(page.html, include_comments=False)
        else:
            extract_page(page.html, page.url, max_bytes=cap, metadata=metadata)


def _fetch(manifest: dict[str, Any], n: int) -> None:
    from flows.collect.fetch import Fetcher
    from flows.config import FetchSettings

    urls = [item["url"] for item in manifest["served"]]
    settings = FetchSettings(allow_private_addresses=("127.0.0.1",))

    async def run() -> None:
        async with Fetcher(settings) as fetcher:
            for i in range(n):
                result = await fetcher.fetch(urls[i % len(urls)], max_bytes=settings.max_page_bytes)
                if result.status != "ok":
                    raise SystemExit(f"fetch failed: {result.status} {result.error}")

    asyncio.run(run())


# --- the parent ------------------------------------------------------------------------------
def counted(kind: str, n: int, manifest: Path | None) -> int:
    """Instructions of one child run over `n` pages."""
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    cmd += [sys.executable, str(Path(__file__).resolve()), "_child", kind, str(n)]
    if manifest is not None:
        cmd += ["--manifest", str(manifest)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{kind}, {n} pages: valgrind failed\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=40, help="N (the children run N and 2N)")
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt install valgrind)")
    n = args.pages
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nw-instructions-") as tmp:
        manifest = None
        server = None
        if "fetch" in args.kinds:
            import real_pages_bench

            web = Path(tmp) / "web"
            server = harness.ServerProcess(web, real_pages_bench.OUTLETS)
            real_pages_bench.write_corpus(web, server.bases, 1)
            manifest = web / "manifest.json"
        try:
            jobs = [(kind, size) for kind in args.kinds for size in (n, 2 * n)]
            with ThreadPoolExecutor(max_workers=2) as pool:
                counts = dict(
                    zip(
                        jobs,
                        pool.map(lambda job: counted(job[0], job[1], manifest), jobs),
                        strict=True,
                    )
                )
        finally:
            if server is not None:
                server.close()
    per_page = {kind: (counts[kind, 2 * n] - counts[kind, n]) / n for kind in args.kinds}
    plain = per_page.get("plain")
    rows = []
    for kind in args.kinds:
        note = (
            f" = {per_page[kind] / plain:.3f}× plain"
            if plain and kind.startswith("extract")
            else ""
        )
        rows.append((kind, f"{per_page[kind] / 1e6:.2f} M instructions a page{note}", ""))
    harness.print_rows(rows)
    print(f"(pages {n}..{2 * n - 1} of the real corpus; {time.monotonic() - started:.0f} s)")
    out = args.out or BENCH / "results" / f"instructions-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    harness.write_results(
        out,
        {
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "pages": n,
            "instructions": {f"{kind} x{size}": v for (kind, size), v in counts.items()},
            "per_page": per_page,
        },
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child = argparse.ArgumentParser()
        child.add_argument("mode")
        child.add_argument("kind", choices=KINDS)
        child.add_argument("n", type=int)
        child.add_argument("--manifest", type=Path)
        a = child.parse_args()
        _child(a.kind, a.n, a.manifest)
    else:
        main()
