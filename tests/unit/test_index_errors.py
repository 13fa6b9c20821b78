"""A search index that cannot be queried says so (SearchIndexError), instead of answering "no results"."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive.index import SearchIndex
from tzbackup_gui.cli import main
from tzbackup_gui.cli.options import EXIT_FATAL
from tzbackup_gui.errors import ArchiveError, SearchIndexError

from .test_index import memory, write_personality


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    write_personality(tmp_path, "lilith", [memory(i, f"umbrella number {i}") for i in range(4)])
    return tmp_path


class LockedConnection:
    """A connection whose every query fails the way SQLite does while another program holds the lock."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def execute(self, *args: Any) -> Any:
        raise sqlite3.OperationalError("database is locked")

    def close(self) -> None:
        self.real.close()


def test_a_locked_index_raises_instead_of_answering_nothing(archive: Path) -> None:
    with SearchIndex.for_path(archive) as index:
        index.update()
        assert len(index.search("umbrella")) == 4
        index.conn = LockedConnection(index.conn)  # type: ignore[assignment]
        with pytest.raises(SearchIndexError, match="database is locked") as caught:
            index.search("umbrella")
    assert isinstance(caught.value, ArchiveError)
    assert str(index.path) in str(caught.value) and "cache" in (caught.value.hint or "")


def test_a_damaged_index_raises(archive: Path) -> None:
    with SearchIndex.for_path(archive) as index:
        index.update()
        other = sqlite3.connect(index.path)
        other.execute("DROP TABLE fts")  # another program (or a crash) damaged it
        other.commit()
        other.close()
        with pytest.raises(SearchIndexError, match="no such table"):
            index.search("umbrella")
        assert index.search("   ") == []  # nothing typed is still simply nothing to search


def test_cli_search_reports_a_locked_index(
    archive: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = SearchIndex.search

    def locked_search(self: SearchIndex, *args: Any, **kwargs: Any) -> Any:
        self.conn = LockedConnection(self.conn)  # type: ignore[assignment]
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SearchIndex, "search", locked_search)
    code = main(["--data-dir", str(archive), "search", "umbrella"])
    out, err = capsys.readouterr()
    assert code == EXIT_FATAL
    assert "error: Could not search the index" in err and "database is locked" in err
    assert "No matches" not in out + err
