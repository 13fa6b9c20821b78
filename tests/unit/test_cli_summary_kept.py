"""The end-of-run summary of a personality whose run did not finish shows what it has (issue 14): the memories
stored and how far the walk got, from the metadata the engine committed and the progress events, never
"total 0 ... cancelled"."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

from tzbackup_gui.cli.progress import Kept, ProgressDisplay, kept_numbers, stored_totals, summary_table
from tzbackup_gui.events import MemoryPageFetched


@dataclass
class Result:
    slug: str
    status: str = "cancelled"
    folder: str = ""
    new: int = 0
    edited: int = 0
    deleted_upstream: int = 0
    total: int = 0


def _folder(data: Path, name: str, **meta: object) -> None:
    folder = data / "personalities" / name
    folder.mkdir(parents=True)
    (folder / ".backup-metadata.json").write_text(json.dumps({"formatVersion": 1, "slug": name, **meta}))


def test_kept_status_texts() -> None:
    text = Kept(2600, 0, 1100, 2600).status("cancelled")
    assert text == "cancelled (1100 of 2600 fetched; resumes next time)"
    assert Kept(600, 600, 600, None).status("failed") == "failed (600 fetched; resumes next time)"
    assert Kept(2600, 0, None, None).status("failed") == "failed"  # the walk never started


def test_cancelled_row_shows_the_stored_total_not_zero(tmp_path: Path) -> None:
    _folder(tmp_path, "lilith", totalMemories=2600, serverTotal=2600)
    before = stored_totals(tmp_path)
    assert before == {"lilith": 2600}
    display = ProgressDisplay(io.StringIO(), io.StringIO(), tty=False)
    display(MemoryPageFetched(slug="lilith", page=55, memories_done=1100, new_so_far=0, expected=2600))
    results = [Result("lilith", folder="lilith"), Result("ana", status="not_started")]
    kept = kept_numbers(tmp_path, results, before, display.walks)
    rows = summary_table(results, None, kept).splitlines()
    cells = rows[2].split(maxsplit=5)
    assert cells[:5] == ["lilith", "0", "-", "0", "2600"]
    assert cells[5] == "cancelled (1100 of 2600 fetched; resumes next time)"
    assert rows[3].split() == ["ana", "-", "-", "-", "-", "not", "attempted"]


def test_first_backup_that_failed_counts_what_it_committed(tmp_path: Path) -> None:
    """No progress event seen (quiet, or the page outran the display): the metadata's ``unfinishedWalk``."""
    _folder(tmp_path, "cut", totalMemories=600, unfinishedWalk={"fetched": 600})
    results = [Result("cut", status="failed", folder="cut")]
    kept = kept_numbers(tmp_path, results, {}, {"cut": (580, 1203)})
    assert kept == {"cut": Kept(stored=600, new=600, fetched=600, expected=1203)}
    assert "failed (600 of 1203 fetched; resumes next time)" in summary_table(results, None, kept)


def test_finished_and_refused_rows_are_left_as_they_are(tmp_path: Path) -> None:
    _folder(tmp_path, "ok", totalMemories=10)
    results = [Result("ok", status="ok", folder="ok", new=10, total=10), Result("no", status="refused")]
    assert kept_numbers(tmp_path, results, {}, {}) == {}
