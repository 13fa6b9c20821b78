"""Switchable faults: what a real service, its CDN or its bot wall sometimes do instead of answering.

A fault fires for ``count`` matching requests (``None`` = until cleared), only for paths containing
``path_contains`` when given, and only after skipping the first ``after`` matching requests. Faults never
apply to the ``/__sandbox/`` control endpoints. ``expire_after`` is not a per-request fault; the state turns
it into a session countdown (see :meth:`SandboxState.set_fault`).

Two faults imitate a list that misbehaves mid-walk: ``empty_page`` answers a memory page with its normal body
(same variant, same pagination fields, so ``has_next`` / ``total_pages`` / ``total`` still say the list goes
on) but no items; it only ever matches ``/api/memory/`` requests, so ``after`` counts memory pages.
``not_found`` answers 404 with the sandbox's usual JSON error body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .response import Response, html_response, json_response

__all__ = ["FAULT_NAMES", "Fault", "FaultSet", "fault_response"]

FAULT_NAMES = frozenset({
    "rate_limit", "server_error", "slow", "drop", "truncated_json", "bot_wall", "login_redirect",
    "expire_after", "empty_page", "not_found",
})
BOT_WALL_VENDORS = ("cloudflare", "datadome", "perimeterx", "html", "html-challenge")

_PARAMS: dict[str, frozenset[str]] = {
    "rate_limit": frozenset({"retry_after"}),
    "server_error": frozenset({"status", "retry_after"}),
    "slow": frozenset({"seconds"}),
    "drop": frozenset(),
    "truncated_json": frozenset(),
    "bot_wall": frozenset({"vendor"}),
    "login_redirect": frozenset(),
    "expire_after": frozenset({"requests"}),
    "empty_page": frozenset(),
    "not_found": frozenset(),
}
#: the only requests an ``empty_page`` fault matches: memory pages are the one paginated list
MEMORY_PAGE_PATH = "/api/memory/"


@dataclass
class Fault:
    """One armed fault and its countdowns."""

    name: str
    count: int | None = 1
    after: int = 0
    path_contains: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def __post_init__(self) -> None:
        if self.name not in FAULT_NAMES:
            raise ValueError(f"unknown fault {self.name!r}; known: {', '.join(sorted(FAULT_NAMES))}")
        unknown = set(self.params) - _PARAMS[self.name]
        if unknown:
            raise ValueError(f"fault {self.name!r} takes no parameter(s) {sorted(unknown)}")
        if self.name == "bot_wall" and self.params.get("vendor", "cloudflare") not in BOT_WALL_VENDORS:
            raise ValueError(f"bot_wall vendor must be one of {BOT_WALL_VENDORS}")
        if self.name == "server_error" and int(self.params.get("status", 500)) < 500:
            raise ValueError("server_error status must be 5xx")

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def applies_to(self, path: str) -> bool:
        """Whether a request for ``path`` (decoded) is one this fault may fire on."""
        if self.name == "empty_page" and not path.startswith(MEMORY_PAGE_PATH):
            return False
        return self.path_contains is None or self.path_contains in path


class FaultSet:
    """The armed faults, in the order they were set. Not thread-safe: the state's lock guards it."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def take(self, path: str) -> Fault | None:
        """The fault that fires for this request, if any (counting down ``after`` and ``count``)."""
        for fault in self.faults:
            if fault.exhausted or not fault.applies_to(path):
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            fault.fired += 1
            return fault
        self.faults = [f for f in self.faults if not f.exhausted]
        return None


_CF_HTML = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head><body>
<div class="main-wrapper"><h1>shapes.inc</h1><h2>Verifying you are human. This may take a few seconds.</h2>
<noscript>Enable JavaScript and cookies to continue</noscript></div>
<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1"></script></body></html>"""

_DD_HTML = """<html><head><title>shapes.inc</title></head><body style="margin:0">
<p id="cmsg">Please enable JS and disable any ad blocker</p>
<script data-cfasync="false">var dd={'rt':'c','cid':'AHrlqAAAAAMA','hsh':'2211F522B61E269B869FA6EAFFB5E1',
't':'fe','s':17434,'host':'geo.captcha-delivery.com'}</script>
<script data-cfasync="false" src="https://ct.captcha-delivery.com/c.js"></script></body></html>"""

_PX_HTML = """<!DOCTYPE html><html lang="en"><head><title>Access to this page has been denied</title></head>
<body><div class="px-captcha-container"><h1>Press &amp; Hold to confirm you are a human (and not a bot).</h1>
<div id="px-captcha"></div></div><script>window._pxAppId='PXabc123';</script></body></html>"""

_CHALLENGE_HTML = """<!DOCTYPE html><html lang="en"><head><title>Just a moment...</title></head>
<body><h1>Checking your browser before accessing shapes.inc</h1><p>This process is automatic.</p>
<noscript>Please enable JavaScript and cookies to continue.</noscript></body></html>"""

_LOGIN_HTML = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign in | Shapes</title>
</head><body><div id="__next"><main><h1>Welcome back</h1><form action="/api/auth/sign-in/email" method="post">
<label>Email<input type="email" name="email"></label><label>Password<input type="password" name="password">
</label><button type="submit">Sign in</button></form><a href="/signup">Create an account</a></main></div>
</body></html>"""


def _bot_wall(vendor: str) -> Response:
    if vendor == "cloudflare":
        return html_response(403, _CF_HTML, [("cf-mitigated", "challenge"), ("Cache-Control", "no-store")])
    if vendor == "datadome":
        return html_response(403, _DD_HTML, [
            ("x-datadome", "protected"), ("x-datadome-cid", "AHrlqAAAAAMA2211F522B61E269B869FA6EAFFB5E1"),
            ("Set-Cookie", "datadome=AHrlqAAAAAMA~challenge; Max-Age=31536000; Path=/; SameSite=Lax"),
        ])
    if vendor == "perimeterx":
        return html_response(403, _PX_HTML, [("x-px-block", "1")])
    if vendor == "html-challenge":  # an unbranded challenge page: HTML on 403, no vendor header at all
        return html_response(403, _CHALLENGE_HTML)
    return html_response(200, _LOGIN_HTML)  # "html": a login-looking page served with 200


def fault_response(fault: Fault, path: str) -> Response | None:
    """The answer that replaces the normal one, or ``None`` for faults that only modify it
    (``slow``, ``truncated_json``, ``empty_page``)."""
    p = fault.params
    if fault.name == "rate_limit":
        retry_after = p.get("retry_after", "2")
        headers = [] if retry_after is None else [("Retry-After", str(retry_after))]
        return json_response(429, {"error": "Too Many Requests", "message": "Slow down."}, headers)
    if fault.name == "server_error":
        status = int(p.get("status", 500))
        headers = [("Retry-After", str(p["retry_after"]))] if p.get("retry_after") is not None else []
        if status == 500:
            return json_response(500, {"error": "Internal Server Error"}, headers)
        reasons = {502: "Bad gateway", 503: "Service unavailable", 504: "Gateway time-out"}
        reason = reasons.get(status, "Error")
        return html_response(status, f"<html><head><title>{status} {reason}</title></head><body>"
                                     f"<h1>{status} {reason}</h1><p>cloudflare</p></body></html>", headers)
    if fault.name == "drop":
        return Response(0, drop=True)
    if fault.name == "not_found":
        return json_response(404, {"error": "Not Found", "message": "Not Found", "statusCode": 404})
    if fault.name == "bot_wall":
        return _bot_wall(str(p.get("vendor", "cloudflare")))
    if fault.name == "login_redirect":
        resp = html_response(302, '<html><body>Redirecting to <a href="/login">/login</a></body></html>')
        resp.headers.append(("Location", "/login?redirect=" + quote(path, safe="")))
        return resp
    return None
