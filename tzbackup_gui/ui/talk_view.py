"""The browser's Talk tab: converse with the selected personality through the configured chat endpoint.

The transcript on the left (replies stream in: pieces are gathered and written about 30 times a second, at
the end of the document, so a fast model never stalls the window), the message box with Send and Stop below
it; on the right the memories the last reply was given, each opening in the Memories tab. Above: the profile
version to talk to (current by default; an earlier one from the timeline), Endpoint…, New Conversation and
Export Markdown. Nothing is contacted until an endpoint is set up (or, in the demo, the sandbox's).

All work goes through :class:`~tzbackup_gui.talk.TalkSession` on the qasync loop; keyring calls and file
writes run off the GUI thread. The HTTP client lives as long as a conversation and is closed with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..archive.browse import PersonalityDetails, format_ts
from ..archive.index import SearchHit
from ..archive.profile_history import ProfileHistory
from ..credentials import CredentialStore
from ..errors import TzBackupError
from ..talk import (
    ChatEndpoint,
    EndpointSettings,
    RetrievedMemory,
    TalkSession,
    export_markdown,
    load_settings,
    save_settings,
)
from .async_slot import async_slot
from .talk_endpoint_dialog import EndpointDialog

__all__ = ["DEMO_ENDPOINT_PROPERTY", "DEMO_MODEL", "OpenMemory", "TalkView"]

#: set on the QApplication (``app.setProperty(...)``) to the demo sandbox's ``.../v1`` URL: the Talk tab then
#: talks to it, keeps its settings for this run only and never touches the keyring
DEMO_ENDPOINT_PROPERTY = "tzbackupTalkDemoEndpoint"
DEMO_MODEL = "sandbox-echo"
FLUSH_MS = 33
#: the browser's ``open_hit``: show a memory where it lives (the Memories tab); False when it is gone
OpenMemory = Callable[[SearchHit], bool]


def _demo_endpoint() -> str:
    app = QCoreApplication.instance()
    value = app.property(DEMO_ENDPOINT_PROPERTY) if app is not None else None
    return str(value) if value else ""


class TalkView(QWidget):
    """One tab of the browser; ``show_details`` points it at a personality (see ``PersonalityTab``)."""

    def __init__(self, open_hit: OpenMemory | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("talkView")
        self.open_hit = open_hit
        self.folder: Path | None = None
        self.session: TalkSession | None = None
        self.turn_task: asyncio.Task[Any] | None = None
        self._http: httpx.AsyncClient | None = None
        self._closing: set[asyncio.Task[None]] = set()  # sessions being closed (kept from the GC)
        self._pending: list[str] = []
        self._flush_timer = QTimer(self, singleShot=True, interval=FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        demo = _demo_endpoint()
        self.demo = bool(demo)
        self.store = CredentialStore(memory_only=self.demo)
        #: the endpoint setting as last read (``_show_setting`` rereads the file; the demo's lives only here)
        self.setting = EndpointSettings(base_url=demo, model=DEMO_MODEL) if demo else EndpointSettings()
        self._watched: QObject | None = None  # the window whose closing ends the conversation
        self._build()

    # --- construction ------------------------------------------------------------------------------------

    def _button(self, text: str, name: str, slot: Callable[..., Any]) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    def _build(self) -> None:
        self.version = QComboBox()
        self.version.setObjectName("talkVersion")
        self.version.setAccessibleName("Profile version to talk to")
        self.version.currentIndexChanged.connect(lambda _n: self.new_conversation())
        self.endpoint_button = self._button("&Endpoint…", "talkEndpointButton", self.edit_endpoint)
        self.new_button = self._button("&New", "talkNew", lambda: self.new_conversation())
        self.new_button.setToolTip("Start a new conversation")
        self.export_button = self._button("E&xport…", "talkExport", lambda: self.export())
        self.export_button.setToolTip("Export the conversation as Markdown")
        self.version.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.version.setMinimumContentsLength(8)
        top = QHBoxLayout()
        top.addWidget(QLabel("Profile:"))
        top.addWidget(self.version, 1)
        for button in (self.endpoint_button, self.new_button, self.export_button):
            top.addWidget(button)
        self.status = QLabel()
        self.status.setObjectName("talkStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.transcript = QTextBrowser()
        self.transcript.setObjectName("talkTranscript")
        self.transcript.setAccessibleName("Conversation")
        self.input = QPlainTextEdit()
        self.input.setObjectName("talkInput")
        self.input.setAccessibleName("Your message")
        self.input.setPlaceholderText("Write a message; Ctrl+Enter sends it")
        self.input.setMaximumHeight(90)
        self.input.installEventFilter(self)
        self.send_button = self._button("&Send", "talkSend", self.send)
        self.stop_button = self._button("S&top", "talkStop", lambda: self.stop())
        self.stop_button.setEnabled(False)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        entry = QHBoxLayout()
        entry.addWidget(self.input, 1)
        entry.addLayout(buttons)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.transcript, 1)
        left_layout.addLayout(entry)
        self.memories = QListWidget()
        self.memories.setObjectName("talkMemories")
        self.memories.setAccessibleName("Memories given for the last reply")
        self.memories.setWordWrap(True)
        self.memories.setAlternatingRowColors(True)  # where one memory ends and the next begins
        self.memories.setResizeMode(QListWidget.ResizeMode.Adjust)  # rows re-measured at the real width
        self.memories.setMinimumWidth(80)
        self.memories.itemActivated.connect(self._open_memory)
        self.memories_label = QLabel("Memories used")
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.memories_label)
        right_layout.addWidget(self.memories, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        self._show_setting()

    # --- the personality tab protocol ----------------------------------------------------------------------

    @property
    def data_dir(self) -> Path | None:
        """The data dir of the shown personality (``<data dir>/personalities/<folder>``)."""
        return self.folder.parent.parent if self.folder is not None else None

    def show_details(self, details: PersonalityDetails) -> None:
        """Point the tab at ``details``' personality (a new conversation when it is another one)."""
        if details.folder == self.folder:
            return
        self.folder = details.folder
        self.version.blockSignals(True)
        self.version.clear()
        history = ProfileHistory(details.folder)
        for v in reversed(history.versions):
            self.version.addItem(v.label, v.number)
        if not history.versions:
            self.version.addItem("current", None)
        self.version.blockSignals(False)
        self.new_conversation()

    def restyle(self) -> None:
        """Nothing painted by hand: the transcript and list follow the palette themselves."""

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        window = self.window()
        if window is not self._watched and window is not self:
            window.installEventFilter(self)  # the window closing ends the conversation (and its client)
            self._watched = window
        if self.isVisible() and self.input.isEnabled():
            self.input.setFocus()  # Ctrl+6 and type: the tab is for writing

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._watched and event.type() == QEvent.Type.Close:
            self._end_session()
        elif watched is self.input and event.type() == QEvent.Type.KeyPress:
            key_event: Any = event
            if key_event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                    key_event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.send()
                return True
        return super().eventFilter(watched, event)

    # --- state shown ---------------------------------------------------------------------------------------

    def _show_setting(self, error: str = "") -> None:
        """Reread the setting (a new conversation, a turn's end: the CLI may have changed it) and say it."""
        if not self.demo:
            self.setting = load_settings(self.data_dir) if self.data_dir is not None else EndpointSettings()
        settings = self.setting
        if error:
            text = error
        elif not settings.configured:
            text = "No chat endpoint is set up: Talk contacts nothing until you choose one (Endpoint…)."
        else:
            demo = " (the demo's made-up model: it only echoes)" if self.demo else ""
            text = f"Talking through {settings.model} at {settings.base_url}{demo}."
        self.status.setText(text)
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.turn_task is not None
        self.send_button.setEnabled(self.setting.configured and self.folder is not None and not busy)
        self.stop_button.setEnabled(busy)

    def _append(self, text: str, *, bold: bool = False) -> None:
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        fmt = cursor.charFormat()
        fmt.setFontWeight(700 if bold else 400)
        cursor.insertText(text, fmt)
        self.transcript.setTextCursor(cursor)
        self.transcript.ensureCursorVisible()

    def _on_delta(self, piece: str) -> None:
        self._pending.append(piece)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _flush(self) -> None:
        if self._pending:
            text, self._pending = "".join(self._pending), []
            self._append(text)

    def _show_memories(self, memories: Sequence[RetrievedMemory]) -> None:
        self.memories.clear()
        for m in memories:
            snippet = " ".join(m.text.split())
            short = snippet if len(snippet) <= 110 else snippet[:110].rsplit(" ", 1)[0] + "…"
            item = QListWidgetItem(f"{format_ts(m.ts) or 'undated'} · {short}")
            item.setToolTip(f"{m.id}\n\n{snippet[:1000]}")
            item.setData(Qt.ItemDataRole.UserRole, (m.id, str(m.path), m.pos))
            self.memories.addItem(item)
        self.memories_label.setText(f"Memories used ({len(memories)})")

    def _open_memory(self, item: QListWidgetItem) -> None:
        memory_id, path, pos = item.data(Qt.ItemDataRole.UserRole)
        if self.open_hit is not None and self.folder is not None:
            self.open_hit(SearchHit(folder=self.folder.name, kind="memory", memory_id=str(memory_id), ts=0.0,
                                    path=Path(path), pos=int(pos), snippet="", flags=0))

    # --- conversation --------------------------------------------------------------------------------------

    def _end_session(self) -> None:
        """Stop a running turn and close the conversation (in the background: the file is already saved)."""
        if self.turn_task is not None:
            self.turn_task.cancel()
        session, http = self.session, self._http
        self.session, self._http = None, None
        if session is None and http is None:
            return

        async def close() -> None:
            if session is not None:
                await session.close()
            if http is not None:
                await http.aclose()

        try:
            task = asyncio.get_running_loop().create_task(close())
        except RuntimeError:  # no loop running (the tab outside qasync): nothing was ever opened
            return
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def new_conversation(self) -> None:
        self._end_session()
        self.transcript.clear()
        self.memories.clear()
        self.memories_label.setText("Memories used")
        self._show_setting()

    async def _session(self) -> TalkSession:
        if self.session is not None:
            return self.session
        assert self.folder is not None and self.data_dir is not None
        settings = self.setting  # just reread by ``send``
        key = None
        if settings.has_api_key and not self.demo:
            key = await asyncio.to_thread(self.store.load_api_key, settings.base_url)
        if self._http is None:  # else left by a start that failed: reused, not leaked
            self._http = httpx.AsyncClient(follow_redirects=False)
        endpoint = ChatEndpoint(self._http, settings.base_url, api_key=key)
        self.session = await TalkSession.start(self.data_dir, self.folder, endpoint, settings,
                                               version=self.version.currentData())
        if self.session.persona.greeting and not self.session.conversation.messages:
            self._append(f"{self.session.persona.name}: ", bold=True)
            self._append(f"{self.session.persona.greeting}\n\n")
        return self.session

    @async_slot()
    async def send(self) -> None:
        """Send the message box's text and stream the reply into the transcript."""
        text = self.input.toPlainText().strip()
        if not text or self.turn_task is not None or self.folder is None:
            return
        self._show_setting()  # reread: what this turn is sent through
        if not self.setting.configured:
            return
        self.input.clear()
        self.turn_task = asyncio.current_task()
        self._update_buttons()
        try:
            session = await self._session()
            self._append("You: ", bold=True)
            self._append(f"{text}\n\n")
            self._append(f"{session.persona.name}: ", bold=True)
            turn = asyncio.ensure_future(session.turn(text, on_delta=self._on_delta,
                                                      on_memories=self._show_memories))
            self.turn_task = turn
            await turn
            self._flush()
            self._append("\n\n")
            self._show_setting()
        except asyncio.CancelledError:
            self._flush()
            self._append(" [stopped]\n\n")
            self._show_setting()
        except TzBackupError as err:
            self._flush()
            self._append(f"\n[no reply: {err.message}]\n\n")
            self._show_setting(f"{err.message} {err.hint}".strip())
        finally:
            self.turn_task = None
            self._update_buttons()

    def stop(self) -> None:
        """Stop the reply streaming in (what came so far is kept, marked stopped)."""
        if self.turn_task is not None:
            self.turn_task.cancel()

    # --- endpoint and export -------------------------------------------------------------------------------

    async def _fetch_models(self, base_url: str, api_key: str | None) -> list[str]:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            return await ChatEndpoint(http, base_url, api_key=api_key).list_models()

    @async_slot()
    async def edit_endpoint(self) -> None:
        """Endpoint…: edit, save the setting (not in the demo) and keep the API key in the keyring."""
        current = self.setting
        dialog = EndpointDialog(current, key_stored=current.has_api_key, fetch_models=self._fetch_models,
                                parent=self)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        dialog.finished.connect(lambda code: None if done.done() else done.set_result(code))
        dialog.open()
        if await done != QDialog.DialogCode.Accepted.value:
            return
        await self.apply_endpoint(dialog.result_settings(), dialog.entered_key())

    async def apply_endpoint(self, settings: EndpointSettings, key: str = "") -> None:
        """Use ``settings`` from now on: saved in the data dir (not in the demo), ``key`` to the keyring."""
        try:
            if key:
                await asyncio.to_thread(self.store.save_api_key, settings.base_url, key)
                settings.has_api_key = True
            if self.demo:
                self.setting = settings
            elif self.data_dir is not None:
                await asyncio.to_thread(save_settings, self.data_dir, settings)
        except TzBackupError as err:
            self._show_setting(f"The endpoint setting was not saved: {err.message}")
            return
        self.new_conversation()

    def export(self, path: Path | None = None) -> Path | None:
        """Export Markdown…: the conversation so far (asks where, unless ``path`` is given)."""
        if self.session is None or not self.session.conversation.messages:
            self.status.setText("Nothing to export yet: the conversation is empty.")
            return None
        if path is None:
            suggested = f"talk-{self.session.conversation.folder}-{self.session.conversation.id}.md"
            chosen, _ = QFileDialog.getSaveFileName(self, "Export Conversation", suggested, "Markdown (*.md)")
            if not chosen:
                return None
            path = Path(chosen)
        try:
            written = export_markdown(self.session.conversation, path)
        except TzBackupError as err:
            self.status.setText(f"Not exported: {err.message}")
            return None
        self.status.setText(f"Exported to {written}.")
        return written
