"""Measure a topic profile on a labelled JSONL corpus: P/R/F1, errors, a keyword baseline."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from flows.matching.match import compile_topic
from flows.matching.mutes import match_article
from flows.topic import Topic
from warehouse.errors import ConfigError
from warehouse.evidence import ScoreParts, Window

LABELS = ("relevant", "not_relevant", "ambiguous")


class CorpusError(ConfigError, ValueError):
    """A corpus line is not a usable labelled item; the message names the line and the fix."""


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled excerpt."""

    id: str
    title: str
    text: str
    language: str | None
    label: str  # relevant, not_relevant or ambiguous
    topic_tag: str
    url: str | None = None  # for the topic's mutes
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    """A confusion matrix, with the figures derived from it (None where undefined)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, *, predicted: bool, relevant: bool) -> Counts:
        """This matrix with one more decision."""
        key = ("tp" if relevant else "fp") if predicted else ("fn" if relevant else "tn")
        return replace(self, **{key: getattr(self, key) + 1})

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, slots=True)
class Miss:
    """A wrong decision and the evidence behind it."""

    id: str
    kind: str  # "false positive" or "false negative"
    language: str | None
    topic_tag: str
    title: str
    score: float
    entities: tuple[str, ...]
    missing: tuple[str, ...]  # required groups absent from the whole text
    windows: tuple[Window, ...]  # the sentences that scored, best first
    parts: ScoreParts
    rules: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the rules that fired, where


@dataclass(frozen=True)
class Report:
    """Everything `newswatch eval` prints."""

    topic: str
    version: str
    threshold: float
    items: int
    ambiguous: int
    ambiguous_matched: int
    overall: Counts
    by_language: dict[str, Counts]
    by_tag: dict[str, Counts]
    baseline_query: tuple[str, ...]
    baseline: Counts | None
    baseline_by_language: dict[str, Counts]
    errors: tuple[Miss, ...]


def parse_corpus(lines: Iterable[str]) -> list[Item]:
    """JSONL lines → items; blank lines are skipped, anything else malformed is an error."""
    items: list[Item] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(
                f"line {number}: not JSON ({exc.msg}); fix: one object per line"
            ) from None
        if not isinstance(row, dict):
            raise CorpusError(f"line {number}: expected an object; fix: one object per line")
        missing = [k for k in ("title", "text", "label") if not isinstance(row.get(k), str)]
        if missing:
            raise CorpusError(f"line {number}: no text field {', '.join(missing)}; fix: add it")
        if row["label"] not in LABELS:
            raise CorpusError(
                f"line {number}: label {row['label']!r}; fix: use one of {', '.join(LABELS)}"
            )
        items.append(
            Item(
                id=str(row.get("id") or f"line-{number}"),
                title=row["title"],
                text=row["text"],
                language=row.get("language") or None,
                label=row["label"],
                topic_tag=str(row.get("topic_tag") or "-"),
                url=row.get("url") if isinstance(row.get("url"), str) else None,
                source=row.get("source") if isinstance(row.get("source"), str) else None,
            )
        )
    return items


def load_corpus(path: Path) -> list[Item]:
    """Read a labelled JSONL file."""
    with path.open(encoding="utf-8") as handle:
        return parse_corpus(handle)


def keyword_alert(terms: Sequence[str]) -> Callable[[str], bool]:
    """A Google-Alert-style test: every term somewhere in the text, as a whole word, any case."""
    patterns = [re.compile(rf"(?<!\w){re.escape(t)}(?!\w)", re.IGNORECASE) for t in terms]
    return lambda text: bool(patterns) and all(p.search(text) for p in patterns)


def _tally(table: dict[str, Counts], key: str, *, predicted: bool, relevant: bool) -> None:
    table[key] = table.get(key, Counts()).add(predicted=predicted, relevant=relevant)


# Long by design: one report's counters filled in one loop over the corpus.
def evaluate(topic: Topic, items: Sequence[Item]) -> Report:
    """Match every item; score the decisions on relevant/not_relevant items (ambiguous left out)."""
    compiled = compile_topic(topic)
    alert = keyword_alert(topic.baseline)
    overall, baseline = Counts(), Counts()
    by_language: dict[str, Counts] = {}
    by_tag: dict[str, Counts] = {}
    baseline_by_language: dict[str, Counts] = {}
    errors: list[Miss] = []
    ambiguous = ambiguous_matched = 0
    for item in items:
        result = match_article(
            compiled,
            title=item.title,
            text=item.text,
            language=item.language,
            url=item.url,
            source=item.source,
        )
        if item.label == "ambiguous":
            ambiguous += 1
            ambiguous_matched += result.matched
            continue
        relevant, language = item.label == "relevant", item.language or "?"
        overall = overall.add(predicted=result.matched, relevant=relevant)
        _tally(by_language, language, predicted=result.matched, relevant=relevant)
        _tally(by_tag, item.topic_tag, predicted=result.matched, relevant=relevant)
        hit = alert(f"{item.title}\n{item.text}")
        baseline = baseline.add(predicted=hit, relevant=relevant)
        _tally(baseline_by_language, language, predicted=hit, relevant=relevant)
        if result.matched != relevant:
            ev = result.evidence
            errors.append(
                Miss(
                    id=item.id,
                    kind="false positive" if result.matched else "false negative",
                    language=item.language,
                    topic_tag=item.topic_tag,
                    title=item.title,
                    score=result.score,
                    entities=result.entities,
                    missing=ev.missing,
                    windows=ev.windows,
                    parts=ev.parts or ScoreParts(),
                    rules=ev.rules,
                )
            )
    return Report(
        topic=topic.id,
        version=compiled.version,
        threshold=topic.rule.threshold,
        items=len(items),
        ambiguous=ambiguous,
        ambiguous_matched=ambiguous_matched,
        overall=overall,
        by_language=dict(sorted(by_language.items(), key=lambda kv: -kv[1].n)),
        by_tag=dict(sorted(by_tag.items())),
        baseline_query=topic.baseline,
        baseline=baseline if topic.baseline else None,
        baseline_by_language=dict(sorted(baseline_by_language.items(), key=lambda kv: -kv[1].n)),
        errors=tuple(errors),
    )


def _figure(value: float | None) -> str:
    return "    –" if value is None else f"{value:5.3f}"


def _row(label: str, c: Counts, width: int) -> str:
    return (
        f"{label:<{width}} {c.n:>4} {c.tp:>4} {c.fp:>4} {c.fn:>4} {c.tn:>4}   "
        f"{_figure(c.precision)}  {_figure(c.recall)}  {_figure(c.f1)}"
    )


def _table(title: str, rows: dict[str, Counts]) -> list[str]:
    width = max([len(title), *map(len, rows)])
    counts = "".join(f" {h:>4}" for h in ("n", "TP", "FP", "FN", "TN"))
    head = f"{title:<{width}}{counts}   {'P':>5}  {'R':>5}  {'F1':>5}"
    return [head, "-" * len(head), *(_row(k, v, width) for k, v in rows.items()), ""]


def format_report(report: Report) -> str:
    """The report as plain-text tables, then the errors with their evidence."""
    lines = [
        f"Topic {report.topic} (profile {report.version}), threshold {report.threshold:.2f}",
        f"{report.items} items; {report.ambiguous} ambiguous left out of the figures "
        f"({report.ambiguous_matched} of them matched)",
        "",
    ]
    summary = {"matcher": report.overall}
    if report.baseline is not None:
        summary[f"keyword alert: {' AND '.join(report.baseline_query)}"] = report.baseline
    lines += _table("", summary)
    lines += _table("matcher by language", report.by_language)
    if report.baseline is not None:
        lines += _table("keyword alert by language", report.baseline_by_language)
    lines += _table("matcher by topic tag", report.by_tag)
    lines.append(f"Errors ({len(report.errors)})")
    for miss in report.errors:
        lines.append(
            f"- {miss.kind}: {miss.id} [{miss.language or '?'}] {miss.topic_tag} "
            f"score {miss.score:.3f}: {miss.title[:90]}"
        )
        parts = miss.parts
        lines.append(
            f"    parts: title {parts.title}, lead {parts.lead}, body {parts.body}, "
            f"penalties {parts.penalties or 'none'}"
        )
        if miss.missing:
            lines.append(f"    never found: {', '.join(miss.missing)}")
        for rule, notes in miss.rules.items():
            lines.append(f"    rule {rule}: {' | '.join(notes)[:160]}")
        lines.append(f"    entities: {', '.join(miss.entities[:12]) or 'none'}")
        for window in miss.windows[:3]:
            lines.append(f"    {window.where} {window.unit} {window.weight}: {window.text[:160]}")
    return "\n".join(lines)
