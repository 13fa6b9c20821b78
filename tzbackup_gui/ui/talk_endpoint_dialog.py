"""Talk → Endpoint…: which OpenAI-compatible server Talk sends prompts to, the model, an optional API key
(kept in the keyring, never in the settings file), and the token budgets.

The dialog only edits an :class:`~tzbackup_gui.talk.EndpointSettings`; the Talk tab saves it and stores
the key (keyring calls block, so it does that off the GUI thread). "Fetch Models" asks the server for its
models, the only request this dialog makes, and only when clicked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..talk import EndpointSettings, TalkError, TalkSettingsError, normalize_base_url
from .async_slot import async_slot

__all__ = ["EndpointDialog"]

#: what the model list says while nothing has been fetched
EXAMPLES = "For example http://localhost:11434/v1 (Ollama), :1234/v1 (LM Studio), :8080/v1 (llama.cpp)."


class EndpointDialog(QDialog):
    """Edit the endpoint setting. ``fetch_models(base_url, api_key)`` lists a server's models."""

    def __init__(self, settings: EndpointSettings, *, key_stored: bool,
                 fetch_models: Callable[[str, str | None], Awaitable[list[str]]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("talkEndpointDialog")
        self.setWindowTitle("Talk Endpoint")
        self._fetch = fetch_models
        self.base_url = QLineEdit(settings.base_url)
        self.base_url.setObjectName("talkBaseUrl")
        self.base_url.setPlaceholderText("http://localhost:11434/v1")
        self.model = QComboBox()
        self.model.setObjectName("talkModel")
        self.model.setEditable(True)
        self.model.setCurrentText(settings.model)
        self.fetch_button = QPushButton("Fetch &Models")
        self.fetch_button.setObjectName("talkFetchModels")
        self.fetch_button.clicked.connect(self.fetch_models)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.fetch_button)
        self.api_key = QLineEdit()
        self.api_key.setObjectName("talkApiKey")
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("stored in the keyring (leave empty to keep)" if key_stored
                                        else "optional: only hosted services need one")
        self.context = QSpinBox()
        self.context.setObjectName("talkContextTokens")
        self.context.setRange(512, 1_048_576)
        self.context.setSingleStep(1024)
        self.context.setValue(settings.context_tokens)
        self.context.setSuffix(" tokens")
        self.memories = QSpinBox()
        self.memories.setObjectName("talkMemoryTokens")
        self.memories.setRange(0, 524_288)
        self.memories.setSingleStep(100)
        self.memories.setValue(settings.memory_tokens)
        self.memories.setSuffix(" tokens")
        self.note = QLabel(EXAMPLES)
        self.note.setObjectName("talkEndpointNote")
        self.note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("&Base URL:", self.base_url)
        form.addRow("&Model:", model_row)
        form.addRow("&API key:", self.api_key)
        form.addRow("&Context:", self.context)
        form.addRow("Memories per &turn:", self.memories)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self._previous = settings

    def result_settings(self) -> EndpointSettings:
        """The edited setting (raises :class:`TalkSettingsError` for a bad URL)."""
        url = normalize_base_url(self.base_url.text())
        same_server = url == self._previous.base_url
        return EndpointSettings(base_url=url, model=self.model.currentText().strip(),
                                has_api_key=bool(self.api_key.text().strip()) or (same_server and
                                                                                  self._previous.has_api_key),
                                context_tokens=self.context.value(),
                                memory_tokens=min(self.memories.value(), self.context.value() // 2))

    def entered_key(self) -> str:
        return self.api_key.text().strip()

    def accept(self) -> None:
        try:
            settings = self.result_settings()
        except TalkSettingsError as err:
            self.note.setText(err.message)
            return
        if not settings.model:
            self.note.setText("Name a model (Fetch Models lists the server's).")
            return
        super().accept()

    @async_slot()
    async def fetch_models(self) -> None:
        """Ask the server at the entered URL for its models and offer them."""
        try:
            url = normalize_base_url(self.base_url.text())
        except TalkSettingsError as err:
            self.note.setText(err.message)
            return
        self.fetch_button.setEnabled(False)
        self.note.setText(f"Asking {url} for its models…")
        try:
            models = await self._fetch(url, self.entered_key() or None)
        except TalkError as err:
            self.note.setText(f"{err.message} {err.hint}".strip())
            return
        finally:
            self.fetch_button.setEnabled(True)
        current = self.model.currentText()
        self.model.clear()
        self.model.addItems(models)
        self.model.setCurrentText(current if current in models or not models else models[0])
        self.note.setText(f"{len(models)} models at {url}." if models else f"{url} lists no models.")
