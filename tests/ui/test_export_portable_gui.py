"""File → Export in the GUI offers the Character Card V3 (with the memory-lorebook choice) and the
SillyTavern chat file: a real backup from the sandbox, the real window's actions, files checked on disk.

The file dialog and the memory choice are the only things replaced (they would wait for a person)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QInputDialog

from tzbackup_gui.archive.card import validate_card_v3
from tzbackup_gui.archive.card_export import read_card_file
from tzbackup_gui.archive.sillytavern import read_sillytavern_chat
from tzbackup_gui.ui.export_dialog import EXPORT_FORMATS, MEMORIES_KEY, MEMORY_CHOICES

from .test_export_import_gui import (  # noqa: F401 (fixtures used by name)
    SLUG,
    Dialogs,
    back_up,
    dialogs,
    select_row,
    shown_box,
    trigger_and_wait,
    window_on,
)


class MemoryQuestion:
    """Stands in for the memory choice: answers with ``answer`` (None = Cancel), records what was offered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answer: str | None = None
        self.offered: list[tuple[list[str], int]] = []
        monkeypatch.setattr(QInputDialog, "getItem", self._ask)

    def _ask(self, parent: Any, title: str, label: str, items: list[str], current: int,
             editable: bool) -> tuple[str, bool]:
        self.offered.append((list(items), current))
        return (self.answer or "", self.answer is not None)


def test_card_v3_and_chat_from_file_export(
    window_on: Any, dialogs: Dialogs, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    question = MemoryQuestion(monkeypatch)
    window = window_on(tmp_path / "data")
    back_up(qtbot, window, SLUG)
    select_row(window, SLUG)
    assert {"card-v3", "sillytavern-chat"} <= set(window.export_actions)
    assert window.export_actions["card-v3"].text() == EXPORT_FORMATS["card-v3"][0]

    question.answer = MEMORY_CHOICES[1][0]  # the newest 50
    dialogs.save_to = tmp_path / "ada.card-v3.json"
    result = trigger_and_wait(qtbot, window.files, window.export_actions["card-v3"])
    assert Path(dialogs.offered[-1][1]).name == f"{SLUG}.card-v3.json"
    assert result.paths == [tmp_path / "ada.card-v3.json", tmp_path / "ada.card-v3.png"]
    card = read_card_file(tmp_path / "ada.card-v3.png")
    assert validate_card_v3(card) == [] and card == read_card_file(tmp_path / "ada.card-v3.json")
    entries = card["data"]["character_book"]["entries"]
    memories = [e for e in entries if "memoryId" in e["extensions"]["tzbackup"]]
    assert len(memories) == 50
    box = shown_box(window.files, "exportDoneBox")
    assert "ada.card-v3.png" in box.text() and "50 memories" in box.informativeText()
    assert window.files.settings.value(MEMORIES_KEY) == MEMORY_CHOICES[1][0]

    question.answer = None  # Cancel: nothing is written
    dialogs.save_to = tmp_path / "cancelled.json"
    assert not window.export_selected("card-v3")
    assert not (tmp_path / "cancelled.json").exists() and question.offered[-1][1] == 1  # last answer first

    dialogs.save_to = tmp_path / "ada.jsonl"
    asked = len(question.offered)
    result = trigger_and_wait(qtbot, window.files, window.export_actions["sillytavern-chat"])
    assert len(question.offered) == asked  # no memory question for a chat file
    chat = read_sillytavern_chat(tmp_path / "ada.jsonl")
    assert chat.header["character_name"] == "Dr. Ada Lovelace" and len(chat.lines) >= 60
    box = shown_box(window.files, "exportDoneBox")
    assert "60 chat messages" in box.informativeText()
