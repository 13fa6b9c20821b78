"""The progress state machine, fed the engine's events in the order a real run sends them."""

from __future__ import annotations

from tzbackup_gui.events import (
    MemoryPageFetched,
    PersonalityFailed,
    PersonalityFinished,
    PersonalityStarted,
    PhaseChanged,
    Reconciling,
    RequestMade,
    Retrying,
    RunFinished,
    RunStarted,
    Waiting,
)
from tzbackup_gui.ui.progress import RunTracker, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_whole_sequence_of_row_states() -> None:
    clock = Clock()
    t = RunTracker(prior={"ann": (0, 45), "bob": (10, 10)}, clock=clock)
    assert t.start(["ann", "bob"], delay=1.0) == {"ann", "bob"}
    assert [r.text for r in t.rows.values()] == ["queued", "queued"]
    t.apply(RunStarted(slugs=("ann", "bob"), delay=1.0))
    seen = []
    for event in (
        PersonalityStarted(slug="ann", index=0, count=2),
        PhaseChanged(slug="ann", phase="profile"),
        PhaseChanged(slug="ann", phase="memories"),
        MemoryPageFetched(slug="ann", page=1, memories_done=20, new_so_far=20, expected=45),
        Waiting(slug="ann", seconds=2.2, reason="retry-after"),
        Retrying(slug="ann", attempt=2, max_attempts=5, reason="HTTP 429"),
        RequestMade(slug="ann", path="/api/memory/x", status=200),
        MemoryPageFetched(slug="ann", page=2, memories_done=40, new_so_far=40, expected=45),
        PhaseChanged(slug="ann", phase="reconcile"),
        PersonalityFinished(slug="ann", new=45, edited=1, total=45, server_total=45),
    ):
        assert t.apply(event) == {"ann"}
        seen.append(t.rows["ann"].text)
    assert seen == [
        "starting",
        "fetching profile",
        "syncing memories",
        "syncing memories 20 of 45",
        "waiting 3 s for the rate limit",
        "retrying (2 of 5) after HTTP 429",
        "syncing memories 20 of 45",
        "syncing memories 40 of 45",
        "reconciling",
        "backed up: 45 new, 1 edited",
    ]
    assert t.rows["ann"].fraction() == 1.0
    t.apply(PersonalityStarted(slug="bob", index=1, count=2))
    t.apply(Reconciling(slug="bob", reason="server total disagrees"))
    assert t.rows["bob"].text == "reconciling (server total disagrees)"
    t.apply(PersonalityFailed(slug="bob", error="Blocked by a bot wall", kind="BotWallError", hint="wait"))
    assert t.rows["bob"].state == "failed"
    assert t.rows["bob"].text == "blocked by a bot wall — resumes next time"
    assert t.rows["bob"].detail == "Blocked by a bot wall (BotWallError)"  # the row's tooltip
    t.apply(RunFinished(done=1, failed=1))
    assert not t.running
    assert t.summary() == "Finished: 1 backed up, 1 failed"


def test_pacing_waits_do_not_flicker_and_indeterminate_without_total() -> None:
    t = RunTracker()
    t.start(["a"], delay=0.5)
    t.apply(PersonalityStarted(slug="a"))
    assert t.apply(Waiting(slug="a", seconds=0.5, reason="pacing")) == set()
    t.apply(MemoryPageFetched(slug="a", page=1, memories_done=20, expected=None))
    assert t.rows["a"].text == "syncing memories (20 so far)"
    assert t.rows["a"].fraction() is None


def test_cancel_settles_rows_in_flight() -> None:
    t = RunTracker()
    t.start(["a", "b"], delay=0)
    t.apply(PersonalityStarted(slug="a"))
    assert t.stop(cancelled=True) == {"a", "b"}
    assert [t.rows[s].state for s in "ab"] == ["cancelled", "not_started"]
    assert [t.rows[s].text for s in "ab"] == ["cancelled — resumes next time", "not started"]
    assert t.summary() == "Cancelled — 0 backed up, 1 not finished, 1 not started; the next backup resumes"
    assert t.bar_text() == "Cancelled"


def test_eta_counts_pacing_and_pages() -> None:
    clock = Clock()
    t = RunTracker(prior={"big": (0, 2000)}, clock=clock)
    t.start(["big"], delay=1.0)
    # 2000 memories = 100 pages + 1 + 6 fixed requests, at >= 1 s each (pacing is the floor)
    eta = t.eta_seconds()
    assert eta is not None and 100 <= eta <= 110
    for _ in range(10):
        clock.now += 2.0  # slower than pacing: measured rate takes over
        t.apply(RequestMade(slug="big", status=200))
    eta2 = t.eta_seconds()
    assert eta2 is not None and eta2 > 180
    assert 0 < t.fraction() < 0.2


def test_format_duration() -> None:
    assert format_duration(42) == "42 s"
    assert format_duration(185) == "3 min 5 s"
    assert format_duration(3 * 3600 + 720) == "3 h 12 min"


def test_live_memory_counts_add_new_ones_to_what_was_stored() -> None:
    t = RunTracker(prior={"inc": (2590, 2595), "first": (0, None)})
    t.start(["inc", "first"], delay=0)
    t.apply(PersonalityStarted(slug="inc"))
    assert t.rows["inc"].stored is None  # nothing known yet: the table keeps the archive's numbers
    t.apply(MemoryPageFetched(slug="inc", page=1, memories_done=20, new_so_far=7, expected=2600))
    assert (t.rows["inc"].stored, t.rows["inc"].expected) == (2597, 2600)
    t.apply(PersonalityFinished(slug="inc", new=10, total=2600, server_total=2600))
    assert t.rows["inc"].stored == 2600
    t.apply(PersonalityStarted(slug="first"))
    t.apply(MemoryPageFetched(slug="first", page=57, memories_done=1140, new_so_far=1140, expected=None))
    assert (t.rows["first"].stored, t.rows["first"].expected) == (1140, None)


def test_a_stopped_run_says_which_rows_were_not_started() -> None:
    t = RunTracker()
    t.start(["a", "b", "c"], delay=0)
    t.apply(RunStarted(slugs=("a", "b", "c")))
    t.apply(PersonalityStarted(slug="a", index=0, count=3))
    t.apply(PersonalityFailed(slug="a", error="rate limited", kind="RateLimitedError"))
    assert t.apply(RunFinished(done=0, failed=1)) == {"b", "c"}
    assert [t.rows[s].state for s in "abc"] == ["failed", "not_started", "not_started"]
    assert t.rows["b"].text == "not started"
    t.stop_kind = "RateLimitedError"  # the window sets it from the engine's report
    assert t.summary() == "Stopped: rate-limited by shapes.inc — 0 backed up, 1 not finished, 2 not started"
    assert t.bar_text() == "Stopped: rate-limited by shapes.inc"


def test_kept_work_is_said_as_kept_and_a_resumed_walk_starts_from_it() -> None:
    t = RunTracker(prior={"big": (0, None), "small": (5, 5)})
    t.start(["big", "small"], delay=0)
    t.apply(PersonalityStarted(slug="big"))
    for _ in range(56):  # the profile and 55 pages
        t.apply(RequestMade(slug="big", status=200))
    t.apply(MemoryPageFetched(slug="big", page=55, memories_done=1100, new_so_far=1100, expected=2600))
    t.apply(PersonalityFailed(slug="big", error="Cancelled", kind="cancelled"))
    t.apply(RunFinished(cancelled=True))
    assert t.rows["big"].text == "1,100 of 2,600 fetched — resumes next time"
    assert t.rows["small"].text == "not started"
    assert 0 < t.fraction() < 0.5  # the unfinished work still counts as work to do: never 100 %
    # the next run (same window: the service said 2,600): the walk resumes from the 1,100 it kept
    resumed = RunTracker(prior={"big": (1100, 2600)}, resume={"big": 1100}, first={"big"})
    resumed.start(["big"], delay=1.0)
    assert resumed.fraction() > 0.35  # from what it has, before any request
    eta = resumed.eta_seconds()
    fresh = RunTracker(prior={"big": (0, 2600)})
    fresh.start(["big"], delay=1.0)
    assert eta is not None and eta < (fresh.eta_seconds() or 0) * 0.7
    resumed.apply(PersonalityStarted(slug="big"))
    assert resumed.rows["big"].text == "resuming: syncing memories 1,100 of 2,600"
    resumed.apply(PhaseChanged(slug="big", phase="memories", detail="resuming an interrupted walk"))
    resumed.apply(MemoryPageFetched(slug="big", page=56, memories_done=1120, new_so_far=20, expected=2600,
                                    reconciling=True))
    assert resumed.rows["big"].text == "resuming: syncing memories 1,120 of 2,600"
    assert resumed.rows["big"].fraction() == 1120 / 2600
    assert resumed.fraction() > 0.35


def test_a_resumed_walk_without_a_known_total_gets_its_credit_when_the_service_says_one() -> None:
    # after a restart the archive may hold no total, or an older backup's smaller one: no guess, no overshoot
    for stale in (None, 300):
        t = RunTracker(prior={"big": (1100, stale)}, resume={"big": 1100})
        t.start(["big"], delay=1.0)
        assert t.fraction() == 0.0
        t.apply(PersonalityStarted(slug="big"))
        assert t.rows["big"].text == "resuming: syncing memories (1,100 so far)"
        t.apply(RequestMade(slug="big", status=200))
        t.apply(MemoryPageFetched(slug="big", page=56, memories_done=1120, new_so_far=20, expected=2600,
                                  reconciling=True))
        assert 0.35 < t.fraction() < 0.5


def test_the_eta_never_promises_less_than_a_scheduled_retry() -> None:
    clock = Clock()
    t = RunTracker(prior={"a": (0, 20)}, clock=clock)
    t.start(["a"], delay=0.1)
    t.apply(PersonalityStarted(slug="a"))
    for _ in range(3):
        t.apply(RequestMade(slug="a", status=200))
    t.apply(Retrying(slug="a", attempt=2, max_attempts=4, reason="connection problem (ConnectError)"))
    assert t.rows["a"].text == "retrying (2 of 4) after connection problem"  # the class: in the tooltip
    assert t.rows["a"].detail == "attempt 2 of 4 after connection problem (ConnectError)"
    t.apply(Waiting(slug="a", seconds=8.0, reason="backoff"))
    eta = t.eta_seconds()
    assert eta is not None and eta >= 8.0
    assert t.summary().startswith("Backing up 1 of 1, retrying in 8 s, about ")
    clock.now += 5.0
    eta = t.eta_seconds()
    assert eta is not None and eta >= 3.0
    clock.now += 4.0  # the wait is over: back to the requests' estimate
    assert "retrying" not in t.summary()


def test_a_run_stopped_by_the_network_says_offline_in_short_sentences() -> None:
    t = RunTracker(prior={"ann": (0, None), "lil": (0, None), "zed": (0, None)})
    t.start(["ann", "lil", "zed"], delay=0)
    t.apply(PersonalityStarted(slug="ann"))
    t.apply(PersonalityFinished(slug="ann", new=30, total=30, server_total=30))
    t.apply(PersonalityStarted(slug="lil"))
    t.apply(MemoryPageFetched(slug="lil", page=28, memories_done=560, new_so_far=560, expected=2600))
    error = "Could not reach the service for /api/memory/abc: connection problem (ConnectError) (4 attempts)."
    t.apply(PersonalityFailed(slug="lil", error=error, kind="NetworkError", hint="Check your connection."))
    t.apply(RunFinished(done=1, failed=1))
    t.stop_kind = "NetworkError"
    assert [t.rows[s].text for s in ("ann", "lil", "zed")] == [
        "backed up: 30 new", "offline: 560 of 2,600 fetched — resumes next time", "not started",
    ]
    assert "/api/" not in t.summary() and "/api/" in t.rows["lil"].detail
    assert t.summary() == "Stopped: you are offline — 1 backed up, 1 not finished, 1 not started"
    assert t.bar_text() == "Stopped: you are offline"
    assert t.fraction() < 0.9  # not 100 %: two personalities are not done
