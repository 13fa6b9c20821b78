"""Pacing arithmetic on a fake clock, backoff, Retry-After parsing, and the retry loop over MockTransport."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tzbackup_gui.errors import NetworkError, RateLimitedError, ServerError
from tzbackup_gui.events import BackupEvent, Retrying, Waiting
from tzbackup_gui.service import Pacer, RetryPolicy, ShapesClient, parse_retry_after
from tzbackup_gui.service.auth import SessionCredential


class FakeClock:
    """A clock that only moves when the pacer sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def make(delay: float, personality_delay: float | None = None) -> tuple[Pacer, FakeClock]:
    clock = FakeClock()
    return Pacer(delay, personality_delay, clock=clock, sleep=clock.sleep), clock


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_first_request_does_not_wait_then_start_to_start_spacing() -> None:
    pacer, clock = make(1.0)

    async def go() -> None:
        await pacer.before_request()  # first: immediately
        clock.now += 0.3  # the request took 0.3 s
        await pacer.before_request()  # waits only the rest of the second
        await pacer.before_request()

    run(go())
    assert clock.sleeps == [0.7, 1.0]


def test_no_wait_when_the_request_itself_took_longer_than_the_spacing() -> None:
    pacer, clock = make(1.0)

    async def go() -> None:
        await pacer.before_request()
        clock.now += 1.5
        await pacer.before_request()

    run(go())
    assert clock.sleeps == []


def test_personality_boundary_doubles_the_spacing_not_adds() -> None:
    pacer, clock = make(1.0)

    async def go() -> None:
        await pacer.before_request()
        clock.now += 0.5
        pacer.personality_boundary()
        pacer.personality_boundary()  # twice is still 2 * delay
        await pacer.before_request()
        await pacer.before_request()  # back to the normal spacing

    run(go())
    assert clock.sleeps == [1.5, 1.0]
    assert make(1.0, 5.0)[0].personality_delay == 5.0


def test_retry_after_replaces_the_spacing_and_never_shortens_it() -> None:
    pacer, clock = make(1.0)
    reasons: list[tuple[float, str]] = []

    async def go() -> None:
        await pacer.before_request()
        pacer.defer(3.0, "retry-after")  # longer than the spacing: wins
        await pacer.before_request(lambda s, r: reasons.append((round(s, 6), r)))
        pacer.defer(0.2, "retry-after")  # shorter than the spacing: the spacing wins
        await pacer.before_request(lambda s, r: reasons.append((round(s, 6), r)))
        pacer.defer(5.0, "backoff")
        pacer.defer(1.0, "retry-after")  # never shortens an earlier, later deadline
        await pacer.before_request(lambda s, r: reasons.append((round(s, 6), r)))

    run(go())
    assert clock.sleeps == [3.0, 1.0, 5.0]
    assert reasons == [(3.0, "retry-after"), (1.0, "pacing"), (5.0, "backoff")]


def test_short_pacing_waits_are_not_reported() -> None:
    pacer, clock = make(0.2)
    seen: list[float] = []

    async def go() -> None:
        for _ in range(3):
            await pacer.before_request(lambda s, r: seen.append(s))

    run(go())
    assert clock.sleeps == [0.2, 0.2] and seen == []


def test_zero_delay_never_sleeps() -> None:
    pacer, clock = make(0.0)

    async def go() -> None:
        for _ in range(5):
            pacer.personality_boundary()
            await pacer.before_request()

    run(go())
    assert clock.sleeps == []


def test_one_request_at_a_time_through_a_pacer() -> None:
    pacer = Pacer(0.0)
    active = 0
    peak = 0

    async def request() -> None:
        nonlocal active, peak
        async with pacer.slot():
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1

    async def go() -> None:
        await asyncio.gather(*(request() for _ in range(5)))

    run(go())
    assert peak == 1


def test_pacer_works_across_event_loops() -> None:
    pacer = Pacer(0.0)

    async def go() -> None:
        async with pacer.slot():
            pass

    run(go())
    run(go())  # a second asyncio.run must not trip over a lock bound to the first loop


def test_cancel_stops_a_long_wait_at_once() -> None:
    pacer = Pacer(0.0)
    pacer.defer(30.0)

    async def go() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        task = asyncio.create_task(pacer.before_request())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return loop.time() - start

    assert asyncio.run(go()) < 1.0


def test_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(-1)


# --- backoff and Retry-After -----------------------------------------------------------------------------


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=2.0, max_delay=10.0, jitter=0.25)
    assert [policy.backoff(a, rand=lambda: 0.5) for a in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 10.0]
    assert policy.backoff(1, rand=lambda: 0.0) == 1.5
    assert policy.backoff(1, rand=lambda: 1.0) == 2.5
    assert policy.backoff(4, rand=lambda: 1.0) == 10.0  # jitter never exceeds the cap
    assert RetryPolicy(jitter=0.0).backoff(2) == 4.0


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after("Fri, 01 May 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Fri, 01 May 2026 11:00:00 GMT", now) == 0.0  # in the past
    for bad in (None, "", "soon", "-5", "nan", "inf"):
        assert parse_retry_after(bad, now) is None


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(retry_after_cap=60.0)
    assert policy.retry_after_delay("3600") == 60.0
    assert policy.retry_after_delay("5") == 5.0
    assert policy.retry_after_delay(None) is None


# --- the retry loop (MockTransport; the sandbox versions are in tests/integration) ------------------------


def _scripted(answers: list[httpx.Response | Exception]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen) - 1, len(answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler), seen


def _call(answers: list[httpx.Response | Exception], policy: RetryPolicy) -> tuple[
        object, list[BackupEvent], list[httpx.Request]]:
    transport, seen = _scripted(answers)
    events: list[BackupEvent] = []

    async def go() -> object:
        async with httpx.AsyncClient(transport=transport) as http:
            client = ShapesClient(http, SessionCredential.from_value("t" * 40), base_url="https://x.test",
                                  pacer=Pacer(0), retry=policy, on_event=events.append)
            try:
                return await client.me()
            except Exception as exc:
                return exc

    return asyncio.run(go()), events, seen


def test_retries_then_succeeds_with_events() -> None:
    result, events, seen = _call(
        [httpx.Response(503), httpx.Response(429, headers={"Retry-After": "0.05"}),
         httpx.Response(200, json={"id": "u"})],
        RetryPolicy(base_delay=0.01, jitter=0.0),
    )
    assert result == {"id": "u"} and len(seen) == 3
    assert [(e.attempt, e.max_attempts, e.reason) for e in events if isinstance(e, Retrying)] == [
        (2, 4, "HTTP 503"), (3, 4, "HTTP 429")]
    waits = [(e.reason, round(e.seconds, 2)) for e in events if isinstance(e, Waiting)]
    assert waits[0][0] == "backoff" and waits[1][0] == "retry-after" and waits[1][1] <= 0.05


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        (httpx.Response(429), RateLimitedError, 429),
        (httpx.Response(502), ServerError, 502),
        (httpx.ConnectError("refused"), NetworkError, None),
        (httpx.ReadTimeout("slow"), NetworkError, None),
        (httpx.RemoteProtocolError("dropped"), NetworkError, None),
    ],
)
def test_gives_up_after_max_attempts(
    answer: httpx.Response | Exception, error: type, status: int | None
) -> None:
    result, _, seen = _call([answer], RetryPolicy(max_attempts=3, base_delay=0.001))
    assert isinstance(result, error)
    assert result.attempts == 3 and result.status == status and len(seen) == 3
    assert "3 attempts" in str(result)


def test_non_retryable_statuses_are_tried_once() -> None:
    for status in (400, 404, 418, 501):
        _, _, seen = _call([httpx.Response(status, json={})], RetryPolicy(base_delay=0.001))
        assert len(seen) == 1, status


# --- the total wait of one request is capped ---------------------------------------------------------------


def _storm(answer: httpx.Response, policy: RetryPolicy) -> tuple[object, list[float], int]:
    """``answer`` forever, on a fake clock: (what the call ended with, the waits, requests sent)."""
    transport, seen = _scripted([answer])
    clock = FakeClock()

    async def go() -> object:
        async with httpx.AsyncClient(transport=transport) as http:
            client = ShapesClient(http, SessionCredential.from_value("t" * 40), base_url="https://x.test",
                                  pacer=Pacer(0, clock=clock, sleep=clock.sleep), retry=policy)
            try:
                return await client.me()
            except Exception as exc:
                return exc

    return asyncio.run(go()), clock.sleeps, len(seen)


@pytest.mark.parametrize(
    ("retry_after", "waits"),
    [
        ("300", [300.0]),  # used to be 3 waits of 300 s: 15 minutes on one request
        ("120", [120.0, 120.0]),  # a third wait would pass the 5 minutes
        ("3600", [300.0]),  # capped (retry_after_cap) as before, once
        ("10", [10.0, 10.0, 10.0]),  # short waits: every attempt as before
    ],
)
def test_a_429_storm_waits_at_most_max_total_wait_per_request(retry_after: str, waits: list[float]) -> None:
    policy = RetryPolicy()
    assert policy.max_total_wait == 300.0
    result, sleeps, sent = _storm(httpx.Response(429, headers={"Retry-After": retry_after}), policy)
    assert isinstance(result, RateLimitedError) and result.attempts == sent == len(waits) + 1
    assert sleeps == waits and sum(sleeps) <= policy.max_total_wait


def test_a_wait_that_would_pass_the_budget_is_not_shortened() -> None:
    """The Retry-After is honoured: no retry before it, so a wait past the budget ends the retries."""
    policy = RetryPolicy(max_total_wait=100.0, retry_after_cap=300.0)
    result, sleeps, sent = _storm(httpx.Response(429, headers={"Retry-After": "60"}), policy)
    assert isinstance(result, RateLimitedError) and sleeps == [60.0] and sent == 2
    result, sleeps, sent = _storm(httpx.Response(429, headers={"Retry-After": "200"}), policy)
    assert isinstance(result, RateLimitedError) and sleeps == [] and sent == 1


def test_backoff_without_retry_after_keeps_every_attempt() -> None:
    result, sleeps, sent = _storm(httpx.Response(503), RetryPolicy(jitter=0.0))
    assert isinstance(result, ServerError) and sent == 4 and sleeps == [2.0, 4.0, 8.0]
