"""Article text out of fetched HTML: trafilatura in-process, or in killable worker processes.

Imported by the worker processes: keep it free of prefect, httpx and duckdb.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import py3langid
import trafilatura
import trafilatura.metadata as tm
from pebble import ProcessExpired, ProcessPool
from trafilatura.settings import Document

from flows.collect.lifeline import die_with_parent
from warehouse.records import Extracted

if TYPE_CHECKING:
    from flows.config import ExtractSettings

# (key, html, url), or (key, html, url, metadata): False when the feed entry already gives
# the title, author and date, so that the page's own need not be searched for
Page = tuple[str, bytes, str | None] | tuple[str, bytes, str | None, bool]
ExtractFn = Callable[..., Extracted]  # called as fn(html, url, max_bytes=...[, metadata=False])
Tree = Any  # lxml.html.HtmlElement: lxml ships no type information

# Balanced mode. favor_precision drops text that follows an empty element (`text<div
# class="ad"></div>more text`); fast=True skips the readability/justext fallbacks (recall
# 0.904 -> 0.886 in trafilatura's benchmark) for ~25-35 % we do not need. Balanced mode's menu
# dump on pages without an article is caught by _mostly_links. No dedup: a page's text must
# not depend on what its worker saw before.
_OPTIONS: dict[str, Any] = {
    "include_comments": False, "include_tables": True,
    "include_images": False, "include_links": False, "include_formatting": False,
    "deduplicate": False, "favor_precision": False, "fast": False,
}  # fmt: skip
# pebble unlinks its semaphores before stopping the workers: one forked just before (replacing
# a killed or recycled worker) would die printing a FileNotFoundError traceback
SHUTDOWN_GRACE_SECONDS = 0.3
POLL_SECONDS = 0.5  # how soon a caller notices that another thread replaced the pool
LANGID_MIN_CHARS = 40  # below this py3langid guesses
# ~100 words: on the 181 real pages of bench/real_pages.py (8 languages) 300 characters
# already gave the same answer as 2,000, and 2,000 cost 1.7 ms a page against 0.6 ms
LANGID_MAX_CHARS = 600
MAX_ERROR_CHARS = 500
_INVISIBLE_CHARS = "\u00ad\u200b\u2060\ufeff"  # soft hyphen, zero-widths, BOM
_INVISIBLE = dict.fromkeys(map(ord, _INVISIBLE_CHARS))
_log = logging.getLogger(__name__)
_LANG = re.compile(r"([a-z]{2})(?:[-_][a-z0-9]+)*")


def extract_page(
    html: bytes, url: str | None, *, max_bytes: int, metadata: bool = True
) -> Extracted:
    """Extract one page in this process; trafilatura never fetches anything.

    metadata=False skips the search for title, author and date (a third of the CPU on real
    pages): the caller has them from the feed. The site name then comes from the page's
    og:site_name alone.
    """
    note = None
    if len(html) > max_bytes:
        cut = _cut(html, max_bytes)
        note = f"page of {len(html):,} bytes cut to its first {len(cut):,} (max {max_bytes:,})"
        html = cut
    empty = "too_large" if note else "empty"
    # max_size also bounds what trafilatura would decompress from a gzip/brotli body
    tree = trafilatura.load_html(html, max_bytes) if html.strip() else None
    if tree is None:
        return Extracted(status=empty, error=_join(note, "not an HTML document"))
    # copied inside: `tree` stays pristine for the checks and the metadata below
    doc = trafilatura.bare_extraction(tree, url=url, **_OPTIONS)
    text = clean_text(doc.text or "") if isinstance(doc, Document) else ""
    if not text or not isinstance(doc, Document):
        return Extracted(status=empty, error=_join(note, "no article text found"))
    if _mostly_links(text, tree):
        return Extracted(status=empty, error=_join(note, "only menu and link text found"))
    canonical = _canonical(tree, url)
    meta = page_metadata(tree, url) if metadata else Document()
    return Extracted(
        status="ok",
        text=text,
        title=_line(meta.title),
        author=_line(meta.author),
        published=meta.date or None,
        site_name=_site_name(
            _line(meta.sitename if metadata else _og_site_name(tree)), url, meta.url
        ),
        language=detect_language(text) or _declared_language(tree),
        canonical_url=canonical,
        error=note,
    )


def page_metadata(tree: Tree, url: str | None) -> Document:
    """Title, author, URL, date and site name as trafilatura's extract_metadata finds them.

    Its own steps for these fields, in its order, without those for fields never stored
    (categories, tags, licence: ~40 % of its CPU on real pages). bench/extract_levers.py
    checks that the five fields equal extract_metadata's on the shared real pages.
    """
    meta = tm.examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None
    try:
        meta = tm.extract_meta_json(tree, meta)
    except Exception as exc:  # noqa: BLE001  # trafilatura's own guard: bugs in its JSON-LD code
        _log.warning("JSON-LD metadata skipped: %s", exc)
    meta.title = meta.title or tm.extract_title(tree)
    meta.author = meta.author or tm.extract_author(tree)
    meta.url = meta.url or tm.extract_url(tree, url)
    # htmldate's find_date as trafilatura imports it (htmldate is not our direct dependency)
    meta.date = tm.find_date(  # type: ignore[attr-defined]
        tree,
        url=meta.url,
        original_date=True,  # the publication date, not the last update
        extensive_search=False,  # its guesses include "© 2024" -> 2024-01-01
        max_date=datetime.now().astimezone().strftime("%Y-%m-%d"),
    )
    meta.sitename = meta.sitename or tm.extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
        if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
            meta.sitename = meta.sitename.title()
    elif meta.url and (host := tm.META_URL.match(meta.url)):
        meta.sitename = host[1]  # _site_name drops it: a host name is not a name
    meta.clean_and_trim()
    return meta


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of `text` (its first few thousand characters); None when too short."""
    sample = text[:LANGID_MAX_CHARS]
    if len(sample.strip()) < LANGID_MIN_CHARS:
        return None
    language, _score = py3langid.classify(sample)
    return str(language)


def clean_text(text: str) -> str:
    """Odd spaces (\\xa0, \\u202f, ...) become plain spaces; invisible characters go.

    Each line's runs of whitespace become one space, and blank lines go: what
    `[^\\S\\n]+` -> " " then stripping each line gives (tests compare the two), 8x faster.
    """
    for char in _INVISIBLE_CHARS:
        if char in text:
            text = text.replace(char, "")
    return "\n".join(line for line in (" ".join(part.split()) for part in text.split("\n")) if line)


class ExtractionPool:
    """Worker processes that extract pages, each page under a deadline; a page never stops a run.

    A page that runs past `page_timeout_seconds` gets status "timeout" (its worker is killed
    and replaced), a worker that dies gets "crashed", an exception gets "error". Several
    threads may call extract_many at once; async code calls `extract`, one page at a time.
    """

    def __init__(
        self,
        settings: ExtractSettings,
        *,
        function: ExtractFn = extract_page,  # tests pass a module-level fault injector
        max_tasks: int = 500,  # then the worker is replaced: a 1.5 MB page leaves +120 MB RSS
        window: int | None = None,  # pages in flight per call; bounds the parent's memory
        close_in_background: bool = False,  # leaving `with` returns before the workers stop
    ) -> None:
        self.workers = settings.workers or os.cpu_count() or 1
        self.max_bytes = settings.max_html_bytes
        self.timeout = settings.page_timeout_seconds
        self.function = function
        self.max_tasks = max_tasks
        self.window = window or 4 * self.workers
        # Stopping takes ~0.4 s (SHUTDOWN_GRACE_SECONDS, then the joins): a caller with other
        # work to do, such as saving a run, need not wait for it.
        self.close_in_background = close_in_background
        self._pool: ProcessPool | None = None
        self._generation = 0  # which pool a future belongs to: a broken pool is replaced
        self._lock = threading.Lock()
        self._waiters: ThreadPoolExecutor | None = None

    def __enter__(self) -> ExtractionPool:
        with self._lock:
            self._start()
        # `extract`'s pages wait in these threads, never in the event loop; as many as the
        # window, so that the workers always have the next page queued
        self._waiters = ThreadPoolExecutor(self.window, thread_name_prefix="extract")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._waiters is not None:
            self._waiters.shutdown(cancel_futures=True)
            self._waiters = None
        if self.close_in_background:  # not a daemon: the interpreter waits for it at exit
            threading.Thread(target=self._stop_locked, name="extraction-pool-stop").start()
        else:
            self._stop_locked()

    def _stop_locked(self) -> None:
        with self._lock:
            self._stop()

    async def extract(self, page: Page) -> Extracted:
        """One page, as soon as a worker is free; several coroutines may call this at once."""
        if self._waiters is None:
            raise RuntimeError("ExtractionPool is used outside its `with` block")
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._waiters, self.extract_many, [page])
        return results[page[0]]

    def extract_many(self, pages: Iterable[Page]) -> dict[str, Extracted]:
        """(key, html, url) -> {key: Extracted}; every key gets a result, in any order."""
        results: dict[str, Extracted] = {}
        todo: Iterator[Page] = iter(pages)
        retry: list[Page] = []  # pages whose pool broke or was replaced before they finished
        tried: set[str] = set()  # pages in flight once already when their pool broke
        flying: dict[Future[Extracted], tuple[Page, int]] = {}
        while True:
            while len(flying) < self.window and (page := _next(retry, todo)) is not None:
                future, generation = self._submit(page)
                flying[future] = (page, generation)
            if not flying:
                return results
            wait(flying, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            broken = None
            for future, (page, generation) in list(flying.items()):
                stale = generation != self._generation  # another thread replaced the pool
                if not future.done() and not stale:
                    continue
                del flying[future]
                outcome = self._outcome(future) if future.done() else None
                if outcome is not None:
                    results[page[0]] = outcome
                elif stale:
                    retry.append(page)  # not this page's fault: run it in the new pool
                else:  # the pool broke; no telling which page did it, so twice is enough
                    broken = generation
                    if page[0] in tried:
                        results[page[0]] = Extracted(
                            status="crashed", error="the worker pool broke twice with this page"
                        )
                    else:
                        tried.add(page[0])
                        retry.append(page)
            if broken is not None:
                self._restart(broken)

    def _submit(self, page: Page) -> tuple[Future[Extracted], int]:
        html, url = page[1], page[2]
        metadata = page[3] if len(page) > 3 else True
        with self._lock:
            if self._pool is None:
                raise RuntimeError("ExtractionPool is used outside its `with` block")
            future: Future[Extracted] = self._pool.schedule(
                _run,
                args=(self.function, html, url, self.max_bytes, metadata),
                timeout=self.timeout,
            )
            return future, self._generation

    def _outcome(self, future: Future[Extracted]) -> Extracted | None:
        """The page's result, or None when the pool itself broke."""
        exc = future.exception()
        if exc is None:
            return future.result()
        if isinstance(exc, TimeoutError):
            return Extracted(
                status="timeout",
                error=f"extraction ran past {self.timeout:g} s; its worker was killed",
            )
        if isinstance(exc, ProcessExpired):
            return Extracted(status="crashed", error=f"worker died: {_exit_reason(exc.exitcode)}")
        if isinstance(exc, BrokenProcessPool):
            return None
        return Extracted(status="error", error=_describe(exc))

    def _restart(self, generation: int) -> None:
        with self._lock:
            if generation == self._generation and self._pool is not None:
                self._stop()
                self._start()

    def _start(self) -> None:
        self._pool = ProcessPool(self.workers, self.max_tasks, start_worker, context=forkserver())
        self._generation += 1
        self._pool.active  # noqa: B018  # start the workers now: they warm up while pages arrive

    def _stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            time.sleep(SHUTDOWN_GRACE_SECONDS)
            pool.stop()  # type: ignore[no-untyped-call]  # its unfinished pages get retried
            pool.join()


def _run(
    function: ExtractFn, html: bytes, url: str | None, max_bytes: int, metadata: bool = True
) -> Extracted:
    """Worker side: any exception becomes the page's result, never a pickling hazard."""
    try:
        if not metadata:
            return function(html, url, max_bytes=max_bytes, metadata=False)
        return function(html, url, max_bytes=max_bytes)
    except Exception as exc:  # noqa: BLE001  # one bad page must not break the pool
        return Extracted(status="error", error=_describe(exc))


def start_worker() -> None:
    """Each worker: dies with the forkserver (so with the run), then warms up."""
    die_with_parent()
    warm_up()


def warm_up() -> None:
    """Load the language model before the first page's deadline starts."""
    detect_language("warming up the language identifier before the first page")


def forkserver() -> multiprocessing.context.ForkServerContext:
    """The process that forks the workers, started now if it is not running yet.

    forkserver, never plain fork: the parent runs Prefect threads. The server loads this
    module, trafilatura and the language model once (flows.collect.extraction_server); each
    worker is then a cheap fork of it. Starting it early lets that happen while Prefect starts up.
    (Workers still re-import the main module: Python 3.11 ignores "__main__" here.)
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "flows.collect.extraction_server"])
    multiprocessing.forkserver.ensure_running()
    return context


def _next(retry: list[Page], todo: Iterator[Page]) -> Page | None:
    return retry.pop() if retry else next(todo, None)


def _cut(html: bytes, limit: int) -> bytes:
    """The first `limit` bytes, not splitting a UTF-8 character (that would spoil decoding)."""
    end = limit
    while end > limit - 3 and end > 0 and html[end] & 0xC0 == 0x80:
        end -= 1
    return html[:end]


def _mostly_links(text: str, tree: Tree) -> bool:
    """True when most of the text is link labels: trafilatura's dump of a page without article."""
    labels = {" ".join(a.text_content().split()) for a in tree.iter("a")}
    lines = [line.removeprefix("- ") for line in text.split("\n")]
    linked = sum(len(line) for line in lines if line in labels)
    return linked * 2 > sum(map(len, lines))


def _canonical(tree: Tree, url: str | None) -> str | None:
    """<link rel=canonical>, else og:url, as the page declares it (never the url we were given)."""
    found = [
        link.get("href", "")
        for link in tree.iter("link")
        if "canonical" in (link.get("rel") or "").lower().split()
    ] + [
        meta.get("content", "")
        for meta in tree.iter("meta")
        if (meta.get("property") or meta.get("name") or "").lower() == "og:url"
    ]
    for value in found:
        absolute = urljoin(url or "", str(value).strip())
        parts = urlsplit(absolute)
        if parts.scheme in ("http", "https") and parts.hostname:
            return absolute
    return None


def _declared_language(tree: Tree) -> str | None:
    match = _LANG.fullmatch((tree.get("lang") or "").strip().lower())
    return str(match.group(1)) if match else None


def _site_name(name: str | None, *urls: str | None) -> str | None:
    """trafilatura falls back to the host name of the URL (even ours): that is not a name."""
    hosts = {(urlsplit(u).hostname or "").removeprefix("www.") for u in urls if u}
    return None if name is None or name.lower().removeprefix("www.") in hosts else name


def _og_site_name(tree: Tree) -> str | None:
    """The page's og:site_name, tidied as trafilatura tidies the site names it finds."""
    for meta in tree.iter("meta"):
        if (meta.get("property") or meta.get("name") or "").lower() == "og:site_name":
            name = (meta.get("content") or "").strip().lstrip("@")
            if name and "." not in name and not name[0].isupper():
                name = name.title()
            return name or None
    return None


def _line(value: str | None) -> str | None:
    return (" ".join(value.translate(_INVISIBLE).split()) or None) if value else None


def _join(*parts: str | None) -> str | None:
    return "; ".join(p for p in parts if p) or None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def _exit_reason(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exit code {code}"
    known = -code in set(signal.Signals)
    return f"killed by {signal.Signals(-code).name if known else f'signal {-code}'}"
