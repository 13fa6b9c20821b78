"""The real ShapesClient against the real sandbox over 127.0.0.1: endpoints, faults, variants, rotation.

Every test asserts what can be observed: the result or error type and fields, the sandbox's request log
(how many requests really arrived), the Waiting / Retrying events, elapsed-time lower bounds, and the
headers httpx really sent (captured with an httpx request event hook).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import httpx
import pytest

from tzbackup_gui.errors import (
    BadCredentialError,
    BotWallError,
    DriftError,
    LoginRedirectError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    SessionExpiredError,
)
from tzbackup_gui.events import BackupEvent, RequestMade, Retrying, Waiting
from tzbackup_gui.sandbox import SESSION_COOKIE, SandboxServer
from tzbackup_gui.service import MemoryPage, Pacer, RetryPolicy, ShapesClient
from tzbackup_gui.service.auth import SessionCredential

T = TypeVar("T")
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, jitter=0.0, retry_after_cap=5.0)
ME = "/api/users/me"


class Harness:
    """One client over one AsyncClient, with events, rotations and the headers actually sent."""

    def __init__(self, sb: SandboxServer, *, cookie: str | None = None, retry: RetryPolicy = FAST,
                 pacer: Pacer | None = None, timeout: float = 10.0) -> None:
        self.sb = sb
        self.cookie = cookie if cookie is not None else sb.cookie
        self.retry = retry
        self.pacer = pacer or Pacer(0)
        self.timeout = timeout
        self.events: list[BackupEvent] = []
        self.rotations: list[SessionCredential] = []
        self.sent: list[httpx.Request] = []
        #: monotonic time at which httpx sent each request (client side: no server-side latency jitter)
        self.sent_at: list[float] = []
        self.jar_sizes: list[int] = []
        self.client: ShapesClient | None = None

    def run(self, body: Callable[[ShapesClient], Awaitable[T]]) -> T:
        async def go() -> T:
            async def on_request(request: httpx.Request) -> None:
                self.sent.append(request)
                self.sent_at.append(time.monotonic())

            async with httpx.AsyncClient(event_hooks={"request": [on_request]}) as http:
                self.client = ShapesClient(
                    http, SessionCredential.from_value(self.cookie), base_url=self.sb.base_url,
                    files_base_url=self.sb.files_base_url, pacer=self.pacer, retry=self.retry,
                    on_event=self.events.append, on_rotate=self.rotations.append, timeout=self.timeout,
                )
                try:
                    return await body(self.client)
                finally:
                    self.jar_sizes.append(len(http.cookies))

        return asyncio.run(go())

    def fails(self, body: Callable[[ShapesClient], Awaitable[Any]], error: type[BaseException]) -> Any:
        with pytest.raises(error) as info:
            self.run(body)
        return info.value

    def of(self, kind: type[T]) -> list[T]:
        return [e for e in self.events if isinstance(e, kind)]

    def logged(self, prefix: str = ME) -> int:
        return self.sb.state.count(prefix)


def _me(c: ShapesClient) -> Awaitable[dict[str, Any]]:
    return c.me()


# --- endpoints ----------------------------------------------------------------------------------------


def test_every_endpoint_returns_data(sandbox: SandboxServer) -> None:
    h = Harness(sandbox)

    async def body(c: ShapesClient) -> dict[str, Any]:
        out: dict[str, Any] = {"info": await c.validate(), "me": await c.me()}
        out["shapes"] = await c.list_own_shapes()
        lilith = await c.get_profile("lilith")
        zoe = await c.get_profile("zoë-✨")
        out.update(lilith=lilith, zoe=zoe, page=await c.get_memory_page(lilith["id"], 1),
                   story=await c.get_story(lilith["id"]), training=await c.get_training(lilith["id"]),
                   user=await c.get_user_personalization(lilith["id"]),
                   chat=await c.get_chat_history(lilith["id"]))
        out["older"] = await c.get_chat_history(lilith["id"], before_ts=min(m["ts"] for m in out["chat"]))
        out["avatar"] = await c.download(lilith["avatar"])
        return out

    out = h.run(body)
    assert out["me"]["id"] == sandbox.demo_user["id"]
    owned = {p.profile["username"] for p in sandbox.state.owned_personalities()}
    assert {s.username for s in out["shapes"]} == owned and {"lilith", "zoë-✨"} <= owned
    assert out["zoe"]["username"] == "zoë-✨"
    page: MemoryPage = out["page"]
    assert len(page.items) == 20 and page.has_next is True
    assert page.total == len(sandbox.state.get("lilith").memories)
    assert page.items[0]["id"] == sandbox.state.get("lilith").memories[-1]["id"]  # newest first
    assert out["story"] and all("content" in e for e in out["story"])
    assert out["user"].get("backstory")
    assert len(out["chat"]) == 50 and out["older"]
    assert max(m["ts"] for m in out["older"]) < min(m["ts"] for m in out["chat"])
    assert out["avatar"].startswith(b"\x89PNG")
    assert h.client is not None and h.client.requests_made == len(sandbox.state.request_log) == 12
    assert [e.status for e in h.of(RequestMade)] == [200] * 12


def test_explicit_cookie_only_to_the_api_and_jar_stays_empty(sandbox: SandboxServer) -> None:
    """The sandbox adds an unrelated ``datadome=`` Set-Cookie to every 5th answer: it is never sent back."""
    h = Harness(sandbox)

    async def body(c: ShapesClient) -> None:
        lilith = await c.get_profile("lilith")
        for _ in range(12):
            await c.me()
        await c.download(lilith["avatar"])

    h.run(body)
    api = [r for r in h.sent if r.url.path.startswith("/api/")]
    files = [r for r in h.sent if r.url.path.startswith("/files/")]
    assert len(api) == 13 and len(files) == 1
    assert all(r.headers.get_list("cookie") == [f"{SESSION_COOKIE}={sandbox.cookie}"] for r in api)
    assert "cookie" not in files[0].headers
    assert h.jar_sizes == [0]


def test_unknown_slug_is_not_found(sandbox: SandboxServer) -> None:
    err = Harness(sandbox).fails(lambda c: c.get_profile("no such one"), NotFoundError)
    assert err.status == 404 and err.url_path == "/api/shapes/username/no%20such%20one"


def test_empty_and_missing_sections(sandbox: SandboxServer) -> None:
    sandbox.state.set_variant(empty_memories="404")
    echo = sandbox.state.get("echo-new").profile["id"]
    h = Harness(sandbox)

    async def body(c: ShapesClient) -> tuple[MemoryPage, list[Any], dict[str, Any]]:
        page = await c.get_memory_page(echo, 1)
        with pytest.raises(NotFoundError):
            await c.get_memory_page(echo, 2)  # past page 1 a 404 means something changed
        return page, await c.get_story(echo), await c.get_user_personalization(echo)

    page, story, user = h.run(body)
    assert page.items == [] and page.has_next is False
    assert story == [] and user == {}


# --- retries ----------------------------------------------------------------------------------------------


def test_429_retry_after_seconds_is_honoured(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("rate_limit", count=2, retry_after="0.3", path_contains=ME)
    h = Harness(sandbox)
    start = time.monotonic()
    assert h.run(_me)["id"]
    elapsed = time.monotonic() - start
    waits = h.of(Waiting)
    assert [w.reason for w in waits] == ["retry-after", "retry-after"]
    assert all(0.28 <= w.seconds <= 0.3 + 1e-9 for w in waits), [w.seconds for w in waits]
    assert elapsed >= 0.58
    assert h.logged() == 3
    assert [(r.attempt, r.max_attempts, r.reason) for r in h.of(Retrying)] == [(2, 4, "HTTP 429"),
                                                                               (3, 4, "HTTP 429")]
    # start-to-start gaps of the requests really sent honour the wait
    ts = h.sent_at
    assert all(b - a >= 0.29 for a, b in itertools.pairwise(ts))


def test_429_retry_after_http_date_is_honoured(sandbox: SandboxServer) -> None:
    """The retry goes out no earlier than the HTTP date (whole seconds), after a wait no longer than the
    date asks. Checked against the clock, not as a minimum wait: on a busy machine the 429 can arrive a
    second after the date was written, and the wait left is then rightly shorter (it once read 0.68 s)."""
    target = datetime.now(UTC) + timedelta(seconds=2)
    when = format_datetime(target, usegmt=True)
    not_before = target.replace(microsecond=0).timestamp()  # what the header says
    sandbox.state.set_fault("rate_limit", count=1, retry_after=when, path_contains=ME)
    h = Harness(sandbox)
    start = time.monotonic()
    h.run(_me)
    elapsed = time.monotonic() - start
    (wait,) = h.of(Waiting)
    assert wait.reason == "retry-after" and 0 < wait.seconds <= 2.05
    assert elapsed >= wait.seconds - 0.02
    assert h.logged() == 2
    retry = sandbox.state.request_log[-1]  # the sandbox's wall-clock time of the retry
    assert retry.ts >= not_before - 0.05, (retry.ts, not_before)


def test_retry_after_is_capped(sandbox: SandboxServer) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    sandbox.state.set_fault("rate_limit", count=1, retry_after=when, path_contains=ME)
    h = Harness(sandbox, retry=RetryPolicy(base_delay=0.01, jitter=0, retry_after_cap=0.2))
    h.run(_me)
    waits = h.of(Waiting)
    assert [w.reason for w in waits] == ["retry-after"] and 0.18 <= waits[0].seconds <= 0.2 + 1e-9, waits


def test_429_without_retry_after_backs_off_exponentially(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("rate_limit", count=2, retry_after=None, path_contains=ME)
    h = Harness(sandbox, retry=RetryPolicy(base_delay=0.1, jitter=0.0))
    start = time.monotonic()
    h.run(_me)
    waits = h.of(Waiting)
    assert [w.reason for w in waits] == ["backoff", "backoff"]
    # the event reports what is left of the backoff when the next slot starts: the nominal 0.1 s then 0.2 s,
    # less the few microseconds (milliseconds on a loaded machine) between scheduling and waiting
    for wait, nominal in zip(waits, (0.1, 0.2), strict=True):
        assert nominal - 0.02 <= wait.seconds <= nominal + 1e-9, (wait.seconds, nominal)
    assert time.monotonic() - start >= 0.29
    assert h.logged() == 3


def test_429_forever_gives_rate_limited_error(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("rate_limit", count=None, retry_after="0.01", path_contains=ME)
    err = Harness(sandbox).fails(_me, RateLimitedError)
    assert err.attempts == 4 and err.status == 429 and sandbox.state.count(ME) == 4
    assert ME in str(err) and "429" in str(err)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_burst_is_retried(sandbox: SandboxServer, status: int) -> None:
    sandbox.state.set_fault("server_error", count=3, status=status, path_contains=ME)
    h = Harness(sandbox)
    assert h.run(_me)["id"]
    assert h.logged() == 4
    assert [r.reason for r in h.of(Retrying)] == [f"HTTP {status}"] * 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_storm_gives_server_error(sandbox: SandboxServer, status: int) -> None:
    sandbox.state.set_fault("server_error", count=None, status=status, path_contains=ME)
    err = Harness(sandbox, retry=RetryPolicy(max_attempts=3, base_delay=0.01)).fails(_me, ServerError)
    assert err.status == status and err.attempts == 3 and sandbox.state.count(ME) == 3


def test_slow_answer_times_out_and_is_retried(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("slow", count=1, seconds=1.0, path_contains=ME)
    h = Harness(sandbox, timeout=0.2)
    assert h.run(_me)["id"]
    assert h.logged() == 2 and [r.reason for r in h.of(Retrying)] == ["timeout"]


def test_always_slow_gives_network_error(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("slow", count=None, seconds=0.5, path_contains=ME)
    err = Harness(sandbox, timeout=0.1, retry=RetryPolicy(max_attempts=2, base_delay=0.01)).fails(
        _me, NetworkError)
    assert err.attempts == 2 and "timeout" in str(err)


def test_dropped_connection_is_retried(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("drop", count=2, path_contains=ME)
    h = Harness(sandbox)
    assert h.run(_me)["id"]
    assert h.logged() == 3 and len(h.of(Retrying)) == 2
    assert [e.status for e in h.of(RequestMade)] == [0, 0, 200]


def test_always_dropped_gives_network_error(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("drop", count=None, path_contains=ME)
    err = Harness(sandbox).fails(_me, NetworkError)
    assert err.attempts == 4 and sandbox.state.count(ME) == 4


def test_truncated_json_is_fetched_again(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("truncated_json", count=1, path_contains="/api/memory/")
    shape_id = sandbox.state.get("lilith").profile["id"]
    h = Harness(sandbox)
    page = h.run(lambda c: c.get_memory_page(shape_id, 1))
    assert len(page.items) == 20 and sandbox.state.count("/api/memory/") == 2
    assert [r.reason for r in h.of(Retrying)] == ["incomplete JSON"]


def test_always_truncated_json_is_drift_naming_what_arrived(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("truncated_json", count=None, path_contains="/api/memory/")
    shape_id = sandbox.state.get("lilith").profile["id"]
    err = Harness(sandbox, retry=RetryPolicy(max_attempts=6, base_delay=0.01)).fails(
        lambda c: c.get_memory_page(shape_id, 1), DriftError)
    assert sandbox.state.count("/api/memory/") == 3  # once + truncated_json_retries, not max_attempts
    assert "application/json" in err.arrived and "bytes" in err.arrived and "starting '{" in err.arrived


def test_cancel_during_retry_after_wait_is_immediate(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("rate_limit", count=1, retry_after="30", path_contains=ME)
    h = Harness(sandbox, retry=RetryPolicy(retry_after_cap=60))

    async def body(c: ShapesClient) -> float:
        task = asyncio.create_task(c.me())
        while not h.of(Waiting):  # noqa: ASYNC110 - polling the recorded events is the point here
            await asyncio.sleep(0.01)
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - start

    assert h.run(body) < 0.5
    assert h.logged() == 1


# --- stop-the-run failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["cloudflare", "datadome", "perimeterx"])
def test_bot_wall_is_not_retried(sandbox: SandboxServer, vendor: str) -> None:
    sandbox.state.set_fault("bot_wall", count=None, vendor=vendor, path_contains=ME)
    h = Harness(sandbox)
    err = h.fails(_me, BotWallError)
    assert err.vendor == vendor and err.status == 403 and vendor in str(err)
    assert h.logged() == 1 and not h.of(Retrying)
    assert h.jar_sizes == [0]  # the datadome wall's cookie was not kept


def test_html_login_page_on_200_is_a_login_error(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("bot_wall", count=None, vendor="html", path_contains=ME)
    h = Harness(sandbox)
    err = h.fails(_me, LoginRedirectError)
    assert err.status == 200 and h.logged() == 1


def test_unbranded_html_wall_on_403_is_a_bot_wall(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("bot_wall", count=None, vendor="html-challenge", path_contains=ME)
    h = Harness(sandbox)
    err = h.fails(_me, BotWallError)
    assert err.vendor == "unknown" and err.status == 403 and h.logged() == 1 and not h.of(Retrying)


def test_login_redirect(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("login_redirect", count=None, path_contains=ME)
    h = Harness(sandbox)
    err = h.fails(_me, LoginRedirectError)
    assert err.status == 302 and err.url_path == ME and h.logged() == 1


def test_bad_cookie_on_first_request(sandbox: SandboxServer) -> None:
    wrong = "W" * 40
    h = Harness(sandbox, cookie=wrong)
    err = h.fails(lambda c: c.validate(), BadCredentialError)
    assert err.status == 401 and "/api/users/info" in str(err) and "first request" in str(err)
    assert wrong not in str(err) and wrong not in repr(err)
    assert sandbox.state.count("/api/users/info") == 1


def test_session_expiry_after_n_requests(sandbox: SandboxServer) -> None:
    sandbox.state.set_fault("expire_after", requests=3)
    h = Harness(sandbox)

    async def body(c: ShapesClient) -> None:
        for _ in range(10):
            await c.me()

    err = h.fails(body, SessionExpiredError)
    assert err.good_requests == 3 and err.status == 401 and "3 successful" in str(err)
    assert h.logged() == 4


# --- rotation ---------------------------------------------------------------------------------------------


def test_rotation_is_kept_used_and_reported(sandbox: SandboxServer) -> None:
    original = sandbox.cookie
    sandbox.state.rotate_every = 1  # a new value on every answer; the sandbox honours only the last two
    h = Harness(sandbox)

    async def body(c: ShapesClient) -> str:
        for _ in range(6):
            await c.me()
        return c.credential.cookies[SESSION_COOKIE]

    final = h.run(body)
    assert final == sandbox.cookie != original
    assert len(h.rotations) == 6 and h.rotations[-1].cookies[SESSION_COOKIE] == final
    sent = [r.headers["cookie"].split("=", 1)[1] for r in h.sent]
    assert sent[0] == original
    assert sent[1:] == [cred.cookies[SESSION_COOKIE] for cred in h.rotations[:-1]]
    assert all(r.authenticated for r in sandbox.state.request_log)


def test_rotation_is_reported_also_when_the_run_then_fails(sandbox: SandboxServer) -> None:
    sandbox.state.rotate_every = 2
    sandbox.state.set_fault("bot_wall", count=1, after=3, vendor="cloudflare")
    h = Harness(sandbox)

    async def body(c: ShapesClient) -> None:
        for _ in range(10):
            await c.me()

    h.fails(body, BotWallError)
    assert len(h.rotations) == 1 and h.client is not None
    assert h.client.credential == h.rotations[0]
    assert h.rotations[0].cookies[SESSION_COOKIE] == sandbox.cookie


# --- variants ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("items_key", ["items", "memories", "bare"])
@pytest.mark.parametrize("pagination", ["has_next", "total_pages", "totalPages", "meta", "none"])
def test_memory_page_variants(sandbox: SandboxServer, items_key: str, pagination: str) -> None:
    sandbox.state.set_variant(items_key=items_key, pagination=pagination)
    lilith = sandbox.state.get("lilith")
    total = len(lilith.memories)
    last = -(-total // 20)

    async def body(c: ShapesClient) -> tuple[MemoryPage, MemoryPage]:
        shape_id = lilith.profile["id"]
        return await c.get_memory_page(shape_id, 1), await c.get_memory_page(shape_id, last)

    first, final = Harness(sandbox).run(body)
    assert len(first.items) == 20 and len(final.items) == total - 20 * (last - 1)
    assert final.items[-1]["id"] == lilith.memories[0]["id"]
    if items_key == "bare" or pagination == "none":
        assert (first.has_next, first.total_pages, first.total) == (None, None, None)
    elif pagination == "has_next":
        assert (first.has_next, final.has_next, first.total) == (True, False, total)
    else:
        assert (first.total_pages, final.total_pages, first.total) == (last, last, total)


@pytest.mark.parametrize("created_at", ["metadata", "top", "both"])
def test_created_at_placement(sandbox: SandboxServer, created_at: str) -> None:
    from tzbackup_gui.service import memory_created_at

    sandbox.state.set_variant(created_at=created_at)
    lilith = sandbox.state.get("lilith")
    page = Harness(sandbox).run(lambda c: c.get_memory_page(lilith.profile["id"], 1))
    expected = [m["metadata"]["created_at"] for m in lilith.memories[::-1][:20]]
    assert [memory_created_at(m) for m in page.items] == expected


@pytest.mark.parametrize("envelope", ["bare", "items", "story", "knowledge", "single"])
def test_story_and_training_envelopes(sandbox: SandboxServer, envelope: str) -> None:
    sandbox.state.set_variant(story_envelope=envelope)
    lilith = sandbox.state.get("lilith")

    async def body(c: ShapesClient) -> tuple[list[Any], list[Any]]:
        return await c.get_story(lilith.profile["id"]), await c.get_training(lilith.profile["id"])

    story, training = Harness(sandbox).run(body)
    if envelope == "single":
        assert story == lilith.story[:1] and training == lilith.training[:1]
    else:
        assert story == lilith.story and training == lilith.training


# --- pacing over the wire ---------------------------------------------------------------------------------


def test_pacing_start_to_start_and_personality_boundary(sandbox: SandboxServer) -> None:
    pacer = Pacer(0.1)
    h = Harness(sandbox, pacer=pacer)

    async def body(c: ShapesClient) -> None:
        await c.me()  # warm-up: httpx's first request does one-time work between our start and the send
        h.sent_at.clear()
        await c.me()
        await c.me()
        pacer.personality_boundary()
        await c.me()
        await c.me()

    start = time.monotonic()
    h.run(body)
    elapsed = time.monotonic() - start
    ts = h.sent_at
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert len(sandbox.state.request_log) == 5
    assert gaps[0] >= 0.095 and gaps[1] >= 0.195 and gaps[2] >= 0.095
    assert elapsed >= 0.49
    assert not h.of(Waiting)  # waits under 0.25 s are not reported


def test_concurrent_callers_share_one_pacer(sandbox: SandboxServer) -> None:
    h = Harness(sandbox, pacer=Pacer(0.05))
    lilith = sandbox.state.get("lilith").profile

    async def body(c: ShapesClient) -> None:
        await c.download(lilith["avatar"])  # warm-up, as above
        h.sent_at.clear()
        await asyncio.gather(c.download(lilith["avatar"]), c.me(), c.download(lilith["avatar"]), c.me())

    h.run(body)
    ts = h.sent_at
    assert len(sandbox.state.request_log) == 5
    assert len(ts) == 4 and all(b - a >= 0.045 for a, b in itertools.pairwise(ts))


# --- legacy cookie ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", [False, True])
def test_legacy_appsession_cookie_is_sent_as_given(sandbox: SandboxServer, split: bool) -> None:
    from tzbackup_gui.service import parse_cookie_input

    value = sandbox.state.legacy_session()
    half = len(value) // 2
    text = f"appSession.0={value[:half]}; appSession.1={value[half:]}" if split else f"appSession={value}"
    credential = parse_cookie_input(text)
    h = Harness(sandbox)

    async def body(c: ShapesClient) -> dict[str, Any]:
        c.credential = credential
        return await c.me()

    assert h.run(body)["id"] == sandbox.demo_user["id"]
    assert h.sent[0].headers["cookie"] == text
    assert sandbox.state.request_log[0].authenticated
