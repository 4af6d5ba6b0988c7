"""A topic profile: entities and rules, read from topics/<id>.yaml. (Stub: being written.)"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Topic(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    id: str
    name: str
    seed: str | None = None
