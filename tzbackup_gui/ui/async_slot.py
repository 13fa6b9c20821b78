"""``qasync.asyncSlot`` with a type: qasync ships no annotations, so under ``mypy --strict`` every method it
decorates would become untyped.

The decorated method runs as an ``asyncio`` task on the qasync loop; calling it directly returns that task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from qasync import asyncSlot

P = ParamSpec("P")
R = TypeVar("R")


def async_slot(
    *types: type,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, asyncio.Task[R]]]:
    """``@asyncSlot(*types)``: a Qt slot that schedules the coroutine and returns its task."""
    return cast(
        "Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, asyncio.Task[R]]]", asyncSlot(*types)
    )
