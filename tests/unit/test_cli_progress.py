"""The CLI progress display: events in, text out (terminal and plain modes), ETA and the summary table."""

from __future__ import annotations

import io
from dataclasses import dataclass

from tzbackup_gui.cli.progress import ProgressDisplay, format_duration, summary_table
from tzbackup_gui.events import (
    MemoryPageFetched,
    PersonalityFailed,
    PersonalityFinished,
    PersonalityStarted,
    Retrying,
    RunFinished,
    RunStarted,
    Waiting,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(
    tty: bool, *, quiet: bool = False, delay: float = 1.0
) -> tuple[ProgressDisplay, io.StringIO, io.StringIO, Clock]:
    out, err, clock = io.StringIO(), io.StringIO(), Clock()
    display = ProgressDisplay(out, err, tty=tty, quiet=quiet, delay=delay, clock=clock, width=200)
    return display, out, err, clock


def test_format_duration() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(42.2) == "43s"
    assert format_duration(112) == "1m52s"
    assert format_duration(3725) == "1h02m"


def test_eta_uses_the_pacing_delay() -> None:
    display, _, _, clock = make(tty=True, delay=1.0)
    display(PersonalityStarted(slug="lilith", index=0, count=1))
    display(MemoryPageFetched(slug="lilith", page=17, memories_done=340, expected=2600))
    # 2260 left = 113 pages at >= 1 s each
    assert display.eta_seconds() == 113.0
    assert "lilith  memories 340/2600  ETA 1m53s" in display.status_line()
    clock.now += 4.0  # pages are slower than the delay: the ETA follows the measured pace
    display(MemoryPageFetched(slug="lilith", page=18, memories_done=360, expected=2600))
    assert display.eta_seconds() == 112 * 4.0


def test_unknown_total_shows_a_running_count_without_eta() -> None:
    display, _, _, _ = make(tty=True)
    display(PersonalityStarted(slug="ana", index=0, count=1))
    display(MemoryPageFetched(slug="ana", page=1, memories_done=20, expected=None))
    assert display.eta_seconds() is None
    line = display.status_line()
    assert "memories 20" in line and "ETA" not in line


def test_tty_live_line_shows_rate_limit_wait_and_is_rewritten_in_place() -> None:
    display, out, _, clock = make(tty=True)
    display(RunStarted(slugs=("lilith", "ana"), delay=1.0))
    display(PersonalityStarted(slug="lilith", index=0, count=2))
    display(MemoryPageFetched(slug="lilith", page=1, memories_done=20, expected=100))
    display(Waiting(slug="lilith", seconds=2.0, reason="retry-after"))
    line = display.status_line()
    assert line.startswith("[1/2] lilith  memories 20/100")
    assert "waiting 2s (rate limit)" in line
    clock.now += 3.0
    assert "waiting" not in display.status_line()
    assert "\r\x1b[2K" in out.getvalue()
    display(PersonalityFinished(slug="lilith", new=20, total=100))
    display(RunFinished(done=1))
    text = out.getvalue()
    # the live line was cleared before the permanent line, and nothing live is left after it
    assert text.endswith("\r\x1b[2K[1/2] lilith: done, 20 new, 100 stored\n")


def test_plain_mode_prints_lines_not_escape_codes() -> None:
    display, out, err, clock = make(tty=False)
    display(RunStarted(slugs=("lilith",), delay=1.0))
    display(PersonalityStarted(slug="lilith", index=0, count=1))
    for page in range(1, 6):
        display(MemoryPageFetched(slug="lilith", page=page, memories_done=page * 20, expected=200))
        clock.now += 1.0
    display(Waiting(slug="lilith", seconds=1.0, reason="pacing"))  # pacing waits are not worth a line
    display(Waiting(slug="lilith", seconds=4.0, reason="backoff"))
    display(Retrying(slug="lilith", attempt=2, max_attempts=3, reason="HTTP 503"))
    display(PersonalityFinished(slug="lilith", new=100, edited=2, deleted_upstream=1, total=200))
    text = out.getvalue()
    assert "\x1b" not in text and "\r" not in text
    assert "lilith: started" in text
    assert text.count("memories ") == 1  # throttled: one progress line per 5 s
    assert "waiting 4s (backoff)" in text and "pacing" not in text
    assert "retrying, attempt 2/3 (HTTP 503)" in text
    assert "lilith: done, 100 new, 2 edited, 1 deleted upstream, 200 stored" in text
    assert err.getvalue() == ""


def test_quiet_prints_only_failures() -> None:
    display, out, err, _ = make(tty=True, quiet=True)
    display(RunStarted(slugs=("a", "b"), delay=1.0))
    display(PersonalityStarted(slug="a", index=0, count=2))
    display(MemoryPageFetched(slug="a", page=1, memories_done=20, expected=40))
    display(PersonalityFinished(slug="a", new=1, total=40))
    display(PersonalityStarted(slug="b", index=1, count=2))
    display(PersonalityFailed(slug="b", error="The service kept failing.", kind="ServerError"))
    display(RunFinished(done=1, failed=1))
    assert out.getvalue() == ""
    assert "[2/2] b: failed: The service kept failing." in err.getvalue()


@dataclass
class Result:
    slug: str
    new: int = 0
    edited: int = 0
    deleted_upstream: int = 0
    total: int = 0
    status: str = "ok"
    full_walk: bool = False


def test_summary_table() -> None:
    table = summary_table([Result("lilith", 12, 1, 2, 2600, full_walk=True), Result("ana", status="failed")])
    lines = table.splitlines()
    assert lines[0].split() == ["name", "new", "edited", "deleted", "upstream", "total", "status"]
    assert lines[2].split() == ["lilith", "12", "1", "2", "2600", "ok"]
    assert lines[3].split() == ["ana", "0", "0", "0", "0", "failed"]
