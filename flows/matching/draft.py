"""A draft topic profile from a seed article: its entities as sides, context and substance."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from pathlib import Path
from typing import Any

from flows.matching.names import gazetteer, language_adjectives, polish_forms, polish_phrase_forms
from flows.matching.seed_entities import Found, SeedError, find_entities, stop_words
from flows.matching.sentences import sentence_starts
from flows.topic import Topic

SUBSTANCE_WORDS = 10  # the seed's most frequent content words that carry its subject
MAX_NAMED = 60  # the entities named most often, when a long seed names more
_WORD = re.compile(r"[^\W\d_]{4,}")


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:40]
    return slug if slug[:1].isalpha() else f"g_{slug}"[:40]


def _sentence(text: str, starts: list[int], at: int) -> str:
    i = bisect_right(starts, at)
    end = starts[i] if i < len(starts) else len(text)
    return " ".join(text[starts[i - 1] : end].split())[:300]


def _substance(text: str, lang: str, named: list[Found]) -> list[Found]:
    """The seed's most frequent lowercase content words, forms sharing a stem together."""
    stops = stop_words(lang) | stop_words("en")
    inside = {i for e in named for a, b in e.spans for i in range(a, b)}
    words: dict[str, Found] = {}
    counts: Counter[str] = Counter()
    by_prefix: dict[str, list[str]] = {}
    for m in _WORD.finditer(text):
        word = m.group()
        if not word.islower() or word in stops or m.start() in inside:
            continue
        near = by_prefix.setdefault(word[:4], [])
        stem = next((s for s in near if _same_stem(s, word)), word)
        if stem == word and word not in near:
            near.append(word)
        entry = words.setdefault(stem, Found("substance", stem, stem))
        entry.spans.append(m.span())
        if word not in entry.forms:
            entry.forms.append(word)
        counts[stem] += 1
    ranked = [s for s, n in counts.most_common() if n >= 2][:SUBSTANCE_WORDS]
    return [words[s] for s in ranked]


def _same_stem(a: str, b: str) -> bool:
    shorter = min(len(a), len(b))
    return shorter >= 5 and a[: shorter - 1] == b[: shorter - 1]


def _aliases(e: Found, lang: str) -> dict[str, list[str]]:
    gaz = gazetteer(lang)
    out: dict[str, list[str]] = {lang: list(e.forms)}
    if e.kind in ("country", "city", "region"):
        place = gaz.places[e.key]
        for code, names in place.names.items():
            out.setdefault(code, []).extend(names)
        for name in place.names.get("pl", []):
            out["pl"].extend(polish_phrase_forms(name))
        for name in place.names.get("de", []) if e.kind != "region" else []:
            if " " not in name and name[-1] not in "sxz":
                out["de"].append(name + "s")  # genitive: Polens, Londons
        if e.kind == "country":
            for code, forms in language_adjectives(e.key).items():
                out.setdefault(code, []).extend(forms)
    elif e.kind == "person":
        surname = e.name.split()[-1]
        out = {"any": [e.name, *e.forms, surname, *polish_forms(surname)]}
    elif e.kind in ("organisation", "equipment") and e.name.replace(".", "").isupper():
        out = {"any": list(e.forms)}
    elif e.kind == "substance" and lang == "pl":
        out[lang].extend(f for form in e.forms for f in polish_forms(form))
    return out


# Long by design: it writes one YAML document top to bottom, a few lines per section.
def draft_profile(text: str, *, topic_id: str, seed_name: str, lang: str) -> dict[str, Any]:
    """The profile as YAML-ready data, validated as a Topic (ValueError if it cannot be)."""
    gaz = gazetteer(lang)
    starts = sentence_starts(text)[0]
    named = find_entities(text, lang)
    if len(named) > MAX_NAMED:
        top = sorted(named, key=lambda e: -len(e.spans))[:MAX_NAMED]
        named = sorted(top, key=lambda e: e.spans[0][0])
    weight: Counter[str] = Counter()
    for e in named:
        if e.kind == "country":
            weight[e.key] += len(e.spans)
        elif e.kind == "city" and gaz.places[e.key].country:
            weight[str(gaz.places[e.key].country)] += len(e.spans)
    sides = [code for code, _ in weight.most_common(2)]
    side_group = {code: _slug(gaz.places[code].name) for code in sides}
    substance = _substance(text, lang, named)
    if not sides or not substance:
        raise ValueError(
            "the seed names no country, or repeats no content word; a seed must be an article "
            "about the topic, naming its parties"
        )
    entities: list[dict[str, Any]] = []
    owner: set[str] = set()
    for e in [*named, *substance]:
        country = gaz.places[e.key].country if e.kind == "city" else e.key
        if e.kind in ("country", "city") and country in side_group:
            groups = [side_group[str(country)]]
        elif e.kind == "country":
            groups = ["other_state"]
        elif e.kind in ("city", "region"):
            groups = ["region"]
        elif e.kind in ("agreement", "equipment", "substance"):
            groups = ["substance"]
        elif e.side in side_group:
            groups = [side_group[str(e.side)]]
        else:
            groups = ["actor"]
        aliases = {}
        for language, forms in _aliases(e, lang).items():
            kept = [n for n in dict.fromkeys(a.strip() for a in forms) if n and n not in owner]
            owner.update(kept)
            if kept:
                aliases[language] = kept
        if not aliases:
            continue
        entry: dict[str, Any] = {"name": e.name, "groups": groups, "aliases": aliases}
        if e.kind == "city":
            entry["weight"] = 0.8  # a capital stands for its government, and is a venue too
        entry["note"] = f"{e.kind}, drafted from the seed"
        entry["seed"] = {
            "offsets": [list(span) for span in e.spans],
            "sentence": _sentence(text, starts, e.spans[0][0]),
        }
        entities.append(entry)
    used = {g for entry in entities for g in entry["groups"]}
    meaning = {
        **{g: f"a {gaz.places[c].name} side actor, office or place" for c, g in side_group.items()},
        "substance": "what the seed is about: its agreements, equipment and key words",
        "other_state": "another state; many in one sentence make it a list, not the story",
        "region": "a region or another place the seed names (context only)",
        "actor": "a person or organisation the seed names without a side (context only)",
    }
    profile: dict[str, Any] = {
        "id": topic_id,
        "name": f"Draft: {_sentence(text, starts, 0)[:120]}",
        "seed": seed_name,
        "description": "Drafted by `newswatch topic draft` from the seed; review before use.",
        "baseline": [gaz.places[c].name for c in sides] + [substance[0].name],
        "groups": {g: meaning[g] for g in meaning if g in used},
        "rule": {
            "require": [*side_group.values(), "substance"],
            "threshold": 0.5,
            **({"crowd": {"group": "other_state"}} if "other_state" in used else {}),
        },
        "entities": entities,
    }
    Topic.model_validate(profile)
    return profile


_HEADER = """\
# Drafted by `newswatch topic draft` from {seed} (language: {lang}); nothing was edited by hand.
# Each entity's `seed:` says where in the seed it was found ([start, end) character offsets
# and the sentence); entities added by hand have none. Review the groups and aliases, then
# measure it: newswatch eval --corpus FILE.jsonl --topics DIR
"""


def write_draft(
    seed: Path, topics: Path, topic_id: str, *, force: bool, lang: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """Write topics/<id>.yaml (and the seed beside it); SeedError or FileExistsError."""
    import yaml

    from flows.matching.seed_entities import check_size, read_seed, seed_language

    try:
        check_size(seed.stat().st_size)  # before reading it
        data = seed.read_bytes()
    except OSError as exc:
        raise SeedError(f"cannot read it ({exc.strerror or exc}); fix: pass a text file") from None
    text = read_seed(data)
    lang = lang or seed_language(text)
    target, copy = topics / f"{topic_id}.yaml", topics / f"{topic_id}.seed.txt"
    same_seed = copy.exists() and copy.resolve() == seed.resolve()
    for path in (target, *(() if same_seed else (copy,))):
        if path.exists() and not force:
            raise FileExistsError(
                f"{path} exists; fix: pass --force to replace it, or another --id"
            )
    try:
        profile = draft_profile(text, topic_id=topic_id, seed_name=copy.name, lang=lang)
    except ValueError as exc:
        raise SeedError(str(exc).splitlines()[0]) from None
    topics.mkdir(parents=True, exist_ok=True)
    if not same_seed:
        copy.write_bytes(data)
    body = yaml.safe_dump(profile, allow_unicode=True, sort_keys=False, width=100)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(_HEADER.format(seed=seed.name, lang=lang) + body, encoding="utf-8")
    tmp.replace(target)
    return target, profile


def show(topic: Topic) -> str:
    """Each entity of a topic: its groups, from the seed or by hand, and its aliases."""
    drafted = sum(e.seed is not None for e in topic.entities)
    lines = [
        f"{topic.id} (profile {topic.version}): {len(topic.entities)} entities, "
        f"{drafted} from the seed, {len(topic.entities) - drafted} added by hand; "
        f"required groups: {', '.join(topic.rule.require)}"
    ]
    for e in topic.entities:
        if e.seed is None:
            origin = "added by hand"
        else:
            start, end = e.seed.offsets[0]
            more = f" and {len(e.seed.offsets) - 1} more" if len(e.seed.offsets) > 1 else ""
            origin = f"from the seed at {start}-{end}{more}: {e.seed.sentence[:100]}"
        weight = f", weight {e.weight}" if e.weight != 1 else ""
        lines.append(f"- {e.name} [{'/'.join(e.groups)}{weight}] {origin}")
        for lang, names in e.aliases.items():
            lines.append(f"    {lang}: {', '.join(names)}")
    return "\n".join(lines)
