"""newswatch's flows: Prefect flows whose parameters are recorded without importing FastAPI.

Prefect records each flow run's parameters through FastAPI's `jsonable_encoder`, and so
imports FastAPI and Starlette (60 modules) in every command that starts a flow: 0.13-0.2 s of
a cron run's start-up on the 2-core machine, on the path to its first request. newswatch's
flows take only str, int, float, bool and None, which that encoder returns unchanged; a value
of any other type still goes through Prefect's own serializer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Flow
from prefect.client.schemas.objects import State
from prefect.futures import PrefectFuture

P = ParamSpec("P")
R = TypeVar("R")
_PLAIN = (str, int, float, bool, type(None))


class PlainFlow(Flow[P, R]):
    """A flow whose plain parameters are recorded as they are."""

    def serialize_parameters(
        self, parameters: dict[str, Any | PrefectFuture[Any] | State]
    ) -> dict[str, Any]:
        if all(type(value) in _PLAIN for value in parameters.values()):  # exact: no subclasses
            return dict(parameters)
        return super().serialize_parameters(parameters)


def flow(*, name: str) -> Callable[[Callable[P, R]], Flow[P, R]]:
    """`@prefect.flow(name=...)`, making a PlainFlow."""

    def decorate(fn: Callable[P, R]) -> Flow[P, R]:
        return PlainFlow(fn=fn, name=name)

    return decorate
