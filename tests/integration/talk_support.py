"""Shared by the Talk tests: a real backup of a personality made by the engine from the sandbox, with two
profile versions, and a Talk session against the sandbox's made-up chat endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.integration.engine_support import Runner
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.sandbox.llm import LlmState, llm_state
from tzbackup_gui.talk import ChatEndpoint, EndpointSettings, TalkSession

T = TypeVar("T")
SLUG = "lilith"
OLD_DESCRIPTION = "Lilith was created to talk about tide pools, before the first edit."
NEW_DESCRIPTION = "Lilith talks about lighthouses now, after the edit."


class Backed:
    """A sandbox (kept running: it is also the chat endpoint) and the data dir holding its backup."""

    def __init__(self, sandbox: SandboxServer, data_dir: Path) -> None:
        self.sb = sandbox
        self.data_dir = data_dir

    @property
    def llm(self) -> LlmState:
        return llm_state(self.sb.state)

    @property
    def endpoint_url(self) -> str:
        return f"{self.sb.base_url}/v1"

    def settings(self, **changes: object) -> EndpointSettings:
        settings = EndpointSettings(base_url=self.endpoint_url, model="sandbox-echo")
        for name, value in changes.items():
            setattr(settings, name, value)
        return settings

    def folder(self) -> Path:
        return self.data_dir / "personalities" / SLUG

    def reset(self) -> None:
        """Faults off, logs empty (the backup itself is shared by the tests of a module)."""
        llm = self.llm
        llm.api_key, llm.fault, llm.chunk_delay = None, None, 0.0
        llm.context_chars = 32_000
        llm.requests.clear()
        llm.streams_cut = 0
        self.sb.state.clear_log()


def make_backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backed]:
    """Back up Lilith (2,600 memories, knowledge, personalization), change her description, back up again:
    two profile versions."""
    with SandboxServer(port=0, seed=1) as sb:
        data_dir = tmp_path_factory.mktemp("talk") / "data"
        runner = Runner(sb, data_dir)
        sb.state.edit_profile(SLUG, {"description": OLD_DESCRIPTION})
        assert runner.run([SLUG]).exit_code == 0
        sb.state.edit_profile(SLUG, {"description": NEW_DESCRIPTION})
        assert runner.run([SLUG]).exit_code == 0
        backed = Backed(sb, data_dir)
        backed.reset()
        yield backed


def run(coro_factory: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run ``coro_factory(http)`` on a fresh loop with a fresh client."""
    async def main() -> T:
        async with httpx.AsyncClient() as http:
            return await coro_factory(http)

    return asyncio.run(main())


async def start(backed: Backed, http: httpx.AsyncClient, *, api_key: str | None = None,
                version: str | None = None, **changes: object) -> TalkSession:
    endpoint = ChatEndpoint(http, backed.endpoint_url, api_key=api_key)
    return await TalkSession.start(backed.data_dir, backed.folder(), endpoint, backed.settings(**changes),
                                   version=version)


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
