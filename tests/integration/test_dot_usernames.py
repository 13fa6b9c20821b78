"""Usernames made of dots (``.``, ``..``, ``...``) and with dots (``a.b``) are legal upstream and must back up
like any other: the URL path segment is escaped so that no client or proxy resolves it as a path step, the
sandbox decodes it, and the folder name is safe and distinct. Over real loopback, engine and CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tzbackup_gui.archive import safe_folder_name, verify_backup
from tzbackup_gui.archive.layout import personalities_root, profile_file_name
from tzbackup_gui.sandbox import SESSION_COOKIE, SandboxServer
from tzbackup_gui.service import Pacer, ShapesClient
from tzbackup_gui.service.auth import SessionCredential
from tzbackup_gui.service.client import path_segment

from .cli_support import MemoryKeyring, memory_ids_on_disk, memory_keyring, run_inprocess, server_args
from .engine_support import Runner, sandbox, stored_ids, upstream_ids

__all__ = ["memory_keyring", "sandbox"]  # fixtures, re-exported for pytest

PROFILE_PATH = "/api/shapes/username/"
#: what the profile request's path segment must look like on the wire for each slug
ON_THE_WIRE = {".": "%2E", "..": "%2E%2E", "...": "%2E%2E%2E", "a.b": "a.b", "..a": "..a"}
DOT_SLUGS = list(ON_THE_WIRE)


def _profile_requests(sb: SandboxServer) -> list[tuple[str, str, int]]:
    """(decoded path, raw path, status) of every profile request the sandbox saw."""
    return [(r.path, r.raw_path, r.status) for r in sb.state.request_log if r.path.startswith(PROFILE_PATH)]


def test_sandbox_serves_dot_usernames_when_escaped(sandbox: SandboxServer) -> None:
    """The sandbox decodes ``%2E`` segments; unescaped, httpx itself resolves ``.``/``..`` away."""
    for slug in (".", ".."):
        sandbox.state.add_personality(slug, memories=3)
    headers = {"Cookie": f"{SESSION_COOKIE}={sandbox.cookie}"}
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as http:
        for slug in (".", ".."):
            r = http.get(PROFILE_PATH + ON_THE_WIRE[slug], headers=headers)
            assert r.status_code == 200 and r.json()["username"] == slug
            assert r.json()["id"] == sandbox.state.get(slug).id
        assert httpx.URL(sandbox.base_url + PROFILE_PATH + "..").raw_path == b"/api/shapes"  # the old bug
    assert _profile_requests(sandbox) == [
        (PROFILE_PATH + ".", PROFILE_PATH + "%2E", 200), (PROFILE_PATH + "..", PROFILE_PATH + "%2E%2E", 200),
    ]


def test_path_segment_escapes_what_could_be_reinterpreted() -> None:
    assert [path_segment(s) for s in DOT_SLUGS] == [ON_THE_WIRE[s] for s in DOT_SLUGS]
    assert path_segment("a/b") == "a%2Fb" and path_segment("..%2E") == "..%252E"
    assert path_segment("zoë ✨") == "zo%C3%AB%20%E2%9C%A8" and path_segment("") == ""
    for slug in [*DOT_SLUGS, "a/b", "?x=1#y", "%2E"]:
        url = httpx.URL("http://127.0.0.1:1/api/shapes/username/" + path_segment(slug))
        assert url.path == "/api/shapes/username/" + slug  # one segment, decoded back to the slug


def test_client_fetches_dot_profiles_with_the_raw_path_intact(sandbox: SandboxServer) -> None:
    for slug in DOT_SLUGS:
        sandbox.state.add_personality(slug, memories=1)

    async def fetch_all() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as http:
            credential = SessionCredential.from_value(sandbox.cookie)
            client = ShapesClient(http, credential, base_url=sandbox.base_url,
                                  files_base_url=sandbox.files_base_url, pacer=Pacer(delay=0))
            return [await client.get_profile(slug) for slug in DOT_SLUGS]

    profiles = asyncio.run(fetch_all())
    assert [p["username"] for p in profiles] == DOT_SLUGS
    assert [p["id"] for p in profiles] == [sandbox.state.get(s).id for s in DOT_SLUGS]
    assert _profile_requests(sandbox) == [
        (PROFILE_PATH + s, PROFILE_PATH + ON_THE_WIRE[s], 200) for s in DOT_SLUGS
    ]


@pytest.mark.parametrize("slug", DOT_SLUGS)
def test_engine_backs_up_dot_usernames(sandbox: SandboxServer, tmp_path: Path, slug: str) -> None:
    sandbox.state.add_personality(slug, f"Dots {slug}", memories=45)
    runner = Runner(sandbox, tmp_path)
    report = runner.run([slug])
    (res,) = report.results
    assert report.exit_code == 0 and res.status == "ok", (res.error_kind, res.error)
    assert res.folder == safe_folder_name(slug) and res.folder not in ("", ".", "..")
    folder = runner.folder(res.folder)
    assert folder.parent == personalities_root(tmp_path)
    profile = json.loads((folder / profile_file_name(res.folder)).read_text("utf-8"))
    assert profile["username"] == slug and profile["id"] == sandbox.state.get(slug).id
    assert stored_ids(folder) == upstream_ids(sandbox, slug)  # all 45, oldest first
    meta = runner.metadata(res.folder)
    assert meta["slug"] == slug and meta["totalMemories"] == 45
    assert verify_backup(folder).ok
    # the raw path arrived exactly as sent: nothing on the way resolved the dots
    assert _profile_requests(sandbox) == [(PROFILE_PATH + slug, PROFILE_PATH + ON_THE_WIRE[slug], 200)]


def test_all_dot_usernames_in_one_run_get_distinct_folders(sandbox: SandboxServer, tmp_path: Path) -> None:
    for i, slug in enumerate(DOT_SLUGS):
        sandbox.state.add_personality(slug, memories=5 + i)
    runner = Runner(sandbox, tmp_path)
    report = runner.run(DOT_SLUGS)
    assert report.exit_code == 0, [(r.slug, r.error) for r in report.results if r.status != "ok"]
    folders = [r.folder for r in report.results]
    assert len(set(folders)) == len(DOT_SLUGS)
    assert sorted(p.name for p in personalities_root(tmp_path).iterdir()) == sorted(folders)
    for r in report.results:
        assert stored_ids(runner.folder(r.folder)) == upstream_ids(sandbox, r.slug)
    # a second run is incremental and still finds each one where it left it
    again = runner.run(DOT_SLUGS)
    assert again.exit_code == 0 and [r.folder for r in again.results] == folders
    assert runner.memory_requests() == len(DOT_SLUGS)


def test_cli_backs_up_dot_and_dotdot(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer, memory_keyring: MemoryKeyring,
) -> None:
    for slug in (".", ".."):
        sandbox.state.add_personality(slug, memories=30)
    env: dict[str, str | None] = {"TZBACKUP_COOKIE": sandbox.cookie}
    args = server_args(sandbox, tmp_path)
    result = run_inprocess(capsys, monkeypatch, ["backup", ".", "..", *args], env)
    assert result.code == 0, result.out + result.err
    assert "please report" not in result.out + result.err
    for slug in (".", ".."):
        folder = tmp_path / "personalities" / safe_folder_name(slug)
        assert sorted(memory_ids_on_disk(folder)) == sorted(upstream_ids(sandbox, slug))
    result = run_inprocess(capsys, monkeypatch, ["status", "--json", "--data-dir", str(tmp_path)], env)
    backups: list[dict[str, Any]] = result.json()["backups"]
    assert result.code == 0
    assert {(b["username"], b["local_memories"]) for b in backups} == {(".", 30), ("..", 30)}
