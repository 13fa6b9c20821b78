"""Typed progress events, Qt-free.

The service client and the backup engine report what they do through one callback, ``on_event(event)``.
The CLI turns events into a progress display, the GUI into signals. Events never carry the secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "BackupEvent",
    "EventCallback",
    "MemoryPageFetched",
    "PersonalityFailed",
    "PersonalityFinished",
    "PersonalityStarted",
    "PhaseChanged",
    "Reconciling",
    "RequestMade",
    "Retrying",
    "RunFinished",
    "RunStarted",
    "Waiting",
    "ignore_events",
]


@dataclass(frozen=True)
class BackupEvent:
    """Base class. ``slug`` names the personality the event is about ("" when none)."""

    slug: str = ""


@dataclass(frozen=True)
class RunStarted(BackupEvent):
    """A backup run over ``slugs`` began (in that order)."""

    slugs: tuple[str, ...] = ()
    delay: float = 1.0


@dataclass(frozen=True)
class RunFinished(BackupEvent):
    """The run ended; ``done``/``failed`` count personalities; ``cancelled`` when the user stopped it."""

    done: int = 0
    failed: int = 0
    cancelled: bool = False


@dataclass(frozen=True)
class PersonalityStarted(BackupEvent):
    index: int = 0  # 0-based position in the run
    count: int = 1  # personalities in the run


@dataclass(frozen=True)
class PhaseChanged(BackupEvent):
    """The engine moved to another step: "profile", "memories", "reconcile", "saving", or a section name."""

    phase: str = ""
    detail: str = ""


@dataclass(frozen=True)
class MemoryPageFetched(BackupEvent):
    """A memory page arrived. ``expected`` is the server total when known (else ``None``)."""

    page: int = 0
    memories_done: int = 0  # memories read so far in this run (new + already known)
    new_so_far: int = 0
    expected: int | None = None
    reconciling: bool = False


@dataclass(frozen=True)
class Reconciling(BackupEvent):
    """A full walk started, and why ("--full", "server total disagrees", "last full walk is 8 days old")."""

    reason: str = ""


@dataclass(frozen=True)
class Waiting(BackupEvent):
    """Sleeping ``seconds`` before the next request; ``reason`` is "pacing" or "retry-after" or "backoff"."""

    seconds: float = 0.0
    reason: str = "pacing"


@dataclass(frozen=True)
class Retrying(BackupEvent):
    """A request failed transiently and will be tried again (``attempt`` of ``max_attempts``)."""

    attempt: int = 1
    max_attempts: int = 1
    reason: str = ""  # e.g. "HTTP 503", "timeout"; never a header or the secret


@dataclass(frozen=True)
class RequestMade(BackupEvent):
    """One HTTP request completed (``path`` without query secrets); for request counters."""

    path: str = ""
    status: int = 0


@dataclass(frozen=True)
class PersonalityFinished(BackupEvent):
    new: int = 0
    edited: int = 0
    deleted_upstream: int = 0
    total: int = 0  # distinct memories stored locally
    server_total: int | None = None
    requests: int = 0
    full_walk: bool = False
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonalityFailed(BackupEvent):
    """``error`` is a user-facing message; ``kind`` is the exception class name; ``resumable`` when safe."""

    error: str = ""
    kind: str = ""
    hint: str = ""
    resumable: bool = True


EventCallback = Callable[[BackupEvent], None]


def ignore_events(event: BackupEvent) -> None:
    """Default callback: drop events."""
