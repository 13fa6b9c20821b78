"""The whole run stops when the service or the network does (issue 13, item 5).

After the client's retries are exhausted on rate limiting, on "cannot connect" / dropped connections, or on a
service that fails (5xx) even for a cheap check, ``--all`` stops: the remaining personalities are not tried,
one plain message says why, exit 4, and everything fetched is kept. Requests are counted, never timed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import httpx

from tzbackup_gui.backup import BackupEngine, RunReport
from tzbackup_gui.events import BackupEvent, MemoryPageFetched, PersonalityFinished, RequestMade
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.service import Pacer, ShapesClient
from tzbackup_gui.service.auth import SessionCredential

from .engine_support import Runner, fast_retry, sandbox, stored_ids, upstream_ids

__all__ = ["sandbox"]

SLUGS = ["stop-a", "stop-b", "stop-c", "stop-d"]
ATTEMPTS = fast_retry().max_attempts  # 4: what one request tries before giving up
PROFILE = "/api/shapes/username/"


def _only(sandbox: SandboxServer, count: int = 4, memories: int = 30) -> list[str]:
    """Leave exactly ``count`` small owned personalities on the account (so ``--all`` is quick)."""
    for slug in list(sandbox.state.personalities):
        sandbox.state.remove_personality(slug)
    for slug in SLUGS[:count]:
        sandbox.state.add_personality(slug, memories=memories)
    return SLUGS[:count]


def _on_event(runner: Runner, action: Callable[[BackupEvent], None]) -> None:
    """Run ``action`` synchronously on every event (before the engine goes on): cut the network exactly."""
    record = runner._on_event

    def hook(event: BackupEvent) -> None:
        record(event)
        action(event)

    runner._on_event = hook  # type: ignore[method-assign]


def _statuses(report: RunReport) -> list[str]:
    return [r.status for r in report.results]


def _faulted(sandbox: SandboxServer, fault: str) -> int:
    return sum(1 for r in sandbox.state.request_log if r.fault == fault)


def test_endless_rate_limit_stops_the_run_after_one_personality(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    slugs = _only(sandbox)
    runner = Runner(sandbox, tmp_path)
    # the first memory page of the first personality arrives, then every memory page is rate limited
    sandbox.state.set_fault(
        "rate_limit", count=None, after=1, path_contains="/api/memory/", retry_after="0.01"
    )
    report = runner.run(None)  # --all

    assert report.exit_code == 4 and report.stopped_by == "RateLimitedError"
    assert "rate-limiting us" in report.error and "later" in report.error
    assert _statuses(report) == ["failed", "not_started", "not_started", "not_started"]
    first = report.results[0]
    assert first.slug == slugs[0] and first.error_kind == "RateLimitedError"
    assert all(r.error == "" for r in report.results[1:])  # not tried, so no error of their own
    log = sandbox.state.request_log
    limited = [i for i, r in enumerate(log) if r.fault == "rate_limit"]
    assert len(limited) == ATTEMPTS  # one request's retries, then nothing more
    assert limited == list(range(limited[0], len(log)))  # the last requests of the run
    assert len({(log[i].path, tuple(sorted(log[i].query.items()))) for i in limited}) == 1
    assert sandbox.state.count(PROFILE) == 1  # no other personality was tried
    assert (runner.folder(slugs[0]) / ".tzbackup" / "journal.jsonl").exists()  # what arrived is kept

    sandbox.state.clear_faults()
    again = runner.run(None)
    assert again.exit_code == 0 and _statuses(again) == ["ok"] * 4
    for slug in slugs:
        assert stored_ids(runner.folder(slug)) == upstream_ids(sandbox, slug)


def test_rate_limit_in_a_section_stops_the_run_and_keeps_the_memories(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    slugs = _only(sandbox, 3)
    runner = Runner(sandbox, tmp_path)
    sandbox.state.set_fault("rate_limit", count=None, path_contains="/story", retry_after="0.01")
    report = runner.run(None)
    assert report.exit_code == 4 and report.stopped_by == "RateLimitedError"
    assert _statuses(report) == ["ok", "not_started", "not_started"]
    assert report.results[0].sections.get("knowledge") == "failed"
    assert _faulted(sandbox, "rate_limit") == ATTEMPTS
    assert sandbox.state.count(PROFILE) == 1
    assert stored_ids(runner.folder(slugs[0])) == upstream_ids(sandbox, slugs[0])


def test_network_gone_mid_run_stops_the_run(sandbox: SandboxServer, tmp_path: Path) -> None:
    slugs = _only(sandbox, 3)
    runner = Runner(sandbox, tmp_path)

    def cut(event: BackupEvent) -> None:
        if isinstance(event, PersonalityFinished) and event.slug == slugs[0]:
            sandbox.stop()  # the port is closed: every later connect is refused

    _on_event(runner, cut)
    report = runner.run(None)

    assert report.exit_code == 4 and report.stopped_by == "NetworkError"
    assert "offline" in report.error
    assert _statuses(report) == ["ok", "failed", "not_started"]
    assert report.results[1].error_kind == "NetworkError"
    unanswered = [e for e in runner.events if isinstance(e, RequestMade) and e.status == 0]
    assert len(unanswered) == ATTEMPTS and {e.slug for e in unanswered} == {slugs[1]}
    assert stored_ids(runner.folder(slugs[0])) == upstream_ids(sandbox, slugs[0])


def test_dropped_connections_mid_walk_stop_the_run_and_keep_the_pages(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    slugs = _only(sandbox, 3, memories=100)  # 5 pages each
    runner = Runner(sandbox, tmp_path)

    armed = [False]

    def drop_all(event: BackupEvent) -> None:  # from the second page of the second personality on
        page = (event.slug, event.page) if isinstance(event, MemoryPageFetched) else None
        if page == (slugs[1], 2) and not armed[0]:
            armed[0] = True
            sandbox.state.set_fault("drop", count=None)

    _on_event(runner, drop_all)
    report = runner.run(None)
    assert report.exit_code == 4 and report.stopped_by == "NetworkError"
    assert _statuses(report) == ["ok", "failed", "not_started"]
    assert _faulted(sandbox, "drop") == ATTEMPTS
    assert sandbox.state.count(PROFILE) == 2

    sandbox.state.clear_faults()
    again = runner.run(None)
    assert again.exit_code == 0
    for slug in slugs:
        assert stored_ids(runner.folder(slug)) == upstream_ids(sandbox, slug)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_offline_from_the_start_is_one_plain_message(sandbox: SandboxServer, tmp_path: Path) -> None:
    events: list[BackupEvent] = []
    url = f"http://127.0.0.1:{_closed_port()}"

    async def go() -> RunReport:
        async with httpx.AsyncClient(timeout=5) as http:
            client = ShapesClient(http, SessionCredential.from_value(sandbox.cookie), base_url=url,
                                  files_base_url=url + "/files", pacer=Pacer(0), retry=fast_retry(),
                                  on_event=events.append)
            return await BackupEngine(client, tmp_path, on_event=events.append).run(None)

    report = asyncio.run(go())
    assert report.exit_code == 4 and report.stopped_by == "NetworkError"
    assert "offline" in report.error and "ConnectError" not in report.error
    assert sum(1 for e in events if isinstance(e, RequestMade)) == ATTEMPTS


def test_5xx_on_one_personality_does_not_stop_the_others(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A persistent 5xx may be specific to one personality's data: a cheap check (``/api/users/me``) that
    the service still answers decides; here it does, so every personality is still tried."""
    _only(sandbox, 3)
    runner = Runner(sandbox, tmp_path)
    sandbox.state.set_fault("server_error", count=None, status=500, path_contains="/api/memory/")
    report = runner.run(None)
    assert report.exit_code == 1 and not report.stopped_by
    assert _statuses(report) == ["failed"] * 3
    assert {r.error_kind for r in report.results} == {"ServerError"}
    assert sandbox.state.count(PROFILE) == 3
    assert sandbox.state.count("/api/users/me") == 1 + 2  # the run's start, then one check after each of two


def test_service_down_for_everything_stops_the_run(sandbox: SandboxServer, tmp_path: Path) -> None:
    slugs = _only(sandbox, 3)
    runner = Runner(sandbox, tmp_path)

    def outage(event: BackupEvent) -> None:
        if isinstance(event, PersonalityFinished) and event.slug == slugs[0]:
            sandbox.state.set_fault("server_error", count=None, status=503)

    _on_event(runner, outage)
    report = runner.run(None)
    assert report.exit_code == 4 and report.stopped_by == "ServerError"
    assert "shapes.inc" in report.error and "later" in report.error
    assert _statuses(report) == ["ok", "failed", "not_started"]
    assert _faulted(sandbox, "server_error") == 2 * ATTEMPTS  # the profile, then the check, each retried
    assert sandbox.state.count(PROFILE + slugs[1]) == ATTEMPTS
    assert sandbox.state.count(PROFILE + slugs[2]) == 0


def test_files_host_unreachable_fails_only_the_images(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Avatars come from another host: its trouble says nothing about shapes.inc, so the run goes on."""
    _only(sandbox, 3)
    runner = Runner(sandbox, tmp_path)
    sandbox.state.set_fault("drop", count=None, path_contains="/files/")
    report = runner.run(None)
    assert not report.stopped_by and report.exit_code == 1
    assert _statuses(report) == ["ok"] * 3
    assert all(r.sections.get("images") == "failed" for r in report.results)
