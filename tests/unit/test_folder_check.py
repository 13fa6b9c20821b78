"""The check of a personality folder's memory files, shared by ``load_index`` (the engine) and ``verify``.

A backup never makes local damage worse and never hides it: a folder whose memory files break the layout
contract (numbering 1..N without gaps, every file parses, every memory has an id, no id twice, full chunks but
the last, the count the metadata records) is refused by ``load_index`` without writing a byte, and ``verify``
names the damaged file for as long as the damage is there. The index cache must never let damage through.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive import memory_index, verify_backup
from tzbackup_gui.archive.layout import FORMAT_VERSION
from tzbackup_gui.archive.personality import PersonalityArchive
from tzbackup_gui.errors import CorruptBackupError

FOLDER = "lilith"
CHUNK = 3


def _memory(n: int) -> dict[str, Any]:
    return {"id": f"m{n:04d}", "result": f"text {n}", "deleted": False, "metadata": {"created_at": 1.7e9 + n}}


def _write_chunk(archive: PersonalityArchive, number: int, memories: list[Any]) -> None:
    archive.chunk_path(number).write_text(json.dumps({"memories": memories}, indent=1), "utf-8")


def _make(tmp_path: Path, sizes: tuple[int, ...] = (3, 3, 2), total: object = "count") -> PersonalityArchive:
    """A folder with chunk files of ``sizes`` memories and metadata recording ``total`` (the real count by
    default; ``None`` leaves ``totalMemories`` out)."""
    archive = PersonalityArchive(tmp_path / FOLDER)
    archive.memory_dir.mkdir(parents=True)
    n = 0
    for number, size in enumerate(sizes, 1):
        _write_chunk(archive, number, [_memory(n + i) for i in range(size)])
        n += size
    meta: dict[str, Any] = {"formatVersion": FORMAT_VERSION, "chunkSize": CHUNK}
    meta["lastMemoryId"] = f"m{n - 1:04d}"
    if total == "count":
        meta["totalMemories"] = n
    elif total is not None:
        meta["totalMemories"] = total
    if not n:
        meta.pop("lastMemoryId")
    archive.metadata_path.write_text(json.dumps(meta), "utf-8")
    archive.profile_path.write_text("{}", "utf-8")
    return archive


def _snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (and the set of paths, folders included)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def _chunk(archive: PersonalityArchive, number: int) -> list[dict[str, Any]]:
    data = json.loads(archive.chunk_path(number).read_text("utf-8"))
    memories: list[dict[str, Any]] = data["memories"]
    return memories


def _name(number: int) -> str:
    return f"{FOLDER}_memory_{number}.json"


# --- a whole folder passes, fast the second time ---------------------------------------------------------


def test_whole_folder_indexes_and_verifies(tmp_path: Path) -> None:
    archive = _make(tmp_path)
    index = archive.load_index(CHUNK)
    assert [e.id for e in index.entries] == [f"m{i:04d}" for i in range(8)]
    assert [e.file_pos for e in index.entries] == [0, 0, 0, 1, 1, 1, 2, 2]
    assert archive.index_path.exists()
    report = verify_backup(archive.path)
    assert report.ok, report.problems
    assert report.memories == 8 and report.checked_files == 3


@pytest.mark.parametrize("total", [0, None])
def test_empty_folder_is_fine(tmp_path: Path, total: object) -> None:
    archive = _make(tmp_path, sizes=(), total=total)
    assert len(archive.load_index(CHUNK)) == 0
    archive.memory_dir.rmdir()
    assert len(PersonalityArchive(archive.path).load_index(CHUNK)) == 0


def test_without_metadata_the_count_is_not_checked(tmp_path: Path) -> None:
    archive = _make(tmp_path)
    archive.metadata_path.unlink()
    assert len(archive.load_index(CHUNK)) == 8


def test_cache_answers_without_reading_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _make(tmp_path)
    archive.load_index(CHUNK)

    def no_read(self: PersonalityArchive, name: str) -> list[dict[str, Any]]:
        raise AssertionError(f"{name} was parsed although nothing changed")

    monkeypatch.setattr(PersonalityArchive, "load_chunk", no_read)
    assert len(PersonalityArchive(archive.path).load_index(CHUNK)) == 8


# --- every kind of damage: refused by load_index (nothing written), reported by verify ---------------


def _gap(a: PersonalityArchive) -> str:
    a.chunk_path(2).unlink()
    return _name(2)


def _first_missing(a: PersonalityArchive) -> str:
    a.chunk_path(1).unlink()
    return _name(1)


def _last_missing(a: PersonalityArchive) -> str:
    a.chunk_path(3).unlink()  # no gap: only the count recorded in the metadata shows it
    return ".backup-metadata.json"


def _renamed(a: PersonalityArchive) -> str:
    a.chunk_path(3).rename(a.chunk_path(4))
    return _name(3)


def _truncated(a: PersonalityArchive) -> str:
    a.chunk_path(2).write_bytes(a.chunk_path(2).read_bytes()[:40])
    return _name(2)


def _not_a_list(a: PersonalityArchive) -> str:
    a.chunk_path(2).write_text('{"memories": {"id": "m0003"}}', "utf-8")
    return _name(2)


def _not_objects(a: PersonalityArchive) -> str:
    _write_chunk(a, 2, ["m0003", "m0004", "m0005"])
    return _name(2)


def _id_removed(a: PersonalityArchive) -> str:
    memories = _chunk(a, 2)
    del memories[1]["id"]
    _write_chunk(a, 2, memories)
    return _name(2)


def _duplicate(a: PersonalityArchive) -> str:
    memories = _chunk(a, 3)
    memories[0]["id"] = "m0001"
    _write_chunk(a, 3, memories)
    return _name(3)


def _cut_middle(a: PersonalityArchive) -> str:
    _write_chunk(a, 1, _chunk(a, 1)[:2])
    return _name(1)


def _cut_last(a: PersonalityArchive) -> str:
    _write_chunk(a, 3, _chunk(a, 3)[:1])
    return ".backup-metadata.json"


def _overfull_last(a: PersonalityArchive) -> str:
    _write_chunk(a, 3, [*_chunk(a, 3), _memory(100), _memory(101)])
    return _name(3)


def _empty_last(a: PersonalityArchive) -> str:
    _write_chunk(a, 3, [])
    return _name(3)


def _count_edited(a: PersonalityArchive) -> str:
    meta = json.loads(a.metadata_path.read_text("utf-8"))
    meta["totalMemories"] = 9
    a.metadata_path.write_text(json.dumps(meta), "utf-8")
    return ".backup-metadata.json"


def _count_not_a_number(a: PersonalityArchive) -> str:
    meta = json.loads(a.metadata_path.read_text("utf-8"))
    meta["totalMemories"] = "eight"
    a.metadata_path.write_text(json.dumps(meta), "utf-8")
    return ".backup-metadata.json"


DAMAGE: dict[str, Callable[[PersonalityArchive], str]] = {
    "gap": _gap,
    "first file missing": _first_missing,
    "last file missing": _last_missing,
    "renamed past the end": _renamed,
    "truncated": _truncated,
    "memories not a list": _not_a_list,
    "memories not objects": _not_objects,
    "id removed": _id_removed,
    "duplicate id": _duplicate,
    "memories cut from a middle file": _cut_middle,
    "memories cut from the last file": _cut_last,
    "last file over-full": _overfull_last,
    "empty last file": _empty_last,
    "count edited": _count_edited,
    "count not a number": _count_not_a_number,
}


@pytest.mark.parametrize("with_cache", [False, True], ids=["no-cache", "cache"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damage_is_refused_and_reported(tmp_path: Path, damage: str, with_cache: bool) -> None:
    archive = _make(tmp_path)
    if with_cache:
        archive.load_index(CHUNK)  # a cache from when the folder was whole must not let the damage pass
    named = DAMAGE[damage](archive)
    before = _snapshot(archive.path)
    with pytest.raises(CorruptBackupError) as info:
        PersonalityArchive(archive.path).load_index(CHUNK)
    err = info.value
    assert named in str(err) and err.path is not None and err.path.endswith(named)
    assert "verify" in err.hint and "copy" in err.hint and "aside" in err.hint
    assert _snapshot(archive.path) == before  # not a byte written, no cache, no state folder
    report = verify_backup(archive.path)
    assert not report.ok and any(named in p for p in report.problems), report.problems
    with pytest.raises(CorruptBackupError):  # and again: the damage is never absorbed
        PersonalityArchive(archive.path).load_index(CHUNK)
    assert not verify_backup(archive.path).ok


def test_a_memory_without_id_stays_verbatim(tmp_path: Path) -> None:
    archive = _make(tmp_path)
    _id_removed(archive)
    raw = archive.chunk_path(2).read_bytes()
    with pytest.raises(CorruptBackupError, match="without an id"):
        archive.load_index(CHUNK)
    assert archive.chunk_path(2).read_bytes() == raw
    assert {"result": "text 4", "deleted": False, "metadata": {"created_at": 1.7e9 + 4}} in _chunk(archive, 2)


def test_gap_names_the_missing_file(tmp_path: Path) -> None:
    archive = _make(tmp_path, sizes=(3, 3, 3, 3, 1), total=None)
    archive.chunk_path(2).unlink()
    archive.chunk_path(3).unlink()
    with pytest.raises(CorruptBackupError) as info:
        archive.load_index(CHUNK)
    assert _name(2) in str(info.value) and _name(3) in str(info.value)
    problems = verify_backup(archive.path).problems
    assert any(_name(2) in p and "missing" in p for p in problems), problems


def test_every_problem_is_listed_by_verify(tmp_path: Path) -> None:
    archive = _make(tmp_path, sizes=(3, 3, 3, 2))
    _gap(archive)
    _id_removed_in(archive, 3)
    report = verify_backup(archive.path)
    text = "\n".join(report.problems)
    assert _name(2) in text and "missing" in text
    assert _name(3) in text and "without an id" in text
    assert "totalMemories" in text
    with pytest.raises(CorruptBackupError, match="more problem"):
        archive.load_index(CHUNK)


def _id_removed_in(a: PersonalityArchive, number: int) -> None:
    memories = _chunk(a, number)
    del memories[0]["id"]
    _write_chunk(a, number, memories)


def test_repaired_folder_passes_again(tmp_path: Path) -> None:
    archive = _make(tmp_path)
    archive.load_index(CHUNK)
    saved = archive.chunk_path(2).read_bytes()
    archive.chunk_path(2).unlink()
    with pytest.raises(CorruptBackupError):
        archive.load_index(CHUNK)
    archive.chunk_path(2).write_bytes(saved)  # restored from a copy
    assert len(archive.load_index(CHUNK)) == 8
    assert verify_backup(archive.path).ok


# --- the cache: keyed on the files, and checked itself -------------------------------------------------


def test_same_size_same_mtime_edit_invalidates_the_cache(tmp_path: Path) -> None:
    archive = _make(tmp_path)
    archive.load_index(CHUNK)
    path = archive.chunk_path(3)
    st = path.stat()
    text = path.read_text("utf-8")
    assert '"m0007"' in text
    path.write_text(text.replace('"m0007"', '"m0001"'), "utf-8")  # same length: a duplicate id
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    with pytest.raises(CorruptBackupError, match=_name(3)):
        archive.load_index(CHUNK)


def test_swapped_files_invalidate_the_cache(tmp_path: Path) -> None:
    archive = _make(tmp_path, sizes=(3, 3, 3), total=None)
    archive.load_index(CHUNK)
    archive.chunk_path(1).rename(archive.memory_dir / "tmp")
    archive.chunk_path(2).rename(archive.chunk_path(1))
    (archive.memory_dir / "tmp").rename(archive.chunk_path(2))
    index = archive.load_index(CHUNK)  # whole again (no damage to report), but its index is the new order
    assert [e.id for e in index.entries][:3] == ["m0003", "m0004", "m0005"]


def _cache(archive: PersonalityArchive) -> dict[str, Any]:
    data = json.loads(archive.index_path.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def _write_cache(archive: PersonalityArchive, data: dict[str, Any]) -> None:
    archive.index_path.write_text(json.dumps(data), "utf-8")


@pytest.mark.parametrize(
    "tamper",
    ["duplicate entry", "entry dropped", "file position out of range", "old version with firstIrregular"],
)
def test_a_cache_that_disagrees_with_itself_is_not_trusted(tmp_path: Path, tamper: str) -> None:
    archive = _make(tmp_path)
    archive.load_index(CHUNK)
    data = _cache(archive)
    if tamper == "duplicate entry":
        data["entries"][4] = list(data["entries"][3])
    elif tamper == "entry dropped":
        del data["entries"][4]
    elif tamper == "file position out of range":
        data["entries"][-1][1] = 7
    else:
        data["version"] = 1
        data["firstIrregular"] = 1
    _write_cache(archive, data)
    index = archive.load_index(CHUNK)  # rebuilt from the files, which are whole
    assert [e.id for e in index.entries] == [f"m{i:04d}" for i in range(8)]
    assert [e.file_pos for e in index.entries] == [0, 0, 0, 1, 1, 1, 2, 2]
    assert _cache(archive)["entries"] != data["entries"] or tamper.startswith("old")


def test_cache_does_not_hide_a_metadata_count_change(tmp_path: Path) -> None:
    archive = _make(tmp_path)
    archive.load_index(CHUNK)
    cache = archive.index_path.read_bytes()
    _count_edited(archive)
    with pytest.raises(CorruptBackupError, match="totalMemories"):
        archive.load_index(CHUNK)
    assert archive.index_path.read_bytes() == cache


def test_a_hand_written_cache_cannot_make_a_gap_pass(tmp_path: Path) -> None:
    """Even a cache that claims files 1, 3 (whose stats match) is not believed: the numbering is checked on
    the fast path too."""
    archive = _make(tmp_path, sizes=(3, 3, 3), total=6)
    archive.chunk_path(2).unlink()
    files = archive.chunk_files()
    entries = [[f"m{i:04d}", 0 if i < 3 else 1, "h", 1.7e9 + i] for i in (0, 1, 2, 6, 7, 8)]
    archive.state_dir.mkdir()
    cache = {"version": memory_index._INDEX_VERSION, "chunkSize": CHUNK, "files": archive.file_stats(files)}
    _write_cache(archive, {**cache, "entries": entries})
    with pytest.raises(CorruptBackupError, match=_name(2)):
        archive.load_index(CHUNK)
