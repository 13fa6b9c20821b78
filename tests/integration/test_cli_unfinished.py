"""Nothing fetched is ever stranded (issue 13, item 4): the session expires in the middle of a first backup,
and every memory that arrived is at once counted by ``status``, found by ``search`` and written by
``export``, marked as coming from a walk that did not finish; the next backup completes it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tzbackup_gui.sandbox import SandboxServer

from .cli_support import MemoryKeyring, memory_ids_on_disk, memory_keyring, run_inprocess, server_args

__all__ = ["memory_keyring"]

SLUG = "cli-unfinished"


@pytest.fixture(autouse=True)
def _isolated_keyring(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    return memory_keyring


def test_memories_of_an_expired_first_backup_are_readable_at_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    sandbox.state.add_personality(SLUG, "Unfinished", memories=1203)
    sandbox.state.set_fault("expire_after", requests=2 + 1 + 30)  # me, list, profile, then 30 memory pages
    env = {"TZBACKUP_COOKIE": sandbox.cookie}
    args = server_args(sandbox, tmp_path)
    result = run_inprocess(capsys, monkeypatch, ["backup", SLUG, *args], env)
    assert result.code == 3, (result.out, result.err)
    on_disk = memory_ids_on_disk(tmp_path / "personalities" / SLUG)
    assert len(on_disk) == 600

    status = run_inprocess(capsys, monkeypatch, ["status", "--json", "--data-dir", str(tmp_path)])
    (row,) = status.json()["backups"]
    assert row["local_memories"] == 600 and row["unfinished_walk_memories"] == 600 and row["pending_resume"]
    assert row["last_backup"] is None  # the first backup has not succeeded yet
    text = run_inprocess(capsys, monkeypatch, ["status", "--data-dir", str(tmp_path)])
    assert "600 (unfinished walk)" in text.out and "did not finish" in text.out

    newest = sandbox.state.personalities[SLUG].memories[-1]
    word = next(w for w in str(newest["result"]).split() if len(w) > 6 and w.isalpha())
    found = run_inprocess(capsys, monkeypatch, ["search", word, "--json", "--data-dir", str(tmp_path)])
    assert found.code == 0 and found.json(), found.out

    target = tmp_path / "out.zip"
    exported = run_inprocess(capsys, monkeypatch,
                             ["export", SLUG, "--format", "zip", "--output", str(target),
                              "--data-dir", str(tmp_path)])
    assert exported.code == 0, exported.err
    with zipfile.ZipFile(target) as zf:
        ids = {m["id"] for name in zf.namelist() if "_memory_" in name
               for m in json.loads(zf.read(name))["memories"]}
    assert ids == set(on_disk)

    sandbox.state.clear_faults()
    env = {"TZBACKUP_COOKIE": sandbox.state.new_session()}
    again = run_inprocess(capsys, monkeypatch, ["backup", SLUG, *args], env)
    assert again.code == 0, again.err
    assert set(memory_ids_on_disk(tmp_path / "personalities" / SLUG)) == {
        m["id"] for m in sandbox.state.personalities[SLUG].memories
    }
    status = run_inprocess(capsys, monkeypatch, ["status", "--json", "--data-dir", str(tmp_path)])
    (row,) = status.json()["backups"]
    assert row["unfinished_walk_memories"] == 0 and not row["pending_resume"] and row["last_backup"]
