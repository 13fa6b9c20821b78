"""The Talk tab with pytest-qt on a real engine backup, against the sandbox's made-up chat endpoint: nothing
contacted before an endpoint is set, a streamed reply with the memories used (each opening where it lives),
Stop, a plain error, the profile version picker, Markdown export, and the demo's endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.integration.talk_support import OLD_DESCRIPTION, SLUG, Backed
from tzbackup_gui.archive.browse import load_personality
from tzbackup_gui.archive.index import SearchHit
from tzbackup_gui.talk import EndpointSettings
from tzbackup_gui.ui.talk_view import DEMO_ENDPOINT_PROPERTY, TalkView

QUESTION = "Do you remember the night market and the jazz music?"


class Opened:
    def __init__(self) -> None:
        self.calls: list[SearchHit] = []

    def __call__(self, hit: SearchHit) -> bool:
        self.calls.append(hit)
        return True


@pytest.fixture
def view(qtbot: Any, qloop: asyncio.AbstractEventLoop, backed: Backed) -> Iterator[TalkView]:
    widget = TalkView(open_hit=Opened())
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    widget.show_details(load_personality(backed.folder()))
    yield widget
    widget.new_conversation()  # closes the session and its client
    qtbot.waitUntil(lambda: not widget._closing, timeout=5000)
    settle(qtbot)


def settle(qtbot: Any) -> None:
    """Finalize the HTTP stream's async generators while this test's qasync loop still runs: finalized after
    the loop is torn down (in a later test's thread) they call back into a deleted loop and crash the
    interpreter (seen as a segfault in the next module; not a problem of the app, whose loop lives on)."""
    import gc

    gc.collect()
    qtbot.wait(200)


def configure(qtbot: Any, view: TalkView, backed: Backed, **changes: object) -> None:
    settings = backed.settings(**changes)
    task = asyncio.ensure_future(view.apply_endpoint(settings))
    qtbot.waitUntil(task.done, timeout=5000)
    assert isinstance(settings, EndpointSettings)


def send(qtbot: Any, view: TalkView, text: str) -> None:
    view.input.setPlainText(text)
    qtbot.mouseClick(view.send_button, Qt.MouseButton.LeftButton)


def test_nothing_is_contacted_until_an_endpoint_is_set(qtbot: Any, view: TalkView, backed: Backed) -> None:
    assert "No chat endpoint is set up" in view.status.text()
    assert not view.send_button.isEnabled()
    view.input.setPlainText(QUESTION)
    view.send()
    qtbot.wait(100)
    assert backed.sb.state.request_log == []
    assert not (backed.data_dir / "talk" / SLUG).exists()


def test_a_reply_streams_in_with_the_memories_used(qtbot: Any, view: TalkView, backed: Backed) -> None:
    configure(qtbot, view, backed)
    assert json.loads((backed.data_dir / "talk" / "endpoint.json").read_text())["model"] == "sandbox-echo"
    assert view.send_button.isEnabled() and "sandbox-echo" in view.status.text()
    send(qtbot, view, QUESTION)
    qtbot.waitUntil(lambda: "Point Talk at a real model" in view.transcript.toPlainText(), timeout=10000)
    qtbot.waitUntil(lambda: view.send_button.isEnabled(), timeout=5000)
    text = view.transcript.toPlainText()
    assert f"You: {QUESTION}" in text and f"Lilith: You said “{QUESTION}”" in text
    assert view.memories.count() > 0 and view.memories_label.text().startswith("Memories used (")
    assert view.session is not None and view.session.conversation.path.exists()
    assert [r.path for r in backed.sb.state.request_log] == ["/v1/chat/completions"]

    item = view.memories.item(0)
    view.memories.itemActivated.emit(item)
    opened = view.open_hit
    assert isinstance(opened, Opened) and len(opened.calls) == 1
    hit = opened.calls[0]
    assert hit.folder == SLUG and hit.kind == "memory"
    assert hit.memory_id in view.session.conversation.messages[-1].memories and hit.path.is_file()


def test_stop_ends_the_reply_and_keeps_what_came(qtbot: Any, view: TalkView, backed: Backed) -> None:
    configure(qtbot, view, backed)
    backed.llm.chunk_delay = 0.05
    send(qtbot, view, QUESTION)
    qtbot.waitUntil(lambda: "You said" in view.transcript.toPlainText(), timeout=10000)
    assert view.stop_button.isEnabled() and not view.send_button.isEnabled()
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "[stopped]" in view.transcript.toPlainText(), timeout=5000)
    qtbot.waitUntil(lambda: view.send_button.isEnabled(), timeout=5000)
    assert view.session is not None
    last = view.session.conversation.messages[-1]
    assert last.stopped and last.content and "Point Talk" not in last.content


def test_an_endpoint_error_is_said_plainly(qtbot: Any, view: TalkView, backed: Backed) -> None:
    configure(qtbot, view, backed, model="no-such-model")
    send(qtbot, view, QUESTION)
    qtbot.waitUntil(lambda: "[no reply" in view.transcript.toPlainText(), timeout=10000)
    assert "no model “no-such-model”" in view.status.text()
    assert view.send_button.isEnabled()


def test_an_earlier_profile_version_can_be_picked(qtbot: Any, view: TalkView, backed: Backed) -> None:
    configure(qtbot, view, backed)
    assert view.version.count() == 2 and "current" in view.version.itemText(0)
    view.version.setCurrentIndex(1)
    send(qtbot, view, "Hello again")
    qtbot.waitUntil(lambda: len(backed.llm.requests) == 1 and view.send_button.isEnabled(), timeout=10000)
    assert OLD_DESCRIPTION in backed.llm.requests[0]["messages"][0]["content"]


def test_export_markdown(qtbot: Any, view: TalkView, backed: Backed, tmp_path: Path) -> None:
    configure(qtbot, view, backed)
    assert view.export(tmp_path) is None and "Nothing to export" in view.status.text()
    send(qtbot, view, QUESTION)
    qtbot.waitUntil(lambda: view.session is not None and len(view.session.conversation.messages) == 2
                    and view.send_button.isEnabled(), timeout=10000)
    written = view.export(tmp_path)
    assert written is not None and QUESTION in written.read_text("utf-8")


def test_the_demo_uses_the_sandbox_endpoint_and_saves_nothing(
        qtbot: Any, qloop: asyncio.AbstractEventLoop, qapp: QApplication, backed: Backed) -> None:
    qapp.setProperty(DEMO_ENDPOINT_PROPERTY, backed.endpoint_url)
    try:
        widget = TalkView()
    finally:
        qapp.setProperty(DEMO_ENDPOINT_PROPERTY, None)
    qtbot.addWidget(widget)
    widget.show_details(load_personality(backed.folder()))
    assert widget.demo and widget.store.memory_only and "made-up model" in widget.status.text()
    send(qtbot, widget, "Hello demo")
    qtbot.waitUntil(lambda: "You said “Hello demo”" in widget.transcript.toPlainText(), timeout=10000)
    assert not (backed.data_dir / "talk" / "endpoint.json").exists()
    widget.new_conversation()
    qtbot.waitUntil(lambda: not widget._closing, timeout=5000)
    settle(qtbot)


def test_the_browser_has_a_talk_tab_whose_memories_open_in_the_memories_tab(
        qtbot: Any, qloop: asyncio.AbstractEventLoop, backed: Backed, tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings

    from tzbackup_gui.ui.browser_window import BrowserWindow

    settings = QSettings(str(tmp_path / "browser.ini"), QSettings.Format.IniFormat)
    window = BrowserWindow(backed.data_dir, settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: not window.indexing, timeout=20000)
    assert window.select_personality(SLUG)
    talk = window.talk
    assert window.tabs.tabText(window.tabs.indexOf(talk)) == "Talk" and talk.folder == backed.folder()
    configure(qtbot, talk, backed)
    window.tabs.setCurrentWidget(talk)
    send(qtbot, talk, QUESTION)
    qtbot.waitUntil(lambda: talk.memories.count() > 0 and talk.send_button.isEnabled(), timeout=10000)
    talk.memories.itemActivated.emit(talk.memories.item(0))
    assert window.tabs.currentIndex() == 1  # Memories, the memory selected there
    assert talk.session is not None
    assert window.table.currentIndex().isValid()
    talk.new_conversation()
    qtbot.waitUntil(lambda: not talk._closing, timeout=5000)
    settle(qtbot)
