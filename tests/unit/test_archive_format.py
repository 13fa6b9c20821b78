"""The on-disk format survives the merge of the memory and chat stores into one (issue 17).

Two guards: a backup folder written by the code before the merge (``tests/fixtures/backup_before_issue17``)
opens as it is and reads back exactly what that code read; and a fixed scenario of three runs of memory
and chat commits leaves files byte-identical to the ones that code wrote (SHA-256 sums recorded then).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.unit.archive_format_support import SUMS_FILE, _memory, _memory_commit, build, sums
from tzbackup_gui.archive.chat import ChatArchive, iter_chat, verify_chat
from tzbackup_gui.archive.personality import PersonalityArchive

FIXTURE = Path(__file__).parents[1] / "fixtures" / "backup_before_issue17"


def _copy_fixture(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "data")
    return tmp_path / "data" / "personalities" / "old-pin"


def test_a_backup_written_before_the_merge_reads_back_identically(tmp_path: Path) -> None:
    folder = _copy_fixture(tmp_path)
    before = sums(folder)
    expected = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
    archive = PersonalityArchive(folder)
    assert archive.recover() is False
    index = archive.load_index(250)
    memories = [m for _, name in index.files for m in archive.load_chunk(name)]
    assert memories == expected["memories"]
    assert [e.id for e in index.entries] == [m["id"] for m in expected["memories"]]
    assert list(iter_chat(folder)) == expected["chat"]
    newest = max(float(m["ts"]) for m in expected["chat"])
    assert ChatArchive(folder).tail() == (1, len(expected["chat"]), newest)
    assert verify_chat(folder) == []
    assert archive.check_chunks(250, len(expected["memories"])).damage == []
    assert sums(folder) == before  # reading wrote nothing (but the id-index cache, which sums leaves out)


def test_a_backup_written_before_the_merge_takes_a_new_commit(tmp_path: Path) -> None:
    folder = _copy_fixture(tmp_path)
    archive = PersonalityArchive(folder)
    _memory_commit(archive, [[_memory(8), _memory(2, edit=5)]], "2026-02-01T00:00:00Z")
    index = archive.load_index(250)
    ids = [e.id for e in index.entries]
    assert ids == [f"mem-{n:05d}" for n in range(1, 9)]
    history = (folder / ".memory-history.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in history] == ["mem-00003", "mem-00002"]


def test_the_files_written_are_byte_identical_to_the_format_before_the_merge(tmp_path: Path) -> None:
    recorded = json.loads(SUMS_FILE.read_text(encoding="utf-8"))
    assert sums(build(tmp_path)) == recorded
