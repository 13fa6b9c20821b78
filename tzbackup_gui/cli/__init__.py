"""``tzbackup``: the command-line face of the backup core (Qt-free). This module is the dispatcher.

A thin layer: argparse in, one shared ``httpx.AsyncClient`` per invocation, the service client and the backup
engine underneath, plain text (or ``--json``) out. Errors are one ``error: ...`` line plus a hint on stderr,
never a traceback (with ``-v`` an unexpected bug shows one, scrubbed of secrets).

Each command family is one module beside this one that declares ``COMMANDS`` (see :class:`.context.Command`):
:mod:`.signin` (login, logout, whoami), :mod:`.backup` (list, backup), :mod:`.status` (status, verify),
:mod:`.browse` (search, show), :mod:`.export` (export, import), :mod:`.history` (history, diff) and
:mod:`.sandbox`; :mod:`.progress` renders a run, :mod:`.reference` writes docs/CLI.md from the parser. A new
family is a new module plus its entry in :data:`FAMILIES` (in the order ``--help`` lists commands).

Exit codes: 0 ok, 1 partly failed (or ``verify`` / ``status`` found a damaged backup, or a name is not there),
2 usage (a bad option value, a data dir or file named that does not exist), 3 authentication / credentials,
4 other fatal (``cannot write to DIR: reason`` among them), 130 cancelled by Ctrl+C. No input a user can type
ends in "unexpected ... please report it": that is for bugs only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from ..credentials import CredentialStore
from ..errors import ArchiveError, AuthError, CredentialError, TzBackupError
from . import backup, browse, export, history, sandbox, signin, status, talk
from .context import Command, Context, http_client, make_settings, require_data_dir
from .options import (
    EXIT_AUTH,
    EXIT_CANCELLED,
    EXIT_FATAL,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_global_options,
)

# Each family module imports only what building the parser needs: start-up is most of what ``--version``,
# ``--help`` and the offline commands cost (benchmarks/startup.py); the rest is imported where it is used.

__all__ = ["COMMANDS", "FAMILIES", "build_parser", "main"]  # the exit codes and defaults live in .options

#: The command families, in the order ``tzbackup --help`` lists their commands.
FAMILIES: tuple[tuple[Command, ...], ...] = (
    signin.COMMANDS,
    backup.COMMANDS,
    status.COMMANDS,
    browse.COMMANDS,
    export.COMMANDS,
    history.COMMANDS,
    talk.COMMANDS,
    sandbox.COMMANDS,
)
COMMANDS: dict[str, Command] = {command.name: command for family in FAMILIES for command in family}


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the global options (before and after the subcommand), then each command."""
    parser = argparse.ArgumentParser(
        prog="tzbackup",
        description="Back up your shapes.inc personalities and their long-term memories to local JSON files.",
        epilog="Exit codes: 0 ok, 1 partly failed, 2 usage, 3 authentication, 4 other fatal, 130 Ctrl+C.",
    )
    parser.add_argument("--version", action="version", version=f"tzbackup {__version__}")
    add_global_options(parser, in_subcommand=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_global_options(p, in_subcommand=True)
        return p

    for command in COMMANDS.values():
        command.arguments(add(command.name, command.help))
    return parser


# --- running ----------------------------------------------------------------------------------------------


def _run_command(ctx: Context) -> int:
    command = COMMANDS[ctx.settings.command]
    if command.reads_data_dir:
        require_data_dir(ctx.settings)
    if command.run is not None:
        return command.run(ctx)
    import asyncio

    return asyncio.run(_run(ctx, command))


async def _run(ctx: Context, command: Command) -> int:
    assert command.run_async is not None
    if not command.network:
        return await command.run_async(ctx)
    async with http_client() as http:
        ctx.http = http
        return await command.run_async(ctx)


def _exit_code_for(exc: TzBackupError) -> int:
    if isinstance(exc, AuthError | CredentialError):
        return EXIT_AUTH
    return EXIT_FATAL


def _report_error(ctx: Context | None, err: TextIO, exc: TzBackupError) -> None:
    scrub = ctx.scrub if ctx is not None else (lambda s: s)
    print(f"error: {scrub(str(exc))}", file=err)
    hint = exc.hint
    if isinstance(exc, AuthError) and ctx is not None and ctx.auth_hint():
        hint = f"{hint} {ctx.auth_hint()}".strip()
    if hint:
        print(f"  hint: {scrub(hint)}", file=err)
    err.flush()


@contextlib.contextmanager
def _demo_sandbox(enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from ..sandbox import SandboxServer

    with SandboxServer.demo() as server:
        yield server


def _start_logging(args: argparse.Namespace) -> None:
    """Set up logging. A ``--log-file`` that is a folder is a usage error; one that cannot be written (its
    folders are created, 0700) is "cannot write to FILE: reason" (exit 4)."""
    from ..log import setup_logging

    path: Path | None = args.log_file.expanduser() if args.log_file is not None else None
    if path is not None and path.is_dir():
        raise UsageError(f"--log-file {path} is a folder; name a file (in it, for example).")
    try:
        setup_logging(bool(args.verbose), path)
    except OSError as exc:
        in_way = next((p for p in (path or Path()).parents if p.exists() and not p.is_dir()), None)
        reason = f"{in_way} is a file, not a folder" if in_way is not None else exc.strerror or str(exc)
        raise ArchiveError(f"cannot write to {path}: {reason}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tzbackup`` console script. Returns the exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:  # `tzbackup ... | head`: the reader left; that is not an error of ours
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush stays quiet
        return EXIT_OK


def _traceback() -> str:
    import traceback

    return traceback.format_exc()


def _main(argv: Sequence[str] | None) -> int:
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)

    ctx: Context | None = None
    try:
        _start_logging(args)
        command = COMMANDS[args.command]
        if command.standalone is not None:  # the sandbox server: no settings, no context
            return command.standalone(args)
        placeholder = ("http://127.0.0.1", "http://127.0.0.1/files") if args.demo else None
        make_settings(args, demo_urls=placeholder)  # check the options before starting anything
        with _demo_sandbox(bool(args.demo)) as demo:
            demo_urls = (demo.base_url, demo.files_base_url) if demo is not None else None
            settings = make_settings(args, demo_urls=demo_urls)
            store = CredentialStore(memory_only=settings.demo)
            ctx = Context(settings, out, err, store, demo_cookie=demo.cookie if demo else None)
            if settings.demo and not settings.quiet and command.network:
                ctx.note(f"Demo mode: a local sandbox with made-up data; backups go to {settings.data_dir}")
            return _run_command(ctx)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=err)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=err)
        return EXIT_USAGE
    except TzBackupError as exc:
        _report_error(ctx, err, exc)
        return _exit_code_for(exc)
    except KeyboardInterrupt:
        print("\nCancelled.", file=err)
        return EXIT_CANCELLED
    except BrokenPipeError:
        raise
    except OSError as exc:  # the system refused a file or folder: not a bug of ours, so no "please report"
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot use{where}: {exc.strerror or exc}", file=err)
        print("  hint: check that it exists, is the right kind (file or folder) and that you may use it"
              + ("; -v shows where it happened." if not args.verbose else "."), file=err)
        if args.verbose:
            from ..log import redact

            print(redact(_traceback()), file=err)
        return EXIT_FATAL
    except Exception as exc:  # a bug: say so plainly, details only with -v (scrubbed)
        from ..log import redact

        known = ctx.scrub if ctx is not None else (lambda s: s)

        def scrub(text: str) -> str:
            return redact(known(text))

        print(f"error: unexpected {type(exc).__name__}: {scrub(str(exc))}", file=err)
        if args.verbose:
            print(scrub(_traceback()), file=err)
        else:
            print("  hint: run again with -v for details, and please report it.", file=err)
        return EXIT_FATAL
