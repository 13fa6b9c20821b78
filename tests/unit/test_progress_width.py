"""The live progress line is cut by the columns it takes on the terminal, not by its length: a CJK or emoji
name takes two columns per character, and a line wider than the terminal wraps and leaves debris."""

from __future__ import annotations

import io
import re

from tzbackup_gui.cli.progress import ProgressDisplay, display_width, truncate_to_width
from tzbackup_gui.events import MemoryPageFetched, PersonalityStarted, RunStarted


def live_lines(out: str) -> list[str]:
    """The live line as drawn each time (permanent lines end in a newline and may wrap as they like)."""
    return [part for part in re.split(r"\r\x1b\[2K", out) if part and "\n" not in part]


def test_a_cjk_name_at_width_40_stays_within_the_terminal() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, io.StringIO(), tty=True, width=40)
    slug = "東京の夜空を見上げる詩人さくら"  # 15 wide characters: 30 columns, 15 characters
    display(RunStarted(slugs=(slug,), delay=1.0))
    display(PersonalityStarted(slug=slug, index=0, count=1))
    display(MemoryPageFetched(slug=slug, page=3, memories_done=60, expected=2600))
    display.refresh()  # page events redraw at most ten times a second: draw this one now
    lines = live_lines(out.getvalue())
    assert lines, out.getvalue()
    for line in lines:
        assert display_width(line) <= 39, (line, display_width(line))  # one column spare for the cursor
    assert lines[-1] == slug + "  memori…"  # 30 + 8 columns + the mark: 39


def test_len_would_have_let_it_wrap() -> None:
    """The old cut: 39 characters of CJK text are 78 columns on a 40-column terminal."""
    line = "[1/1] " + "詩" * 60
    assert len(line[:38] + "…") == 39 and display_width(line[:38] + "…") > 40
    cut = truncate_to_width(line, 39)
    assert display_width(cut) <= 39 and cut.endswith("…")


def test_truncate_keeps_what_fits_and_marks() -> None:
    assert truncate_to_width("short", 10) == "short"
    assert truncate_to_width("abcdefghij", 5) == "abcd…"
    assert truncate_to_width("漢字漢字", 5) == "漢字…"  # never half of a wide character
    assert truncate_to_width("e\u0301e\u0301e\u0301", 2) == "e\u0301…"  # the accent stays with its letter
    assert truncate_to_width("abc", 0) == ""
