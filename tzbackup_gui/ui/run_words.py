"""What a stopped run and a failed row say, in a few plain words (the same words in the bar, the status
line, the rows and the dialogs). Pure Python: the progress tracker and the run controller share it."""

from __future__ import annotations

__all__ = ["AUTH_KINDS", "RESUMES", "failure_reason", "stop_message", "stop_reason"]

AUTH_KINDS = frozenset({"AuthError", "BadCredentialError", "SessionExpiredError", "LoginRedirectError"})

#: why a whole run stopped, as the overall bar and status say it: "Stopped: you are offline"
_STOP_REASONS = {
    "NetworkError": "you are offline",
    "RateLimitedError": "rate-limited by shapes.inc",
    "BotWallError": "blocked by a bot wall",
    "ServerError": "shapes.inc keeps failing",
    "DiskFullError": "the disk is full",
    "DataDirLockedError": "another backup is using the data folder",
    "BackupBusyError": "a backup is already running",
    **{kind: "signed out" for kind in AUTH_KINDS},
}
#: the one sentence the window says when that happens (the request, path and attempts go to the log)
_STOP_MESSAGES = {
    "NetworkError": "You seem to be offline (or shapes.inc is not answering), so the backup stopped.",
    "RateLimitedError": "shapes.inc keeps rate-limiting us, so the backup stopped. Run it again later.",
    "BotWallError": "A bot-protection wall blocked the requests, so the backup stopped.",
    "ServerError": "shapes.inc keeps failing (server errors), so the backup stopped. Run it again later.",
    "DiskFullError": "The disk is full, so the backup stopped.",
    **{kind: "Your shapes.inc session ended, so the backup stopped." for kind in AUTH_KINDS},
}
#: a row's failure in a few words; the full error (path, attempts, exception class) is in its tooltip
_ROW_REASONS = {
    "NetworkError": "offline",
    "RateLimitedError": "rate-limited",
    "BotWallError": "blocked by a bot wall",
    "ServerError": "shapes.inc kept failing",
    "DiskFullError": "disk full",
    "DataDirLockedError": "data folder in use by another backup",
    "DriftError": "unexpected answer from shapes.inc",
    "MemoryWalkError": "the memory list kept changing",
    "NotFoundError": "not found on shapes.inc",
    "NotOwnedError": "not your personality",
    "OwnerMismatchError": "folder belongs to another account",
    "UnsupportedFormatError": "folder in an unknown format",
    "CorruptBackupError": "a backup file is damaged",
    "UnsafeNameError": "name cannot be made into a folder",
    "ArchiveError": "could not write the backup",
    **{kind: "signed out" for kind in AUTH_KINDS},
}
RESUMES = "resumes next time"


def stop_reason(kind: str) -> str:
    """ "you are offline" for a run stopped by ``kind`` (an exception class name)."""
    return _STOP_REASONS.get(kind, "an unexpected error")


def stop_message(kind: str, fallback: str) -> str:
    """The one plain sentence for a run stopped by ``kind``; ``fallback`` (the engine's) for other kinds."""
    return _STOP_MESSAGES.get(kind, fallback)


def failure_reason(kind: str) -> str:
    """A row's failure in a few words ("offline", "not your personality"); "failed" when unknown."""
    return _ROW_REASONS.get(kind, "failed")
