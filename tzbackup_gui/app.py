"""AppContext: what the desktop app shares for its whole life (Qt-free).

One ``httpx.AsyncClient``, one :class:`Pacer` (so spacing holds across the backup and avatar downloads),
the credential store, the signed-in credential and user, and the backup service (one run at a time).
The GUI only renders and forwards; everything here is plain asyncio so it could serve another face.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .archive import list_backups
from .backup import BackupEngine, BackupOptions, RunReport
from .credentials import CredentialStore
from .errors import DataDirLockedError, KeyringUnavailableError
from .events import BackupEvent, EventCallback, ignore_events
from .model.urls import is_loopback
from .service import Pacer, RetryPolicy, ShapesClient, ShapeSummary
from .service.auth import SessionCredential

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_FILES_BASE_URL",
    "MIN_REMOTE_DELAY",
    "AppConfig",
    "AppContext",
    "BackupBusyError",
    "data_dir_problem",
    "display_path",
    "spacing_problem",
]

log = logging.getLogger("tzbackup.app")

DEFAULT_BASE_URL = "https://shapes.inc"
DEFAULT_FILES_BASE_URL = "https://files.shapes.inc"
#: Request spacing below this is only for a local service, unless the user says they know what they do.
MIN_REMOTE_DELAY = 0.5


def spacing_problem(delay: float, base_url: str, *, allow_fast: bool) -> str:
    """Why ``delay`` (seconds between request starts) is refused for ``base_url``; "" when it is fine."""
    if delay < 0:
        return "The spacing cannot be negative."
    if delay < MIN_REMOTE_DELAY and not allow_fast and not is_loopback(base_url):
        return (
            f"Below {MIN_REMOTE_DELAY:g} s between requests risks rate limits and bot protection on "
            "shapes.inc. Tick “I know what I'm doing” to use it anyway."
        )
    return ""


#: folders whose sub-folders are usually mount points of removable or network drives: a missing folder right
#: under one of them is a drive that is not connected, never something to create (it would land on the system
#: disk). A module constant so tests can add a temporary folder.
MOUNT_AREAS: tuple[str, ...] = ("/media", "/mnt", "/run/media", "/Volumes")


def data_dir_problem(path: Path) -> str:
    """Why ``path`` cannot be the data folder, in a few plain words ("" when it can be used or created).

    Checks, without creating anything: the path is a full path; no part of it is a file; a missing folder
    is not a drive that is not connected; the folder (or, when it does not exist yet, the folder it would
    be created in) can be written to, which a real temporary file proves for an existing folder (a read-only
    drive or mount, a folder of another user)."""
    if not path.is_absolute():
        return "it is not a full path"
    missing: list[str] = []
    probe = path
    while True:
        try:
            st = probe.stat()
            break
        except (FileNotFoundError, NotADirectoryError):
            if probe == probe.parent:
                return "its drive does not exist"
            missing.append(probe.name)
            probe = probe.parent
        except OSError as err:
            return f"{display_path(probe)} cannot be opened ({_reason(err)})"
    if not stat.S_ISDIR(st.st_mode):
        return f"{display_path(probe)} is a file, not a folder"
    if missing and (str(probe) in MOUNT_AREAS or str(probe.parent) in MOUNT_AREAS):
        return f"{display_path(probe / missing[-1])} does not exist: is the drive connected?"
    if missing:
        if not os.access(probe, os.W_OK | os.X_OK):
            return f"{display_path(probe)} is read-only, so the folder cannot be created there"
        return ""
    try:
        fd, name = tempfile.mkstemp(prefix=".tzbackup-probe-", dir=path)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        return f"it cannot be written to ({_reason(err)})"
    return ""


def _reason(err: OSError) -> str:
    """An OS error in plain words ("read-only drive", "permission denied")."""
    if err.errno == errno.EROFS:
        return "read-only drive"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    return (err.strerror or type(err).__name__).lower()


class BackupBusyError(DataDirLockedError):
    """A backup is already running in this window; a second one is refused."""

    hint = "Wait for the current backup to finish, or cancel it first."


@dataclass
class AppConfig:
    """Start-up options (from the command line)."""

    data_dir: Path
    base_url: str = DEFAULT_BASE_URL
    files_base_url: str = DEFAULT_FILES_BASE_URL
    delay: float = 1.0
    demo: bool = False
    reconcile_age_days: float = 7.0  # a full walk when the last one is older (Settings)


@dataclass
class SignInResult:
    """What a successful sign-in tells the user."""

    user: dict[str, Any]
    location: str

    @property
    def where(self) -> str:
        """"stored in <keyring>" or "kept for this session only"."""
        return where_text(self.location)

    @property
    def display_name(self) -> str:
        u = self.user
        return str(u.get("displayName") or u.get("username") or u.get("name") or u.get("id") or "you")


def display_path(path: Path, home: Path | None = None) -> str:
    """``path`` as shown to a person: the home folder abbreviated as ``~`` (shorter, and a screenshot
    does not reveal the user name)."""
    home = home if home is not None else Path.home()
    try:
        rest = path.relative_to(home)
    except ValueError:
        return str(path)
    return "~" if not rest.parts else str(Path("~") / rest)


def where_text(location: str) -> str:
    """Phrase for where the secret lives, from :attr:`AppContext.location`."""
    if not location:
        return ""
    if location.startswith(("this session", "demo")):
        return "not stored (demo session)" if location.startswith("demo") else "kept for this session only"
    return f"stored in {location}"


class AppContext:
    """Shared state and the async operations the window calls."""

    def __init__(
        self,
        config: AppConfig,
        http: httpx.AsyncClient,
        store: CredentialStore,
        *,
        credential: SessionCredential | None = None,
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.config = config
        self.http = http
        self.store = store
        self.pacer = pacer or Pacer(delay=config.delay)
        self.retry = retry
        self.credential = credential
        self.user: dict[str, Any] | None = None
        self.location = ""  # where the secret lives: keyring backend, "this session only", "demo"
        self.session_only = config.demo
        self._listener: EventCallback = ignore_events
        self._client: ShapesClient | None = None
        self._run_task: asyncio.Task[RunReport] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.on_credential_changed: Callable[[], None] = lambda: None

    # --- credentials --------------------------------------------------------------------------------

    def secrets(self) -> tuple[str, ...]:
        """Every secret value known now (for the log pane's redaction)."""
        creds = [self.credential, self._client.credential if self._client else None]
        return tuple(s for c in creds if c is not None for s in c.secrets())

    async def load_saved_credential(self) -> bool:
        """Read the keyring (off the GUI thread). True when a credential is now set."""
        if self.credential is not None:
            return True
        if self.config.demo or not self.store.available():
            return False
        try:
            cred = await asyncio.to_thread(self.store.load)
        except KeyringUnavailableError:
            return False
        if cred is None:
            return False
        self._set_credential(cred)
        self.location = self.store.describe_location()
        return True

    async def check_credential(
        self, credential: SessionCredential
    ) -> tuple[dict[str, Any], SessionCredential]:
        """Ask the service whether it accepts ``credential``; return (the user, the newest credential).

        Raises AuthError (or another ServiceError) when it does not. A rotation during the check is kept.
        """
        rotated: list[SessionCredential] = []
        client = self._make_client(credential, on_event=ignore_events, on_rotate=rotated.append)
        await client.validate()
        user = await client.me()
        return dict(user), (rotated[-1] if rotated else credential)

    async def sign_in(self, credential: SessionCredential, *, session_only: bool) -> SignInResult:
        """Check with the service, then store (keyring, or memory for this session only)."""
        user, credential = await self.check_credential(credential)
        if session_only or self.config.demo:
            location = (
                "this session only" if not self.config.demo else "demo session"
            )
        else:
            location = await asyncio.to_thread(
                self.store.save,
                credential,
                user_id=str(user.get("id", "")),
                username=str(user.get("username", "")),
            )
        self.session_only = session_only or self.config.demo
        self._set_credential(credential)
        self.user, self.location = user, location
        result = SignInResult(user, location)
        log.info("Signed in as %s; the cookie is %s", result.display_name, result.where)
        return result

    async def sign_out(self) -> None:
        """Forget the credential; remove it from the keyring unless it was never stored there."""
        if not self.session_only and self.store.available():
            await asyncio.to_thread(self.store.delete)
        self.credential, self.user, self.location, self._client = None, None, "", None
        log.info("Signed out")
        self.on_credential_changed()

    async def fetch_user(self) -> dict[str, Any]:
        user = await self.client().me()
        self.user = dict(user)
        return self.user

    def _set_credential(self, credential: SessionCredential) -> None:
        self.credential = credential
        self._client = None
        self.on_credential_changed()

    def _on_rotate(self, credential: SessionCredential) -> None:
        """The service rotated the cookie: use it from now on and store it where the old one was."""
        self.credential = credential
        log.info("The service renewed the session cookie; keeping the new one")
        if self.session_only or self.config.demo or not self.store.available():
            return
        user = self.user or {}
        task = asyncio.ensure_future(
            asyncio.to_thread(
                self.store.save,
                credential,
                user_id=str(user.get("id", "")),
                username=str(user.get("username", "")),
            )
        )
        self._keep(task)

    # --- service ------------------------------------------------------------------------------------

    def client(self) -> ShapesClient:
        """The client for the current credential (built once per credential)."""
        if self.credential is None:
            raise RuntimeError("not signed in")
        if self._client is None:
            self._client = self._make_client(
                self.credential, on_event=self._dispatch, on_rotate=self._on_rotate
            )
        return self._client

    def _make_client(
        self,
        credential: SessionCredential,
        *,
        on_event: EventCallback,
        on_rotate: Callable[[SessionCredential], None],
    ) -> ShapesClient:
        kwargs: dict[str, Any] = {}
        if self.retry is not None:
            kwargs["retry"] = self.retry
        return ShapesClient(
            self.http,
            credential,
            base_url=self.config.base_url,
            files_base_url=self.config.files_base_url,
            pacer=self.pacer,
            on_event=on_event,
            on_rotate=on_rotate,
            **kwargs,
        )

    def _dispatch(self, event: BackupEvent) -> None:
        self._listener(event)

    async def list_account(self) -> list[ShapeSummary]:
        return list(await self.client().list_own_shapes())

    async def list_local(self) -> list[Any]:
        return list(await asyncio.to_thread(list_backups, self.config.data_dir))

    async def download(self, url: str) -> bytes:
        return bytes(await self.client().download(url))

    async def count_memories(self, shape_id: str) -> int | None:
        """How many memories shapes.inc says a personality has, from one small request: page 1 with one
        memory a page. Its ``pagination.total`` when sent; else, one memory a page, the number of pages (when
        the service honoured that limit); ``None`` when it says neither (only "there is a next page")."""
        page = await self.client().get_memory_page(shape_id, 1, limit=1)
        if page.total is not None:
            return page.total
        if page.not_found:
            return 0
        if page.total_pages is not None and len(page.items) <= 1:
            return page.total_pages
        return None

    # --- backups ------------------------------------------------------------------------------------

    def set_delay(self, delay: float) -> None:
        """New request spacing (Settings): applies from the next request; personalities 2 × apart."""
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self.config.delay = delay
        if isinstance(self.pacer, Pacer):
            self.pacer.delay = float(delay)
            self.pacer.personality_delay = float(2 * delay)

    def pacer_delay(self) -> float:
        """Seconds between request starts (for the ETA)."""
        return float(getattr(self.pacer, "delay", self.config.delay))

    @property
    def running(self) -> bool:
        return self._run_task is not None and not self._run_task.done()

    async def run_backup(
        self, slugs: list[str] | None, on_event: EventCallback, *, sections: frozenset[str] | None = None
    ) -> RunReport:
        """Back up ``slugs`` (None = every owned one), only ``sections`` when given (None = all of them).
        Refuses a second run while one is in flight."""
        if self.running:
            raise BackupBusyError("A backup is already running.")
        client = self.client()
        options = BackupOptions(reconcile_age_days=self.config.reconcile_age_days, sections=sections)
        engine = BackupEngine(client, self.config.data_dir, options=options, on_event=on_event)
        self._listener = on_event
        self._run_task = asyncio.ensure_future(engine.run(slugs=slugs))
        try:
            return await self._run_task
        finally:
            self._listener = ignore_events

    def cancel_backup(self) -> bool:
        if self._run_task is not None and not self._run_task.done():
            self._run_task.cancel()
            return True
        return False

    # --- life cycle ---------------------------------------------------------------------------------

    def _keep(self, task: asyncio.Future[Any]) -> None:
        self._background.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        """Cancel a running backup, wait for pending keyring writes, close the HTTP client."""
        if self.cancel_backup() and self._run_task is not None:
            await asyncio.gather(self._run_task, return_exceptions=True)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.http.aclose()
