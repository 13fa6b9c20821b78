"""Chat messages as stored records: their id, timestamp and content hash, and the chat's :class:`RecordKind`.

Messages are stored raw, as the service sent them; order and comparisons use :func:`message_ts` (a float,
also when ``ts`` arrived as a numeric string).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

from ..errors import DriftError
from ..model.memory import content_hash
from .layout import STATE_DIR
from .records import RecordKind

__all__ = [
    "CHAT_CHUNK_SIZE",
    "CHAT_DIR",
    "CHAT_HISTORY_NAME",
    "CHAT_KIND",
    "CHAT_STATE_NAME",
    "message_hash",
    "message_id",
    "message_ts",
]

CHAT_CHUNK_SIZE = 500
CHAT_DIR = "chat"
CHAT_HISTORY_NAME = ".chat-history.jsonl"
#: SHA-256 of every chunk file as last committed, under ``.tzbackup/``
CHAT_STATE_NAME = "chat-state.json"


def message_ts(message: Mapping[str, Any], where: str = "the chat history") -> float:
    """The message's ``ts`` as a float: a JSON number or a numeric string; anything else is drift."""
    value = message.get("ts")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ts = float(value)
    elif isinstance(value, str):
        try:
            ts = float(value.strip())
        except ValueError:
            ts = math.nan
    else:
        ts = math.nan
    if not math.isfinite(ts):
        shown = type(value).__name__ if not isinstance(value, str) else f"the string {value[:32]!r}"
        raise DriftError(
            f"A chat message in {where} has a ts that is not a number (found {shown}).",
            arrived=f"ts of type {type(value).__name__}",
            url_path=where,
        )
    return ts


def message_id(message: Mapping[str, Any]) -> str:
    """The message's id as a string ("" when it has none)."""
    value = message.get("id")
    if isinstance(value, str):
        return value
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def message_hash(message: Mapping[str, Any]) -> str:
    """Content hash of a message with ``ts`` normalised to a float: a change of the ts spelling alone (number
    vs numeric string) is not an edit."""
    normal = dict(message)
    with contextlib.suppress(DriftError):
        normal["ts"] = message_ts(message)
    return content_hash(normal)


#: Chat on disk: ``chat/<folder>_chat_N.json`` = ``{"messages": [...]}``, ``.chat-history.jsonl``, and under
#: ``.tzbackup/`` ``chat-journal.jsonl``, ``chat-staging/`` + ``chat-commit.json``, ``chat-state.json``.
CHAT_KIND = RecordKind(
    noun="chat",
    records_dir=CHAT_DIR,
    frame_key="messages",
    label="chat file",
    chunk_size=CHAT_CHUNK_SIZE,
    history_name=CHAT_HISTORY_NAME,
    history_field="message",
    journal_name="chat-journal.jsonl",
    commit_name="chat-commit.json",
    staging_name="chat-staging",
    sidecar=(CHAT_STATE_NAME, f"{STATE_DIR}/{CHAT_STATE_NAME}"),
    record_id=message_id,
    record_hash=message_hash,
)
