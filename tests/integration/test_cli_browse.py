"""``tzbackup search`` / ``show`` on a real backup made by the engine from the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.cli import main

from .engine_support import Runner, sandbox  # noqa: F401  (fixture)


@pytest.fixture
def backed_up(sandbox: Any, tmp_path: Path) -> Path:  # noqa: F811
    report = Runner(sandbox, tmp_path).run(["dr.ada.lovelace", "zoë-✨"])
    assert report.exit_code == 0
    return tmp_path


def first_memory(data_dir: Path) -> dict[str, Any]:
    folder = data_dir / "personalities" / "dr.ada.lovelace" / "memory" / "dr.ada.lovelace_memory_1.json"
    return json.loads(folder.read_text("utf-8"))["memories"][3]  # type: ignore[no-any-return]


def test_search_finds_phrase(backed_up: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = first_memory(backed_up)
    phrase = " ".join(target["result"].split()[:7])
    code = main(
        ["--data-dir", str(backed_up), "search", f'"{phrase}"', "--name", "dr.ada.lovelace", "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and target["id"] in [h["id"] for h in out]
    assert all(h["personality"] == "dr.ada.lovelace" for h in out)
    assert main(["--data-dir", str(backed_up), "search", phrase.split()[-1]]) == 0
    assert "matches." in capsys.readouterr().out
    assert main(["--data-dir", str(backed_up), "search", "x", "--name", "nobody"]) == 1


def test_show_personality_and_memory(backed_up: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(backed_up), "show", "dr.ada.lovelace", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (
        info["memories"] == 130 and info["errors"] == [] and info["profile"]["username"] == "dr.ada.lovelace"
    )
    target = first_memory(backed_up)
    assert main(["--data-dir", str(backed_up), "show", "dr.ada.lovelace", "--memory", target["id"][:20]]) == 0
    out = capsys.readouterr().out
    assert target["result"] in out and target["metadata"]["msg_ids"][0] in out
    assert (
        main(["--data-dir", str(backed_up), "show", "dr.ada.lovelace", "--memory", target["id"], "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["memory"] == target


def test_show_reports_damaged_file(backed_up: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = backed_up / "personalities" / "dr.ada.lovelace" / "memory" / "dr.ada.lovelace_memory_1.json"
    broken.write_text("{not json", "utf-8")
    assert main(["--data-dir", str(backed_up), "show", "dr.ada.lovelace"]) == 1
    captured = capsys.readouterr()
    assert "memories:         0" in captured.out  # 130 memories fit in the one (now damaged) file
    assert "dr.ada.lovelace_memory_1.json" in captured.err
