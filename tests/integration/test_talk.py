"""Talk against the sandbox's made-up OpenAI-compatible endpoint, on a real backup made by the engine:
prompt assembly, streaming, stop, every endpoint error, nothing contacted but the endpoint, saved
conversations and their Markdown export."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import httpx
import pytest

from tests.integration.talk_support import (
    NEW_DESCRIPTION,
    OLD_DESCRIPTION,
    SLUG,
    Backed,
    run,
    start,
    unused_port,
)
from tzbackup_gui.sandbox.llm import reply_text
from tzbackup_gui.talk import (
    ChatEndpoint,
    ContextTooLongError,
    Conversation,
    EndpointAnswerError,
    EndpointAuthError,
    EndpointUnreachableError,
    ModelNotFoundError,
    TalkError,
    TalkSession,
    estimate_tokens,
    export_markdown,
    list_conversations,
)

QUESTION = "Do you remember the night market and the jazz music?"


def _system(backed: Backed) -> str:
    content = backed.llm.requests[-1]["messages"][0]
    assert content["role"] == "system"
    return str(content["content"])


# --- prompt assembly ---------------------------------------------------------------------------------------


def test_prompt_holds_the_current_profile_personalization_knowledge_and_memories(backed: Backed) -> None:
    async def go(http: httpx.AsyncClient) -> tuple[TalkSession, list[str], int]:
        session = await start(backed, http)
        result = await session.turn(QUESTION)
        await session.close()
        return session, [m.text for m in result.memories], sum(m.tokens for m in result.memories)

    session, texts, tokens = run(go)
    system = _system(backed)
    assert session.persona.version == 2 and "current" in session.persona.version_label
    assert system.startswith("You are Lilith")  # the shape's own system prompt comes first
    assert NEW_DESCRIPTION in system and OLD_DESCRIPTION not in system
    assert "Call the user: Sam" in system and "night market in Lisbon" in system  # personalization
    assert "## What you know" in system and "General note 1" in system  # knowledge entries
    assert texts, "the question shares words with many memories"
    for text in texts:
        assert " ".join(text.split()) in system
    assert 0 < tokens <= session.settings.memory_tokens
    last = backed.llm.requests[-1]["messages"][-1]
    assert last == {"role": "user", "content": QUESTION}
    assert backed.llm.requests[-1]["model"] == "sandbox-echo" and backed.llm.requests[-1]["stream"] is True


def test_an_earlier_profile_version_is_used_when_picked(backed: Backed) -> None:
    async def go(http: httpx.AsyncClient) -> TalkSession:
        session = await start(backed, http, version="v1")
        await session.turn("Hello there, old friend")
        await session.close()
        return session

    session = run(go)
    assert session.persona.version == 1
    system = _system(backed)
    assert OLD_DESCRIPTION in system and NEW_DESCRIPTION not in system


def test_a_version_that_does_not_exist_is_refused_before_any_request(backed: Backed) -> None:
    from tzbackup_gui.errors import ArchiveError

    with pytest.raises(ArchiveError, match="no profile version"):
        run(lambda http: start(backed, http, version="v9"))
    assert backed.sb.state.request_log == []


@pytest.mark.parametrize("budget", [0, 60, 300])
def test_memories_stay_within_the_token_budget(backed: Backed, budget: int) -> None:
    async def go(http: httpx.AsyncClient) -> list[int]:
        session = await start(backed, http, memory_tokens=budget)
        result = await session.turn(QUESTION)
        await session.close()
        assert result.prompt.memory_ids == [m.id for m in result.memories]
        return [m.tokens for m in result.memories]

    tokens = run(go)
    assert sum(tokens) <= budget
    assert (budget == 0) == (not tokens)


def test_earlier_turns_are_sent_and_the_oldest_dropped_when_the_context_is_full(backed: Backed) -> None:
    async def go(http: httpx.AsyncClient) -> tuple[int, int]:
        session = await start(backed, http, context_tokens=4000, memory_tokens=0)
        for n in range(6):
            await session.turn(f"Turn number {n}: " + "words " * 300)
        await session.close()
        messages = backed.llm.requests[-1]["messages"]
        return len(messages), sum(estimate_tokens(m["content"]) for m in messages)

    count, tokens = run(go)
    assert 2 < count < 12  # some earlier turns, not all eleven
    assert tokens <= 4000
    first = backed.llm.requests[1]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant", "user"]


# --- streaming and stop ------------------------------------------------------------------------------------


def test_the_reply_streams_in_pieces_and_is_saved(backed: Backed) -> None:
    pieces: list[str] = []

    async def go(http: httpx.AsyncClient) -> TalkSession:
        session = await start(backed, http)
        await session.turn(QUESTION, on_delta=pieces.append)
        await session.close()
        return session

    session = run(go)
    assert len(pieces) > 10
    expected = reply_text("sandbox-echo", backed.llm.requests[-1]["messages"])
    assert "".join(pieces) == expected
    reply = session.conversation.messages[-1]
    assert reply.role == "assistant" and reply.content == expected and not reply.stopped


def test_stop_cancels_the_stream_and_keeps_what_came(backed: Backed) -> None:
    backed.llm.chunk_delay = 0.05
    pieces: list[str] = []

    async def go(http: httpx.AsyncClient) -> TalkSession:
        session = await start(backed, http)
        three = asyncio.Event()

        def on_delta(piece: str) -> None:
            pieces.append(piece)
            if len(pieces) == 3:
                three.set()

        task = asyncio.create_task(session.turn(QUESTION, on_delta=on_delta))
        await asyncio.wait_for(three.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await session.close()
        return session

    session = run(go)
    reply = session.conversation.messages[-1]
    assert reply.stopped and reply.content == "".join(pieces) and reply.content
    expected = reply_text("sandbox-echo", backed.llm.requests[-1]["messages"])
    assert len(reply.content) < len(expected)
    for _ in range(100):  # the server notices the closed connection at its next write
        if backed.llm.streams_cut:
            break
        asyncio.run(asyncio.sleep(0.02))
    assert backed.llm.streams_cut == 1


# --- endpoint errors ---------------------------------------------------------------------------------------


def _turn_error(backed: Backed, **kwargs: object) -> TalkError:
    async def go(http: httpx.AsyncClient) -> TalkError:
        session = await start(backed, http, **kwargs)  # type: ignore[arg-type]
        try:
            with pytest.raises(TalkError) as info:
                await session.turn(QUESTION)
        finally:
            await session.close()
        failed = session.conversation.messages[-1]
        assert failed.role == "assistant" and failed.error == info.value.message
        return info.value

    return run(go)


def test_401_without_the_api_key_and_success_with_it(backed: Backed) -> None:
    backed.llm.api_key = "sk-test-123"
    err = _turn_error(backed)
    assert isinstance(err, EndpointAuthError) and "401" in str(err) and err.hint

    async def go(http: httpx.AsyncClient) -> str:
        session = await start(backed, http, api_key="sk-test-123")
        result = await session.turn(QUESTION)
        await session.close()
        return result.reply.content

    assert run(go).startswith("You said")
    shown = repr(ChatEndpoint(httpx.AsyncClient(), backed.endpoint_url, api_key="sk-test-123"))
    assert "sk-test-123" not in shown


def test_unknown_model(backed: Backed) -> None:
    err = _turn_error(backed, model="no-such-model")
    assert isinstance(err, ModelNotFoundError) and "no-such-model" in str(err)


def test_context_too_long(backed: Backed) -> None:
    backed.llm.context_chars = 2000
    err = _turn_error(backed)
    assert isinstance(err, ContextTooLongError) and "too long" in str(err)


@pytest.mark.parametrize("fault", ["html", "garbage", "server_error"])
def test_answers_that_are_not_the_api(backed: Backed, fault: str) -> None:
    backed.llm.fault = fault
    err = _turn_error(backed)
    assert isinstance(err, EndpointAnswerError)
    if fault == "html":
        assert "web page" in str(err)


def test_unreachable_endpoint(backed: Backed) -> None:
    port = unused_port()

    async def go(http: httpx.AsyncClient) -> None:
        endpoint = ChatEndpoint(http, f"http://127.0.0.1:{port}/v1")
        session = await TalkSession.start(backed.data_dir, backed.folder(), endpoint, backed.settings())
        try:
            await session.turn(QUESTION)
        finally:
            await session.close()

    with pytest.raises(EndpointUnreachableError, match="Cannot reach"):
        run(go)


def test_list_models_and_its_errors(backed: Backed) -> None:
    port = unused_port()
    assert run(lambda http: ChatEndpoint(http, backed.endpoint_url).list_models()) == [
        "sandbox-echo", "sandbox-echo-large"]
    backed.llm.api_key = "k"
    with pytest.raises(EndpointAuthError):
        run(lambda http: ChatEndpoint(http, backed.endpoint_url).list_models())
    with pytest.raises(EndpointUnreachableError):
        run(lambda http: ChatEndpoint(http, f"http://127.0.0.1:{port}/v1").list_models())
    with pytest.raises(EndpointAnswerError, match=r"no chat API|HTTP 404"):
        run(lambda http: ChatEndpoint(http, f"{backed.sb.base_url}/v2", api_key="k").list_models())


def test_an_api_key_is_never_sent_in_the_clear_to_another_machine() -> None:
    with pytest.raises(TalkError, match="https"):
        ChatEndpoint(httpx.AsyncClient(), "http://192.0.2.1:11434/v1", api_key="secret")


# --- nothing but the endpoint ------------------------------------------------------------------------------


def test_nothing_but_the_configured_endpoint_is_contacted(backed: Backed) -> None:
    async def go(http: httpx.AsyncClient) -> None:
        await ChatEndpoint(http, backed.endpoint_url).list_models()
        session = await start(backed, http)
        for text in (QUESTION, "And the lighthouse?", "Goodbye"):
            await session.turn(text)
        await session.close()

    run(go)
    paths = [r.path for r in backed.sb.state.request_log]
    assert paths.count("/v1/chat/completions") == 3 and paths.count("/v1/models") == 1
    assert all(p.startswith("/v1/") for p in paths), paths
    assert not [p for p in paths if p.startswith(("/api/", "/files/"))]


def test_nothing_is_contacted_until_an_endpoint_is_set_up(backed: Backed) -> None:
    from tzbackup_gui.talk import EndpointSettings

    async def go(http: httpx.AsyncClient) -> TalkSession:
        endpoint = ChatEndpoint(http, backed.endpoint_url)
        return await TalkSession.start(backed.data_dir, backed.folder(), endpoint, EndpointSettings())

    with pytest.raises(TalkError, match="No chat endpoint"):
        run(go)
    assert backed.sb.state.request_log == []


# --- conversations on disk ---------------------------------------------------------------------------------


def test_conversation_is_saved_privately_apart_from_the_backup_and_exports_markdown(
        backed: Backed, tmp_path: Path) -> None:
    async def go(http: httpx.AsyncClient) -> TalkSession:
        session = await start(backed, http)
        await session.turn(QUESTION)
        await session.turn("Tell me about the lighthouse")
        await session.close()
        return session

    session = run(go)
    path = session.conversation.path
    assert path.parent == backed.data_dir / "talk" / SLUG
    assert path in list_conversations(backed.data_dir, SLUG)
    backup = backed.data_dir / "personalities"
    assert not [p for p in backup.rglob("*") if session.conversation.id in p.name]  # never in the backup
    assert not (backup / SLUG / "chat").exists() or not list((backup / SLUG / "chat").glob("*talk*"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["profileVersion"] == 2
    assert [r["role"] for r in lines[1:]] == ["user", "assistant", "user", "assistant"]
    assert lines[2]["memories"] == session.conversation.messages[1].memories

    again = Conversation(backed.data_dir, SLUG, session.conversation.id)
    assert [m.content for m in again.messages] == [m.content for m in session.conversation.messages]

    out = export_markdown(again, tmp_path)
    text = out.read_text("utf-8")
    assert text.startswith("# Talk with Lilith")
    assert QUESTION in text and "## You" in text and "## Lilith" in text
    assert "Memories given for this reply" in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_saved_conversation_continues_with_its_history(backed: Backed) -> None:
    async def first(http: httpx.AsyncClient) -> str:
        session = await start(backed, http)
        await session.turn("Remember the word pineapple")
        await session.close()
        return session.conversation.id

    conversation_id = run(first)

    async def second(http: httpx.AsyncClient) -> None:
        endpoint = ChatEndpoint(http, backed.endpoint_url)
        session = await TalkSession.start(backed.data_dir, backed.folder(), endpoint, backed.settings(),
                                          conversation_id=conversation_id)
        await session.turn("Which word was it?")
        await session.close()

    run(second)
    messages = backed.llm.requests[-1]["messages"]
    assert messages[1] == {"role": "user", "content": "Remember the word pineapple"}
    assert len(messages) == 4
