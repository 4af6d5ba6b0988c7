"""A topic profile, from topics/<id>.yaml: entity groups, their aliases, the co-occurrence rule."""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

Fraction = Annotated[float, Field(ge=0, le=1)]
GroupName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Language = Annotated[str, Field(pattern=r"^([a-z]{2,3}|any)$")]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SeedRef(_Strict):
    """Where in the seed article an entity was found (`newswatch topic draft` writes it)."""

    offsets: Annotated[tuple[tuple[int, int], ...], Field(min_length=1)]  # [start, end) chars
    sentence: str  # the sentence of the first offset


class Entity(_Strict):
    """One actor, place or notion, under every name it goes by."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    groups: Annotated[tuple[GroupName, ...], Field(min_length=1)]
    # language code (or "any") -> names as written; matched case-sensitively, a trailing *
    # lets the word continue (German compounds: "Verteidigung*" finds Verteidigungsminister)
    aliases: dict[Language, tuple[str, ...]]
    # below 1 for names that only suggest the group: capitals used as venues, broad words
    weight: Annotated[float, Field(gt=0, le=1)] = 1.0
    note: str | None = None  # office and years, why it is here
    seed: SeedRef | None = None  # found in the seed; None: added by hand

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        if not any(value.values()):
            raise ValueError("has no alias; list at least one name under a language code")
        for names in value.values():
            for alias in names:
                if alias != alias.strip() or not alias.rstrip("*"):
                    raise ValueError(f"alias {alias!r} is empty or has spaces around it")
                if "*" in alias.rstrip("*") or alias.endswith("**"):
                    raise ValueError(f"alias {alias!r}: * may only end an alias, once")
                if not alias.rstrip("*")[-1].isalnum() and alias.endswith("*"):
                    raise ValueError(f"alias {alias!r}: * must follow a letter or digit")
        return value


class Weights(_Strict):
    """What one sentence holding every required group adds, by where it stands."""

    title: Fraction = 0.7
    lead: Fraction = 0.45
    body: Fraction = 0.12


class Crowd(_Strict):
    """A sentence listing many states (troops from a dozen allies) is not bilateral news."""

    group: GroupName  # the group of other states
    free: Annotated[int, Field(ge=0)] = 1  # how many may share a sentence at no cost
    step: Fraction = 0.35  # strength lost for each one beyond that
    # A list, not a pair: one enumeration ("A, B, C and D", joined by rule.joiners) with this
    # many items naming a state (of `group` or of `parties`) gives the parties in it no strength.
    list_at: Annotated[int, Field(ge=3)] | None = None
    parties: tuple[GroupName, ...] = ()  # the groups naming the pair itself
    # A title naming one party, every other required group and another state, but not the
    # other party ("UK to buy German artillery"), is that partnership's story when the text
    # names that state more often than the missing party: it completes no lead sentence.
    title_partner: bool = False


class Background(_Strict):
    """When a contrast group is only the background of a story about something else.

    It is the subject when it runs through the text (at least two sentences of the body, and
    with the title `sentences` of all: a headline alone may recall an anniversary) or through
    the sentences that make the match (`evidence` of those holding every required group, the
    title included). Otherwise it costs nothing: neither in the sentences naming it nor over
    the whole text.
    """

    sentences: Fraction
    evidence: Fraction = 0.5


class Contrast(_Strict):
    """A group whose hits say the story is about something else (sport, history)."""

    per_hit: Fraction  # title hits count twice
    max: Fraction
    background: Background | None = None


class Venue(_Strict):
    """A place named as where a meeting happens ("talks in X") is weak evidence of a party."""

    places: Annotated[tuple[str, ...], Field(min_length=1)]  # entity names (capitals)
    after: dict[Language, tuple[str, ...]]  # words that make the place a venue: "in", "w", "à"
    weight: Fraction  # share of the place's weight left when it is a venue


class Listed(_Strict):
    """One word of a group among items of other kinds ("trade, X and tourism") is passing."""

    group: GroupName  # the group whose single listed word is passing (the substance)
    weight: Fraction  # share of its weight such a word keeps
    items: Annotated[int, Field(ge=3)] = 3  # items, commas between them, that make a list


class Carry(_Strict):
    """A back-reference ("the two countries") takes groups from the sentence just before."""

    group: GroupName  # the group of back-references
    groups: Annotated[tuple[GroupName, ...], Field(min_length=1)]  # what they refer back to
    weight: Fraction = 0.8  # share of the pair's strength in the earlier sentence they carry


class Adjacent(_Strict):
    """Two neighbouring sentences of one paragraph that hold the required groups between them."""

    # required groups each of the two must hold itself (others are ignored, as in Carry)
    each: tuple[GroupName, ...] = ()
    # neighbours must share a required group, unless one of them names all these required
    # groups (both sides)
    sides: tuple[GroupName, ...] = ()
    weight: Fraction = 0.8  # share of one sentence's weight (a paragraph gets `paragraph`)


class Rule(_Strict):
    """When a text is on topic: the required groups together in a sentence, weighted by place."""

    require: Annotated[tuple[GroupName, ...], Field(min_length=1)]
    threshold: Annotated[float, Field(gt=0, le=1)]
    lead_chars: Annotated[int, Field(ge=0)] = 1000  # the lead: text starting within these chars
    weights: Weights = Weights()
    paragraph: Fraction = 0.5  # share for a paragraph that holds the groups in no one sentence
    title_context: Fraction = 0.5  # share for a lead sentence completed by the title's groups
    crowd: Crowd | None = None
    contrast: dict[GroupName, Contrast] = Field(default_factory=dict)
    venue: Venue | None = None
    listed: Listed | None = None
    joiners: tuple[str, ...] = ()  # words joining the last items of a list: "and", "i", "und"
    carry: Carry | None = None
    adjacent: Adjacent | None = None


class Mutes(_Strict):
    """What never matches the topic, whatever its score (it is still stored and explained)."""

    # a feed's name in sources.yaml, or a site: example.org mutes it and its subdomains
    sources: tuple[str, ...] = ()
    # a glob over the canonical URL (*://example.org/sport/*), or re:<regular expression> searched
    urls: tuple[str, ...] = ()
    # whole words, case-sensitive like aliases (a lowercase term also mutes its capitalised form)
    terms: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(
                "must be a mapping with any of `sources:`, `urls:` and `terms:`, each a list "
                f"of strings, not a {type(value).__name__}"
            )
        return {k: [v] if isinstance(v, str) else v for k, v in value.items()}

    @field_validator("sources", "terms")
    @classmethod
    def _words(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for index, entry in enumerate(value):
            if not entry.strip() or entry != entry.strip():
                raise ValueError(
                    f"entry {index} ({entry!r}) is empty or has spaces around it; "
                    f"write the {'name' if info.field_name == 'sources' else 'word'} alone"
                )
        return value

    @field_validator("urls")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, entry in enumerate(value):
            if entry.startswith("re:"):
                try:
                    re.compile(entry[3:])
                except re.error as exc:
                    raise ValueError(
                        f"entry {index} ({entry!r}) is not a valid regular expression ({exc}); "
                        "write a Python regular expression after re:, or a glob without re:"
                    ) from None
            elif not entry.startswith(("http://", "https://", "*")):
                raise ValueError(
                    f"entry {index} ({entry!r}) is a glob over the whole URL, so it must start "
                    "with http://, https:// or *, e.g. *://example.org/sport/*"
                )
            elif entry.count("[") != entry.count("]"):
                raise ValueError(
                    f"entry {index} ({entry!r}) has an unbalanced [ or ]; "
                    "write [[] for a literal [, or use re:"
                )
        return value


class Topic(_Strict):
    """A validated topic profile; `version` identifies its content in every stored match."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    seed: str | None = None  # the seed article, beside the topic file
    description: str | None = None
    baseline: tuple[str, ...] = ()  # the keyword alert this profile is measured against
    groups: Annotated[dict[GroupName, str], Field(min_length=1)]  # group -> what it stands for
    rule: Rule
    entities: Annotated[tuple[Entity, ...], Field(min_length=1)]
    mutes: Mutes = Mutes()
    # a story scoring at least this is announced the day it is found (channels with `alert`)
    alert: Annotated[float, Field(gt=0, le=1)] | None = None

    @field_validator("rule")
    @classmethod
    def _rule_groups(cls, rule: Rule, info: ValidationInfo) -> Rule:
        declared = info.data.get("groups")
        if declared is None:  # groups itself failed; its own error says why
            return rule
        against = [*rule.contrast, *([rule.crowd.group] if rule.crowd else [])]
        for group in [*rule.require, *against]:
            if group not in declared:
                raise ValueError(
                    f"names group {group!r}, which `groups:` does not declare "
                    f"(declared: {', '.join(declared)})"
                )
        clash = sorted(set(rule.require) & set(against))
        if clash:
            raise ValueError(f"group {clash[0]!r} is both required and counted against a match")
        if (rule.listed or (rule.crowd and rule.crowd.list_at)) and not rule.joiners:
            raise ValueError("lists need `joiners:`, the words joining their last items")
        named = [
            *(rule.crowd.parties if rule.crowd else ()),
            *([rule.listed.group] if rule.listed else []),
            *([rule.carry.group, *rule.carry.groups] if rule.carry else []),
            *([*rule.adjacent.each, *rule.adjacent.sides] if rule.adjacent else []),
        ]
        for group in named:
            if group not in declared:
                raise ValueError(
                    f"names group {group!r}, which `groups:` does not declare "
                    f"(declared: {', '.join(declared)})"
                )
        return rule

    @field_validator("entities")
    @classmethod
    def _entity_groups(
        cls, entities: tuple[Entity, ...], info: ValidationInfo
    ) -> tuple[Entity, ...]:
        declared = info.data.get("groups")
        owner: dict[str, str] = {}
        for entity in entities:
            for group in entity.groups:
                if declared is not None and group not in declared:
                    raise ValueError(
                        f"entity {entity.name!r} names group {group!r}, which "
                        f"`groups:` does not declare (declared: {', '.join(declared)})"
                    )
            for alias in {a.rstrip("*") for names in entity.aliases.values() for a in names}:
                if owner.setdefault(alias, entity.name) != entity.name:
                    raise ValueError(
                        f"alias {alias!r} is listed under both {owner[alias]!r} and "
                        f"{entity.name!r}; an alias must name one entity"
                    )
        rule = info.data.get("rule")
        if rule is not None and rule.venue is not None:
            known = {e.name for e in entities}
            for place in rule.venue.places:
                if place not in known:
                    raise ValueError(f"venue place {place!r} is no entity; name one of `entities:`")
        if rule is not None:
            covered = {g for e in entities for g in e.groups}
            for group in rule.require:
                if group not in covered:
                    raise ValueError(
                        f"no entity belongs to required group {group!r}, so nothing "
                        "can match; add entities with that group"
                    )
        return entities

    @cached_property
    def version(self) -> str:
        """A short hash of the profile's content: equal profiles share it, any edit changes it."""
        # `alert` says who hears of a match, not what matches: it leaves the version alone.
        content: dict[str, Any] = self.model_dump(mode="json", exclude={"alert"})
        if content["mutes"] == Mutes().model_dump(mode="json"):  # versions from before mutes
            del content["mutes"]
        for entity in content["entities"]:  # where the seed said it changes no verdict
            del entity["seed"]
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def __hash__(self) -> int:  # frozen but holds dicts: hash by content so it can key caches
        return hash((self.id, self.version))
