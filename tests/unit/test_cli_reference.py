"""docs/CLI.md is generated from the parser; it must match the code (regenerate it when this fails)."""

from __future__ import annotations

from pathlib import Path

from tzbackup_gui.cli import COMMANDS
from tzbackup_gui.cli.reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "CLI.md"


def test_cli_reference_matches_the_parser() -> None:
    assert DOC.read_text("utf-8") == render(), (
        "docs/CLI.md is out of date: run `.venv/bin/python -m tzbackup_gui.cli.reference > docs/CLI.md`"
    )


def test_every_command_is_documented() -> None:
    text = render()
    for name in COMMANDS:
        assert f"## tzbackup {name}\n" in text
