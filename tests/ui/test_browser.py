"""The offline browser on real backups made by the engine from the sandbox, with networking disabled."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication

from tzbackup_gui.archive.index import FLAG_DELETED, FLAG_UPSTREAM, MemoryRows, SearchIndex
from tzbackup_gui.ui.browser_window import BrowserWindow
from tzbackup_gui.ui.json_tree_model import JsonTreeModel
from tzbackup_gui.ui.memories_model import MemoriesModel

SLUGS = ["lilith", "dr.ada.lovelace"]


@pytest.fixture(scope="module")
def backup_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real backup (engine + sandbox over loopback), copied for each test."""
    from tzbackup_gui.backup import BackupEngine, BackupOptions
    from tzbackup_gui.sandbox import SandboxServer
    from tzbackup_gui.service import Pacer, ShapesClient
    from tzbackup_gui.service.auth import SessionCredential

    data_dir = tmp_path_factory.mktemp("browser") / "data"
    with SandboxServer(port=0, seed=1) as sb:
        sb.state.delete_memory("lilith", sb.state.personalities["lilith"].memories[5]["id"], soft=True)

        async def run() -> None:
            async with httpx.AsyncClient(timeout=10) as http:
                client = ShapesClient(
                    http,
                    SessionCredential.from_value(sb.cookie),
                    base_url=sb.base_url,
                    files_base_url=sb.files_base_url,
                    pacer=Pacer(delay=0),
                )
                report = await BackupEngine(client, data_dir, options=BackupOptions()).run(SLUGS)
                assert report.exit_code == 0

        asyncio.run(run())
    return data_dir


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any attempt to reach the network is recorded and fails."""
    attempts: list[str] = []

    def no_connect(self: socket.socket, *args: Any) -> None:
        attempts.append(f"connect {args}")
        raise OSError("network disabled in this test")

    async def no_send(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> httpx.Response:
        attempts.append(f"send {request.url}")
        raise httpx.ConnectError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setattr(httpx.AsyncClient, "send", no_send)
    return attempts


@pytest.fixture
def data_dir(backup_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(backup_template, target)
    return target


def open_window(qtbot: Any, data_dir: Path, **kw: Any) -> BrowserWindow:
    """A browser on ``data_dir`` whose index update (worker thread) has finished."""
    win = BrowserWindow(data_dir, **kw)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: not win.indexing, timeout=30_000)
    return win


@pytest.fixture
def window(qtbot: Any, data_dir: Path, offline: list[str]) -> Iterator[BrowserWindow]:
    win = open_window(qtbot, data_dir)
    win.show()
    yield win
    assert offline == [], "the browser tried to use the network"


def files_count(folder: Path) -> int:
    return sum(len(json.loads(p.read_text("utf-8"))["memories"]) for p in (folder / "memory").glob("*.json"))


def test_navigate_count_select_and_raw_json(
    window: BrowserWindow, data_dir: Path, qtbot: Any, qtmodeltester: Any
) -> None:
    assert window.select_personality("lilith")
    folder = data_dir / "personalities" / "lilith"
    assert window.model.rowCount() == files_count(folder) == 2600
    assert "2,600 memories" in window.count_label.text()
    assert "Lilith" in window.profile.title.text()
    assert (
        "Identity" in window.profile.form.toPlainText()
        and "Engine settings" in window.profile.form.toPlainText()
    )
    assert window.profile.runs.rowCount() == 1
    # newest first: row 0 is the last memory of the last file
    last_file = max((folder / "memory").glob("*.json"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    newest = json.loads(last_file.read_text("utf-8"))["memories"][-1]
    window.tabs.setCurrentIndex(1)
    window.table.selectRow(0)
    qtbot.waitUntil(lambda: newest["result"] in window.detail_text.toPlainText())
    assert newest["metadata"]["msg_ids"][0] in window.detail_text.toPlainText()
    assert window.json_model.document() == newest
    keys = [window.json_model.index(r, 0).data() for r in range(window.json_model.rowCount())]
    assert "metadata" in keys and "result" in keys
    window.copy_json()
    assert json.loads(QGuiApplication.clipboard().text()) == newest
    window.memory_sort.setCurrentIndex(1)  # oldest first
    first = json.loads((folder / "memory" / "lilith_memory_1.json").read_text("utf-8"))["memories"][0]
    assert window.model.raw(0) == first
    qtmodeltester.check(window.model)


def test_deleted_marked_and_filterable(window: BrowserWindow, data_dir: Path) -> None:
    window.select_personality("lilith")
    deleted_rows = [r for r in range(window.model.rowCount()) if window.model.flags_of(r) & FLAG_DELETED]
    assert len(deleted_rows) == 1
    assert window.model.raw(deleted_rows[0])["deleted"] is True  # type: ignore[index]
    assert "deleted" in window.model.index(deleted_rows[0], 2).data()
    assert window.model.index(deleted_rows[0], 3).data(Qt.ItemDataRole.FontRole).strikeOut()
    window.show_deleted.setChecked(False)
    assert window.model.rowCount() == 2599


def test_search_finds_phrase_and_opens_memory(
    window: BrowserWindow, data_dir: Path, qtbot: Any, qtmodeltester: Any
) -> None:
    folder = data_dir / "personalities" / "dr.ada.lovelace"
    target = json.loads((folder / "memory" / "dr.ada.lovelace_memory_1.json").read_text("utf-8"))["memories"][
        7
    ]
    phrase = " ".join(target["result"].split()[:8])
    window.search_edit.setText(f'"{phrase}"')
    window.scope.setCurrentIndex(0)
    window.run_search()
    hits = window.results_model.hits
    assert target["id"] in [h.memory_id for h in hits]
    row = [h.memory_id for h in hits].index(target["id"])
    qtmodeltester.check(window.results_model)
    assert window.open_hit(hits[row])
    assert window.current is not None and window.current.folder.name == "dr.ada.lovelace"
    assert window.tabs.currentIndex() == 1
    assert window.current_raw() == target
    assert target["result"] in window.detail_text.toPlainText()


def test_corrupted_file_is_reported_rest_loads(qtbot: Any, data_dir: Path, offline: list[str]) -> None:
    folder = data_dir / "personalities" / "lilith"
    broken = folder / "memory" / "lilith_memory_3.json"
    broken.write_bytes(broken.read_bytes()[:5000])
    meta_path = data_dir / "personalities" / "dr.ada.lovelace" / ".backup-metadata.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    meta["formatVersion"] = 7
    meta_path.write_text(json.dumps(meta), "utf-8")
    win = open_window(qtbot, data_dir)
    win.select_personality("lilith")
    assert win.banner.isVisibleTo(win) and "lilith_memory_3.json" in win.banner.text()
    assert win.model.rowCount() == 2600 - 250
    win.select_personality("dr.ada.lovelace")
    assert "format 7" in win.banner.text() and win.model.rowCount() == 0
    assert offline == []


def test_upstream_deleted_flag_from_metadata(qtbot: Any, data_dir: Path, offline: list[str]) -> None:
    folder = data_dir / "personalities" / "lilith"
    mem = json.loads((folder / "memory" / "lilith_memory_2.json").read_text("utf-8"))["memories"][0]
    meta = json.loads((folder / ".backup-metadata.json").read_text("utf-8"))
    meta["deletedUpstream"] = {mem["id"]: "2026-01-01T00:00:00Z"}
    (folder / ".backup-metadata.json").write_text(json.dumps(meta), "utf-8")
    win = open_window(qtbot, data_dir)
    win.select_personality("lilith")
    row = win.model.row_of(folder.resolve() / "memory" / "lilith_memory_2.json", 0)
    assert row >= 0 and win.model.flags_of(row) & FLAG_UPSTREAM
    win.show_upstream.setChecked(False)
    assert win.model.rowCount() == 2599


def test_json_tree_model_is_lazy(qtmodeltester: Any) -> None:
    model = JsonTreeModel()
    doc = {"a": [1, {"b": list(range(1000))}], "c": "x", "d": {}}
    model.load(doc)
    a = model.index(0, 0)
    assert model.hasChildren(a) and model.rowCount(a) == 0 and model.canFetchMore(a)
    model.fetchMore(a)
    assert model.rowCount(a) == 2
    inner = model.index(1, 0, a)
    model.fetchMore(inner)
    big = model.index(0, 0, inner)
    model.fetchMore(big)
    assert model.rowCount(big) == 1000
    assert model.parent(model.index(999, 0, big)) == big
    assert model.index(999, 1, big).data() == "999"
    qtmodeltester.check(model)
    assert not model.hasChildren(model.index(2, 0))  # empty dict


def test_memories_model_empty(qtmodeltester: Any) -> None:
    model = MemoriesModel()
    model.set_rows(MemoryRows(paths=[]))
    qtmodeltester.check(model)
    assert model.rowCount(QModelIndex()) == 0


@pytest.fixture
def slow_lilith(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The indexing thread stops before the first file of "lilith" until the event is set."""
    release = threading.Event()
    original = SearchIndex._index_file

    def index_file(self: SearchIndex, folder: Path, *args: Any) -> str:
        if folder.name == "lilith":
            release.wait(20)
        return original(self, folder, *args)

    monkeypatch.setattr(SearchIndex, "_index_file", index_file)
    yield release
    release.set()


def test_browsable_and_searchable_while_indexing(
    qtbot: Any, data_dir: Path, offline: list[str], slow_lilith: threading.Event
) -> None:
    chunk = data_dir / "personalities" / "dr.ada.lovelace" / "memory" / "dr.ada.lovelace_memory_1.json"
    ada = json.loads(chunk.read_text("utf-8"))["memories"]
    win = BrowserWindow(data_dir)  # the first personality ("dr.ada.lovelace") is indexed first
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model.rowCount() == 130, timeout=15_000)
    assert win.indexing and win.worker is not None and win.worker.is_running()
    assert win.index_status.isVisibleTo(win) and "Indexing…" in win.index_status.text()
    # the memories of the indexed personality can be read while the rest is being indexed
    win.tabs.setCurrentIndex(1)
    win.memory_sort.setCurrentIndex(1)  # oldest first
    win.table.selectRow(3)
    qtbot.waitUntil(lambda: ada[3]["result"] in win.detail_text.toPlainText())
    win.search_edit.setText(f'"{" ".join(ada[3]["result"].split()[:6])}"')
    win.run_search()
    assert ada[3]["id"] in [h.memory_id for h in win.results_model.hits]
    assert "still indexing" in win.results_label.text().lower()
    # the personality still being indexed says so, and fills in by itself when its folder is done
    win.select_personality("lilith")
    assert win.model.rowCount() == 0 and win.current is None
    assert "Indexing…" in win.count_label.text() and " of " in win.count_label.text()
    slow_lilith.set()
    qtbot.waitUntil(lambda: not win.indexing, timeout=30_000)
    assert win.current is not None and win.current.folder.name == "lilith"
    assert win.model.rowCount() == 2600 and win.count_label.text().endswith("2,600 memories")
    assert "still indexing" not in win.results_label.text().lower()  # the search ran again over everything
    assert not win.index_status.isVisibleTo(win)
    assert offline == []


def test_closing_while_indexing_stops_the_thread(
    qtbot: Any, data_dir: Path, offline: list[str], slow_lilith: threading.Event
) -> None:
    win = BrowserWindow(data_dir)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.model.rowCount() == 130, timeout=15_000)
    worker = win.worker
    assert worker is not None and worker.is_running()
    slow_lilith.set()  # the thread notices the stop at the next file
    win.close()
    assert not worker.is_running() and win.index is None
    again = open_window(qtbot, data_dir)  # what was committed stays; the rest is read now
    assert again.last_update is not None and again.last_update.indexed_files < 20
    again.select_personality("lilith")
    assert again.model.rowCount() == 2600
    assert offline == []


def test_date_fields_start_at_the_scope_range(window: BrowserWindow) -> None:
    """Empty From / To fields show the first and last memory day of what they filter."""

    def day(ts: float) -> str:
        return dt.date.fromtimestamp(ts).isoformat()

    assert window.index is not None
    everything = window.index.date_range()
    assert everything is not None
    dates = window.search.dates
    assert dates.since.edit.placeholderText() == day(everything[0])
    assert dates.until.edit.placeholderText() == day(everything[1])
    window.select_personality("dr.ada.lovelace")
    window.scope.setCurrentIndex(1)  # this personality
    ada = window.index.date_range("dr.ada.lovelace")
    assert ada is not None and ada != everything
    assert dates.since.edit.placeholderText() == day(ada[0])
    assert dates.until.edit.placeholderText() == day(ada[1])
    # the Memories tab's own fields: the listed personality's range
    assert window.memory_dates.since.edit.placeholderText() == day(ada[0])
    assert window.memory_dates.until.edit.placeholderText() == day(ada[1])
