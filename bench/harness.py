"""(library) What every ingest benchmark shares: the loopback newsroom server, process-tree
sampling from /proc, running `newswatch ingest` and timing it, the naive loop, quiet waits.

A benchmark script (ingest_bench.py, real_pages_bench.py) writes its corpus as files under
a directory (`<root>/<outlet>/feed.xml`, pages as `.html` with a `.html.gz` beside them),
serves it with `ServerProcess`, and reads as its measurement. This file also runs as the
server and the naive loop: `python bench/harness.py _serve|_naive ...`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HARNESS = Path(__file__).resolve()
NEWSWATCH = ROOT / ".venv" / "bin" / "newswatch"
CORES = os.cpu_count() or 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
RUN_TIMEOUT = 900.0  # seconds; a hung ingest is killed (its process group) and reported
NOISY_CORES = 0.25  # other processes' average load above which a figure is flagged
UNSTEADY = 1.2  # a steadiness probe's p90/p10 above which the host's speed is flagged
FEEDS_MODIFIED = datetime(2026, 11, 17, 6, 0, tzinfo=UTC)  # Last-Modified of every feed


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
        # headers and body in one write
        self._headers_buffer.append(b"\r\n" + body)  # type: ignore[attr-defined]
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
            common = {"ETag": etag, "Last-Modified": format_datetime(FEEDS_MODIFIED, True)}
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
    parser = argparse.ArgumentParser(prog="harness.py _serve")
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
        return proc_cpu(self.proc.pid) or 0.0

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
def proc_read(path: str) -> str | None:
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
        text = proc_read(f"{task}/children")
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
    text = proc_read(f"/proc/{pid}/statm")
    return int(text.split()[1]) * PAGE_SIZE if text else None


def _pss_bytes(pid: int) -> int | None:
    text = proc_read(f"/proc/{pid}/smaps_rollup")
    if not text:
        return None
    m = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) * 1024 if m else None


def proc_cpu(pid: int) -> float | None:
    return proc_cpu_path(f"/proc/{pid}/stat")


def proc_cpu_path(path: str) -> float | None:
    text = proc_read(path)
    if not text:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def _cmdline(pid: int) -> str:
    return (proc_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()


def _system_busy() -> float:
    """CPU seconds all processes of the machine have used since boot (from /proc/stat)."""
    fields = (proc_read("/proc/stat") or "cpu 0").splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


class Background:
    """CPU used by processes that are neither measured nor ours (others share this machine)."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.start = self._ours_and_machine()

    def _ours_and_machine(self) -> tuple[float, float]:
        server = (proc_cpu(self.server_pid) or 0.0) if self.server_pid else 0.0
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
            cpu = proc_cpu(pid)
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
        prev_t, prev = 0.0, dict[str, float]()
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
            "peak_rss_mb": mb(s.peak_total),
            "peak_rss_mb_without_prefect_server": mb(s.peak_without_prefect),
            "peak_pss_mb": mb(s.peak_pss_total),
            "peak_pss_mb_without_prefect_server": mb(s.peak_pss_without_prefect),
            "peak_rss_mb_by_role": {k: mb(v) for k, v in sorted(s.peak_by_role.items())},
            "peak_processes": s.peak_procs,
            "memory_samples": s.samples,
            "phases_s": self.phase_times(),
            "cores_used_per_second": s.utilisation(),
            "batches": self.batch_times(),
            "output_tail": [
                f"{t:7.2f}s {line}" for t, line in self.lines[-12:] if "BENCH-TRACE" not in line
            ],
        }


def mb(b: int) -> float:
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
    label: str,
    workdir: Path,
    sources: Path,
    server: ServerProcess,
    *,
    traced_by: Path | None = None,
) -> IngestRun:
    """One `newswatch ingest` in its own process group, timed, its tree sampled.

    traced_by: the same ingest through that script's `_traced` mode (ingest_bench.py:
    flows.cli.run_ingest with timers around the flow's steps), which prints a BENCH-TRACE line
    of JSON at the end.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "warehouse" / "bench.duckdb"
    cmd = [str(NEWSWATCH), "ingest", "--sources", str(sources), "--db", str(db)]
    if traced_by is not None:
        cmd = [sys.executable, str(traced_by), "_traced", *cmd[2:]]
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
# The naive loop (a subprocess, so that it shares nothing with this process)
# =========================================================================================
def naive_main(argv: list[str]) -> None:
    """`_naive [--match-insert DB] FEED_URL...`: the obvious script, one article after another.

    With --match-insert, issue 13's naive loop (fetch, plain extract, match, insert): each text
    is also scored against the project's topics (newswatch's own matcher) and inserted into a
    DuckDB table, one autocommitted INSERT per article, as the obvious script would.
    """
    parser = argparse.ArgumentParser(prog="harness.py _naive")
    parser.add_argument("--match-insert", type=Path, metavar="DB")
    parser.add_argument("feeds", nargs="+")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    import feedparser
    import httpx
    import trafilatura

    store: Callable[[str, str, str], None] | None = None
    if args.match_insert is not None:
        store = _naive_store(args.match_insert)

    t_loop = time.perf_counter()
    pages = extracted = 0
    with httpx.Client(timeout=30) as client:
        for feed_url in args.feeds:
            feed = feedparser.parse(io.BytesIO(client.get(feed_url).content))
            for entry in feed.entries:
                response = client.get(entry.link)
                pages += 1
                text = (
                    trafilatura.extract(response.content) if response.status_code == 200 else None
                )
                if text:
                    extracted += 1
                    if store is not None:
                        store(entry.link, entry.get("title", ""), text)
    end = time.perf_counter()
    print(
        json.dumps(
            {
                "pages": pages,
                "extracted": extracted,
                "match_insert": store is not None,
                "imports_s": t_loop - t_start,
                "loop_s": end - t_loop,
            }
        )
    )


def _naive_store(db: Path) -> Callable[[str, str, str], None]:
    """Match a text against every topic and insert it with its scores: one row, one commit."""
    import duckdb

    from flows.config import load_topics
    from flows.matching.match import compile_topic, match_text

    topics = [compile_topic(t) for t in load_topics(ROOT / "topics")]
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE IF NOT EXISTS articles (url VARCHAR PRIMARY KEY, title VARCHAR, "
        "text VARCHAR, matched BOOLEAN, score DOUBLE)"
    )

    def store(url: str, title: str, text: str) -> None:
        results = [match_text(t, title=title, text=text) for t in topics]
        con.execute(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?)",
            [url, title, text, any(r.matched for r in results), max(r.score for r in results)],
        )

    return store


def run_json(
    script: Path, argv: list[str], server_pid: int | None = None, timeout: float = RUN_TIMEOUT
) -> tuple[dict[str, Any], float]:
    """Run `script` in a mode; its last stdout line is JSON. Returns it and the wall time.

    The JSON gains `foreign_cores_avg`: other processes' load on the machine meanwhile.
    """
    background = Background(server_pid)
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script), *argv],
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


def steadiness(repeats: int = 40) -> float:
    """How steady this machine's speed is now: one fixed task's CPU time, `repeats` times in a
    row (~0.4 s in all), as its 90th percentile over its 10th (1.0: every repeat alike).

    A neighbour on a shared host (or its clock) slows every process here without showing as
    load in /proc, and so does not hold up `wait_quiet`; on 2026-12-07 the same task's CPU time
    varied by a factor of 1.2-1.8 from one second to the next, and plain trafilatura's per page
    from 19 to 30 ms. A figure measured then says more about the host than about the code.
    """

    def task() -> int:
        counts: dict[int, int] = {}
        for i in range(30_000):
            counts[i % 977] = counts.get(i % 977, 0) + i
        return len(sorted(counts.values()))

    task()
    times = []
    for _ in range(repeats):
        started = time.process_time()
        task()
        times.append(time.process_time() - started)
    times.sort()
    low, high = times[len(times) // 10], times[-(len(times) // 10) - 1]
    return round(high / max(low, 1e-9), 2)


def steadiness_row(waits: dict[str, dict[str, Any]]) -> tuple[str, str, str]:
    """The table's row for the steadiness probes run before each step (Session.step); every
    step's figure is in the JSON, under quiet_waits."""
    probes = {label: w["steadiness"] for label, w in waits.items() if "steadiness" in w}
    unsteady = [f"{label} {v:.2f}" for label, v in probes.items() if v > UNSTEADY]
    values = list(probes.values()) or [0.0]
    return (
        "host steadiness",
        f"a fixed task's CPU time before each step, p90/p10 of 40 repeats (1.00: steady): "
        f"{min(values):.2f}-{max(values):.2f} over {len(probes)} steps",
        f"UNSTEADY (> {UNSTEADY}): {', '.join(unsteady)}" if unsteady else "steady",
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def git_state() -> dict[str, Any]:
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


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# =========================================================================================
# A benchmark session: the options, quiet waits and the runs every ingest benchmark makes
# =========================================================================================
def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by the ingest benchmarks."""
    parser.add_argument("--out", type=Path, help="JSON file (default bench/results/*.json)")
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
        "--prefect-api-url",
        help="run the ingests against this Prefect server (default: none, so each ingest "
        "starts Prefect's temporary server, as `newswatch run` from cron does)",
    )


class Session:
    """One benchmark's server, options and quiet waits; runs the measurements in turn."""

    def __init__(self, args: argparse.Namespace, server: ServerProcess, tmp: Path) -> None:
        global PREFECT_API_URL
        PREFECT_API_URL = args.prefect_api_url
        self.args, self.server, self.tmp = args, server, tmp
        self.waits: dict[str, Any] = {}
        self.began = time.monotonic()

    def left(self) -> float:
        """Seconds of --budget left for extra runs."""
        return float(self.args.budget) - (time.monotonic() - self.began)

    def step(self, label: str, text: str) -> None:
        """Announce a measurement, after waiting for the machine to be quiet (shared host)."""
        waited = sum(w["waited_s"] for w in self.waits.values())
        self.waits[label] = wait_quiet(
            self.server, min(self.args.quiet_wait, self.args.quiet_wait_total - waited)
        ) | {"steadiness": steadiness()}
        w = self.waits[label]["waited_s"]
        say(text + (f" [waited {w:.0f} s for quiet]" if w > 3.5 else ""))

    def ingest(
        self, label: str, workdir: Path, sources: Path, traced_by: Path | None = None
    ) -> IngestRun:
        run = run_ingest(label, workdir, sources, self.server, traced_by=traced_by)
        check_rc(run)
        return run

    def startups(self, sources: Path) -> tuple[list[IngestRun], IngestRun]:
        """Fresh start-up runs (one feed, no entries), then one more on the first's warehouse."""
        runs = []
        n = self.args.startup_runs
        for i in range(n):
            self.step(f"startup-{i + 1}", f"fixed start-up, run {i + 1}/{n} (fresh warehouse)")
            runs.append(self.ingest(f"startup-{i + 1}", self.tmp / f"startup-{i + 1}", sources))
        self.step(
            "startup-rerun", "start-up again on the same warehouse (Prefect home already created)"
        )
        return runs, self.ingest("startup-rerun", self.tmp / "startup-1", sources)

    def colds(self, sources: Path, pages: int) -> list[IngestRun]:
        """Cold ingests into fresh warehouses; extra ones while the best is disturbed."""
        runs = []
        n = self.args.cold_runs
        for i in range(n):
            self.step(
                f"cold-{i + 1}",
                f"cold ingest of {pages} pages, run {i + 1}/{n} (fresh warehouse)",
            )
            runs.append(self.ingest(f"cold-{i + 1}", self.tmp / f"cold-{i + 1}", sources))
        while disturbed(min(runs, key=lambda r: r.wall)) and len(runs) < 4 and self.left() > 240:
            i = len(runs) + 1
            self.step(
                f"cold-{i}", f"cold ingest of {pages} pages, run {i} (the others were disturbed)"
            )
            runs.append(self.ingest(f"cold-{i}", self.tmp / f"cold-{i}", sources))
        return runs

    def naive(self, feed_urls: list[str]) -> tuple[dict[str, Any], float]:
        """Issue 13's naive loop (fetch, plain extract, match, insert), best of up to 3 runs
        while the machine is busy; under "bare", the same loop without match and insert."""
        naive, naive_wall = self._naive_runs(feed_urls, match_insert=True)
        bare, bare_wall = self._naive_runs(feed_urls, match_insert=False)
        naive["bare"] = bare | {"process_wall_s": round(bare_wall, 2)}
        return naive, naive_wall

    def _naive_runs(self, feed_urls: list[str], *, match_insert: bool) -> tuple[Any, float]:
        naives: list[tuple[dict[str, Any], float]] = []
        label = "naive" if match_insert else "naive-bare"
        what = "match, insert" if match_insert else "no match, no insert"
        while not naives or (
            naives[-1][0]["foreign_cores_avg"] > NOISY_CORES
            and len(naives) < 3
            and self.left() > 60
        ):
            self.step(
                f"{label}-{len(naives) + 1}",
                f"naive loop: httpx + feedparser + trafilatura, {what}, sequential",
            )
            self.server.reset()
            argv = ["_naive", *feed_urls]
            if match_insert:
                db = self.tmp / f"{label}-{len(naives) + 1}.duckdb"
                argv[1:1] = ["--match-insert", str(db)]
            got, wall = run_json(HARNESS, argv, self.server.proc.pid)
            got["server_requests"] = self.server.stats()
            naives.append((got, wall))
        naive, naive_wall = min(naives, key=lambda x: x[1])
        naive["runs_s"] = [round(w, 2) for _, w in naives]
        return naive, naive_wall


def naive_line(naive: dict[str, Any], cold_s: float) -> str:
    """The naive loop's figures for a table: issue 13's loop, and the bare one beside it."""
    line = (
        f"{naive['process_wall_s']:.1f} s: fetch, plain extract, match, insert (best of "
        f"{naive['runs_s']}; loop {naive['loop_s']:.1f} s + imports {naive['imports_s']:.1f} s; "
        f"{naive['extracted']}/{naive['pages']} extracted)"
    )
    bare = naive.get("bare")
    if bare:
        line += (
            f"; without match and insert {bare['process_wall_s']:.1f} s (best of "
            f"{bare['runs_s']}), {bare['process_wall_s'] / cold_s:.2f}× the cold run"
        )
    return line


def whole_run_figures(
    pages: int,
    startups: list[IngestRun],
    colds: list[IngestRun],
    floor_cpu_s: float,
    naive_wall: float,
) -> dict[str, Any]:
    """The figures both benchmarks report for a whole run: start-up, cold, floor, naive, peaks."""
    startup = min(r.wall for r in startups)  # the least disturbed run on a shared machine
    cold = min(colds, key=lambda r: r.wall)
    floor_s = floor_cpu_s / CORES
    cold_net = cold.wall - startup
    startup_cpu = min(sum(r.sampler.cpu_by_role().values()) for r in startups)
    cold_cpu = sum(cold.sampler.cpu_by_role().values())
    return {
        "fixed_startup_s": round(startup, 2),
        "cold_s": round(cold.wall, 2),
        "cold_minus_startup_s": round(cold_net, 2),
        "cold_pages_per_s": round(pages / cold.wall, 2),
        "cold_pages_per_s_after_startup": round(pages / cold_net, 2),
        "floor_s": round(floor_s, 2),
        "ratio_to_floor": round(cold_net / floor_s, 2),
        "naive_s": round(naive_wall, 2),
        "speedup_vs_naive": round(naive_wall / cold.wall, 2),
        "speedup_vs_naive_after_startup": round(naive_wall / cold_net, 2),
        "peak_rss_mb": mb(max(r.sampler.peak_total for r in colds)),
        "peak_rss_mb_without_prefect_server": mb(
            max(r.sampler.peak_without_prefect for r in colds)
        ),
        "peak_pss_mb": mb(max(r.sampler.peak_pss_total for r in colds)),
        "peak_pss_mb_without_prefect_server": mb(
            max(r.sampler.peak_pss_without_prefect for r in colds)
        ),
        "cpu_s_cold_tree": round(cold_cpu, 2),
        "cpu_s_startup_tree": round(startup_cpu, 2),
        "cpu_s_floor": round(floor_cpu_s, 2),
        # CPU the pages cost the pipeline (all its processes) over what trafilatura alone
        # needs: even with both cores always busy, cold - start-up >= floor x this
        "cpu_ratio_to_floor": round((cold_cpu - startup_cpu) / floor_cpu_s, 2),
    }


def disturbed(run: IngestRun) -> bool:
    return run.sampler.foreign_cores() > NOISY_CORES


def check_rc(run: IngestRun) -> None:
    if run.rc != 0:
        tail = "\n".join(line for _, line in run.lines[-40:])
        raise RuntimeError(f"{run.label}: newswatch ingest exited with {run.rc}\n{tail}")


def print_rows(rows: list[tuple[str, str, str]]) -> None:
    """A table: label, figures, and [verdict] when there is one."""
    width = max(len(a) for a, _, _ in rows)
    print()
    for a, b, v in rows:
        print(f"{a:<{width}}  {b}" + (f"  [{v}]" if v else ""))


def write_results(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nfigures written to {out}")


def run_benchmark(
    args: argparse.Namespace,
    name: str,
    outlets: int,
    pages: int,
    measure: Callable[[Session, Path, dict[str, Any]], None],
) -> None:
    """A temporary directory with `web/` served by a ServerProcess of `outlets` origins;
    `measure(session, web, results)` writes the corpus there and fills `results`."""
    import platform
    import tempfile

    started = datetime.now(UTC)
    out = args.out or BENCH / "results" / f"{name}-{started:%Y%m%dT%H%M%S}.json"
    tmp = Path(tempfile.mkdtemp(prefix=f"newswatch-{name}-"))
    web = tmp / "web"
    web.mkdir()
    server = ServerProcess(web, outlets)
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "pages": pages,
        "machine": {
            "cores": CORES,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_at_start": os.getloadavg(),
        },
        "tree": git_state(),
        "prefect_mode": f"server {args.prefect_api_url}" if args.prefect_api_url else "temporary",
    }
    try:
        measure(Session(args, server, tmp), web, results)
    finally:
        server.close()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    write_results(out, results)


def print_run_details(cold: dict[str, Any]) -> None:
    """A cold run's phases, CPU and peak memory by kind of process."""
    print("\ncold ingest phases (s since launch, from its log lines):")
    print("  " + ", ".join(f"{k} {v}" for k, v in cold["phases_s"].items()))
    print("cold CPU by process (s): " + json.dumps(cold["cpu_s_by_role"]))
    print(f"cold CPU whole tree: {cold['cpu_s_tree']} s; server process: {cold['server_cpu_s']} s")
    print("peak RSS by process (MB): " + json.dumps(cold["peak_rss_mb_by_role"]))


if __name__ == "__main__":
    modes: dict[str, Callable[[list[str]], None]] = {"_serve": serve_main, "_naive": naive_main}
    if len(sys.argv) < 2 or sys.argv[1] not in modes:
        raise SystemExit(f"usage: harness.py {{{'|'.join(modes)}}} ...  (run by the benchmarks)")
    modes[sys.argv[1]](sys.argv[2:])
