"""Local damage to a backup folder, then ``backup`` over loopback: refused, not a byte changed, and ``verify``
keeps reporting it (issue 13, item 3: a backup never makes local damage worse, and never hides it).

953 memories in chunks of 250: ``memory_1..3`` hold 250 each, ``memory_4`` holds 203.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive import verify_backup
from tzbackup_gui.sandbox import SandboxServer

from .engine_support import Runner, sandbox, stored_ids, upstream_ids

__all__ = ["sandbox"]

SLUG = "eng-damage"
METADATA = ".backup-metadata.json"


def _chunk_path(runner: Runner, number: int) -> Path:
    return runner.folder(SLUG) / "memory" / f"{SLUG}_memory_{number}.json"


def _read(path: Path) -> list[dict[str, Any]]:
    memories: list[dict[str, Any]] = json.loads(path.read_text("utf-8"))["memories"]
    return memories


def _write(path: Path, memories: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"memories": memories}, ensure_ascii=False, indent=1) + "\n", "utf-8")


def _snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file in the folder (folders listed too): the metadata and its run history included."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _delete_file_3(runner: Runner) -> str:
    _chunk_path(runner, 3).unlink()
    return f"{SLUG}_memory_3.json"


def _cut_ten(runner: Runner) -> str:
    path = _chunk_path(runner, 2)
    memories = _read(path)
    _write(path, memories[:100] + memories[110:])
    return path.name


def _cut_ten_from_last(runner: Runner) -> str:
    path = _chunk_path(runner, 4)
    _write(path, _read(path)[:-10])
    return METADATA  # the sizes are still legal: only the recorded count shows it


def _drop_an_id(runner: Runner) -> str:
    path = _chunk_path(runner, 2)
    memories = _read(path)
    del memories[17]["id"]
    _write(path, memories)
    return path.name


def _duplicate_an_id(runner: Runner) -> str:
    first = _read(_chunk_path(runner, 1))
    path = _chunk_path(runner, 3)
    memories = _read(path)
    memories[5]["id"] = first[5]["id"]
    _write(path, memories)
    return path.name


DAMAGE: dict[str, Callable[[Runner], str]] = {
    "memory_3 deleted": _delete_file_3,
    "10 memories cut out of a chunk": _cut_ten,
    "10 memories cut out of the last chunk": _cut_ten_from_last,
    "a memory lost its id": _drop_an_id,
    "a duplicate id": _duplicate_an_id,
}


def _backed_up(sandbox: SandboxServer, tmp_path: Path) -> Runner:
    sandbox.state.add_personality(SLUG, "Engine Damage", memories=953)
    runner = Runner(sandbox, tmp_path / "data")
    report = runner.run([SLUG])
    assert report.exit_code == 0, report.results
    assert verify_backup(runner.folder(SLUG)).ok
    return runner


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_folder_is_refused_and_kept_as_it_is(
    sandbox: SandboxServer, tmp_path: Path, damage: str
) -> None:
    runner = _backed_up(sandbox, tmp_path)
    folder = runner.folder(SLUG)
    named = DAMAGE[damage](runner)
    check = verify_backup(folder)
    assert not check.ok and any(named in p for p in check.problems), check.problems
    sandbox.state.add_memories(SLUG, 7)  # there is something new to fetch, and it must not be committed
    before = _snapshot(folder)
    for _ in range(2):  # the second run meets the same damage: nothing was absorbed by the first
        report = runner.run([SLUG])
        res = report.results[0]
        assert report.exit_code == 1 and res.status == "refused", res
        assert res.error_kind == "CorruptBackupError" and named in res.error
        assert "aside" in res.hint and "verify" in res.hint
        assert runner.memory_requests() == 0  # refused before the walk: nothing fetched, nothing journaled
        assert _snapshot(folder) == before  # not a byte: not the profile, not even the run history
        check = verify_backup(folder)
        assert not check.ok and any(named in p for p in check.problems), check.problems


def test_memory_without_id_is_never_dropped(sandbox: SandboxServer, tmp_path: Path) -> None:
    runner = _backed_up(sandbox, tmp_path)
    path = _chunk_path(runner, 2)
    lost = _read(path)[17]
    _drop_an_id(runner)
    kept = {k: v for k, v in lost.items() if k != "id"}
    raw = path.read_bytes()
    report = runner.run([SLUG], full=True)
    assert report.exit_code == 1 and "without an id" in report.results[0].error
    assert path.read_bytes() == raw and kept in _read(path)  # verbatim, where it was


def test_moving_the_folder_aside_gives_a_whole_backup(sandbox: SandboxServer, tmp_path: Path) -> None:
    """The way out the hint names: the damaged folder stays for the user; a fresh backup is exact."""
    runner = _backed_up(sandbox, tmp_path)
    _delete_file_3(runner)
    assert runner.run([SLUG]).exit_code == 1
    aside = tmp_path / "aside"
    shutil.move(runner.folder(SLUG), aside)
    report = runner.run([SLUG])
    assert report.exit_code == 0, report.results
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)
    assert verify_backup(runner.folder(SLUG)).ok
    assert not (aside / "memory" / f"{SLUG}_memory_3.json").exists()  # the aside copy is untouched


def test_restoring_the_file_from_a_copy_lets_the_backup_go_on(sandbox: SandboxServer, tmp_path: Path) -> None:
    runner = _backed_up(sandbox, tmp_path)
    path = _chunk_path(runner, 3)
    saved = path.read_bytes()
    _delete_file_3(runner)
    assert runner.run([SLUG]).exit_code == 1
    path.write_bytes(saved)
    sandbox.state.add_memories(SLUG, 5)
    report = runner.run([SLUG])
    assert report.exit_code == 0 and report.results[0].new == 5
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)
    assert verify_backup(runner.folder(SLUG)).ok
