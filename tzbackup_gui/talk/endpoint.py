"""A small client of an OpenAI-compatible chat endpoint (Ollama, LM Studio, llama.cpp, a hosted one).

Two calls: :meth:`ChatEndpoint.list_models` (``GET /models``) and :meth:`ChatEndpoint.stream_chat`
(``POST /chat/completions`` with ``"stream": true``), over the one ``httpx.AsyncClient`` the caller owns.
Nothing but the configured base URL is ever contacted: no redirect is followed (httpx's default) and no
cookie is sent. Stopping a turn is cancelling the task that iterates the stream: leaving the ``async with``
closes the response, so the server sees the connection go.

Every failure a user must tell apart is its own exception, with a plain message::

    TalkError
    ├── EndpointUnreachableError   nothing answers at the URL (refused, DNS, timeout)
    ├── EndpointAuthError          401 / 403: no API key, or a wrong one
    ├── ModelNotFoundError         the server does not have that model
    ├── ContextTooLongError        the prompt is longer than the model's context
    └── EndpointAnswerError        an HTML page, garbage, or another error status
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from ..errors import TzBackupError
from ..model.urls import is_loopback, is_shapes_host

__all__ = [
    "ChatEndpoint",
    "ContextTooLongError",
    "EndpointAnswerError",
    "EndpointAuthError",
    "EndpointUnreachableError",
    "ModelNotFoundError",
    "TalkError",
]

Message = dict[str, str]
#: a model loading into memory can take minutes before its first token; connecting should not
TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=30.0, pool=10.0)
_CONTEXT_WORDS = re.compile(r"context.?(length|window|size)|too (long|many tokens)|maximum context|"
                            r"exceeds? the (available )?context", re.IGNORECASE)


class TalkError(TzBackupError):
    """Talk could not get a reply from the chat endpoint."""


class EndpointUnreachableError(TalkError):
    """Nothing answers at the endpoint's URL."""

    hint = "Is the model server running (for example `ollama serve`), and is the URL right?"


class EndpointAuthError(TalkError):
    """The endpoint refused the request for want of a (right) API key."""

    hint = "Set the endpoint's API key in Talk's endpoint settings (or `tzbackup talk NAME --store-api-key`)."


class ModelNotFoundError(TalkError):
    """The endpoint does not have the model asked for."""

    hint = "Pick one of the server's models (for Ollama: `ollama pull <model>` first)."


class ContextTooLongError(TalkError):
    """The prompt does not fit into the model's context window."""

    hint = "Lower the context or memory budget in Talk's endpoint settings, or start a new conversation."


class EndpointAnswerError(TalkError):
    """The endpoint answered, but not as an OpenAI-compatible API does."""

    hint = "Check that the URL is the API's (it usually ends in /v1), not a web page."


def _error_text(body: bytes) -> tuple[str, str]:
    """``(message, code)`` of an error body in the OpenAI form (``{"error": {...}}``) or the simpler ones
    Ollama and llama.cpp send; the raw start of the body when it is not JSON."""
    try:
        data = json.loads(body)
    except ValueError:
        return " ".join(body[:200].decode("utf-8", "replace").split()), ""
    err = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(err, dict):
        code = err.get("code") or err.get("type") or ""
        return str(err.get("message") or err.get("detail") or ""), str(code)
    return str(err)[:200], ""


def _is_html(response: httpx.Response) -> bool:
    return "html" in response.headers.get("content-type", "").lower()


def _raise_for(response: httpx.Response, body: bytes, model: str) -> None:
    """Turn an answer that is not a usable API answer into the right :class:`TalkError`."""
    where = str(response.request.url)
    if _is_html(response):
        raise EndpointAnswerError(f"{where} answered with a web page (HTTP {response.status_code}), not the "
                                  "chat API.")
    if response.status_code < 400:
        return
    message, code = _error_text(body)
    message = message.rstrip(" .")  # our sentences end with their own full stop, not "tokens.."
    said = f": {message}" if message else ""
    status = response.status_code
    if status in (401, 403):
        raise EndpointAuthError(f"The endpoint refused the request (HTTP {status}){said}.")
    if code == "model_not_found" or (status == 404 and model and "model" in message.lower()):
        raise ModelNotFoundError(f"The endpoint has no model “{model}”{said}.")
    if code == "context_length_exceeded" or (status in (400, 413) and _CONTEXT_WORDS.search(message)):
        raise ContextTooLongError(f"The conversation is too long for the model{said}.")
    if status == 404:
        raise EndpointAnswerError(f"There is no chat API at {where} (HTTP 404){said}.")
    raise EndpointAnswerError(f"The endpoint answered HTTP {status}{said}.")


def _json(response: httpx.Response, body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as err:
        raise EndpointAnswerError(f"{response.request.url} answered something that is not JSON.") from err


def _delta(event: Any, model: str) -> str:
    """The text of one streamed chunk (or of a whole completion, for servers that ignore ``stream``)."""
    if isinstance(event, dict) and "error" in event:
        message, code = _error_text(json.dumps(event).encode())
        message = message.rstrip(" .")
        if code == "context_length_exceeded" or _CONTEXT_WORDS.search(message):
            raise ContextTooLongError(f"The conversation is too long for the model: {message}.")
        raise EndpointAnswerError(f"The endpoint stopped with an error: {message or code}.")
    choices = event.get("choices") if isinstance(event, dict) else None
    if not isinstance(choices, list):
        raise EndpointAnswerError("The endpoint's answer has no 'choices': it is not an OpenAI-compatible "
                                  "chat API.")
    if not choices or not isinstance(choices[0], dict):
        return ""
    part = choices[0].get("delta") or choices[0].get("message") or {}
    content = part.get("content") if isinstance(part, dict) else None
    return content if isinstance(content, str) else ""


class ChatEndpoint:
    """One configured endpoint. ``http`` is the caller's client; this object never closes it."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, *, api_key: str | None = None) -> None:
        if is_shapes_host(base_url):  # a hand-edited endpoint.json: offline means offline
            raise TalkError(f"Talk never contacts shapes.inc ({base_url}).",
                            hint="Choose a model server of your own with --endpoint or Endpoint….")
        if api_key and not base_url.startswith("https://") and not is_loopback(base_url):
            raise TalkError("An API key is only sent over https (or to this machine): the endpoint "
                            f"{base_url} would carry it in the clear.",
                            hint="Use the server's https URL, or no API key.")
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None

    def __repr__(self) -> str:  # never the key
        return f"ChatEndpoint({self.base_url!r}, api_key={'set' if self._api_key else 'none'})"

    def _headers(self, *, stream: bool = False) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _unreachable(self, err: httpx.TransportError) -> EndpointUnreachableError:
        if isinstance(err, httpx.TimeoutException):
            return EndpointUnreachableError(f"The endpoint {self.base_url} did not answer in time.")
        return EndpointUnreachableError(f"Cannot reach the endpoint {self.base_url} "
                                        f"({type(err).__name__}).")

    async def list_models(self) -> list[str]:
        """The ids of the models the server offers."""
        try:
            response = await self.http.get(f"{self.base_url}/models", headers=self._headers(),
                                           timeout=TIMEOUT)
        except httpx.TransportError as err:
            raise self._unreachable(err) from err
        _raise_for(response, response.content, "")
        data = _json(response, response.content)
        items = data.get("data") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise EndpointAnswerError(f"{response.request.url} did not answer with a list of models.")
        return [str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id")]

    async def stream_chat(self, model: str, messages: list[Message], *,
                          temperature: float | None = None) -> AsyncGenerator[str, None]:
        """Yield the reply's text as it streams in. Cancel the iterating task to stop the turn."""
        payload: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
        if temperature is not None:
            payload["temperature"] = temperature
        try:
            async with self.http.stream("POST", f"{self.base_url}/chat/completions", json=payload,
                                        headers=self._headers(stream=True), timeout=TIMEOUT) as response:
                if response.status_code >= 400 or _is_html(response):
                    _raise_for(response, await response.aread(), model)
                if "event-stream" not in response.headers.get("content-type", ""):
                    # a server that ignored "stream": one whole completion
                    body = await response.aread()
                    yield _delta(_json(response, body), model)
                    return
                done = False
                async for line in response.aiter_lines():  # to the end, even after [DONE]: nothing left open
                    if done or not line.startswith("data:"):
                        continue  # blank separators, ": keep-alive" comments, "event:" names
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        continue
                    try:
                        event = json.loads(data)
                    except ValueError as err:
                        raise EndpointAnswerError("The endpoint streamed something that is not "
                                                  "JSON.") from err
                    text = _delta(event, model)
                    if text:
                        yield text
        except httpx.TransportError as err:
            raise self._unreachable(err) from err
