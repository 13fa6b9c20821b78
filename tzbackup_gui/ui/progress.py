"""Progress state machine: turns engine/client events into per-row states and an overall estimate.

Pure Python (no Qt) so it can be tested on its own; the main window feeds it events and repaints the rows
it reports as changed, at most 20 times a second.
"""

from __future__ import annotations

import math
import re
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
from ..model.words import plural
from .run_words import AUTH_KINDS, RESUMES, failure_reason, stop_message, stop_reason

__all__ = [
    "AUTH_KINDS",
    "DONE",
    "PAGE_SIZE",
    "RowProgress",
    "RunTracker",
    "done_text",
    "failure_reason",
    "format_duration",
    "kept_text",
    "stop_message",
    "stop_reason",
]

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
    # the small sections after the memories (knowledge, training, personalization): never the raw name
    "sections": "fetching knowledge and settings",
    "images": "fetching pictures",
}
#: what a row says during a phase this window has no words for (a newer engine): never an internal name
_UNKNOWN_PHASE = "working"


@dataclass
class RowProgress:
    """What one row shows while (and after) a run touches it."""

    state: str = "idle"  # idle queued active waiting retrying done failed cancelled not_started
    text: str = ""
    done: int = 0  # memories the walk has fetched (a resumed walk counts what it had already)
    expected: int | None = None
    hint: str = ""
    #: what went wrong in full (the error with its request path and attempts, the exception class): tooltip
    detail: str = ""
    kind: str = ""  # exception class name of the failure ("" when none)
    resumable: bool = True  # a failed row: the next backup resumes it
    resuming: bool = False  # this run resumes a walk an earlier run did not finish
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


DONE = "backed up"


def done_text(counts: str = "") -> str:
    """A finished row, in this run or read back from the archive after a restart (the same words):
    "backed up: 3 new, 1 edited"."""
    return f"{DONE}: {counts}" if counts else DONE


def kept_text(done: int, expected: int | None) -> str:
    """What an unfinished walk kept: "1,100 of 2,600 fetched — resumes next time" ("" when nothing)."""
    if done <= 0:
        return ""
    of = f" of {expected:,}" if expected else ""
    return f"{done:,}{of} fetched — {RESUMES}"


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

    estimate: int  # requests the personality needs in all, ``credit`` included
    made: int = 0
    finished: bool = False  # backed up: its work is complete
    ended: bool = False  # failed or cancelled: no more requests now, but its work is not done
    credit: int = 0  # page requests an earlier, unfinished run already made (a resumed walk)

    @property
    def pending(self) -> bool:
        return not self.finished and not self.ended


@dataclass
class RunTracker:
    """Consumes events; keeps ``rows[slug]`` and an overall fraction + ETA.

    ``prior`` maps slug -> (memories stored locally, last known server total) so the estimate can count the
    pages an incremental run will need before the server says anything. ``resume`` maps slug -> memories an
    earlier unfinished walk fetched (a resumed run starts its progress from them); ``first`` holds the slugs
    that have no complete backup yet. ``stop_kind`` names the error that stopped the whole run (set by the
    window from the engine's report before the run is settled).
    """

    prior: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    resume: dict[str, int] = field(default_factory=dict)
    first: set[str] = field(default_factory=set)
    stop_kind: str = ""
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
    _wait_until: float = 0.0  # a retry the client scheduled starts no earlier than this (clock time)
    _wait_reason: str = ""

    # --- feeding ------------------------------------------------------------------------------------

    def start(self, slugs: list[str], delay: float) -> set[str]:
        """Mark ``slugs`` queued before the engine says anything (the click should show at once)."""
        self.rows = {s: RowProgress(state="queued", text="queued") for s in slugs}
        self._work = {s: self._new_work(s) for s in slugs}
        self.delay, self.running, self.cancelled, self.stop_kind = delay, True, False, ""
        self.started_at, self.requests, self._best_fraction = self.clock(), 0, 0.0
        self._wait_until, self._wait_reason = 0.0, ""
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
            if row.state == "queued":
                row.state, row.text = "not_started", "not started"
            elif row.busy and cancelled:
                row.state, row.text = "cancelled", _cancelled_text(row)
            elif row.busy:
                reason = failure_reason(self.stop_kind) if self.stop_kind else "stopped"
                row.state, row.kind = "failed", self.stop_kind
                row.text = _failed_text(reason, row, resumable=True)
            else:
                continue
            if slug in self._work:
                self._work[slug].ended = True
            changed.add(slug)
        self.running = False
        self.cancelled = cancelled
        self._wait_until = 0.0
        return changed

    def kept(self, slug: str, fetched: int) -> bool:
        """After the run, the archive says how many memories the unfinished walk kept: a cancelled or failed
        row says that number (a page can be saved while the cancel arrives, before its event). True when the
        row changed."""
        row = self.rows.get(slug)
        if row is None or row.state not in ("failed", "cancelled") or fetched <= 0 or fetched == row.done:
            return False
        row.done = fetched
        if row.state == "cancelled":
            row.text = _cancelled_text(row)
        else:
            reason = failure_reason(row.kind) if row.kind else "stopped"
            row.text = _failed_text(reason, row, resumable=row.resumable)
        return True

    # --- reading ------------------------------------------------------------------------------------

    def fraction(self) -> float:
        """Overall 0..1, weighted by estimated requests; never goes backwards."""
        work = self._work.values()
        total = sum(w.made + w.credit if w.finished else max(w.estimate, w.made + w.credit) for w in work)
        made = sum(w.made + w.credit for w in work)
        if total <= 0:
            return 0.0
        value = min(1.0, made / total)
        self._best_fraction = max(self._best_fraction, value)
        return self._best_fraction

    def remaining_requests(self) -> int:
        return sum(max(w.estimate - w.made - w.credit, 1) for w in self._work.values() if w.pending)

    def scheduled_wait(self) -> float:
        """Seconds until the retry the client scheduled may start (0 when none is pending)."""
        return max(0.0, self._wait_until - self.clock()) if self.running else 0.0

    def seconds_per_request(self) -> float:
        """Pacing sets a floor; measured throughput takes over once it is slower."""
        measured = 0.0
        if self.requests >= 5:
            measured = (self.clock() - self.started_at) / self.requests
        return max(self.delay, measured)

    def eta_seconds(self) -> float | None:
        """Seconds left: never less than a retry wait already scheduled, plus the requests after it."""
        if not self.running:
            return None
        pending = [w for w in self._work.values() if w.pending]
        if not pending:
            return self.scheduled_wait()
        boundaries = max(0, len(pending) - 1) * self.delay  # 2 x delay start-to-start between personalities
        return self.scheduled_wait() + self.remaining_requests() * self.seconds_per_request() + boundaries

    def summary(self) -> str:
        """One line for the status bar."""
        if not self.rows:
            return ""
        n = len(self.rows)
        if self.running:
            finished = sum(1 for row in self.rows.values() if row.state in {"done", "failed", "cancelled"})
            wait = self.scheduled_wait()
            wait_text = ""
            if wait >= 1:
                left = format_duration(wait)
                rate = self._wait_reason == "retry-after"
                wait_text = f", waiting {left} for the rate limit" if rate else f", retrying in {left}"
            eta = self.eta_seconds()
            eta_text = f", about {format_duration(eta)} left" if eta is not None and self.requests else ""
            return f"Backing up {min(finished + 1, n)} of {n}{wait_text}{eta_text}"
        counts = self._counts()
        if self.cancelled:
            return f"Cancelled — {counts}; the next backup resumes"
        if self.stop_kind:
            return f"Stopped: {stop_reason(self.stop_kind)} — {counts}"
        if any(row.state == "not_started" for row in self.rows.values()):  # stopped before these
            return f"Stopped — {counts}"
        if self.failed_count:
            return f"Finished: {self.done_count} backed up, {self.failed_count} failed"
        return f"Finished: {self.done_count} of {n} backed up"

    def bar_text(self) -> str:
        """What the overall bar says once the run ended ("" = its percentage: a complete run)."""
        if self.running:
            return ""
        if self.cancelled:
            return "Cancelled"
        if self.stop_kind:
            return f"Stopped: {stop_reason(self.stop_kind)}"
        if any(row.state == "not_started" for row in self.rows.values()):
            return "Stopped"
        if self.failed_count:
            return f"Finished: {self.failed_count} failed"
        return ""

    def _counts(self) -> str:
        """ "1 backed up, 1 not finished, 1 not started" (zero counts left out, except backed up)."""
        unfinished = failed = not_started = 0
        for row in self.rows.values():
            interrupted = row.state == "failed" and bool(self.stop_kind) and row.kind == self.stop_kind
            if row.state == "cancelled" or interrupted:
                unfinished += 1  # interrupted by the cancel or by what stopped the run: it resumes
            elif row.state == "failed":
                failed += 1
            elif row.state == "not_started":
                not_started += 1
        parts = [f"{self.done_count} backed up"]
        for count, label in ((unfinished, "not finished"), (failed, "failed"), (not_started, "not started")):
            if count:
                parts.append(f"{count} {label}")
        return ", ".join(parts)

    # --- internals ----------------------------------------------------------------------------------

    def _estimate(self, slug: str, expected: int | None = None, full: bool = False) -> int:
        """Requests the personality needs in all (a resumed walk's earlier pages included)."""
        stored = self.prior.get(slug, (0, None))[0]
        server = self._total(slug, expected)
        fetched = self.resume.get(slug, 0)
        if server is None:
            pages = 2 + self._credit(slug, expected)
        elif full or fetched:
            pages = math.ceil(server / PAGE_SIZE) + 1
        else:
            pages = math.ceil(max(server - stored, 0) / PAGE_SIZE) + 1
        return _FIXED_REQUESTS + pages

    def _total(self, slug: str, expected: int | None = None) -> int | None:
        """The server total to plan with: the one just reported, else the last known one, unless a resumed
        walk already fetched more than it (then it is stale, from an older backup: unknown)."""
        server = expected if expected is not None else self.prior.get(slug, (0, None))[1]
        return None if server is not None and server < self.resume.get(slug, 0) else server

    def _credit(self, slug: str, expected: int | None = None) -> int:
        """Page requests a resumed walk already made, counted only once the total is known (else a guess
        would overshoot, and the overall fraction never goes back)."""
        fetched = self.resume.get(slug, 0)
        return math.ceil(fetched / PAGE_SIZE) if fetched and self._total(slug, expected) is not None else 0

    def _new_work(self, slug: str) -> _Work:
        return _Work(self._estimate(slug), credit=self._credit(slug))

    def _row(self, slug: str) -> RowProgress:
        if slug not in self.rows:
            self.rows[slug] = RowProgress()
            self._work[slug] = self._new_work(slug)
        return self.rows[slug]


def _cancelled_text(row: RowProgress) -> str:
    return kept_text(row.done, row.expected) or f"cancelled — {RESUMES}"


def _failed_text(reason: str, row: RowProgress, *, resumable: bool) -> str:
    """ "offline: 560 of 2,600 fetched — resumes next time", "offline — resumes next time", or for what
    the next run will not simply resume, "failed: not your personality"."""
    if not resumable:
        return reason if reason == "failed" else f"failed: {reason}"
    kept = kept_text(row.done, row.expected)
    return f"{reason}: {kept}" if kept else f"{reason} — {RESUMES}"


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
    fetched = t.resume.get(e.slug, 0)
    if fetched:  # a resumed walk starts from what it has, not from 0
        row.resuming, row.done, row.expected = True, fetched, t._total(e.slug)
        row.text = "resuming: " + _memories_text(row)
    t.current = e.slug
    return {e.slug}


def _on_phase(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, PhaseChanged)
    row = t._row(e.slug)
    row.state = "active"
    if e.phase == "memories":
        row.resuming = row.resuming or "resum" in e.detail
        row.text = ("resuming: " if row.resuming else "") + _memories_text(row)
    else:
        row.text = _PHASE_TEXT.get(e.phase, _UNKNOWN_PHASE)
        count = re.fullmatch(r"(\d+) messages?", e.detail) if e.phase == "chat" else None
        if count:  # "fetching chat history (1,200 messages)"
            row.text += f" ({plural(int(count.group(1)), 'message')})"
        if row.resuming and e.phase == "profile":
            row.text = "resuming: " + row.text
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
        work.credit = max(work.credit, t._credit(e.slug, e.expected))
        work.estimate = max(work.made + work.credit + 1, t._estimate(e.slug, e.expected, full=e.reconciling))
    first_backup = e.slug in t.first or t.prior.get(e.slug, (0, None))[0] == 0
    prefix = "reconciling: " if e.reconciling and not first_backup else ""
    row.text = (prefix or ("resuming: " if row.resuming else "")) + _memories_text(row)
    return {e.slug}


def _on_reconciling(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, Reconciling)
    row = t._row(e.slug)
    row.state, row.text, row.done = "active", "reconciling" + (f" ({e.reason})" if e.reason else ""), 0
    work = t._work[e.slug]
    work.estimate = max(work.made + work.credit + 1, work.made + t._estimate(e.slug, row.expected, full=True))
    return {e.slug}


def _on_waiting(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, Waiting)
    if e.reason == "pacing":
        return set()  # pacing waits are the normal rhythm, not news
    until = t.clock() + e.seconds  # the ETA never promises less than this wait
    if until > t._wait_until:
        t._wait_until, t._wait_reason = until, e.reason
    if not e.slug or e.slug not in t.rows:
        return set()
    row = t.rows[e.slug]
    what = "for the rate limit" if e.reason == "retry-after" else "before retrying"
    row.state, row.text = "waiting", f"waiting {math.ceil(e.seconds)} s {what}"
    return {e.slug}


def _on_retrying(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, Retrying)
    if not e.slug or e.slug not in t.rows:
        return set()
    row = t.rows[e.slug]
    short = re.sub(r"\s*\(\w+\)$", "", e.reason)  # "connection problem (ConnectError)": the class is a detail
    reason = f" after {short}" if short else ""
    row.state, row.text = "retrying", f"retrying ({e.attempt} of {e.max_attempts}){reason}"
    row.detail = f"attempt {e.attempt} of {e.max_attempts} after {e.reason}" if e.reason else ""
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
        row.state, row.detail = "active", ""
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
    row.text = done_text(", ".join(parts))
    row.resuming = False
    t._work[e.slug].finished = True
    t.done_count += 1
    return {e.slug}


def _on_failed(t: RunTracker, e: BackupEvent) -> set[str]:
    assert isinstance(e, PersonalityFailed)
    row = t._row(e.slug) if e.slug else None
    if row is None:
        return set()
    cancelled = e.kind in {"cancelled", "CancelledError", "Cancelled"}
    row.hint = e.hint
    if cancelled:
        row.state, row.text = "cancelled", _cancelled_text(row)
    else:
        row.state, row.kind, row.resumable = "failed", e.kind, e.resumable
        row.text = _failed_text(failure_reason(e.kind), row, resumable=e.resumable)
        row.detail = f"{e.error} ({e.kind})" if e.kind and e.error else e.error or e.kind
        t.failed_count += 1
    t._work[e.slug].ended = True
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
