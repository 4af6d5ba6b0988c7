"""A topic profile, from topics/<id>.yaml: entity groups, their aliases, the co-occurrence rule."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Fraction = Annotated[float, Field(ge=0, le=1)]
GroupName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Language = Annotated[str, Field(pattern=r"^([a-z]{2,3}|any)$")]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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


class Contrast(_Strict):
    """A group whose hits say the story is about something else (sport, history)."""

    per_hit: Fraction  # title hits count twice
    max: Fraction


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
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def __hash__(self) -> int:  # frozen but holds dicts: hash by content so it can key caches
        return hash((self.id, self.version))
