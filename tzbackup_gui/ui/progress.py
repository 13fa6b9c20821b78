"""Progress state machine: turns engine/client events into per-row states and an overall estimate.

Pure Python (no Qt) so it can be tested on its own; the main window feeds it events and repaints the rows
it reports as changed, at most 20 times a second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..events import (
    BackupEvent,
    MemoryPageFetched,
    PersonalityFailed,
    PersonalityFinished,
    PersonalityStarted,
    PhaseChanged,
    Reconciling,
    RequestMade,
    Retrying,
    RunFinished,
    RunStarted,
    Waiting,
)

__all__ = ["PAGE_SIZE", "RowProgress", "RunTracker", "format_duration"]

PAGE_SIZE = 20
#: Requests besides memory pages per personality (profile, story, training, personalization, chat...).
_FIXED_REQUESTS = 6

_PHASE_TEXT = {
    "profile": "fetching profile",
    "memories": "syncing memories",
    "reconcile": "reconciling",
    "saving": "saving",
    "story": "fetching knowledge",
    "training": "fetching training",
    "user": "fetching personalization",
    "personalization": "fetching personalization",
    "chat": "fetching chat history",
    "avatar": "fetching avatar",
}


@dataclass
class RowProgress:
    """What one row shows while (and after) a run touches it."""

    state: str = "idle"  # idle queued active waiting retrying done failed cancelled
    text: str = ""
    done: int = 0
    expected: int | None = None
    hint: str = ""
    #: memories the backup will hold once this run is saved (stored before + new so far); None until known
    stored: int | None = None

    @property
    def busy(self) -> bool:
        return self.state in {"active", "waiting", "retrying"}

    def fraction(self) -> float | None:
        """0..1 when the total is known; ``None`` means indeterminate."""
        if self.state == "done":
            return 1.0
        if not self.expected:
            return None
        return min(1.0, self.done / self.expected)


def format_duration(seconds: float) -> str:
    """ "42 s", "3 min 5 s", "1 h 12 min"."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s} s" if s and m < 10 else f"{m} min"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


@dataclass
class _Work:
    """Estimated requests for one personality of the run."""

    estimate: int
    made: int = 0
    finished: bool = False


@dataclass
class RunTracker:
    """Consumes events; keeps ``rows[slug]`` and an overall fraction + ETA.

    ``prior`` maps slug -> (memories stored locally, last known server total) so the estimate can count the
    pages an incremental run will need before the server says anything.
    """

    prior: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    rows: dict[str, RowProgress] = field(default_factory=dict)
    delay: float = 1.0
    running: bool = False
    cancelled: bool = False
    started_at: float = 0.0
    requests: int = 0
    done_count: int = 0
    failed_count: int = 0
    current: str = ""
    _work: dict[str, _Work] = field(default_factory=dict)
    _best_fraction: float = 0.0

    # --- feeding ------------------------------------------------------------------------------------

    def start(self, slugs: list[str], delay: float) -> set[str]:
        """Mark ``slugs`` queued before the engine says anything (the click should show at once)."""
        self.rows = {s: RowProgress(state="queued", text="queued") for s in slugs}
        self._work = {s: _Work(self._estimate(s)) for s in slugs}
        self.delay, self.running, self.cancelled = delay, True, False
        self.started_at, self.requests, self._best_fraction = self.clock(), 0, 0.0
        self.done_count = self.failed_count = 0
        self.current = ""
        return set(slugs)

    def apply(self, event: BackupEvent) -> set[str]:
        """Update state from one event; return the slugs whose row changed."""
        handler = _HANDLERS.get(type(event))
        if handler is None:
            return set()
        return handler(self, event)

    def stop(self, *, cancelled: bool) -> set[str]:
        """The run task ended (maybe without a RunFinished): settle rows still in flight."""
        changed: set[str] = set()
        for slug, row in self.rows.items():
            if row.state in {"queued", "active", "waiting", "retrying"}:
                if cancelled:
                    row.state, row.text = "cancelled", "cancelled; resumes next time"
                elif row.state == "queued":
                    row.state, row.text = "stopped", "not started: the run stopped"
                else:
                    row.state, row.text = "failed", f"stopped while {row.text}" if row.text else "stopped"
                changed.add(slug)
        self.running = False
        self.cancelled = cancelled
        return changed

    # --- reading ------------------------------------------------------------------------------------

    def fraction(self) -> float:
        """Overall 0..1, weighted by estimated requests; never goes backwards."""
        total = sum(max(w.estimate, w.made) if not w.finished else w.made for w in self._work.values())
        made = sum(w.made for w in self._work.values())
        if total <= 0:
            return 0.0
        value = min(1.0, made / total)
        self._best_fraction = max(self._best_fraction, value)
        return self._best_fraction

    def remaining_requests(self) -> int:
        return sum(max(w.estimate - w.made, 1) for w in self._work.values() if not w.finished)

    def seconds_per_request(self) -> float:
        """Pacing sets a floor; measured throughput takes over once it is slower."""
        measured = 0.0
        if self.requests >= 5:
            measured = (self.clock() - self.started_at) / self.requests
        return max(self.delay, measured)

    def eta_seconds(self) -> float | None:
        if not self.running:
            return None
        pending = [w for w in self._work.values() if not w.finished]
        if not pending:
            return 0.0
        boundaries = max(0, len(pending) - 1) * self.delay  # 2 x delay start-to-start between personalities
        return self.remaining_requests() * self.seconds_per_request() + boundaries

    def summary(self) -> str:
        """One line for the status bar."""
        if not self.rows:
            return ""
        n = len(self.rows)
        finished = self.done_count + self.failed_count
        if self.running:
            eta = self.eta_seconds()
            eta_text = f", about {format_duration(eta)} left" if eta is not None and self.requests else ""
            return f"Backing up {min(finished + 1, n)} of {n}{eta_text}"
        if self.cancelled:
            return f"Cancelled after {finished} of {n}; the next backup resumes where this one stopped"
        not_started = sum(1 for row in self.rows.values() if row.state == "stopped")
        if not_started:  # the run stopped before these: they did not fail
            failed = f", {self.failed_count} failed" if self.failed_count else ""
            return f"Stopped: {self.done_count} backed up{failed}, {not_started} not started"
        if self.failed_count:
            return f"Finished: {self.done_count} backed up, {self.failed_count} failed"
        return f"Finished: {self.done_count} of {n} backed up"

    # --- internals ----------------------------------------------------------------------------------

    def _estimate(self, slug: str, expected: int | None = None, full: bool = False) -> int:
        stored, server = self.prior.get(slug, (0, None))
        server = expected if expected is not None else server
        if server is None:
            pages = 2
        elif full:
            pages = math.ceil(server / PAGE_SIZE) + 1
        else:
            pages = math.ceil(max(server - stored, 0) / PAGE_SIZE) + 1
        return _FIXED_REQUESTS + pages

    def _row(self, slug: str) -> RowProgress:
        if slug not in self.rows:
            self.rows[slug] = RowProgress()
            self._work[slug] = _Work(self._estimate(slug))
        return self.rows[slug]


def _on_run_started(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, RunStarted)
    t.delay = e.delay
    changed = set()
    for slug in e.slugs:
        row = t._row(slug)
        if row.state in {"idle", "queued"}:
            row.state, row.text = "queued", "queued"
            changed.add(slug)
    return changed


def _on_personality_started(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, PersonalityStarted)
    row = t._row(e.slug)
    row.state, row.text, row.done, row.expected = "active", "starting", 0, None
    t.current = e.slug
    return {e.slug}


def _on_phase(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, PhaseChanged)
    row = t._row(e.slug)
    row.state = "active"
    if e.phase == "memories":
        row.text = _memories_text(row)
    else:
        row.text = _PHASE_TEXT.get(e.phase, e.phase.replace("_", " ") or "working")
        if e.detail and e.phase not in _PHASE_TEXT:
            row.text += f" ({e.detail})"
    return {e.slug}


def _memories_text(row: RowProgress) -> str:
    if row.expected:
        return f"syncing memories {min(row.done, row.expected):,} of {row.expected:,}"
    return f"syncing memories ({row.done:,} so far)" if row.done else "syncing memories"


def _on_page(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, MemoryPageFetched)
    row = t._row(e.slug)
    row.state, row.done = "active", e.memories_done
    row.stored = t.prior.get(e.slug, (0, None))[0] + e.new_so_far
    if e.expected is not None and e.expected != row.expected:
        row.expected = e.expected
        work = t._work[e.slug]
        work.estimate = max(work.made + 1, t._estimate(e.slug, e.expected, full=e.reconciling))
    first_backup = t.prior.get(e.slug, (0, None))[0] == 0
    row.text = ("reconciling: " if e.reconciling and not first_backup else "") + _memories_text(row)
    return {e.slug}


def _on_reconciling(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, Reconciling)
    row = t._row(e.slug)
    row.state, row.text, row.done = "active", "reconciling" + (f" ({e.reason})" if e.reason else ""), 0
    work = t._work[e.slug]
    work.estimate = max(work.made + 1, work.made + t._estimate(e.slug, row.expected, full=True))
    return {e.slug}


def _on_waiting(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, Waiting)
    if e.reason == "pacing" or not e.slug or e.slug not in t.rows:
        return set()  # pacing waits are the normal rhythm, not news
    row = t.rows[e.slug]
    what = "for the rate limit" if e.reason == "retry-after" else "before retrying"
    row.state, row.text = "waiting", f"waiting {math.ceil(e.seconds)} s {what}"
    return {e.slug}


def _on_retrying(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, Retrying)
    if not e.slug or e.slug not in t.rows:
        return set()
    row = t.rows[e.slug]
    reason = f" after {e.reason}" if e.reason else ""
    row.state, row.text = "retrying", f"retrying ({e.attempt} of {e.max_attempts}){reason}"
    return {e.slug}


def _on_request(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, RequestMade)
    t.requests += 1
    slug = e.slug or t.current
    work = t._work.get(slug)
    if work is not None and not work.finished:
        work.made += 1
    row = t.rows.get(slug)
    if row is not None and row.state in {"waiting", "retrying"}:
        row.state = "active"
        row.text = _memories_text(row) if row.done else "working"
        return {slug}
    return set()


def _on_finished(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, PersonalityFinished)
    row = t._row(e.slug)
    row.state, row.done, row.stored = "done", e.total, e.total
    row.expected = e.server_total if e.server_total is not None else e.total
    parts = [f"{e.new:,} new"]
    if e.edited:
        parts.append(f"{e.edited:,} edited")
    if e.deleted_upstream:
        parts.append(f"{e.deleted_upstream:,} deleted upstream")
    row.text = "done: " + ", ".join(parts)
    t._work[e.slug].finished = True
    t.done_count += 1
    return {e.slug}


def _on_failed(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, PersonalityFailed)
    row = t._row(e.slug) if e.slug else None
    if row is None:
        return set()
    cancelled = e.kind in {"cancelled", "CancelledError", "Cancelled"}
    row.state = "cancelled" if cancelled else "failed"
    row.text = "cancelled; resumes next time" if cancelled else f"failed: {e.error}"
    row.hint = e.hint
    t._work[e.slug].finished = True
    if not cancelled:
        t.failed_count += 1
    return {e.slug}


def _on_run_finished(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, RunFinished)
    return t.stop(cancelled=e.cancelled)


_HANDLERS: dict[type, Callable[[RunTracker, BackupEvent], set[str]]] = {
    RunStarted: _on_run_started,
    PersonalityStarted: _on_personality_started,
    PhaseChanged: _on_phase,
    MemoryPageFetched: _on_page,
    Reconciling: _on_reconciling,
    Waiting: _on_waiting,
    Retrying: _on_retrying,
    RequestMade: _on_request,
    PersonalityFinished: _on_finished,
    PersonalityFailed: _on_failed,
    RunFinished: _on_run_finished,
}
