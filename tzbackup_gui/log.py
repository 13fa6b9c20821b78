"""Logging set-up with secret redaction.

Two rules keep the session cookie out of every log line:

* ``httpx`` and ``httpcore`` never log below WARNING, even with ``-v``: their DEBUG output prints request and
  response headers, ``Set-Cookie`` with a rotated session value included.
* every handler (ours, the root logger's, the last-resort one) carries a :class:`RedactingFilter` that
  replaces each registered secret (:func:`add_secret`, also in URL-encoded forms) and anything shaped like
  ``session_token=...`` / ``appSession...=...`` with ``<redacted>``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote

from .paths import make_private_dirs, open_private

__all__ = ["LOGGER_NAME", "REDACTED", "RedactingFilter", "add_secret", "redact", "setup_logging"]

LOGGER_NAME = "tzbackup"
REDACTED = "<redacted>"
_QUIET_LOGGERS = ("httpx", "httpcore", "hpack")
_MIN_SECRET_LEN = 8

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secret_re: re.Pattern[str] | None = None

#: ``name=value`` of any session-looking cookie, in headers, reprs of header lists, or URLs.
_COOKIE_RE = re.compile(
    r"((?:__Secure-)?better-auth\.session_token|session_token|appSession(?:\.\d+)?)"
    r"(=|%3D|': '|': b'|', b'|\", \")"
    r"[^;,\s\"'&)\]]+",
    re.IGNORECASE,
)


def add_secret(value: str) -> None:
    """Register a secret so every log line containing it (raw or URL-encoded) is redacted."""
    global _secret_re
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), unquote(value)}
    with _secrets_lock:
        before = len(_secrets)
        _secrets.update(f for f in forms if len(f) >= _MIN_SECRET_LEN)
        if len(_secrets) != before:
            ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial leftovers
            _secret_re = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str) -> str:
    """``text`` with every registered secret and session-cookie pattern replaced by ``<redacted>``."""
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    return _COOKIE_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack text before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw text, redacted
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _ensure_filter(handler: logging.Handler) -> None:
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())


def _private_file(path: Path) -> Path:
    """Create the log file 0600 (and any folder it needs 0700) whatever the umask, before logging opens it:
    it may mention personality names. An existing log of ours with looser bits is tightened."""
    make_private_dirs(path.parent)
    os.close(open_private(path, os.O_WRONLY | os.O_APPEND))
    return path


def setup_logging(verbose: bool, log_file: Path | None = None) -> logging.Logger:
    """Configure the ``tzbackup`` logger: stderr (DEBUG+ with ``verbose``, else WARNING+), an optional
    DEBUG log file, httpx/httpcore pinned at WARNING, and redaction on every handler. Idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tzbackup", False):
            root.removeHandler(handler)
            handler.close()
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)

    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(fmt)
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        file_handler = logging.FileHandler(_private_file(Path(log_file)), encoding="utf-8")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(fmt)
        handlers.append(file_handler)
    for handler in handlers:
        handler._tzbackup = True  # type: ignore[attr-defined]
        root.addHandler(handler)

    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG if (verbose or log_file is not None) else logging.INFO)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in [*root.handlers, *logger.handlers]:
        _ensure_filter(handler)
    if logging.lastResort is not None:
        _ensure_filter(logging.lastResort)
    return logger
