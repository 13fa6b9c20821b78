"""Portable exports of a real backup made by the engine from the sandbox, through the CLI: a Character Card
V3 (JSON + PNG, memories in its lorebook) and the chat as a SillyTavern chat file, read back by our own
readers; and the usage errors of ``--memories``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.engine_support import Runner, stored
from tzbackup_gui.archive.card import validate_card, validate_card_v3
from tzbackup_gui.archive.card_export import read_card_file
from tzbackup_gui.archive.chat import iter_chat
from tzbackup_gui.archive.png_card import read_card
from tzbackup_gui.archive.sillytavern import read_sillytavern_chat
from tzbackup_gui.sandbox import SandboxServer

from .cli_support import run_inprocess

SLUG = "dr.ada.lovelace"


@pytest.fixture
def data_dir(sandbox: SandboxServer, tmp_path: Path) -> Path:
    runner = Runner(sandbox, tmp_path / "data")
    assert runner.run([SLUG]).exit_code == 0
    return runner.data_dir


def _export(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, data_dir: Path,
            *args: str) -> tuple[int, str, str]:
    result = run_inprocess(capsys, monkeypatch, ["export", SLUG, "--data-dir", str(data_dir), *args])
    return result.code, result.out, result.err


def test_card_v3_with_the_newest_memories_from_the_cli(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, said, err = _export(capsys, monkeypatch, data_dir, "--format", "card-v3", "--memories", "25",
                              "--output", f"{out}/")
    assert code == 0, err
    json_path, png_path = out / f"{SLUG}.card-v3.json", out / f"{SLUG}.card-v3.png"
    assert said.split() == [str(json_path), str(png_path)]
    card = read_card_file(json_path)
    assert validate_card_v3(card) == [] and read_card_file(png_path) == card
    v2 = read_card(png_path.read_bytes())
    assert v2 is not None and validate_card(v2) == []
    entries = card["data"]["character_book"]["entries"]
    mems = [e for e in entries if "memoryId" in e["extensions"]["tzbackup"]]
    assert len(mems) == 25 and len(entries) == 25 + 3  # the sandbox gives Ada three knowledge entries
    folder = data_dir / "personalities" / SLUG
    live = [m for m in stored(folder) if m.get("deleted") is not True]
    assert [e["extensions"]["tzbackup"]["memoryId"] for e in mems] == [m["id"] for m in live[-25:]]
    assert all(e["keys"] for e in mems)

    code, _, err = _export(capsys, monkeypatch, data_dir, "--format", "card-v3", "--memories", "all",
                           "--output", str(out / "all.png"))
    assert code == 0, err
    every = read_card_file(out / "all.png")["data"]["character_book"]["entries"]
    assert len(every) == len(live) + 3 and (out / "all.json").is_file()


def test_sillytavern_chat_from_the_cli(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, said, err = _export(capsys, monkeypatch, data_dir, "--format", "sillytavern-chat", "--output",
                              str(tmp_path))
    assert code == 0, err
    path = tmp_path / f"{SLUG}.sillytavern.jsonl"
    assert said.strip() == str(path)
    folder = data_dir / "personalities" / SLUG
    messages = list(iter_chat(folder))
    assert len(messages) == 60
    chat = read_sillytavern_chat(path)
    assert chat.header["character_name"] == "Dr. Ada Lovelace"
    expected = [(True, m["message"]) for m in messages if m.get("message")] + [
        (False, m["reply"]) for m in messages if m.get("reply") is not None]
    assert sorted(expected) == sorted((x.is_user, x.mes) for x in chat.lines)
    ids = [x.extra["tzbackup"]["id"] for x in chat.lines]
    assert list(dict.fromkeys(ids)) == [m["id"] for m in messages]  # oldest first, as stored
    assert [x.ts for x in chat.lines] == sorted(x.ts for x in chat.lines)


@pytest.mark.parametrize(("args", "needle"), [
    (["--format", "card-v3", "--memories", "some"], "not none, all or a number"),
    (["--format", "zip", "--memories", "5"], "--memories goes with --format card or card-v3"),
])
def test_memories_option_usage_errors(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    args: list[str], needle: str,
) -> None:
    code, _, err = _export(capsys, monkeypatch, data_dir, *args, "--output", str(tmp_path))
    assert code == 2 and needle in err
    assert not list(tmp_path.glob(f"{SLUG}*"))


def test_help_documents_the_new_formats(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_inprocess(capsys, monkeypatch, ["export", "--help"])
    text = " ".join(result.out.split())
    assert result.code == 0
    for needle in ("card-v3", "sillytavern-chat", "--memories", "none (default), all, or N"):
        assert needle in text
