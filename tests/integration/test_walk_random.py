"""Issue 13, the memory walk under attack: seeded random inserts, deletions and cancels while it walks.

The issue's prototype was validated "exact in 200 of 200 runs with random inserts and deletions, and with
kills on top". This is that validation for the real engine, over loopback, against the real sandbox.

**The randomized test.** Each scenario (one seed, one response shape) builds a personality of 150-700
memories and makes three disturbed runs: a first backup, an incremental run, a ``full=True`` run. A hook at
the start of every memory-page request (before it is answered) inserts memories (1-5 at a time) and deletes
memories: newest ones the walk has already read, random old ones, bursts of up to 150 at once, streams of
single deletions at consecutive requests, bursts of new memories. Some runs are cancelled (deterministic:
while a memory-page request is in flight, the hook cancels the task and answers only once it is gone; or the
moment a page has arrived, before the walk saved its state) and then run again, the list sometimes changing
in between. Then an undisturbed incremental run and an undisturbed full run. After every run:

(a) a run that exits 0 with a certified full walk stores every memory that was live when its walk began
    and was not deleted since (for a resumed run: when the interrupted run began); an undisturbed
    incremental run stores every live memory newer than the newest one stored before it;
(b) no memory live upstream is recorded in ``deletedUpstream``;
(c) no id is stored twice and ``verify_backup`` is happy;
(d) nothing ever stored is lost (the stored ids only grow, cancelled and failed runs included);
(e) after the final undisturbed full walk: stored ⊇ live, ``deletedUpstream`` == stored - live;
    and every undisturbed full walk stays within the issue's ceiling (P + 1 with a total,
    P + 2·⌈log2 P⌉ + 3 without; see test_a_list_of_20_times_a_power_of_two_... for the one exception).

Memories added while a full walk runs are not part of (a) (the issue promises what was live when the walk
began); those the top-up should have picked up but did not are logged as notes.

Exit 1 is allowed only for a :class:`MemoryWalkError` "kept changing" in a disturbed run; how often that
happens is recorded (``TZBACKUP_WALK_FUZZ_LOG``). A run that gave up is followed by an undisturbed run that
must succeed.

Environment: ``TZBACKUP_WALK_FUZZ=N`` runs N scenarios per shape (default 6); ``TZBACKUP_WALK_FUZZ_LOG=path``
appends one JSON line per scenario (requests per run, give-ups, ratios); ``TZBACKUP_WALK_FUZZ_FAULTS=1`` also
arms a transient empty page or 404 on a random memory request in some runs (off by default: an honest
``exit 1`` is then possible, and a first backup without pagination that meets an empty page 1 stores
nothing). Reproduce one scenario with
``-k "has_next-17"``: a failure message carries the request log of the run that broke an invariant (request
number, page, a guess of its role, the list length it was answered from, what the hook did before answering).

**The deterministic tests** below the randomized one pin what the fuzzing found: fixed bugs as regression
tests, open ones as ``xfail(strict)``; then schedules that were found harmless, as guards.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive import verify_backup
from tzbackup_gui.backup import RunReport
from tzbackup_gui.events import BackupEvent, MemoryPageFetched
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.sandbox.state import RequestRecord

from .engine_support import Runner, sandbox, stored_ids, upstream_ids

__all__ = ["sandbox"]

SLUG = "walk-random"
MEMORY = "/api/memory/"
SECTIONS = frozenset({"profile", "memories"})
FUZZ = int(os.environ.get("TZBACKUP_WALK_FUZZ", "6"))
FUZZ_LOG = os.environ.get("TZBACKUP_WALK_FUZZ_LOG", "")
FUZZ_FAULTS = os.environ.get("TZBACKUP_WALK_FUZZ_FAULTS", "") not in ("", "0")
#: the list never shrinks below this by a hook's deletion (bursts included)
FLOOR = 10

#: the response shapes of the brief: the sandbox variant, and whether the service reports an item total
SHAPES: dict[str, tuple[dict[str, Any], bool]] = {
    "has_next": ({"pagination": "has_next", "include_total": False}, False),
    "has_next+total": ({"pagination": "has_next", "include_total": True}, True),
    "total_pages": ({"pagination": "total_pages", "include_total": False}, False),
    "total_pages+total": ({"pagination": "total_pages", "include_total": True}, True),
    "none": ({"pagination": "none", "include_total": False}, False),
}
ANCHORED = [name for name, (_, has_total) in SHAPES.items() if not has_total]

#: (shape, seed) -> reason: randomized scenarios that find a real bug, kept as strict xfails (they matter
#: with TZBACKUP_WALK_FUZZ above 6; found on 723e5fe, 500 scenarios: these 8 failed, all of one kind)
_PENDING = "issue 13 walk: memories added after a probe count as moves before it (723e5fe) and hide skips"
KNOWN_BAD: dict[tuple[str, int], str] = {
    # (the seeds that found _PENDING pass again since the probe's moves count from the probe itself)
}


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """This file checks what the walk decides, not what survives a power cut (test_engine_sigkill does):
    fsync is a no-op here, a quarter of the run time."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def _budget(pages: int, has_total: bool) -> int:
    """The issue's ceiling for an undisturbed full walk of ``pages`` pages."""
    if has_total:
        return pages + 1
    return pages + 2 * math.ceil(math.log2(max(pages, 2))) + 3


# --- the adversary ---------------------------------------------------------------------------------------


@dataclass
class Profile:
    """How one run is disturbed."""

    rate: float = 0.0  # chance of an event at a memory-page request
    bursts: int = 0  # bursts (20-150 deletions or 20-45 new memories at once) still allowed in this run
    streams: int = 0  # streams of single deletions (one per request) still allowed in this run
    fault: str = ""  # "empty_page" / "not_found": armed once, at a random memory request (opt-in)

    @property
    def quiet(self) -> bool:
        return self.rate == 0.0 and not self.fault


@dataclass
class Step:
    n: int  # memory-page request number within the run (1-based)
    page: int
    guess: str  # "walk" / "probe" (a page past the cursor) / "back" (top-up, reread, a new pass)
    did: list[str] = field(default_factory=list)
    length: int = 0  # the list's length after what the hook did (what this request was answered from)
    record: RequestRecord | None = None

    def line(self) -> str:
        status = self.record.status if self.record is not None else 0
        fault = f" {self.record.fault}" if self.record is not None and self.record.fault else ""
        did = "; ".join(self.did)
        return (
            f"#{self.n:<3} page {self.page:<3} {self.guess:<5} len {self.length:<4} [{status}{fault}] {did}"
        )


Script = Callable[["Adversary", Step], None]
#: (k, "flight"): cancel while memory-page request k is in flight; (k, "arrived"): the moment the k-th page
#: arrived (journaled, the walk's state not saved yet); (0, "topup"): the moment the top-up's page 1 arrived
Cancel = tuple[int, str]


class Adversary:
    """A hook on memory-page requests that inserts and deletes memories: seeded at random (a Profile), or
    by a script (the deterministic tests)."""

    def __init__(self, sb: SandboxServer) -> None:
        self.sb = sb
        self.rng = random.Random(0)
        self.profile = Profile()
        self.script: Script | None = None
        self.steps: list[Step] = []
        self.deleted: set[str] = set()  # deleted during the current run
        self.inserted: list[tuple[int, str]] = []  # (request number, id) inserted during the current run
        self.cursor = 0  # the last page read in order, as far as the hook can tell
        self.top_page = 0  # the furthest page requested in this run: the newest (top_page * 20) were read
        self.stream_left = 0
        self.stream_kind = ""
        self.fault_at: int | None = None
        #: cancel the run at this memory-page request (while it is in flight: deterministic)
        self.cancel_at: int | None = None
        self.cancel: Callable[[], None] = lambda: None
        self.finished = threading.Event()
        sb.state.hooks.append(self._hook)

    def begin(self, profile: Profile, rng: random.Random, script: Script | None = None) -> None:
        self.profile = profile
        self.rng = rng
        self.script = script
        self.steps = []
        self.deleted = set()
        self.inserted = []
        self.cursor = 0
        self.top_page = 0
        self.stream_left = 0
        self.fault_at = rng.randint(1, 40) if profile.fault else None

    @property
    def newest_first(self) -> list[str]:
        return upstream_ids(self.sb, SLUG)[::-1]

    # the hook runs in the sandbox's thread, before the request is answered
    def _hook(self, record: RequestRecord) -> None:
        if not record.path.startswith(MEMORY):
            return
        page = int(record.query.get("page", "1"))
        if page in (self.cursor, self.cursor + 1):
            guess = "walk"
        elif page > self.cursor + 1:
            guess = "probe"
        else:
            guess = "back"
        if guess != "probe":
            self.cursor = page
        step = Step(len(self.steps) + 1, page, guess, record=record)
        self.steps.append(step)
        if self.script is not None:
            self.script(self, step)
        self._random(step)
        if step.n == self.fault_at:
            self.sb.state.set_fault(self.profile.fault, count=1, path_contains=MEMORY)  # answers this one
            step.did.append(self.profile.fault)
        self.top_page = max(self.top_page, page)
        step.length = len(self.sb.state.personalities[SLUG].memories)
        if step.n == self.cancel_at:
            step.did.append("cancel (in flight)")
            self.cancel()
            self.finished.wait(10)  # answer only once the run is gone

    def _random(self, step: Step) -> None:
        rng, prof = self.rng, self.profile
        if prof.rate == 0.0:
            return
        if self.stream_left > 0:
            self.stream_left -= 1
            self.act(step, self.stream_kind, 1)
        if rng.random() >= prof.rate:
            return
        roll = rng.random()
        if roll < 0.35:
            self.act(step, "insert", rng.randint(1, 5))
        elif roll < 0.60:
            self.act(step, rng.choice(["delete_read", "delete_skip"]), rng.randint(1, 3))
        elif roll < 0.78:
            self.act(step, "delete_any", rng.randint(1, 3))
        elif roll < 0.88:
            self.act(step, "insert", rng.randint(1, 5))
            self.act(step, rng.choice(["delete_read", "delete_any"]), 1)
        elif roll < 0.94 and prof.bursts:
            prof.bursts -= 1
            kind = rng.choice(["burst_read", "burst_any", "insert"])
            self.act(step, kind, rng.randint(20, 45) if kind == "insert" else rng.randint(20, 150))
        elif prof.streams and not self.stream_left:
            prof.streams -= 1
            self.stream_left = rng.randint(10, 60)
            self.stream_kind = rng.choice(["delete_newest", "delete_read", "delete_skip", "delete_any"])
            step.did.append(f"stream of {self.stream_left} {self.stream_kind}")

    def act(self, step: Step, action: str, arg: Any) -> None:
        """insert N | delete_newest / delete_read / delete_skip / delete_any / burst_read / burst_any N |
        delete_at position (newest first) | delete_ids [ids]."""
        state = self.sb.state
        live = upstream_ids(self.sb, SLUG)  # oldest first
        spare = max(0, len(live) - FLOOR)
        newest_first = live[::-1]
        if action == "insert":
            new = state.add_memories(SLUG, int(arg))
            self.inserted.extend((step.n, mid) for mid in new)
            step.did.append(f"+{len(new)}")
            return
        if action == "delete_ids":
            alive = set(live)
            victims = [mid for mid in arg if mid in alive]
        elif action == "delete_at":
            victims = [newest_first[arg]] if 0 <= arg < len(newest_first) and spare else []
        else:
            k = min(int(arg), spare)
            read = newest_first[: max(1, self.top_page) * 20]
            if action == "delete_newest":
                victims = newest_first[:k]
            elif action == "delete_skip":
                # the last memories above the next boundary the walk crosses in order (of the page before
                # the one read now, or of the last page read before a probe): read already, and their removal
                # pulls the first memories below that boundary up across it (a skip unless detected)
                above = step.page - 1 if step.guess == "walk" else self.cursor
                end = min(len(newest_first), max(1, above) * 20)
                victims = newest_first[max(0, end - k) : end]
            elif action in ("delete_read", "burst_read"):
                pool = read if len(read) >= k else newest_first
                if action == "burst_read" and self.rng.random() < 0.5:
                    at = self.rng.randint(0, max(0, len(pool) - k))
                    victims = pool[at : at + k]  # a contiguous block
                else:
                    victims = self.rng.sample(pool, min(k, len(pool)))
            elif action in ("delete_any", "burst_any"):
                victims = self.rng.sample(newest_first, min(k, len(newest_first)))
            else:
                raise AssertionError(action)
        where = [newest_first.index(mid) for mid in victims[:6]]  # positions, newest first (0 = newest)
        for mid in victims:
            state.delete_memory(SLUG, mid)
            self.deleted.add(mid)
        if victims:
            more = f" +{len(victims) - 6} more" if len(victims) > 6 else ""
            step.did.append(
                f"-{len(victims)} {action} at pos {where}{more} ids {[v[-8:] for v in victims[:3]]}"
            )

    def transcript(self, limit: int = 160) -> str:
        lines = [s.line() for s in self.steps]
        if len(lines) > limit:
            lines = [*lines[: limit // 2], f"... {len(lines) - limit} more ...", *lines[-limit // 2 :]]
        return "\n".join(lines)


# --- running ---------------------------------------------------------------------------------------------


def _run(runner: Runner, adversary: Adversary, cancel: Cancel | None, **options: Any) -> RunReport | None:
    """One run, cancelled as ``cancel`` says (see :data:`Cancel`; "arrived" and "topup" cancel from the
    progress event, inside the task, before the walk saved its state). None when cancelled, else the report
    (the run may end before the cancel point)."""
    runner.sb.state.clear_log()

    async def go() -> RunReport | None:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(runner.arun([SLUG], sections=SECTIONS, **options))
        adversary.finished.clear()
        task.add_done_callback(lambda _: adversary.finished.set())

        def cancel_soon() -> None:  # from the sandbox's thread
            loop.call_soon_threadsafe(task.cancel)

        adversary.cancel = cancel_soon
        if cancel is not None and cancel[1] == "flight":
            adversary.cancel_at = cancel[0]
        elif cancel is not None:
            pages = [0]

            def arrived(event: BackupEvent) -> bool:
                if isinstance(event, MemoryPageFetched):
                    pages[0] += 1
                    topup = cancel[1] == "topup" and event.page == 1 and adversary.top_page > 2
                    if pages[0] == cancel[0] or topup:
                        adversary.steps[-1].did.append("cancel (arrived)")
                        task.cancel()
                return False

            runner.when(arrived)
        try:
            return await task
        except asyncio.CancelledError:
            return None
        finally:
            adversary.cancel_at = None
            runner._watchers.clear()

    try:
        return asyncio.run(go())
    finally:
        runner.sb.state.clear_faults()


def _stored(runner: Runner) -> list[str]:
    folder = runner.folder(SLUG)
    if not (folder / "memory").is_dir():
        return []
    return stored_ids(folder)  # asserts that no id is stored twice


def _metadata(runner: Runner) -> dict[str, Any]:
    path = runner.folder(SLUG) / ".backup-metadata.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


@dataclass
class Outcome:
    label: str
    report: RunReport | None  # None: cancelled
    requests: int
    pages: int  # pages of the list when the run started
    rate: float = 0.0
    deleted: int = 0
    inserted: int = 0

    @property
    def exit_code(self) -> int | None:
        return None if self.report is None else self.report.exit_code


class Scenario:
    """One personality, one data dir, one adversary; every run checked against (a)-(d)."""

    def __init__(self, sb: SandboxServer, tmp_path: Path, shape: str, seed: int, memories: int = 0) -> None:
        self.sb = sb
        self.shape = shape
        self.has_total = SHAPES[shape][1]
        self.seed = seed
        self.rng = random.Random(f"walk-random:{shape}:{seed}")
        self.memories = memories or self.rng.randint(150, 700)
        sb.state.set_variant(**SHAPES[shape][0])
        sb.state.add_personality(SLUG, "Walk Random", memories=self.memories)
        self.runner = Runner(sb, tmp_path / "data")
        self.adversary = Adversary(sb)
        self.ever_stored: set[str] = set()
        self.outcomes: list[Outcome] = []
        self.gave_up: list[str] = []  # runs that ended in "kept changing"
        self.walk_start: set[str] | None = None  # live when the current (maybe interrupted) walk began
        self.notes: list[str] = []  # soft observations (not failures)

    def fail(self, label: str, what: str) -> None:
        pytest.fail(
            f"[{self.shape} seed {self.seed}, {self.memories} memories] run {label!r}: {what}\n"
            f"request log of that run (n, page, role guess, list length answered, status, what the hook did "
            f"before answering):\n{self.adversary.transcript()}",
            pytrace=False,
        )

    def run(
        self,
        label: str,
        profile: Profile,
        *,
        cancel: Cancel | None = None,
        resumed: bool = False,
        script: Script | None = None,
        ceiling: bool = True,
        **options: Any,
    ) -> Outcome:
        before = set(_stored(self.runner))
        newest_stored = self._newest_stored(before)
        live_start = set(upstream_ids(self.sb, SLUG))
        if not resumed or self.walk_start is None:
            self.walk_start = live_start
        self.adversary.begin(profile, random.Random(f"walk-random:{self.shape}:{self.seed}:{label}"), script)
        report = _run(self.runner, self.adversary, cancel, **options)
        adv = self.adversary
        pages = math.ceil(len(live_start) / 20)
        outcome = Outcome(
            label, report, len(adv.steps), pages, profile.rate, len(adv.deleted), len(adv.inserted)
        )
        self.outcomes.append(outcome)
        quiet = profile.quiet and script is None and cancel is None
        # (a) for a resumed run: what was live when the walk began (in the interrupted run) and still is
        # (a walk that had ended before the cancel is committed as it was: see test_a_resumed_walk_...)
        self.check(label, report, self.walk_start, newest_stored, quiet=quiet)
        if (
            report is not None
            and report.exit_code == 0
            and report.results[0].full_walk
            and quiet
            and not resumed
            and ceiling
        ):
            budget = _budget(pages, self.has_total)
            if self.shape == "none" and len(live_start) % 20 == 0:
                budget += 2  # test_a_list_of_20_times_a_power_of_two_without_pagination_stays_in_budget
            if outcome.requests > budget:
                self.fail(
                    label, f"an undisturbed full walk of {pages} pages cost {outcome.requests} > {budget}"
                )
        return outcome

    def _newest_stored(self, stored: set[str]) -> int | None:
        """Position (oldest first) upstream of the newest live memory stored, or None."""
        live = upstream_ids(self.sb, SLUG)
        for i in range(len(live) - 1, -1, -1):
            if live[i] in stored:
                return i
        return None

    def check(
        self,
        label: str,
        report: RunReport | None,
        live_start: set[str],
        newest_stored: int | None,
        *,
        quiet: bool,
    ) -> None:
        folder = self.runner.folder(SLUG)
        try:
            stored = set(_stored(self.runner))  # (c) no id twice
        except AssertionError as err:
            self.fail(label, f"(c) {err}")
        live_list = upstream_ids(self.sb, SLUG)
        live = set(live_list)
        lost = self.ever_stored - stored
        if lost:
            self.fail(label, f"(d) {len(lost)} memories once stored are gone from disk: {sorted(lost)[:8]}")
        self.ever_stored |= stored
        meta = _metadata(self.runner)
        wrongly = set(meta.get("deletedUpstream") or {}) & live
        if wrongly:
            self.fail(
                label, f"(b) {len(wrongly)} live memories recorded deleted upstream: {sorted(wrongly)[:8]}"
            )
        if stored:
            verdict = verify_backup(folder)
            if not verdict.ok:
                self.fail(label, f"(c) verify_backup: {verdict}")
        if report is None:
            return  # cancelled
        result = report.results[0]
        steps = len(self.adversary.steps)
        if report.exit_code != 0:
            gave_up = report.exit_code == 1 and "kept changing" in result.error
            if gave_up and not quiet:
                self.gave_up.append(f"{label} after {steps} requests")
                return
            what = "an undisturbed run" if quiet else "a run"
            self.fail(
                label,
                f"{what} exited {report.exit_code} after {steps} memory-page requests: {result.error!r}",
            )
        if label.startswith(("first", "full", "quiet full")) and not result.full_walk:
            self.fail(label, "a full walk exited 0 without certifying itself")
        if result.full_walk:
            missing = (live_start & live) - stored  # live since the walk began (deleted ones never return)
            if missing:
                newest_first = live_list[::-1]
                pos = sorted(newest_first.index(m) for m in missing)
                self.fail(
                    label,
                    f"(a) exit 0, certified full walk, but {len(missing)} memories live since the walk began "
                    f"are not stored: positions now (newest first) {pos[:12]}, "
                    f"ids {[m[-8:] for m in missing][:6]}",
                )
            # memories added before the top-up read page 1 (for the last time) that it did not pick up: not an
            # invariant of the issue (it promises what was live when the walk began), recorded as a note
            page_ones = [step.n for step in self.adversary.steps if step.page == 1]
            missed = [
                n
                for n, mid in self.adversary.inserted
                if mid in live and mid not in stored and page_ones and n <= page_ones[-1]
            ]
            if missed:
                self.notes.append(
                    f"{label}: the top-up missed {len(missed)} memories added at requests "
                    f"{sorted(set(missed))} "
                    f"(page 1 read at {page_ones[-3:]}, {len(self.adversary.steps)} requests)"
                )
        elif quiet and newest_stored is not None:
            missing = {m for m in live_list[newest_stored + 1 :] if m not in stored}
            if missing:
                self.fail(label, f"(a) an undisturbed incremental run left {len(missing)} new memories out")

    def finish(self) -> None:
        """(e): an undisturbed incremental run and an undisturbed full run make the backup exact."""
        self.run("quiet incremental", Profile())
        self.run("quiet full", Profile(), full=True)
        stored = set(_stored(self.runner))
        live = set(upstream_ids(self.sb, SLUG))
        if not live <= stored:
            self.fail("quiet full", f"(e) {len(live - stored)} live memories missing")
        recorded = set(_metadata(self.runner).get("deletedUpstream") or {})
        if recorded != stored - live:
            self.fail(
                "quiet full",
                f"(e) deletedUpstream differs from stored - live: {len(recorded - (stored - live))} extra, "
                f"{len((stored - live) - recorded)} not recorded",
            )

    def log(self, status: str) -> None:
        if not FUZZ_LOG:
            return
        line = {
            "shape": self.shape,
            "seed": self.seed,
            "memories": self.memories,
            "status": status,
            "gave_up": self.gave_up,
            "notes": self.notes,
            "runs": [
                [
                    o.label,
                    o.exit_code,
                    o.requests,
                    o.pages,
                    o.rate,
                    o.deleted,
                    o.inserted,
                    None if o.report is None else o.report.results[0].full_walk,
                ]
                for o in self.outcomes
            ],
        }
        with open(FUZZ_LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")


def _profile(rng: random.Random) -> Profile:
    rate = rng.choice([0.0, 0.03, 0.06, 0.1, 0.15, 0.25, 0.4])
    fault = rng.choice(["", "", "empty_page", "not_found"]) if FUZZ_FAULTS else ""
    if rate == 0.0:
        return Profile(fault=fault)
    return Profile(
        rate=rate, bursts=rng.choice([0, 0, 1, 1, 2]), streams=rng.choice([0, 1, 1, 2]), fault=fault
    )


def _cases() -> list[Any]:
    cases = []
    for shape in SHAPES:
        for seed in range(FUZZ):
            reason = KNOWN_BAD.get((shape, seed))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(shape, seed, id=f"{shape}-{seed}", marks=marks))
    return cases


def _between(sandbox: SandboxServer, rng: random.Random, add: int, delete: int) -> None:
    """Changes while no run is under way: ``add`` new memories, ``delete`` random ones."""
    sandbox.state.add_memories(SLUG, add)
    live = upstream_ids(sandbox, SLUG)
    for mid in rng.sample(live, min(delete, max(0, len(live) - FLOOR))):
        sandbox.state.delete_memory(SLUG, mid)


@pytest.mark.parametrize(("shape", "seed"), _cases())
def test_walk_stays_exact_under_random_changes(
    sandbox: SandboxServer, tmp_path: Path, shape: str, seed: int
) -> None:
    sc = Scenario(sandbox, tmp_path, shape, seed)
    rng = sc.rng
    status = "failed"
    try:
        for phase, full in (("first", False), ("incremental", False), ("full", True)):
            if phase != "first":  # between runs: something new to fetch, something gone to notice
                _between(sandbox, rng, rng.randint(0, 45), rng.randint(0, 8))
            profile = _profile(rng)
            for attempt in range(3):
                pages = math.ceil(len(upstream_ids(sandbox, SLUG)) / 20)
                cancel = None
                if attempt < 2 and rng.random() < 0.2:
                    cancel = (rng.randint(1, 2 * pages + 10), rng.choice(["flight", "arrived", "topup"]))
                label = phase + (f" (resume {attempt})" if attempt else "")
                out = sc.run(label, profile, cancel=cancel, resumed=attempt > 0, full=full)
                if out.report is not None:
                    break
                if rng.random() < 0.5:  # the list changes while the walk is stopped, too
                    _between(sandbox, rng, rng.randint(0, 25), rng.choice([0, 1, 3, 40]))
            if sc.gave_up and sc.gave_up[-1].startswith(phase):
                sc.run(f"after giving up in {phase} (quiet)", Profile(), resumed=True)
        sc.finish()
        status = "ok"
    finally:
        sc.log(status)


# --- what the fuzzing found, pinned ------------------------------------------------------------------------
#
# Each of these failed on commit 1023330; the ones without an xfail pass since 723e5fe (the fixes). The
# xfails are open.


def _first_probe_after(n: int) -> Callable[[Step], bool]:
    return lambda step: step.guess == "probe" and step.n > n


@pytest.mark.parametrize("shape", ["has_next", "total_pages+total"])
def test_a_walk_that_gave_up_recovers(sandbox: SandboxServer, tmp_path: Path, shape: str) -> None:
    """A list that really keeps changing (one already-read memory deleted at every request, a skip each
    time) may make the walk give up: exit 1, everything fetched kept. The next undisturbed run must then
    succeed ("Run the backup again later; it resumes"). Found: the exhausted pass budget stayed in the
    journal and every later run, --full included, failed at once without a request, for good."""
    sc = Scenario(sandbox, tmp_path, shape, 0, memories=603)

    def relentless(adv: Adversary, step: Step) -> None:
        if len(adv.newest_first) > 150 and adv.cursor > 1:
            adv.act(step, "delete_skip", 1)

    out = sc.run("relentless", Profile(), script=relentless)
    assert out.exit_code == 1 and sc.gave_up, "the walk should give up under a skip at every request"
    out = sc.run("quiet", Profile(), resumed=True)
    assert out.exit_code == 0 and out.requests > 0
    sc.finish()


@pytest.mark.parametrize(
    ("shape", "fault", "prior"),
    [
        ("has_next", "empty_page", False),
        ("none", "not_found", True),
        ("total_pages", "empty_page", True),
    ],
)
def test_an_empty_probe_answer_does_not_hide_a_deletion(
    sandbox: SandboxServer, tmp_path: Path, shape: str, fault: str, prior: bool
) -> None:
    """The sandbox's empty_page / not_found fault (the issue's "one memory page answers 200 with no items"),
    once, on the walk's first probe after page 1; then, when the walk reads the probed page in order, the last
    memory of the page before it (already read) is deleted: the first memory of the probed page moves up into
    a page already read. Found: the empty probe was believed, the bracket ended there and no anchor watched
    the rest of the list: exit 0 with that memory missing (a first backup), or recorded deleted upstream
    while live (a --full after a backup)."""
    sc = Scenario(sandbox, tmp_path, shape, 0, memories=403)
    if prior:
        sc.run("backup", Profile())
    state: dict[str, int] = {}

    def script(adv: Adversary, step: Step) -> None:
        if "probe" not in state and _first_probe_after(1)(step):
            state["probe"] = step.page
            sandbox.state.set_fault(fault, count=1, path_contains=MEMORY)  # answers this request
            step.did.append(fault)
        elif state.get("probe") == step.page and step.guess == "walk" and "done" not in state:
            state["done"] = 1
            adv.act(step, "delete_at", (step.page - 1) * 20 - 1)

    sc.run("full", Profile(), script=script, full=True)
    assert state.get("done"), "the schedule never fired"
    sc.finish()


@pytest.mark.parametrize("fault", ["empty_page"])
def test_an_empty_first_page_without_pagination_deletes_nothing(
    sandbox: SandboxServer, tmp_path: Path, fault: str
) -> None:
    """Shape without pagination, a --full after a backup of 403: page 1 answers empty (or 404) once. Found:
    the empty answer was believed at once, the walk certified an empty list and recorded all 403 live
    memories deleted upstream."""
    sc = Scenario(sandbox, tmp_path, "none", 0, memories=403)
    sc.run("backup", Profile())

    def script(adv: Adversary, step: Step) -> None:
        if step.n == 1:
            sandbox.state.set_fault(fault, count=1, path_contains=MEMORY)
            step.did.append(fault)

    sc.run("full", Profile(), script=script, full=True)
    sc.finish()


def test_an_empty_first_page_of_a_first_backup_without_pagination(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sc = Scenario(sandbox, tmp_path, "none", 0, memories=203)

    def script(adv: Adversary, step: Step) -> None:
        if step.n == 1:
            sandbox.state.set_fault("empty_page", count=1, path_contains=MEMORY)
            step.did.append("empty_page")

    sc.run("first", Profile(), script=script)  # (a) fails: 203 live memories not stored
    sc.finish()


@pytest.mark.parametrize("shape", ["has_next+total", "total_pages+total"])
def test_a_404_at_the_end_of_a_changing_list_is_not_a_contradiction(
    sandbox: SandboxServer, tmp_path: Path, shape: str
) -> None:
    """562 memories (29 pages, 2 on the last). The last page answers 404 once; before its retry is answered
    the 3 oldest memories are deleted (28 pages: the retry is rightly empty); before page 28 is read again,
    3 memories are added (29 pages again: page 28 says more follow). The total changed at every answer: the
    list moved, the service did not contradict itself; another pass should read it. (Found with
    TZBACKUP_WALK_FUZZ_FAULTS: total_pages+total, seed 35.)"""
    sc = Scenario(sandbox, tmp_path, shape, 0, memories=562)
    seen: list[int] = []

    def script(adv: Adversary, step: Step) -> None:
        if step.page == 29 and step.guess == "walk":
            seen.append(step.n)
            if len(seen) == 1:
                sandbox.state.set_fault("not_found", count=1, path_contains=MEMORY)
                step.did.append("not_found")
            elif len(seen) == 2:
                for _ in range(3):
                    adv.act(step, "delete_at", len(adv.newest_first) - 1)
        elif len(seen) == 2 and step.page == 28 and step.guess == "back":
            adv.act(step, "insert", 3)
            seen.append(step.n)

    sc.run("first", Profile(), script=script)  # exit 0: another pass reads the list
    assert len(seen) >= 3, "the schedule never fired"
    sc.finish()


@pytest.mark.xfail(
    strict=True,
    reason="issue 13 walk, a cost and never data: a probe counts moves from the probe itself (counting from "
    "the next page read hid skips: test_a_memory_added_after_the_last_probe_does_not_hide_a_skip), so a "
    "memory added while a probe is answered fails that pass's check and the list is read again",
)
@pytest.mark.parametrize("shape", ["has_next"])
def test_one_new_memory_during_a_probe_costs_no_extra_pass(
    sandbox: SandboxServer, tmp_path: Path, shape: str
) -> None:
    """1,203 memories (61 pages): one memory added while the third probe is answered. Additions are harmless
    (the next page repeats one); the walk may read one more page, not the list again. Found: the move it
    causes at the next boundary was counted after the probe, the anchor check failed and the whole list was
    read again (96 requests instead of 74)."""
    sc = Scenario(sandbox, tmp_path, shape, 0, memories=1203)
    probes = [0]

    def script(adv: Adversary, step: Step) -> None:
        if step.guess == "probe":
            probes[0] += 1
            if probes[0] == 3:
                adv.act(step, "insert", 1)

    out = sc.run("first", Profile(), script=script)
    assert out.exit_code == 0
    assert out.requests <= _budget(61, False) + 2, out.requests
    sc.finish()


_STILL_GIVES_UP = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="issue 13 walk: a steady trickle of changes that cannot cause a skip (new memories on top, the "
    "oldest dropped to keep the length: a capped list) still fails pass after pass, and the walk gives up",
)


@pytest.mark.parametrize(
    ("shape", "every", "change"),
    [
        pytest.param("has_next", 8, "insert", marks=_STILL_GIVES_UP),
        ("total_pages", 20, "delete oldest"),
        pytest.param("total_pages", 3, "insert", marks=_STILL_GIVES_UP),
        pytest.param("has_next", 10, "insert, delete oldest", marks=_STILL_GIVES_UP),
    ],
)
def test_a_trickle_of_harmless_changes_does_not_make_the_walk_give_up(
    sandbox: SandboxServer, tmp_path: Path, shape: str, every: int, change: str
) -> None:
    """1,203 memories (61 pages, ~74 requests undisturbed): every ``every`` requests a new memory, the oldest
    memory deleted, or both (a list kept at a constant length): none of these can cause a skip. Found: every
    pass failed a check, and the walk gave up (then stayed stuck)."""
    sc = Scenario(sandbox, tmp_path, shape, 0, memories=1203)

    def script(adv: Adversary, step: Step) -> None:
        if step.n % every == 0:
            if "insert" in change:
                adv.act(step, "insert", 1)
            if "delete oldest" in change:
                adv.act(step, "delete_at", len(adv.newest_first) - 1)

    out = sc.run("first", Profile(), script=script)
    assert out.exit_code == 0, sc.gave_up
    sc.finish()


@pytest.mark.parametrize("shape", ["has_next", "none"])
def test_a_memory_added_after_the_last_probe_does_not_hide_a_skip(
    sandbox: SandboxServer, tmp_path: Path, shape: str
) -> None:
    """403 memories (21 pages; the bracket closes with the probe of page 21 at request 25). One memory
    arrives just before page 16, the first page read in order after that probe, is answered; while page 18
    is read, the last memory of page 17 (read already) is deleted: the first memory of page 18 moves up into
    page 17 unread. On 1023330 the pass failed its check and another pass read it; on 723e5fe the walk exits
    0, certified, without it (a --full after a backup would record it deleted upstream)."""
    sc = Scenario(sandbox, tmp_path, shape, 0, memories=403)
    state: dict[str, int] = {}

    def script(adv: Adversary, step: Step) -> None:
        if step.guess == "probe":
            state["probe"] = step.n
        elif "insert" not in state and step.n > 20 and step.n == state.get("probe", -9) + 1:
            state["insert"] = step.n
            adv.act(step, "insert", 1)
        elif step.n == state.get("insert", -9) + 2:
            adv.act(step, "delete_skip", 1)

    sc.run("first", Profile(), script=script)
    assert state.get("insert"), "the schedule never fired"
    sc.finish()


@pytest.mark.parametrize("shape", ["has_next+total"])
def test_a_resumed_walk_that_had_ended_picks_up_new_memories(
    sandbox: SandboxServer, tmp_path: Path, shape: str
) -> None:
    """A first backup is cancelled the moment the top-up's page 1 has arrived (before the commit); 5
    memories are added; the backup is run again and exits 0: those 5 must be in it (a run that exits 0 has
    every memory that was live when it started), or be fetched at the cost of one page."""
    sc = Scenario(sandbox, tmp_path, shape, 0, memories=403)
    out = sc.run("first", Profile(), cancel=(0, "topup"))
    assert out.report is None, "the run should have been cancelled at its top-up"
    sandbox.state.add_memories(SLUG, 5)
    sc.run("first, again", Profile())  # not a resume for the check: everything live now must be stored
    sc.finish()


@pytest.mark.parametrize("shape", ["total_pages+total"])
def test_the_top_up_misses_nothing_added_before_it(
    sandbox: SandboxServer, tmp_path: Path, shape: str
) -> None:
    """25 memories added at request 10 of a first backup of 403; while the top-up reads its page 2, a memory
    it read on page 1 is deleted: one of the 25 moves up into page 1 unread. Not a promise of the issue (it
    promises what was live when the walk began), but the top-up exists to pick up what was added while the
    walk ran; the memory is left for a later run, and once more arrive on top only a full walk finds it."""
    sc = Scenario(sandbox, tmp_path, shape, 0, memories=403)
    top_up: dict[str, int] = {}

    def script(adv: Adversary, step: Step) -> None:
        if step.n == 10:
            adv.act(step, "insert", 25)
        if step.page == 1 and adv.top_page > 2 and "at" not in top_up:
            top_up["at"] = step.n
        if top_up.get("at") and step.n == top_up["at"] + 1:
            adv.act(step, "delete_at", 5)

    sc.run("first", Profile(), script=script)
    assert top_up, "no top-up"
    if sc.notes:
        sc.fail("first", sc.notes[-1])


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="issue 13 walk, shape without pagination: a list of 20·2^k memories (40, 80, ..., 1,280) costs "
    "two requests over the ceiling: the empty page P+1 is probed, probed again, and read again in order",
)
@pytest.mark.parametrize("memories", [80])
def test_a_list_of_20_times_a_power_of_two_without_pagination_stays_in_budget(
    sandbox: SandboxServer, tmp_path: Path, memories: int
) -> None:
    sc = Scenario(sandbox, tmp_path, "none", 0, memories=memories)
    out = sc.run("first", Profile(), ceiling=False)
    assert out.requests <= _budget(memories // 20, False), out.requests


# --- nasty schedules that hold (regression guards) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "shape"),
    [
        ("skip-causing deletion at every probe", "has_next"),
        ("first memory of the probed page deleted at the probe", "total_pages"),
        ("anchor deleted two requests after its probe", "none"),
        ("20 new memories at once, mid-walk", "has_next"),
        ("22 new memories and a skip-causing deletion at once", "total_pages+total"),
        ("a skip-causing deletion at each of 60 requests", "has_next"),
        ("a skip-causing deletion at each of 60 requests", "has_next+total"),
    ],
)
def test_nasty_schedules_stay_exact(
    sandbox: SandboxServer, tmp_path: Path, schedule: str, shape: str
) -> None:
    """Found harmless by a sweep over every request position on 403 memories (first backup and --full after a
    backup); one position each is kept here. Exit 0 and exact (checked after every run), or exit 1."""
    sc = Scenario(sandbox, tmp_path, shape, 0, memories=403)
    anchors: dict[int, str] = {}

    def script(adv: Adversary, step: Step) -> None:
        if step.n >= 30 and not schedule.startswith("a skip-causing deletion at each"):
            return  # the first pass only (about 33 requests undisturbed): a change in every pass may give up
        if schedule.startswith("skip-causing deletion at every probe") and step.guess == "probe":
            adv.act(step, "delete_skip", 1)
        elif schedule.startswith("first memory of the probed") and step.guess == "probe":
            adv.act(step, "delete_at", (step.page - 1) * 20)
        elif schedule.startswith("anchor deleted"):
            if step.guess == "probe" and (step.page - 1) * 20 < len(adv.newest_first):
                anchors[step.n + 2] = adv.newest_first[(step.page - 1) * 20]
            if step.n in anchors:
                adv.act(step, "delete_ids", [anchors.pop(step.n)])
        elif schedule.startswith("20 new") and step.n == 9:
            adv.act(step, "insert", 20)
        elif schedule.startswith("22 new") and step.n == 9:
            adv.act(step, "insert", 22)
            adv.act(step, "delete_at", adv.cursor * 20 - 1 + 22)
        elif schedule.startswith("a skip-causing deletion at each") and 3 <= step.n < 63:
            adv.act(step, "delete_skip", 1)

    sc.run("first", Profile(), script=script)
    anchors.clear()
    sc.run("full", Profile(), script=script, full=True)
    sc.finish()



_STRADDLE = pytest.mark.xfail(
    strict=True,
    raises=pytest.fail.Exception,
    reason="issue 13 walk, shapes without a total, OPEN DATA LOSS: a probe is answered between two pages "
    "read in order, so the move counted at the boundary after it also covers the time before it; a deletion "
    "just before the probe and an insert just after cancel at that boundary, the anchor counts only the "
    "insert, and the insert then hides a later skip (exit 0, certified, a live memory missing)",
)


@pytest.mark.parametrize(
    "shape", [pytest.param("has_next", marks=_STRADDLE), pytest.param("none", marks=_STRADDLE), "total_pages"]
)
def test_a_deletion_then_an_insert_around_a_probe_do_not_hide_a_skip(
    sandbox: SandboxServer, tmp_path: Path, shape: str
) -> None:
    """403 memories. The walk reads page 3, probes page 8 (request 7), reads page 4 (request 8). While page 8
    is probed, a memory of page 1 (read) is deleted; while page 4 is read, one memory arrives: the boundary
    into page 4 shows no move (net zero), but anchor 8 counts the insert and not the deletion. While page 5
    is read, another memory of page 1 is deleted: the first memory of page 5 moves up unread (a skip), and
    anchor 8 finds its memory where the moves say (one in, one out since its probe). Found by this session's
    attack on ce47ff4 (total_pages passes: its first probe is page total_pages, which moves the schedule)."""
    sc = Scenario(sandbox, tmp_path, shape, 0, memories=403)

    def script(adv: Adversary, step: Step) -> None:
        if step.n in (7, 9):
            adv.act(step, "delete_at", 3)
        elif step.n == 8:
            adv.act(step, "insert", 1)

    sc.run("first", Profile(), script=script)
    sc.finish()
