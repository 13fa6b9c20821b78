"""``tzbackup login``, ``logout`` and ``whoami``: the session cookie, where it is kept and whose it is.

``login`` checks a cookie with the service before storing it in the OS keyring (pasted, piped with
``--stdin``, or read from a browser profile with ``--from-browser``: that one cookie, nothing else); the demo
stores nothing. These run on the event loop: keyring calls can block on an unlock prompt.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..credentials import COOKIE_ENV, COOKIE_FILE_ENV
from ..errors import CredentialError, KeyringUnavailableError, TzBackupError
from ..service.auth import SessionCredential, parse_cookie_input
from .context import Command, Context, log
from .options import EXIT_OK, UsageError

__all__ = ["COMMANDS"]


def _login_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stdin", action="store_true", help="read the cookie from standard input (no prompt)")
    p.add_argument("--from-browser", nargs="?", const="", default=None, metavar="BROWSER",
                   help="take the shapes.inc session cookie from your browser profile (reads that one "
                        "cookie, nothing else): firefox, librewolf, waterfox, floorp, zen, chrome, "
                        "chromium, edge, brave, vivaldi, opera; without BROWSER the one profile that has it")
    p.add_argument("--profile", default=None, metavar="NAME",
                   help="with --from-browser: the profile's name or folder name, when there are several")


def _user_label(user: dict[str, Any]) -> str:
    name = str(user.get("displayName") or user.get("name") or user.get("username") or "?")
    username = user.get("username")
    return f"{name} (@{username})" if username and username != name else name


def _read_cookie(ctx: Context) -> str:
    if ctx.settings.args.stdin:
        return sys.stdin.read()
    if not sys.stdin.isatty():
        raise UsageError("No terminal to prompt on: use 'tzbackup login --stdin' and pipe the cookie in.")
    ctx.note("Paste the value of the '__Secure-better-auth.session_token' cookie of https://shapes.inc\n"
             "(browser DevTools → Application → Cookies → https://shapes.inc). Input is hidden.")
    import getpass

    return getpass.getpass("Session cookie: ")


async def _credential_from_browser(ctx: Context) -> tuple[SessionCredential, Any]:
    """``login --from-browser``: find the profile to use, then read its shapes.inc session cookie only.

    No BROWSER: the single profile that has a usable cookie, else list them all and exit 2.
    """
    import asyncio
    import shlex

    from ..browser_cookies import (
        BROWSERS,
        BrowserCookieError,
        browser_kind,
        discover_profiles,
        reader_unavailable,
        scan_profiles,
        take_session_cookie,
    )

    unavailable = reader_unavailable()
    if unavailable is not None:  # say it once, plainly, instead of "unreadable" for every profile
        raise CredentialError(unavailable[0], hint=unavailable[1])
    args = ctx.settings.args
    name = (args.from_browser or "").strip().lower()
    kind = browser_kind(name) if name else None
    if name and kind is None:
        raise UsageError(f"unknown browser '{name}'; known: {', '.join(b.key for b in BROWSERS)}")
    profiles = await asyncio.to_thread(discover_profiles)
    if kind is not None:
        profiles = [p for p in profiles if p.browser == kind.key]
    if args.profile:
        wanted = args.profile.strip().casefold()
        profiles = [p for p in profiles if wanted in (p.name.casefold(), p.path.name.casefold())]
    if not profiles:
        what = f"No {kind.label} profile" if kind is not None else "No browser profile"
        named = f" named '{args.profile}'" if args.profile else ""
        raise CredentialError(
            f"{what}{named} with a cookie database was found on this computer.",
            hint="Sign in on https://shapes.inc in your browser first, name another browser, or run "
            "'tzbackup login' and paste the cookie by hand.",
        )
    ctx.note(f"Looking for the shapes.inc session cookie in {len(profiles)} browser profile(s); "
             "only that one cookie is read, nothing else.")
    statuses = await asyncio.to_thread(scan_profiles, profiles)
    usable = [s for s in statuses if s.usable]
    if len(usable) == 1:
        chosen = usable[0].profile
    elif len(statuses) == 1:
        raise BrowserCookieError(statuses[0])
    else:
        ctx.say("Browser profiles found:")
        width = max(len(s.profile.label) for s in statuses)
        for s in statuses:
            mark = "ok" if s.usable else "--"
            ctx.say(f"  [{mark}] {s.profile.label:<{width}}  {s.message}")
            ctx.say(f"        {'':<{width}}  --from-browser {s.profile.browser} "
                    f"--profile {shlex.quote(s.profile.path.name)}")
        if usable:
            raise UsageError("several profiles have a shapes.inc session cookie: choose one with "
                             "--from-browser BROWSER --profile NAME (listed above)")
        if kind is None:
            raise UsageError("no profile has a usable shapes.inc session cookie (listed above, with what "
                             "to do); or run 'tzbackup login' and paste the cookie by hand")
        raise CredentialError(
            f"No {kind.label} profile has a usable shapes.inc session cookie (listed above).",
            hint=f"Sign in on https://shapes.inc in {kind.label} first, or paste the cookie with "
            "'tzbackup login'.",
        )
    ctx.note(f"Reading one cookie for shapes.inc from {chosen.label}; nothing else.")
    credential = await asyncio.to_thread(take_session_cookie, chosen)
    return credential, chosen


async def cmd_login(ctx: Context) -> int:
    import asyncio

    args = ctx.settings.args
    from_browser = getattr(args, "from_browser", None) is not None
    if from_browser and args.stdin:
        raise UsageError("use either --stdin or --from-browser, not both")
    if getattr(args, "profile", None) and not from_browser:
        raise UsageError("--profile goes with --from-browser")
    if from_browser and ctx.settings.demo:
        raise UsageError("--from-browser reads your real browser's cookie; it cannot be used with --demo")
    if not ctx.settings.demo and not ctx.store.available():
        reason = ctx.store.unavailable_reason()
        raise KeyringUnavailableError(
            f"Cannot sign in permanently: no usable keyring ({reason}). tzbackup never writes the "
            "cookie to a plain file itself.",
            hint=f"Install and unlock GNOME Keyring or KWallet and try again; or, for scripts, save the "
            f"cookie in a file only you can read (chmod 600) and set {COOKIE_FILE_ENV}=/path/to/it, or "
            f"set {COOKIE_ENV} for a single run.",
        )
    profile: Any = None
    if from_browser:
        credential, profile = await _credential_from_browser(ctx)
    else:
        credential = parse_cookie_input(_read_cookie(ctx))
    ctx.credential, ctx.source = credential, "login"
    ctx.remember_secret(credential)
    client = ctx.client()
    await client.validate()
    user = await client.me()
    credential = client.credential
    if ctx.settings.demo:
        ctx.say(f"Signed in to the demo sandbox as {_user_label(user)}. Demo mode stores nothing.")
        return EXIT_OK
    user_id, username = str(user.get("id") or ""), str(user.get("username") or "")
    where = await asyncio.to_thread(ctx.store.save, credential, user_id=user_id, username=username)
    ctx.say(f"Signed in as {_user_label(user)}. The session cookie is stored in {where}.")
    from ..browser_cookies import forget_source, remember_source

    try:  # which profile it came from (not the secret): an expired session can take a fresh one there
        await asyncio.to_thread(remember_source, profile) if profile is not None else forget_source()
    except TzBackupError as exc:
        log().info("Could not note the browser profile: %s", exc)
    if profile is not None:
        ctx.note(f"Read one cookie (the shapes.inc session cookie) from {profile.label}; nothing else.")
    if os.environ.get(COOKIE_ENV) or os.environ.get(COOKIE_FILE_ENV):
        ctx.warn(f"{COOKIE_ENV} / {COOKIE_FILE_ENV} is set and takes precedence over the keyring.")
    return EXIT_OK


async def cmd_logout(ctx: Context) -> int:
    import asyncio

    if ctx.settings.demo:
        ctx.say("Demo mode stores no cookie; nothing to remove.")
        return EXIT_OK
    where = ctx.store.describe_location()
    await asyncio.to_thread(ctx.store.delete)
    ctx.say(f"Signed out: removed the session cookie from {where}.")
    if os.environ.get(COOKIE_ENV) or os.environ.get(COOKIE_FILE_ENV):
        ctx.warn(f"{COOKIE_ENV} / {COOKIE_FILE_ENV} is still set; unset it to stop using that cookie.")
    return EXIT_OK


async def cmd_whoami(ctx: Context) -> int:
    user = await ctx.client().me()
    ctx.say(f"Signed in as {_user_label(user)}, user id {user.get('id', '?')}.")
    ctx.note(f"Session cookie from {ctx.source}; service {ctx.settings.base_url}.")
    return EXIT_OK


COMMANDS = (
    Command("login", "check a session cookie with the service and store it in the OS keyring",
            _login_arguments, run_async=cmd_login, network=True),
    Command("logout", "remove the stored session cookie from the keyring", run_async=cmd_logout),
    Command("whoami", "show which shapes.inc account the cookie belongs to", run_async=cmd_whoami,
            network=True),
)
