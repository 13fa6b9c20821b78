"""Session cookies of the sandbox: issue, check, rotate, expire.

Like the real service, a rotated cookie does not kill the previous value at once: the value before the
newest one stays valid (a grace of one generation), older ones stop working. ``expire_after`` makes the whole
session die after N more authenticated requests; :meth:`Sessions.new_session` starts a fresh one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import quote

__all__ = ["LEGACY_COOKIE", "SESSION_COOKIE", "Sessions", "make_token"]

SESSION_COOKIE = "__Secure-better-auth.session_token"
LEGACY_COOKIE = "appSession"


def make_token() -> str:
    """A value shaped like a real better-auth token: ``<id>.<signature>``, URL-encoded (``%``, ``~``...)."""
    ident = secrets.token_urlsafe(24).replace("-", "~")
    signature = quote(secrets.token_bytes(32).hex()[:20] + "+/" + secrets.token_urlsafe(16) + "=", safe="~")
    return f"{ident}.{signature}"


def parse_cookie_header(header: str) -> dict[str, str]:
    """``a=1; b=2`` -> ``{"a": "1", "b": "2"}`` (values verbatim; the first of a repeated name wins)."""
    out: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in out:
            out[name] = value.strip()
    return out


@dataclass
class Sessions:
    """Valid cookie values and the counters that drive rotation and expiry (guarded by the state's lock)."""

    rotate_every: int | None = None
    #: how many values before the newest stay valid after a rotation
    grace: int = 1
    valid: list[str] = field(default_factory=list)
    legacy: set[str] = field(default_factory=set)
    newest: str = ""
    authenticated_requests: int = 0
    expire_remaining: int | None = None
    rotations: int = 0

    def __post_init__(self) -> None:
        if not self.newest:
            self.issue()

    def issue(self) -> str:
        """Add a new valid value and make it the newest."""
        self.newest = make_token()
        self.valid.append(self.newest)
        return self.newest

    def new_session(self, *, revoke_old: bool = False) -> str:
        """A fresh valid cookie; clears any pending expiry."""
        if revoke_old:
            self.valid.clear()
            self.legacy.clear()
        self.expire_remaining = None
        return self.issue()

    def legacy_session(self) -> str:
        """A valid legacy ``appSession`` value (also accepted split as ``appSession.0`` + ``.1``)."""
        value = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0.." + secrets.token_urlsafe(48)
        self.legacy.add(value)
        return value

    def authenticate(self, cookie_header: str) -> bool:
        """True when the ``Cookie`` header carries a valid session (modern or legacy)."""
        cookies = parse_cookie_header(cookie_header)
        token = cookies.get(SESSION_COOKIE)
        if token is not None and token in self.valid:
            return True
        legacy = cookies.get(LEGACY_COOKIE)
        if legacy is None and f"{LEGACY_COOKIE}.0" in cookies:
            legacy = cookies[f"{LEGACY_COOKIE}.0"] + cookies.get(f"{LEGACY_COOKIE}.1", "")
        return legacy is not None and legacy in self.legacy

    def after_authenticated(self) -> tuple[bool, str | None]:
        """Count one authenticated request. Returns ``(still_valid, rotated_value)``.

        ``still_valid`` is False when a pending expiry ran out now: every value of the session dies.
        """
        if self.expire_remaining is not None:
            if self.expire_remaining <= 0:
                self.valid.clear()
                self.legacy.clear()
                self.expire_remaining = None
                return False, None
            self.expire_remaining -= 1
        self.authenticated_requests += 1
        if self.rotate_every and self.authenticated_requests % self.rotate_every == 0:
            new = self.issue()
            self.rotations += 1
            del self.valid[: max(0, len(self.valid) - 1 - self.grace)]
            return True, new
        return True, None

    def set_cookie_header(self, value: str) -> str:
        return f"{SESSION_COOKIE}={value}; Path=/; Max-Age=604800; HttpOnly; Secure; SameSite=Lax"
