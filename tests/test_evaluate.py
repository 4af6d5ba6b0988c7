"""Evaluation on a small corpus with a known confusion matrix, and the keyword baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.matching.evaluation import (
    CorpusError,
    Counts,
    evaluate,
    format_report,
    keyword_alert,
    load_corpus,
    parse_corpus,
)
from flows.topic import Topic

# Two invented countries and a harbour: a topic small enough to predict by hand.
TOPIC = yaml.safe_load("""\
id: ruritania-borduria-ports
name: Ruritania–Borduria port cooperation
baseline: [Ruritania, Borduria, port]
groups: {ru: Ruritanian side, bo: Bordurian side, port: ports and shipping}
rule: {require: [ru, bo, port], threshold: 0.5}
entities:
  - {name: Ruritania, groups: [ru], aliases: {en: [Ruritania, Ruritanian]}}
  - {name: Borduria, groups: [bo], aliases: {en: [Borduria, Bordurian]}}
  - {name: ports, groups: [port], aliases: {en: [port, harbour, ferry]}}
""")

BOTH = "Ruritania and Borduria will run a ferry together."  # every group in one sentence


def item(
    ident: str, label: str, title: str, text: str, language: str = "en", tag: str = "t"
) -> str:
    row: dict[str, Any] = {
        "id": ident,
        "title": title,
        "text": text,
        "language": language,
        "label": label,
        "topic_tag": tag,
    }
    return json.dumps(row)


CORPUS = [
    # 3 true positives: titles holding every group
    item("tp1", "relevant", BOTH, "", tag="ferry"),
    item("tp2", "relevant", BOTH, "", language="xx", tag="ferry"),
    item("tp3", "relevant", BOTH, "A second sentence.", tag="ferry"),
    # 1 false positive, labelled not relevant yet full of evidence
    item("fp1", "not_relevant", BOTH, BOTH, tag="lookalike"),
    # 2 false negatives: the evidence is split across sentences
    item("fn1", "relevant", "Harbour news", "Ruritania spoke. Borduria listened.", tag="ferry"),
    item("fn2", "relevant", "Talks", "Ruritanian ministers met.", language="xx", tag="talks"),
    # 4 true negatives
    item("tn1", "not_relevant", "Weather", "Rain in Ruritania.", tag="other"),
    item("tn2", "not_relevant", "Sport", "Borduria won.", tag="other"),
    item("tn3", "not_relevant", "Ports", "The port reopened.", tag="other"),
    item("tn4", "not_relevant", "Nothing", "", tag="other"),
    # ambiguous: left out of every figure
    item("amb1", "ambiguous", BOTH, "", tag="ferry"),
    item("amb2", "ambiguous", "Unclear", "", tag="ferry"),
]


@pytest.fixture(scope="module")
def topic() -> Topic:
    return Topic.model_validate(TOPIC)


def test_counts_give_exact_precision_recall_f1(topic: Topic) -> None:
    report = evaluate(topic, parse_corpus(CORPUS))
    assert report.overall == Counts(tp=3, fp=1, fn=2, tn=4)
    assert report.overall.precision == pytest.approx(3 / 4)
    assert report.overall.recall == pytest.approx(3 / 5)
    assert report.overall.f1 == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))
    assert (report.items, report.ambiguous, report.ambiguous_matched) == (12, 2, 1)


def test_figures_split_by_language_and_tag(topic: Topic) -> None:
    report = evaluate(topic, parse_corpus(CORPUS))
    assert report.by_language == {
        "en": Counts(tp=2, fp=1, fn=1, tn=4),
        "xx": Counts(tp=1, fn=1),
    }
    assert report.by_tag["ferry"] == Counts(tp=3, fn=1)
    assert report.by_tag["talks"] == Counts(fn=1)
    assert report.by_tag["lookalike"] == Counts(fp=1)
    assert report.by_tag["other"].precision is None  # nothing predicted: undefined, not zero
    assert report.by_tag["other"].f1 is None


def test_errors_carry_the_evidence_behind_them(topic: Topic) -> None:
    report = evaluate(topic, parse_corpus(CORPUS))
    errors = {e.id: e for e in report.errors}
    assert set(errors) == {"fp1", "fn1", "fn2"}
    assert errors["fp1"].kind == "false positive"
    assert errors["fp1"].windows[0].unit == "title"
    assert errors["fp1"].score >= 0.5
    assert errors["fn1"].kind == "false negative"
    assert errors["fn1"].missing == ()  # all there, never together
    assert set(errors["fn1"].entities) == {"Ruritania", "Borduria", "ports"}
    assert errors["fn2"].missing == ("bo", "port")


def test_keyword_baseline_wants_its_exact_words(topic: Topic) -> None:
    report = evaluate(topic, parse_corpus(CORPUS))
    # no item says "port" together with both countries: a ferry or harbour is not the keyword
    assert report.baseline == Counts(fn=5, tn=5)
    assert report.baseline_query == ("Ruritania", "Borduria", "port")


def test_keyword_alert_is_whole_word_and_case_insensitive() -> None:
    alert = keyword_alert(["UK", "defence"])
    assert alert("the uk spends on DEFENCE")
    assert not alert("Ukraine spends on defence")
    assert not alert("UK defences")
    assert not keyword_alert([])("anything")


def test_baseline_counts(topic: Topic) -> None:
    corpus = [
        item("a", "relevant", "Ruritania, Borduria", "A new PORT opens."),  # alert yes, far apart
        item("b", "relevant", "ruritania", "no"),
        item("c", "not_relevant", "Ruritania Borduria port", ""),
        item("d", "not_relevant", "Borduria", "port"),
    ]
    report = evaluate(topic, parse_corpus(corpus))
    assert report.baseline == Counts(tp=1, fp=1, fn=1, tn=1)
    assert report.overall == Counts(tp=0, fp=1, fn=2, tn=1)


def test_no_baseline_without_a_query(topic: Topic) -> None:
    bare = Topic.model_validate({**TOPIC, "baseline": []})
    assert evaluate(bare, parse_corpus(CORPUS)).baseline is None


def test_format_report_prints_tables_and_errors(topic: Topic) -> None:
    text = format_report(evaluate(topic, parse_corpus(CORPUS)))
    assert "Topic ruritania-borduria-ports" in text
    assert "2 ambiguous left out" in text
    assert "keyword alert: Ruritania AND Borduria AND port" in text
    assert "matcher by language" in text and "matcher by topic tag" in text
    assert "0.750  0.600  0.667" in text
    assert "false negative: fn2 [xx] talks" in text
    assert "never found: bo, port" in text
    assert "    –" in text  # undefined figures shown as a dash


def test_load_corpus_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(CORPUS) + "\n\n", encoding="utf-8")
    items = load_corpus(path)
    assert len(items) == 12
    assert items[0].id == "tp1" and items[1].language == "xx"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "line 2: not JSON"),
        ("[1, 2]", "line 2: expected an object"),
        ('{"title": "t", "text": "x"}', "line 2: no text field label"),
        ('{"title": "t", "text": "x", "label": "maybe"}', "line 2: label 'maybe'"),
    ],
)
def test_bad_corpus_lines_name_the_line(line: str, problem: str) -> None:
    with pytest.raises(CorpusError, match=problem):
        parse_corpus([CORPUS[0], line])


def test_missing_id_and_language_get_defaults() -> None:
    (only,) = parse_corpus(['{"title": "t", "text": "x", "label": "relevant"}'])
    assert (only.id, only.language, only.topic_tag) == ("line-1", None, "-")
