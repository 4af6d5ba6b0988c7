"""Matcher throughput per core: `uv run python bench/match_speed.py [--jsonl FILE] [--every N]`.

Two corpora, one table row each, PASS/FAIL against the target (issue 6: 20 MB/s per core):

- general news: synthetic filler prose with one of the profile's own aliases every N words
  (default 150, a general feed where few articles name both states and defence);
- dense: the labelled dev excerpts, ../shared/relevance/dev.jsonl (or --jsonl FILE), repeated
  to get a measurable volume: on-topic text with several alias hits per sentence. The row is
  left out when the file is absent; its text is read at run time, never copied here.

MB are UTF-8 bytes of title + text. Per core: the matcher is single-threaded, so CPU seconds
(`time.process_time`) are core-seconds, and other processes on a shared machine do not count;
the wall-clock figure is shown beside it. Each figure is the best of --rounds passes.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from flows.config import load_topics
from flows.matching.match import CompiledTopic, compile_topic, match_text

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "relevance" / "dev.jsonl"
TARGET_MB_S = 20.0
FILLER_TEXT = (
    "the a of to in and on for with at by from that this was were is are said would could "
    "government minister officials report week year people city market company new plans talks "
    "after before during while since about against between over under more most than other "
    "agreement cooperation support spokesman statement country countries region border economy "
    "energy prices growth election parliament party policy court police water school hospital"
)
FILLER = FILLER_TEXT.split()

Docs = list[tuple[str, str]]  # (title, text)


@dataclass(frozen=True)
class Measured:
    """One corpus through the matcher: the best pass by CPU and by wall clock."""

    label: str
    texts: int
    megabytes: float
    cpu: float  # seconds
    wall: float
    matched: int

    @property
    def per_core(self) -> float:
        return self.megabytes / self.cpu


def synthetic(
    topic_dir: Path, count: int, size: int, every: int, seed: int
) -> list[tuple[str, str]]:
    """Filler prose with one of the profile's aliases every `every` words on average."""
    rng = random.Random(seed)
    topic = load_topics(topic_dir)[0]
    aliases = [a.rstrip("*") for e in topic.entities for names in e.aliases.values() for a in names]
    texts = []
    for _ in range(count):
        words: list[str] = []
        length = 0
        while length < size:
            word = rng.choice(aliases) if rng.random() < 1 / every else rng.choice(FILLER)
            words.append(word + ("." if rng.random() < 0.06 else ""))
            length += len(word) + 1
        body = " ".join(words)
        texts.append((" ".join(rng.choices(FILLER, k=10)), body))
    return texts


def from_jsonl(path: Path, repeat: int) -> list[tuple[str, str]]:
    """A labelled corpus's titles and texts, repeated to get a measurable volume."""
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    return [(r["title"], r["text"]) for r in rows] * repeat


def measure(compiled: CompiledTopic, label: str, docs: Docs, rounds: int) -> Measured:
    """The best of `rounds` passes over docs."""
    cpu = wall = float("inf")
    matched = 0
    for _ in range(rounds):
        matched = 0
        started, started_cpu = time.perf_counter(), time.process_time()
        for title, text in docs:
            matched += match_text(compiled, title=title, text=text).matched
        cpu = min(cpu, time.process_time() - started_cpu)
        wall = min(wall, time.perf_counter() - started)
    volume = sum(len((t + x).encode("utf-8")) for t, x in docs) / 1e6
    return Measured(label, len(docs), volume, cpu, wall, matched)


def table(rows: list[Measured]) -> str:
    """The figures, one corpus per line, with PASS/FAIL against the target."""
    width = max(len(r.label) for r in rows)
    head = (
        f"{'corpus':<{width}}  {'texts':>6}  {'MB':>5}  {'µs/text':>7}  {'matched':>7}  "
        f"{'wall MB/s':>9}  {'MB/s per core':>13}  target"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        verdict = "PASS" if r.per_core >= TARGET_MB_S else "FAIL"
        lines.append(
            f"{r.label:<{width}}  {r.texts:>6}  {r.megabytes:>5.1f}  "
            f"{r.cpu / r.texts * 1e6:>7.0f}  {r.matched:>7}  {r.megabytes / r.wall:>9.1f}  "
            f"{r.per_core:>13.1f}  ≥ {TARGET_MB_S:.0f} {verdict}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--topics", type=Path, default=ROOT / "topics")
    parser.add_argument("--jsonl", type=Path, default=DEV, help="dense corpus (default: dev)")
    parser.add_argument("--repeat", type=int, default=50, help="passes over --jsonl per round")
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--size", type=int, default=5000, help="characters per synthetic text")
    parser.add_argument("--every", type=int, default=150, help="words per alias in synthetic text")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes; the best counts")
    args = parser.parse_args()

    topic = load_topics(args.topics)[0]
    started = time.perf_counter()
    compiled = compile_topic(topic)
    build = time.perf_counter() - started
    general = synthetic(args.topics, args.texts, args.size, args.every, seed=7)
    rows = [
        measure(
            compiled,
            f"general news: synthetic {args.size // 1000} KB, an alias per {args.every} words",
            general,
            args.rounds,
        )
    ]
    if args.jsonl.is_file():
        dense = from_jsonl(args.jsonl, args.repeat)
        label = f"dense: {args.jsonl.name} excerpts x {args.repeat}"
        rows.append(measure(compiled, label, dense, args.rounds))
    else:
        print(f"{args.jsonl} not found: no dense row")
    print(f"profile {topic.id} ({compiled.version}): automaton built in {build * 1000:.0f} ms")
    print(table(rows))


if __name__ == "__main__":
    main()
