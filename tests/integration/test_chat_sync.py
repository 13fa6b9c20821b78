"""Chat history backup against the real sandbox over loopback, into real files.

Covers: a 20,000-message first run (every message once, in order), incremental runs that fetch only the newest
batches, shared boundary timestamps, cancel and SIGKILL mid-walk with resume, an interrupted commit, edits and
regenerations, a service ignoring ``before_ts``, ``ts`` as a numeric string, drift, and ``verify_chat``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tzbackup_gui.archive.chat import CHAT_CHUNK_SIZE, CHAT_HISTORY_NAME, ChatArchive
from tzbackup_gui.backup.chat import iter_chat, sync_chat, verify_chat
from tzbackup_gui.backup.engine import _blocking
from tzbackup_gui.backup.sections import SectionOutcome, merge_metadata
from tzbackup_gui.errors import AuthError
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.service import Pacer, ShapesClient
from tzbackup_gui.service.auth import SessionCredential

from .engine_support import fast_retry, sandbox

__all__ = ["sandbox"]

SLUG = "chatty"
ROOT = Path(__file__).resolve().parents[2]


# --- helpers ----------------------------------------------------------------------------------------------


async def _arun(sb: SandboxServer, folder: Path, *, full: bool = False,
                on_progress: Callable[[int], None] | None = None) -> SectionOutcome:
    shape_id = sb.state.personalities[SLUG].id
    async with httpx.AsyncClient(timeout=10) as http:
        client = ShapesClient(http, SessionCredential.from_value(sb.cookie), base_url=sb.base_url,
                              files_base_url=sb.files_base_url, pacer=Pacer(delay=0), retry=fast_retry())
        return await sync_chat(client, shape_id, folder, _blocking, full=full, on_progress=on_progress)


def _run(sb: SandboxServer, folder: Path, **kwargs: Any) -> SectionOutcome:
    sb.state.clear_log()
    return asyncio.run(_arun(sb, folder, **kwargs))


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "personalities" / SLUG
    folder.mkdir(parents=True)
    return folder


def _chat_requests(sb: SandboxServer) -> list[dict[str, str]]:
    with sb.state.lock:
        return [dict(r.query) for r in sb.state.request_log if r.path.endswith("/chat/history")]


def _stored(folder: Path) -> list[dict[str, Any]]:
    return list(iter_chat(folder))


def _stored_ids(folder: Path) -> list[str]:
    ids = [m["id"] for m in _stored(folder)]
    assert len(ids) == len(set(ids)), "a chat message is stored twice"
    return ids


def _upstream_ids(sb: SandboxServer) -> list[str]:
    return [m["id"] for m in sb.state.personalities[SLUG].chat]


def _chunk_inodes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in (folder / "chat").iterdir()}


def _naive_losses(stamps: list[float], limit: int = 50) -> int:
    """How many messages a client paging with the strict lowest ts of each batch would never see."""
    seen = 0
    end = len(stamps)
    while end > 0:
        batch = range(max(0, end - limit), end)
        seen += len(batch)
        lowest = stamps[batch[0]]
        end = next((i for i in range(batch[0], -1, -1) if stamps[i] < lowest), -1) + 1
    return len(stamps) - seen


# --- first run, incremental, ties -------------------------------------------------------------------------


def test_first_run_20k_then_incremental(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality(SLUG, chat=20_000)
    folder = _folder(tmp_path)
    progress: list[int] = []
    first = _run(sandbox, folder, on_progress=progress.append)
    assert first.status == "ok", first.error
    assert (first.count, first.new) == (20_000, 20_000)
    assert _stored_ids(folder) == _upstream_ids(sandbox)  # every message once, in the service's order
    requests = len(_chat_requests(sandbox))
    assert first.extra is not None and first.extra["requests"] == requests
    # 50 per batch, minus the boundary message(s) asked for again; plus the empty answer at the beginning
    assert 400 < requests <= 20_000 // 48 + 3
    assert progress == sorted(progress) and progress[-1] == 20_000
    assert first.extra["chunks"] == 20_000 // CHAT_CHUNK_SIZE
    assert sorted(os.listdir(folder / "chat")) == sorted(f"{SLUG}_chat_{n}.json" for n in range(1, 41))
    assert verify_chat(folder) == []
    assert not (folder / ".tzbackup" / "chat-journal.jsonl").exists()

    # Nothing new: one request (the newest batch, compared with the stored copies).
    again = _run(sandbox, folder)
    assert (again.status, again.new, again.count) == ("ok", 0, 20_000)
    assert len(_chat_requests(sandbox)) == 1

    before = _chunk_inodes(folder)
    for added in (50, 120):
        sandbox.state.add_chat(SLUG, added)
        out = _run(sandbox, folder)
        assert out.status == "ok", out.error
        assert out.new == added
        asked = _chat_requests(sandbox)
        # Only the newest batches: enough to reach one stored message (50, then 49 new per batch since the
        # boundary message is asked for again; 48 when a boundary falls on a tie).
        assert 1 + math.ceil((added + 1 - 50) / 49) <= len(asked) <= 1 + math.ceil((added + 1 - 50) / 48)
        assert "before_ts" not in asked[0]
    assert _stored_ids(folder) == _upstream_ids(sandbox)
    after = _chunk_inodes(folder)
    # The 40 full files were not rewritten; the new messages went to a new 41st file.
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {f"{SLUG}_chat_41.json"}
    assert verify_chat(folder) == []


def test_shared_boundary_timestamps_lose_nothing(sandbox: SandboxServer, tmp_path: Path) -> None:
    p = sandbox.state.add_personality(SLUG, chat=3_000)
    # Tie groups of many sizes all over the history (2..49 messages sharing one ts), so that batch
    # boundaries fall inside several of them, also inside groups larger than two.
    index, sizes = 10, [2, 3, 5, 7, 11, 13, 17, 23, 31, 49, 4, 6, 9]
    k = 0
    while index < len(p.chat) - 60:
        size = sizes[k % len(sizes)]
        sandbox.state.tie_chat(SLUG, index, size)
        index += size + 37 + (k * 13) % 29
        k += 1
    stamps = [float(m["ts"]) for m in p.chat]
    assert stamps == sorted(stamps)
    assert _naive_losses(stamps) >= 20  # the data really has ties across boundaries
    folder = _folder(tmp_path)
    out = _run(sandbox, folder)
    assert out.status == "ok", out.error
    assert out.error is None and out.extra is not None and "boundaryFallbacks" not in out.extra
    assert _stored_ids(folder) == _upstream_ids(sandbox)
    assert out.count == 3_000 and verify_chat(folder) == []
    # Ties at the incremental boundary too: new messages sharing the newest stored ts's neighbours.
    sandbox.state.add_chat(SLUG, 75)
    sandbox.state.tie_chat(SLUG, -80, 10)  # 5 stored + 5 new share one ts
    sandbox.state.tie_chat(SLUG, -52, 4)  # across the first batch boundary
    out = _run(sandbox, folder)
    assert out.status == "ok", out.error
    assert _stored_ids(folder) == _upstream_ids(sandbox)


def test_more_ties_than_a_batch_does_not_hang(sandbox: SandboxServer, tmp_path: Path) -> None:
    p = sandbox.state.add_personality(SLUG, chat=400)
    shared = sandbox.state.tie_chat(SLUG, 150, 70)  # 70 messages share one ts: 20 cannot be reached
    folder = _folder(tmp_path)
    out = _run(sandbox, folder)
    assert out.status == "ok", out.error
    assert out.extra is not None and out.extra["boundaryFallbacks"] >= 1
    # not silent: the outcome (and so sections.chat.error in the metadata) says messages may be missing
    assert out.error is not None and "may be missing" in out.error
    assert "the service returns at most 50 per timestamp" in out.error
    assert merge_metadata({}, {"chat": out})["sections"]["chat"]["error"] == out.error
    stored = _stored_ids(folder)
    missing = set(_upstream_ids(sandbox)) - set(stored)
    assert 0 < len(missing) <= 20
    assert all(float(m["ts"]) == shared for m in p.chat if m["id"] in missing)
    assert len(_chat_requests(sandbox)) < 20


# --- resume -----------------------------------------------------------------------------------------------


def test_cancel_mid_walk_then_resume(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality(SLUG, chat=20_000)
    folder = _folder(tmp_path)

    async def cancelled_run() -> None:
        task: asyncio.Task[SectionOutcome] | None = None

        def progress(n: int) -> None:
            if n >= 6_000 and task is not None:
                task.cancel()

        task = asyncio.ensure_future(_arun(sandbox, folder, on_progress=progress))
        with pytest.raises(asyncio.CancelledError):
            await task

    sandbox.state.clear_log()
    asyncio.run(cancelled_run())
    first = len(_chat_requests(sandbox))
    assert (folder / ".tzbackup" / "chat-journal.jsonl").exists()
    assert not (folder / "chat").exists()  # nothing committed before the walk is done
    sandbox.state.add_chat(SLUG, 30)  # the service moves on meanwhile
    out = _run(sandbox, folder)
    assert out.status == "ok", out.error
    assert out.extra is not None and out.extra["resumed"] is True
    second = len(_chat_requests(sandbox))
    assert first + second <= 20_000 // 48 + 4  # resumed where it stopped: nothing fetched twice
    stored = _stored_ids(folder)
    assert stored == _upstream_ids(sandbox)[: len(stored)]
    # The 30 messages added mid-walk come with the next run.
    out = _run(sandbox, folder)
    assert (out.status, out.new) == ("ok", 30)
    assert _stored_ids(folder) == _upstream_ids(sandbox)
    assert verify_chat(folder) == []


_CHILD = """
import asyncio, os, sys
from pathlib import Path
import httpx
from tzbackup_gui.backup.chat import sync_chat
from tzbackup_gui.backup.engine import _blocking
from tzbackup_gui.service import Pacer, ShapesClient
from tzbackup_gui.service.auth import SessionCredential

async def main():
    async with httpx.AsyncClient(timeout=10) as http:
        client = ShapesClient(http, SessionCredential.from_value(os.environ["CHAT_COOKIE"]),
                              base_url=sys.argv[1], files_base_url=sys.argv[1] + "/files",
                              pacer=Pacer(delay=0))
        out = await sync_chat(client, sys.argv[2], Path(sys.argv[3]), _blocking)
        print(out.status, out.count, out.error)

asyncio.run(main())
"""


def _child(sb: SandboxServer, folder: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, CHAT_COOKIE=sb.cookie, PYTHONPATH=str(ROOT))
    shape_id = sb.state.personalities[SLUG].id
    return subprocess.Popen([sys.executable, "-c", _CHILD, sb.base_url, shape_id, str(folder)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)


def _answered(sb: SandboxServer) -> int:
    with sb.state.lock:
        return sum(1 for r in sb.state.request_log if r.path.endswith("/chat/history") and r.status == 200)


@pytest.mark.timeout(180)
def test_sigkill_mid_walk_then_resume(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality(SLUG, chat=20_000)
    sandbox.state.set_fault("slow", count=None, seconds=0.004, path_contains="/chat/history")
    folder = _folder(tmp_path)
    killed_after: list[int] = []
    for batches, pause in ((60, 0.0), (25, 0.003), (90, 0.011)):
        sandbox.state.clear_log()
        proc = _child(sandbox, folder)
        deadline = time.monotonic() + 60
        while _answered(sandbox) < batches and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        time.sleep(pause)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        killed_after.append(_answered(sandbox))
        sandbox.state.add_chat(SLUG, 7)
    assert (folder / ".tzbackup" / "chat-journal.jsonl").exists()
    sandbox.state.clear_faults()
    out = _run(sandbox, folder)
    assert out.status == "ok", out.error
    total = sum(killed_after) + len(_chat_requests(sandbox))
    assert total <= 20_000 // 48 + 3 + 2 * len(killed_after)  # at most the in-flight batch per kill again
    out = _run(sandbox, folder)  # the 21 messages added meanwhile
    assert (out.status, out.new) == ("ok", 21)
    assert _stored_ids(folder) == _upstream_ids(sandbox)
    assert verify_chat(folder) == []


def test_interrupted_commit_rolls_forward(sandbox: SandboxServer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.state.add_personality(SLUG, chat=1_200)
    folder = _folder(tmp_path)
    assert _run(sandbox, folder).status == "ok"
    sandbox.state.add_chat(SLUG, 700)
    real_apply = ChatArchive._apply
    calls: list[int] = []

    def crash_after_first_rename(self: ChatArchive, plan: dict[str, Any]) -> None:
        calls.append(1)
        if len(calls) == 1:  # the commit record exists; only one file moved when the "crash" hits
            renames = plan["renames"]
            os.replace(self.staging_dir / renames[0][0], self.chunk_path(renames[0][1]))
            raise OSError(5, "simulated crash")
        real_apply(self, plan)

    monkeypatch.setattr(ChatArchive, "_apply", crash_after_first_rename)
    out = _run(sandbox, folder)
    assert out.status == "failed" and "simulated crash" in (out.error or "")
    assert (folder / ".tzbackup" / "chat-commit.json").exists()
    assert any("pending" in p for p in verify_chat(folder))
    monkeypatch.setattr(ChatArchive, "_apply", real_apply)
    out = _run(sandbox, folder)  # rolls the commit forward, then an incremental walk finds nothing new
    assert (out.status, out.new) == ("ok", 0)
    assert len(_chat_requests(sandbox)) == 1
    assert _stored_ids(folder) == _upstream_ids(sandbox)
    assert verify_chat(folder) == []


# --- edits, variants, faults ------------------------------------------------------------------------------


def test_edits_and_regenerations_are_picked_up(sandbox: SandboxServer, tmp_path: Path) -> None:
    p = sandbox.state.add_personality(SLUG, chat=1_000)
    folder = _folder(tmp_path)
    assert _run(sandbox, folder).status == "ok"
    edited_id, regen_id, old_id = p.chat[-3]["id"], p.chat[-10]["id"], p.chat[100]["id"]
    old_versions = {m["id"]: dict(m) for m in p.chat if m["id"] in (edited_id, regen_id, old_id)}
    sandbox.state.edit_chat(SLUG, edited_id, message="edited text")
    sandbox.state.regenerate_chat(SLUG, regen_id, "a brand new reply")
    sandbox.state.edit_chat(SLUG, old_id, reply="an old message edited")
    sandbox.state.add_chat(SLUG, 5)
    out = _run(sandbox, folder)
    assert (out.status, out.new) == ("ok", 5)
    assert out.extra is not None and out.extra["edited"] == 2  # the recent ones; the old one needs a full run
    stored = {m["id"]: m for m in _stored(folder)}
    assert stored[edited_id]["message"] == "edited text"
    assert stored[regen_id]["reply"] == "a brand new reply"
    assert old_versions[regen_id]["reply"] in stored[regen_id]["regenerated_replies"]
    assert stored[old_id] == old_versions[old_id]
    out = _run(sandbox, folder, full=True)
    assert (out.status, out.new) == ("ok", 0)
    assert out.extra is not None and out.extra["edited"] == 1 and out.extra["fullWalk"] is True
    assert {m["id"]: m for m in _stored(folder)}[old_id]["reply"] == "an old message edited"
    lines = [json.loads(x) for x in (folder / CHAT_HISTORY_NAME).read_text("utf-8").splitlines()]
    assert sorted(r["id"] for r in lines) == sorted([edited_id, regen_id, old_id])
    assert {r["id"]: r["message"] for r in lines} == old_versions  # the old versions, whole
    assert _stored_ids(folder) == _upstream_ids(sandbox)
    assert verify_chat(folder) == []


@pytest.mark.timeout(30)
def test_service_ignoring_before_ts_does_not_hang(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality(SLUG, chat=300)
    folder = _folder(tmp_path)
    sandbox.state.set_variant(chat_before_ts="ignored")
    out = _run(sandbox, folder)
    assert out.status == "failed"
    assert "ignored before_ts" in (out.error or "")
    assert len(_chat_requests(sandbox)) == 2
    assert not (folder / "chat").exists()  # nothing half-stored
    sandbox.state.set_variant()
    out = _run(sandbox, folder)  # the journal is resumed once the service behaves
    assert out.status == "ok" and out.count == 300
    assert out.extra is not None and out.extra["resumed"] is True
    sandbox.state.set_variant(chat_before_ts="ignored")
    sandbox.state.add_chat(SLUG, 10)
    out = _run(sandbox, folder)  # the newest batch reaches stored messages: no second request needed
    assert (out.status, out.new) == ("ok", 10)
    assert len(_chat_requests(sandbox)) == 1
    assert _stored_ids(folder) == _upstream_ids(sandbox)


def test_ts_as_numeric_string(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality(SLUG, chat=700)
    sandbox.state.tie_chat(SLUG, -52, 5)
    folder = _folder(tmp_path)
    sandbox.state.set_variant(chat_ts="string")
    out = _run(sandbox, folder)
    assert out.status == "ok", out.error
    assert out.extra is not None and "numeric string" in out.extra["drift"]
    assert all(isinstance(m["ts"], str) for m in _stored(folder))  # stored raw, as sent
    assert _stored_ids(folder) == _upstream_ids(sandbox)
    sandbox.state.set_variant()  # back to numbers: the spelling alone is no edit
    sandbox.state.add_chat(SLUG, 3)
    out = _run(sandbox, folder)
    assert (out.status, out.new) == ("ok", 3)
    assert out.extra is not None and out.extra["edited"] == 0
    assert verify_chat(folder) == []


def test_drift_and_server_errors_fail_the_section_only(sandbox: SandboxServer, tmp_path: Path) -> None:
    p = sandbox.state.add_personality(SLUG, chat=120)
    folder = _folder(tmp_path)
    assert _run(sandbox, folder).status == "ok"
    before = {q.name: q.read_bytes() for q in (folder / "chat").iterdir()}
    sandbox.state.add_chat(SLUG, 2)
    p.chat[-1]["ts"] = None
    out = _run(sandbox, folder)
    assert out.status == "failed" and "ts" in (out.error or "") and "NoneType" in (out.error or "")
    assert out.count == 120
    p.chat[-1]["ts"] = float(p.chat[-2]["ts"]) + 5
    sandbox.state.set_fault("server_error", count=None, status=503, path_contains="/chat/history")
    out = _run(sandbox, folder)
    assert out.status == "failed" and out.error
    assert {q.name: q.read_bytes() for q in (folder / "chat").iterdir()} == before  # untouched
    sandbox.state.clear_faults()
    sandbox.state.set_fault("expire_after", requests=0)
    with pytest.raises(AuthError):
        _run(sandbox, folder)


def test_no_chat_at_all(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality(SLUG, chat=0)
    folder = _folder(tmp_path)
    out = _run(sandbox, folder)
    assert (out.status, out.count, out.new) == ("ok", 0, 0)
    assert not (folder / "chat").exists()
    assert verify_chat(folder) == []


# --- verify -----------------------------------------------------------------------------------------------


def _chunk(folder: Path, n: int) -> Path:
    return folder / "chat" / f"{SLUG}_chat_{n}.json"


def _rewrite(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    data = json.loads(path.read_text("utf-8"))
    change(data["messages"])
    path.write_text(json.dumps(data), "utf-8")


def test_verify_chat_finds_tampering(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality(SLUG, chat=1_300)
    folder = _folder(tmp_path)
    assert _run(sandbox, folder).status == "ok"
    (folder / ".backup-metadata.json").write_text(json.dumps({"sections": {"chat": {"count": 1_300}}}))
    assert verify_chat(folder) == []
    original = _chunk(folder, 2).read_bytes()

    def edit(ms: list[dict[str, Any]]) -> None:
        ms[3]["reply"] = "not what the service said"

    _rewrite(_chunk(folder, 2), edit)
    assert any("checksum" in p and f"{SLUG}_chat_2.json" in p for p in verify_chat(folder))
    _chunk(folder, 2).write_bytes(original)

    def reorder(ms: list[dict[str, Any]]) -> None:
        ms[10]["ts"] = ms[11]["ts"] + 1_000_000

    _rewrite(_chunk(folder, 1), reorder)
    assert any("out of chronological order" in p for p in verify_chat(folder))

    def dup(ms: list[dict[str, Any]]) -> None:
        ms[-1] = dict(ms[-2])

    _rewrite(_chunk(folder, 3), dup)
    assert any("stored twice" in p for p in verify_chat(folder))
    _chunk(folder, 2).write_bytes(original[: len(original) // 2])
    problems = verify_chat(folder)
    assert any("cannot be read" in p for p in problems)
    assert any("metadata says 1300" in p for p in problems)
    _chunk(folder, 2).unlink()
    assert any("not numbered" in p for p in verify_chat(folder))


def _state(folder: Path) -> bytes:
    return (folder / ".tzbackup" / "chat-state.json").read_bytes()


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_tampered_chunk_is_never_merged_as_good(sandbox: SandboxServer, tmp_path: Path, full: bool) -> None:
    sandbox.state.add_personality(SLUG, chat=1_300)
    folder = _folder(tmp_path)
    assert _run(sandbox, folder).status == "ok"
    last = _chunk(folder, 3)  # every later run merges into it (a full walk into chunk 1 on)
    tampered = _chunk(folder, 1 if full else 3)
    original = tampered.read_bytes()

    def edit(ms: list[dict[str, Any]]) -> None:
        ms[0]["message"] = "not what the service said"

    _rewrite(tampered, edit)
    changed = tampered.read_bytes()
    assert any("changed after tzbackup wrote it" in p for p in verify_chat(folder))
    state, last_before = _state(folder), last.read_bytes()
    sandbox.state.add_chat(SLUG, 5)
    out = _run(sandbox, folder, full=full)
    assert out.status == "failed" and out.count == 1_300
    assert out.error is not None and tampered.name in out.error and "tzbackup verify" in out.error
    # nothing merged, nothing re-hashed: verify still reports the change, the tampered text stays visible
    assert tampered.read_bytes() == changed
    assert last.read_bytes() == (last_before if full else changed)
    assert _state(folder) == state and not (folder / CHAT_HISTORY_NAME).exists()
    assert any("changed after tzbackup wrote it" in p and tampered.name in p for p in verify_chat(folder))
    # Put back from a copy: the walk kept in the journal is committed without fetching it again.
    tampered.write_bytes(original)
    out = _run(sandbox, folder, full=full)
    assert (out.status, out.new, out.count) == ("ok", 5, 1_305), out.error
    assert _chat_requests(sandbox) == []
    assert _stored_ids(folder) == _upstream_ids(sandbox) and verify_chat(folder) == []


def test_moving_the_chat_folder_aside_backs_up_again_from_the_start(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.state.add_personality(SLUG, chat=1_300)
    folder = _folder(tmp_path)
    assert _run(sandbox, folder).status == "ok"
    _rewrite(_chunk(folder, 3), lambda ms: ms[0].update(message="tampered"))
    sandbox.state.add_chat(SLUG, 5)
    assert _run(sandbox, folder).status == "failed"  # its (incremental) walk is kept in the journal
    (folder / "chat").rename(tmp_path / "chat-aside")
    out = _run(sandbox, folder)
    # the kept incremental walk no longer fits the (now empty) chat: a walk from the start instead
    assert (out.status, out.count) == ("ok", 1_305), out.error
    assert _stored_ids(folder) == _upstream_ids(sandbox) and verify_chat(folder) == []


def test_chat_controls_over_http(sandbox: SandboxServer) -> None:
    """Another process (benchmarks, the GUI demo) drives the chat hooks and variants through /__sandbox/."""
    p = sandbox.state.add_personality(SLUG, chat=10)
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as http:
        added = http.post("/__sandbox/add_chat", json={"slug": SLUG, "n": 3}).json()
        assert added["ok"] and added["result"] == [m["id"] for m in p.chat[-3:]]
        shared = http.post("/__sandbox/tie_chat", json={"slug": SLUG, "start": -4, "count": 2}).json()
        assert shared["result"] == p.chat[-3]["ts"] == p.chat[-4]["ts"]
        target = p.chat[-1]["id"]
        assert http.post("/__sandbox/regenerate_chat", json={"slug": SLUG, "message_id": target,
                                                             "reply": "again"}).json()["ok"]
        assert p.chat[-1]["reply"] == "again"
        missing = http.post("/__sandbox/edit_chat", json={"slug": SLUG, "message_id": "nope", "reply": "x"})
        assert missing.status_code == 404
        variant = http.post("/__sandbox/set_variant", json={"chat_ts": "string"}).json()["result"]
        assert variant["chat_ts"] == "string" and variant["chat_before_ts"] == "honoured"
        assert http.post("/__sandbox/set_variant", json={"chat_ts": "text"}).status_code == 400
