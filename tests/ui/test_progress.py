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
        "done: 45 new, 1 edited",
    ]
    assert t.rows["ann"].fraction() == 1.0
    t.apply(PersonalityStarted(slug="bob", index=1, count=2))
    t.apply(Reconciling(slug="bob", reason="server total disagrees"))
    assert t.rows["bob"].text == "reconciling (server total disagrees)"
    t.apply(PersonalityFailed(slug="bob", error="Blocked by a bot wall", kind="BotWallError", hint="wait"))
    assert t.rows["bob"].state == "failed" and t.rows["bob"].text == "failed: Blocked by a bot wall"
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
    assert {r.state for r in t.rows.values()} == {"cancelled"}
    assert "resumes" in t.summary()


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
    assert [t.rows[s].state for s in "abc"] == ["failed", "stopped", "stopped"]
    assert t.rows["b"].text == "not started: the run stopped"
    assert t.summary() == "Stopped: 0 backed up, 1 failed, 2 not started"
