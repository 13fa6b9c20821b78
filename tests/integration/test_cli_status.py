"""``tzbackup status`` shows only what the server said: ``serverTotal`` (the service's own item total) under
"server", else "—", and the live count of the last certified full walk labelled as such, never as the
server's number. Each case the engine can write, from metadata set by hand, and real backups over loopback."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.sandbox import SandboxServer

from .cli_support import MemoryKeyring, Result, memory_keyring, run_inprocess, server_args

__all__ = ["memory_keyring"]  # the fixture, re-exported for pytest

SLUG = "dr.ada.lovelace"  # 130 memories in the seeded data (ASCII: the table is cut by column)


@pytest.fixture(autouse=True)
def _isolated_keyring(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    return memory_keyring


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
         cookie: str | None = None) -> Result:
    env: dict[str, str | None] = {"TZBACKUP_COOKIE": cookie} if cookie else {}
    return run_inprocess(capsys, monkeypatch, list(args), env)


def _backed_up(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer,
               data: Path) -> None:
    result = _cli(capsys, monkeypatch, "backup", SLUG, *server_args(sandbox, data), cookie=sandbox.cookie)
    assert result.code == 0, result.out + result.err


def _written(data: Path, **fields: Any) -> None:
    """A backup folder whose metadata says ``fields`` (a value ``...`` leaves the field out), as the engine
    writes it after a run; status reads the disk only, so this needs no engine run."""
    folder = data / "personalities" / SLUG
    (folder / "memory").mkdir(parents=True)
    meta: dict[str, Any] = {
        "formatVersion": 1, "slug": SLUG, "shapeId": "00000000-0000-4000-8000-00000000beef",
        "displayName": "Dr. Ada Lovelace", "lastBackup": "2026-05-01T10:00:00Z", "totalMemories": 0,
        "chunkSize": 250, "memoryFiles": 0, "deletedUpstream": {}, "runs": [{"status": "ok", "new": 0}],
    }
    meta.update({key: value for key, value in fields.items() if value is not ...})
    (folder / ".backup-metadata.json").write_text(json.dumps(meta), "utf-8")
    # consistent with its files (status runs verify's checks: a count the files do not hold is damage)
    (folder / f"{SLUG}.json").write_text(json.dumps({"id": meta["shapeId"], "username": SLUG}), "utf-8")


def _status(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
            data: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """(the table row of SLUG as {column header: cell}, the --json entry of SLUG)."""
    table = _cli(capsys, monkeypatch, "status", "--data-dir", str(data))
    assert table.code == 0, table.err
    header, rule, *rows = table.out.rstrip("\n").splitlines()
    bounds = [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")] + [10**6]
    (line,) = [r for r in rows if r.startswith(SLUG)]
    cells = {header[a:b].strip(): line[a:b].strip() for a, b in itertools.pairwise(bounds)}
    as_json = _cli(capsys, monkeypatch, "status", "--json", "--data-dir", str(data))
    assert as_json.code == 0
    (entry,) = [e for e in as_json.json()["backups"] if e["username"] == SLUG]
    return cells, entry


def _server_column(cells: dict[str, str]) -> str:
    (name,) = [k for k in cells if k.startswith("server")]
    return cells[name]


def test_server_total_reported_by_the_service_is_shown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _written(tmp_path, serverTotal=2600, liveAtLastFullWalk=2590)
    cells, entry = _status(capsys, monkeypatch, tmp_path)
    assert _server_column(cells) == "2600"
    assert entry["server_total_last_seen"] == 2600 and entry["live_at_last_full_walk"] == 2590


def test_no_server_total_shows_a_dash_and_the_labelled_full_walk_count(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _written(tmp_path, serverTotal=None, liveAtLastFullWalk=1203)
    cells, entry = _status(capsys, monkeypatch, tmp_path)
    server = _server_column(cells)
    assert server.startswith("—") and "1203" in server and "last full walk" in server
    assert server != "1203"  # never the walk's count on its own, as if the server had said it
    assert entry["server_total_last_seen"] is None and entry["live_at_last_full_walk"] == 1203


def test_nothing_known_shows_only_a_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _written(tmp_path, serverTotal=None, liveAtLastFullWalk=...)
    cells, entry = _status(capsys, monkeypatch, tmp_path)
    assert _server_column(cells) == "—"
    assert entry["server_total_last_seen"] is None and entry["live_at_last_full_walk"] is None


def test_a_real_backup_on_the_shape_with_a_total(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    sandbox.state.set_variant(pagination="has_next", include_total=True)
    _backed_up(capsys, monkeypatch, sandbox, tmp_path)
    total = len(sandbox.state.get(SLUG).memories)
    cells, entry = _status(capsys, monkeypatch, tmp_path)
    assert _server_column(cells) == str(total) and entry["server_total_last_seen"] == total
    assert entry["live_at_last_full_walk"] == total


def test_a_real_backup_on_the_shape_without_a_total(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    sandbox.state.set_variant(pagination="has_next", include_total=False)
    _backed_up(capsys, monkeypatch, sandbox, tmp_path)
    total = len(sandbox.state.get(SLUG).memories)
    cells, entry = _status(capsys, monkeypatch, tmp_path)
    assert entry["server_total_last_seen"] is None and entry["live_at_last_full_walk"] == total
    assert _server_column(cells).startswith("—")
