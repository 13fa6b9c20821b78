"""Request pacing and retry policy.

One :class:`Pacer` is shared by every request the app makes to the service (backups *and* avatar
downloads), so the spacing the user chose holds across everything. Spacing is start-to-start: the next
request starts no earlier than ``delay`` after the previous one started, ``2 * delay`` across a personality
boundary (not added on top), and never before a ``Retry-After`` / backoff deadline. Only one request is in
flight at a time through a pacer. Every wait is a plain ``asyncio.sleep``, so cancelling stops it at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["NOTICEABLE_WAIT", "Pacer", "RetryPolicy", "WaitCallback", "parse_retry_after"]

#: Pacing waits shorter than this are not reported (a 1 s spacing would otherwise flood the progress view).
NOTICEABLE_WAIT = 0.25

#: ``on_wait(seconds, reason)``; reason is "pacing", "retry-after" or "backoff".
WaitCallback = Callable[[float, str], None]


def _no_wait_callback(seconds: float, reason: str) -> None:
    """Default: nobody listens."""


class Pacer:
    """Start-to-start spacing between requests, plus deadlines set by ``Retry-After`` and backoff.

    ``clock`` and ``sleep`` are injectable so unit tests can run the arithmetic on a fake clock.
    """

    def __init__(
        self,
        delay: float = 1.0,
        personality_delay: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self.delay = float(delay)
        self.personality_delay = float(2 * delay if personality_delay is None else personality_delay)
        self._clock = clock
        self._sleep = sleep
        self._last_start: float | None = None
        self._next_spacing = self.delay
        self._not_before = 0.0
        self._not_before_reason = "retry-after"
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    # --- state changes -----------------------------------------------------------------------------------

    def personality_boundary(self) -> None:
        """The next request starts a new personality: space it ``personality_delay`` from the last start."""
        self._next_spacing = max(self._next_spacing, self.personality_delay)

    def defer(self, seconds: float, reason: str = "retry-after") -> None:
        """No request may start within ``seconds`` from now (a Retry-After or a backoff).

        This replaces the spacing when it is longer and never shortens a wait already due.
        """
        deadline = self._clock() + max(0.0, seconds)
        if deadline > self._not_before:
            self._not_before = deadline
            self._not_before_reason = reason

    # --- waiting ----------------------------------------------------------------------------------------

    def wait_needed(self) -> tuple[float, str]:
        """Seconds to wait before the next request may start, and why."""
        now = self._clock()
        pacing_at = now if self._last_start is None else self._last_start + self._next_spacing
        if self._not_before > pacing_at:
            return max(0.0, self._not_before - now), self._not_before_reason
        return max(0.0, pacing_at - now), "pacing"

    async def before_request(self, on_wait: WaitCallback = _no_wait_callback) -> None:
        """Wait until the next request may start, then mark it started.

        ``on_wait`` hears about retry-after / backoff waits always, and about pacing waits only when they
        are noticeable (>= :data:`NOTICEABLE_WAIT`).
        """
        seconds, reason = self.wait_needed()
        if seconds > 0:
            if reason != "pacing" or seconds >= NOTICEABLE_WAIT:
                on_wait(seconds, reason)
            await self._sleep(seconds)
        self._last_start = self._clock()
        self._next_spacing = self.delay

    def _get_lock(self) -> asyncio.Lock:
        """One lock per event loop (tests and the CLI may run several loops one after the other)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    @asynccontextmanager
    async def slot(self, on_wait: WaitCallback = _no_wait_callback) -> AsyncIterator[None]:
        """Hold the only request slot: wait for the spacing, run the request, then let the next one in."""
        async with self._get_lock():
            await self.before_request(on_wait)
            yield


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter; ``Retry-After`` honoured up to a cap.

    Two bounds hold for one request: ``max_attempts``, and ``max_total_wait`` seconds of waiting between its
    attempts. A wait that would go past the total ends the retries at once instead of being shortened (a
    ``Retry-After`` is never cut short). Without the total, a 429 storm with ``Retry-After: 300`` kept one
    request waiting 3 x 300 s = 15 minutes.
    """

    max_attempts: int = 4
    base_delay: float = 2.0
    max_delay: float = 60.0
    retry_after_cap: float = 300.0
    jitter: float = 0.25
    #: the most one request waits between its attempts, all waits together (keep >= retry_after_cap, so a
    #: capped Retry-After can always be waited once)
    max_total_wait: float = 300.0
    #: how many times a 200 JSON response that does not parse (cut off) is fetched again
    truncated_json_retries: int = 2

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Delay after failed attempt number ``attempt`` (1-based): base * 2^(attempt-1), capped, jittered."""
        raw = min(self.max_delay, self.base_delay * (2.0 ** max(0, attempt - 1)))
        factor = 1.0 + self.jitter * (2.0 * rand() - 1.0)
        return max(0.0, min(self.max_delay, raw * factor))

    def within_budget(self, waited: float, delay: float) -> bool:
        """Whether a request that already waited ``waited`` seconds may wait ``delay`` more and retry."""
        return waited + delay <= self.max_total_wait

    def retry_after_delay(self, header: str | None, now: datetime | None = None) -> float | None:
        """The server's ``Retry-After`` in seconds, capped; ``None`` when absent or unreadable."""
        seconds = parse_retry_after(header, now)
        return None if seconds is None else min(seconds, self.retry_after_cap)


_SECONDS_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def parse_retry_after(header: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in both forms: delta seconds (``"120"``) or an HTTP-date. Past dates give 0."""
    if header is None:
        return None
    text = header.strip()
    if not text:
        return None
    if _SECONDS_RE.fullmatch(text):  # ASCII digits only: "²" is a digit to str.isdigit, not to float()
        delta = float(text)
        return delta if math.isfinite(delta) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    seconds: float = (when - current).total_seconds()
    return max(0.0, seconds)
