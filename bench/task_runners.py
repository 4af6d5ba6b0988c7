"""Prefect task runners compared: `uv run --with prefect-dask python bench/task_runners.py`.

prefect-dask is not a project dependency: `--with` installs it in a throwaway overlay (the
script exits 2 with that command when it is missing). Pass `--prefect-api-url URL` to run
parts 1-2 against a running Prefect server (else the temporary server of this process).
Each section first waits (up to --quiet-wait s) for a 1-minute load average under 1.0 and
records the load it saw, and again at its end ("load end"): the machine is shared.

1. small tasks   a flow submits --tasks N trivial tasks (x + 1) and waits for them, with
                 ThreadPoolTaskRunner, DaskTaskRunner() (default LocalCluster), DaskTaskRunner
                 with n_workers=2, processes=True, and Dask in-process (processes=False).
                 `start` is the cluster's start-up (Dask's `client`), `warm` the workers'
                 imports and 4 warm-up tasks; per task = (wall of the N tasks) / N, start-up
                 and warm-up excluded; x threads = that per-task figure / the threads' one;
                 `submit` is the part of the N tasks' wall the flow spends in `.submit()`.
2. extraction    --pages M synthetic ~100 KB pages (bench/corpus.py) through
                 flows.collect.extraction.extract_page, 20 pages per task: ThreadPoolTaskRunner (one
                 GIL), DaskTaskRunner with 2 worker processes, the project's ExtractionPool
                 (extract_many, no task runner) and a plain loop in this process. `work` is
                 the wall time of the pages after start-up and warm-up (one page per worker);
                 speed-up = sequential work / work (2 cores: 2.0 is the ceiling).
3. ephemeral     a subprocess runs part 1's flow (threads, then Dask) with no PREFECT_API_URL
                 and a fresh PREFECT_HOME (Prefect's temporary server, as from cron), 180 s
                 timeout: success with its figures, or the error's last lines.

Prints a table and writes every figure to bench/results/task-runners-<timestamp>.json
(`--out FILE`). Internal mode: `_ephemeral RUNNER N` (part 3's subprocess).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import corpus  # noqa: E402  (bench/ is not a package)

COMMAND = "uv run --with prefect-dask python bench/task_runners.py"
MAX_BYTES = 1_500_000  # what production passes to extract_page
BATCH = 20  # pages per task
WARM_TASKS = 4
EPHEMERAL_TIMEOUT = 180.0
MARK = "TRBENCH-FIGURES "  # the line of the _ephemeral subprocess's output that carries them
RUNNERS = {  # label -> DaskTaskRunner's cluster_kwargs (None: ThreadPoolTaskRunner)
    "threads": None,
    "dask default": {},
    "dask 2 procs": {"n_workers": 2, "processes": True},
    "dask in-process": {"processes": False},
}


# ---- what the tasks run (module level: Dask pickles them to its workers) -----------------
def plus_one(x: int) -> int:
    return x + 1


def extract_batch(pages: list[tuple[bytes, str]]) -> list[Any]:
    from flows.collect.extraction import extract_page

    return [extract_page(html, url, max_bytes=MAX_BYTES) for html, url in pages]


def warm_worker(page: tuple[bytes, str] | None) -> int:
    """Before timing, on each Dask worker (or here): the imports a task needs, one page."""
    import prefect.task_engine  # noqa: F401

    if page is not None:
        from flows.collect.extraction import extract_page, warm_up

        warm_up()
        extract_page(*page, max_bytes=MAX_BYTES)
    return os.getpid()


def temporary_servers() -> int:
    """Prefect temporary servers (uvicorn children) among this process's descendants."""
    todo, found = [os.getpid()], 0
    while todo:
        pid = todo.pop()
        for task_dir in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(x) for x in (task_dir / "children").read_text().split()]
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            found += b"uvicorn" in cmd and b"prefect.server.api.server" in cmd
    return found


def run_flow(label: str, work: list[Any], warm_page: tuple[bytes, str] | None) -> dict[str, Any]:
    """One flow run with runner `label`; `work` holds task inputs (ints: x + 1, else batches)."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.context import FlowRunContext
    from prefect.task_runners import ThreadPoolTaskRunner

    kwargs = RUNNERS[label]
    if kwargs is None:
        runner: Any = ThreadPoolTaskRunner()
    else:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(cluster_kwargs=kwargs or None)
    small = task(plus_one, name="plus-one", cache_policy=NO_CACHE)
    fn = small if isinstance(work[0], int) else task(extract_batch, cache_policy=NO_CACHE)

    def body() -> dict[str, Any]:  # no parameters: the pages must not go to the API
        ctx = FlowRunContext.get()
        assert ctx is not None
        t0 = time.perf_counter()
        got: dict[str, Any] = {}
        client = None if kwargs is None else ctx.task_runner.client  # starts the cluster
        t1 = time.perf_counter()
        if client is not None:
            got["workers"] = sorted(client.nthreads().values())  # threads per worker
            got["worker_pids"] = sorted(client.run(warm_worker, warm_page).values())
        elif warm_page is not None:
            warm_worker(warm_page)
        for f in [small.submit(i) for i in range(WARM_TASKS)]:
            f.result()
        t2 = time.perf_counter()
        futures = [fn.submit(w) for w in work]
        got["submit_s"] = time.perf_counter() - t2  # in this process, before the last wait
        results = [f.result() for f in futures]
        t3 = time.perf_counter()
        got["temporary_servers"] = temporary_servers()
        if fn is small:
            assert results == [x + 1 for x in work]
        else:
            got["ok"] = sum(r.status == "ok" for batch in results for r in batch)
        return got | {"start_s": t1 - t0, "warm_s": t2 - t1, "work_s": t3 - t2, "t_end": t3}

    begun = time.perf_counter()
    got = flow(body, name=f"trbench-{label.replace(' ', '-')}", task_runner=runner)()
    ended = time.perf_counter()
    got |= {"flow_total_s": ended - begun, "teardown_s": ended - got.pop("t_end")}
    return _rounded(got | {"load_1min_after": os.getloadavg()[0]})


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 2 if "load" in k else 4) if isinstance(v, float) else v
            for k, v in figures.items()}  # fmt: skip


# ---- the sections --------------------------------------------------------------------------
def section(text: str, max_wait: float, limit: float = 1.0) -> dict[str, float]:
    """Wait up to max_wait s for a 1-minute load average under `limit`; announce; the load."""
    start = time.monotonic()
    while (load := os.getloadavg()[0]) >= limit and time.monotonic() - start < max_wait:
        time.sleep(2)
    print(f"[{time.strftime('%H:%M:%S')}] {text} (load {load:.2f})", flush=True)
    return {"load_1min": round(load, 2), "waited_s": round(time.monotonic() - start, 1)}


def small_tasks(n: int, quiet: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in RUNNERS:
        load = section(f"part 1: {n} small tasks, {label}", quiet)
        got = run_flow(label, list(range(n)), None) | load
        out[label] = got | {"per_task_ms": round(got["work_s"] / n * 1000, 2)}
    for got in out.values():
        got["x_threads"] = round(got["per_task_ms"] / out["threads"]["per_task_ms"], 1)
    return out


def extraction(pages: list[tuple[bytes, str]], quiet: float) -> dict[str, Any]:
    from flows.collect.extraction import extract_page
    from flows.collect.workers import ExtractionPool
    from flows.config import ExtractSettings

    out: dict[str, Any] = {}
    batches = [pages[i : i + BATCH] for i in range(0, len(pages), BATCH)]
    load = section(f"part 2: {len(pages)} pages, sequential", quiet)
    t0 = time.perf_counter()
    warm_worker(pages[0])
    t1 = time.perf_counter()
    ok = sum(extract_page(h, u, max_bytes=MAX_BYTES).status == "ok" for h, u in pages)
    t2 = time.perf_counter()
    got = {"start_s": 0, "warm_s": t1 - t0, "work_s": t2 - t1, "ok": ok}
    out["sequential"] = _rounded(got | {"load_1min_after": os.getloadavg()[0]})
    out["sequential"] |= load
    for label in ("threads", "dask 2 procs"):
        load = section(f"part 2: {len(pages)} pages, {label}", quiet)
        out[label] = run_flow(label, batches, pages[0]) | load
    load = section(f"part 2: {len(pages)} pages, ExtractionPool", quiet)
    t0 = time.perf_counter()
    with ExtractionPool(ExtractSettings()) as pool:
        t1 = time.perf_counter()
        pool.extract_many([(f"warm{i}", *pages[0]) for i in range(2 * pool.workers)])
        t2 = time.perf_counter()
        got = pool.extract_many([(str(i), h, u) for i, (h, u) in enumerate(pages)])
        t3 = time.perf_counter()
    ok = sum(r.status == "ok" for r in got.values())
    got = {"start_s": t1 - t0, "warm_s": t2 - t1, "work_s": t3 - t2, "ok": ok}
    got |= {"teardown_s": time.perf_counter() - t3, "load_1min_after": os.getloadavg()[0]}
    out["ExtractionPool"] = _rounded(got) | load
    for got in out.values():
        got["pages_per_s"] = round(len(pages) / got["work_s"], 2)
        got["speedup"] = round(out["sequential"]["work_s"] / got["work_s"], 2)
    return out


def ephemeral(n: int, quiet: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in ("threads", "dask default"):
        load = section(f"part 3: ephemeral server, {label}", quiet)
        home = tempfile.mkdtemp(prefix="trbench-ephemeral-")
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env |= {"PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        cmd = [sys.executable, str(Path(__file__).resolve()), "_ephemeral", label, str(n)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)  # fmt: skip
        try:
            text, _ = proc.communicate(timeout=EPHEMERAL_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its Dask workers too
            text = proc.communicate()[0] + f"\n(killed after {EPHEMERAL_TIMEOUT:g} s)"
        lines = text.strip().splitlines()
        mark = [x for x in lines if x.startswith(MARK)] if proc.returncode == 0 else []
        got = json.loads(mark[-1].removeprefix(MARK)) if mark else {}
        wall = round(time.perf_counter() - t0, 2)
        out[label] = {"ok": bool(got), "rc": proc.returncode, "wall_s": wall} | load
        if got:
            out[label]["figures"] = got
            shutil.rmtree(home, ignore_errors=True)
        else:  # the home is kept for a look
            out[label] |= {"last_lines": lines[-15:], "prefect_home": home}
    return out


def ephemeral_main(argv: list[str]) -> None:
    label, n = argv[0], int(argv[1])
    got = run_flow(label, list(range(n)), None)
    print(MARK + json.dumps(got | {"per_task_ms": round(got["work_s"] / n * 1000, 2)}), flush=True)


# ---- report --------------------------------------------------------------------------------
COLUMNS = {  # figure -> (heading, format)
    "start_s": ("start s", ".2f"), "warm_s": ("warm s", ".2f"), "work_s": ("work s", ".2f"),
    "submit_s": ("submit s", ".2f"),
    "per_task_ms": ("ms/task", ".1f"), "x_threads": ("x threads", ".1f"),
    "flow_total_s": ("total s", ".2f"), "pages_per_s": ("pages/s", ".1f"),
    "speedup": ("speed-up", ".2f"), "ok": ("ok", ""), "load_1min": ("load", ".2f"),
    "load_1min_after": ("load end", ".2f"),
}  # fmt: skip


def table(r: dict[str, Any]) -> str:
    n, m = r["args"]["tasks"], r["args"]["pages"]
    rows: list[str] = []
    for title, part, keys in (
        (f"1. {n} small tasks (x + 1)", "small_tasks", "per_task_ms x_threads flow_total_s"),
        (f"2. extraction of {m} pages, {BATCH} per task ({r['corpus_mb']} MB)", "extraction",
         "pages_per_s speedup ok"),
    ):  # fmt: skip
        cols = ["start_s", "warm_s", "work_s", "submit_s", *keys.split()]
        cols += ["load_1min", "load_1min_after"]
        rows += [title, f"   {'runner':<16}" + "".join(f" {COLUMNS[c][0]:>9}" for c in cols)]
        for label, g in r[part].items():
            cells = (f"{g[c]:>9{COLUMNS[c][1]}}" if c in g else f"{'-':>9}" for c in cols)
            rows.append(f"   {label:<16} " + " ".join(cells))
    rows.append(f"3. ephemeral (temporary) server, {n} small tasks, {EPHEMERAL_TIMEOUT:g} s limit")
    for label, g in r["ephemeral"].items():
        if g["ok"]:
            f = g["figures"]
            what = f"ok in {g['wall_s']:.1f} s, {f['per_task_ms']:.1f} ms/task, start-up "
            what += f"{f['start_s']:.2f} s, {f['temporary_servers']} temporary server(s)"
            rows.append(f"   {label:<16} {what}")
        else:
            rows.append(f"   {label:<16} FAILED rc={g['rc']} after {g['wall_s']:.1f} s:")
            rows += [f"      {line[:150]}" for line in g["last_lines"][-6:]]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=200, help="small tasks (part 1)")
    parser.add_argument("--pages", type=int, default=200, help="pages to extract (part 2)")
    parser.add_argument("--prefect-api-url", help="Prefect server for parts 1-2")
    parser.add_argument("--quiet-wait", type=float, default=60, help="max s to wait for load<1")
    parser.add_argument("--skip", nargs="*", default=[], choices=["1", "2", "3"])
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/...)")
    args = parser.parse_args()
    if args.prefect_api_url:
        os.environ["PREFECT_API_URL"] = args.prefect_api_url
    try:
        import prefect_dask
    except ImportError:
        print(f"prefect_dask is not installed; run:\n  {COMMAND}", file=sys.stderr)
        sys.exit(2)
    import dask
    import prefect

    started = datetime.now().astimezone()
    out = args.out or BENCH / "results" / f"task-runners-{started:%Y%m%dT%H%M%S}.json"
    results: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "versions": {m.__name__: m.__version__ for m in (prefect, prefect_dask, dask)},
        "prefect_mode": f"server {args.prefect_api_url}" if args.prefect_api_url else "temporary",
    }
    with tempfile.TemporaryDirectory(prefix="trbench-") as tmp:
        manifest = corpus.write_corpus(Path(tmp), args.pages, ["http://127.0.0.1:1"] * 10)
        files, urls = manifest["page_files"], manifest["page_urls"]
        assert isinstance(files, list) and isinstance(urls, list)
        pages = [((Path(tmp) / f).read_bytes(), u) for f, u in zip(files, urls, strict=True)]
    results["corpus_mb"] = round(sum(len(h) for h, _ in pages) / 1e6, 1)
    parts = {"1": ("small_tasks", small_tasks, args.tasks), "2": ("extraction", extraction, pages)}
    parts["3"] = ("ephemeral", ephemeral, args.tasks)
    for key, (name, fn, arg) in parts.items():
        results[name] = {} if key in args.skip else fn(arg, args.quiet_wait)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print("\n" + table(results) + f"\n\nfigures: {out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_ephemeral":
        ephemeral_main(sys.argv[2:])
    else:
        main()
