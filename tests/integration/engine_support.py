"""Helpers of the engine integration tests: a fresh sandbox, a real client over loopback, disk checks."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tzbackup_gui.archive.layout import personalities_root
from tzbackup_gui.backup import BackupEngine, BackupOptions, RunReport
from tzbackup_gui.events import BackupEvent
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.service import Pacer, RetryPolicy, ShapesClient
from tzbackup_gui.service.auth import SessionCredential

MEMORY_PATH = "/api/memory/"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0, seed=1) as sb:
        yield sb


def fast_retry() -> RetryPolicy:
    """Retries with tiny backoffs, so storm tests stay fast."""
    fields = RetryPolicy.__dataclass_fields__ if hasattr(RetryPolicy, "__dataclass_fields__") else {}
    kwargs: dict[str, Any] = {}
    for name, value in (
        ("base_delay", 0.01),
        ("backoff_base", 0.01),
        ("max_delay", 0.05),
        ("max_backoff", 0.05),
        ("retry_after_cap", 3.0),
        ("jitter", 0.0),
    ):
        if name in fields:
            kwargs[name] = value
    return RetryPolicy(**kwargs)


class Runner:
    """Runs backups against one sandbox into one data dir and remembers the events."""

    def __init__(self, sandbox: SandboxServer, data_dir: Path) -> None:
        self.sb = sandbox
        self.data_dir = data_dir
        self.events: list[BackupEvent] = []
        self.cookie: str | None = None
        self._watchers: list[tuple[Callable[[BackupEvent], bool], asyncio.Event]] = []

    def when(self, predicate: Callable[[BackupEvent], bool]) -> asyncio.Event:
        """Set as soon as a progress event matching ``predicate`` is emitted (call inside the loop)."""
        flag = asyncio.Event()
        self._watchers.append((predicate, flag))
        return flag

    def _on_event(self, event: BackupEvent) -> None:
        self.events.append(event)
        for predicate, flag in self._watchers:
            if predicate(event):
                flag.set()

    async def arun(
        self,
        slugs: Sequence[str] | None,
        *,
        cookie: str | None = None,
        retry: RetryPolicy | None = None,
        **options: Any,
    ) -> RunReport:
        credential = SessionCredential.from_value(cookie or self.cookie or self.sb.cookie)
        async with httpx.AsyncClient(timeout=10) as http:
            client = ShapesClient(
                http,
                credential,
                base_url=self.sb.base_url,
                files_base_url=self.sb.files_base_url,
                pacer=Pacer(delay=0),
                retry=retry or fast_retry(),
                on_event=self._on_event,
            )
            engine = BackupEngine(
                client, self.data_dir, options=BackupOptions(**options), on_event=self._on_event
            )
            self.engine = engine
            return await engine.run(None if slugs is None else list(slugs))

    def run(self, slugs: Sequence[str] | None, **kwargs: Any) -> RunReport:
        self.sb.state.clear_log()
        return asyncio.run(self.arun(slugs, **kwargs))

    def memory_requests(self) -> int:
        return self.sb.state.count(MEMORY_PATH)

    def memory_pages(self) -> list[int]:
        return [
            int(r.query.get("page", "1")) for r in self.sb.state.request_log if r.path.startswith(MEMORY_PATH)
        ]

    def folder(self, name: str) -> Path:
        return personalities_root(self.data_dir) / name

    def metadata(self, name: str) -> dict[str, Any]:
        data = json.loads((self.folder(name) / ".backup-metadata.json").read_text("utf-8"))
        assert isinstance(data, dict)
        return data


def stored(folder: Path) -> list[dict[str, Any]]:
    """Every memory in the chunk files, in file order (asserting the numbering has no holes)."""
    memory_dir = folder / "memory"
    names = sorted(p.name for p in memory_dir.glob(f"{folder.name}_memory_*.json"))
    out: list[dict[str, Any]] = []
    for n in range(1, len(names) + 1):
        data = json.loads((memory_dir / f"{folder.name}_memory_{n}.json").read_text("utf-8"))
        out.extend(data["memories"])
    return out


def stored_ids(folder: Path) -> list[str]:
    ids = [m["id"] for m in stored(folder)]
    assert len(ids) == len(set(ids)), "an id is stored twice"
    return ids


def upstream_ids(sandbox: SandboxServer, slug: str) -> list[str]:
    return [m["id"] for m in sandbox.state.personalities[slug].memories]


def max_pages(k: int) -> int:
    return math.ceil(k / 20) + 1
