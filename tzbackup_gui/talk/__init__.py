"""Talk: converse with a backed-up personality through any OpenAI-compatible chat endpoint (Qt-free).

The prompt is built only from the backup (profile version, personalization, knowledge, and per turn the
memories the full-text index finds); replies stream from the endpoint the user configured, and nothing else
is ever contacted (never shapes.inc). Conversations are saved under ``<data dir>/talk/``, apart from the
backups. Layer: beside ``backup/``; imports the archive, credentials and errors, never ``service/``.
"""

from __future__ import annotations

from .conversation import Conversation, TalkMessage, export_markdown, list_conversations
from .endpoint import (
    ChatEndpoint,
    ContextTooLongError,
    EndpointAnswerError,
    EndpointAuthError,
    EndpointUnreachableError,
    ModelNotFoundError,
    TalkError,
)
from .prompt import Persona, PromptParts, build_messages, load_persona
from .retrieval import MemoryRetriever, RetrievedMemory, estimate_tokens
from .session import TalkSession, TurnResult, find_personality
from .settings import EndpointSettings, TalkSettingsError, load_settings, normalize_base_url, save_settings

__all__ = [
    "ChatEndpoint",
    "ContextTooLongError",
    "Conversation",
    "EndpointAnswerError",
    "EndpointAuthError",
    "EndpointSettings",
    "EndpointUnreachableError",
    "MemoryRetriever",
    "ModelNotFoundError",
    "Persona",
    "PromptParts",
    "RetrievedMemory",
    "TalkError",
    "TalkMessage",
    "TalkSession",
    "TalkSettingsError",
    "TurnResult",
    "build_messages",
    "estimate_tokens",
    "export_markdown",
    "find_personality",
    "list_conversations",
    "load_persona",
    "load_settings",
    "normalize_base_url",
    "save_settings",
]
