"""What one ``tzbackup`` invocation shares: its settings (options after defaults and checks), the
:class:`Context` the commands work in (output, the credential and where it came from, the HTTP client), the
data-dir checks, and :class:`Command`, how a command family tells the dispatcher about its commands.

Imported to build the parser (``--version``, ``--help``), so anything heavy is imported where it is used.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from ..credentials import COOKIE_ENV, COOKIE_FILE_ENV, CredentialStore, resolve_credential
from ..errors import ArchiveError, CredentialError, TzBackupError
from ..model.urls import is_loopback
from ..paths import default_data_dir, demo_data_dir, personalities_dir
from ..service.auth import SessionCredential, parse_cookie_input
from .options import (
    DEFAULT_BASE_URL,
    DEFAULT_DELAY,
    DEFAULT_FILES_BASE_URL,
    DEFAULT_RETRY_DELAY,
    DEMO_DELAY,
    MIN_REMOTE_DELAY,
    UsageError,
)

if TYPE_CHECKING:
    import logging

    import httpx

    from ..archive.reader import LocalBackup
    from ..service import ShapesClient

__all__ = [
    "Command",
    "Context",
    "Settings",
    "check_names",
    "find_backup",
    "http_client",
    "local_backups",
    "log",
    "make_settings",
    "names_or_all",
    "require_data_dir",
    "require_writable",
    "table",
]


def log() -> logging.Logger:
    """The CLI's logger (``logging`` is imported on first use: ``--version`` and ``--help`` never log)."""
    import logging

    return logging.getLogger("tzbackup.cli")


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command without arguments of its own (the global options are added to every command)."""


@dataclass(frozen=True)
class Command:
    """One subcommand, as its family module declares it (``COMMANDS = (Command(...), ...)``).

    ``help`` is its line in ``tzbackup --help`` and its description; ``arguments`` adds its own options.
    Exactly one runner is set: ``run`` for a command that only reads or writes local files (a plain call:
    it never imports asyncio or httpx, start-up being most of its cost), ``run_async`` for one that runs on
    the event loop (the network, or keyring calls kept off the main thread), ``standalone`` for one that
    needs no settings and no context (the sandbox server). ``network``: it talks to the service (an async
    one gets the shared HTTP client; with ``--demo`` it says where the demo's backups go).
    ``reads_data_dir``: it only reads the data dir, so one that is not there is a typo (exit 2), never
    "No backups" and exit 0 (a scheduled check with a mistyped ``--data-dir`` must fail, not pass for ever).
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    run: Callable[[Context], int] | None = None
    run_async: Callable[[Context], Awaitable[int]] | None = None
    standalone: Callable[[argparse.Namespace], int] | None = None
    network: bool = False
    reads_data_dir: bool = False

    def __post_init__(self) -> None:
        runners = [r for r in (self.run, self.run_async, self.standalone) if r is not None]
        if len(runners) != 1:
            raise TypeError(f"command {self.name!r} needs exactly one of run, run_async, standalone")


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


def _check_url(url: str, option: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{option} must be an http(s) URL, got {url!r}.")
    if parts.scheme == "http" and not is_loopback(url):
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
    if delay < MIN_REMOTE_DELAY and not is_loopback(base_url) and not args.allow_fast:
        raise UsageError(
            f"--delay below {MIN_REMOTE_DELAY:g}s is only allowed against a local service; add --allow-fast "
            "if you really mean it (the real service may block fast clients)."
        )
    retry_delay = DEFAULT_RETRY_DELAY if args.retry_delay is None else args.retry_delay
    if not (retry_delay >= 0 and math.isfinite(retry_delay)):
        raise UsageError(
            f"--retry-delay must be zero or more seconds (a finite number), not {retry_delay:g}."
        )
    if retry_delay < MIN_REMOTE_DELAY and not is_loopback(base_url) and not args.allow_fast:
        raise UsageError(f"--retry-delay below {MIN_REMOTE_DELAY:g}s is only allowed against a local service "
                         "(or with --allow-fast).")
    return Settings(command=args.command, data_dir=Path(data_dir).expanduser(), base_url=base_url,
                    files_base_url=files_base_url, delay=float(delay), retry_delay=float(retry_delay),
                    demo=demo, verbose=bool(args.verbose), quiet=bool(args.quiet), args=args)


# --- data dirs -------------------------------------------------------------------------------------------


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


def check_names(names: Sequence[str]) -> None:
    """A personality name typed as "" (or only spaces) is a usage error, not a lookup."""
    if any(not name.strip() for name in names):
        raise UsageError("a personality name cannot be empty.",
                         hint="Use its username (the name in its URL); 'tzbackup status' lists local ones.")


def names_or_all(args: argparse.Namespace, what: str) -> None:
    """``NAME... | --all``: exactly one of the two."""
    if args.all and args.names:
        raise UsageError("Give personality names or --all, not both.")
    if not args.all and not args.names:
        raise UsageError(f"Name {what}, or use --all.")


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


def http_client() -> httpx.AsyncClient:
    """The one HTTP client of an invocation (redirects are classified by the service client, not followed)."""
    import httpx

    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=15.0), follow_redirects=False)


def local_backups(ctx: Context) -> list[LocalBackup]:
    """The backups in the data dir, as the archive lists them."""
    from ..archive import list_backups

    return list_backups(ctx.settings.data_dir)


def table(rows: Sequence[Sequence[str]], *, numeric: Collection[int] = ()) -> str:
    """A text table padded by display width (see :func:`.progress.format_table`)."""
    from .progress import format_table

    return format_table(rows, numeric=numeric)


def find_backup(data_dir: Path, name: str) -> tuple[LocalBackup | None, str]:
    """The local backup called ``name`` (folder, slug, or a unique display name), else an error text."""
    from ..archive.reader import list_backups

    backups = list_backups(data_dir)
    hits = [b for b in backups if name in (b.slug, b.folder.name)]
    if not hits:
        hits = [b for b in backups if b.display_name and b.display_name.casefold() == name.casefold()]
    if len(hits) == 1:
        return hits[0], ""
    if hits:
        return None, f"{name!r} matches {len(hits)} backups; use the username: " + ", ".join(
            b.slug for b in hits)
    return None, f"no local backup named {name!r} in {data_dir}"
