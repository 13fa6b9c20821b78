"""Shared fixtures for every test directory: headless Qt, a fresh sandbox service per test, and the Talk
tests' backup.

Async code is driven with ``asyncio.run`` inside tests (no pytest-asyncio here).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import httpx
import pytest
from hypothesis import settings

from tzbackup_gui.sandbox import SESSION_COOKIE, SandboxServer

if TYPE_CHECKING:
    from tests.integration.talk_support import Backed

# Property tests (Hypothesis): no per-example deadline (a loaded 2-core CI machine is slow, which is not a
# bug), and the seed printed with every failure so it can be replayed. TZBACKUP_HYPOTHESIS=thorough runs 20x
# the examples, for a look after changing one of the functions they cover.
settings.register_profile("default", deadline=None, print_blob=True)
settings.register_profile("thorough", deadline=None, print_blob=True, max_examples=2000)
settings.load_profile(os.environ.get("TZBACKUP_HYPOTHESIS", "default"))


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


@pytest.fixture(scope="module")
def module_backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backed]:
    """The Talk tests' backup (tests/integration/talk_support.py), made once for each test module."""
    from tests.integration.talk_support import make_backup

    yield from make_backup(tmp_path_factory)


@pytest.fixture
def backed(module_backup: Backed) -> Iterator[Backed]:
    """The module's Talk backup with the chat endpoint's faults off; the Talk endpoint a test saved is removed
    after it, so each test sets up its own."""
    module_backup.reset()
    yield module_backup
    (module_backup.data_dir / "talk" / "endpoint.json").unlink(missing_ok=True)
