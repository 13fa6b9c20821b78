"""The exception tree: one class per failure a user must be able to tell apart.

Every message is written for the person running the backup: it says what happened and what to do.
No message, ``repr`` or attribute ever contains the session secret.

::

    TzBackupError
    ├── CredentialError                 the secret itself is unusable before any request
    │   ├── MalformedCookieError        input is not a session cookie in any accepted form
    │   └── KeyringUnavailableError     no working OS keyring backend
    ├── ServiceError                    something went wrong talking to the service
    │   ├── AuthError                   the service does not accept our session (exit code 3)
    │   │   ├── BadCredentialError      refused on the very first request: wrong / stale cookie
    │   │   ├── SessionExpiredError     refused after N good requests: the session ended mid-run
    │   │   └── LoginRedirectError      3xx to a login page, or a login page served as HTML
    │   ├── BotWallError                Cloudflare / DataDome / PerimeterX challenge: stop, don't retry
    │   ├── NotFoundError               404 where data was expected
    │   ├── RateLimitedError            still 429 after every retry
    │   ├── ServerError                 still 5xx after every retry
    │   ├── DriftError                  JSON arrived but not in any shape we know
    │   ├── MemoryWalkError             the memory pages contradict their own pagination (fail, keep all)
    │   └── NetworkError                timeouts, resets, DNS... after every retry
    └── ArchiveError                    the local backup cannot be read or written safely
        ├── UnsafeNameError             a personality name that cannot be made into a safe folder
        ├── CorruptBackupError          a backup file does not parse or contradicts the metadata
        ├── UnsupportedFormatError      written by a newer tzbackup, or by an older tool (moved aside)
        ├── OwnerMismatchError          the folder belongs to another signed-in user
        ├── NotOwnedError               the signed-in user does not own this personality
        ├── DiskFullError               ENOSPC / EDQUOT while writing; the previous backup is intact
        ├── DataDirLockedError          another tzbackup is writing to the same data dir
        └── SearchIndexError            the search index cannot be queried (locked, damaged): not "no results"
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "AuthError",
    "BadCredentialError",
    "BotWallError",
    "CorruptBackupError",
    "CredentialError",
    "DataDirLockedError",
    "DiskFullError",
    "DriftError",
    "KeyringUnavailableError",
    "LoginRedirectError",
    "MalformedCookieError",
    "MemoryWalkError",
    "NetworkError",
    "NotFoundError",
    "NotOwnedError",
    "OwnerMismatchError",
    "RateLimitedError",
    "SearchIndexError",
    "ServerError",
    "ServiceError",
    "SessionExpiredError",
    "TzBackupError",
    "UnsafeNameError",
    "UnsupportedFormatError",
]


class TzBackupError(Exception):
    """Base of every error tzbackup raises on purpose. ``str(err)`` is a user-facing message."""

    #: A short hint on what to do next; shown by the CLI and GUI under the message.
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


# --- credentials --------------------------------------------------------------------------------------


class CredentialError(TzBackupError):
    """The credential cannot be used at all (before any request is made)."""


class MalformedCookieError(CredentialError):
    """The input is not a session cookie in any of the accepted forms."""

    hint = (
        "Copy the value of the '__Secure-better-auth.session_token' cookie of https://shapes.inc "
        "(DevTools → Application → Cookies). A talk.shapes.inc cookie does not work."
    )


class KeyringUnavailableError(CredentialError):
    """No working OS keyring: the secret can only be kept for this run."""

    hint = (
        "Install and unlock a keyring (GNOME Keyring / KWallet on Linux), or use TZBACKUP_COOKIE / "
        "TZBACKUP_COOKIE_FILE for this run only."
    )


# --- service --------------------------------------------------------------------------------------------


class ServiceError(TzBackupError):
    """Talking to the service failed. ``status`` is the last HTTP status, when there was one."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        url_path: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        #: Path of the request that failed (no query secrets, never the cookie).
        self.url_path = url_path
        #: How many attempts were made before giving up.
        self.attempts = attempts


class AuthError(ServiceError):
    """The service does not accept our session. Progress made so far is kept."""

    hint = "Sign in again with a fresh session cookie (tzbackup login), then run the backup again to resume."


class BadCredentialError(AuthError):
    """Refused on the very first request of the run: the cookie is wrong, stale or from another site."""


class SessionExpiredError(AuthError):
    """Refused after some good requests: the session ended mid-run."""

    def __init__(self, message: str, *, good_requests: int = 0, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.good_requests = good_requests


class LoginRedirectError(AuthError):
    """The service redirected to (or served) a login page instead of data."""


class BotWallError(ServiceError):
    """A bot-protection wall answered. Retrying makes it worse, so the run stops."""

    hint = (
        "A bot-protection service (Cloudflare, DataDome or PerimeterX) blocked the request. Wait a while, "
        "open https://shapes.inc in your browser once, then try again with a longer --delay."
    )

    def __init__(self, message: str, *, vendor: str = "unknown", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.vendor = vendor


class NotFoundError(ServiceError):
    """404 where data was expected (unknown personality name, or data that vanished)."""


class RateLimitedError(ServiceError):
    """Still rate limited (429) after every retry."""

    hint = "The service asked us to slow down. Try again later, or with a longer --delay."


class ServerError(ServiceError):
    """The service kept failing (5xx) after every retry."""

    hint = "The service is having trouble. Try again later; the next run resumes where this one stopped."


class DriftError(ServiceError):
    """JSON arrived but in a shape we do not understand; ``arrived`` describes it (never the secret)."""

    hint = "The service changed its responses. Please report this (with the message) so tzbackup can adapt."

    def __init__(self, message: str, *, arrived: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.arrived = arrived


class MemoryWalkError(ServiceError):
    """The memory pages contradict their own pagination (an empty page or a 404 where the list goes on, a
    list that keeps changing under every walk): the walk cannot prove it saw every memory, so it stops
    instead of calling that the end. Everything fetched is kept; nothing is recorded as deleted."""

    hint = (
        "Everything fetched so far is kept and nothing was marked deleted. Run the backup again later; "
        "it resumes where this one stopped."
    )


class NetworkError(ServiceError):
    """Timeouts, resets, DNS failures... still failing after every retry."""

    hint = "Check your internet connection, then run the backup again; it resumes where it stopped."


# --- archive --------------------------------------------------------------------------------------------


class ArchiveError(TzBackupError):
    """The local backup cannot be read or written safely."""


class UnsafeNameError(ArchiveError):
    """A personality name that cannot be turned into a safe folder name."""


class CorruptBackupError(ArchiveError):
    """A backup file does not parse or contradicts the metadata. The file is never deleted silently."""

    hint = "Run 'tzbackup verify NAME' for details. The damaged file was left in place for you to inspect."

    def __init__(self, message: str, *, path: str | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.path = path


class UnsupportedFormatError(ArchiveError):
    """A folder written by a newer tzbackup, or by an older tool in the page-numbered layout."""


class OwnerMismatchError(ArchiveError):
    """The backup folder belongs to another shapes.inc account; we never mix two users' data."""

    hint = "Use a different --data-dir for each shapes.inc account."


class NotOwnedError(ArchiveError):
    """The signed-in user is not among the personality's owners."""

    hint = "Only personalities you own can be backed up (--allow-not-owned backs up the public part)."


class DiskFullError(ArchiveError):
    """The disk filled up while writing. The previous backup files are intact."""

    hint = "Free some disk space (or choose another --data-dir), then run again; it resumes where it stopped."


class DataDirLockedError(ArchiveError):
    """Another tzbackup (GUI, CLI or a scheduled run) is already writing to this data dir."""

    hint = "Wait for the other backup to finish, or stop it, then try again."


class SearchIndexError(ArchiveError):
    """The search index could not be queried (locked by another program, damaged, a disk error). Never shown
    as "no results": an empty answer would hide the problem."""

    hint = ("Try again in a moment. If it keeps failing, delete the index file named above: it is only a "
            "cache and is rebuilt from the backup.")
