"""``tzbackup backup --all`` stops as a whole when the service rate-limits without end or the network goes
(issue 13, item 5): one plain message, exit 4, the personalities not tried are listed as not attempted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.sandbox.state import RequestRecord

from .cli_support import MemoryKeyring, Result, memory_ids_on_disk, memory_keyring, run_inprocess, server_args

__all__ = ["memory_keyring"]

SLUGS = ["cli-stop-a", "cli-stop-b", "cli-stop-c", "cli-stop-d"]
ATTEMPTS = 4  # the client's default attempts per request
PROFILE = "/api/shapes/username/"


@pytest.fixture(autouse=True)
def _isolated_keyring(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    return memory_keyring


def _only_small(sandbox: SandboxServer) -> None:
    for slug in list(sandbox.state.personalities):
        sandbox.state.remove_personality(slug)
    for slug in SLUGS:
        sandbox.state.add_personality(slug, memories=30)


def _backup_all(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer,
                data_dir: Path) -> Result:
    sandbox.state.clear_log()
    return run_inprocess(capsys, monkeypatch, ["backup", "--all", *server_args(sandbox, data_dir)],
                         {"TZBACKUP_COOKIE": sandbox.cookie})


def _row(out: str, slug: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith(slug + " ")]
    return line


def test_endless_rate_limit_stops_backup_all(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    _only_small(sandbox)
    sandbox.state.set_fault("rate_limit", count=None, path_contains="/api/memory/", retry_after="0.01")
    result = _backup_all(capsys, monkeypatch, sandbox, tmp_path)

    assert result.code == 4, (result.out, result.err)
    assert sandbox.state.count("/api/memory/") == ATTEMPTS  # one request's retries, then the run stopped
    assert sandbox.state.count(PROFILE) == 1
    assert result.err.count("keeps rate-limiting us") == 1
    assert _row(result.out, SLUGS[0]).endswith("failed")
    for slug in SLUGS[1:]:
        assert _row(result.out, slug).endswith("not attempted")
        assert slug not in result.err  # no error line of its own
    assert "0 of 4 personalities were backed up" in result.err and "3 not attempted" in result.err
    assert "Traceback" not in result.err

    sandbox.state.clear_faults()
    again = _backup_all(capsys, monkeypatch, sandbox, tmp_path)
    assert again.code == 0, again.err
    for slug in SLUGS:
        assert len(memory_ids_on_disk(tmp_path / "personalities" / slug)) == 30


def test_network_gone_stops_backup_all(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    _only_small(sandbox)

    def cut(record: RequestRecord) -> None:  # the network goes as the second personality starts
        if record.path == PROFILE + SLUGS[1] and not sandbox.state.faults.faults:
            sandbox.state.set_fault("drop", count=None)

    sandbox.state.hooks.append(cut)
    result = _backup_all(capsys, monkeypatch, sandbox, tmp_path)

    assert result.code == 4, (result.out, result.err)
    assert sum(1 for r in sandbox.state.request_log if r.fault == "drop") == ATTEMPTS
    assert result.err.count("offline") == 1
    assert _row(result.out, SLUGS[0]).endswith("ok") and _row(result.out, SLUGS[1]).endswith("failed")
    for slug in SLUGS[2:]:
        assert _row(result.out, slug).endswith("not attempted")
    assert "1 of 4 personalities were backed up" in result.err
    assert len(memory_ids_on_disk(tmp_path / "personalities" / SLUGS[0])) == 30
