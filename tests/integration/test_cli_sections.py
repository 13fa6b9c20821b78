"""``tzbackup backup --sections`` and ``verify`` of the sections, in-process against the real sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.backup.report import ALL_SECTIONS, parse_sections
from tzbackup_gui.sandbox import SandboxServer

from .cli_support import run_inprocess, server_args

SLUG = "dr.ada.lovelace"  # seeded: 130 memories, 3 knowledge entries, 2 training examples, an avatar


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
         cookie: str | None = None) -> Any:
    return run_inprocess(capsys, monkeypatch, args, {"TZBACKUP_COOKIE": cookie} if cookie else {})


def _paths(sandbox: SandboxServer) -> list[str]:
    return [r.path for r in sandbox.state.request_log]


def test_parse_sections() -> None:
    assert parse_sections("all") is None
    assert parse_sections(",".join(ALL_SECTIONS)) is None
    assert parse_sections("memories") == frozenset({"profile", "memories"})
    assert parse_sections(" Knowledge , images,") == frozenset({"profile", "knowledge", "images"})
    with pytest.raises(ValueError, match=r"Unknown section 'memory'\. Valid sections: profile, memories"):
        parse_sections("memory,knowledge")
    with pytest.raises(ValueError, match="No section named"):
        parse_sections(" , ")


@pytest.mark.parametrize("value", ["bogus", "memories,avatars", ""])
def test_unknown_section_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer, value: str,
) -> None:
    sandbox.state.clear_log()
    result = _cli(capsys, monkeypatch, "backup", SLUG, "--sections", value, *server_args(sandbox, tmp_path),
                  cookie=sandbox.cookie)
    assert result.code == 2
    valid = "Valid sections: profile, memories, knowledge, training, personalization, chat, images"
    assert valid in result.err
    assert _paths(sandbox) == []  # refused before any request
    assert not (tmp_path / "personalities").exists()


def test_backup_with_sections_then_status_and_verify(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    sandbox.state.clear_log()
    result = _cli(capsys, monkeypatch, "backup", SLUG, "--sections", "profile,knowledge,images",
                  *server_args(sandbox, tmp_path), cookie=sandbox.cookie)
    assert result.code == 0, result.err
    paths = _paths(sandbox)
    assert not any(p.startswith("/api/memory/") for p in paths), paths
    assert not any(p.endswith(("/training", "/user")) or "/chat/" in p for p in paths), paths
    assert sum(p.endswith("/story") for p in paths) == 1
    folder = tmp_path / "personalities" / SLUG
    assert (folder / "knowledge.json").exists() and (folder / "avatar.png").exists()
    assert not (folder / "memory").exists() or not list((folder / "memory").iterdir())

    status = _cli(capsys, monkeypatch, "status", "--json", "--data-dir", str(tmp_path))
    assert status.code == 0
    entry = json.loads(status.out)["backups"][0]
    assert entry["local_memories"] == 0
    assert set(entry["sections"]) == {"knowledge", "images"}
    assert entry["sections"]["knowledge"]["count"] == 3 and entry["sections"]["knowledge"]["status"] == "ok"
    assert entry["sections"]["images"]["count"] == 1

    verify = _cli(capsys, monkeypatch, "verify", SLUG, "--data-dir", str(tmp_path))
    assert verify.code == 0, verify.out

    # then everything (the default): memories arrive, knowledge is kept
    result = _cli(capsys, monkeypatch, "backup", SLUG, "--sections", "all", *server_args(sandbox, tmp_path),
                  cookie=sandbox.cookie)
    assert result.code == 0, result.err
    meta = json.loads((folder / ".backup-metadata.json").read_text("utf-8"))
    assert meta["totalMemories"] == 130
    assert {"knowledge", "training", "personalization", "images"} <= set(meta["sections"])


def test_section_failure_is_exit_1_and_auth_expiry_in_a_section_is_exit_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    sandbox.state.set_fault("server_error", count=None, status=500, path_contains="/training")
    result = _cli(capsys, monkeypatch, "backup", SLUG, *server_args(sandbox, tmp_path), cookie=sandbox.cookie)
    assert result.code == 1, result.err
    assert "ok (training failed)" in result.out
    sandbox.state.clear_faults()
    sandbox.state.set_fault("login_redirect", count=None, path_contains="/story")
    result = _cli(capsys, monkeypatch, "backup", SLUG, "echo-new", *server_args(sandbox, tmp_path),
                  cookie=sandbox.cookie)
    assert result.code == 3, (result.out, result.err)
    assert "the run stopped" in result.err
    assert not any("echo-new" in p for p in _paths(sandbox))


def _backed_up(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
               sandbox: SandboxServer) -> Path:
    result = _cli(capsys, monkeypatch, "backup", SLUG, *server_args(sandbox, tmp_path), cookie=sandbox.cookie)
    assert result.code == 0, result.err
    return tmp_path / "personalities" / SLUG


def _verify(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    return _cli(capsys, monkeypatch, "verify", SLUG, "--json", "--data-dir", str(tmp_path))


def test_verify_detects_tampered_knowledge(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    folder = _backed_up(capsys, monkeypatch, tmp_path, sandbox)
    assert _verify(capsys, monkeypatch, tmp_path).code == 0
    knowledge = json.loads((folder / "knowledge.json").read_text("utf-8"))
    knowledge["items"].pop()
    (folder / "knowledge.json").write_text(json.dumps(knowledge), "utf-8")
    result = _verify(capsys, monkeypatch, tmp_path)
    assert result.code == 1
    problems = result.json()["results"][0]["problems"]
    assert problems == ["The metadata records 3 knowledge entries, but knowledge.json holds 2."]
    (folder / "knowledge.json").write_text('{"items": [', "utf-8")
    problems = _verify(capsys, monkeypatch, tmp_path).json()["results"][0]["problems"]
    assert len(problems) == 1 and problems[0].startswith("The knowledge file knowledge.json is damaged")
    (folder / "knowledge.json").unlink()
    problems = _verify(capsys, monkeypatch, tmp_path).json()["results"][0]["problems"]
    assert problems == ["The knowledge file knowledge.json is missing (the metadata records 3)."]


def test_verify_detects_tampered_image_and_section_history(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    sandbox: SandboxServer,
) -> None:
    folder = _backed_up(capsys, monkeypatch, tmp_path, sandbox)
    avatar = folder / "avatar.png"
    data = bytearray(avatar.read_bytes())
    data[-20] ^= 0xFF  # one flipped byte
    avatar.write_bytes(bytes(data))
    (folder / ".section-history.jsonl").write_text('{"section": "knowledge"}\nnot json\n', "utf-8")
    result = _verify(capsys, monkeypatch, tmp_path)
    assert result.code == 1
    assert result.json()["results"][0]["problems"] == [
        ".section-history.jsonl line 2 is not a JSON record.",
        "The avatar image avatar.png does not match its recorded SHA-256 (damaged or changed).",
    ]
