"""Talk's small pure parts: endpoint URLs, the settings file, query words, token estimates, error bodies,
and the API key in a memory-only store."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from tzbackup_gui.credentials import CredentialStore
from tzbackup_gui.talk import (
    EndpointSettings,
    TalkSettingsError,
    load_settings,
    normalize_base_url,
    save_settings,
)
from tzbackup_gui.talk.endpoint import (
    ContextTooLongError,
    EndpointAnswerError,
    EndpointAuthError,
    ModelNotFoundError,
    _raise_for,
)
from tzbackup_gui.talk.retrieval import estimate_tokens, query_terms


@pytest.mark.parametrize(("given", "expected"), [
    ("http://localhost:11434", "http://localhost:11434/v1"),
    ("http://localhost:1234/v1/", "http://localhost:1234/v1"),
    (" https://api.example.org/openai/v1 ", "https://api.example.org/openai/v1"),
])
def test_base_urls(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


@pytest.mark.parametrize("bad", ["localhost:11434", "ftp://x.org", "http://", "http://h/v1?x=1",
                                 "https://api.shapes.inc/v1", "https://SHAPES.INC./v1", "http://shapes.inc"])
def test_bad_base_urls(bad: str) -> None:
    with pytest.raises(TalkSettingsError):
        normalize_base_url(bad)


def test_settings_round_trip_private_and_tolerant(tmp_path: Path) -> None:
    assert not load_settings(tmp_path).configured
    path = save_settings(tmp_path, EndpointSettings("http://127.0.0.1:8080", "llama", True, 4096, 800))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.parent.name == "talk"
    loaded = load_settings(tmp_path)
    assert loaded == EndpointSettings("http://127.0.0.1:8080/v1", "llama", True, 4096, 800)
    path.write_text('{"base_url": 5, "model": "m", "context_tokens": true, "memory_tokens": 99999}')
    odd = load_settings(tmp_path)
    assert odd.base_url == "" and odd.model == "m" and odd.context_tokens == 8192
    assert odd.memory_tokens == 8192 // 2
    path.write_text("{not json")
    assert load_settings(tmp_path) == EndpointSettings()


def test_query_terms_and_tokens() -> None:
    assert query_terms("Do you remember the Café in Zoë's town, 2024? The café!") == [
        "remember", "cafe", "zoe", "town"]
    assert estimate_tokens("") == 0 and estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2


def _response(status: int, body: bytes, content_type: str = "application/json") -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    return httpx.Response(status, content=body, headers={"content-type": content_type}, request=request)


@pytest.mark.parametrize(("status", "body", "error"), [
    (401, b'{"error": {"message": "bad key", "code": "invalid_api_key"}}', EndpointAuthError),
    (404, b'{"error": {"message": "model \\"llama9\\" not found, try pulling it"}}', ModelNotFoundError),
    (400, b'{"error": "the request exceeds the available context size"}', ContextTooLongError),
    (400, b'{"error": {"message": "x", "code": "context_length_exceeded"}}', ContextTooLongError),
    (404, b"404 page not found", EndpointAnswerError),
    (502, b"<html>Bad gateway</html>", EndpointAnswerError),
])
def test_error_bodies_of_openai_ollama_and_llama_cpp(status: int, body: bytes, error: type) -> None:
    with pytest.raises(error):
        _raise_for(_response(status, body), body, "llama9")


def test_api_key_memory_only_store() -> None:
    store = CredentialStore(memory_only=True)
    assert store.load_api_key("http://h/v1") is None
    assert "session" in store.save_api_key("http://h/v1/", "k1")
    assert store.load_api_key("http://h/v1") == "k1"
    store.delete_api_key("http://h/v1")
    assert store.load_api_key("http://h/v1") is None


def test_talk_never_builds_a_client_for_shapes_inc() -> None:
    """Offline means offline, even when endpoint.json was edited by hand past the settings' check."""
    import httpx

    from tzbackup_gui.talk import ChatEndpoint, TalkError

    with pytest.raises(TalkError, match=r"never contacts shapes\.inc"):
        ChatEndpoint(httpx.AsyncClient(), "https://api.shapes.inc/v1")
    assert normalize_base_url("https://notshapes.inc/v1") == "https://notshapes.inc/v1"
