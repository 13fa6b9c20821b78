"""What ``tzbackup backup`` and ``tzbackup status`` say about the sections (chat counts, failed sections),
in-process against the real sandbox over loopback."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.cli.progress import summary_table
from tzbackup_gui.sandbox import SandboxServer

from .cli_support import run_inprocess, server_args

CHATTY = "dr.ada.lovelace"  # seeded, owned: 130 memories, 60 chat messages


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
         cookie: str | None = None) -> Any:
    return run_inprocess(capsys, monkeypatch, args, {"TZBACKUP_COOKIE": cookie} if cookie else {})


def _table(out: str, first: str) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """(header words, rows by name (split), the lines after the table) of the table whose header starts
    with ``first``."""
    lines = out.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    header = lines[start]
    rows: dict[str, list[str]] = {}
    end = start + 2
    while end < len(lines) and not lines[end].startswith(" "):
        rows[lines[end].split()[0]] = lines[end].split()
        end += 1
    return header.split("  "), rows, lines[end:]


def _meta(data: Path, slug: str) -> dict[str, Any]:
    meta = json.loads((data / "personalities" / slug / ".backup-metadata.json").read_text("utf-8"))
    assert isinstance(meta, dict)
    return meta


def test_backup_summary_shows_chat_and_failed_sections_and_status_the_chat_count(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    sandbox.state.add_personality("broken", "Broken", memories=4, chat=25)
    args = server_args(sandbox, tmp_path)
    shape_id = sandbox.state.personalities["broken"].id
    sandbox.state.set_fault("server_error", count=None, status=500, path_contains=f"{shape_id}/chat/history")
    result = _cli(capsys, monkeypatch, "backup", CHATTY, "broken", *args, cookie=sandbox.cookie)
    assert result.code == 1, result.err  # a failed section is a partial failure
    header, rows, notes = _table(result.out, "name")
    header = [h.strip() for h in header if h.strip()]
    assert header == ["name", "new", "edited", "deleted upstream", "total", "chat new/total", "status"]
    assert rows[CHATTY] == [CHATTY, "130", "0", "0", "130", "60/60", "ok"]
    assert rows["broken"][:6] == ["broken", "4", "0", "0", "4", "-/0"]
    assert " ".join(rows["broken"][6:]) == "ok (chat failed)"
    error = _meta(tmp_path, "broken")["sections"]["chat"]["error"]
    assert error and notes == [f"  broken: chat failed: {error}"]

    # the next run: 7 new messages, the fault gone
    sandbox.state.clear_faults()
    sandbox.state.add_chat(CHATTY, 7)
    result = _cli(capsys, monkeypatch, "backup", CHATTY, "broken", *args, cookie=sandbox.cookie)
    assert result.code == 0, result.err
    _, rows, notes = _table(result.out, "name")
    assert rows[CHATTY][5:] == ["7/67", "ok"] and rows["broken"][5:] == ["25/25", "ok"] and notes == []

    # a run without the chat section: no chat column
    result = _cli(capsys, monkeypatch, "backup", CHATTY, "--sections", "memories", *args,
                  cookie=sandbox.cookie)
    assert result.code == 0, result.err
    header, rows, _ = _table(result.out, "name")
    assert "chat new/total" not in [h.strip() for h in header] and rows[CHATTY][-1] == "ok"

    # status: the chat count in a last column (and in --json under sections.chat)
    sandbox.state.set_fault("server_error", count=None, status=500, path_contains=f"{shape_id}/chat/history")
    assert _cli(capsys, monkeypatch, "backup", "broken", *args, cookie=sandbox.cookie).code == 1
    sandbox.state.clear_faults()
    assert _cli(capsys, monkeypatch, "backup", "captain-nemo", "--sections", "memories", *args,
                cookie=sandbox.cookie).code == 0
    result = _cli(capsys, monkeypatch, "status", "--data-dir", str(tmp_path))
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert lines[0].split()[-1] == "chat" and lines[0].split()[0] == "username"
    by_name = {line.split()[0]: line for line in lines[2:]}
    assert by_name[CHATTY].split()[-1] == "67"
    assert by_name["broken"].endswith("25 (last sync failed)")
    assert by_name["captain-nemo"].split()[-1] == "-"
    status = json.loads(_cli(capsys, monkeypatch, "status", "--json", "--data-dir", str(tmp_path)).out)
    chats = {b["username"]: b["sections"].get("chat") for b in status["backups"]}
    assert chats[CHATTY]["count"] == 67 and chats["broken"]["status"] == "failed"
    assert chats["captain-nemo"] is None


@dataclass
class _Result:
    slug: str
    new: int = 0
    edited: int = 0
    deleted_upstream: int = 0
    total: int = 0
    status: str = "ok"
    sections: dict[str, str] = field(default_factory=dict)


def test_summary_table_columns_without_metadata() -> None:
    """Without the metadata summaries the chat cell says what it can; no chat run, no chat column."""
    table = summary_table([_Result("a", sections={"chat": "ok"}), _Result("b", sections={"chat": "failed"}),
                           _Result("c")])
    lines = table.splitlines()
    assert lines[0].split() == ["name", "new", "edited", "deleted", "upstream", "total", "chat", "new/total",
                                "status"]
    assert [line.split()[5] for line in lines[2:5]] == ["?/?", "-/?", "-"]
    assert lines[5:] == ["  b: chat failed"]
    plain = summary_table([_Result("c", sections={"knowledge": "ok"})]).splitlines()
    assert plain[0].split() == ["name", "new", "edited", "deleted", "upstream", "total", "status"]


def test_unreachable_tied_chat_messages_are_a_visible_warning(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    """70 messages sharing one ts: the service returns at most 50 of them, so some cannot be fetched; the run
    is ok (nothing else can be done) but the summary says so instead of a quiet '110/110'."""
    sandbox.state.add_personality("tied", "Tied", memories=2, chat=130)
    sandbox.state.tie_chat("tied", 20, 70)
    result = _cli(capsys, monkeypatch, "backup", "tied", "--sections", "chat",
                  *server_args(sandbox, tmp_path), cookie=sandbox.cookie)
    assert result.code == 0, result.err
    _, rows, notes = _table(result.out, "name")
    assert rows["tied"][-1] == "ok"
    warning = _meta(tmp_path, "tied")["sections"]["chat"]["error"]
    assert "may be missing" in warning and notes == [f"  tied: chat: {warning}"]
