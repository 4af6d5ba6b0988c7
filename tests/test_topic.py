"""Topic profiles: the shipped one validates and covers its seed; bad ones fail clearly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from flows.config import ConfigError, load_topics
from flows.matching.match import compile_topic, match_text
from flows.topic import Topic

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "topics" / "uk-poland-defence.yaml"

SECOND_TOPIC = """\
name: Germany–France energy cooperation
groups:
  de: the German side
  fr: the French side
  energy: energy substance
  sport: sport coverage
rule:
  require: [de, fr, energy]
  threshold: 0.5
  contrast:
    sport: {per_hit: 0.3, max: 0.9}
entities:
  - name: Germany
    groups: [de]
    aliases:
      en: [Germany, German]
      de: [Deutschland, deutsch*]
      fr: [Allemagne, allemand, allemande]
  - name: France
    groups: [fr]
    aliases:
      en: [France, French]
      de: [Frankreich, französisch*]
      fr: [France, française, français]
  - name: energy
    groups: [energy]
    aliases:
      en: [energy, electricity, power grid, interconnector, hydrogen]
      de: [Energie*, Strom*, Wasserstoff*]
      fr: [énergie, électricité, hydrogène]
  - name: sport
    groups: [sport]
    aliases:
      en: [football, match]
"""


def raw_profile() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def topic() -> Topic:
    return load_topics(ROOT / "topics", only=("uk-poland-defence",))[0]


def test_shipped_profile_validates(topic: Topic) -> None:
    assert topic.id == "uk-poland-defence"
    assert topic.name
    assert topic.seed == "uk-poland-defence.seed.txt"
    assert (ROOT / "topics" / topic.seed).is_file()
    assert set(topic.rule.require) == {"uk", "poland", "defence"}
    assert topic.baseline == ("UK", "Poland", "defence")


def test_version_is_a_stable_content_hash(topic: Topic) -> None:
    again = Topic.model_validate(raw_profile())
    assert re.fullmatch(r"[0-9a-f]{12}", topic.version)
    assert again.version == topic.version
    changed = raw_profile()
    changed["rule"]["threshold"] = 0.55
    assert Topic.model_validate(changed).version != topic.version
    reordered = raw_profile()
    reordered["groups"] = dict(reversed(list(reordered["groups"].items())))
    assert Topic.model_validate(reordered).version == topic.version  # content, not key order


def test_topic_is_frozen_and_hashable(topic: Topic) -> None:
    with pytest.raises(ValidationError):
        topic.name = "other"
    assert hash(topic) == hash(Topic.model_validate(raw_profile()))


def test_every_entity_the_seed_names_is_found_in_it(topic: Topic) -> None:
    seed = (ROOT / "topics" / "uk-poland-defence.seed.txt").read_text(encoding="utf-8")
    result = match_text(compile_topic(topic), title="", text=seed, language="en")
    for name in (
        "United Kingdom",
        "Poland",
        "Keir Starmer",
        "Donald Tusk",
        "London",
        "Russia",
        "NATO",
        "Eastern Europe",
        "defence and security treaty",
    ):
        assert name in result.entities, name
    assert result.matched and result.score > 0.7


def test_profile_lists_the_polish_inflections(topic: Topic) -> None:
    aliases = {a for e in topic.entities for names in e.aliases.values() for a in names}
    for form in (
        "Polska", "Polski", "Polsce", "Polską", "Polskę",
        "Wielka Brytania", "Wielkiej Brytanii", "Wielką Brytanię",
        "brytyjski", "brytyjska", "brytyjskie", "brytyjskiego", "brytyjskich", "brytyjskim",
        "brytyjskimi", "brytyjską", "Londyn", "Londynie", "Londynu",
        "Rosja", "Rosji", "Rosję", "rosyjski",
        "Großbritannien", "britisch", "Polen", "polnisch", "Verteidigung*", "Bundeswehr",
        "Royaume-Uni", "britannique", "Pologne", "polonais", "défense",
    ):  # fmt: skip
        assert form in aliases, form


def test_current_office_holders_are_listed(topic: Topic) -> None:
    entities = {e.name for e in topic.entities}
    for name in (
        "Keir Starmer", "John Healey", "Yvette Cooper", "Donald Tusk", "Karol Nawrocki",
        "Władysław Kosiniak-Kamysz", "Radosław Sikorski",
    ):  # fmt: skip
        assert name in entities, name


def test_no_topic_specifics_in_python() -> None:
    modules = ("topic.py", "matching/match.py", "matching/evaluation.py", "matching/mutes.py")
    drafting = ("matching/draft.py", "matching/seed_entities.py")
    for module in (*modules, "matching/labels.py", *drafting):
        source = (ROOT / "flows" / module).read_text(encoding="utf-8")
        for word in ("Poland", "Polish", "Polsk", "Brit", "Starmer", "Tusk", "NATO"):
            assert word not in source, (module, word)


def _problem(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        Topic.model_validate(data)
    return str(caught.value)


def test_unknown_group_names_the_entity_and_the_declared_groups() -> None:
    data = raw_profile()
    data["entities"][1]["groups"] = ["polnad"]
    message = _problem(data)
    assert "entity 'Poland' names group 'polnad'" in message
    assert "declared: uk, poland, defence" in message


def test_rule_naming_an_undeclared_group_fails() -> None:
    data = raw_profile()
    data["rule"]["require"] = ["uk", "poland", "defense"]
    assert "names group 'defense', which `groups:` does not declare" in _problem(data)


def test_alias_under_two_entities_fails() -> None:
    data = raw_profile()
    data["entities"][1]["aliases"]["en"].append("Britain")
    assert "alias 'Britain' is listed under both 'United Kingdom' and 'Poland'" in _problem(data)


def test_required_group_cannot_also_count_against() -> None:
    data = raw_profile()
    data["rule"]["contrast"]["uk"] = {"per_hit": 0.1, "max": 0.5}
    assert "group 'uk' is both required and counted against a match" in _problem(data)


def test_required_group_without_entities_fails() -> None:
    data = raw_profile()
    data["groups"]["navy"] = "naval matters"
    data["rule"]["require"] = ["uk", "navy"]
    assert "no entity belongs to required group 'navy'" in _problem(data)


@pytest.mark.parametrize(
    ("alias", "problem"),
    [
        ("Pol*and", "* may only end an alias"),
        (" Poland", "spaces around it"),
        ("-*", "* must follow"),
    ],
)
def test_malformed_alias_fails(alias: str, problem: str) -> None:
    data = raw_profile()
    data["entities"][1]["aliases"]["en"] = [alias]
    assert problem in _problem(data)


def test_bad_profile_file_gives_a_line_with_file_entry_and_fix(tmp_path: Path) -> None:
    data = raw_profile()
    data["rule"]["treshold"] = 0.5
    data["entities"][0]["weight"] = 2
    data.pop("seed")
    (tmp_path / "uk-poland-defence.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_topics(tmp_path)
    lines = str(caught.value).splitlines()
    assert any("rule.treshold" in line and "fix: remove `treshold`" in line for line in lines)
    assert any(
        "entities[0] ('United Kingdom').weight" in line and "less than or equal to 1" in line
        for line in lines
    )
    assert all(line.startswith(str(tmp_path / "uk-poland-defence.yaml")) for line in lines)


def test_second_topic_is_pure_yaml_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "germany-france-energy.yaml").write_text(SECOND_TOPIC, encoding="utf-8")
    (topic,) = load_topics(tmp_path)
    assert topic.id == "germany-france-energy"
    compiled = compile_topic(topic)

    hit = match_text(
        compiled,
        title="Germany and France link their power grids",
        text="A new interconnector will carry French electricity to German industry. "
        "Deutschland und Frankreich wollen auch beim Wasserstoff zusammenarbeiten.",
        language="en",
    )
    assert hit.matched
    assert hit.topic == "germany-france-energy"
    assert hit.profile_version == topic.version
    assert {"Germany", "France", "energy"} <= set(hit.entities)

    football = match_text(
        compiled,
        title="France beat Germany in football friendly",
        text="The French side won the match after a German defender slipped; the energy in the "
        "stadium was electric.",
    )
    assert not football.matched
    assert football.evidence.parts.penalties["sport"] > 0
