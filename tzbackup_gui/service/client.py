"""The shapes.inc data API client: paced, retried, classified, secret-safe.

Every request goes through one path (:meth:`ShapesClient._fetch`): wait for the shared :class:`Pacer`, send
with an explicit ``Cookie`` header built from the credential (httpx's cookie jar is emptied after every
response, so nothing the server sets, ``datadome=...`` included, is ever sent back), pick a rotated session
cookie out of ``Set-Cookie``, classify the answer, and retry what is transient.

Classification (first match wins):

* ``cf-mitigated`` / ``x-datadome*`` / ``x-px*`` on anything but a 2xx JSON answer: :class:`BotWallError`,
  never retried (retrying makes a bot wall angrier). A 2xx JSON answer that carries ``x-datadome`` passed
  the wall (DataDome tags every response it lets through), so it is data.
* 3xx: to a login / sign-in / auth page: :class:`LoginRedirectError`. Any other redirect: :class:`DriftError`
  (the API never redirected before; following blindly could leak the cookie to another host).
* 429 and 500/502/503/504, timeouts, connect / read errors, dropped connections: retried with backoff
  (``Retry-After`` honoured; at most ``max_attempts`` and ``max_total_wait`` seconds of waiting per request),
  then :class:`RateLimitedError` / :class:`ServerError` / :class:`NetworkError`.
* 401/403 with JSON (or no body): :class:`BadCredentialError` before any request of this client succeeded,
  else :class:`SessionExpiredError`. HTML on 2xx/403: a login page (:class:`LoginRedirectError`) or an
  unknown bot wall (:class:`BotWallError` with ``vendor="unknown"``).
* 404: :class:`NotFoundError` (the endpoint methods turn it into "empty" where that is what it means).
* Other 4xx: :class:`ServiceError`; other 5xx: :class:`ServerError` (not retried).
* A 2xx JSON answer that does not parse (cut off): fetched again up to ``truncated_json_retries`` times,
  then :class:`DriftError` describing what arrived.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ..errors import (
    BadCredentialError,
    BotWallError,
    DriftError,
    LoginRedirectError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ServiceError,
    SessionExpiredError,
)
from ..events import EventCallback, RequestMade, Retrying, Waiting, ignore_events
from ..log import add_secret
from .auth import SessionCredential, rotated_credential
from .models import (
    MemoryPage,
    ShapeSummary,
    describe_payload,
    parse_entry_list,
    parse_memory_page,
    parse_personalization,
    parse_shape_list,
)
from .pacing import Pacer, RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL", "DEFAULT_FILES_BASE_URL", "USER_AGENT", "DownloadTooLargeError", "ShapesClient",
]

log = logging.getLogger("tzbackup.service")

DEFAULT_BASE_URL = "https://shapes.inc"
DEFAULT_FILES_BASE_URL = "https://files.shapes.inc"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    " tzbackup/0.1"
)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_LOGIN_WORDS = ("login", "log-in", "signin", "sign-in", "sign_in", "/auth", "auth/")
_NETWORK_ERRORS = (httpx.TransportError,)

JSONDict = dict[str, Any]


class DownloadTooLargeError(ServiceError):
    """A download is bigger than the caller allows; it was stopped without reading the rest (final, not
    retried). ``size`` is the announced size (Content-Length, ``announced``) or the bytes read when it was
    stopped."""

    hint = "The file was not saved. Nothing else is affected."

    def __init__(
        self, message: str, *, size: int, limit: int, announced: bool, url_path: str | None = None
    ) -> None:
        super().__init__(message, url_path=url_path)
        self.size = size
        self.limit = limit
        self.announced = announced


def _size_text(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size} bytes"


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _with_body(response: httpx.Response, body: bytes) -> httpx.Response:
    """A copy of a streamed ``response`` holding ``body`` (already decoded) as its content."""
    dropped = ("content-encoding", "content-length", "transfer-encoding")
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in dropped]
    return httpx.Response(response.status_code, headers=headers, content=body, request=response.request,
                          extensions=response.extensions)


@dataclass
class _Transient(Exception):
    """An attempt failed in a way worth retrying."""

    kind: str  # "rate-limit" | "server" | "network" | "truncated"
    reason: str  # for the Retrying event: "HTTP 503", "timeout", ...
    status: int | None = None
    retry_after: float | None = None
    arrived: str = ""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _sanitise(data: bytes, limit: int = 60) -> str:
    """The first bytes of a body, printable ASCII only, for drift messages (never a header)."""
    text = data[:limit].decode("utf-8", "replace")
    return "".join(c if c.isprintable() and ord(c) < 127 else "?" for c in text)


def _content_type(response: httpx.Response) -> str:
    value: str = response.headers.get("content-type", "")
    return value.split(";")[0].strip().lower()


def _bot_vendor(response: httpx.Response) -> str | None:
    names = [k.lower() for k in response.headers]
    if "cf-mitigated" in names:
        return "cloudflare"
    if any(n.startswith("x-datadome") for n in names):
        return "datadome"
    if any(n.startswith("x-px") for n in names):
        return "perimeterx"
    return None


def path_segment(value: str) -> str:
    """``value`` as one URL path segment that nothing on the way can reinterpret.

    Everything but unreserved characters is percent-encoded (``/`` included). A segment made only of dots
    (usernames ``.`` and ``..`` are legal upstream) is sent as ``%2E``...: written plainly, httpx (like any
    RFC 3986 client, browser or proxy) resolves ``.`` and ``..`` as path steps, and
    ``/api/shapes/username/..`` would silently ask for ``/api/shapes``. httpx keeps ``%2E`` as it is on the
    wire; the server decodes it.
    """
    if value and value.strip(".") == "":
        return "%2E" * len(value)
    return quote(value, safe="")


def _looks_like_login(body: bytes) -> bool:
    text = body[:20000].decode("utf-8", "replace").lower()
    has_form = "<form" in text or "password" in text
    return has_form and any(w in text for w in ("login", "log in", "sign in", "signin", "sign-in"))


class ShapesClient:
    """Async client for the data API over a shared ``httpx.AsyncClient`` (see docs/INTERNALS.md)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        credential: SessionCredential,
        *,
        base_url: str = DEFAULT_BASE_URL,
        files_base_url: str = DEFAULT_FILES_BASE_URL,
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        on_event: EventCallback = ignore_events,
        on_rotate: Callable[[SessionCredential], None] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.http = http
        self.credential = credential
        self.base_url = base_url.rstrip("/")
        self.files_base_url = files_base_url.rstrip("/")
        self.pacer = pacer if pacer is not None else Pacer()
        self.retry = retry if retry is not None else RetryPolicy()
        self.on_event = on_event
        self.on_rotate = on_rotate
        self.timeout = timeout
        #: HTTP attempts sent (retries included).
        self.requests_made = 0
        #: authenticated requests answered with success; decides "bad cookie" vs "session expired".
        self.good_requests = 0
        #: set by the engine; stamped on Waiting / Retrying / RequestMade events.
        self.current_slug = ""
        for secret in credential.secrets():
            add_secret(secret)

    def __repr__(self) -> str:
        return f"ShapesClient(base_url={self.base_url!r}, requests_made={self.requests_made})"

    # --- endpoints ---------------------------------------------------------------------------------------

    async def validate(self) -> JSONDict:
        """``GET /api/users/info``: raises :class:`BadCredentialError` & co. when the cookie is refused."""
        return self._expect_dict(await self._get_json("/api/users/info"), "/api/users/info")

    async def me(self) -> JSONDict:
        """``GET /api/users/me``: the signed-in user, with at least an ``id``."""
        data = self._expect_dict(await self._get_json("/api/users/me"), "/api/users/me")
        if not data.get("id"):
            raise DriftError("The signed-in user from /api/users/me has no 'id'.",
                             arrived=describe_payload(data), url_path="/api/users/me")
        return data

    async def list_own_shapes(self) -> list[ShapeSummary]:
        """``GET /api/shapes?category=self``: the user's own personalities."""
        return parse_shape_list(await self._get_json("/api/shapes", {"category": "self"}), "/api/shapes")

    async def get_profile(self, slug: str) -> JSONDict:
        """``GET /api/shapes/username/{slug}``: the full raw profile (404: :class:`NotFoundError`)."""
        path = f"/api/shapes/username/{path_segment(slug)}"
        return self._expect_dict(await self._get_json(path), path)

    async def get_memory_page(self, shape_id: str, page: int, limit: int = 20) -> MemoryPage:
        """One page of memories, newest first. A 404 on page 1 is "no memories"; later it raises."""
        path = f"/api/memory/{path_segment(shape_id)}"
        try:
            payload = await self._get_json(path, {"page": str(page), "limit": str(limit)})
        except NotFoundError:
            if page == 1:
                return MemoryPage(page=1, items=[], has_next=False, total_pages=0, total=0, not_found=True)
            raise
        return parse_memory_page(payload, page, path)

    async def get_story(self, shape_id: str) -> list[JSONDict]:
        """Knowledge entries (every envelope seen); 404 = none."""
        return await self._get_entries(f"/api/shapes/{path_segment(shape_id)}/story")

    async def get_training(self, shape_id: str) -> list[JSONDict]:
        """Training examples (same envelopes as story); 404 = none."""
        return await self._get_entries(f"/api/shapes/{path_segment(shape_id)}/training")

    async def get_user_personalization(self, shape_id: str) -> JSONDict:
        """The user's personalization of this shape; ``{}`` or 404 = none."""
        path = f"/api/shapes/{path_segment(shape_id)}/user"
        try:
            return parse_personalization(await self._get_json(path), path)
        except NotFoundError:
            return {}

    async def get_chat_history(
        self, shape_id: str, before_ts: float | None = None, limit: int = 50
    ) -> list[JSONDict]:
        """One batch of chat messages (bare array, newest batch first); 404 = none."""
        path = f"/api/shapes/{path_segment(shape_id)}/chat/history"
        params = {"limit": str(limit), "shape_id": shape_id}
        if before_ts is not None:
            params["before_ts"] = repr(float(before_ts))
        try:
            payload = await self._get_json(path, params)
        except NotFoundError:
            return []
        return parse_entry_list(payload, path)

    async def download(self, url: str, max_bytes: int | None = None) -> bytes:
        """Fetch a file (avatar) from the files host or the service itself; paced like any request.

        Any other host is refused without a request. The cookie is sent only to the service's own origin,
        never to the files host. With ``max_bytes``, the body is streamed; a file announced (Content-Length)
        or found to be bigger is refused with :class:`DownloadTooLargeError` after reading at most about
        ``max_bytes``, so RAM stays bounded whatever the server sends.
        """
        if url.startswith("/"):
            url = self.base_url + url
        under_files = url.startswith(self.files_base_url + "/")
        if under_files:
            auth = False
        elif _origin(url) == _origin(self.base_url) and urlsplit(url).scheme in ("http", "https"):
            auth = True
        else:
            host = urlsplit(url).hostname or "?"
            raise ServiceError(
                f"Refused to download from {host}: only {urlsplit(self.base_url).hostname} and "
                f"{urlsplit(self.files_base_url).hostname} are contacted."
            )
        response, _ = await self._fetch(url, None, auth=auth, want_json=False, max_bytes=max_bytes)
        return response.content

    # --- helpers ----------------------------------------------------------------------------------------

    async def _get_entries(self, path: str) -> list[JSONDict]:
        try:
            payload = await self._get_json(path)
        except NotFoundError:
            return []
        return parse_entry_list(payload, path)

    @staticmethod
    def _expect_dict(payload: object, path: str) -> JSONDict:
        if not isinstance(payload, dict):
            raise DriftError(f"{path} sent {describe_payload(payload)} where an object was expected.",
                             arrived=describe_payload(payload), url_path=path)
        return payload

    async def _get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        _, payload = await self._fetch(self.base_url + path, params, auth=True, want_json=True)
        return payload

    def _emit_wait(self, seconds: float, reason: str) -> None:
        log.info("waiting %.2f s (%s)", seconds, reason)
        self.on_event(Waiting(slug=self.current_slug, seconds=seconds, reason=reason))

    async def _fetch(
        self, url: str, params: Mapping[str, str] | None, *, auth: bool, want_json: bool,
        max_bytes: int | None = None,
    ) -> tuple[httpx.Response, Any]:
        """One logical request: attempts, waits and classification. Returns the successful response and,
        when ``want_json``, its decoded body (else ``None``). ``max_bytes``: see :meth:`download`."""
        path = urlsplit(url).path or "/"
        policy = self.retry
        truncated = 0
        attempt = 0
        waited = 0.0  # seconds of retry waits so far; bounded by policy.max_total_wait
        while True:
            attempt += 1
            try:
                response = await self._attempt(url, params, path, auth=auth, max_bytes=max_bytes)
                payload = self._decode(response, path) if want_json else None
                if auth:
                    self.good_requests += 1
                return response, payload
            except _Transient as failure:
                if failure.kind == "truncated":
                    truncated += 1
                    if truncated > policy.truncated_json_retries:
                        attempt = policy.max_attempts  # give up now, with the drift error
                if attempt >= policy.max_attempts:
                    raise self._final_error(failure, path, attempt) from None
                delay, wait_reason = self._retry_delay(failure, attempt)
                if not policy.within_budget(waited, delay):
                    log.info("giving up on %s after %s: waiting %.0f s more would pass the %.0f s allowed",
                             path, failure.reason, delay, policy.max_total_wait)
                    raise self._final_error(failure, path, attempt) from None
                waited += delay
                log.info("retrying %s after %s (attempt %d of %d)", path, failure.reason, attempt + 1,
                         policy.max_attempts)
                self.on_event(Retrying(slug=self.current_slug, attempt=attempt + 1,
                                       max_attempts=policy.max_attempts, reason=failure.reason))
                self.pacer.defer(delay, wait_reason)

    def _retry_delay(self, failure: _Transient, attempt: int) -> tuple[float, str]:
        if failure.retry_after is not None:
            return failure.retry_after, "retry-after"
        return self.retry.backoff(attempt), "backoff"

    async def _attempt(
        self, url: str, params: Mapping[str, str] | None, path: str, *, auth: bool,
        max_bytes: int | None = None,
    ) -> httpx.Response:
        """Send once through the pacer; classify. Raises _Transient or a final ServiceError (a body bigger
        than ``max_bytes``, once the answer is otherwise usable: :class:`DownloadTooLargeError`)."""
        headers = {"Accept": "application/json" if auth else "*/*", "User-Agent": USER_AGENT}
        if auth:
            headers["Cookie"] = self.credential.header_value()
        started = time.monotonic()
        too_large: tuple[int, bool] | None = None
        async with self.pacer.slot(self._emit_wait):
            self.http.cookies.clear()
            self.requests_made += 1
            try:
                if max_bytes is None:
                    response = await self.http.get(
                        url, params=params, headers=headers, timeout=self.timeout, follow_redirects=False
                    )
                else:
                    response, too_large = await self._get_capped(url, params, headers, max_bytes)
            except httpx.TimeoutException:
                self._after_failure(path)
                raise _Transient("network", "timeout") from None
            except _NETWORK_ERRORS as exc:
                self._after_failure(path)
                raise _Transient("network", f"connection problem ({type(exc).__name__})") from None
            finally:
                self.http.cookies.clear()
        log.debug("GET %s -> %d (%.3f s)", path, response.status_code, time.monotonic() - started)
        if auth:
            self._take_rotation(response)
        self.on_event(RequestMade(slug=self.current_slug, path=path, status=response.status_code))
        self._classify(response, path, auth=auth)
        if too_large is not None and max_bytes is not None:
            size, announced = too_large
            what = f"{_size_text(size)} announced" if announced else f"over {_size_text(max_bytes)} read"
            raise DownloadTooLargeError(
                f"The file at {path} is bigger than the {_size_text(max_bytes)} allowed ({what}); "
                "it was not downloaded.",
                size=size, limit=max_bytes, announced=announced, url_path=path,
            )
        return response

    async def _get_capped(
        self, url: str, params: Mapping[str, str] | None, headers: dict[str, str], max_bytes: int
    ) -> tuple[httpx.Response, tuple[int, bool] | None]:
        """GET with the body streamed and read only up to ``max_bytes``. Returns the response (its content
        cut at the cap) and, when the body is bigger, (size announced or read so far, announced?) else
        ``None``."""
        request = self.http.build_request("GET", url, params=params, headers=headers, timeout=self.timeout)
        response = await self.http.send(request, follow_redirects=False, stream=True)
        try:
            declared = _content_length(response)
            if declared is not None and declared > max_bytes:
                return _with_body(response, b""), (declared, True)  # refused without reading the body
            parts: list[bytes] = []
            total = 0
            async for chunk in response.aiter_bytes():
                parts.append(chunk)
                total += len(chunk)
                if total > max_bytes:
                    return _with_body(response, b"".join(parts)[:max_bytes]), (total, False)
            return _with_body(response, b"".join(parts)), None
        finally:
            await response.aclose()

    def _after_failure(self, path: str) -> None:
        log.debug("GET %s -> no answer", path)
        self.on_event(RequestMade(slug=self.current_slug, path=path, status=0))

    def _take_rotation(self, response: httpx.Response) -> None:
        new = rotated_credential(self.credential, response.headers.get_list("set-cookie"))
        if new is None:
            return
        for secret in new.secrets():
            add_secret(secret)
        self.credential = new
        log.info("the service rotated the session cookie; keeping the new one")
        if self.on_rotate is not None:
            self.on_rotate(new)

    # --- classification ---------------------------------------------------------------------------------

    def _classify(self, response: httpx.Response, path: str, *, auth: bool) -> None:
        """Raise for anything that is not a usable 2xx answer."""
        status = response.status_code
        ctype = _content_type(response)
        vendor = _bot_vendor(response)
        if vendor and not (200 <= status < 300 and "json" in ctype):
            raise BotWallError(
                f"A bot-protection wall ({vendor}) blocked the request to {path} (HTTP {status}); "
                "the run stopped instead of retrying.",
                vendor=vendor, status=status, url_path=path,
            )
        if 300 <= status < 400:
            self._classify_redirect(response, path)
        if status in RETRY_STATUSES:
            retry_after = self.retry.retry_after_delay(response.headers.get("retry-after"))
            kind = "rate-limit" if status == 429 else "server"
            raise _Transient(kind, f"HTTP {status}", status=status, retry_after=retry_after)
        if (200 <= status < 300 or status == 403) and ctype in ("text/html", "application/xhtml+xml"):
            self._classify_html(response, path)
        if status in (401, 403):
            if not auth:
                raise ServiceError(f"The files host refused {path} (HTTP {status}).",
                                   status=status, url_path=path)
            self._raise_auth(status, path)
        if status == 404:
            raise NotFoundError(f"Nothing found at {path} (HTTP 404).", status=status, url_path=path)
        if status >= 500:
            raise ServerError(f"The service failed on {path} (HTTP {status}).", status=status, url_path=path)
        if status >= 400:
            raise ServiceError(f"The service refused {path} (HTTP {status}).", status=status, url_path=path)

    def _classify_redirect(self, response: httpx.Response, path: str) -> None:
        location = response.headers.get("location", "")
        target = urlsplit(location).path.lower() or location.lower()
        if any(w in target for w in _LOGIN_WORDS):
            raise LoginRedirectError(
                f"The service redirected {path} to its sign-in page (HTTP {response.status_code}): "
                "the session is no longer valid.",
                status=response.status_code, url_path=path,
            )
        raise DriftError(
            f"The service redirected {path} elsewhere (HTTP {response.status_code}) instead of answering; "
            "redirects are not followed.",
            arrived=f"redirect to {urlsplit(location).path or '?'}", status=response.status_code,
            url_path=path,
        )

    def _classify_html(self, response: httpx.Response, path: str) -> None:
        status = response.status_code
        if _looks_like_login(response.content):
            raise LoginRedirectError(
                f"The service answered {path} with its sign-in page (HTTP {status}): "
                "the session is not valid.",
                status=status, url_path=path,
            )
        raise BotWallError(
            f"An HTML page instead of data came back for {path} (HTTP {status}); it looks like a "
            "bot-protection wall. The run stopped instead of retrying.",
            vendor="unknown", status=status, url_path=path,
        )

    def _raise_auth(self, status: int, path: str) -> None:
        if self.good_requests == 0:
            raise BadCredentialError(
                f"The service did not accept the session cookie (HTTP {status} on {path}, "
                "the first request). "
                "It is wrong, expired, or from another site (talk.shapes.inc cookies do not work).",
                status=status, url_path=path,
            )
        raise SessionExpiredError(
            f"The session expired after {self.good_requests} successful request(s) "
            f"(HTTP {status} on {path}). Everything fetched so far is kept.",
            good_requests=self.good_requests, status=status, url_path=path,
        )

    def _decode(self, response: httpx.Response, path: str) -> Any:
        body = response.content
        ctype = _content_type(response)
        if not body.strip():
            arrived = f"an empty {ctype or 'untyped'} body"
            raise DriftError(f"{path} answered HTTP {response.status_code} with an empty body.",
                             arrived=arrived, status=response.status_code, url_path=path)
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            arrived = f"{ctype or 'no content type'}, {len(body)} bytes, starting {_sanitise(body)!r}"
            if "json" in ctype:
                raise _Transient("truncated", "incomplete JSON", status=response.status_code,
                                 arrived=arrived) from None
            raise DriftError(f"{path} did not answer with JSON ({arrived}).", arrived=arrived,
                             status=response.status_code, url_path=path) from None

    def _final_error(self, failure: _Transient, path: str, attempts: int) -> ServiceError:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if failure.kind == "rate-limit":
            return RateLimitedError(f"The service kept rate-limiting {path} (HTTP 429, {tries}).",
                                    status=429, url_path=path, attempts=attempts)
        if failure.kind == "server":
            return ServerError(f"The service kept failing on {path} (HTTP {failure.status}, {tries}).",
                               status=failure.status, url_path=path, attempts=attempts)
        if failure.kind == "truncated":
            return DriftError(
                f"{path} kept sending JSON that does not parse ({failure.arrived}; {tries}).",
                arrived=failure.arrived, status=failure.status, url_path=path, attempts=attempts,
            )
        return NetworkError(f"Could not reach the service for {path}: {failure.reason} ({tries}).",
                            url_path=path, attempts=attempts)
