"""Exit codes and summaries tell the truth (issue 14, the CLI part), over the real CLI against the sandbox:

- ``status`` of a backup with a damaged memory file marks the row and exits 1;
- a Markdown export of it counts what it wrote, lists what it could not read at the top and exits 1; a zip
  export writes everything readable, warns and exits 1 (as the README says);
- after a failed or cancelled run the summary row shows what is stored and what the walk fetched, never
  "total 0";
- commands that only read a data dir refuse a missing one (exit 2) instead of "No backups" and exit 0;
- ``verify`` of a zip speaks of verifying, never of importing; ``--output`` never creates folders.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine_support import Runner
from tzbackup_gui.sandbox import SandboxServer

from .cli_support import (
    MemoryKeyring,
    Result,
    cli_command,
    memory_ids_on_disk,
    memory_keyring,
    run_inprocess,
    run_subprocess,
    server_args,
    subprocess_env,
)

__all__ = ["memory_keyring"]

SLUG = "damaged-one"
MEMORIES = 800  # four memory files: 250, 250, 250, 50
DAMAGED = f"{SLUG}_memory_2.json"


@pytest.fixture(autouse=True)
def _isolated_keyring(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    return memory_keyring


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
         cookie: str | None = None) -> Result:
    return run_inprocess(capsys, monkeypatch, list(args), {"TZBACKUP_COOKIE": cookie} if cookie else {})


@pytest.fixture
def damaged(sandbox: SandboxServer, tmp_path: Path) -> Path:
    """A data dir holding a backup of SLUG whose second memory file no longer parses."""
    sandbox.state.add_personality(SLUG, "Damaged One", memories=MEMORIES)
    data = tmp_path / "data"
    assert Runner(sandbox, data).run([SLUG]).exit_code == 0
    chunk = data / "personalities" / SLUG / "memory" / DAMAGED
    chunk.write_bytes(chunk.read_bytes()[:5000])  # cut short, as a failing disk or a bad copy leaves it
    return data


def _table_row(out: str, slug: str) -> dict[str, str]:
    """The row of ``slug`` in a text table, as {column header: cell} (columns found from the rule line)."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("---"))
    header, rule = lines[at - 1], lines[at]
    starts = [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")]
    bounds = [*starts, 10**6]
    (line,) = [row for row in lines[at + 1:] if row.startswith(slug + " ")]
    return {header[a:b].strip(): line[a:b].strip() for a, b in itertools.pairwise(bounds)}


# --- status ----------------------------------------------------------------------------------------------


def test_status_of_a_damaged_backup_marks_the_row_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damaged: Path
) -> None:
    result = _cli(capsys, monkeypatch, "status", "--data-dir", str(damaged))
    assert result.code == 1, result.out + result.err
    row = _table_row(result.out, SLUG)
    assert row["local"] != str(MEMORIES) and "damaged" in row["local"], row
    assert "550" in row["local"]  # what can still be read: 800 less the 250 of the damaged file
    assert DAMAGED in result.out + result.err and "tzbackup verify" in result.out + result.err

    as_json = _cli(capsys, monkeypatch, "status", "--json", "--data-dir", str(damaged))
    assert as_json.code == 1
    (entry,) = as_json.json()["backups"]
    assert entry["damaged"] is True and entry["readable_memories"] == 550
    assert any(DAMAGED in p for p in entry["problems"])


def test_status_while_a_backup_writes_does_not_call_it_damaged(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damaged: Path
) -> None:
    """A commit half-way looks like damage: while another tzbackup holds the data dir, status says it did
    not check rather than raise a false alarm."""
    from tzbackup_gui.archive import DataDirLock

    with DataDirLock(damaged):
        result = _cli(capsys, monkeypatch, "status", "--data-dir", str(damaged))
    assert result.code == 0, result.err
    assert "not checked for damage" in result.out


def test_status_of_a_healthy_backup_still_exits_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    assert Runner(sandbox, tmp_path).run(["dr.ada.lovelace"]).exit_code == 0
    result = _cli(capsys, monkeypatch, "status", "--data-dir", str(tmp_path))
    assert result.code == 0, result.err
    assert "damaged" not in result.out
    (entry,) = _cli(capsys, monkeypatch, "status", "--json", "--data-dir", str(tmp_path)).json()["backups"]
    assert entry["damaged"] is False and entry["problems"] == []


# --- export of a damaged backup ---------------------------------------------------------------------------


def test_markdown_export_of_a_damaged_backup_counts_what_it_wrote(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damaged: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.md"
    result = _cli(capsys, monkeypatch, "export", SLUG, "--format", "markdown", "--output", str(target),
                  "--data-dir", str(damaged))
    assert result.code == 1, result.out + result.err
    text = target.read_text("utf-8")
    blocks = len(re.findall(r"^\*\*(\d\d:\d\d|--:--)\*\*", text, flags=re.MULTILINE))
    assert blocks == MEMORIES - 250
    head = text.split("## ", 1)[0]  # everything before the first section
    counted = f"{MEMORIES - 250} of {MEMORIES} memories"  # what it holds, and what the backup records
    assert counted in head and f"## Memories ({MEMORIES - 250})" in text
    assert DAMAGED in head  # what could not be read is listed at the top
    assert counted in result.err and DAMAGED in result.err and "warning" in result.err


def test_zip_export_of_a_damaged_backup_writes_everything_readable_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damaged: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.zip"
    result = _cli(capsys, monkeypatch, "export", SLUG, "--output", str(target), "--data-dir", str(damaged))
    assert result.code == 1, result.out + result.err
    assert "warning" in result.err and DAMAGED in result.err
    folder = damaged / "personalities" / SLUG
    with zipfile.ZipFile(target) as zf:
        names = set(zf.namelist())
        for path in (folder / "memory").iterdir():  # every memory file, the damaged one as it is
            assert zf.read(f"{SLUG}/memory/{path.name}") == path.read_bytes()
    assert f"{SLUG}/.backup-metadata.json" in names and "manifest.json" in names
    verified = _cli(capsys, monkeypatch, "verify", str(target))
    assert verified.code == 1 and DAMAGED in verified.out
    assert "import" not in (verified.out + verified.err).lower()


# --- the summary after a failed or cancelled run ------------------------------------------------------------


def test_failed_run_summary_shows_what_is_stored_and_fetched(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    sandbox.state.add_personality("cut-short", "Cut Short", memories=1203)
    sandbox.state.set_fault("expire_after", requests=2 + 1 + 30)  # me, list, profile, then 30 memory pages
    result = _cli(capsys, monkeypatch, "backup", "cut-short", *server_args(sandbox, tmp_path),
                  cookie=sandbox.cookie)
    assert result.code == 3, result.out + result.err
    stored = len(memory_ids_on_disk(tmp_path / "personalities" / "cut-short"))
    assert stored == 600
    row = _table_row(result.out, "cut-short")
    assert row["total"] == str(stored) and row["new"] == str(stored), row
    assert row["status"].startswith("failed") and "600 of 1203 fetched" in row["status"], row
    assert "resumes next time" in row["status"]


def _cancel_after(tmp_path: Path, sandbox: SandboxServer, data: Path, pages: int, *extra: str) -> Result:
    """``tzbackup backup lilith`` as a subprocess, Ctrl+C once ``pages`` memory pages were requested."""
    sandbox.state.clear_log()
    proc = subprocess.Popen(
        cli_command(["backup", "lilith", *extra, *server_args(sandbox, data, delay="0.05")]),
        env=subprocess_env(tmp_path, {"TZBACKUP_COOKIE": sandbox.cookie}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while sandbox.state.count("/api/memory/") < pages and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    return Result(proc.returncode, out, err)


def _meta(data: Path, slug: str) -> dict[str, Any]:
    meta = json.loads((data / "personalities" / slug / ".backup-metadata.json").read_text("utf-8"))
    assert isinstance(meta, dict)
    return meta


def test_cancelled_first_backup_summary_shows_what_was_kept(tmp_path: Path, sandbox: SandboxServer) -> None:
    data = tmp_path / "data"
    result = _cancel_after(tmp_path, sandbox, data, 15)
    assert result.code == 130, result.err
    stored = len(memory_ids_on_disk(data / "personalities" / "lilith"))
    assert stored > 0
    row = _table_row(result.out, "lilith")
    assert row["total"] == str(stored) and row["new"] == str(stored), row
    fetched = _meta(data, "lilith")["unfinishedWalk"]["fetched"]
    assert row["status"] == f"cancelled ({fetched} of 2600 fetched; resumes next time)", row


def test_cancelled_full_walk_keeps_showing_the_stored_total(tmp_path: Path, sandbox: SandboxServer) -> None:
    """The issue's case: 2,600 memories stored, a run cancelled early: not "total 0 ... cancelled"."""
    data = tmp_path / "data"
    assert Runner(sandbox, data).run(["lilith"]).exit_code == 0
    result = _cancel_after(tmp_path, sandbox, data, 8, "--full")
    assert result.code == 130, result.err
    row = _table_row(result.out, "lilith")
    assert row["total"] == "2600" and row["new"] == "0", row
    match = re.fullmatch(r"cancelled \((\d+) of 2600 fetched; resumes next time\)", row["status"])
    assert match and 0 < int(match[1]) < 2600, row
    status = run_subprocess(tmp_path, ["status", "--data-dir", str(data)])
    assert status.code == 0 and "(0 new)" not in status.out


# --- data dirs and paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["status"], ["verify", "--all"], ["search", "x"], ["show", "x"],
                                     ["export", "x"], ["history", "x"], ["diff", "x"]])
def test_readers_refuse_a_data_dir_that_does_not_exist(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "data-typo"
    result = _cli(capsys, monkeypatch, *command, "--data-dir", str(typo))
    assert result.code == 2, result.out + result.err
    assert f"no such data dir: {typo}" in result.err and "No backups" not in result.out
    assert not typo.exists()


def test_an_existing_empty_data_dir_still_has_no_backups(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = _cli(capsys, monkeypatch, "status", "--data-dir", str(tmp_path))
    assert result.code == 0 and "No backups yet" in result.out


def test_list_with_a_missing_data_dir(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    typo = tmp_path / "typo"
    result = _cli(capsys, monkeypatch, "list", *server_args(sandbox, typo), cookie=sandbox.cookie)
    assert result.code == 2 and f"no such data dir: {tmp_path / 'typo'}" in result.err


def test_output_into_a_missing_folder_creates_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damaged: Path, tmp_path: Path
) -> None:
    for fmt in ("zip", "markdown", "card"):
        target = tmp_path / "nonexistent" / "dir" / "x.out"
        result = _cli(capsys, monkeypatch, "export", SLUG, "--format", fmt, "--output", str(target),
                      "--data-dir", str(damaged))
        assert result.code == 2, result.err
        assert f"no such folder: {target.parent}" in result.err
        assert not (tmp_path / "nonexistent").exists()


def test_verify_of_a_missing_zip_says_no_such_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _cli(capsys, monkeypatch, "verify", "nosuch.zip", "--data-dir", str(tmp_path))
    assert result.code == 2
    assert "no such file: nosuch.zip" in result.err and "no local backup" not in result.out + result.err


def test_verify_of_a_corrupt_zip_never_speaks_of_importing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_text("not a zip")
    result = _cli(capsys, monkeypatch, "verify", str(bad), "--data-dir", str(tmp_path))
    assert result.code == 1
    assert "not a readable zip file" in result.out
    assert "import" not in (result.out + result.err).lower()
