"""Start-up benchmark: `uv run python bench/startup_bench.py [--runs N] [--out FILE]`.

A cron-style null run, `newswatch ingest` of one loopback feed with nothing new, on an
existing data directory (its warehouse and Prefect home made by a first run that is not
counted), timed from launch to exit, its process tree sampled (bench/harness.py):

  no server     no `newswatch serve` on the clone: the run starts its temporary Prefect server
  with serve    `newswatch serve` runs on the same clone (schedules that never fire): the run
                finds serve's Prefect server and uses it

Targets (issue 13, point 4): the median run ≤ 4 s without a server, ≤ 3 s with serve. The
machine is shared: each run waits for quiet first, and runs during which other processes used
more than NOISY_CORES are marked DISTURBED. Every run is in the JSON (default
bench/results/startup-<timestamp>.json), with its CPU by kind of process and its phases.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from harness import NEWSWATCH, IngestRun, Session, say, sources_yaml, verdict

TARGET_NO_SERVER_S = 4.0
TARGET_WITH_SERVE_S = 3.0
EMPTY_RSS = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title>'
    "<link>http://127.0.0.1/</link><description>nothing new</description></channel></rss>\n"
)
NEVER = "0 0 1 1 *"  # serve's schedules: once a year, never during the benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_common_args(parser)
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each kind")
    parser.add_argument("--no-serve", action="store_true", help="skip the runs beside serve")
    args = parser.parse_args()
    args.prefect_api_url = None  # the point is what a run finds on its own
    harness.run_benchmark(args, "startup", 1, 0, lambda s, web, r: _bench(args, s, web, r))


def _bench(args: argparse.Namespace, s: Session, web: Path, results: dict[str, Any]) -> None:
    (web / "0").mkdir()
    (web / "0" / "empty.xml").write_text(EMPTY_RSS, encoding="utf-8")
    sources = sources_yaml(s.tmp / "sources.yaml", [("Quiet", s.server.bases[0] + "/empty.xml")], 0)
    work = s.tmp / "clone"
    s.step("first", "first run: makes the data directory and Prefect's home (not counted)")
    first = s.ingest("first", work, sources)
    results["first_run"] = first.as_dict()
    results["no_server"] = _series(s, "no-server", work, sources, args.runs)
    if not args.no_serve:
        with _serve(work, sources) as serve_url:
            results["serve_api"] = serve_url
            results["with_serve"] = _series(s, "with-serve", work, sources, args.runs)
    results["quiet_waits"] = s.waits
    _report(results)


def _series(s: Session, kind: str, work: Path, sources: Path, n: int) -> dict[str, Any]:
    runs: list[IngestRun] = []
    for i in range(n):
        s.step(f"{kind}-{i + 1}", f"{kind} null run {i + 1}/{n}")
        runs.append(s.ingest(f"{kind}-{i + 1}", work, sources))
        say(f"  {runs[-1].wall:.2f} s, CPU {runs[-1].sampler.cpu_by_role()}")
    walls = [r.wall for r in runs]
    clean = [r.wall for r in runs if not harness.disturbed(r)]
    return {
        "walls_s": [round(w, 2) for w in walls],
        "median_s": round(statistics.median(walls), 2),
        "min_s": round(min(walls), 2),
        "max_s": round(max(walls), 2),
        "median_undisturbed_s": round(statistics.median(clean), 2) if clean else None,
        "undisturbed_runs": len(clean),
        "cpu_s_tree_median": round(
            statistics.median(sum(r.sampler.cpu_by_role().values()) for r in runs), 2
        ),
        "runs": [r.as_dict() for r in runs],
    }


class _serve:
    """`newswatch serve` on the benchmark's clone, until its API is advertised and answers."""

    def __init__(self, work: Path, sources: Path) -> None:
        self.work, self.sources = work, sources
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        env = harness._child_env()
        env |= {"NEWSWATCH_INGEST_CRON": NEVER, "NEWSWATCH_DIGEST_CRON": NEVER}
        db = self.work / "warehouse" / "bench.duckdb"
        say("starting `newswatch serve` on the same clone")
        self.proc = subprocess.Popen(
            [str(NEWSWATCH), "serve", "--sources", str(self.sources), "--db", str(db)],
            cwd=self.work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        advert = db.parent / ".data" / "prefect" / "serve-api.json"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"newswatch serve exited with {self.proc.returncode}")
            try:
                url = str(json.loads(advert.read_text(encoding="utf-8"))["url"])
                with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:  # noqa: S310
                    if reply.status == 200:
                        time.sleep(5)  # serve registers its deployments after advertising
                        return url
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise RuntimeError("newswatch serve did not advertise a healthy API within 240 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _report(results: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str]] = []
    first = results["first_run"]
    rows.append(("first run (fresh data dir)", f"{first['wall_s']:.2f} s (not a target)", ""))
    for key, label, target in (
        ("no_server", "null run, no server", TARGET_NO_SERVER_S),
        ("with_serve", "null run beside serve", TARGET_WITH_SERVE_S),
    ):
        if key not in results:
            continue
        r = results[key]
        ok = r["median_s"] <= target
        results.setdefault("targets", {})[key] = {"target_s": target, "pass": ok}
        cpu = statistics.median(x["cpu_s_tree"] for x in r["runs"])
        by_role = r["runs"][len(r["runs"]) // 2]["cpu_s_by_role"]
        rows.append(
            (
                label,
                f"median {r['median_s']:.2f} s (min {r['min_s']:.2f}, max {r['max_s']:.2f}; "
                f"{r['undisturbed_runs']}/{len(r['walls_s'])} undisturbed) ≤ {target:g} s",
                verdict(ok),
            )
        )
        rows.append((f"  CPU, {label}", f"{cpu:.2f} s whole tree, e.g. {by_role}", ""))
        loads = [x["foreign_cores_avg"] for x in r["runs"]]
        rows.append((f"  other load, {label}", f"{min(loads)}-{max(loads)} cores", ""))
    rows.append(harness.steadiness_row(results["quiet_waits"]))
    harness.print_rows(rows)


if __name__ == "__main__":
    main()
