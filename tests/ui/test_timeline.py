"""The browser's Timeline tab on a real history: backups (engine + sandbox over loopback) between which the
profile changed (a long prompt edited, a field added, a field removed), then a counter-only backup."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tzbackup_gui.archive.profile_history import ProfileHistory
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.sandbox.state import RequestRecord
from tzbackup_gui.ui.browser_window import BrowserWindow
from tzbackup_gui.ui.timeline_view import TimelineView, diff_html, diff_styles

SLUG = "timeline-demo"
OLD = "Stay in character."
NEW = "Stay gently in character, and answer in rhyme."


@pytest.fixture(scope="module")
def history_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Three real backups: first; prompt edited + field added + field removed; counters only."""
    from tests.clock_support import shifted_clock
    from tests.integration.engine_support import Runner

    data_dir = tmp_path_factory.mktemp("timeline") / "data"
    served: list[dict[str, Any]] = []
    with SandboxServer(port=0, seed=1) as sb, shifted_clock() as clock:
        sb.state.add_personality(SLUG, "Timeline Demo", memories=25, story=2)

        def tick(record: RequestRecord) -> None:
            if record.path.startswith("/api/shapes/username/"):
                sb.state.tick_profile(SLUG)

        sb.state.hooks.append(tick)
        runner = Runner(sb, data_dir)
        for step in range(3):
            if step:
                clock.advance()  # run records have whole seconds: one run per second (no sleep needed)
            if step == 1:
                profile = sb.state.personalities[SLUG].profile
                sb.state.edit_profile(SLUG, {"jailbreak": profile["jailbreak"].replace(OLD, NEW, 1),
                                             "voice_accent": "soft Scottish"}, remove=["tagline"])
                sb.state.add_memories(SLUG, 4)
            assert runner.run([SLUG]).exit_code == 0
            served.append(json.loads(json.dumps(sb.state.personalities[SLUG].profile)))
    return data_dir, served


@pytest.fixture
def window(qtbot: Any, history_template: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> BrowserWindow:
    data_dir = tmp_path / "data"
    shutil.copytree(history_template[0], data_dir)
    win = BrowserWindow(data_dir)
    qtbot.addWidget(win)
    win.show()
    assert win.select_personality(SLUG)
    return win


def data_folder(window: BrowserWindow) -> Path:
    assert window.timeline.timeline is not None
    return window.timeline.timeline.folder


def _entries(view: TimelineView) -> list[str]:
    return [view.list.item(row).text() for row in range(view.list.count())]


def test_timeline_lists_runs_and_versions(window: BrowserWindow) -> None:
    view = window.timeline
    assert window.tabs.tabText(window.tabs.indexOf(view)) == "Timeline"
    texts = _entries(view)
    assert len(texts) == 3  # three runs, newest first
    assert [view.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(3)] == [None, 2, 1]
    assert "ok: 4 new" in texts[1]
    assert "profile v2: changed jailbreak; added voice_accent; removed tagline" in texts[1]
    assert "profile v1 first saved" in texts[2]
    assert "profile" not in texts[0].split("\n", 1)[-1]  # the counter-only run changed nothing
    assert view.list.item(1).font().bold() and not view.list.item(0).font().bold()
    assert "2 profile versions kept, 3 backup runs" in view.summary.text()


def test_selecting_a_version_shows_the_word_diff(window: BrowserWindow) -> None:
    view = window.timeline
    assert view.list.currentRow() == 1  # the newest change is selected on opening
    assert view.shown is not None and [v.number for v in view.shown] == [1, 2]
    plain = view.diff.toPlainText()
    # fields named in words, the key beside them
    assert "System prompt (jailbreak) (changed) · jailbreak" in plain
    assert "Voice: accent (added) · voice_accent" in plain and "Tagline (removed) · tagline" in plain
    assert "message_count" not in plain and "user_count" not in plain
    html = diff_html(*(view.timeline.history.load(v) for v in view.shown), "v1", "v2")  # type: ignore[union-attr]
    ins = diff_styles().inserted
    # the inserted words highlighted, and nothing else of the long prompt marked as changed
    assert re.search(re.escape(ins) + r"'>\s?gently\s?</span>", html)
    assert f"{ins}'>, and answer in rhyme</span>" in html
    assert html.count(f"{ins}'>") == 3  # two insertions in the prompt, one added field
    assert "line-through'>Ask me about" in html  # the removed tagline, struck through
    assert "unchanged characters" in html  # long unchanged stretches are shortened
    assert all(b.isEnabled() for b in view.buttons.values())
    view.list.setCurrentRow(0)  # a run that did not change the profile
    assert "did not change" in view.diff.toPlainText()
    assert not any(b.isEnabled() for b in view.buttons.values())
    view.list.setCurrentRow(2)
    assert "first version saved" in view.diff.toPlainText()
    view.compare.setCurrentIndex(1)  # v1 against the current version
    assert view.shown is not None and [v.number for v in view.shown] == [1, 2]
    assert "(changed) · jailbreak" in view.diff.toPlainText()


def test_restore_exports_the_earlier_version(
    window: BrowserWindow, history_template: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    view = window.timeline
    served = history_template[1]
    assert view.select_version(1)
    view.export("json", tmp_path / "v1.json")
    assert json.loads((tmp_path / "v1.json").read_text("utf-8")) == served[0]
    view.export("markdown", tmp_path / "v1.md")
    md = (tmp_path / "v1.md").read_text("utf-8")
    assert OLD in md and NEW not in md and served[0]["tagline"] in md
    result = view.export("card", tmp_path / "v1.card.json")
    card = json.loads((tmp_path / "v1.card.json").read_text("utf-8"))
    assert OLD in card["data"]["system_prompt"] and len(result.paths) == 2
    assert view.select_version(2)
    view.export("json", tmp_path / "v2.json")
    assert json.loads((tmp_path / "v2.json").read_text("utf-8")) == served[2]  # the current version
    assert len(ProfileHistory(data_folder(window)).versions) == 2



def test_ctrl_number_switches_the_browser_tabs(qtbot: Any, tmp_path: Path) -> None:
    window = BrowserWindow(tmp_path)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # window shortcuts need the active window, as for a user
    names = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert names == ["Profile", "Memories", "Search", "Timeline", "Chat", "Talk"]
    keys = {1: Qt.Key.Key_1, 2: Qt.Key.Key_2, 4: Qt.Key.Key_4, 5: Qt.Key.Key_5}
    for number in (4, 5, 2, 1):
        qtbot.keyClick(window, keys[number], Qt.KeyboardModifier.ControlModifier)
        assert window.tabs.currentIndex() == number - 1
