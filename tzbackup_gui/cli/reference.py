"""The CLI reference (docs/CLI.md), generated from the argparse parser so it cannot drift from the code.

``python -m tzbackup_gui.cli.reference > docs/CLI.md`` regenerates it; a test fails when they differ.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from . import build_parser

__all__ = ["render"]

WIDTH = "100"  # fixed, so the output does not depend on the terminal


@contextmanager
def _fixed_width() -> Iterator[None]:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render() -> str:
    """Markdown: the top-level help, then every command's full help, in the parser's order."""
    with _fixed_width():
        parser = build_parser()
        parts = [
            "# tzbackup command-line reference",
            "",
            "Generated from the parser by `python -m tzbackup_gui.cli.reference` (do not edit by hand).",
            "",
            "```",
            parser.format_help().rstrip(),
            "```",
        ]
        for name, sub in _subcommands(parser).items():
            parts += ["", f"## tzbackup {name}", "", "```", sub.format_help().rstrip(), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
