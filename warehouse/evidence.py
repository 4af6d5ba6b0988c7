"""Why the matcher decided as it did: a typed record, and its stored JSON form.

`matches.evidence` holds the JSON that `Evidence.to_json` gives, and analysts query it:

    {"language": "en",
     "entities": {"Poland": {"groups": ["pl"], "count": 3, "aliases": {"Poland": 2, ...}}, ...},
     "missing": ["defence"],
     "windows": [{"where": "lead", "unit": "sentence", "weight": 0.57, "text": "..."}, ...],
     "parts": {"title": 0.7, "lead": 0.57, "body": 0.0, "positive": 0.87, "penalties": {}},
     "rules": {"venue": ["London, as the venue in: ..."]},
     "threshold": 0.5,
     "muted": {"mute": "sources[0]", "entry": "Tabloid Daily", "found": "Tabloid Daily"}}

`rules` names each rule of the topic that changed the score and where; `muted` is there only
when one of the topic's mutes applied (the article then never matches).

`Evidence.from_json` is the one place it is decoded; it accepts rows written by any version
(a key that is missing takes its default; one it does not know is ignored).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class EntityEvidence:
    """How one entity was found: its groups, its hits, and each alias as written → its hits."""

    groups: tuple[str, ...] = ()
    count: int = 0
    aliases: dict[str, int] = field(default_factory=dict)  # most hits first


@dataclass(frozen=True, slots=True)
class Window:
    """A sentence or paragraph that counted towards the score."""

    where: str  # title, lead or body
    unit: str  # title, sentence, sentence+title or paragraph
    weight: float | None  # None only in rows of unknown origin
    text: str


@dataclass(frozen=True, slots=True)
class ScoreParts:
    """The score's parts before rounding into it: noisy-or of title, lead, body; penalties."""

    title: float = 0.0
    lead: float = 0.0
    body: float = 0.0
    positive: float = 0.0
    penalties: dict[str, float] = field(default_factory=dict)  # contrast group → penalty


@dataclass(frozen=True, slots=True)
class Muted:
    """Which of a topic's mutes applied, as written in the topic file, and what it found."""

    mute: str  # e.g. sources[0], urls[1], terms[2]
    entry: str
    found: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a verdict rests on: entities found, required groups missing, windows, score parts."""

    language: str | None = None
    entities: dict[str, EntityEvidence] = field(default_factory=dict)  # most hits first
    missing: tuple[str, ...] = ()  # required groups absent from the whole text
    windows: tuple[Window, ...] = ()  # best first
    parts: ScoreParts | None = None  # None only in rows stored without them
    rules: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rule → where it fired
    threshold: float | None = None
    muted: Muted | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form (plain JSON types, keys in the order they were always written)."""
        return {
            "language": self.language,
            "entities": {
                name: {"groups": list(e.groups), "count": e.count, "aliases": e.aliases}
                for name, e in self.entities.items()
            },
            "missing": list(self.missing),
            "windows": [
                {"where": w.where, "unit": w.unit, "weight": w.weight, "text": w.text}
                for w in self.windows
            ],
            **({} if self.parts is None else {"parts": _parts_json(self.parts)}),
            "rules": {name: list(where) for name, where in self.rules.items()},
            "threshold": self.threshold,
            **({} if self.muted is None else {"muted": _muted_json(self.muted)}),
        }

    @classmethod
    def from_json(cls, value: str | Mapping[str, Any] | None) -> Evidence:
        """Decode a stored value: JSON text (as DuckDB returns it), a dict, or NULL."""
        data = json.loads(value) if isinstance(value, str) else value
        if not data:
            return cls()
        parts = data.get("parts")
        return cls(
            language=data.get("language"),
            entities={
                str(name): EntityEvidence(
                    groups=tuple(info.get("groups") or ()),
                    count=int(info.get("count") or 0),
                    aliases=dict(info.get("aliases") or {}),
                )
                for name, info in (data.get("entities") or {}).items()
            },
            missing=tuple(data.get("missing") or ()),
            windows=tuple(
                Window(
                    where=str(w.get("where")),
                    unit=str(w.get("unit")),
                    weight=w.get("weight"),
                    text=str(w.get("text") or ""),
                )
                for w in data.get("windows") or ()
            ),
            parts=None if not parts else _parts(parts),
            rules={str(k): tuple(v or ()) for k, v in (data.get("rules") or {}).items()},
            threshold=data.get("threshold"),
            muted=_muted(data.get("muted")),
        )


def _parts_json(parts: ScoreParts) -> dict[str, Any]:
    return {
        "title": parts.title,
        "lead": parts.lead,
        "body": parts.body,
        "positive": parts.positive,
        "penalties": parts.penalties,
    }


def _parts(data: Mapping[str, Any]) -> ScoreParts:
    return ScoreParts(
        title=float(data.get("title") or 0.0),
        lead=float(data.get("lead") or 0.0),
        body=float(data.get("body") or 0.0),
        positive=float(data.get("positive") or 0.0),
        penalties={str(k): float(v) for k, v in (data.get("penalties") or {}).items()},
    )


def _muted_json(muted: Muted) -> dict[str, str]:
    return {"mute": muted.mute, "entry": muted.entry, "found": muted.found}


def _muted(data: Mapping[str, Any] | None) -> Muted | None:
    if not data:
        return None
    return Muted(
        mute=str(data.get("mute")), entry=str(data.get("entry")), found=str(data.get("found"))
    )
