"""Shared fixtures for every test directory: headless Qt, and a fresh sandbox service per test.

Async code is driven with ``asyncio.run`` inside tests (no pytest-asyncio here).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import httpx
import pytest

from tzbackup_gui.sandbox import SESSION_COOKIE, SandboxServer


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox on an ephemeral 127.0.0.1 port (seed 1, no cookie rotation); stopped afterwards."""
    with SandboxServer(port=0, seed=1) as sb:
        yield sb


@pytest.fixture
def sandbox_headers(sandbox: SandboxServer) -> dict[str, str]:
    """Request headers carrying the sandbox's current session cookie."""
    return {"Cookie": f"{SESSION_COOKIE}={sandbox.cookie}", "Accept": "application/json"}


@pytest.fixture
def sandbox_http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """A plain synchronous httpx client for the sandbox, *without* credentials (pass them per request)."""
    with httpx.Client(base_url=sandbox.base_url, timeout=10.0) as client:
        yield client
