"""Session-cookie parsing and rotation.

The data API authenticates with one browser session cookie. Users paste it in one of three forms (bare value,
``name=value``, or a whole ``Cookie:`` header); we keep only the session cookie(s) and build the ``Cookie``
header ourselves, so httpx's cookie jar never sees or echoes anything (analytics / bot-wall cookies included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import MalformedCookieError

__all__ = [
    "DEFAULT_COOKIE_NAME",
    "LEGACY_COOKIE_NAMES",
    "SESSION_COOKIE_NAMES",
    "SessionCredential",
    "parse_cookie_input",
    "rotated_credential",
]

DEFAULT_COOKIE_NAME = "__Secure-better-auth.session_token"
LEGACY_COOKIE_NAMES = ("appSession", "appSession.0", "appSession.1")
#: The allow-list: the only cookies we ever send or take from ``Set-Cookie``.
SESSION_COOKIE_NAMES = (DEFAULT_COOKIE_NAME, *LEGACY_COOKIE_NAMES)

_FORBIDDEN_CHARS = set(' \t\r\n;,"\\')
_MIN_LEN, _MAX_LEN = 32, 4096  # legacy Auth0 chunks can be long; the modern token is 32-512


def _valid_value(value: str, *, legacy: bool) -> bool:
    max_len = _MAX_LEN if legacy else 512
    return _MIN_LEN <= len(value) <= max_len and not (set(value) & _FORBIDDEN_CHARS)


@dataclass(frozen=True)
class SessionCredential:
    """The session cookie(s) to send. ``repr``/``str`` never show a value."""

    cookies: Mapping[str, str] = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cookies", dict(self.cookies))

    @classmethod
    def from_value(cls, value: str, name: str = DEFAULT_COOKIE_NAME) -> SessionCredential:
        return cls({name: value})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.cookies)

    @property
    def is_legacy(self) -> bool:
        return DEFAULT_COOKIE_NAME not in self.cookies

    def header_value(self) -> str:
        """The value for the ``Cookie`` request header."""
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def serialize(self) -> str:
        """Form stored in the keyring; :func:`parse_cookie_input` reads it back."""
        return self.header_value()

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for redaction filters."""
        return tuple(v for v in self.cookies.values() if v)

    def __repr__(self) -> str:
        return f"SessionCredential(names={list(self.cookies)!r}, value=<redacted>)"

    __str__ = __repr__


def _split_pairs(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            continue
        pairs.append((name.strip(), value.strip()))
    return pairs


def parse_cookie_input(text: str) -> SessionCredential:
    """Accept the bare value, ``name=value`` or a whole Cookie header; return only the session cookie.

    Raises :class:`MalformedCookieError` with a message that says which cookie is wanted and from where.
    The message never contains the input.
    """
    raw = (text or "").strip()
    if raw.lower().startswith("cookie:"):
        raw = raw[len("cookie:") :].strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        raw = raw[1:-1].strip()
    if not raw:
        raise MalformedCookieError("No cookie was given.")

    if "=" in raw and _looks_like_pairs(raw):
        pairs = dict(_split_pairs(raw))
        if DEFAULT_COOKIE_NAME in pairs:
            value = pairs[DEFAULT_COOKIE_NAME]
            if not _valid_value(value, legacy=False):
                raise MalformedCookieError(
                    f"The {DEFAULT_COOKIE_NAME} value does not look right (expected 32-512 characters "
                    "without spaces, quotes, commas or semicolons). It may have been cut short when copied."
                )
            return SessionCredential({DEFAULT_COOKIE_NAME: value})
        legacy = {k: v for k, v in pairs.items() if k in LEGACY_COOKIE_NAMES and v}
        if legacy:
            if "appSession" in legacy:
                legacy = {"appSession": legacy["appSession"]}
            elif not ("appSession.0" in legacy and "appSession.1" in legacy):
                raise MalformedCookieError(
                    "Only one half of the split appSession cookie was given; copy both appSession.0 and "
                    "appSession.1, or better the current __Secure-better-auth.session_token."
                )
            joined = "".join(legacy.values())
            if len(joined) < _MIN_LEN or len(joined) > 2 * _MAX_LEN or set(joined) & _FORBIDDEN_CHARS:
                raise MalformedCookieError("The appSession cookie value does not look right.")
            return SessionCredential(legacy)
        names = ", ".join(sorted(pairs)[:5]) or "none"
        raise MalformedCookieError(
            f"That input has no shapes.inc session cookie (found: {names}). The cookie needed is "
            f"'{DEFAULT_COOKIE_NAME}' from https://shapes.inc, not from talk.shapes.inc."
        )

    if not _valid_value(raw, legacy=False):
        raise MalformedCookieError(
            "That does not look like a session cookie value (expected 32-512 characters without spaces, "
            "quotes, commas or semicolons). It may have been cut short when copied."
        )
    return SessionCredential({DEFAULT_COOKIE_NAME: raw})


_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.!#$&'*^`|")


def _looks_like_pairs(raw: str) -> bool:
    """True when the input is ``name=value[; ...]`` rather than a bare value that itself contains ``=``.

    Real token values contain ``=`` (base64 padding) and ``%+/~``; cookie *names* never contain ``%+/~``.
    """
    if ";" in raw:
        return True
    name, _, value = raw.partition("=")
    if name in SESSION_COOKIE_NAMES:
        return True
    # "abc...xyz==": a bare base64 value whose only '=' are trailing padding.
    return bool(value.strip("=")) and len(name) < 64 and set(name) <= _NAME_CHARS


def rotated_credential(
    current: SessionCredential, set_cookie_headers: Iterable[str]
) -> SessionCredential | None:
    """Return a new credential when ``Set-Cookie`` rotates one of *our* session cookies, else ``None``.

    Only allow-listed session cookie names are read; every other ``Set-Cookie`` (analytics, Cloudflare,
    DataDome) is ignored and never sent back. A deletion (empty value / Max-Age=0) is not a rotation.
    """
    updated = dict(current.cookies)
    changed = False
    for header in set_cookie_headers:
        first, _, attrs = header.partition(";")
        name, sep, value = first.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or name not in current.cookies:
            continue
        attr_text = attrs.lower().replace(" ", "")
        if not value or "max-age=0" in attr_text or "expires=thu,01jan1970" in attr_text:
            continue
        if updated.get(name) != value:
            updated[name] = value
            changed = True
    return SessionCredential(updated) if changed else None
