"""The CLI's progress display: backup events in, text out (Qt-free).

On a terminal it keeps one live line per run, rewritten in place, e.g.
``[1/3] lilith  memories 340/2600  ETA 1m52s  waiting 2s (rate limit)``; finished personalities leave a
permanent line above it. When stdout is not a terminal (cron, pipes, CI) it prints plain lines instead,
at most one progress line every few seconds per personality. Quiet mode prints only failures (to stderr);
the summary table is printed by the CLI either way.

The ETA counts the pages still to fetch times the time one page takes, which is at least the pacing delay
(requests are spaced start-to-start), so a 1 s delay never produces an optimistic estimate.
"""

from __future__ import annotations

import json
import math
import sys
import time
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .. import events as ev

__all__ = [
    "Kept", "ProgressDisplay", "display_width", "format_duration", "format_table", "kept_numbers",
    "run_sections", "stored_totals", "summary_table", "truncate_to_width",
]

PAGE_SIZE = 20
PLAIN_INTERVAL = 5.0  # seconds between plain progress lines of one personality
WAIT_LABELS = {"retry-after": "rate limit", "backoff": "backoff", "pacing": "pacing"}


def format_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3725`` -> ``1h02m``; under a minute -> ``42s``."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class _Current:
    """What we know about the personality being backed up."""

    slug: str
    index: int = 0
    count: int = 1
    phase: str = "starting"
    done: int = 0
    new: int = 0
    expected: int | None = None
    pages: int = 0
    first_page_at: float | None = None
    last_page_at: float | None = None
    wait_until: float = 0.0
    wait_reason: str = ""
    note: str = ""
    last_plain: float = field(default=-1e9)


class ProgressDisplay:
    """An ``EventCallback`` that renders progress. Call :meth:`close` when the run ends."""

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        tty: bool | None = None,
        quiet: bool = False,
        delay: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self.quiet = quiet
        self.delay = delay
        self.clock = clock
        self.width = width
        self.current: _Current | None = None
        #: per slug, the walk's progress at its last memory page: (memories fetched, server total or None)
        self.walks: dict[str, tuple[int, int | None]] = {}
        self._live_shown = False
        self._last_draw = -1e9

    # --- events ------------------------------------------------------------------------------------

    def __call__(self, event: ev.BackupEvent) -> None:
        handler = self._handlers().get(type(event))
        if handler is not None:
            handler(event)
        if self.tty and not self.quiet and not isinstance(event, ev.RunFinished):
            self.refresh(force=not isinstance(event, ev.RequestMade | ev.MemoryPageFetched | ev.Waiting))

    def _handlers(self) -> dict[type, Callable[[Any], None]]:
        return {
            ev.RunStarted: self._on_run_started,
            ev.PersonalityStarted: self._on_started,
            ev.PhaseChanged: self._on_phase,
            ev.MemoryPageFetched: self._on_page,
            ev.Reconciling: self._on_reconciling,
            ev.Waiting: self._on_waiting,
            ev.Retrying: self._on_retrying,
            ev.PersonalityFinished: self._on_finished,
            ev.PersonalityFailed: self._on_failed,
            ev.RunFinished: self._on_run_finished,
        }

    def _on_run_started(self, event: ev.RunStarted) -> None:
        self.delay = event.delay
        n = len(event.slugs)
        what = "personality" if n == 1 else "personalities"
        self._line(f"Backing up {n} {what} (delay {event.delay:g}s between requests)")

    def _on_started(self, event: ev.PersonalityStarted) -> None:
        self.current = _Current(slug=event.slug, index=event.index, count=event.count)
        if not self.tty:
            self._line(f"{self._prefix()}{event.slug}: started")

    def _cur(self, slug: str) -> _Current:
        if self.current is None or (slug and self.current.slug != slug):
            self.current = _Current(slug=slug)
        return self.current

    def _on_phase(self, event: ev.PhaseChanged) -> None:
        cur = self._cur(event.slug)
        cur.phase, cur.note = event.phase, event.detail

    def _on_page(self, event: ev.MemoryPageFetched) -> None:
        cur = self._cur(event.slug)
        now = self.clock()
        cur.phase = "memories"
        cur.done, cur.new, cur.pages = event.memories_done, event.new_so_far, cur.pages + 1
        if event.expected is not None:
            cur.expected = event.expected
        self.walks[cur.slug] = (cur.done, cur.expected)
        cur.first_page_at = now if cur.first_page_at is None else cur.first_page_at
        cur.last_page_at = now
        cur.wait_until = 0.0
        if not self.tty and now - cur.last_plain >= PLAIN_INTERVAL:
            cur.last_plain = now
            self._line(f"{self._prefix()}{self._progress_text(cur)}")

    def _on_reconciling(self, event: ev.Reconciling) -> None:
        cur = self._cur(event.slug)
        cur.note = "full walk"
        if not self.tty:
            self._line(f"{self._prefix()}{cur.slug}: full walk ({event.reason})")

    def _on_waiting(self, event: ev.Waiting) -> None:
        cur = self._cur(event.slug)
        cur.wait_until = self.clock() + event.seconds
        cur.wait_reason = WAIT_LABELS.get(event.reason, event.reason)
        if not self.tty and event.reason != "pacing" and event.seconds >= 1:
            wait = format_duration(event.seconds)
            self._line(f"{self._prefix()}{cur.slug}: waiting {wait} ({cur.wait_reason})")

    def _on_retrying(self, event: ev.Retrying) -> None:
        cur = self._cur(event.slug)
        cur.note = f"retry {event.attempt}/{event.max_attempts} ({event.reason})"
        if not self.tty:
            self._line(f"{self._prefix()}{cur.slug}: retrying, attempt {event.attempt}/{event.max_attempts}"
                       f" ({event.reason})")

    def _on_finished(self, event: ev.PersonalityFinished) -> None:
        parts = [f"{event.new} new"]
        if event.edited:
            parts.append(f"{event.edited} edited")
        if event.deleted_upstream:
            parts.append(f"{event.deleted_upstream} deleted upstream")
        parts.append(f"{event.total} stored")
        self._line(f"{self._prefix()}{event.slug}: done, {', '.join(parts)}")
        self.current = None

    def _on_failed(self, event: ev.PersonalityFailed) -> None:
        self._clear_live()
        if event.kind != "cancelled":  # a cancel is reported once, by the CLI, after the summary
            word = "failed" if event.resumable else "refused"
            name = event.slug or "backup"
            print(f"{self._prefix()}{name}: {word}: {event.error}", file=self.err, flush=True)
            if event.hint:
                print(f"  hint: {event.hint}", file=self.err, flush=True)
        self.current = None

    def _on_run_finished(self, event: ev.RunFinished) -> None:
        self.close()

    # --- rendering ---------------------------------------------------------------------------------

    def _prefix(self) -> str:
        cur = self.current
        if cur is None or cur.count <= 1:
            return ""
        return f"[{cur.index + 1}/{cur.count}] "

    def eta_seconds(self, cur: _Current | None = None) -> float | None:
        """Seconds left for the current personality's memories, or ``None`` when the total is unknown."""
        cur = cur or self.current
        if cur is None or cur.expected is None:
            return None
        remaining = max(0, cur.expected - cur.done)
        pages_left = math.ceil(remaining / PAGE_SIZE)
        per_page = self.delay
        if cur.pages >= 2 and cur.first_page_at is not None and cur.last_page_at is not None:
            per_page = max(per_page, (cur.last_page_at - cur.first_page_at) / (cur.pages - 1))
        return pages_left * per_page

    def _progress_text(self, cur: _Current) -> str:
        if cur.phase != "memories" and cur.pages == 0:
            text = f"{cur.slug}  {cur.phase}"
        elif cur.expected is not None:
            text = f"{cur.slug}  memories {cur.done}/{cur.expected}"
            eta = self.eta_seconds(cur)
            if eta is not None and cur.done < cur.expected:
                text += f"  ETA {format_duration(eta)}"
        else:
            text = f"{cur.slug}  memories {cur.done}"
        if cur.new:
            text += f"  ({cur.new} new)"
        if cur.note:
            text += f"  {cur.note}"
        return text

    def status_line(self) -> str:
        """The live line as it would be shown now."""
        cur = self.current
        if cur is None:
            return ""
        text = self._prefix() + self._progress_text(cur)
        left = cur.wait_until - self.clock()
        if left > 0.5 and (cur.wait_reason != "pacing" or left >= 2):
            text += f"  waiting {format_duration(left)} ({cur.wait_reason})"
        return text

    def refresh(self, *, force: bool = True) -> None:
        """Redraw the live line (terminal only); the CLI calls this on a timer so countdowns move.
        Without ``force`` it redraws at most ten times a second (fast runs send many events)."""
        if not self.tty or self.quiet:
            return
        now = self.clock()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        line = self.status_line()
        if not line:
            return
        width = self.width or _terminal_width(self.out)
        # by the columns the line takes, not its length: a CJK or emoji name takes two per character, and a
        # line wider than the terminal wraps, so "\r" no longer reaches its start and debris is left behind
        line = truncate_to_width(line, max(10, width - 1))
        self.out.write("\r\x1b[2K" + line)
        self.out.flush()
        self._live_shown = True

    def _clear_live(self) -> None:
        if self._live_shown:
            self.out.write("\r\x1b[2K")
            self.out.flush()
            self._live_shown = False

    def _line(self, text: str) -> None:
        """A permanent line (above the live one on a terminal). Nothing in quiet mode."""
        if self.quiet:
            return
        self._clear_live()
        print(text, file=self.out, flush=True)

    def close(self) -> None:
        self._clear_live()


def _terminal_width(stream: TextIO) -> int:
    import os

    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        columns = 0
    return columns if columns >= 40 else 100


# --- the summary table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kept:
    """What a personality whose run did not finish (failed or cancelled) has now: ``stored`` memories in its
    files (those the walk fetched included: the engine commits them), ``new`` of them stored by this run
    (None when unknown), and the walk's progress: ``fetched`` of ``expected`` (None when unknown)."""

    stored: int | None = None
    new: int | None = None
    fetched: int | None = None
    expected: int | None = None

    def status(self, status: str) -> str:
        """``cancelled (1100 of 2600 fetched; resumes next time)``."""
        if self.fetched is None:  # the memory walk never started (or left nothing to resume)
            return status
        of = f" of {self.expected}" if self.expected is not None else ""
        return f"{status} ({self.fetched}{of} fetched; resumes next time)"


def stored_totals(data_dir: Path) -> dict[str, int]:
    """Memories stored per personality folder now (from the metadata; for "new" after an unfinished run)."""
    from ..archive.reader import list_backups

    try:
        return {b.folder.name: b.total_memories for b in list_backups(data_dir) if not b.problem}
    except OSError:
        return {}


def kept_numbers(
    data_dir: Path,
    results: Sequence[Any],
    before: Mapping[str, int],
    walks: Mapping[str, tuple[int, int | None]],
) -> dict[str, Kept]:
    """:class:`Kept` for each failed or cancelled result (by slug): stored from its metadata after the run,
    new as the difference to ``before`` (:func:`stored_totals` before the run), and the walk's progress from
    the progress display's ``walks`` (else the metadata's ``unfinishedWalk``)."""
    from ..archive.layout import METADATA_NAME, personalities_root

    out: dict[str, Kept] = {}
    for r in results:
        folder = str(getattr(r, "folder", "") or "")
        if r.status not in ("failed", "cancelled") or not folder:
            continue
        try:
            meta = json.loads((personalities_root(data_dir) / folder / METADATA_NAME).read_bytes())
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict):
            continue
        stored = _count(meta.get("totalMemories"))
        fetched, expected = walks.get(str(r.slug), (None, None))
        unfinished = meta.get("unfinishedWalk")
        committed = _count(unfinished.get("fetched")) if isinstance(unfinished, dict) else None
        if committed is not None:  # what the engine committed for this walk (a page may outrun the display)
            fetched = max(fetched or 0, committed)
        if expected is None:
            expected = _count(meta.get("serverTotal"))
        new = stored - before.get(folder, 0) if stored is not None else None
        out[str(r.slug)] = Kept(stored, new if new is None or new >= 0 else None, fetched, expected)
    return out


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def summary_table(
    results: Sequence[Any],
    sections: Mapping[str, Mapping[str, Any]] | None = None,
    kept: Mapping[str, Kept] | None = None,
) -> str:
    """The end-of-run table: name, new, edited, deleted upstream, total, status (one row per personality);
    when any personality's chat was backed up in this run, "chat new/total" goes between total and status
    (status stays last: scripts read it there). A personality a stopped run never reached reads
    "not attempted", with "-" for its figures. Below the table, one line per section that failed, with
    its error. A personality whose run failed or was cancelled shows what it has now, from ``kept`` (see
    :func:`kept_numbers`): the memories stored (never "0" when a backup holds 2,600) and, in its status,
    how far the walk got: "cancelled (1100 of 2600 fetched; resumes next time)".

    ``results`` are :class:`~tzbackup_gui.backup.PersonalityResult` objects (duck-typed here); ``sections``
    maps a result's slug to the ``sections`` summary of its metadata after the run (see
    :func:`run_sections`); without it the chat column shows only the status and the errors are not said.
    """
    sections = sections or {}
    ran = {str(r.slug): dict(getattr(r, "sections", None) or {}) for r in results}
    with_chat = any("chat" in s for s in ran.values())
    header = ["name", "new", "edited", "deleted upstream", "total", "status"]
    if with_chat:
        header.insert(5, "chat new/total")
    rows: list[Sequence[str]] = [header]
    notes: list[str] = []
    for r in results:
        slug = str(r.slug)
        if r.status == "not_started":  # a stopped run never reached it: no figures, and it did not fail
            rows.append([slug, "-", "-", "-", "-", *(["-"] if with_chat else []), "not attempted"])
            continue
        row = [slug, str(r.new), str(r.edited), str(r.deleted_upstream), str(r.total)]
        status = str(getattr(r, "summary_status", r.status))
        have = (kept or {}).get(slug)
        if have is not None:  # unfinished: what is stored now, and how far the walk got
            row = [slug, "-" if have.new is None else str(have.new), "-", str(r.deleted_upstream),
                   "-" if have.stored is None else str(have.stored)]
            status = have.status(str(r.status))
        summary = sections.get(slug) or {}
        if with_chat:
            row.append(_chat_cell(ran[slug].get("chat"), summary.get("chat")))
        rows.append([*row, status])
        for name, status in ran[slug].items():
            if status != "ok":
                entry = summary.get(name)
                error = entry.get("error") if isinstance(entry, Mapping) else None
                notes.append(f"  {slug}: {name} failed" + (f": {error}" if error else ""))
            elif isinstance(summary.get(name), Mapping) and summary[name].get("error"):
                notes.append(f"  {slug}: {name}: {summary[name]['error']}")  # ok, with a warning
    table = format_table(rows, numeric={1, 2, 3, 4, 5} if with_chat else {1, 2, 3, 4})
    return "\n".join([table, *notes])


def _chat_cell(status: str | None, entry: object) -> str:
    """``12/332`` (new in this run / stored); ``-/332`` when the chat sync failed (the status says so);
    ``-`` when the chat was not backed up in this run."""
    if status is None:
        return "-"
    info = entry if isinstance(entry, Mapping) else {}
    count, new = info.get("count"), info.get("new")
    total = str(count) if isinstance(count, int) else "?"
    if status != "ok":
        return f"-/{total}"
    return f"{new if isinstance(new, int) else '?'}/{total}"


def run_sections(data_dir: Path, results: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """The ``sections`` summary of each result's metadata (by slug), for :func:`summary_table`; a folder
    whose metadata cannot be read is left out."""
    from ..archive.layout import METADATA_NAME, personalities_root

    root = personalities_root(data_dir)
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        name = str(getattr(r, "folder", "") or "")
        if not name or not getattr(r, "sections", None):
            continue
        try:
            meta = json.loads((root / name / METADATA_NAME).read_bytes())
        except (OSError, ValueError):
            continue
        summary = meta.get("sections") if isinstance(meta, dict) else None
        if isinstance(summary, dict):
            out[str(r.slug)] = summary
    return out


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK, emoji) characters count 2, combining marks 0."""
    return sum(_char_width(ch) for ch in text)


def truncate_to_width(text: str, width: int, tail: str = "…") -> str:
    """``text`` if it fits in ``width`` columns, else its longest start that fits with ``tail`` after it
    (a wide character is never split; combining marks stay with their letter). Never wider than ``width``."""
    if display_width(text) <= width:
        return text
    tail_width = display_width(tail)
    if tail_width > width:
        tail, tail_width = "", 0
    budget, used, end = width - tail_width, 0, 0
    for ch in text:
        step = _char_width(ch)
        if used + step > budget:
            break
        used += step
        end += 1
    return text[:end] + tail


def format_table(rows: Sequence[Sequence[str]], *, numeric: Collection[int] = ()) -> str:
    """A text table: header, rule, columns padded by display width (``numeric`` ones right-aligned)."""
    widths = [max(display_width(str(row[i])) for row in rows) for i in range(len(rows[0]))]

    def cell(i: int, text: str) -> str:
        pad = " " * (widths[i] - display_width(text))
        return pad + text if i in numeric else text + pad

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(cell(i, str(c)) for i, c in enumerate(row)).rstrip()

    return "\n".join([fmt(rows[0]), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows[1:])])
