"""Private by construction, primitive by primitive: files 0600 and folders 0700 whatever the umask, the
search index's ``-wal``/``-shm`` included (issue 14, "Private by construction")."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tzbackup_gui.archive import index as index_mod
from tzbackup_gui.archive import index_schema
from tzbackup_gui.archive.browse import resolve_source
from tzbackup_gui.archive.index import SearchIndex
from tzbackup_gui.archive.lock import DataDirLock
from tzbackup_gui.archive.store import (
    append_line,
    atomic_output,
    atomic_write_json,
    ensure_dir,
    make_private_dirs,
)
from tzbackup_gui.log import setup_logging


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(params=[0o000, 0o022, 0o277], ids=["umask000", "umask022", "umask277"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under a permissive, the usual and a too strict umask (0277 would make 0400 files)."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def _data_dir(root: Path) -> Path:
    """A minimal data dir with one personality the index can read (written with the store primitives)."""
    folder = root / "data" / "personalities" / "ada"
    ensure_dir(folder / "memory")
    atomic_write_json(folder / ".backup-metadata.json", {"formatVersion": 1, "username": "ada"})
    atomic_write_json(folder / "ada.json", {"name": "Ada", "description": "counts the umbrellas"})
    memories = [{"id": f"m{i}", "summary": f"umbrella number {i}", "created_at": 1_700_000_000 + i}
                for i in range(30)]
    atomic_write_json(folder / "memory" / "ada_memory_1.json", {"memories": memories})
    return root / "data"


def test_store_primitives_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    made = tmp_path / "a" / "b" / "c"
    make_private_dirs(made)
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", made)] == [0o700] * 3
    atomic_write_json(made / "x.json", {"a": 1})
    append_line(made / "h.jsonl", {"a": 1})
    with atomic_output(tmp_path / "out" / "new" / "export.zip") as fh:
        fh.write(b"zip")
    assert mode(made / "x.json") == mode(made / "h.jsonl") == 0o600
    assert mode(tmp_path / "out") == mode(tmp_path / "out" / "new") == 0o700
    assert mode(tmp_path / "out" / "new" / "export.zip") == 0o600
    assert [p.name for p in made.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_a_loose_file_of_ours_is_tightened_and_a_chosen_folder_keeps_its_mode(tmp_path: Path) -> None:
    chosen = tmp_path / "Backups"
    chosen.mkdir()
    chosen.chmod(0o755)  # a data dir the user made: not ours to change
    history = chosen / "h.jsonl"
    history.write_text("{}\n")
    history.chmod(0o644)  # as an older version (or another tool) left it
    append_line(history, {"a": 1})
    ensure_dir(chosen)
    assert mode(history) == 0o600 and mode(chosen) == 0o755


def test_search_index_and_its_wal_and_shm_are_private(tmp_path: Path, umask: int) -> None:
    data = _data_dir(tmp_path)
    with SearchIndex.for_path(data) as writer:
        writer.update()
        reader = SearchIndex(writer.source, reader_of=writer.path)  # the browser's GUI-thread connection
        try:
            assert reader.search("umbrella")
            writer.conn.execute("BEGIN")  # a write in flight: the -wal holds pages
            writer.conn.execute("INSERT INTO meta VALUES('probe', 'x')")
            files = {p.name: mode(p) for p in data.iterdir() if p.name.startswith(".tzbackup-index")}
            writer.conn.execute("ROLLBACK")
        finally:
            reader.close()
    assert set(files) == {".tzbackup-index.sqlite3", ".tzbackup-index.sqlite3-wal",
                          ".tzbackup-index.sqlite3-shm"}, files
    assert set(files.values()) == {0o600}, files


def test_an_index_left_world_readable_by_an_older_version_is_tightened(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    with SearchIndex.for_path(data) as index:
        index.update()
        path = index.path
    path.chmod(0o644)
    wal = Path(f"{path}-wal")
    wal.write_bytes(b"")
    wal.chmod(0o644)
    with SearchIndex.for_path(data) as index:
        assert index.search("umbrella")
        assert mode(path) == 0o600 and mode(wal) == 0o600


def test_read_only_backup_gets_its_index_in_the_private_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    data = _data_dir(tmp_path)
    cache = tmp_path / "home" / ".cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    fallback = index_mod._fallback_path(resolve_source(data))
    assert fallback.is_relative_to(cache) and not fallback.is_relative_to(Path("/tmp/tzbackup-index"))

    def refuse(path: Path) -> None:  # the backup folder cannot be written (root ignores chmod)
        if Path(path).parent == data:
            raise PermissionError(13, "Permission denied", str(path))
        real(path)

    real = index_schema._private_db
    monkeypatch.setattr(index_schema, "_private_db", refuse)
    with SearchIndex.for_path(data) as index:
        index.update()
        assert index.path == fallback and index.search("umbrella")
    assert mode(fallback) == 0o600
    for folder in (cache, cache / "tzbackup", fallback.parent):
        assert mode(folder) == 0o700


def test_log_file_and_its_folder_are_private(tmp_path: Path, umask: int) -> None:
    log_file = tmp_path / "logs" / "deep" / "tzbackup.log"
    try:
        setup_logging(False, log_file).info("hello %s", "ada")
    finally:
        setup_logging(False)  # drop the file handler again
    assert mode(log_file) == 0o600
    assert mode(tmp_path / "logs") == mode(tmp_path / "logs" / "deep") == 0o700


def test_lock_file_is_private_and_an_old_loose_one_is_tightened(tmp_path: Path, umask: int) -> None:
    data = tmp_path / "new-data"
    with DataDirLock(data):
        assert mode(data) == 0o700 and mode(data / ".tzbackup.lock") == 0o600
    (data / ".tzbackup.lock").chmod(0o644)
    with DataDirLock(data):
        assert mode(data / ".tzbackup.lock") == 0o600


def test_written_json_is_still_readable_by_us(tmp_path: Path, umask: int) -> None:
    """0600 with a 0277 umask: we set the mode after creating, so the owner can still write and read."""
    atomic_write_json(tmp_path / "x.json", {"ok": True})
    assert json.loads((tmp_path / "x.json").read_text()) == {"ok": True}
