"""The sandbox's answer to one request, independent of the socket that carries it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Response", "html_response", "json_response"]


@dataclass
class Response:
    """What the HTTP layer should do: write ``status``/``headers``/``body``, or ``drop`` the connection.

    ``delay`` seconds are slept (outside every lock) before answering.
    """

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    drop: bool = False
    delay: float = 0.0
    #: the fault that shaped this answer, for the request log
    fault: str | None = None


def json_bytes(payload: Any) -> bytes:
    """Compact UTF-8 JSON, like the real API sends."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json_bytes(payload), list(headers or []))


def html_response(status: int, html: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, html.encode("utf-8"), list(headers or []),
                    content_type="text/html; charset=utf-8")
