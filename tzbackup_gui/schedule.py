"""Scheduled backups, without Qt: when the next run is due, catch-up after sleep, pause after failures.

A :class:`Schedule` is what the user chose (off, every N hours, or daily at HH:MM local time). A
:class:`ScheduleState` is what happened (the last scheduled attempt, its result, the failure streak, a
pause). The GUI's scheduler (``ui/scheduler.py``) asks :meth:`ScheduleState.due` every ~30 s against the
wall clock, so a machine that slept through one or more slots runs **once** on wake, not once per slot.

Rules:
- ``next_run(last_run, now)``: every N hours → ``last_run + N h`` (no run yet → due now); daily → the first
  HH:MM (local time) strictly after ``last_run`` (no run yet → the first one at or after ``now``). A time
  in the past means "due now": one catch-up run, after which the next slot is counted from that run.
- ``last_run`` is the *start* of the last scheduled attempt, successful or not, so a failing run is not
  retried every 30 s: it is retried at the next slot.
- After ``max_failures`` (default 3) failed attempts in a row the schedule pauses with the last reason,
  until the user resumes it (:meth:`ScheduleState.resume`); a success resets the streak.

Persistence: both objects serialise to small JSON texts (:meth:`Schedule.to_json`,
:meth:`ScheduleState.to_json`). The desktop app keeps them in its QSettings (keys ``schedule/config`` and
``schedule/state``) beside the other preferences, so they belong to the app's user, not to a data folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as dtime
from typing import Any, Literal

__all__ = [
    "DEFAULT_MAX_FAILURES",
    "Clock",
    "Schedule",
    "ScheduleKind",
    "ScheduleState",
    "format_when",
    "status_text",
    "system_clock",
]

ScheduleKind = Literal["off", "interval", "daily"]
Clock = Callable[[], datetime]
DEFAULT_MAX_FAILURES = 3
MAX_INTERVAL_HOURS = 24 * 7


def system_clock() -> datetime:
    """The wall clock, timezone-aware (UTC)."""
    return datetime.now(UTC)


def _local(when: datetime, tz: tzinfo | None) -> datetime:
    return when.astimezone(tz) if tz is not None else when.astimezone()


@dataclass(frozen=True)
class Schedule:
    """What the user chose. ``hours`` counts for ``interval``; ``at`` ("HH:MM", local time) for ``daily``."""

    kind: ScheduleKind = "off"
    hours: int = 24
    at: str = "03:00"

    def __post_init__(self) -> None:
        if self.kind not in ("off", "interval", "daily"):
            raise ValueError(f"unknown schedule kind {self.kind!r}")
        if not 1 <= self.hours <= MAX_INTERVAL_HOURS:
            raise ValueError(f"every N hours needs 1 <= N <= {MAX_INTERVAL_HOURS}, got {self.hours}")
        self.time_of_day()  # validates "HH:MM"

    @property
    def active(self) -> bool:
        return self.kind != "off"

    def time_of_day(self) -> dtime:
        """``at`` as a :class:`datetime.time` (raises ValueError on anything but HH:MM)."""
        hh, sep, mm = self.at.partition(":")
        if not sep or not (hh.isdigit() and mm.isdigit()) or len(mm) != 2:
            raise ValueError(f"time of day must be HH:MM, got {self.at!r}")
        return dtime(int(hh), int(mm))

    def next_run(self, last_run: datetime | None, now: datetime, tz: tzinfo | None = None) -> datetime | None:
        """When the next scheduled run is due (``None`` when off). A result ``<= now`` means due now.

        ``tz`` is the local time zone for ``daily`` (default: the system's).
        """
        if self.kind == "off":
            return None
        if self.kind == "interval":
            return now if last_run is None else last_run + timedelta(hours=self.hours)
        if last_run is None:
            return self._daily_slot_after(now - timedelta(microseconds=1), tz)
        return self._daily_slot_after(last_run, tz)

    def _daily_slot_after(self, after: datetime, tz: tzinfo | None) -> datetime:
        """The first HH:MM local time strictly after ``after`` (DST: a missing time runs an hour later)."""
        local = _local(after, tz)
        at = self.time_of_day()
        for days in range(3):
            day = local.date() + timedelta(days=days)
            naive = datetime.combine(day, at)
            slot = naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
            if slot > after:
                return slot.astimezone(UTC)
        raise AssertionError("unreachable: a daily slot exists within three days")

    def describe(self) -> str:
        """ "off", "every 6 hours", "daily at 03:00"."""
        if self.kind == "interval":
            return "every hour" if self.hours == 1 else f"every {self.hours} hours"
        if self.kind == "daily":
            return f"daily at {self.at}"
        return "off"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Schedule:
        """Parse :meth:`to_json`; anything unreadable is "off" (a broken setting never runs backups)."""
        data = _load_dict(text)
        try:
            return cls(kind=data.get("kind", "off"), hours=int(data.get("hours", 24)),
                       at=str(data.get("at", "03:00")))
        except (TypeError, ValueError):
            return cls()


@dataclass
class ScheduleState:
    """What the scheduled runs did: the last attempt and its result, the failure streak, a pause."""

    last_run: datetime | None = None  # start of the last scheduled attempt
    last_finished: datetime | None = None
    last_result: str = ""  # "ok" | "failed" | "cancelled" | "" (never ran)
    last_error: str = ""
    consecutive_failures: int = 0
    paused_reason: str = ""  # "" = not paused
    max_failures: int = DEFAULT_MAX_FAILURES
    history: list[dict[str, str]] = field(default_factory=list)  # the last few results, newest last

    @property
    def paused(self) -> bool:
        return bool(self.paused_reason)

    def next_run(self, schedule: Schedule, now: datetime, tz: tzinfo | None = None) -> datetime | None:
        """When the schedule runs next; ``None`` when off or paused."""
        if self.paused:
            return None
        return schedule.next_run(self.last_run, now, tz)

    def due(self, schedule: Schedule, now: datetime, tz: tzinfo | None = None) -> bool:
        """True when a scheduled run should start now (once; a catch-up after sleep counts as one)."""
        when = self.next_run(schedule, now, tz)
        return when is not None and when <= now

    def started(self, now: datetime) -> None:
        """A scheduled run starts now: the next slot counts from here, whatever the outcome."""
        self.last_run = now

    def record(self, ok: bool, reason: str, finished: datetime) -> None:
        """Record a scheduled run's outcome; pause after ``max_failures`` failures in a row."""
        self.last_finished = finished
        self.last_result = "ok" if ok else "failed"
        self.last_error = "" if ok else (reason or "unknown error")
        self.history = [*self.history, {"at": finished.isoformat(), "result": self.last_result,
                                        "error": self.last_error}][-10:]
        if ok:
            self.consecutive_failures = 0
            return
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.max_failures:
            self.paused_reason = self.last_error

    def record_cancelled(self, finished: datetime) -> None:
        """The user cancelled a scheduled run: noted, but not a failure (the streak is unchanged)."""
        self.last_finished = finished
        self.last_result, self.last_error = "cancelled", "cancelled"
        self.history = [*self.history, {"at": finished.isoformat(), "result": "cancelled", "error": ""}][-10:]

    def resume(self) -> None:
        """The user resumes a paused schedule: the streak starts again at zero."""
        self.paused_reason = ""
        self.consecutive_failures = 0

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        for key in ("last_run", "last_finished"):
            value = getattr(self, key)
            data[key] = value.isoformat() if value is not None else None
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> ScheduleState:
        """Parse :meth:`to_json`; unreadable parts fall back to their defaults."""
        data = _load_dict(text)
        state = cls()
        try:
            state = replace(
                state,
                last_run=_parse_time(data.get("last_run")),
                last_finished=_parse_time(data.get("last_finished")),
                last_result=str(data.get("last_result", "") or ""),
                last_error=str(data.get("last_error", "") or ""),
                consecutive_failures=max(0, int(data.get("consecutive_failures", 0) or 0)),
                paused_reason=str(data.get("paused_reason", "") or ""),
                max_failures=max(1, int(data.get("max_failures", DEFAULT_MAX_FAILURES) or 1)),
                history=[h for h in data.get("history", []) if isinstance(h, dict)][-10:],
            )
        except (TypeError, ValueError):
            return cls()
        return state


def _load_dict(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_when(when: datetime, now: datetime, tz: tzinfo | None = None) -> str:
    """A near time in words: "now", "today 03:00", "tomorrow 03:00", "Mon 12 May 03:00"."""
    if when <= now:
        return "now"
    local, today = _local(when, tz), _local(now, tz).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"today {clock}"
    if local.date() == today + timedelta(days=1):
        return f"tomorrow {clock}"
    return f"{local.strftime('%a')} {local.day} {local.strftime('%b %H:%M')}"


def status_text(schedule: Schedule, state: ScheduleState, now: datetime, tz: tzinfo | None = None) -> str:
    """One line for the window and the tray: next run, or why scheduled backups are paused."""
    if not schedule.active:
        return "Scheduled backups are off."
    if state.paused:
        n = state.consecutive_failures
        return f"Scheduled backups paused after {n} failure{'s' if n != 1 else ''}: {state.paused_reason}"
    when = state.next_run(schedule, now, tz)
    assert when is not None
    return f"Next backup: {format_when(when, now, tz)} ({schedule.describe()})"
