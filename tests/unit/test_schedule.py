"""Schedule logic with a fake clock: next run, catch-up after sleep (once), pause after failures, JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tzbackup_gui.schedule import Schedule, ScheduleState, format_when, status_text

BERLIN = ZoneInfo("Europe/Berlin")


class FakeClock:
    """A wall clock the test moves by hand (sleep = a jump forward)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_off_never_runs() -> None:
    state = ScheduleState()
    assert Schedule().next_run(None, utc(2025, 1, 1)) is None
    assert not state.due(Schedule(), utc(2025, 1, 1))
    assert status_text(Schedule(), state, utc(2025, 1, 1)) == "Scheduled backups are off."


def test_interval_due_now_when_never_run_then_every_n_hours() -> None:
    schedule = Schedule("interval", hours=6)
    clock = FakeClock(utc(2025, 3, 1, 10))
    state = ScheduleState()
    assert state.due(schedule, clock())
    state.started(clock())
    state.record(True, "", clock())
    assert not state.due(schedule, clock())
    assert state.next_run(schedule, clock()) == utc(2025, 3, 1, 16)
    clock.advance(hours=5, minutes=59)
    assert not state.due(schedule, clock())
    clock.advance(minutes=1)
    assert state.due(schedule, clock())


def test_daily_runs_at_local_time_first_slot_at_or_after_now() -> None:
    schedule = Schedule("daily", at="03:00")
    state = ScheduleState()
    now = berlin(2025, 1, 10, 10, 0)  # after today's 03:00: the first run is tomorrow
    assert state.next_run(schedule, now, BERLIN) == berlin(2025, 1, 11, 3, 0)
    assert state.next_run(schedule, berlin(2025, 1, 10, 3, 0), BERLIN) == berlin(2025, 1, 10, 3, 0)
    assert state.next_run(schedule, berlin(2025, 1, 10, 2, 59), BERLIN) == berlin(2025, 1, 10, 3, 0)


def test_catch_up_after_sleep_runs_once_not_once_per_missed_slot() -> None:
    for schedule in (Schedule("daily", at="03:00"), Schedule("interval", hours=2)):
        clock = FakeClock(berlin(2025, 1, 10, 3, 0))
        state = ScheduleState()
        state.started(clock())
        state.record(True, "", clock())
        clock.advance(days=3, hours=5)  # the laptop slept through several slots
        runs = 0
        for _ in range(20):  # the scheduler's 30-second ticks after wake
            if state.due(schedule, clock(), BERLIN):
                runs += 1
                state.started(clock())
                state.record(True, "", clock())
            clock.advance(seconds=30)
        assert runs == 1, schedule
        nxt = state.next_run(schedule, clock(), BERLIN)
        assert nxt is not None and nxt > clock()


def test_daily_after_a_catch_up_goes_back_to_the_chosen_time() -> None:
    schedule = Schedule("daily", at="03:00")
    state = ScheduleState(last_run=berlin(2025, 1, 10, 3, 0))
    wake = berlin(2025, 1, 12, 9, 15)
    assert state.due(schedule, wake, BERLIN)
    state.started(wake)
    assert state.next_run(schedule, wake, BERLIN) == berlin(2025, 1, 13, 3, 0)


def test_daily_across_daylight_saving_changes() -> None:
    schedule = Schedule("daily", at="02:30")  # 2025-03-30 02:30 does not exist in Berlin
    spring = schedule.next_run(berlin(2025, 3, 29, 2, 30), berlin(2025, 3, 29, 12), BERLIN)
    assert spring is not None
    assert spring.astimezone(BERLIN).date() == berlin(2025, 3, 30).date()
    assert spring - berlin(2025, 3, 29, 2, 30) == timedelta(hours=24)  # "02:30" → 03:30 CEST
    noon = Schedule("daily", at="12:00")
    autumn = noon.next_run(berlin(2025, 10, 25, 12), berlin(2025, 10, 25, 13), BERLIN)
    assert autumn == berlin(2025, 10, 26, 12)  # a 25-hour day: still noon local time
    assert autumn is not None and autumn - berlin(2025, 10, 25, 12) == timedelta(hours=25)


def test_pause_after_three_failures_with_the_reason_and_resume() -> None:
    schedule = Schedule("interval", hours=1)
    clock = FakeClock(utc(2025, 5, 1, 8))
    state = ScheduleState()
    for i in range(3):
        assert state.due(schedule, clock()), i
        state.started(clock())
        assert not state.due(schedule, clock())  # a failure is retried at the next slot, not at once
        state.record(False, f"network down #{i + 1}", clock())
        clock.advance(hours=1)
    assert state.paused and state.paused_reason == "network down #3"
    assert not state.due(schedule, clock())
    assert state.next_run(schedule, clock()) is None
    assert status_text(schedule, state, clock()) == (
        "Scheduled backups paused after 3 failures: network down #3"
    )
    state.resume()
    assert not state.paused and state.consecutive_failures == 0
    assert state.due(schedule, clock())


def test_a_success_resets_the_failure_streak() -> None:
    state = ScheduleState(max_failures=2)
    now = utc(2025, 5, 1)
    state.record(False, "x", now)
    state.record(True, "", now)
    state.record(False, "y", now)
    assert not state.paused and state.consecutive_failures == 1
    state.record(False, "z", now)
    assert state.paused and state.paused_reason == "z"
    assert [h["result"] for h in state.history] == ["failed", "ok", "failed", "failed"]


def test_json_round_trip_and_broken_input() -> None:
    schedule = Schedule("daily", at="21:45")
    assert Schedule.from_json(schedule.to_json()) == schedule
    state = ScheduleState()
    state.started(utc(2025, 6, 1, 3))
    state.record(False, "bot wall", utc(2025, 6, 1, 3, 5))
    again = ScheduleState.from_json(state.to_json())
    assert again == state
    assert Schedule.from_json("{not json") == Schedule()
    assert Schedule.from_json('{"kind": "daily", "at": "25:99"}') == Schedule()
    assert Schedule.from_json('{"kind": "weekly"}') == Schedule()
    assert ScheduleState.from_json('{"last_run": "yesterday"}') == ScheduleState()
    assert ScheduleState.from_json(None) == ScheduleState()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "interval", "hours": 0}, "1 <= N"),
    ({"kind": "daily", "at": "3pm"}, "HH:MM"),
    ({"kind": "daily", "at": "24:00"}, "hour"),
])
def test_invalid_schedules_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule(**kwargs)  # type: ignore[arg-type]


def test_status_and_when_texts() -> None:
    now = berlin(2025, 1, 10, 10, 0)
    schedule = Schedule("daily", at="03:00")
    state = ScheduleState(last_run=berlin(2025, 1, 10, 3, 0))
    assert status_text(schedule, state, now, BERLIN) == "Next backup: tomorrow 03:00 (daily at 03:00)"
    assert format_when(berlin(2025, 1, 10, 18, 5), now, BERLIN) == "today 18:05"
    assert format_when(berlin(2025, 1, 13, 3, 0), now, BERLIN) == "Mon 13 Jan 03:00"
    assert format_when(now, now, BERLIN) == "now"
    assert Schedule("interval", hours=1).describe() == "every hour"
