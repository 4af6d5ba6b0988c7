"""Ingest benchmark: `uv run python bench/ingest_bench.py [--pages N] [--out FILE]`.

Generates a synthetic newsroom (bench/corpus.py), serves it on 127.0.0.1 from a separate
process, and measures in one run (bench/README.md says what each figure means):

  fixed start-up   `newswatch ingest` of one feed with no entries, fresh warehouse (best of 2)
  cold ingest      `newswatch ingest` of N pages into a fresh warehouse (best of 2)
  warm re-run      the same ingest again on the full warehouse: no page may be fetched
  traced cold      the cold ingest once more, with timers around the flow's steps
  floor            trafilatura CPU time over the same pages (extraction.extract_page,
                   production options), divided by the cores
  naive loop       httpx + feedparser + trafilatura.extract, one page after another
  peak memory      of the cold ingest's process tree, sampled from /proc every 50 ms

Prints a table with PASS/FAIL against the targets and writes every figure to a JSON file
(default bench/results/ingest-<timestamp>.json). `--help` lists the options.

Internal modes (the benchmark runs them as subprocesses): `_serve`, `_floor`, `_naive`,
`_traced`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import corpus  # noqa: E402  (bench/ is not a package)

NEWSWATCH = ROOT / ".venv" / "bin" / "newswatch"
CORES = os.cpu_count() or 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
OUTLETS = 10
RUN_TIMEOUT = 900.0  # seconds; a hung ingest is killed (its process group) and reported

# Targets (from the performance brief).
TARGET_RATIO, STRETCH_RATIO = 1.5, 1.2  # (cold - start-up) / floor
TARGET_SPEEDUP, STRETCH_SPEEDUP = 1.0, 3.0  # naive / cold
STRETCH_WARM_EXTRA = 2.0  # seconds beyond start-up
TARGET_PEAK_MB, TARGET_PEAK_PAGES = 600.0, 1000
NOISY_CORES = 0.25  # other processes' average load above which a figure is flagged


# =========================================================================================
# The server: a separate process, one ThreadingHTTPServer per outlet (one origin per site)
# =========================================================================================
class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.counts: dict[str, int] = {
            "feed": 0,
            "feed_304": 0,
            "page": 0,
            "other": 0,
            "not_found": 0,
            "bytes_sent": 0,
        }

    def add(self, **kw: int) -> None:
        with self.lock:
            for k, v in kw.items():
                self.counts[k] += v

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True

    def __init__(self, outlet: int, root: Path, counters: _Counters, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.outlet = outlet
        self.root = root
        self.counters = counters


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers
    server_version = "benchnews/1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # As real servers do on keep-alive connections: without it, Nagle's algorithm and the
        # client's delayed ACK stall every response ~40 ms (measured: 61 ms/page naive loop).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n" + body)  # headers and body in one write
        self.flush_headers()
        self.server.counters.add(bytes_sent=len(body))

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        counters = self.server.counters
        if path == "/__stats":
            self._send(200, json.dumps(counters.snapshot()).encode(), {"Content-Type": "json"})
            return
        if path == "/__reset":
            with counters.lock:
                counters.reset()
            self._send(200, b"{}", {"Content-Type": "application/json"})
            return
        base = (self.server.root / str(self.server.outlet)).resolve()
        file = (base / path.lstrip("/")).resolve()
        if not file.is_relative_to(base) or not file.is_file():
            counters.add(not_found=1)
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        if file.suffix == ".xml":
            body = file.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            common = {"ETag": etag, "Last-Modified": format_datetime(corpus.BASE_TIME, True)}
            if self.headers.get("If-None-Match") == etag:
                counters.add(feed=1, feed_304=1)
                self._send(304, b"", common)
                return
            counters.add(feed=1)
            kind = "atom" if b"<feed" in body[:300] else "rss"
            self._send(200, body, {"Content-Type": f"application/{kind}+xml", **common})
            return
        if file.suffix == ".html":
            counters.add(page=1)
            gz = file.with_name(file.name + ".gz")
            headers = {"Content-Type": "text/html; charset=utf-8", "Vary": "Accept-Encoding"}
            if "gzip" in self.headers.get("Accept-Encoding", "") and gz.is_file():
                self._send(200, gz.read_bytes(), {**headers, "Content-Encoding": "gzip"})
            else:
                self._send(200, file.read_bytes(), headers)
            return
        counters.add(other=1)
        self._send(200, file.read_bytes(), {"Content-Type": "application/octet-stream"})


def serve_main(argv: list[str]) -> None:
    """`_serve --root DIR --outlets K`: print {"ports": [...]} and serve until stdin closes."""
    parser = argparse.ArgumentParser(prog="ingest_bench.py _serve")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--outlets", type=int, required=True)
    parser.add_argument("--ports", type=int, nargs="*", help="fixed ports (a kept corpus)")
    args = parser.parse_args(argv)
    counters = _Counters()
    ports = args.ports or [0] * args.outlets
    servers = [_Server(k, args.root, counters, ports[k]) for k in range(args.outlets)]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(json.dumps({"ports": [srv.server_address[1] for srv in servers]}), flush=True)
    sys.stdin.read()  # the benchmark closes our stdin when it is done
    for srv in servers:
        srv.shutdown()


class ServerProcess:
    """The loopback newsroom, in its own process (it must not share the measured GIL)."""

    def __init__(self, root: Path, outlets: int) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "_serve"]
        cmd += ["--root", str(root), "--outlets", str(outlets)]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.ports: list[int] = json.loads(line)["ports"]
        self.bases = [f"http://127.0.0.1:{p}" for p in self.ports]

    def _get(self, path: str) -> dict[str, int]:
        import urllib.request

        with urllib.request.urlopen(self.bases[0] + path, timeout=10) as r:  # noqa: S310
            data: dict[str, int] = json.loads(r.read())
            return data

    def stats(self) -> dict[str, int]:
        return self._get("/__stats")

    def reset(self) -> None:
        self._get("/__reset")

    def cpu_seconds(self) -> float:
        return _proc_cpu(self.proc.pid) or 0.0

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# =========================================================================================
# Process-tree sampling from /proc (psutil is not installed)
# =========================================================================================
def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:  # noqa: PTH123
            return f.read()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return kids
    for task in tasks:
        text = _read(f"{task}/children")
        if text:
            kids.extend(int(x) for x in text.split())
    return kids


def _tree(root: int) -> list[tuple[int, int]]:
    """(pid, parent) for `root` and all its descendants."""
    out = [(root, 0)]
    i = 0
    while i < len(out):
        pid = out[i][0]
        out.extend((kid, pid) for kid in _children(pid))
        i += 1
    return out


def _rss_bytes(pid: int) -> int | None:
    text = _read(f"/proc/{pid}/statm")
    return int(text.split()[1]) * PAGE_SIZE if text else None


def _pss_bytes(pid: int) -> int | None:
    text = _read(f"/proc/{pid}/smaps_rollup")
    if not text:
        return None
    m = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) * 1024 if m else None


def _proc_cpu(pid: int) -> float | None:
    return _proc_cpu_path(f"/proc/{pid}/stat")


def _proc_cpu_path(path: str) -> float | None:
    text = _read(path)
    if not text:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def _cmdline(pid: int) -> str:
    return (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()


def _system_busy() -> float:
    """CPU seconds all processes of the machine have used since boot (from /proc/stat)."""
    fields = (_read("/proc/stat") or "cpu 0").splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


class Background:
    """CPU used by processes that are neither measured nor ours (others share this machine)."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.start = self._ours_and_machine()

    def _ours_and_machine(self) -> tuple[float, float]:
        server = (_proc_cpu(self.server_pid) or 0.0) if self.server_pid else 0.0
        return server + time.process_time(), _system_busy()

    def foreign(self, measured_cpu: float) -> float:
        """Foreign CPU seconds since start, given the measured processes' CPU seconds."""
        ours, machine = self._ours_and_machine()
        return max(0.0, (machine - self.start[1]) - (ours - self.start[0]) - measured_cpu)


ROLES = ("cli", "extract-workers", "forkserver", "prefect-server", "other", "foreign")


@dataclass
class TreeSampler:
    """Sum of RSS over a process and its descendants, every `interval` seconds, in a thread."""

    root: int
    server_pid: int | None = None
    interval: float = 0.05
    pss_every: int = 4  # smaps_rollup costs more: every 4th sample
    peak_total: int = 0
    peak_without_prefect: int = 0
    peak_pss_total: int = 0
    peak_pss_without_prefect: int = 0
    peak_by_role: dict[str, int] = field(default_factory=dict)
    peak_procs: int = 0
    samples: int = 0
    cpu: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (role, seconds)
    roles: dict[int, str] = field(default_factory=dict)
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # t, total, prefect
    cpu_timeline: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0
    _background: Background | None = None

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._background = Background(self.server_pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _role(self, pid: int, parent: int) -> str:
        if pid in self.roles:
            return self.roles[pid]
        cmd = _cmdline(pid)
        if pid == self.root:
            role = "cli"
        elif self.roles.get(parent) == "prefect-server" or ("uvicorn" in cmd and "prefect" in cmd):
            role = "prefect-server"
        elif self.roles.get(parent) == "forkserver":
            role = "extract-workers"
        elif "forkserver" in cmd:
            role = "forkserver"
        else:
            role = "other"  # multiprocessing's resource tracker, ...
        # A process not yet exec'd shows its parent's cmdline (or none): decide later. Forked
        # children that never exec (the extraction workers) are decided by their parent.
        if cmd and (cmd != _cmdline(parent) or role == "extract-workers"):
            self.roles[pid] = role
        return role

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        with_pss = self.samples % self.pss_every == 0
        self.samples += 1
        total = prefect = pss_total = pss_prefect = 0
        by_role: dict[str, int] = {}
        procs = _tree(self.root)
        for pid, parent in procs:
            rss = _rss_bytes(pid)
            if rss is None:
                continue
            role = self._role(pid, parent)
            total += rss
            by_role[role] = by_role.get(role, 0) + rss
            if role == "prefect-server":
                prefect += rss
            if with_pss:
                pss = _pss_bytes(pid) or 0
                pss_total += pss
                if role == "prefect-server":
                    pss_prefect += pss
            cpu = _proc_cpu(pid)
            if cpu is not None:
                self.cpu[pid] = (role, cpu)
        self.peak_procs = max(self.peak_procs, len(procs))
        self.peak_total = max(self.peak_total, total)
        self.peak_without_prefect = max(self.peak_without_prefect, total - prefect)
        if with_pss:
            self.peak_pss_total = max(self.peak_pss_total, pss_total)
            self.peak_pss_without_prefect = max(
                self.peak_pss_without_prefect, pss_total - pss_prefect
            )
        for role, v in by_role.items():
            self.peak_by_role[role] = max(self.peak_by_role.get(role, 0), v)
        now = round(time.monotonic() - self._t0, 2)
        self.timeline.append((now, total, prefect))
        ours = self.cpu_by_role()
        foreign = self._background.foreign(sum(ours.values())) if self._background else 0.0
        self.cpu_timeline.append((now, ours | {"foreign": foreign}))

    def utilisation(self, step: float = 1.0) -> list[dict[str, float]]:
        """Cores used by each kind of process, per `step` seconds of the run."""
        out: list[dict[str, float]] = []
        prev_t, prev = 0.0, {}
        for t, cum in self.cpu_timeline:
            if t - prev_t < step and t != self.cpu_timeline[-1][0]:
                continue
            row = {"t": round(t, 1)}
            for role in ROLES:
                row[role] = round((cum.get(role, 0.0) - prev.get(role, 0.0)) / (t - prev_t), 2)
            out.append(row)
            prev_t, prev = t, cum
        return out

    def foreign_cores(self) -> float:
        """Average cores used by other processes of the machine during the run."""
        if not self.cpu_timeline or self.cpu_timeline[-1][0] <= 0:
            return 0.0
        t, cum = self.cpu_timeline[-1]
        return round(cum.get("foreign", 0.0) / t, 2)

    def cpu_by_role(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for role, seconds in self.cpu.values():
            out[role] = out.get(role, 0.0) + seconds
        return {k: round(v, 2) for k, v in sorted(out.items())}


# =========================================================================================
# Running `newswatch ingest`
# =========================================================================================
# Log lines that mark the phases of a run, in order (flows/ingest.py and Prefect's own).
PHASES = [
    ("prefect_server_starting", re.compile(r"Starting temporary server")),
    ("flow_started", re.compile(r"Beginning flow run")),
    ("feeds_fetching", re.compile(r"fetching \d+ feeds")),
    ("feeds_done", re.compile(r"feeds: \d+ ok")),
    ("entries_known", re.compile(r"\d+ new entries")),
    ("first_batch_done", re.compile(r"pages: \d+/\d+")),
    ("saved", re.compile(r"Flow run .* - run \w+: feeds")),
    ("flow_finished", re.compile(r"Flow run .* - Finished in state")),
    ("prefect_server_stopping", re.compile(r"Stopping temporary server")),
]
PAGES_LINE = re.compile(r"pages: (\d+)/(\d+)")


@dataclass
class IngestRun:
    label: str
    wall: float
    rc: int
    lines: list[tuple[float, str]]
    sampler: TreeSampler
    server: dict[str, int]
    server_cpu: float

    def phase_times(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for name, pattern in PHASES:
            for t, line in self.lines:
                if pattern.search(line):
                    found.setdefault(name, round(t, 2))
                    break
        batches = [t for t, line in self.lines if PAGES_LINE.search(line)]
        if batches:
            found["last_batch_done"] = round(batches[-1], 2)
        found["exit"] = round(self.wall, 2)
        return found

    def trace(self) -> dict[str, Any] | None:
        for _, line in reversed(self.lines):
            if line.startswith("BENCH-TRACE "):
                data: dict[str, Any] = json.loads(line.removeprefix("BENCH-TRACE "))
                return data
        return None

    def batch_times(self) -> list[tuple[float, int]]:
        out = []
        for t, line in self.lines:
            m = PAGES_LINE.search(line)
            if m:
                out.append((round(t, 2), int(m.group(1))))
        return out

    def as_dict(self) -> dict[str, Any]:
        s = self.sampler
        return {
            "label": self.label,
            "wall_s": round(self.wall, 2),
            "exit_code": self.rc,
            "cpu_s_tree": round(sum(s.cpu_by_role().values()), 2),
            "cpu_s_by_role": s.cpu_by_role(),
            "foreign_cores_avg": s.foreign_cores(),
            "server_requests": self.server,
            "server_cpu_s": round(self.server_cpu, 2),
            "peak_rss_mb": _mb(s.peak_total),
            "peak_rss_mb_without_prefect_server": _mb(s.peak_without_prefect),
            "peak_pss_mb": _mb(s.peak_pss_total),
            "peak_pss_mb_without_prefect_server": _mb(s.peak_pss_without_prefect),
            "peak_rss_mb_by_role": {k: _mb(v) for k, v in sorted(s.peak_by_role.items())},
            "peak_processes": s.peak_procs,
            "memory_samples": s.samples,
            "phases_s": self.phase_times(),
            "cores_used_per_second": s.utilisation(),
            "batches": self.batch_times(),
            "output_tail": [
                f"{t:7.2f}s {line}" for t, line in self.lines[-12:] if "BENCH-TRACE" not in line
            ],
        }


def _mb(b: int) -> float:
    return round(b / 1e6, 1)


PREFECT_API_URL: str | None = None  # --prefect-api-url: a running server instead of a temporary one


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    if PREFECT_API_URL:
        env["PREFECT_API_URL"] = PREFECT_API_URL
    env |= {
        "NEWSWATCH_TOPICS": str(ROOT / "topics"),
        "PYTHONUNBUFFERED": "1",  # log lines arrive when written: they time the phases
        "COLUMNS": "200",
    }
    for var in ("NEWSWATCH_SOURCES", "NEWSWATCH_DB", "NEWSWATCH_REPORTS"):
        env.pop(var, None)
    return env


def run_ingest(
    label: str, workdir: Path, sources: Path, server: ServerProcess, *, traced: bool = False
) -> IngestRun:
    """One `newswatch ingest` in its own process group, timed, its tree sampled.

    traced: the same ingest through this file's `_traced` mode (flows.cli.run_ingest with
    timers around the flow's steps), which prints a BENCH-TRACE line of JSON at the end.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "warehouse" / "bench.duckdb"
    cmd = [str(NEWSWATCH), "ingest", "--sources", str(sources), "--db", str(db)]
    if traced:
        cmd = [sys.executable, str(Path(__file__).resolve()), "_traced", *cmd[2:]]
    server.reset()
    server_cpu0 = server.cpu_seconds()
    lines: list[tuple[float, str]] = []
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    sampler = TreeSampler(proc.pid, server_pid=server.proc.pid)
    sampler.start()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic() - t0, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
        lines.append((time.monotonic() - t0, f"[benchmark] killed after {RUN_TIMEOUT:.0f} s"))
    wall = time.monotonic() - t0
    sampler.stop()
    reader.join(timeout=5)
    return IngestRun(
        label=label,
        wall=wall,
        rc=rc,
        lines=lines,
        sampler=sampler,
        server=server.stats(),
        server_cpu=server.cpu_seconds() - server_cpu0,
    )


def sources_yaml(path: Path, feeds: list[tuple[str, str]], max_entries: int) -> Path:
    lines = ["fetch:", '  allow_private_addresses: ["127.0.0.1"]']
    if max_entries > 200:  # the production default; raised only when a feed holds more
        lines.append(f"  max_entries_per_feed: {max_entries}")
    lines.append("feeds:")
    for name, url in feeds:
        lines += [f"  - name: {json.dumps(name)}", f"    url: {url}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def warehouse_counts(db: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:

        def one(q: str) -> Any:
            row = con.execute(q).fetchone()
            return row[0] if row else None

        by_extraction = dict(
            con.execute("SELECT extraction, count(*) FROM v_articles GROUP BY 1").fetchall()
        )
        return {
            "articles": one("SELECT count(*) FROM v_articles"),
            "by_extraction": by_extraction,
            "matches": one("SELECT count(*) FROM v_matches"),
            "median_text_chars": one("SELECT median(text_chars) FROM v_articles"),
            "db_bytes": db.stat().st_size,
        }
    finally:
        con.close()


# =========================================================================================
# The floor and the naive loop (subprocesses, so that neither shares this process)
# =========================================================================================
def floor_main(argv: list[str]) -> None:
    """`_floor --root DIR [--raw]`: CPU seconds of extract_page (and trafilatura.extract)."""
    parser = argparse.ArgumentParser(prog="ingest_bench.py _floor")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--raw-every", type=int, default=1, help="raw extract on every k-th page")
    args = parser.parse_args(argv)
    import trafilatura

    from flows.collect.extraction import extract_page, warm_up
    from flows.config import ExtractSettings

    manifest = json.loads((args.root / "manifest.json").read_text(encoding="utf-8"))
    max_bytes = ExtractSettings().max_html_bytes  # what production passes
    pages = [
        ((args.root / f).read_bytes(), url)
        for f, url in zip(manifest["page_files"], manifest["page_urls"], strict=True)
    ]
    warm_up()  # what each production worker does before its first page
    extract_page(pages[0][0], pages[0][1], max_bytes=max_bytes)  # lazy imports, caches
    trafilatura.extract(pages[0][0])
    per_page: list[float] = []
    statuses: dict[str, int] = {}
    wall0 = time.perf_counter()
    for html, url in pages:
        t = time.process_time()
        got = extract_page(html, url, max_bytes=max_bytes)
        per_page.append(time.process_time() - t)
        statuses[got.status] = statuses.get(got.status, 0) + 1
    wall = time.perf_counter() - wall0
    raw: list[float] = []
    for html, _url in pages[:: args.raw_every]:
        t = time.process_time()
        trafilatura.extract(html)
        raw.append(time.process_time() - t)
    ordered = sorted(per_page)
    print(
        json.dumps(
            {
                "pages": len(pages),
                "cpu_s": sum(per_page),
                "wall_s": wall,
                "ms_per_page_mean": 1000 * sum(per_page) / len(per_page),
                "ms_per_page_median": 1000 * ordered[len(ordered) // 2],
                "ms_per_page_p90": 1000 * ordered[int(0.9 * len(ordered))],
                "ms_per_page_max": 1000 * ordered[-1],
                "statuses": statuses,
                "raw_pages": len(raw),
                "raw_cpu_s": sum(raw) * len(pages) / max(1, len(raw)),
                "raw_ms_per_page_mean": 1000 * sum(raw) / max(1, len(raw)),
            }
        )
    )


def naive_main(argv: list[str]) -> None:
    """`_naive FEED_URL...`: the obvious script, one article after another."""
    t_start = time.perf_counter()
    import feedparser
    import httpx
    import trafilatura

    t_loop = time.perf_counter()
    pages = extracted = 0
    with httpx.Client(timeout=30) as client:
        for feed_url in argv:
            feed = feedparser.parse(io.BytesIO(client.get(feed_url).content))
            for entry in feed.entries:
                response = client.get(entry.link)
                pages += 1
                if response.status_code == 200 and trafilatura.extract(response.content):
                    extracted += 1
    end = time.perf_counter()
    print(
        json.dumps(
            {
                "pages": pages,
                "extracted": extracted,
                "imports_s": t_loop - t_start,
                "loop_s": end - t_loop,
            }
        )
    )


class _Trace:
    """Timers around the ingest flow's steps, installed by wrapping module attributes."""

    def __init__(self) -> None:
        # Times are seconds since the process started (its start time from /proc).
        uptime = float((_read("/proc/uptime") or "0").split()[0])
        stat = _read("/proc/self/stat") or ""
        started = int(stat[stat.rindex(")") + 2 :].split()[19]) / CLK_TCK if stat else uptime
        self.t0 = time.monotonic() - (uptime - started)
        self.marks: dict[str, float] = {}
        self.spans: dict[str, list[tuple[float, float, float]]] = {}  # start, end, thread CPU
        self.lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, round(self.now(), 3))

    def record(self, name: str, start: float, cpu: float) -> None:
        with self.lock:
            self.spans.setdefault(name, []).append((start, self.now(), cpu))

    def wrap(self, owner: Any, attr: str, name: str | None = None) -> bool:
        """Time every call of owner.attr (sync or async); False when it does not exist."""
        import functools
        import inspect

        orig = getattr(owner, attr, None)
        if orig is None:
            return False
        label = name or attr
        if inspect.iscoroutinefunction(orig):

            @functools.wraps(orig)
            async def awrapper(*a: Any, **k: Any) -> Any:
                start, cpu = self.now(), time.thread_time()
                try:
                    return await orig(*a, **k)
                finally:  # thread CPU of an await includes other tasks': wall is what counts
                    self.record(label, start, time.thread_time() - cpu)

            setattr(owner, attr, awrapper)
        else:

            @functools.wraps(orig)
            def wrapper(*a: Any, **k: Any) -> Any:
                start, cpu = self.now(), time.thread_time()
                try:
                    return orig(*a, **k)
                finally:
                    self.record(label, start, time.thread_time() - cpu)

            setattr(owner, attr, wrapper)
        return True

    def summary(self) -> dict[str, Any]:
        if "flow_body_start" not in self.marks and self.spans:  # settings reader renamed
            self.marks["flow_body_start"] = round(min(c[0][0] for c in self.spans.values()), 3)
        spans: dict[str, Any] = {}
        for name, calls in sorted(self.spans.items(), key=lambda kv: kv[1][0][0]):
            spans[name] = {
                "calls": len(calls),
                "first_start_s": round(calls[0][0], 3),
                "last_end_s": round(max(c[1] for c in calls), 3),
                "sum_wall_s": round(sum(c[1] - c[0] for c in calls), 3),
                "busy_wall_s": round(_union(calls), 3),  # time with at least one call running
                "sum_thread_cpu_s": round(sum(c[2] for c in calls), 3),
            }
        fetch = self.spans.get("page_fetch", [])
        extract = self.spans.get("extract_many", [])
        collect = self.spans.get("_collect", [])
        overlap = {}
        if collect:
            c0, c1 = collect[0][0], collect[0][1]
            busy_e = _union(extract)
            overlap = {
                "collect_wall_s": round(c1 - c0, 3),
                "extraction_busy_s": round(busy_e, 3),
                "fetch_busy_s": round(_union(fetch), 3),
                "fetch_only_s": round(_union(fetch) - _intersect(fetch, extract), 3),
                "no_extraction_s": round((c1 - c0) - busy_e, 3),
                "collect_start_to_first_extract_s": round(min(e[0] for e in extract) - c0, 3)
                if extract
                else None,
            }
        return {"marks": self.marks, "spans": spans, "collect": overlap}


def _union(calls: list[tuple[float, float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop, _ in sorted(calls):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def _intersect(a: list[tuple[float, float, float]], b: list[tuple[float, float, float]]) -> float:
    """Time covered by both sets of intervals."""

    def merged(calls: list[tuple[float, float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for start, stop, _ in sorted(calls):
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], stop))
            else:
                out.append((start, stop))
        return out

    total, i, j = 0.0, 0, 0
    ma, mb = merged(a), merged(b)
    while i < len(ma) and j < len(mb):
        lo, hi = max(ma[i][0], mb[j][0]), min(ma[i][1], mb[j][1])
        total += max(0.0, hi - lo)
        if ma[i][1] < mb[j][1]:
            i += 1
        else:
            j += 1
    return total


def traced_main(argv: list[str]) -> None:
    """`_traced --sources S --db D`: `newswatch ingest`, with timers around the flow's steps.

    Same code path as the CLI (flows.cli.run_ingest); the wrappers cost microseconds per call.
    Prints `BENCH-TRACE {json}` last.
    """
    trace = _Trace()
    parser = argparse.ArgumentParser(prog="ingest_bench.py _traced")
    parser.add_argument("--sources", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args(argv)
    from flows.config import resolve_paths
    from flows.runtime import prefect_api

    paths = resolve_paths(sources=args.sources, db=args.db)
    prefect_api.configure(paths.data_dir)  # before Prefect is imported, as the CLI does
    trace.mark("prefect_env_configured")
    from flows import cli, run_summary
    from flows import ingest as ing
    from flows.collect import extraction as fx
    from flows.collect import fetch as ff
    from flows.collect import pages as pg
    from warehouse import batches

    trace.mark("imports_done")
    wrapped = []
    for owner, attr in [
        (ing, "_fetch_feeds"),
        (ing, "_new_entries"),
        (ing, "_fresh_articles"),
        (ing, "_group"),
        (ing, "_score"),
        (batches, "open_warehouse"),
        (batches, "save"),
        (run_summary.RunReport, "batch"),
        (fx.ExtractionPool, "__enter__"),
        (fx.ExtractionPool, "__exit__"),
        (fx.ExtractionPool, "extract_many"),
    ]:
        if trace.wrap(owner, attr):
            wrapped.append(f"{getattr(owner, '__name__', owner)}.{attr}")
    if trace.wrap(pg, "collect", "_collect"):  # the span the breakdown calls _collect
        wrapped.append("flows.collect.pages.collect")
    orig_fetch = ff.Fetcher.fetch
    # The flow's first statement reads the settings: Prefect is up by then.
    for attr in ("settings_for", "load_settings"):
        orig_settings = getattr(ing, attr, None)
        if orig_settings is not None:

            def first(*a: Any, _orig: Any = orig_settings, **k: Any) -> Any:
                trace.mark("flow_body_start")
                return _orig(*a, **k)

            setattr(ing, attr, first)
            break

    async def fetch(self: Any, url: str, **k: Any) -> Any:
        start, cpu = trace.now(), time.thread_time()
        try:
            return await orig_fetch(self, url, **k)
        finally:
            kind = (
                "page_fetch" if str(k.get("accept", "")).startswith("text/html") else "feed_fetch"
            )
            trace.record(kind, start, time.thread_time() - cpu)

    ff.Fetcher.fetch = fetch  # type: ignore[method-assign]
    result = cli.run_ingest(paths)
    trace.mark("flow_returned")
    cli._print_ingest(result)
    threads = {}
    for t in threading.enumerate():
        cpu = _proc_cpu_path(f"/proc/self/task/{t.native_id}/stat")
        if cpu is not None:
            threads[t.name] = round(threads.get(t.name, 0.0) + cpu, 3)
    out = trace.summary() | {
        "wrapped": wrapped,
        "process_cpu_s": round(time.process_time(), 3),
        "live_threads_cpu_s": threads,
    }
    print("BENCH-TRACE " + json.dumps(out), flush=True)


def run_json(
    argv: list[str], server_pid: int | None = None, timeout: float = RUN_TIMEOUT
) -> tuple[dict[str, Any], float]:
    """Run this file in a mode; its last stdout line is JSON. Returns it and the wall time.

    The JSON gains `foreign_cores_avg`: other processes' load on the machine meanwhile.
    """
    background = Background(server_pid)
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    data["foreign_cores_avg"] = round(background.foreign(child) / wall, 2)
    data["process_cpu_s"] = round(child, 2)
    return data, wall


def wait_quiet(server: ServerProcess, max_wait: float, threshold: float = 0.15) -> dict[str, Any]:
    """Wait (up to max_wait s) for 3 s in a row in which other processes use < threshold cores."""
    started, quiet, load = time.monotonic(), 0, 0.0
    while max_wait > 0 and time.monotonic() - started < max_wait:
        background, t0 = Background(server.proc.pid), time.monotonic()
        time.sleep(1.0)
        load = background.foreign(0.0) / (time.monotonic() - t0)
        quiet = quiet + 1 if load < threshold else 0
        if quiet >= 3:
            break
    return {"waited_s": round(time.monotonic() - started, 1), "last_load_cores": round(load, 2)}


# =========================================================================================
# The benchmark
# =========================================================================================
def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=800, help="article pages (default 800)")
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/ingest-*.json)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--startup-runs", type=int, default=2, help="fresh start-up runs (best)")
    parser.add_argument("--cold-runs", type=int, default=2, help="cold ingests (best counts)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=15.0,
        help="before each measurement, wait up to this many seconds for other processes to "
        "use < 0.15 cores for 3 s (the machine is shared; 0: do not wait)",
    )
    parser.add_argument(
        "--quiet-wait-total", type=float, default=90.0, help="cap on all those waits together"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=480.0,
        help="seconds after which no extra run is made to replace a disturbed one",
    )
    parser.add_argument(
        "--no-trace",
        dest="trace",
        action="store_false",
        help="skip the extra traced cold ingest (the breakdown of where the time goes)",
    )
    parser.add_argument(
        "--prefect-api-url",
        help="run the ingests against this Prefect server (default: none, so each ingest "
        "starts Prefect's temporary server, as `newswatch run` from cron does)",
    )
    args = parser.parse_args()
    global PREFECT_API_URL
    PREFECT_API_URL = args.prefect_api_url
    started = datetime.now(UTC)
    out = args.out or BENCH / "results" / f"ingest-{started:%Y%m%dT%H%M%S}.json"
    tmp = Path(tempfile.mkdtemp(prefix="newswatch-bench-"))
    web = tmp / "web"
    web.mkdir()
    server = ServerProcess(web, OUTLETS)
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "pages": args.pages,
        "machine": {
            "cores": CORES,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_at_start": os.getloadavg(),
        },
        "tree": _git_state(),
        "prefect_mode": f"server {args.prefect_api_url}" if args.prefect_api_url else "temporary",
    }
    try:
        _bench(args, tmp, web, server, results)
    finally:
        server.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nfigures written to {out}")


def _git_state() -> dict[str, Any]:
    """The commit measured, and which files differed from it (others work in this tree)."""

    exe = shutil.which("git")
    if exe is None:
        return {}

    def git(*a: str) -> str:
        done = subprocess.run([exe, *a], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line.strip()]
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "changed_files": [f for f in changed if not f.startswith("bench/")],
    }


def _step(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _bench(
    args: argparse.Namespace,
    tmp: Path,
    web: Path,
    server: ServerProcess,
    results: dict[str, Any],
) -> None:
    n = args.pages
    _step(f"generating {n} pages in {len(server.bases)} outlets (seed {args.seed})")
    t = time.monotonic()
    manifest = corpus.write_corpus(web, n, server.bases, seed=args.seed)
    results["corpus"] = {k: v for k, v in manifest.items() if k not in ("page_files", "page_urls")}
    results["corpus"]["generation_s"] = round(time.monotonic() - t, 1)
    outlets = manifest["outlets"]
    assert isinstance(outlets, list)
    feeds = [(o["name"], o["base"] + "/feed.xml") for o in outlets]
    per_feed = -(-n // len(feeds))
    all_sources = sources_yaml(tmp / "sources.yaml", feeds, per_feed)
    empty_sources = sources_yaml(
        tmp / "empty-sources.yaml", [("Quiet outlet", server.bases[0] + "/empty.xml")], 0
    )
    waits: dict[str, Any] = {}
    results["quiet_waits"] = waits
    began = time.monotonic()

    def left() -> float:
        return args.budget - (time.monotonic() - began)

    def step(label: str, text: str) -> None:
        """Announce a measurement, after waiting for the machine to be quiet (shared host)."""
        waited = sum(w["waited_s"] for w in waits.values())
        waits[label] = wait_quiet(server, min(args.quiet_wait, args.quiet_wait_total - waited))
        _step(
            text
            + (
                f" [waited {waits[label]['waited_s']:.0f} s for quiet]"
                if waits[label]["waited_s"] > 3.5
                else ""
            )
        )

    # ---- fixed start-up: one feed, no entries, fresh warehouse (and fresh Prefect home)
    startups = []
    for i in range(args.startup_runs):
        step(
            f"startup-{i + 1}", f"fixed start-up, run {i + 1}/{args.startup_runs} (fresh warehouse)"
        )
        run = run_ingest(f"startup-{i + 1}", tmp / f"startup-{i + 1}", empty_sources, server)
        _check_rc(run)
        startups.append(run)
    step("startup-rerun", "start-up again on the same warehouse (Prefect home already created)")
    startup_rerun = run_ingest("startup-rerun", tmp / "startup-1", empty_sources, server)
    _check_rc(startup_rerun)
    # Best of the runs: on a shared machine the fastest run is the least disturbed one.
    startup = min(r.wall for r in startups)

    # ---- cold ingest
    colds = []
    for i in range(args.cold_runs):
        step(
            f"cold-{i + 1}",
            f"cold ingest of {n} pages, run {i + 1}/{args.cold_runs} (fresh warehouse)",
        )
        run = run_ingest(f"cold-{i + 1}", tmp / f"cold-{i + 1}", all_sources, server)
        _check_rc(run)
        colds.append(run)
    while _disturbed(min(colds, key=lambda r: r.wall)) and len(colds) < 4 and left() > 240:
        i = len(colds) + 1
        step(f"cold-{i}", f"cold ingest of {n} pages, run {i} (the others were disturbed)")
        run = run_ingest(f"cold-{i}", tmp / f"cold-{i}", all_sources, server)
        _check_rc(run)
        colds.append(run)
    cold = min(colds, key=lambda r: r.wall)
    counts = warehouse_counts(tmp / cold.label / "warehouse" / "bench.duckdb")

    # ---- cold ingest where Prefect's home already exists: the warehouse of the last start-up
    # run (empty feed: no article yet). A user's first real ingest after any earlier run; the
    # fresh runs above also pay Prefect creating its database (~6 s, once per data directory).
    homed = None
    if not args.prefect_api_url:  # against a running server there is no home to create
        step("cold-home", f"cold ingest of {n} pages, Prefect home already created")
        homed = run_ingest("cold-home", tmp / startups[-1].label, all_sources, server)
        _check_rc(homed)

    # ---- warm re-run
    warms: list[IngestRun] = []
    while not warms or (_disturbed(warms[-1]) and len(warms) < 3 and left() > 150):
        i = len(warms) + 1
        step(f"warm-{i}", "warm re-run on the full warehouse" + (f", run {i}" if i > 1 else ""))
        run = run_ingest(f"warm-{i}", tmp / cold.label, all_sources, server)
        _check_rc(run)
        warms.append(run)
    warm = min(warms, key=lambda r: r.wall)

    # ---- the same cold ingest again, with timers around the flow's steps (where time goes)
    traced = None
    if args.trace:
        step("cold-traced", f"cold ingest of {n} pages again, traced (fresh warehouse)")
        traced = run_ingest("cold-traced", tmp / "traced", all_sources, server, traced=True)
        _check_rc(traced)

    # ---- floor
    step("floor", "floor: extract_page over the same pages, in one process")
    floor, floor_wall = run_json(["_floor", "--root", str(web)], server.proc.pid)
    floor_s = floor["cpu_s"] / CORES
    raw_floor_s = floor["raw_cpu_s"] / CORES

    # ---- naive loop
    naives: list[tuple[dict[str, Any], float]] = []
    while not naives or (
        naives[-1][0]["foreign_cores_avg"] > NOISY_CORES and len(naives) < 3 and left() > 60
    ):
        step(f"naive-{len(naives) + 1}", "naive loop: httpx + feedparser + trafilatura, sequential")
        server.reset()
        got, wall = run_json(["_naive", *(url for _, url in feeds)], server.proc.pid)
        got["server_requests"] = server.stats()
        naives.append((got, wall))
    naive, naive_wall = min(naives, key=lambda x: x[1])
    naive["runs_s"] = [round(w, 2) for _, w in naives]

    cold_net = cold.wall - startup
    ratio = cold_net / floor_s
    speedup = naive_wall / cold.wall
    homed_figures = (
        {
            "cold_existing_home_s": round(homed.wall, 2),
            "cold_existing_home_minus_startup_s": round(homed.wall - startup_rerun.wall, 2),
            "ratio_to_floor_existing_home": round((homed.wall - startup_rerun.wall) / floor_s, 2),
            "speedup_vs_naive_existing_home": round(naive_wall / homed.wall, 2),
        }
        if homed
        else {}
    )
    warm_pages = warm.server["page"]
    warm_extra = warm.wall - startup
    warm_extra_like = warm.wall - startup_rerun.wall
    peak_run = max(colds, key=lambda r: r.sampler.peak_total)
    peak = peak_run.sampler.peak_total / 1e6
    peak_np = max(r.sampler.peak_without_prefect for r in colds) / 1e6
    startup_cpu = min(sum(r.sampler.cpu_by_role().values()) for r in startups)
    cold_cpu = sum(cold.sampler.cpu_by_role().values())
    results.update(
        {
            "startup": {
                "runs_s": [round(r.wall, 2) for r in startups],
                "best_s": round(startup, 2),
                "rerun_same_home_s": round(startup_rerun.wall, 2),
                "runs": [r.as_dict() for r in [*startups, startup_rerun]],
            },
            "cold": cold.as_dict() | {"warehouse": counts},
            "cold_runs_s": [round(r.wall, 2) for r in colds],
            "cold_runs": [r.as_dict() for r in colds if r is not cold],
            "cold_traced": traced.as_dict() | {"trace": traced.trace()} if traced else None,
            "cold_existing_home": homed.as_dict() if homed else None,
            "warm": warm.as_dict() | {"runs_s": [round(r.wall, 2) for r in warms]},
            "floor": floor | {"floor_s": round(floor_s, 2), "process_wall_s": floor_wall},
            "naive": naive | {"process_wall_s": round(naive_wall, 2)},
            "figures": {
                "fixed_startup_s": round(startup, 2),
                "cold_s": round(cold.wall, 2),
                "cold_minus_startup_s": round(cold_net, 2),
                "cold_pages_per_s": round(n / cold.wall, 2),
                "cold_pages_per_s_after_startup": round(n / cold_net, 2),
                "floor_s": round(floor_s, 2),
                "raw_extract_floor_s": round(raw_floor_s, 2),
                "ratio_to_floor": round(ratio, 2),
                "naive_s": round(naive_wall, 2),
                "speedup_vs_naive": round(speedup, 2),
                "warm_s": round(warm.wall, 2),
                "warm_pages_fetched": warm_pages,
                "warm_minus_startup_s": round(warm_extra, 2),
                "warm_minus_same_home_startup_s": round(warm_extra_like, 2),
                "peak_rss_mb": round(peak, 1),
                "peak_rss_mb_without_prefect_server": round(peak_np, 1),
                "peak_pss_mb": _mb(max(r.sampler.peak_pss_total for r in colds)),
                "peak_pss_mb_without_prefect_server": _mb(
                    max(r.sampler.peak_pss_without_prefect for r in colds)
                ),
                "cpu_s_cold_tree": round(cold_cpu, 2),
                "cpu_s_startup_tree": round(startup_cpu, 2),
                "cpu_s_floor": round(floor["cpu_s"], 2),
                # CPU the pages cost the pipeline (all its processes) over what trafilatura
                # alone needs: even with both cores always busy, cold - start-up >= floor x this
                "cpu_ratio_to_floor": round((cold_cpu - startup_cpu) / floor["cpu_s"], 2),
            }
            | homed_figures,
            "targets": {
                "ratio_le_1_5": ratio <= TARGET_RATIO,
                "ratio_le_1_2_stretch": ratio <= STRETCH_RATIO,
                "faster_than_naive": speedup > TARGET_SPEEDUP,
                "speedup_ge_3_stretch": speedup >= STRETCH_SPEEDUP,
                "warm_fetches_no_article": warm_pages == 0,
                "warm_le_2s_beyond_startup_stretch": warm_extra_like <= STRETCH_WARM_EXTRA,
                "peak_le_600mb": peak <= TARGET_PEAK_MB,
                "peak_measured_at_pages": n,
            },
        }
    )
    _print_table(results)


def _disturbed(run: IngestRun) -> bool:
    return run.sampler.foreign_cores() > NOISY_CORES


def _check_rc(run: IngestRun) -> None:
    if run.rc != 0:
        tail = "\n".join(line for _, line in run.lines[-40:])
        raise RuntimeError(f"{run.label}: newswatch ingest exited with {run.rc}\n{tail}")


def _print_table(r: dict[str, Any]) -> None:
    f, t, c = r["figures"], r["targets"], r["corpus"]
    n = r["pages"]
    cold, floor, naive = r["cold"], r["floor"], r["naive"]
    rows: list[tuple[str, str, str]] = [
        (
            "corpus",
            f"{n} pages, {c['html_bytes_total'] / 1e6:.0f} MB, median "
            f"{c['html_bytes_median'] / 1e3:.0f} KB, p90 {c['html_bytes_p90'] / 1e3:.0f} KB, "
            f"{c['live_blogs']} live blogs; {len(c['outlets'])} feeds",
            "",
        ),
        (
            "fixed start-up (1 empty feed)",
            f"{f['fixed_startup_s']:.1f} s  (best of {r['startup']['runs_s']}; again on the same "
            f"warehouse {r['startup']['rerun_same_home_s']:.1f} s)",
            "",
        ),
        (
            "cold ingest",
            f"{f['cold_s']:.1f} s  (best of {r['cold_runs_s']}) = {f['cold_pages_per_s']:.1f} "
            f"pages/s ({f['cold_pages_per_s_after_startup']:.1f} after start-up); "
            f"{cold['warehouse']['articles']} articles, {cold['warehouse']['matches']} matches",
            "",
        ),
        ("cold − start-up", f"{f['cold_minus_startup_s']:.1f} s", ""),
        (
            "floor (extract_page CPU / cores)",
            f"{f['floor_s']:.1f} s  ({floor['ms_per_page_mean']:.1f} ms/page mean, "
            f"median {floor['ms_per_page_median']:.1f}, max {floor['ms_per_page_max']:.0f}; "
            f"{CORES} cores)",
            "",
        ),
        (
            "raw trafilatura.extract floor",
            f"{f['raw_extract_floor_s']:.1f} s  ({floor['raw_ms_per_page_mean']:.1f} ms/page)",
            "",
        ),
        (
            "ratio (cold − start-up) / floor",
            f"{f['ratio_to_floor']:.2f}×   target ≤ {TARGET_RATIO}, stretch ≤ {STRETCH_RATIO}",
            f"{verdict(t['ratio_le_1_5'])} / stretch {verdict(t['ratio_le_1_2_stretch'])}",
        ),
        (
            "  CPU view: (cold − start-up) CPU / floor CPU",
            f"{f['cpu_ratio_to_floor']:.2f}×  ({f['cpu_s_cold_tree']:.1f} − "
            f"{f['cpu_s_startup_tree']:.1f} CPU-s vs {f['cpu_s_floor']:.1f}): the wall ratio "
            "cannot go below this",
            "",
        ),
        (
            "naive loop (sequential)",
            f"{f['naive_s']:.1f} s  (best of {naive['runs_s']}; loop {naive['loop_s']:.1f} s "
            "+ imports "
            f"{naive['imports_s']:.1f} s; {naive['extracted']}/{naive['pages']} extracted)",
            "",
        ),
        (
            "speed-up cold vs naive",
            f"{f['speedup_vs_naive']:.2f}×   target > 1, stretch ≥ {STRETCH_SPEEDUP:g}",
            f"{verdict(t['faster_than_naive'])} / stretch {verdict(t['speedup_ge_3_stretch'])}",
        ),
        *(
            [
                (
                    "cold, Prefect home existing",
                    f"{f['cold_existing_home_s']:.1f} s; − same-home start-up "
                    f"{f['cold_existing_home_minus_startup_s']:.1f} s = "
                    f"{f['ratio_to_floor_existing_home']:.2f}× the floor; "
                    f"{f['speedup_vs_naive_existing_home']:.2f}× the naive loop",
                    "",
                )
            ]
            if "cold_existing_home_s" in f
            else []
        ),
        (
            "warm re-run",
            f"{f['warm_s']:.1f} s (best of {r['warm']['runs_s']}), "
            f"{f['warm_pages_fetched']} pages fetched "
            f"({r['warm']['server_requests']['feed_304']}/{r['warm']['server_requests']['feed']}"
            " feeds 304)",
            f"{verdict(t['warm_fetches_no_article'])}",
        ),
        (
            "warm − start-up",
            f"{f['warm_minus_same_home_startup_s']:+.1f} s vs same-home start-up "
            f"({f['warm_minus_startup_s']:+.1f} s vs fresh); stretch ≤ {STRETCH_WARM_EXTRA:g} s",
            f"stretch {verdict(t['warm_le_2s_beyond_startup_stretch'])}",
        ),
        (
            "peak memory, cold (RSS sum)",
            f"{f['peak_rss_mb']:.0f} MB with Prefect server, "
            f"{f['peak_rss_mb_without_prefect_server']:.0f} MB without "
            f"(PSS {f['peak_pss_mb']:.0f} / {f['peak_pss_mb_without_prefect_server']:.0f}); "
            f"target ≤ {TARGET_PEAK_MB:g} MB at {TARGET_PEAK_PAGES} pages",
            f"{verdict(t['peak_le_600mb'])}"
            + ("" if n >= TARGET_PEAK_PAGES else f" (at {n} pages)"),
        ),
    ]
    loads = {
        "start-up": max(run["foreign_cores_avg"] for run in r["startup"]["runs"]),
        "cold": cold["foreign_cores_avg"],
        "warm": r["warm"]["foreign_cores_avg"],
        "floor": floor["foreign_cores_avg"],
        "naive": naive["foreign_cores_avg"],
    }
    if r.get("cold_traced"):
        loads["traced"] = r["cold_traced"]["foreign_cores_avg"]
    noisy = [k for k, v in loads.items() if v > NOISY_CORES]
    rows.append(
        (
            "other processes' load (cores)",
            ", ".join(f"{k} {v:.2f}" for k, v in loads.items()),
            f"DISTURBED: {', '.join(noisy)}" if noisy else "quiet",
        )
    )
    width = max(len(a) for a, _, _ in rows)
    print()
    for a, b, v in rows:
        print(f"{a:<{width}}  {b}" + (f"  [{v}]" if v else ""))
    phases = cold["phases_s"]
    print("\ncold ingest phases (s since launch, from its log lines):")
    print("  " + ", ".join(f"{k} {v}" for k, v in phases.items()))
    print("cold CPU by process (s): " + json.dumps(cold["cpu_s_by_role"]))
    print(f"cold CPU whole tree: {cold['cpu_s_tree']} s; server process: {cold['server_cpu_s']} s")
    print("peak RSS by process (MB): " + json.dumps(cold["peak_rss_mb_by_role"]))
    traced = r.get("cold_traced")
    if traced and traced.get("trace"):
        _print_trace(traced, r["figures"])


def _print_trace(traced: dict[str, Any], figures: dict[str, Any]) -> None:
    """Where the time of the traced cold ingest went, step by step."""
    tr = traced["trace"]
    marks, spans, col = tr["marks"], tr["spans"], tr["collect"]

    def span(name: str) -> float:
        return float(spans.get(name, {}).get("sum_wall_s", 0.0))

    wall = traced["wall_s"]
    rows = [
        ("interpreter + imports (prefect, flows)", marks.get("imports_done", 0.0)),
        (
            "Prefect temporary server + flow-run start",
            marks.get("flow_body_start", 0.0) - marks.get("imports_done", 0.0),
        ),
        ("open warehouse", span("open_warehouse")),
        ("fetch + parse feeds", span("_fetch_feeds") + span("_new_entries")),
        ("pages: fetch + extract (_collect)", span("_collect")),
        ("   extraction pool start (__enter__)", span("__enter__")),
        ("   until the first page is extracting", col.get("collect_start_to_first_extract_s") or 0),
        ("   with at least one batch extracting", col.get("extraction_busy_s", 0.0)),
        ("   with no batch extracting", col.get("no_extraction_s", 0.0)),
        ("   extraction pool shutdown (__exit__)", span("__exit__")),
        ("dedupe by canonical key", span("_fresh_articles")),
        ("story grouping (_group: MinHash)", span("_group")),
        ("topic matching (_score)", span("_score")),
        ("rows + spool + DuckDB load (save)", span("rows") + span("save")),
        (
            "flow end → Prefect shutdown → exit",
            wall - marks.get("flow_returned", wall),
        ),
    ]
    print(f"\nwhere the time goes (traced cold ingest, {wall:.1f} s wall, same pages):")
    for label, seconds in rows:
        print(f"  {label:<42} {seconds:6.2f} s")
    print(
        f"  floor for comparison: {figures['floor_s']:.2f} s; pool busy "
        f"{col.get('extraction_busy_s', 0.0):.2f} s is "
        f"{col.get('extraction_busy_s', 0.0) / max(figures['floor_s'], 1e-9):.2f}× the floor"
    )


if __name__ == "__main__":
    modes = {
        "_serve": serve_main,
        "_floor": floor_main,
        "_naive": naive_main,
        "_traced": traced_main,
    }
    if len(sys.argv) > 1 and sys.argv[1] in modes:
        modes[sys.argv[1]](sys.argv[2:])
    else:
        main()
