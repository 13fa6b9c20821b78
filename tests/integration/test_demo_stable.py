"""The demo records no fake changes: the sandbox's port is not part of what it serves, so a second demo
backup (a new sandbox on another port, the same data dir) records no profile version, no chat edit and no
replaced picture (issue 14, "The demo records no fake changes")."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

import tzbackup_gui.sandbox as sandbox_pkg
from tzbackup_gui.archive.chat import CHAT_HISTORY_NAME
from tzbackup_gui.archive.profile_history import ProfileHistory
from tzbackup_gui.sandbox import SESSION_COOKIE, SandboxServer

from .cli_support import run_inprocess


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _served(sb: SandboxServer, slug: str) -> tuple[Any, Any]:
    """The profile and the newest chat batch of ``slug``, as a client gets them."""
    headers = {"Cookie": f"{SESSION_COOKIE}={sb.cookie}"}
    with httpx.Client(base_url=sb.base_url, headers=headers, timeout=10) as http:
        profile = http.get(f"/api/shapes/username/{slug}").json()
        chat = http.get(f"/api/shapes/{profile['id']}/chat/history", params={"limit": "50"}).json()
    return profile, chat


def test_stable_sandboxes_on_two_ports_serve_the_same_data() -> None:
    with (
        SandboxServer(port=0, seed=1, stable_urls=True) as a,
        SandboxServer(port=0, seed=1, stable_urls=True) as b,
    ):
        assert a.port != b.port
        for slug in ("lilith", "captain-nemo"):
            assert _served(a, slug) == _served(b, slug)
        profile, _ = _served(a, "captain-nemo")
        assert profile["avatar"].startswith("/files/api/files/") and profile["banner"].startswith("/files/")
        # the relative URL resolves under the files URL, and the files route serves it without a cookie
        assert (a.base_url + profile["avatar"]).startswith(a.files_base_url + "/")
        picture = httpx.get(a.base_url + profile["avatar"], timeout=10)
        assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")


def test_a_second_demo_backup_on_another_port_records_no_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = _free_ports(2)
    used: list[int] = []

    class PinnedPort(SandboxServer):
        """The demo's sandbox, on the next of two different ports."""

        def __init__(self, port: int = 0, seed: int = 1, **kwargs: Any) -> None:
            super().__init__(ports[len(used)], seed, **kwargs)
            used.append(self.port)

    monkeypatch.setattr(sandbox_pkg, "SandboxServer", PinnedPort)
    data = tmp_path / "demo-data"
    args = ["--demo", "--data-dir", str(data), "--delay", "0", "-q", "backup", "--all"]
    first = run_inprocess(capsys, monkeypatch, args)
    assert first.code == 0, first.err
    second = run_inprocess(capsys, monkeypatch, args)
    assert second.code == 0, second.err
    assert used == ports and ports[0] != ports[1]

    folders = sorted(p for p in (data / "personalities").iterdir() if p.is_dir())
    assert len(folders) >= 4
    for folder in folders:
        versions = ProfileHistory(folder).versions
        assert len(versions) == 1, f"{folder.name}: {[v.changes for v in versions]}"
        assert not (folder / CHAT_HISTORY_NAME).exists(), f"{folder.name}: chat 'edits' recorded"
        assert not (folder / "history" / "images").exists(), f"{folder.name}: a picture was 'replaced'"
