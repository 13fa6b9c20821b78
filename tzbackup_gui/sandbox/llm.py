"""A made-up OpenAI-compatible chat endpoint under ``/v1/``, for Talk's demo and tests (no model at all).

``GET /v1/models`` lists :data:`DEMO_MODELS`; ``POST /v1/chat/completions`` answers with a deterministic
reply built from the last user message and the system prompt (:func:`reply_text`), whole or, with
``"stream": true``, as Server-Sent Events in chunked transfer encoding, the way OpenAI, Ollama, LM Studio and
llama.cpp's server send them. Every chat request body is kept (:attr:`LlmState.requests`) so tests can check
exactly what prompt a client assembled.

Faults, set on :func:`llm_state` of a running sandbox (they stay until changed):

* ``api_key``: when set, a request without ``Authorization: Bearer <it>`` answers 401 ``invalid_api_key``;
* a model not in ``models`` answers 404 ``model_not_found``;
* a prompt longer than ``context_chars`` characters answers 400 ``context_length_exceeded``;
* ``chunk_delay``: seconds between streamed chunks (a slow model, to stop a turn half-way);
* ``fault``: ``"html"`` (a 200 HTML page, as a captive portal or a web UI on the wrong port sends),
  ``"garbage"`` (200 JSON that does not parse / SSE lines that are not JSON), ``"server_error"`` (500).

Requests are logged in the sandbox's ``request_log`` like every other, so a test can assert that a client
talked to nothing but this endpoint.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from .response import Response, html_response, json_bytes, json_response
from .state import SandboxState

__all__ = ["DEMO_MODEL", "DEMO_MODELS", "LLM_PREFIX", "LlmState", "LlmStream", "answer_llm", "llm_base_url",
           "llm_state", "reply_text"]

JSON = dict[str, Any]
#: where the endpoint lives on the sandbox (the base URL a client is configured with ends in ``/v1``)
LLM_PREFIX = "/v1/"
DEMO_MODELS = ("sandbox-echo", "sandbox-echo-large")
#: the model the demo talks to
DEMO_MODEL = DEMO_MODELS[0]
#: roughly 8k tokens at ~4 characters a token
DEFAULT_CONTEXT_CHARS = 32_000
_CREATED = 1_767_225_600  # fixed, so answers are byte-for-byte repeatable


@dataclass
class LlmState:
    """What the fake endpoint serves and which faults are on (thread-safe through ``lock``)."""

    models: list[str] = field(default_factory=lambda: list(DEMO_MODELS))
    api_key: str | None = None
    context_chars: int = DEFAULT_CONTEXT_CHARS
    chunk_delay: float = 0.0
    fault: str | None = None
    #: every chat request body received, oldest first
    requests: list[JSON] = field(default_factory=list)
    #: streams the client hung up on before the end (a stopped turn)
    streams_cut: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def llm_base_url(sandbox_base_url: str) -> str:
    """The base URL a chat client is configured with to reach the endpoint of the sandbox at
    ``sandbox_base_url``."""
    return sandbox_base_url + LLM_PREFIX.rstrip("/")


_STATES: weakref.WeakKeyDictionary[SandboxState, LlmState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def llm_state(state: SandboxState) -> LlmState:
    """The fake endpoint's state of one sandbox (made on first use)."""
    with _STATES_LOCK:
        found = _STATES.get(state)
        if found is None:
            found = _STATES[state] = LlmState()
        return found


@dataclass
class LlmStream:
    """A streamed answer: SSE events written one chunk at a time, ``delay`` seconds apart (by the server,
    which owns the socket)."""

    events: list[bytes]
    delay: float
    llm: LlmState


def _error(status: int, message: str, code: str, kind: str = "invalid_request_error") -> Response:
    return json_response(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of an OpenAI content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def reply_text(model: str, messages: list[Any]) -> str:
    """The deterministic reply: quotes the last user message and says how long the system prompt was."""
    system = "\n".join(_text_of(m.get("content")) for m in messages
                       if isinstance(m, dict) and m.get("role") == "system")
    users = [_text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    last = " ".join(users[-1].split()) if users else ""
    first_line = next((line.strip() for line in system.splitlines() if line.strip()), "")
    if len(first_line) > 60:  # cut at a word, with an ellipsis, never mid-word
        first_line = first_line[:60].rsplit(" ", 1)[0] + "…"
    return (f"You said “{last}”. I'm the sandbox's made-up model {model}: I only echo, and my "
            f"instructions ({len(system)} characters) begin “{first_line}”. "
            f"Point Talk at a real model (Ollama, LM Studio, llama.cpp) for real answers.")


def _pieces(text: str) -> list[str]:
    """The reply cut into word-sized deltas (with their spaces), as a model streams tokens."""
    out: list[str] = []
    for word in text.split(" "):
        out.append(word if not out else " " + word)
    return out


def _sse(payload: JSON | str) -> bytes:
    data = payload if isinstance(payload, str) else json_bytes(payload).decode("utf-8")
    return f"data: {data}\n\n".encode()


def _chunk(model: str, delta: JSON, finish: str | None) -> JSON:
    return {"id": "chatcmpl-sandbox", "object": "chat.completion.chunk", "created": _CREATED, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _models(llm: LlmState) -> Response:
    data = [{"id": m, "object": "model", "created": _CREATED, "owned_by": "tzbackup-sandbox"}
            for m in llm.models]
    return json_response(200, {"object": "list", "data": data})


def _chat(llm: LlmState, body: bytes) -> Response | LlmStream:
    try:
        request = json.loads(body or b"null")
    except ValueError:
        return _error(400, "The request body is not JSON.", "invalid_json")
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
        return _error(400, "'messages' is required.", "invalid_request")
    llm.requests.append(request)
    model = str(request.get("model") or "")
    if model not in llm.models:
        return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                      "model_not_found")
    messages = request["messages"]
    size = sum(len(_text_of(m.get("content"))) for m in messages if isinstance(m, dict))
    if size > llm.context_chars:
        limit = f"This model's maximum context length is {llm.context_chars // 4} tokens."
        return _error(400, f"{limit} However, your messages resulted in {size // 4} tokens.",
                      "context_length_exceeded")
    text = reply_text(model, messages)
    if not request.get("stream"):
        return json_response(200, {
            "id": "chatcmpl-sandbox", "object": "chat.completion", "created": _CREATED, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": size // 4, "completion_tokens": len(text) // 4,
                      "total_tokens": (size + len(text)) // 4}})
    if llm.fault == "garbage":
        return LlmStream([b"data: {not json\n\n", _sse("[DONE]")], llm.chunk_delay, llm)
    events = [_sse(_chunk(model, {"role": "assistant", "content": ""}, None))]
    events += [_sse(_chunk(model, {"content": piece}, None)) for piece in _pieces(text)]
    events += [_sse(_chunk(model, {}, "stop")), _sse("[DONE]")]
    return LlmStream(events, llm.chunk_delay, llm)


def answer_llm(state: SandboxState, method: str, path: str, authorization: str, body: bytes
               ) -> Response | LlmStream:
    """The answer to one request under :data:`LLM_PREFIX` (logged in ``state.request_log``)."""
    record = state.begin_request(method, path, {}, raw_path=path)
    llm = llm_state(state)
    with llm.lock:
        resp = _answer(llm, method, path.rstrip("/"), authorization, body)
    record.status = 200 if isinstance(resp, LlmStream) else resp.status
    record.fault = llm.fault
    return resp


def _answer(llm: LlmState, method: str, path: str, authorization: str, body: bytes) -> Response | LlmStream:
    if llm.fault == "html":
        return html_response(200, "<!doctype html><html><head><title>Sign in</title></head>"
                                  "<body><h1>Welcome</h1></body></html>")
    if llm.fault == "server_error":
        return _error(500, "The server had an error while processing your request.", "server_error",
                      "server_error")
    if llm.api_key is not None and authorization != f"Bearer {llm.api_key}":
        return _error(401, "Incorrect API key provided.", "invalid_api_key")
    if path == "/v1/models" and method == "GET":
        return _models(llm)
    if path == "/v1/chat/completions" and method == "POST":
        if llm.fault == "garbage" and b'"stream":true' not in body.replace(b" ", b""):
            return Response(200, b'{"choices": [', content_type="application/json")
        return _chat(llm, body)
    return _error(404, f"Unknown endpoint {method} {path}.", "unknown_url")
