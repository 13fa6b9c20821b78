"""A clock the tests move forward instead of sleeping.

Run records, profile versions and section changes carry whole-second UTC times, and the timeline puts a
profile change under the run whose seconds contain it. Tests that make several backups used to sleep 1.05 s
between them so each run had a second of its own. :func:`shifted_clock` instead moves the time that the
engine and the archive read forward by whole seconds, through the module-level seams they read the time from
(``backup.engine._now``, ``backup.sections._iso_now``, ``backup.chat._now``, ``backup.images._stamp``, and the
``now`` that ``PersonalityArchive.write_profile`` passes to ``record_profile``). Only those readers move:
pacing, timeouts and the sandbox keep the real clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

__all__ = ["ShiftedClock", "shifted_clock"]


class ShiftedClock:
    """The real UTC time plus an offset that only grows."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def advance(self, seconds: float = 1.0) -> None:
        """Move on by ``seconds`` (plus what is left of the current second, so the next reading starts a
        new whole second: what a 1.05 s sleep did)."""
        now = self.now()
        self.offset += timedelta(seconds=seconds, microseconds=1_000_000 - now.microsecond)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def iso(self) -> str:
        return self.now().isoformat(timespec="seconds").replace("+00:00", "Z")


@contextlib.contextmanager
def shifted_clock(monkeypatch: pytest.MonkeyPatch | None = None) -> Iterator[ShiftedClock]:
    """Patch the engine's and the archive's clocks for the ``with`` block (a module-scoped fixture passes no
    ``monkeypatch``: one of its own is used and undone at the end)."""
    from tzbackup_gui.archive import personality
    from tzbackup_gui.backup import chat, engine, images, sections

    clock = ShiftedClock()
    record_profile = personality.record_profile

    def record_profile_now(*args: Any, now: datetime | None = None, **kwargs: Any) -> Any:
        return record_profile(*args, now=now or clock.now(), **kwargs)

    with contextlib.ExitStack() as stack:
        patch = monkeypatch or stack.enter_context(pytest.MonkeyPatch.context())
        patch.setattr(engine, "_now", clock.now)
        patch.setattr(sections, "_iso_now", clock.iso)
        patch.setattr(chat, "_now", clock.iso)
        patch.setattr(images, "_stamp", lambda: clock.now().strftime("%Y%m%dT%H%M%SZ"))
        patch.setattr(personality, "record_profile", record_profile_now)
        yield clock
