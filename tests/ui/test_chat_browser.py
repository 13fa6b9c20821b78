"""The browser's Chat tab on real backups made by the engine from the sandbox, with networking disabled.

One backup holds: a 1,234-message chat with a known phrase in three messages, a 20,000-message chat, an owned
personality with no chat, one backed up without the chat section, one not owned (profile only), one whose
first chat sync failed and one whose latest chat sync failed after an earlier success.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from tzbackup_gui.archive.browse import format_iso_local, format_ts, format_utc
from tzbackup_gui.archive.chat import CHAT_CHUNK_SIZE, iter_chat
from tzbackup_gui.backup.report import ALL_SECTIONS
from tzbackup_gui.ui.browser_window import BrowserWindow
from tzbackup_gui.ui.chat_model import ChatModel

PHRASE = "Zanzibar Marmalade"
BIG = 20_000


def _chat_fault(sb: Any) -> None:
    sb.state.set_fault("server_error", count=None, path_contains="/chat/history", status=500)


@pytest.fixture(scope="module")
def chat_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backup described in the module docstring (engine + sandbox over loopback), copied per test."""
    from tests.integration.engine_support import Runner
    from tzbackup_gui.sandbox import SandboxServer
    from tzbackup_gui.sandbox.data import add_banner

    data_dir = tmp_path_factory.mktemp("chatbrowser") / "data"
    with SandboxServer(port=0, seed=7) as sb:
        st = sb.state
        st.add_personality("chatty", "Chatty", memories=3, chat=1234)
        chat = st.personalities["chatty"].chat
        st.edit_chat("chatty", chat[10]["id"], message=f"Have you tried {PHRASE} on toast?")
        st.edit_chat("chatty", chat[600]["id"], reply="I dream of zanzibar marmalade.")
        st.edit_chat("chatty", chat[1200]["id"], message=f"{PHRASE.upper()} again!")
        st.regenerate_chat("chatty", chat[1100]["id"], "A second, better answer.")
        add_banner(st.personalities["chatty"], sb.files_base_url)
        st.add_personality("bigchat", "Big Chat", memories=2, chat=BIG)
        st.add_personality("silent", "Silent", memories=2, chat=0)
        st.add_personality("nochat", "No Chat", memories=2, chat=5)
        st.add_personality("broken", "Broken", memories=2, chat=30)
        st.add_personality("flaky", "Flaky", memories=2, chat=40)
        runner = Runner(sb, data_dir)
        report = runner.run(["chatty", "bigchat", "silent", "flaky", "public-oracle"], allow_not_owned=True)
        assert report.exit_code == 0, report
        no_chat = frozenset(s for s in ALL_SECTIONS if s != "chat")
        assert runner.run(["nochat"], sections=no_chat).exit_code == 0
        _chat_fault(sb)
        report = runner.run(["broken", "flaky"])
        assert [r.sections.get("chat") for r in report.results] == ["failed", "failed"]
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
def data_dir(chat_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(chat_template, target)
    return target


@pytest.fixture
def window(qtbot: Any, data_dir: Path, offline: list[str]) -> Iterator[BrowserWindow]:
    win = BrowserWindow(data_dir)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: not win.indexing, timeout=60_000)
    win.show()
    yield win
    assert offline == [], "the browser tried to use the network"


def folder(data_dir: Path, name: str) -> Path:
    return data_dir / "personalities" / name


def metadata(data_dir: Path, name: str) -> dict[str, Any]:
    data = json.loads((folder(data_dir, name) / ".backup-metadata.json").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def open_chat(window: BrowserWindow, name: str) -> None:
    assert window.select_personality(name)
    window.tabs.setCurrentWidget(window.chat)


def test_chat_tab_follows_the_existing_tabs(window: BrowserWindow) -> None:
    names = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert names[:5] == ["Profile", "Memories", "Search", "Timeline", "Chat"]
    assert window.tabs.widget(4) is window.chat


def test_count_order_rows_and_detail(
    window: BrowserWindow, data_dir: Path, qtbot: Any, qtmodeltester: Any
) -> None:
    stored = list(iter_chat(folder(data_dir, "chatty")))
    assert len(stored) == 1234 == metadata(data_dir, "chatty")["sections"]["chat"]["count"]
    open_chat(window, "chatty")
    model, view = window.chat.model, window.chat
    assert model.rowCount() == 1234
    assert view.count_label.text() == "1,234 messages"
    # newest first: row r is stored[-1 - r]
    assert [model.raw(r) for r in range(model.rowCount())] == stored[::-1]
    newest = stored[-1]
    assert model.index(0, ChatModel.COL_TIME).data() == format_ts(newest["ts"])
    assert format_utc(newest["ts"]) in model.index(0, ChatModel.COL_TIME).data(Qt.ItemDataRole.ToolTipRole)
    # who spoke: both, the user only, the shape only
    both = next(i for i, m in enumerate(stored) if m["message"] and m["reply"])
    only_user = next(i for i, m in enumerate(stored) if m["message"] and not m["reply"])
    only_shape = next(i for i, m in enumerate(stored) if not m["message"] and m["reply"])
    who = {i: model.index(model.row_of(i), ChatModel.COL_WHO).data() for i in (both, only_user, only_shape)}
    assert who == {both: "you → Chatty", only_user: "you", only_shape: "Chatty"}
    preview = model.index(model.row_of(both), ChatModel.COL_TEXT).data()
    assert preview.startswith(" ".join(stored[both]["message"].split())[:50])
    assert " ".join(stored[both]["reply"].split())[:50] in preview
    # the detail pane: message, reply, regenerated replies, URLs as text; copy text / JSON
    view.table.selectRow(0)
    text = view.detail.toPlainText()
    assert newest["reply"] in text and newest["message"] in text
    assert view.json_model.document() == newest
    regen = next(i for i, m in enumerate(stored) if m["regenerated_replies"])
    assert view.select_number(regen)
    text = view.detail.toPlainText()
    assert "Regenerated reply 1" in text and stored[regen]["regenerated_replies"][0] in text
    assert stored[regen]["reply"] in text
    voiced = next(i for i, m in enumerate(stored) if m["voice_reply_url"])
    assert view.select_number(voiced)
    assert stored[voiced]["voice_reply_url"] in view.detail.toPlainText()
    assert view.select_number(only_user)
    assert "(no reply stored)" in view.detail.toPlainText()
    view.copy_json()
    assert json.loads(QGuiApplication.clipboard().text()) == stored[only_user]
    view.copy_text()
    assert f"You: {stored[only_user]['message']}" in QGuiApplication.clipboard().text()
    # oldest first keeps the selection
    view.newest.setChecked(False)
    assert [model.raw(r) for r in (0, 1, 1233)] == [stored[0], stored[1], stored[1233]]
    assert view.table.currentIndex().row() == only_user
    qtmodeltester.check(model)


def _expected(stored: list[dict[str, Any]], needle: str) -> list[int]:
    """Message numbers whose message, reply or a regenerated reply contains ``needle`` (any case)."""
    def text(m: dict[str, Any]) -> str:
        return " | ".join(str(t) for t in [m["message"], m["reply"], *m["regenerated_replies"]] if t)

    return [i for i, m in enumerate(stored) if needle.casefold() in text(m).casefold()]


def test_filter_finds_a_phrase_and_counts(window: BrowserWindow, data_dir: Path, qtbot: Any) -> None:
    stored = list(iter_chat(folder(data_dir, "chatty")))
    open_chat(window, "chatty")
    view, model = window.chat, window.chat.model
    qtbot.keyClicks(view.filter_edit, "zanzibar MARMALADE")
    qtbot.waitUntil(lambda: model.filtered and not view.searching, timeout=10_000)
    assert _expected(stored, PHRASE) == [10, 600, 1200]
    assert [model.number(r) for r in range(model.rowCount())] == [1200, 600, 10]
    assert view.count_label.text() == "3 of 1,234 messages match “zanzibar MARMALADE”"
    view.table.selectRow(1)
    assert "I dream of zanzibar marmalade." in view.detail.toPlainText()
    # a common word: many matches, found over several timer ticks, in display order, none twice
    view.newest.setChecked(False)
    view.filter_edit.setText("the")
    view.apply_filter()
    qtbot.waitUntil(lambda: not view.searching, timeout=10_000)
    expected = _expected(stored, "the")
    assert 100 < len(expected) < 1234
    assert [model.number(r) for r in range(model.rowCount())] == expected
    assert view.count_label.text() == f"{len(expected):,} of 1,234 messages match “the”"
    # nothing matches; cleared: the whole chat again
    view.filter_edit.setText("no such words anywhere 123")
    view.apply_filter()
    qtbot.waitUntil(lambda: not view.searching, timeout=10_000)
    assert model.rowCount() == 0 and view.count_label.text().startswith("0 of 1,234")
    view.filter_edit.clear()
    view.apply_filter()
    assert model.rowCount() == 1234 and view.count_label.text() == "1,234 messages"


def test_empty_states_say_why(window: BrowserWindow, data_dir: Path) -> None:
    view = window.chat
    reasons = {}
    for name in ("silent", "nochat", "public-oracle", "broken"):
        open_chat(window, name)
        assert view.model.rowCount() == 0
        assert not view.filter_edit.isEnabled()
        reasons[name] = view.empty_text
        assert reasons[name].startswith("No chat history backed up"), reasons[name]
    assert "The service had no chat messages with this personality" in reasons["silent"]
    assert "not chosen" in reasons["nochat"]
    assert "only for personalities you own" in reasons["public-oracle"]
    error = metadata(data_dir, "broken")["sections"]["chat"]["error"]
    assert error and f"The last chat sync failed: {error}" in reasons["broken"]


def test_failed_sync_after_success_shows_the_saved_chat_with_a_warning(
    window: BrowserWindow, data_dir: Path
) -> None:
    chat = metadata(data_dir, "flaky")["sections"]["chat"]
    assert chat["status"] == "failed" and chat["count"] == 40
    open_chat(window, "flaky")
    view = window.chat
    assert view.model.rowCount() == 40 and view.empty_text == ""
    assert view.banner.isVisible()
    assert "The last chat sync failed" in view.banner.text() and chat["error"] in view.banner.text()
    open_chat(window, "chatty")
    assert not view.banner.isVisible()


def test_large_chat_opens_without_reading_every_chunk(
    window: BrowserWindow, data_dir: Path, qtbot: Any
) -> None:
    chunks = len(list((folder(data_dir, "bigchat") / "chat").glob("*.json")))
    assert chunks == BIG // CHAT_CHUNK_SIZE == 40
    open_chat(window, "bigchat")
    view, model = window.chat, window.chat.model
    assert model.rowCount() == BIG and view.count_label.text() == f"{BIG:,} messages"
    qtbot.wait(50)  # let the table paint its first screen
    assert model.chunks.loads == 1  # the newest file: the count and the first screen both come from it
    # scroll to the middle and the end: only the files shown are read, through the small LRU
    for number in (BIG // 2, 0, BIG - 1, 7_777):
        assert view.select_number(number)
        qtbot.wait(20)
        chunk = json.loads(
            (folder(data_dir, "bigchat") / "chat" / f"bigchat_chat_{number // CHAT_CHUNK_SIZE + 1}.json")
            .read_text("utf-8")
        )["messages"]
        assert view.json_model.document() == chunk[number % CHAT_CHUNK_SIZE]
    assert model.chunks.loads <= 6, model.chunks.loads
    assert len(model.chunks._files) <= model.chunks.max_files


def _section_table(window: BrowserWindow) -> dict[str, list[str]]:
    table = window.profile.sections
    return {
        table.item(r, 0).text(): [table.item(r, c).text() for c in range(1, table.columnCount())]
        for r in range(table.rowCount())
    }


def test_backup_facts_show_sections_and_images(window: BrowserWindow, data_dir: Path) -> None:
    assert window.select_personality("chatty")
    meta = metadata(data_dir, "chatty")["sections"]
    rows = _section_table(window)
    assert list(rows) == ["Knowledge", "Training", "Personalization", "Chat history", "Avatar & banner"]
    assert rows["Chat history"] == ["1,234 messages (1,234 new)", format_iso_local(meta["chat"]["lastSync"]),
                                    "ok"]
    knowledge = meta["knowledge"]
    assert rows["Knowledge"] == [str(knowledge["count"]), format_iso_local(knowledge["lastSync"]), "ok"]
    chatty = folder(data_dir, "chatty")
    for kind in ("avatar", "banner"):
        saved = chatty / meta["images"][kind]["file"]
        size = saved.stat().st_size
        text = window.profile.images[kind].text()
        assert saved.name in text and (f"{size} bytes" in text or f"{size / 1024:.1f} KB" in text), text
        assert not window.profile.thumbs[kind].pixmap().isNull()
    # a failed section: amber, with its error; the count of its last success kept
    assert window.select_personality("flaky")
    chat = metadata(data_dir, "flaky")["sections"]["chat"]
    saved, _last, status = _section_table(window)["Chat history"]
    assert saved == "40 messages" and status == f"failed: {chat['error']}"
    table = window.profile.sections
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "Chat history")
    warning = window.profile.warning_colors()[0]
    assert table.item(row, 3).background().color() == warning
    ok_row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "Knowledge")
    assert table.item(ok_row, 3).background().color() != warning
    assert "banner: none saved" in window.profile.images["banner"].text().replace("<b>", "").replace(
        "</b>", "").casefold()
    assert window.profile.thumbs["banner"].isHidden()
    runs = window.profile.runs  # newest run first: the one whose chat sync failed
    assert [runs.item(r, 2).text() for r in range(runs.rowCount())] == ["ok (chat failed)", "ok"]
