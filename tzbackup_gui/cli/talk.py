"""``tzbackup talk NAME``: talk to a backed-up personality through an OpenAI-compatible chat endpoint.

Nothing is contacted until an endpoint is set up: ``--endpoint URL --model M`` once (saved in
``<data dir>/talk/endpoint.json``; the API key, if the server needs one, goes to the keyring with
``--store-api-key``, read from standard input, or comes from ``$TZBACKUP_TALK_API_KEY`` for one run).
``--demo`` talks to the sandbox's made-up endpoint instead and saves no setting.

With standard input a terminal it is a conversation (Ctrl+C stops a reply; Ctrl+C or Ctrl+D at the prompt
ends it; ``/export FILE`` writes it as Markdown); otherwise every line is one turn and each reply is printed
on standard output (the memories used go to standard error unless ``-q``).

Exit codes: 0 ok, 1 a turn failed (model missing, context too long, an answer that is not the API's) or the
personality is not backed up, 2 usage (no endpoint set up, a bad URL), 3 the endpoint refused the API key,
4 the endpoint cannot be reached, 130 Ctrl+C.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ArchiveError, KeyringUnavailableError
from .context import Command, Context, check_names
from .options import EXIT_AUTH, EXIT_CANCELLED, EXIT_FATAL, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, UsageError

if TYPE_CHECKING:  # the parser is built for every command: asyncio, httpx and talk load only to talk
    import asyncio

    from ..talk import EndpointSettings, TalkSession

__all__ = ["API_KEY_ENV", "COMMANDS"]

API_KEY_ENV = "TZBACKUP_TALK_API_KEY"


def _talk_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="the personality (username, folder or display name)")
    p.add_argument("--model", default=None, metavar="M", help="the model to use (saved as the new default)")
    p.add_argument("--endpoint", default=None, metavar="URL",
                   help="the OpenAI-compatible base URL, e.g. http://localhost:11434/v1 for Ollama "
                        "(saved as the new default)")
    p.add_argument("--profile-version", default=None, metavar="V",
                   help="talk to an earlier profile version: vN, previous, or a date (default: current)")
    p.add_argument("--conversation", default=None, metavar="ID", help="continue a saved conversation")
    p.add_argument("--store-api-key", action="store_true",
                   help="read the endpoint's API key from standard input, keep it in the keyring, and stop")


def _settings(ctx: Context) -> EndpointSettings:
    """The endpoint for this run: the demo's, or the saved one updated with --endpoint / --model."""
    from ..talk import EndpointSettings, TalkSettingsError, load_settings, normalize_base_url, save_settings

    a = ctx.settings.args
    if ctx.settings.demo:  # ctx.settings.base_url is the demo sandbox's
        from ..sandbox.llm import DEMO_MODEL, llm_base_url

        return EndpointSettings(base_url=llm_base_url(ctx.settings.base_url), model=a.model or DEMO_MODEL)
    saved = load_settings(ctx.settings.data_dir)
    changed = False
    try:
        if a.endpoint is not None and normalize_base_url(a.endpoint) != saved.base_url:
            saved.base_url, saved.has_api_key, changed = normalize_base_url(a.endpoint), False, True
    except TalkSettingsError as err:
        raise UsageError(f"--endpoint: {err.message}") from err
    if a.model is not None and a.model.strip() and a.model.strip() != saved.model:
        saved.model, changed = a.model.strip(), True
    if not saved.configured:
        raise UsageError("no chat endpoint is set up for Talk, so nothing was contacted.",
                         hint="Name one once: tzbackup talk NAME --endpoint http://localhost:11434/v1 "
                              "--model MODEL (Ollama; LM Studio is :1234/v1, llama.cpp :8080/v1), or try "
                              "--demo.")
    if changed:
        path = save_settings(ctx.settings.data_dir, saved)
        ctx.note(f"Talk endpoint saved in {path}: {saved.base_url}, model {saved.model}.")
    return saved


def _api_key(ctx: Context, settings: EndpointSettings) -> str | None:
    if ctx.settings.demo:
        return None
    if os.environ.get(API_KEY_ENV, "").strip():
        return os.environ[API_KEY_ENV].strip()
    if not settings.has_api_key:
        return None
    try:
        return ctx.store.load_api_key(settings.base_url)
    except KeyringUnavailableError as err:
        ctx.warn(f"{err.message} Talking without the API key.")
        return None


def _store_api_key(ctx: Context, settings: EndpointSettings) -> int:
    from ..talk import save_settings

    if ctx.settings.demo:
        raise UsageError("--store-api-key has nothing to do in demo mode (the demo keeps nothing).")
    key = sys.stdin.readline().strip()
    if not key:
        raise UsageError("--store-api-key read no key from standard input.")
    where = ctx.store.save_api_key(settings.base_url, key)
    settings.has_api_key = True
    save_settings(ctx.settings.data_dir, settings)
    ctx.say(f"The API key for {settings.base_url} is stored in {where}.")
    return EXIT_OK


def _exit_code(err: Exception) -> int:
    from ..talk import EndpointAuthError, EndpointUnreachableError

    if isinstance(err, EndpointUnreachableError):
        return EXIT_FATAL
    if isinstance(err, EndpointAuthError):
        return EXIT_AUTH
    return EXIT_PARTIAL


def _report(ctx: Context, err: Exception) -> None:
    from ..errors import TzBackupError

    print(f"error: {err}", file=ctx.err, flush=True)
    if isinstance(err, TzBackupError) and err.hint:
        print(f"  hint: {err.hint}", file=ctx.err, flush=True)


async def _turn(ctx: Context, session: TalkSession, text: str) -> None:
    result = await session.turn(text, on_delta=lambda piece: print(piece, end="", file=ctx.out, flush=True))
    print(file=ctx.out, flush=True)
    if result.memories:
        # the count by default; the ids (to look up with `tzbackup show`) with -v, not 34 uuids a turn
        used = f"{len(result.memories)} memories used"
        ids = ", ".join(m.id for m in result.memories)
        ctx.note(f"[{used}: {ids}]" if ctx.settings.verbose else f"[{used}]")


def _converse(ctx: Context, runner: asyncio.Runner, session: TalkSession) -> int:
    """The interactive loop; returns the exit code."""
    from ..talk import TalkError, export_markdown

    ctx.note(f"Talking to {session.persona.name} ({session.persona.version_label}) through "
             f"{session.settings.model}. Ctrl+C stops a reply; Ctrl+D ends; /export FILE saves Markdown.")
    if session.persona.greeting and not session.conversation.messages:
        print(f"{session.persona.name}: {session.persona.greeting}", file=ctx.out, flush=True)
    while True:
        try:
            text = input("You: ").strip()
        except (EOFError, KeyboardInterrupt):
            print(file=ctx.out)
            return EXIT_OK
        if text in ("/quit", "/exit"):
            return EXIT_OK
        if text.startswith("/export"):
            target = Path(text[len("/export"):].strip() or ".").expanduser()
            ctx.say(f"Saved {export_markdown(session.conversation, target)}")
            continue
        if not text:
            continue
        print(f"{session.persona.name}: ", end="", file=ctx.out, flush=True)
        try:
            runner.run(_turn(ctx, session, text))
        except KeyboardInterrupt:
            print(" [stopped]", file=ctx.out, flush=True)
        except TalkError as err:
            print(file=ctx.out)
            _report(ctx, err)
            if _exit_code(err) != EXIT_PARTIAL:
                return _exit_code(err)


def _pipe(ctx: Context, runner: asyncio.Runner, session: TalkSession) -> int:
    """One turn per line of standard input; stops at the first failed turn."""
    from ..talk import TalkError

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            runner.run(_turn(ctx, session, line))
        except TalkError as err:
            _report(ctx, err)
            return _exit_code(err)
    return EXIT_OK


def run_talk(ctx: Context) -> int:
    """``tzbackup talk``: a plain call that runs its own event loop (the conversation reads the terminal
    between turns, outside the loop, so Ctrl+C during a reply cancels only that turn)."""
    import asyncio

    import httpx

    from ..talk import ChatEndpoint, TalkError, TalkSession, find_personality

    a = ctx.settings.args
    check_names([a.name])
    settings = _settings(ctx)
    if a.store_api_key:
        return _store_api_key(ctx, settings)
    try:
        folder = find_personality(ctx.settings.data_dir, a.name)
    except ArchiveError as err:
        _report(ctx, err)
        return EXIT_PARTIAL
    with asyncio.Runner() as runner:
        http = httpx.AsyncClient(follow_redirects=False)
        try:
            endpoint = ChatEndpoint(http, settings.base_url, api_key=_api_key(ctx, settings))
            try:
                start = TalkSession.start(ctx.settings.data_dir, folder, endpoint, settings,
                                          version=a.profile_version, conversation_id=a.conversation)
                session = runner.run(start)
            except (TalkError, ArchiveError) as err:
                _report(ctx, err)
                return EXIT_USAGE if isinstance(err, ArchiveError) and a.profile_version else EXIT_PARTIAL
            try:
                interactive = sys.stdin.isatty()
                return _converse(ctx, runner, session) if interactive else _pipe(ctx, runner, session)
            except KeyboardInterrupt:
                return EXIT_CANCELLED
            finally:
                runner.run(session.close())
                if session.conversation.path.exists():
                    ctx.note(f"Conversation saved in {session.conversation.path}")
        finally:
            runner.run(http.aclose())


COMMANDS = (
    Command("talk", "talk to a backed-up personality through an OpenAI-compatible chat endpoint (a local "
                    "Ollama, LM Studio, llama.cpp server or a hosted one); never contacts shapes.inc",
            _talk_arguments, run=run_talk, reads_data_dir=True),
)
