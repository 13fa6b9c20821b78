"""What every command shares on the command line: exit codes, defaults, the usage error, the option value
types, and the global options (accepted before *and* after the subcommand).

Light on purpose: the dispatcher imports it to build the parser for ``--version`` and ``--help``, so it
imports nothing but the standard library pieces argparse needs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DELAY",
    "DEFAULT_FILES_BASE_URL",
    "DEFAULT_RETRY_DELAY",
    "DEMO_DELAY",
    "EXIT_AUTH",
    "EXIT_CANCELLED",
    "EXIT_FATAL",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "MIN_REMOTE_DELAY",
    "UsageError",
    "add_global_options",
    "date_arg",
    "port_arg",
    "positive_int",
    "sections_arg",
]

DEFAULT_BASE_URL = "https://shapes.inc"
DEFAULT_FILES_BASE_URL = "https://files.shapes.inc"
DEFAULT_DELAY = 1.0
DEMO_DELAY = 0.1
MIN_REMOTE_DELAY = 0.5
DEFAULT_RETRY_DELAY = 2.0

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_AUTH, EXIT_FATAL, EXIT_CANCELLED = 0, 1, 2, 3, 4, 130


class UsageError(Exception):
    """A bad combination of options, a bad option value or a path named on the command line that is not
    there (exit 2). ``hint`` says what to do, when there is more to say than the message."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


# --- option value types (argparse ``type=``: a bad value is argparse's usage error, exit 2) ---------------


def sections_arg(text: str) -> frozenset[str] | None:
    """``--sections``: a comma list of section names (unknown names are a usage error, exit 2)."""
    from ..backup.report import parse_sections

    try:
        return parse_sections(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def date_arg(text: str) -> str:
    """``--since`` / ``--until``: a real calendar day as ``YYYY-MM-DD`` (kept as text)."""
    import datetime as dt

    try:
        dt.datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2025-05-01") from None
    return text


def _whole_number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_int(text: str) -> int:
    """A whole number of 1 or more (``--limit``)."""
    value = _whole_number(text, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def port_arg(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    value = _whole_number(text, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535)")
    return value


# --- the global options -----------------------------------------------------------------------------------


def add_global_options(parser: argparse.ArgumentParser, *, in_subcommand: bool) -> None:
    """The options accepted before *and* after the subcommand.

    In subparsers every default is SUPPRESS, so an option not given after the subcommand leaves the value
    parsed before it (or the main parser's default) untouched.
    """

    def d(value: Any) -> Any:
        return argparse.SUPPRESS if in_subcommand else value

    g = parser.add_argument_group("global options")
    g.add_argument("--data-dir", type=Path, default=d(None), metavar="DIR",
                   help="where backups are kept (DIR/personalities/); default: the platform's user data dir")
    g.add_argument("--base-url", default=d(None), metavar="URL",
                   help=f"service base URL (default {DEFAULT_BASE_URL})")
    g.add_argument("--files-base-url", default=d(None), metavar="URL",
                   help=f"files host for avatars (default {DEFAULT_FILES_BASE_URL})")
    g.add_argument("--delay", type=float, default=d(None), metavar="SECONDS",
                   help=f"seconds between requests, twice that between personalities "
                        f"(default {DEFAULT_DELAY:g}; {DEMO_DELAY:g} with --demo)")
    g.add_argument("--retry-delay", type=float, default=d(None), metavar="SECONDS",
                   help=f"backoff before the first retry of a failed request, doubling each time "
                        f"(default {DEFAULT_RETRY_DELAY:g})")
    g.add_argument("--allow-fast", action="store_true", default=d(False),
                   help=f"allow --delay below {MIN_REMOTE_DELAY:g}s against a non-local service")
    g.add_argument("--demo", action="store_true", default=d(False),
                   help="use a local sandbox with made-up personalities (no account, no keyring)")
    g.add_argument("-v", "--verbose", action="store_true", default=d(False), help="log details to stderr")
    g.add_argument("--log-file", type=Path, default=d(None), metavar="FILE",
                   help="also write the log to FILE (secrets redacted)")
    g.add_argument("-q", "--quiet", action="store_true", default=d(False),
                   help="print only errors and the final summary")
