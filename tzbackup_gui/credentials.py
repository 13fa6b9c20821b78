"""Where the session secret lives: the OS keyring, or memory for this session only (Qt-free).

Keyring layout (service ``tzbackup``):

* account ``<user id>``: the secret, in :meth:`SessionCredential.serialize` form (``name=value[; ...]``);
* account ``active-account``: *not* a secret, just the user id whose entry is in use;
* account ``talk-api-key <base URL>``: the API key of a chat endpoint Talk uses (optional), kept exactly like
  the cookie: never logged, never in a plain file (the Talk settings file only says whether one is stored).

So a second shapes.inc account can be added later without changing the format. The secret is never written
to a plain file: plaintext keyring backends (``keyrings.alt``) and the fail / null backends count as "no
keyring", and the user is told so plainly instead of silently falling back.

For scripts, :func:`resolve_credential` reads ``TZBACKUP_COOKIE`` (wins), then ``TZBACKUP_COOKIE_FILE``
(refused unless owned by the user and not readable by others), then systemd's
``$CREDENTIALS_DIRECTORY/tzbackup-cookie``, then the keyring.

keyring calls block (an unlock prompt may appear): the GUI calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import CredentialError, KeyringUnavailableError, MalformedCookieError
from .service.auth import SessionCredential, parse_cookie_input

__all__ = [
    "ACTIVE_ACCOUNT",
    "COOKIE_ENV",
    "COOKIE_FILE_ENV",
    "KEYRING_SERVICE",
    "SYSTEMD_CREDENTIAL_NAME",
    "TALK_KEY_ACCOUNT",
    "CredentialStore",
    "resolve_credential",
]

KEYRING_SERVICE = "tzbackup"
ACTIVE_ACCOUNT = "active-account"
COOKIE_ENV = "TZBACKUP_COOKIE"
COOKIE_FILE_ENV = "TZBACKUP_COOKIE_FILE"
SYSTEMD_CREDENTIAL_NAME = "tzbackup-cookie"
MEMORY_LOCATION = "this session only (not stored)"
#: keyring account of a chat endpoint's API key: this prefix, a space, the endpoint's base URL
TALK_KEY_ACCOUNT = "talk-api-key"

_UNUSABLE_BACKENDS = {
    ("keyring.backends.fail", "Keyring"),
    ("keyring.backends.null", "Keyring"),
}


def _backend_refusal(backend: Any) -> str:
    """Why ``backend`` cannot hold our secret ("" when it can)."""
    cls = type(backend)
    module, name = cls.__module__, cls.__name__
    if (module, name) in _UNUSABLE_BACKENDS:
        return "no keyring service is running (keyring chose its fail/null backend)"
    if "plaintext" in name.lower() or "plaintext" in module.lower() or (
        module.startswith("keyrings.alt") and "file" in module
    ):
        return f"the keyring backend {name} ({module}) stores secrets in a plain file; tzbackup refuses it"
    children = getattr(backend, "backends", None)
    if children is not None:  # keyring's ChainerBackend
        reasons = [_backend_refusal(child) for child in children]
        if not children or all(reasons):
            return "no usable keyring backend in the chain"
        plain = [r for r in reasons if "plain file" in r]
        if plain:
            return plain[0]
    return ""


class CredentialStore:
    """The keyring-backed secret store, with an honest "memory only" mode.

    ``memory_only=True`` never touches the keyring (the demo, or the user chose "this session only").
    Every keyring failure surfaces as :class:`KeyringUnavailableError` with a plain message.
    """

    def __init__(self, *, memory_only: bool = False, service: str = KEYRING_SERVICE) -> None:
        self.memory_only = memory_only
        self.service = service
        self._memory: SessionCredential | None = None
        self._user_id = ""
        self._username = ""
        self._api_keys: dict[str, str] = {}  # memory-only mode: endpoint account -> API key

    # --- backend ----------------------------------------------------------------------------------

    def _backend(self) -> Any:
        import keyring

        return keyring.get_keyring()

    def unavailable_reason(self) -> str:
        """A plain sentence saying why the keyring cannot be used ("" when it can)."""
        if self.memory_only:
            return ""
        try:
            return _backend_refusal(self._backend())
        except Exception as exc:  # keyring's backend discovery can fail in odd environments
            return f"the keyring could not be loaded ({type(exc).__name__})"

    def available(self) -> bool:
        """True when secrets can be kept: memory-only mode, or a real (non-plaintext) keyring backend."""
        return not self.unavailable_reason()

    @property
    def backend_name(self) -> str:
        if self.memory_only:
            return "memory"
        try:
            backend = self._backend()
        except Exception:
            return "unknown"
        return str(getattr(backend, "name", type(backend).__name__))

    def describe_location(self) -> str:
        """Where the secret is (or would be) kept, for "stored in ..." messages. Never the secret."""
        if self.memory_only:
            return MEMORY_LOCATION
        account = f", account '{self._user_id}'" if self._user_id else ""
        return f"the system keyring ({self.backend_name}), service '{self.service}'{account}"

    def use_memory_only(self) -> None:
        """Switch to "this session only": the secret is kept in this object and forgotten on exit."""
        self.memory_only = True

    # --- operations -------------------------------------------------------------------------------

    def _check(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise KeyringUnavailableError(f"No usable keyring: {reason}.")

    def _call(self, what: str, func: Any, *args: str) -> Any:
        """Run one keyring call, turning every failure into KeyringUnavailableError (no secret in it)."""
        from keyring.errors import KeyringError, KeyringLocked, PasswordDeleteError

        try:
            return func(*args)
        except PasswordDeleteError:
            return None
        except KeyringLocked as exc:
            raise KeyringUnavailableError(
                f"The keyring is locked and could not be unlocked ({what} failed)."
            ) from exc
        except KeyringError as exc:
            raise KeyringUnavailableError(
                f"The keyring refused to {what} ({type(exc).__name__}: {_short(exc)})."
            ) from exc
        except Exception as exc:  # D-Bus / SecretStorage errors that keyring does not wrap
            raise KeyringUnavailableError(f"The keyring failed to {what} ({type(exc).__name__}).") from exc

    def load(self) -> SessionCredential | None:
        """The stored credential, or ``None`` when nothing (usable) is stored."""
        if self.memory_only:
            return self._memory
        self._check()
        import keyring

        user_id = self._call("read the active account", keyring.get_password, self.service, ACTIVE_ACCOUNT)
        if not user_id:
            return None
        secret = self._call("read the session cookie", keyring.get_password, self.service, str(user_id))
        if not secret:
            return None
        self._user_id = str(user_id)
        try:
            return parse_cookie_input(str(secret))
        except MalformedCookieError:
            import logging  # here, not at the top: importing logging costs the CLI's start-up 5 ms

            logging.getLogger("tzbackup.credentials").warning(
                "The session cookie stored in the keyring is unreadable; please sign in again.")
            return None

    def save(self, credential: SessionCredential, *, user_id: str, username: str = "") -> str:
        """Store ``credential`` for ``user_id`` and make it the active account. Returns where it went."""
        if self.memory_only:
            self._memory, self._user_id, self._username = credential, user_id, username
            return self.describe_location()
        self._check()
        if not user_id:
            raise CredentialError("Cannot store the session cookie: the service did not say who you are.")
        import keyring

        self._call("store the session cookie", keyring.set_password, self.service, user_id,
                   credential.serialize())
        self._call("store the active account", keyring.set_password, self.service, ACTIVE_ACCOUNT, user_id)
        self._user_id, self._username = user_id, username
        return self.describe_location()

    def update(self, credential: SessionCredential) -> str:
        """Store a rotated cookie where the old one was (the active account). Returns where it went."""
        if self.memory_only:
            self._memory = credential
            return self.describe_location()
        self._check()
        import keyring

        user_id = self._user_id or self._call(
            "read the active account", keyring.get_password, self.service, ACTIVE_ACCOUNT
        )
        if not user_id:
            raise CredentialError("Cannot store the rotated session cookie: no account is signed in.")
        return self.save(credential, user_id=str(user_id), username=self._username)

    def delete(self) -> None:
        """Forget the active account's secret (and the active-account entry). No error when none."""
        if self.memory_only:
            self._memory, self._user_id, self._username = None, "", ""
            return
        self._check()
        import keyring

        user_id = self._call("read the active account", keyring.get_password, self.service, ACTIVE_ACCOUNT)
        if user_id:
            self._call("delete the session cookie", keyring.delete_password, self.service, str(user_id))
        self._call("delete the active account", keyring.delete_password, self.service, ACTIVE_ACCOUNT)
        self._user_id, self._username = "", ""


    # --- API keys of chat endpoints (Talk) --------------------------------------------------------------

    @staticmethod
    def _key_account(base_url: str) -> str:
        return f"{TALK_KEY_ACCOUNT} {base_url.strip().rstrip('/')}"

    def load_api_key(self, base_url: str) -> str | None:
        """The API key stored for the chat endpoint at ``base_url``, or ``None``."""
        account = self._key_account(base_url)
        if self.memory_only:
            return self._api_keys.get(account)
        self._check()
        import keyring

        key = self._call("read the API key", keyring.get_password, self.service, account)
        return str(key) if key else None

    def save_api_key(self, base_url: str, key: str) -> str:
        """Keep ``key`` for the chat endpoint at ``base_url``. Returns where it went (never the key)."""
        account = self._key_account(base_url)
        if self.memory_only:
            self._api_keys[account] = key
            return self.describe_location()
        self._check()
        import keyring

        self._call("store the API key", keyring.set_password, self.service, account, key)
        return f"the system keyring ({self.backend_name}), service '{self.service}'"

    def delete_api_key(self, base_url: str) -> None:
        """Forget the API key of the chat endpoint at ``base_url`` (no error when none is stored)."""
        account = self._key_account(base_url)
        if self.memory_only:
            self._api_keys.pop(account, None)
            return
        self._check()
        import keyring

        self._call("delete the API key", keyring.delete_password, self.service, account)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] if text else "no details"


# --- resolution order for scripts -----------------------------------------------------------------------


def _read_private_file(path: Path, label: str) -> str:
    """Read a cookie file, refusing one that another user owns or that others can read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise CredentialError(
            f"Cannot read the cookie file named by {label} ({path}): {exc.strerror or type(exc).__name__}."
        ) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CredentialError(f"The cookie file named by {label} ({path}) is not a regular file.")
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise CredentialError(
                f"Refusing the cookie file named by {label} ({path}): it is owned by another user.",
                hint="The file must belong to the user running tzbackup and have mode 0600.",
            )
        if st.st_mode & 0o077:
            raise CredentialError(
                f"Refusing the cookie file named by {label} ({path}): others can read it "
                f"(mode {stat.S_IMODE(st.st_mode):04o}).",
                hint=f"Run: chmod 600 {path}",
            )
        with os.fdopen(fd, "r", encoding="utf-8", closefd=True) as fh:
            fd = -1
            return fh.read(16384)
    finally:
        if fd >= 0:
            os.close(fd)


def _parse(text: str, source: str) -> SessionCredential:
    try:
        return parse_cookie_input(text)
    except MalformedCookieError as exc:
        raise MalformedCookieError(f"{source}: {exc.message}") from exc


def resolve_credential(
    store: CredentialStore, environ: Mapping[str, str] | None = None
) -> tuple[SessionCredential | None, str]:
    """Find the credential for this run and say where it came from.

    Order: ``TZBACKUP_COOKIE``, ``TZBACKUP_COOKIE_FILE``, ``$CREDENTIALS_DIRECTORY/tzbackup-cookie``,
    then ``store`` (the keyring). Returns ``(None, where we looked)`` when there is none; a keyring that
    cannot be used at all is reported in that text rather than raised, so env-only use keeps working.
    """
    env = os.environ if environ is None else environ
    if env.get(COOKIE_ENV, "").strip():
        return _parse(env[COOKIE_ENV], f"the {COOKIE_ENV} environment variable"), f"${COOKIE_ENV}"
    if env.get(COOKIE_FILE_ENV, "").strip():
        path = Path(env[COOKIE_FILE_ENV]).expanduser()
        text = _read_private_file(path, f"${COOKIE_FILE_ENV}")
        return _parse(text, f"the cookie file {path}"), f"the file {path} (${COOKIE_FILE_ENV})"
    cred_dir = env.get("CREDENTIALS_DIRECTORY", "").strip()
    if cred_dir and (Path(cred_dir) / SYSTEMD_CREDENTIAL_NAME).exists():
        path = Path(cred_dir) / SYSTEMD_CREDENTIAL_NAME
        text = _read_private_file(path, "systemd's $CREDENTIALS_DIRECTORY")
        where = f"the systemd credential {SYSTEMD_CREDENTIAL_NAME}"
        return _parse(text, f"the systemd credential {path}"), where
    reason = store.unavailable_reason()
    if reason:
        return None, f"no {COOKIE_ENV} / {COOKIE_FILE_ENV} set, and no usable keyring ({reason})"
    credential = store.load()
    if credential is None:
        where = store.describe_location()
        return None, f"no {COOKIE_ENV} / {COOKIE_FILE_ENV} set, and nothing stored in {where}"
    return credential, store.describe_location()
