"""Where Talk sends its prompts: the chat endpoint's base URL, the model, the token budgets (Qt-free).

Kept in ``<data dir>/talk/endpoint.json`` (0600, written atomically), beside the conversations and apart
from the backups, so the desktop app and ``tzbackup talk`` share one setting. The file says whether an API
key is stored, never the key: that lives in the keyring (:meth:`~tzbackup_gui.credentials.CredentialStore.
save_api_key`). Until a base URL and a model are set, Talk contacts nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..archive.store import atomic_write_json, ensure_dir, read_json
from ..errors import CorruptBackupError, TzBackupError
from ..model.urls import is_shapes_host

__all__ = [
    "DEFAULT_CONTEXT_TOKENS",
    "DEFAULT_MEMORY_TOKENS",
    "SETTINGS_NAME",
    "TALK_DIR",
    "EndpointSettings",
    "TalkSettingsError",
    "load_settings",
    "normalize_base_url",
    "save_settings",
    "talk_dir",
]

TALK_DIR = "talk"
SETTINGS_NAME = "endpoint.json"
#: what the whole prompt (instructions, memories, earlier turns, the new message) may take, in tokens
DEFAULT_CONTEXT_TOKENS = 8192
#: what the memories retrieved for one turn may take, in tokens
DEFAULT_MEMORY_TOKENS = 1200


class TalkSettingsError(TzBackupError):
    """The endpoint setting is unusable (a URL that is not http(s), a budget that is not a number)."""


def talk_dir(data_dir: Path) -> Path:
    """``<data dir>/talk``: Talk's settings and conversations, never inside a backup folder."""
    return data_dir / TALK_DIR


def normalize_base_url(url: str) -> str:
    """``http://localhost:11434`` -> ``http://localhost:11434/v1`` (every OpenAI-compatible server we know
    serves under ``/v1``); a URL with a path is kept as given, without a trailing slash. Raises
    :class:`TalkSettingsError` for anything but an http(s) URL with a host."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TalkSettingsError(f"The endpoint must be an http(s) URL such as http://localhost:11434/v1, "
                                f"not {url!r}.")
    if parts.query or parts.fragment:
        raise TalkSettingsError("The endpoint URL cannot have a query (?...) or a fragment (#...).")
    if is_shapes_host(text):
        raise TalkSettingsError(f"Talk works from your backup without shapes.inc, so it does not talk to "
                                f"{parts.hostname}: choose a model server of your own (Ollama, LM Studio, "
                                "llama.cpp) or another OpenAI-compatible service.")
    text = text.rstrip("/")
    return text if parts.path.strip("/") else f"{text}/v1"


@dataclass
class EndpointSettings:
    """The configured chat endpoint. ``has_api_key`` only says a key is in the keyring."""

    base_url: str = ""
    model: str = ""
    has_api_key: bool = False
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    memory_tokens: int = DEFAULT_MEMORY_TOKENS

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> EndpointSettings:
        """Read what :meth:`to_json` wrote, ignoring unknown keys and values of the wrong type."""
        out = cls()
        if not isinstance(data, dict):
            return out
        for f in fields(cls):
            value = data.get(f.name)
            default = getattr(out, f.name)
            if type(value) is type(default):  # exact: a JSON true is no token count
                setattr(out, f.name, value)
        out.context_tokens = max(512, out.context_tokens)
        out.memory_tokens = max(0, min(out.memory_tokens, out.context_tokens // 2))
        return out


def load_settings(data_dir: Path) -> EndpointSettings:
    """The saved setting, or an unconfigured one (a missing or damaged file means "not set up yet")."""
    try:
        return EndpointSettings.from_json(read_json(talk_dir(data_dir) / SETTINGS_NAME))
    except (FileNotFoundError, CorruptBackupError):
        return EndpointSettings()


def save_settings(data_dir: Path, settings: EndpointSettings) -> Path:
    """Write the setting (0600, atomically); returns the file's path."""
    if settings.base_url:
        settings.base_url = normalize_base_url(settings.base_url)
    folder = talk_dir(data_dir)
    ensure_dir(folder)
    path = folder / SETTINGS_NAME
    atomic_write_json(path, settings.to_json())
    return path
