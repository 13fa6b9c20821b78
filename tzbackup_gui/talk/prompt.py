"""The prompt of a turn, built only from what the backup saved.

A :class:`Persona` is read once per conversation: the profile (the version picked on the timeline, current by
default), the user's personalization (``personalization.json``) and the knowledge entries. The profile's
fields are mapped the way the character card maps them (:func:`~tzbackup_gui.archive.export.build_card`):
the shape's own system prompt (``jailbreak``), description, personality, what it is told about the user
(``user_prompt``) and example dialogue; credential fields of the profile never reach a prompt.

Each turn :func:`build_messages` makes one system message (instructions + the memories retrieved for this
turn: local chat templates often refuse a second system message), then as many earlier turns as fit the
context budget (newest kept), then the new message. Token counts are estimates (~4 characters a token).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..archive.export import build_card, load_knowledge
from ..archive.layout import METADATA_NAME, profile_file_name
from ..archive.profile_history import ProfileHistory
from ..archive.store import read_json
from ..errors import ArchiveError, CorruptBackupError
from .retrieval import RetrievedMemory, estimate_tokens

__all__ = ["PERSONALIZATION_NAME", "Persona", "PromptParts", "build_messages", "load_persona"]

PERSONALIZATION_NAME = "personalization.json"
#: tokens kept free for the reply
REPLY_RESERVE = 512
#: personalization fields worth telling the model, with how to say them
_PERSONAL_LABELS = {
    "preferred_name": "Call the user",
    "pronouns": "The user's pronouns",
    "backstory": "Your shared backstory",
    "personality_override": "How to be with this user",
}


@dataclass
class Persona:
    """What a personality's backup says about it, ready to be put into prompts."""

    folder: Path
    name: str
    profile: dict[str, Any]
    #: the profile version used (1 = oldest kept); None when the backup keeps no versions
    version: int | None
    version_label: str
    personalization: dict[str, Any] = field(default_factory=dict)
    knowledge: list[dict[str, Any]] = field(default_factory=list)
    #: the card fields the instructions are made of (system_prompt, description, personality...)
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def greeting(self) -> str:
        return str(self.card.get("first_mes") or "")


def _read_dict(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path)
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def load_persona(folder: Path, version: str | int | None = None) -> Persona:
    """Read a personality folder. ``version``: a profile version as the timeline names it (``3``, ``v3``,
    ``previous``, a date); None for the current one. Raises :class:`ArchiveError` when the backup has no
    profile, or the version does not exist or cannot be rebuilt."""
    history = ProfileHistory(folder)
    number: int | None = None
    label = "current"
    if history.versions:
        picked = history.current if version is None else history.find(str(version))
        if picked is None:
            raise ArchiveError(f"{folder.name} has no profile version {version!r} "
                               f"(versions 1 to {len(history.versions)} are kept).")
        profile = history.load(picked)
        number, label = picked.number, picked.label
    elif version is not None and str(version).strip().lower() not in ("current", "latest", "now"):
        raise ArchiveError(f"{folder.name} keeps no earlier profile versions.")
    else:
        profile = _read_dict(folder / profile_file_name(folder.name))
    if not profile:
        raise CorruptBackupError(f"The backup of {folder.name} holds no profile to talk to.",
                                 path=str(folder / profile_file_name(folder.name)))
    meta = _read_dict(folder / METADATA_NAME)
    knowledge, _problem = load_knowledge(folder)
    card = build_card(profile, meta, knowledge)["data"]
    return Persona(folder=folder, name=str(card.get("name") or folder.name), profile=profile, version=number,
                   version_label=label, personalization=_read_dict(folder / PERSONALIZATION_NAME),
                   knowledge=knowledge, card=card)


def _personal_lines(personalization: dict[str, Any]) -> list[str]:
    out = []
    for key, label in _PERSONAL_LABELS.items():
        value = personalization.get(key)
        if isinstance(value, str) and value.strip():
            out.append(f"- {label}: {value.strip()}")
    return out


def _knowledge_lines(knowledge: list[dict[str, Any]]) -> list[str]:
    out = []
    for entry in knowledge:
        title = entry.get("title")
        content = entry.get("content")
        if isinstance(content, str) and content.strip():
            head = f"{title.strip()}: " if isinstance(title, str) and title.strip() else ""
            out.append(f"- {head}{content.strip()}")
    return out


def _day(ts: float) -> str:
    try:
        return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d") if ts > 0 else "undated"
    except (OverflowError, OSError, ValueError):
        return "undated"


def instructions(persona: Persona) -> str:
    """The part of the system message that is the same every turn."""
    card = persona.card
    parts = [str(card.get("system_prompt") or f"You are {persona.name}.").strip()]

    def section(title: str, body: str) -> None:
        if body.strip():
            parts.append(f"## {title}\n{body.strip()}")

    section(f"Who you are: {persona.name}", str(card.get("description") or ""))
    section("Your personality", str(card.get("personality") or ""))
    section("About the user", "\n".join(
        [str(card.get("scenario") or "").strip(), *_personal_lines(persona.personalization)]))
    section("What you know", "\n".join(_knowledge_lines(persona.knowledge)))
    section("How you talk (examples)", str(card.get("mes_example") or ""))
    return "\n\n".join(parts)


def memory_section(memories: Sequence[RetrievedMemory]) -> str:
    """The memories of a turn as the system message lists them ("" when there are none)."""
    if not memories:
        return ""
    lines = [f"- ({_day(m.ts)}) {' '.join(m.text.split())}" for m in memories]
    return "## What you remember that may matter now\n" + "\n".join(lines)


@dataclass
class PromptParts:
    """The messages sent for one turn, and what went into them."""

    messages: list[dict[str, str]]
    memory_ids: list[str]
    tokens: int
    #: earlier messages left out because the context budget was full
    dropped: int = 0


def build_messages(persona: Persona, memories: Sequence[RetrievedMemory],
                   history: Sequence[dict[str, str]], user_text: str, *, context_tokens: int) -> PromptParts:
    """The messages for a turn: one system message, the newest earlier turns that fit, the new message.

    ``history`` holds ``{"role": "user"|"assistant", "content": ...}`` oldest first. Memories come first in
    the budget after the instructions; if even those and the new message exceed ``context_tokens``, the
    memories are dropped before anything else (the endpoint then says whether the rest fits)."""
    fixed = instructions(persona)
    recalled = memory_section(memories)
    system = f"{fixed}\n\n{recalled}" if recalled else fixed
    budget = context_tokens - REPLY_RESERVE - estimate_tokens(user_text)
    used_ids = [m.id for m in memories]
    if estimate_tokens(system) > budget and recalled:
        system, used_ids = fixed, []
    left = budget - estimate_tokens(system)
    kept: list[dict[str, str]] = []
    for message in reversed(history):
        cost = estimate_tokens(message["content"]) + 4
        if cost > left:
            break
        kept.append({"role": message["role"], "content": message["content"]})
        left -= cost
    kept.reverse()
    messages = [{"role": "system", "content": system}, *kept, {"role": "user", "content": user_text}]
    tokens = sum(estimate_tokens(m["content"]) + 4 for m in messages)
    return PromptParts(messages, used_ids, tokens, dropped=len(history) - len(kept))
