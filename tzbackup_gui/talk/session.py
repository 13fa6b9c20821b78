"""One conversation with a backed-up personality: retrieve, assemble, stream, save (Qt-free, asyncio).

Both faces use it the same way: ``session = await TalkSession.start(...)``, then ``await session.turn(text,
on_delta=...)`` per message, and ``await session.close()``. A turn is stopped by cancelling the task that
awaits it: what had streamed in is saved, marked stopped, and ``CancelledError`` goes on up. A failed turn
is saved with its error and the :class:`~.endpoint.TalkError` is raised for the face to show.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..archive.layout import personalities_root
from ..archive.reader import read_backup_status
from ..errors import ArchiveError
from .conversation import Conversation, TalkMessage
from .endpoint import ChatEndpoint, TalkError
from .prompt import Persona, PromptParts, build_messages, load_persona
from .retrieval import MemoryRetriever, RetrievedMemory
from .settings import EndpointSettings

__all__ = ["TalkSession", "TurnResult", "find_personality"]


def find_personality(data_dir: Path, name: str) -> Path:
    """A personality folder of ``data_dir`` by folder name, slug or display name (case-insensitive).
    Raises :class:`ArchiveError` naming the backups there are when none matches."""
    root = personalities_root(data_dir)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if root.is_dir() else []
    for folder in folders:
        if folder.name == name:
            return folder
    wanted = name.casefold()
    for folder in folders:
        status = read_backup_status(folder)
        if wanted in (status.slug.casefold(), status.display_name.casefold()):
            return folder
    known = ", ".join(f.name for f in folders) or "none yet"
    raise ArchiveError(f"No backup of {name!r} in {data_dir} (backed up: {known}).")


@dataclass
class TurnResult:
    """What one turn sent and got."""

    user: TalkMessage
    reply: TalkMessage
    memories: list[RetrievedMemory]
    prompt: PromptParts


class TalkSession:
    """A persona, its retriever, an endpoint and the conversation being written."""

    def __init__(self, persona: Persona, endpoint: ChatEndpoint, settings: EndpointSettings,
                 conversation: Conversation, retriever: MemoryRetriever) -> None:
        self.persona = persona
        self.endpoint = endpoint
        self.settings = settings
        self.conversation = conversation
        self.retriever = retriever

    @classmethod
    async def start(cls, data_dir: Path, folder: Path, endpoint: ChatEndpoint, settings: EndpointSettings, *,
                    version: str | int | None = None, conversation_id: str | None = None) -> TalkSession:
        """Read the persona, open the memory index (indexing what changed) and open or begin a
        conversation. Raises :class:`ArchiveError` for a backup that cannot be talked to."""
        if not settings.configured:
            raise TalkError("No chat endpoint is set up yet: Talk contacts nothing until you give it one.",
                            hint="Set a base URL and a model (Talk → Endpoint…, or tzbackup talk --endpoint "
                                 "URL --model M).")
        persona = await asyncio.to_thread(load_persona, folder, version)
        retriever = MemoryRetriever(data_dir, folder.name)
        try:
            await retriever.open()
            conversation = await asyncio.to_thread(
                Conversation, data_dir, folder.name, conversation_id, name=persona.name, model=settings.model,
                endpoint=endpoint.base_url, profile_version=persona.version)
        except BaseException:
            await retriever.close()
            raise
        return cls(persona, endpoint, settings, conversation, retriever)

    async def close(self) -> None:
        await self.retriever.close()

    async def turn(self, text: str, *, on_delta: Callable[[str], None] | None = None,
                   on_memories: Callable[[Sequence[RetrievedMemory]], None] | None = None) -> TurnResult:
        """Send ``text`` and stream the reply (each piece to ``on_delta``); the memories retrieved for it go
        to ``on_memories`` before the reply starts."""
        text = text.strip()
        if not text:
            raise TalkError("There is nothing to send.")
        memories = await self.retriever.retrieve(text, self.settings.memory_tokens)
        if on_memories is not None:
            on_memories(memories)
        parts = build_messages(self.persona, memories, self.conversation.history(), text,
                               context_tokens=self.settings.context_tokens)
        sent = set(parts.memory_ids)
        used = [m for m in memories if m.id in sent]
        user = TalkMessage("user", text)
        await asyncio.to_thread(self.conversation.add, user)
        pieces: list[str] = []

        def reply(*, stopped: bool = False, error: str = "") -> TalkMessage:
            return TalkMessage("assistant", "".join(pieces), memories=parts.memory_ids,
                               model=self.settings.model, stopped=stopped, error=error)

        try:
            stream = self.endpoint.stream_chat(self.settings.model, parts.messages)
            async with contextlib.aclosing(stream):  # a stopped turn closes the response now, on this loop
                async for piece in stream:
                    pieces.append(piece)
                    if on_delta is not None:
                        on_delta(piece)
        except asyncio.CancelledError:
            self.conversation.add(reply(stopped=True))  # small and local: written before the cancel goes on
            raise
        except TalkError as err:
            await asyncio.to_thread(self.conversation.add, reply(error=err.message))
            raise
        message = reply()
        await asyncio.to_thread(self.conversation.add, message)
        return TurnResult(user, message, used, parts)
