"""``tzbackup``: the command-line face of the backup core (Qt-free).

A thin layer: argparse in, one shared ``httpx.AsyncClient`` per invocation, the service client and the backup
engine underneath, plain text (or ``--json``) out. Errors are one ``error: ...`` line plus a hint on stderr,
never a traceback (with ``-v`` an unexpected bug shows one, scrubbed of secrets).

Exit codes: 0 ok, 1 partly failed (or ``verify`` / ``status`` found a damaged backup, or a name is not there),
2 usage (a bad option value, a data dir or file named that does not exist), 3 authentication / credentials,
4 other fatal (``cannot write to DIR: reason`` among them), 130 cancelled by Ctrl+C. No input a user can type
ends in "unexpected ... please report it": that is for bugs only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from .. import __version__
from ..credentials import COOKIE_ENV, COOKIE_FILE_ENV, CredentialStore, resolve_credential
from ..errors import (
    ArchiveError,
    AuthError,
    CredentialError,
    KeyringUnavailableError,
    TzBackupError,
)
from ..paths import default_data_dir, demo_data_dir, personalities_dir
from ..service.auth import SessionCredential, parse_cookie_input

# Imported where they are used, not here: start-up is most of what ``--version``, ``--help`` and the offline
# commands cost (benchmarks/startup.py), so this module loads only what building the parser needs.
if TYPE_CHECKING:
    import asyncio
    import logging
    import signal

    import httpx

    from ..backup import PersonalityResult, RunReport
    from ..service import ShapesClient
    from .progress import Kept

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_FILES_BASE_URL",
    "EXIT_AUTH",
    "EXIT_CANCELLED",
    "EXIT_FATAL",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "build_parser",
    "main",
]



def log() -> logging.Logger:
    """The CLI's logger (``logging`` is imported on first use: ``--version`` and ``--help`` never log)."""
    import logging

    return logging.getLogger("tzbackup.cli")


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


# --- argument parsing ----------------------------------------------------------------------------------


def _sections_arg(text: str) -> frozenset[str] | None:
    """``--sections``: a comma list of section names (unknown names are a usage error, exit 2)."""
    from ..backup.report import parse_sections

    try:
        return parse_sections(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _date_arg(text: str) -> str:
    """``--since`` / ``--until``: a real calendar day as ``YYYY-MM-DD`` (kept as text)."""
    import datetime as dt

    try:
        dt.datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2025-05-01") from None
    return text


def _positive_int(text: str) -> int:
    """A whole number of 1 or more (``--limit``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _port_arg(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535)")
    return value


def _add_global_options(parser: argparse.ArgumentParser, *, in_subcommand: bool) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tzbackup",
        description="Back up your shapes.inc personalities and their long-term memories to local JSON files.",
        epilog="Exit codes: 0 ok, 1 partly failed, 2 usage, 3 authentication, 4 other fatal, 130 Ctrl+C.",
    )
    parser.add_argument("--version", action="version", version=f"tzbackup {__version__}")
    _add_global_options(parser, in_subcommand=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_global_options(p, in_subcommand=True)
        return p

    p = add("login", "check a session cookie with the service and store it in the OS keyring")
    p.add_argument("--stdin", action="store_true", help="read the cookie from standard input (no prompt)")
    p.add_argument("--from-browser", nargs="?", const="", default=None, metavar="BROWSER",
                   help="take the shapes.inc session cookie from your browser profile (reads that one "
                        "cookie, nothing else): firefox, librewolf, waterfox, floorp, zen, chrome, "
                        "chromium, edge, brave, vivaldi, opera; without BROWSER the one profile that has it")
    p.add_argument("--profile", default=None, metavar="NAME",
                   help="with --from-browser: the profile's name or folder name, when there are several")
    add("logout", "remove the stored session cookie from the keyring")
    add("whoami", "show which shapes.inc account the cookie belongs to")
    p = add("list", "list your personalities with their local backup state")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("backup", "back up personalities (incremental; resumes an interrupted run)")
    p.add_argument("names", nargs="*", metavar="NAME", help="personality username (or unique display name)")
    p.add_argument("--all", action="store_true", help="every personality you own")
    p.add_argument("--full", action="store_true", help="walk every memory page (find edits and deletions)")
    p.add_argument("--allow-not-owned", action="store_true",
                   help="back up the public part of personalities you do not own")
    p.add_argument("--reconcile-days", type=float, default=7.0, metavar="N",
                   help="do a full walk when the last one is older than N days (default 7)")
    p.add_argument("--sections", type=_sections_arg, default=None, metavar="LIST",
                   help="comma list of what to back up: profile, memories, knowledge, training, "
                        "personalization, chat, images, or all (default all; the profile is always saved; "
                        "sections left out keep their previous files)")

    p = add("status", "show what is backed up locally (no network)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("verify", "check backups on disk against the layout contract (or an exported FILE.zip)")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", action="store_true", help="every local backup")
    p.add_argument("--online", action="store_true",
                   help="also compare with the memory count the service reports (needs a cookie)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("search", "search the memories and profiles saved locally (no network)")
    p.add_argument("query", metavar="QUERY", help='words (all must match) or "a phrase"')
    p.add_argument("--name", metavar="NAME", help="only this personality")
    p.add_argument("--since", type=_date_arg, metavar="YYYY-MM-DD", help="only memories from this day on")
    p.add_argument("--until", type=_date_arg, metavar="YYYY-MM-DD",
                   help="only memories up to this day (inclusive)")
    p.add_argument("--limit", type=_positive_int, default=50, help="at most this many matches (default 50)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("show", "show a saved personality, or one of its memories (no network)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--memory", metavar="ID", help="show this memory (an id or a unique start of one)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("export", "export a saved personality as a zip, a Markdown file or a character card (no network)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--format", choices=("zip", "markdown", "card"), default="zip",
                   help="zip (the backup folder + manifest), markdown (one readable document), card "
                        "(Character Card V2 JSON + PNG); default zip")
    p.add_argument("-o", "--output", default=None, metavar="PATH",  # text: a trailing slash means a folder
                   help="file to write, or a folder to write it in (default: the current folder)")

    p = add("import", "import an exported zip into the data dir (verified; never overwrites newer data)")
    p.add_argument("file", type=Path, metavar="FILE.zip")

    p = add("history", "show how a saved personality evolved: backup runs and profile versions (no network)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--version", dest="profile_version", metavar="V",
                   help="print this kept profile version as JSON (vN, previous, or a date/time: the "
                        "version current then)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("diff", "unified diff of two saved profile versions, field by field (no network)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--from", dest="from_ts", metavar="TS",
                   help="older version: a date/time (the version current then; a day means its end, UTC), "
                        "vN or previous (default: the version before --to)")
    p.add_argument("--to", dest="to_ts", metavar="TS", help="newer version, same forms (default: current)")

    p = add("sandbox", "run the local sandbox service (for trying things out) until Ctrl+C")
    p.add_argument("--port", type=_port_arg, default=8765,
                   help="port on 127.0.0.1 (default 8765; 0 = any free)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated demo data")
    p.add_argument("--rotate-every", type=int, default=None, metavar="N",
                   help="rotate the session cookie every N authenticated requests")
    return parser


# --- settings -------------------------------------------------------------------------------------------


@dataclass
class Settings:
    """Options after defaults and checks."""

    command: str
    data_dir: Path
    base_url: str
    files_base_url: str
    delay: float
    retry_delay: float
    demo: bool
    verbose: bool
    quiet: bool
    args: argparse.Namespace


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str, option: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{option} must be an http(s) URL, got {url!r}.")
    if parts.scheme == "http" and not _is_loopback(url):
        raise UsageError(f"{option} must use https for a non-local host.")
    return url.rstrip("/")


def make_settings(args: argparse.Namespace, *, demo_urls: tuple[str, str] | None = None) -> Settings:
    """Apply defaults and the rules between options (raises :class:`UsageError`)."""
    if args.verbose and args.quiet:
        raise UsageError("-v/--verbose and -q/--quiet cannot be used together.")
    demo = bool(args.demo)
    data_dir = args.data_dir or (demo_data_dir() if demo else default_data_dir())
    if demo_urls is not None:
        base_url, files_base_url = demo_urls
    else:
        base_url = _check_url(args.base_url or DEFAULT_BASE_URL, "--base-url")
        files_base_url = _check_url(args.files_base_url or DEFAULT_FILES_BASE_URL, "--files-base-url")
    delay = args.delay if args.delay is not None else (DEMO_DELAY if demo else DEFAULT_DELAY)
    if not (delay >= 0 and math.isfinite(delay)):
        raise UsageError(f"--delay must be zero or more seconds (a finite number), not {delay:g}.")
    if delay < MIN_REMOTE_DELAY and not _is_loopback(base_url) and not args.allow_fast:
        raise UsageError(
            f"--delay below {MIN_REMOTE_DELAY:g}s is only allowed against a local service; add --allow-fast "
            "if you really mean it (the real service may block fast clients)."
        )
    retry_delay = DEFAULT_RETRY_DELAY if args.retry_delay is None else args.retry_delay
    if not (retry_delay >= 0 and math.isfinite(retry_delay)):
        raise UsageError(
            f"--retry-delay must be zero or more seconds (a finite number), not {retry_delay:g}."
        )
    if retry_delay < MIN_REMOTE_DELAY and not _is_loopback(base_url) and not args.allow_fast:
        raise UsageError(f"--retry-delay below {MIN_REMOTE_DELAY:g}s is only allowed against a local service "
                         "(or with --allow-fast).")
    return Settings(command=args.command, data_dir=Path(data_dir).expanduser(), base_url=base_url,
                    files_base_url=files_base_url, delay=float(delay), retry_delay=float(retry_delay),
                    demo=demo, verbose=bool(args.verbose), quiet=bool(args.quiet), args=args)


# --- data dirs -------------------------------------------------------------------------------------------

#: Commands that only read the data dir. A data dir that is not there is a typo (exit 2), never "No backups"
#: and exit 0: a scheduled check with a mistyped --data-dir must fail, not pass for ever.
READ_COMMANDS = frozenset({"status", "verify", "search", "show", "export", "history", "diff"})


def require_data_dir(settings: Settings) -> None:
    """Refuse a data dir that does not exist or is not a folder (:class:`UsageError`, exit 2), and one that
    cannot be read (:class:`ArchiveError`, exit 4)."""
    path = settings.data_dir
    if not path.is_dir():
        what = " (a file, not a folder)" if path.exists() else ""
        hint = ("Check the folder given to --data-dir." if settings.args.data_dir is not None else
                "Nothing has been backed up here yet ('tzbackup backup' creates it), or name the folder that "
                "holds your backups with --data-dir.")
        raise UsageError(f"no such data dir: {path}{what}", hint=hint)
    if not os.access(path, os.R_OK | os.X_OK):
        raise ArchiveError(f"cannot read {path}: permission denied",
                           hint="Run tzbackup as the user who owns it, or fix its permissions.")


def require_writable(data_dir: Path, *, create: bool = True) -> None:
    """Make sure a command that writes backups can: a file can be created in the data dir (created, 0700,
    when missing; without ``create`` a missing one is only tried in its nearest existing parent) and in its
    personalities folder. Else :class:`ArchiveError` "cannot write to DIR: reason" (exit 4), before anything
    is fetched or written."""
    for folder, make in ((data_dir, create), (personalities_dir(data_dir), False)):
        reason = _write_problem(folder, create=make)
        if reason:
            raise ArchiveError(
                f"cannot write to {folder}: {reason}",
                hint="Choose a folder you can write to with --data-dir (is the drive mounted and writable?), "
                "or fix this one's permissions.",
            )


def _write_problem(folder: Path, *, create: bool) -> str:
    """Why no file can be created in ``folder`` ("" when one can). A missing folder is created with
    ``create``; without, the probe goes to its nearest existing parent (nothing is left behind)."""
    from ..archive.store import ensure_dir

    try:
        if folder.exists() and not folder.is_dir():
            return "it is a file, not a folder"
        if not folder.exists() and create:
            ensure_dir(folder)
        probe_in = folder
        while not probe_in.exists() and probe_in != probe_in.parent:
            probe_in = probe_in.parent
        if not probe_in.is_dir():
            return "Not a directory"  # a file where a parent folder should be
        import tempfile

        fd, probe = tempfile.mkstemp(prefix=".tzbackup-probe-", dir=probe_in)
        os.close(fd)
        os.unlink(probe)
    except TzBackupError as err:
        cause = err.__cause__
        return cause.strerror if isinstance(cause, OSError) and cause.strerror else str(err)
    except OSError as err:
        return err.strerror or str(err)
    return ""


def _check_names(names: Sequence[str]) -> None:
    """A personality name typed as "" (or only spaces) is a usage error, not a lookup."""
    if any(not name.strip() for name in names):
        raise UsageError("a personality name cannot be empty.",
                         hint="Use its username (the name in its URL); 'tzbackup status' lists local ones.")


# --- the run context --------------------------------------------------------------------------------------


@dataclass
class Context:
    """What one invocation shares: settings, the HTTP client, the credential and where it came from."""

    settings: Settings
    out: TextIO
    err: TextIO
    store: CredentialStore
    demo_cookie: str | None = None
    http: httpx.AsyncClient | None = None
    credential: SessionCredential | None = None
    source: str = ""
    secrets: set[str] = field(default_factory=set)
    _stale_warned: bool = False

    # output helpers
    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """An informational line on stderr (silenced by -q)."""
        if not self.settings.quiet:
            print(text, file=self.err, flush=True)

    def warn(self, text: str) -> None:
        print(f"warning: {text}", file=self.err, flush=True)

    # secrets
    def remember_secret(self, credential: SessionCredential) -> None:
        from ..log import add_secret

        for value in credential.secrets():
            self.secrets.add(value)
            add_secret(value)

    def scrub(self, text: str) -> str:
        for value in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(value, "<redacted>")
        return text

    # credentials
    def load_credential(self) -> SessionCredential:
        """The credential for this run (demo: the sandbox's), or raise a CredentialError saying what to do."""
        if self.credential is not None:
            return self.credential
        if self.settings.demo:
            assert self.demo_cookie is not None
            credential, source = parse_cookie_input(self.demo_cookie), "the demo sandbox"
        else:
            found, source = resolve_credential(self.store)
            if found is None:
                raise CredentialError(
                    f"Not signed in: {source}.",
                    hint="Run 'tzbackup login' (stores the cookie in the OS keyring), or set TZBACKUP_COOKIE "
                    "for one run, or TZBACKUP_COOKIE_FILE for scheduled runs (see README: Session cookie).",
                )
            credential = found
        self.credential, self.source = credential, source
        self.remember_secret(credential)
        return credential

    def on_rotate(self, credential: SessionCredential) -> None:
        """The service rotated the session cookie: use it from now on and keep it where the old one was."""
        self.remember_secret(credential)
        self.credential = credential
        if self.settings.demo:
            return
        if self.source == f"${COOKIE_ENV}":
            if not self._stale_warned:
                self._stale_warned = True
                self.warn(f"the service rotated the session cookie; this run uses the new one, but "
                          f"{COOKIE_ENV} now holds a stale value. Copy a fresh cookie from your browser "
                          "(or use 'tzbackup login') before the next run.")
            return
        if self.source.endswith(f"(${COOKIE_FILE_ENV})"):
            self._rewrite_cookie_file(Path(os.environ[COOKIE_FILE_ENV]).expanduser(), credential)
            return
        if "systemd" in self.source:
            self.warn("the service rotated the session cookie; the systemd credential is read-only, so "
                      "update it before the session ends.")
            return
        try:
            self.store.update(credential)
            log().info("Stored the rotated session cookie in %s", self.store.describe_location())
        except TzBackupError as exc:
            self.warn(f"could not store the rotated session cookie: {exc}")

    def _rewrite_cookie_file(self, path: Path, credential: SessionCredential) -> None:
        """Replace the cookie file's content atomically, keeping mode 0600."""
        import tempfile

        try:
            fd, tmp = tempfile.mkstemp(prefix=".tzbackup-cookie-", dir=path.parent)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, (credential.serialize() + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            log().info("Stored the rotated session cookie in %s", path)
        except OSError as exc:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
            self.warn(f"the service rotated the session cookie but {path} could not be updated "
                      f"({exc.strerror}); update it before the next run.")

    def client(self, on_event: Callable[[Any], None] | None = None) -> ShapesClient:
        from ..service import Pacer, RetryPolicy, ShapesClient

        assert self.http is not None
        return ShapesClient(
            self.http,
            self.load_credential(),
            base_url=self.settings.base_url,
            files_base_url=self.settings.files_base_url,
            pacer=Pacer(delay=self.settings.delay),
            retry=RetryPolicy(base_delay=self.settings.retry_delay),
            on_event=on_event or _log_event,
            on_rotate=self.on_rotate,
        )

    def auth_hint(self) -> str:
        if self.source == f"${COOKIE_ENV}":
            return f"The cookie came from {COOKIE_ENV}: set it to a fresh cookie copied from your browser."
        if self.source.endswith(f"(${COOKIE_FILE_ENV})"):
            return f"The cookie came from {COOKIE_FILE_ENV}: put a fresh cookie in that file."
        if self.source and "keyring" in self.source:
            from ..browser_cookies import load_remembered_source

            remembered = load_remembered_source()
            if remembered is not None:
                return (f"Take a fresh cookie from the same browser ({remembered.label}): "
                        f"tzbackup login {remembered.cli_args}")
        return ""


def _log_event(event: Any) -> None:
    log().debug("event %s", type(event).__name__)


# --- commands ---------------------------------------------------------------------------------------------


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


def _local_backups(ctx: Context) -> list[Any]:
    from ..archive import list_backups

    return list_backups(ctx.settings.data_dir)


async def cmd_list(ctx: Context) -> int:
    # a missing default data dir only means nothing was backed up yet; a named one that is missing is a typo
    if ctx.settings.args.data_dir is not None or ctx.settings.data_dir.exists():
        require_data_dir(ctx.settings)
    shapes = await ctx.client().list_own_shapes()
    local = _local_backups(ctx)
    by_id = {b.shape_id: b for b in local if b.shape_id}
    by_slug = {b.slug: b for b in local}
    rows: list[dict[str, Any]] = []
    for shape in shapes:
        backup = by_id.get(shape.id) or by_slug.get(shape.username)
        rows.append({
            "name": shape.name,
            "username": shape.username,
            "id": shape.id,
            "last_backup": backup.last_backup if backup else None,
            "local_memories": backup.total_memories if backup else 0,
            "folder": str(backup.folder) if backup else None,
        })
    if ctx.settings.args.json:
        ctx.say(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        ctx.say("You own no personalities on this account.")
        return EXIT_OK
    table = [("name", "username", "last backup", "memories")]
    table += [(r["name"], r["username"], r["last_backup"] or "never", str(r["local_memories"])) for r in rows]
    ctx.say(_table(table, numeric={3}))
    return EXIT_OK


def _table(rows: Sequence[Sequence[str]], *, numeric: Collection[int] = ()) -> str:
    from .progress import format_table

    return format_table(rows, numeric=numeric)


def _names_or_all(args: argparse.Namespace, what: str) -> None:
    """``NAME... | --all``: exactly one of the two."""
    if args.all and args.names:
        raise UsageError("Give personality names or --all, not both.")
    if not args.all and not args.names:
        raise UsageError(f"Name {what}, or use --all.")


async def cmd_backup(ctx: Context) -> int:
    import asyncio

    from ..backup import BackupEngine, BackupOptions
    from .progress import ProgressDisplay, kept_numbers, stored_totals

    args = ctx.settings.args
    _names_or_all(args, "the personalities to back up")
    _check_names(args.names)
    if not args.reconcile_days >= 0:  # NaN too
        raise UsageError(f"--reconcile-days must be zero or more days, not {args.reconcile_days:g}.")
    await asyncio.to_thread(require_writable, ctx.settings.data_dir)
    before = await asyncio.to_thread(stored_totals, ctx.settings.data_dir)
    display = ProgressDisplay(ctx.out, ctx.err, quiet=ctx.settings.quiet, delay=ctx.settings.delay)
    client = ctx.client(on_event=display)
    options = BackupOptions(full=args.full, reconcile_age_days=args.reconcile_days,
                            allow_not_owned=args.allow_not_owned, sections=args.sections)
    engine = BackupEngine(client, ctx.settings.data_dir, options=options, on_event=display)
    task = asyncio.ensure_future(engine.run(None if args.all else list(args.names)))
    cancelled = await _await_cancellable(task, ctx, display)
    display.close()
    report = engine.report
    _print_report(ctx, report, kept_numbers(ctx.settings.data_dir, report.results, before, display.walks))
    if cancelled:
        return EXIT_CANCELLED
    return report.exit_code


async def _await_cancellable(task: asyncio.Future[Any], ctx: Context, display: Any) -> bool:
    """Await the engine task; Ctrl+C (SIGINT) or SIGTERM cancels it cleanly. True when it was cancelled."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    interrupts = 0

    def interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            display.close()
            print("\nStopping safely (finishing the current write)...", file=ctx.err, flush=True)
        task.cancel()

    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, interrupt)
            installed.append(sig)
    ticker = asyncio.ensure_future(_tick(display)) if getattr(display, "tty", False) else None
    try:
        await task
        return False
    except asyncio.CancelledError:
        if interrupts or task.cancelled():
            return True
        raise
    finally:
        if ticker is not None:
            ticker.cancel()
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _tick(display: Any) -> None:
    import asyncio

    while True:
        await asyncio.sleep(0.5)
        display.refresh()


def _print_report(ctx: Context, report: RunReport, kept: dict[str, Kept] | None = None) -> None:
    """The summary table, then what stopped the run. ``kept``: what unfinished personalities stored."""
    from .progress import run_sections, summary_table

    # every personality of the run, those a stopped run never reached too ("not attempted", not "failed")
    results: list[PersonalityResult] = list(report.results)
    if results:
        ctx.say("")
        ctx.say(summary_table(results, run_sections(ctx.settings.data_dir, results), kept))
    # each personality's failure was printed as it happened (with its hint); here only what stopped the run
    if report.stopped_by:
        shown = any(r.error == report.error for r in report.results)
        total = len(report.results)
        if not shown:
            print(f"error: {report.error}", file=ctx.err)
        if total:
            skipped = f", {report.not_attempted} not attempted" if report.not_attempted else ""
            resumes = "" if "resumes" in report.error else "; the next run resumes where this one stopped"
            print(f"{'error: the run stopped: ' if shown else '  '}{report.done} of {total} personalities "
                  f"were backed up{skipped}{resumes}.", file=ctx.err)
        # a hint already printed under a personality's failure is not repeated
        hint = "" if shown or any(r.hint == report.hint for r in report.results) else report.hint
        if report.exit_code == EXIT_AUTH and ctx.auth_hint():
            hint = f"{hint} {ctx.auth_hint()}".strip()
        if hint:
            print(f"  hint: {hint}", file=ctx.err)
    if report.cancelled:
        print("Cancelled: the backup stopped cleanly; run the same command again to resume.", file=ctx.err)
    ctx.err.flush()


def _select(ctx: Context, names: Sequence[str]) -> tuple[list[Any], list[str]]:
    """Local backups matching ``names`` (slug, folder or display name); plus the names not found."""
    backups = _local_backups(ctx)
    if not names:
        return backups, []
    chosen: list[Any] = []
    missing: list[str] = []
    for name in names:
        hits = [b for b in backups if name in (b.slug, b.folder.name)] or [
            b for b in backups if b.display_name and b.display_name.casefold() == name.casefold()
        ]
        if hits:
            chosen.extend(h for h in hits if h not in chosen)
        else:
            missing.append(name)
    return chosen, missing


@dataclass
class _Health:
    """What ``status`` found on disk for one backup: the problems ``verify`` reports (empty when sound) and
    the memories the memory files still hold; ``checked`` is False while a backup holds the data dir."""

    problems: list[str] = field(default_factory=list)
    readable: int | None = None
    checked: bool = True


def _health(b: Any, busy: bool) -> _Health:
    """Run the checks of ``verify`` on one backup (read-only), unless a backup is writing the data dir now
    (its commit would look like damage half-way)."""
    from ..archive import verify_backup

    if b.problem:
        return _Health([b.problem])
    if busy:
        return _Health(checked=False)
    report = verify_backup(Path(b.folder))
    return _Health(list(report.problems), report.memories)


def _backup_running(data_dir: Path) -> bool:
    """Whether another tzbackup holds the data dir's lock now (asked without creating or taking it)."""
    from ..archive.lock import is_locked

    return is_locked(data_dir)


def _status_dict(b: Any, health: _Health | None = None) -> dict[str, Any]:
    health = health or _Health()
    return {
        "name": b.display_name or b.slug,
        "username": b.slug,
        "folder": str(b.folder),
        "shape_id": b.shape_id,
        "last_backup": b.last_backup,
        "local_memories": b.total_memories,
        "server_total_last_seen": b.server_total,  # only what the service itself reported, else null
        "live_at_last_full_walk": b.live_at_last_full_walk,  # our own count, not the server's
        "deleted_upstream": b.deleted_upstream,
        "pending_resume": b.pending_resume,
        # memories fetched by a walk that did not finish: in the memory files (and in local_memories) already
        "unfinished_walk_memories": b.unfinished_fetched,
        "last_run": b.last_run,
        "problem": b.problem or None,
        # what ``verify`` finds: a damaged backup makes ``status`` exit 1
        "damaged": bool(health.problems),
        "problems": health.problems,
        "readable_memories": health.readable,
        "checked": health.checked,
        "sections": _section_summaries(Path(b.folder)),
    }


def _section_summaries(folder: Path) -> dict[str, Any]:
    """Per-section ``{count, status, lastSync, error}`` from the metadata (``{}`` when unreadable/none)."""
    try:
        meta = json.loads((folder / ".backup-metadata.json").read_bytes())
    except (OSError, ValueError):
        return {}
    sections = meta.get("sections") if isinstance(meta, dict) else None
    if not isinstance(sections, dict):
        return {}
    keys = ("count", "status", "lastSync", "error")
    return {
        name: {k: entry.get(k) for k in keys} for name, entry in sections.items() if isinstance(entry, dict)
    }


def _chat_status_text(folder: Path) -> str:
    """The ``chat`` column of ``status``: messages saved ("320"), "320 (last sync failed)", or "-" when
    the chat was never backed up."""
    chat = _section_summaries(folder).get("chat")
    if not isinstance(chat, dict):
        return "-"
    count = chat.get("count")
    text = str(count) if isinstance(count, int) else "?"
    return f"{text} (last sync failed)" if chat.get("status") == "failed" else text


def _last_run_text(run: dict[str, Any] | None) -> str:
    if not run:
        return "-"
    status = str(run.get("status") or run.get("result") or "?")
    new = run.get("new")
    # an unfinished run's record counts no new memories, though what it fetched was kept: say nothing then
    return f"{status} ({new} new)" if isinstance(new, int) and (status == "ok" or new) else status


def _server_total_text(server_total: int | None, live_at_last_full_walk: int | None) -> str:
    """The "server" cell of ``status``: the total the service reported, else "—". The live count of the last
    full walk is our own measurement, so it only ever appears labelled as such, never as the server's."""
    if server_total is not None:
        return str(server_total)
    if live_at_last_full_walk is not None:
        return f"— ({live_at_last_full_walk} live at last full walk)"
    return "—"


def cmd_status(ctx: Context) -> int:
    _check_names(ctx.settings.args.names)
    chosen, missing = _select(ctx, ctx.settings.args.names)
    busy = _backup_running(ctx.settings.data_dir) if chosen else False
    health = {str(b.folder): _health(b, busy) for b in chosen}
    damaged = [b for b in chosen if health[str(b.folder)].problems]
    if ctx.settings.args.json:
        ctx.say(json.dumps({"data_dir": str(ctx.settings.data_dir),
                            "backups": [_status_dict(b, health[str(b.folder)]) for b in chosen],
                            "not_found": missing},
                           indent=2, ensure_ascii=False, default=str))
    elif not chosen and not missing:
        ctx.say(f"No backups yet in {personalities_dir(ctx.settings.data_dir)}.")
    elif chosen:
        rows = [("username", "last backup", "local", "server (last seen)", "deleted upstream", "last run",
                 "chat")]
        for b in chosen:
            server = _server_total_text(b.server_total, b.live_at_last_full_walk)
            last = _last_run_text(b.last_run) + (" (resumable)" if b.pending_resume else "")
            local = str(b.total_memories)
            found = health[str(b.folder)]
            if b.problem:  # the metadata cannot be used (damaged, or an earlier tool's layout)
                local = "? (unusable)"
            elif found.problems:
                local = f"{found.readable} (damaged)"
            elif b.unfinished_fetched:
                local += " (unfinished walk)"
            rows.append((b.slug, b.last_backup or "never", local, server,
                         str(b.deleted_upstream), last, _chat_status_text(Path(b.folder))))
        ctx.say(_table(rows, numeric={2, 3, 4}))
        for b in chosen:
            found = health[str(b.folder)]
            if b.problem:
                ctx.say(f"  {b.slug}: {b.problem}")
            elif found.problems:
                more = len(found.problems) - 1
                ctx.say(f"  {b.slug}: DAMAGED: {found.problems[0]}"
                        + (f" ({more} more problem{'s' if more > 1 else ''})" if more else ""))
                ctx.say(f"  {'':{len(b.slug)}}  the memory files hold {found.readable} readable memories; "
                        f"the metadata records {b.total_memories}. 'tzbackup verify {b.slug}' lists every "
                        "problem.")
            elif not found.checked:
                ctx.say(f"  {b.slug}: not checked for damage: a backup is writing this data dir now.")
            elif b.unfinished_fetched:
                ctx.say(f"  {b.slug}: {b.unfinished_fetched} memories come from a walk that did not finish; "
                        "they are saved and searchable, and the next backup completes the walk.")
    for name in missing:
        print(f"error: no local backup named {name!r} in {ctx.settings.data_dir}", file=ctx.err)
    if damaged:
        print(f"error: {len(damaged)} of {len(chosen)} backups are damaged or unusable (listed above); "
              "'tzbackup verify NAME' lists every problem.", file=ctx.err)
    return EXIT_PARTIAL if missing or damaged else EXIT_OK


def cmd_verify(ctx: Context) -> int:
    from ..archive import verify_backup

    args = ctx.settings.args
    _names_or_all(args, "the backups to verify")
    _check_names(args.names)
    from .export import split_zip_names

    zips, names = split_zip_names(args.names, ctx.settings.data_dir)
    if names or args.all:
        require_data_dir(ctx.settings)
    chosen, missing = _select(ctx, [] if args.all else names) if names or args.all else ([], [])
    server_totals = _server_totals(ctx, [b.shape_id for b in chosen if b.shape_id]) if args.online else {}
    results: list[dict[str, Any]] = []
    for b in chosen:
        rep = verify_backup(b.folder, server_total=server_totals.get(b.shape_id))
        results.append({"username": b.slug, "folder": str(b.folder), "ok": rep.ok, "problems": rep.problems,
                        "checked_files": rep.checked_files, "memories": rep.memories})
    for name in missing:
        results.append({"username": name, "folder": None, "ok": False,
                        "problems": [f"no local backup named {name!r}"], "checked_files": 0, "memories": 0})
    if zips:
        from .export import verify_zip_result

        results += [verify_zip_result(z) for z in zips]
    bad = [r for r in results if not r["ok"]]
    if args.json:
        ctx.say(json.dumps({"ok": not bad, "results": results}, indent=2, ensure_ascii=False))
    else:
        if not results:
            ctx.say(f"No backups to verify in {personalities_dir(ctx.settings.data_dir)}.")
        for r in results:
            if r["ok"]:
                ctx.say(f"ok       {r['username']}: {r['memories']} memories in {r['checked_files']} file(s)")
            else:
                ctx.say(f"PROBLEM  {r['username']}:")
                for problem in r["problems"]:
                    ctx.say(f"           - {problem}")
        if bad:
            print(f"error: {len(bad)} of {len(results)} backups have problems (listed above).", file=ctx.err)
    return EXIT_PARTIAL if bad else EXIT_OK


def _server_totals(ctx: Context, shape_ids: list[str]) -> dict[str, int | None]:
    """``verify --online``: the total each personality's first memory page reports (the only network use of an
    otherwise offline command, so the event loop and the HTTP client start only here)."""
    if not shape_ids:
        return {}

    async def fetch() -> dict[str, int | None]:
        async with _http_client() as http:
            ctx.http = http
            client = ctx.client()
            return {shape_id: (await client.get_memory_page(shape_id, 1)).total for shape_id in shape_ids}

    import asyncio

    try:
        return asyncio.run(fetch())
    finally:
        ctx.http = None


def cmd_search(ctx: Context) -> int:
    from .browse import run_search

    a = ctx.settings.args
    if a.since and a.until and a.until < a.since:  # both are YYYY-MM-DD: text order is date order
        raise UsageError(f"--until {a.until} is before --since {a.since}.")
    return run_search(ctx, ctx.settings.data_dir, a.query, a.name, a.since, a.until, a.limit, a.json)


def cmd_export(ctx: Context) -> int:
    from .export import run_export

    a = ctx.settings.args
    _check_names([a.name])
    return run_export(ctx, ctx.settings.data_dir, a.name, a.format, a.output)


def cmd_import(ctx: Context) -> int:
    from .export import check_input_file, run_import

    check_input_file(ctx.settings.args.file)
    # nothing is created before the archive passes its checks (a refused import leaves no trace)
    require_writable(ctx.settings.data_dir, create=False)
    return run_import(ctx, ctx.settings.data_dir, ctx.settings.args.file)


def cmd_show(ctx: Context) -> int:
    from .browse import run_show

    a = ctx.settings.args
    _check_names([a.name])
    if a.memory is not None and not a.memory.strip():
        raise UsageError("--memory needs a memory id (or a unique start of one).")
    return run_show(ctx, ctx.settings.data_dir, a.name, a.memory, a.json)


def cmd_history(ctx: Context) -> int:
    from .history import run_history

    a = ctx.settings.args
    _check_names([a.name])
    return run_history(ctx, ctx.settings.data_dir, a.name, a.json, a.profile_version)


def cmd_diff(ctx: Context) -> int:
    from .history import run_diff

    a = ctx.settings.args
    _check_names([a.name])
    return run_diff(ctx, ctx.settings.data_dir, a.name, a.from_ts, a.to_ts)


# Commands that run on the event loop (the network, or keyring calls kept off the main thread) ...
ASYNC_COMMANDS: dict[str, Callable[[Context], Awaitable[int]]] = {
    "login": cmd_login,
    "logout": cmd_logout,
    "whoami": cmd_whoami,
    "list": cmd_list,
    "backup": cmd_backup,
}
# ... and those that only read or write local files: plain calls, so they never import asyncio or httpx
# (start-up is most of their run time; ``verify --online`` starts a loop for its one request itself).
OFFLINE_COMMANDS: dict[str, Callable[[Context], int]] = {
    "status": cmd_status,
    "verify": cmd_verify,
    "search": cmd_search,
    "show": cmd_show,
    "export": cmd_export,
    "import": cmd_import,
    "history": cmd_history,
    "diff": cmd_diff,
}
COMMANDS: dict[str, Callable[[Context], Any]] = {**ASYNC_COMMANDS, **OFFLINE_COMMANDS}
NETWORK_COMMANDS = {"login", "whoami", "list", "backup", "verify"}


# --- running ----------------------------------------------------------------------------------------------


def _http_client() -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=15.0), follow_redirects=False)


def _run_command(ctx: Context) -> int:
    name = ctx.settings.command
    if name in READ_COMMANDS - {"verify"}:  # verify checks it itself: FILE.zip needs none
        require_data_dir(ctx.settings)
    offline = OFFLINE_COMMANDS.get(name)
    if offline is not None:
        return offline(ctx)
    import asyncio

    return asyncio.run(_run(ctx))


async def _run(ctx: Context) -> int:
    command = ASYNC_COMMANDS[ctx.settings.command]
    if ctx.settings.command not in NETWORK_COMMANDS:
        return await command(ctx)
    async with _http_client() as http:
        ctx.http = http
        return await command(ctx)


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

    with SandboxServer(port=0, seed=1, stable_urls=True) as sandbox:
        yield sandbox


def _run_sandbox(args: argparse.Namespace) -> int:
    from ..sandbox import serve_forever_cli

    try:
        result = serve_forever_cli(args.port, seed=args.seed, rotate_every=args.rotate_every)
    except KeyboardInterrupt:
        return EXIT_OK
    except OSError as exc:
        print(f"error: cannot start the sandbox on port {args.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_FATAL
    return int(result or 0)


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
        if args.command == "sandbox":
            return _run_sandbox(args)
        placeholder = ("http://127.0.0.1", "http://127.0.0.1/files") if args.demo else None
        make_settings(args, demo_urls=placeholder)  # check the options before starting anything
        with _demo_sandbox(bool(args.demo)) as sandbox:
            demo_urls = (sandbox.base_url, sandbox.files_base_url) if sandbox is not None else None
            settings = make_settings(args, demo_urls=demo_urls)
            store = CredentialStore(memory_only=settings.demo)
            ctx = Context(settings, out, err, store, demo_cookie=sandbox.cookie if sandbox else None)
            if settings.demo and not settings.quiet and settings.command in NETWORK_COMMANDS:
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

