"""Extraction in worker processes that can be killed: a page never stops a run.

The workers are forked from a small forkserver (flows/collect/extraction_server.py) and load
trafilatura and the language model themselves; each dies with the run (flows/collect/lifeline.py).
The run's main process never imports trafilatura: this module names extraction only for the
type checker and imports it inside the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from pebble import ProcessExpired, ProcessPool

from flows.collect.lifeline import die_with_parent
from warehouse.records import Extracted

if TYPE_CHECKING:
    from flows.collect.extraction import ExtractFn, Metadata, Page
    from flows.config import ExtractSettings

MAX_ERROR_CHARS = 500  # flows.collect.extraction's own; the parent does not import that module

# pebble unlinks its semaphores before stopping the workers: one forked just before (replacing
# a killed or recycled worker) would die printing a FileNotFoundError traceback
SHUTDOWN_GRACE_SECONDS = 0.3
POLL_SECONDS = 0.5  # how soon a caller notices that another thread replaced the pool
# workers started early load at idle priority within this time (the command's start-up)
EARLY_IDLE_SECONDS = 10.0
MAX_TASKS = 500  # pages, then a worker is replaced: a 1.5 MB page leaves +120 MB RSS


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
        function: ExtractFn | None = None,  # extract_page; tests pass a module-level fault injector
        max_tasks: int = MAX_TASKS,
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
        self._entered = False
        self._lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lanes] = (
            weakref.WeakKeyDictionary()
        )

    def __enter__(self) -> ExtractionPool:
        with self._lock:
            self._start()
        self._lanes.clear()
        self._entered = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._entered = False
        if self.close_in_background:  # not a daemon: the interpreter waits for it at exit
            threading.Thread(target=self._stop_locked, name="extraction-pool-stop").start()
        else:
            self._stop_locked()

    def _stop_locked(self) -> None:
        with self._lock:
            self._stop()

    async def extract(self, page: Page) -> Extracted:
        """One page, as soon as a worker is free; several coroutines may call this at once.

        The page's future is awaited in the event loop itself (pebble completes it from its
        own thread): no thread per page. A page whose pool was replaced meanwhile (another
        caller found it broken) runs again in the new one. A page in flight when its pool broke
        is a suspect (no telling which page did it): suspects run again one at a time, so that
        a page that breaks the pool once more, alone among them, is the one "crashed", and the
        pages that were only beside it finish.
        """
        if not self._entered:
            raise RuntimeError("ExtractionPool is used outside its `with` block")
        loop = asyncio.get_running_loop()
        lanes = self._lanes.get(loop)
        if lanes is None:  # asyncio's semaphores and locks serve one loop each
            lanes = self._lanes[loop] = _Lanes(asyncio.Semaphore(self.window), asyncio.Lock())
        async with lanes.window:
            outcome = await self._attempt(page, loop)
            if outcome is None:
                async with lanes.suspects:
                    outcome = await self._attempt(page, loop)
        return outcome or Extracted(
            status="crashed", error="the worker pool broke twice with this page"
        )

    def extract_many(self, pages: Iterable[Page]) -> dict[str, Extracted]:
        """(key, html, url) -> {key: Extracted}, each as `extract` gives it, for a caller outside
        an event loop (threads may call it at once). Pages are drawn from `pages` as workers
        free up: at most a window of them is held at once."""
        return asyncio.run(self._extract_all(iter(pages)))

    async def _extract_all(self, todo: Iterator[Page]) -> dict[str, Extracted]:
        results: dict[str, Extracted] = {}

        async def drain() -> None:
            for page in todo:  # one iterator: each page is drawn once
                results[page[0]] = await self.extract(page)

        await asyncio.gather(*(drain() for _ in range(self.window)))
        return results

    async def _attempt(self, page: Page, loop: asyncio.AbstractEventLoop) -> Extracted | None:
        """The page's result, or None when its pool broke with the page in flight (the pool is
        replaced then); a page whose pool was replaced before it finished runs again."""
        while True:
            if self._lock.acquire(blocking=False):  # free unless a pool is being replaced
                try:
                    future, generation = self._submit_locked(page)
                finally:
                    self._lock.release()
            else:
                future, generation = await loop.run_in_executor(None, self._submit, page)
            waiting = asyncio.wrap_future(future)
            waiting.add_done_callback(_retrieved)  # read from `future`, or never (stale)
            while generation == self._generation and not waiting.done():
                await asyncio.wait((waiting,), timeout=POLL_SECONDS)
            if not waiting.done():
                continue  # another caller replaced the pool: not this page's fault
            outcome = self._outcome(future)
            if outcome is not None:
                return outcome
            await loop.run_in_executor(None, self._restart, generation)  # it blocks
            if isinstance(future.exception(), _NotScheduled):
                continue  # the pool was broken before the page reached it
            return None

    def _submit(self, page: Page) -> tuple[Future[Extracted], int]:
        with self._lock:
            return self._submit_locked(page)

    def _submit_locked(self, page: Page) -> tuple[Future[Extracted], int]:
        html, url = page[1], page[2]
        metadata = page[3] if len(page) > 3 else True
        if self._pool is None:
            raise RuntimeError("ExtractionPool is used outside its `with` block")
        try:
            future: Future[Extracted] = self._pool.schedule(
                _run,
                args=(self.function, html, url, self.max_bytes, metadata),
                timeout=self.timeout,
            )
        except RuntimeError as exc:  # pebble's broken pool refuses pages until replaced
            future = Future()
            future.set_exception(_NotScheduled(str(exc)))
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
        if isinstance(exc, BrokenProcessPool | _NotScheduled):
            return None
        return Extracted(status="error", error=_describe(exc))

    def _restart(self, generation: int) -> None:
        with self._lock:
            if generation == self._generation and self._pool is not None:
                self._stop()
                self._start()

    def _start(self) -> None:
        self._pool = _take_early(self.workers, self.max_tasks) or _new_pool(
            self.workers, self.max_tasks
        )
        self._generation += 1

    def _stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            time.sleep(SHUTDOWN_GRACE_SECONDS)
            pool.stop()  # type: ignore[no-untyped-call]  # its unfinished pages get retried
            pool.join()


@dataclasses.dataclass(frozen=True)
class _Lanes:
    """`extract`'s gates in one event loop."""

    window: asyncio.Semaphore  # pages scheduled at once: the workers always have the next queued
    suspects: asyncio.Lock  # pages retried after their pool broke, one at a time


class _NotScheduled(Exception):
    """pebble refused the page: its pool had broken before (the page was never in flight)."""


def _new_pool(workers: int, max_tasks: int, *, idle_until: float = 0.0) -> ProcessPool:
    pool = ProcessPool(workers, max_tasks, start_worker, (idle_until,), context=forkserver())
    pool.active  # noqa: B018  # start the workers now: they warm up while pages arrive
    _widen_task_pipe(pool)
    return pool


TASK_PIPE_BYTES = 1024 * 1024  # Linux's largest pipe for an unprivileged user (pipe-max-size)


def _widen_task_pipe(pool: ProcessPool) -> None:
    """Let the pipe that carries pages to the workers hold the window's pages, not 64 KiB.

    A page (~100 KB) did not fit: the parent's scheduler thread wrote the rest only as the
    worker read, and wrote the next page only once it had the GIL back from the event loop, so
    a worker that finished a page often waited for the next (4-5 % of its time on the real
    pages, measured). With room for the window, the next pages are already in the pipe.
    Linux only, and pebble's own channel (pebble 5): elsewhere, or refused, nothing changes.
    """
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    manager = getattr(getattr(pool, "_pool_manager", None), "worker_manager", None)
    writer = getattr(getattr(manager, "pool_channel", None), "writer", None)
    if set_size is None or writer is None:
        return
    with contextlib.suppress(OSError, ValueError):  # over the user's pipe quota: the default
        fcntl.fcntl(writer.fileno(), set_size, TASK_PIPE_BYTES)


class _Early:
    """Workers started ahead of a run (`start_early`), until an ExtractionPool takes them."""

    def __init__(self, workers: int, max_tasks: int) -> None:
        self.key = (workers, max_tasks)
        self.pool: ProcessPool | None = None
        self.thread = threading.Thread(target=self._start, name="extraction-early-start")
        self.thread.start()

    def _start(self) -> None:
        try:
            self.pool = _new_pool(*self.key, idle_until=time.monotonic() + EARLY_IDLE_SECONDS)
        except Exception:  # noqa: BLE001  # the run's own pool will start them, or say why not
            self.pool = None


_early: _Early | None = None
_early_lock = threading.Lock()


def start_early(settings: ExtractSettings, max_tasks: int = MAX_TASKS) -> None:
    """Start the extraction workers now, for the run this process is about to make.

    For a command whose own start-up leaves a core idle (with a running Prefect server, ~2 s
    of importing in one thread): the workers load trafilatura and the language model on that
    core meanwhile instead of beside the first pages. The next ExtractionPool with as many
    workers takes them; `stop_early` stops them if none did (a run with nothing new).
    """
    global _early
    with _early_lock:
        if _early is None:
            _early = _Early(settings.workers or os.cpu_count() or 1, max_tasks)


def stop_early() -> None:
    """Stop, in the background, workers that `start_early` started and no ExtractionPool took.

    They never had a page, so no worker is being replaced: no shutdown grace is needed. Not a
    daemon thread: the interpreter waits for it at exit, while the command finishes.
    """
    pool = _take_early(None, None)
    if pool is not None:
        threading.Thread(target=_stop_pool, args=(pool,), name="extraction-early-stop").start()


def _stop_pool(pool: ProcessPool) -> None:
    pool.stop()  # type: ignore[no-untyped-call]
    pool.join()


def _take_early(workers: int | None, max_tasks: int | None) -> ProcessPool | None:
    """The early workers if they match (None, None: whatever there is), once started."""
    global _early
    with _early_lock:
        early, _early = _early, None
    if early is None:
        return None
    early.thread.join()
    if workers is None or early.key == (workers, max_tasks):
        return early.pool
    if early.pool is not None:  # another size was asked for: these are no use
        _stop_pool(early.pool)
    return None


def _run(
    function: ExtractFn | None,
    html: bytes,
    url: str | None,
    max_bytes: int,
    metadata: Metadata = True,
) -> Extracted:
    """Worker side: any exception becomes the page's result, never a pickling hazard."""
    from flows.collect import stories  # its signing loads numpy: here, not in the forkserver
    from flows.collect.extraction import extract_page  # loaded by start_worker already

    run = extract_page if function is None else function
    try:
        if metadata is not True:
            result = run(html, url, max_bytes=max_bytes, metadata=metadata)
        else:
            result = run(html, url, max_bytes=max_bytes)
        if result.status != "ok" or not result.text.strip():
            return result  # the article will be the feed's summary: the main process signs it
        # signing is CPU the main process would otherwise spend beside the workers
        return dataclasses.replace(result, minhash=stories.minhash(result.text), signed=True)
    except Exception as exc:  # noqa: BLE001  # one bad page must not break the pool
        return Extracted(status="error", error=_describe(exc))


def start_worker(idle_until: float = 0.0) -> None:
    """Each worker: dies with the forkserver (so with the run), then loads trafilatura and the
    language model before its first page's deadline starts.

    idle_until (time.monotonic(), the same clock in every process): workers started early
    (`start_early`) load them at the machine's idle priority, in a thread of their own that ends
    there (Linux): they take only what the command's own start-up leaves, then extract at normal
    priority. Workers that replace them later in the run load at normal priority.
    """
    die_with_parent()
    _unmap_large_blocks()
    if time.monotonic() < idle_until and hasattr(os, "SCHED_IDLE"):
        loading = threading.Thread(target=_load, args=(True,), name="extraction-load")
        loading.start()
        loading.join()
    else:
        _load()


def _load(idle: bool = False) -> None:
    if idle:
        with contextlib.suppress(OSError):  # this thread only (a thread's own policy on Linux)
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    from flows.collect.extraction import warm_up
    from flows.collect.stoplists import share_words

    warm_up()
    share_words()  # ~12 MB less in a worker that meets a page needing justext


_M_MMAP_THRESHOLD = -3  # <malloc.h>
LARGE_BLOCK_BYTES = 128 * 1024


def _unmap_large_blocks() -> None:
    """Blocks from 128 KiB (pages, their trees, MinHash arrays) are mapped and returned on
    free. glibc's default raises that threshold after the first large free (up to 32 MB), and
    from then on such blocks stay in the heap: measured, ~15 MB more RSS per worker."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt): its default stands
        return


def forkserver() -> multiprocessing.context.ForkServerContext:
    """The process that forks the workers, started now if it is not running yet.

    forkserver, never plain fork: the parent runs Prefect threads. The server holds this module
    and pebble only (flows.collect.extraction_server): the peak memory of a run is the sum of
    its processes' RSS, and a page the server loaded would count once in it and again in every
    worker forked from it. Each worker loads trafilatura and the language model itself (~0.3 s
    of CPU once the model's uncompressed copy is cached: flows/collect/language.py).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["flows.collect.extraction_server"])
    multiprocessing.forkserver.ensure_running()
    return context


def _retrieved(future: asyncio.Future[Extracted]) -> None:
    """Mark the exception as read: asyncio would log an unread one as an error."""
    if not future.cancelled():
        future.exception()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def _exit_reason(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exit code {code}"
    known = -code in set(signal.Signals)
    return f"killed by {signal.Signals(-code).name if known else f'signal {-code}'}"
