"""Talk's conversations on disk: ``<data dir>/talk/<folder>/<conversation id>.jsonl``, apart from the backup.

Never inside a personality folder and never in its ``chat/`` (that holds what shapes.inc said; these are
conversations with a local model). One JSON object a line, appended with fsync (0600 files, 0700 folders,
like the backup): a header, then one line per message::

    {"type": "header", "format": 1, "folder", "name", "created", "model", "endpoint", "profileVersion"}
    {"type": "message", "role": "user"|"assistant", "content", "ts", "memories": [ids], "model",
     "stopped": bool, "error": str}

A crash loses at most the line being written. :func:`export_markdown` turns one into a readable document.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..archive.store import append_line, atomic_write_bytes, ensure_dir, read_jsonl
from ..errors import ArchiveError
from .settings import talk_dir

__all__ = ["FORMAT", "Conversation", "TalkMessage", "conversations_dir", "export_markdown",
           "list_conversations", "new_conversation_id"]

FORMAT = 1
_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_conversation_id() -> str:
    """``20260102T030405Z-a1b2c3``: sorts by start time, unique enough for one user."""
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def conversations_dir(data_dir: Path, folder: str) -> Path:
    """Where one personality's conversations live (the folder name is the backup's safe folder name)."""
    if not folder or folder in (".", "..") or "/" in folder or "\\" in folder or "\x00" in folder:
        raise ArchiveError(f"{folder!r} is not a personality folder name.")
    return talk_dir(data_dir) / folder


@dataclass
class TalkMessage:
    role: str  # "user" | "assistant"
    content: str
    ts: str = field(default_factory=_now)
    memories: list[str] = field(default_factory=list)
    model: str = ""
    stopped: bool = False
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "role": self.role, "content": self.content, "ts": self.ts}
        if self.memories:
            out["memories"] = self.memories
        if self.model:
            out["model"] = self.model
        if self.stopped:
            out["stopped"] = True
        if self.error:
            out["error"] = self.error
        return out

    @classmethod
    def from_json(cls, rec: dict[str, Any]) -> TalkMessage:
        mems = rec.get("memories")
        ids = [str(m) for m in mems] if isinstance(mems, list) else []
        return cls(role=str(rec.get("role") or "user"), content=str(rec.get("content") or ""),
                   ts=str(rec.get("ts") or ""), memories=ids,
                   model=str(rec.get("model") or ""), stopped=rec.get("stopped") is True,
                   error=str(rec.get("error") or ""))


class Conversation:
    """One conversation file. Messages are written as they are added; the header on the first message."""

    def __init__(self, data_dir: Path, folder: str, conversation_id: str | None = None, *, name: str = "",
                 model: str = "", endpoint: str = "", profile_version: int | None = None) -> None:
        self.id = conversation_id or new_conversation_id()
        if not _ID.match(self.id):
            raise ArchiveError(f"{self.id!r} is not a conversation id.")
        self.folder = folder
        self.path = conversations_dir(data_dir, folder) / f"{self.id}.jsonl"
        self.header: dict[str, Any] = {"type": "header", "format": FORMAT, "folder": folder, "name": name,
                                       "created": _now(), "model": model, "endpoint": endpoint,
                                       "profileVersion": profile_version}
        self.messages: list[TalkMessage] = []
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        for _, rec in read_jsonl(self.path):
            if not isinstance(rec, dict):
                continue
            if rec.get("type") == "header":
                self.header = rec
            elif rec.get("type") == "message":
                self.messages.append(TalkMessage.from_json(rec))

    @property
    def name(self) -> str:
        return str(self.header.get("name") or self.folder)

    def add(self, message: TalkMessage) -> None:
        """Append ``message`` (durably; blocking: call through ``asyncio.to_thread`` on an event loop)."""
        if not self.path.exists():
            ensure_dir(self.path.parent)
            append_line(self.path, self.header)
        append_line(self.path, message.to_json())
        self.messages.append(message)

    def history(self) -> list[dict[str, str]]:
        """The messages as a model sees earlier turns (failed replies left out, stopped ones kept)."""
        return [{"role": m.role, "content": m.content} for m in self.messages
                if m.content and not m.error and m.role in ("user", "assistant")]


def list_conversations(data_dir: Path, folder: str) -> list[Path]:
    """A personality's conversation files, newest first."""
    directory = conversations_dir(data_dir, folder)
    if not directory.is_dir():
        return []
    names = [n for n in os.listdir(directory) if n.endswith(".jsonl") and _ID.match(n[:-6])]
    return [directory / n for n in sorted(names, reverse=True)]


def export_markdown(conversation: Conversation, output: Path) -> Path:
    """Write the conversation as Markdown (0600, atomically): a title, where it came from, then every
    message with its time and the memories the reply was given. Returns the file written."""
    head = conversation.header
    lines = [f"# Talk with {conversation.name}", "",
             f"- Started: {head.get('created') or '?'}",
             f"- Model: {head.get('model') or '?'} at {head.get('endpoint') or '?'}"]
    if head.get("profileVersion"):
        lines.append(f"- Profile version: v{head.get('profileVersion')}")
    lines += ["- Made with tzbackup from a local backup; the replies come from the model above.", ""]
    for m in conversation.messages:
        who = "You" if m.role == "user" else conversation.name
        lines += [f"## {who} · {m.ts}", ""]
        if m.error:
            lines += [f"*No reply: {m.error}*", ""]
            continue
        lines += [m.content or "*(empty)*", ""]
        if m.stopped:
            lines += ["*(stopped)*", ""]
        if m.memories:
            lines += ["<details><summary>Memories given for this reply</summary>", "",
                      *[f"- `{mid}`" for mid in m.memories], "", "</details>", ""]
    if output.is_dir():
        output = output / f"talk-{conversation.folder}-{conversation.id}.md"
    atomic_write_bytes(output, "\n".join(lines).encode("utf-8"))
    return output
