"""The session cookie (and every rotated value) never leaks: not to stderr/stdout with -v, not to the log
file, not into exception messages or reprs, not into progress events, not through httpx/httpcore logging."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest

from tzbackup_gui import log as tzlog
from tzbackup_gui.errors import ServiceError
from tzbackup_gui.events import BackupEvent
from tzbackup_gui.sandbox import SESSION_COOKIE, SandboxServer
from tzbackup_gui.service import Pacer, RetryPolicy, ShapesClient
from tzbackup_gui.service.auth import SessionCredential

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, jitter=0.0)
ME = "/api/users/me"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging changes process-wide logging: put it back for the other tests."""
    root = logging.getLogger()
    names = ("tzbackup", "httpx", "httpcore")
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in names})
    yield
    for handler in list(root.handlers):
        if handler not in saved[0]:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(saved[1])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def _forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), unquote(value)}


def _drive(sb: SandboxServer, cookie: str, setup: dict[str, object] | None, call: str,
           timeout: float = 5.0) -> tuple[list[BaseException], list[BackupEvent], list[str]]:
    """Run one client call under one sandbox setup; return errors, events and every cookie value seen."""
    sb.state.clear_faults()
    if setup:
        sb.state.set_fault(**setup)  # type: ignore[arg-type]
    errors: list[BaseException] = []
    events: list[BackupEvent] = []
    rotated: list[str] = []

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            client = ShapesClient(
                http, SessionCredential.from_value(cookie), base_url=sb.base_url,
                files_base_url=sb.files_base_url, pacer=Pacer(0), retry=FAST, on_event=events.append,
                on_rotate=lambda c: rotated.extend(c.secrets()), timeout=timeout,
            )
            try:
                for _ in range(3):
                    if call == "profile":
                        await client.get_profile("nobody-here")
                    else:
                        shape_id = sb.state.get("lilith").profile["id"]
                        await client.get_memory_page(shape_id, 1)
                        await client.me()
            except ServiceError as exc:
                errors.append(exc)
            rotated.extend(client.credential.secrets())

    asyncio.run(go())
    return errors, events, rotated


def test_no_secret_anywhere_through_every_failure(
    sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture, restore_logging: None,
) -> None:
    log_file = tmp_path / "tzbackup.log"
    tzlog.setup_logging(verbose=True, log_file=log_file)
    caplog.set_level(logging.DEBUG, logger="tzbackup")
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING

    sandbox.state.rotate_every = 2
    secrets: set[str] = {sandbox.cookie}
    errors: list[BaseException] = []
    events: list[BackupEvent] = []
    scenarios: list[tuple[dict[str, object] | None, str]] = [
        (None, "ok"),  # rotations
        ({"name": "rate_limit", "count": None, "retry_after": "0.01"}, "ok"),
        ({"name": "rate_limit", "count": None, "retry_after": None}, "ok"),
        ({"name": "server_error", "count": None, "status": 503}, "ok"),
        ({"name": "server_error", "count": None, "status": 502}, "ok"),
        ({"name": "drop", "count": None}, "ok"),
        ({"name": "slow", "count": None, "seconds": 0.3}, "slow"),
        ({"name": "truncated_json", "count": None}, "ok"),
        ({"name": "bot_wall", "count": None, "vendor": "cloudflare"}, "ok"),
        ({"name": "bot_wall", "count": None, "vendor": "datadome"}, "ok"),
        ({"name": "bot_wall", "count": None, "vendor": "perimeterx"}, "ok"),
        ({"name": "bot_wall", "count": None, "vendor": "html"}, "ok"),
        ({"name": "login_redirect", "count": None}, "ok"),
        (None, "profile"),  # 404
        ({"name": "expire_after", "requests": 2}, "ok"),
    ]
    for setup, call in scenarios:
        cookie = sandbox.cookie
        secrets.add(cookie)
        errs, evs, rotated = _drive(sandbox, cookie, setup, "ok" if call == "slow" else call,
                                    timeout=0.1 if call == "slow" else 5.0)
        errors += errs
        events += evs
        secrets.update(rotated)
    # a wrong cookie on the first request
    wrong = "Wr0ng" + "x" * 40
    secrets.add(wrong)
    errs, evs, _ = _drive(sandbox, wrong, None, "ok")
    errors += errs
    events += evs

    kinds = {type(e).__name__ for e in errors}
    assert kinds >= {"RateLimitedError", "ServerError", "NetworkError", "DriftError", "BotWallError",
                     "LoginRedirectError", "NotFoundError", "SessionExpiredError", "BadCredentialError"}
    assert len(secrets) > 5  # rotations really happened

    logging.shutdown  # noqa: B018 - handlers flush on each record; nothing to do
    captured = capsys.readouterr()
    file_text = log_file.read_text("utf-8")
    assert "GET /api/memory/" in file_text and "rotated" in file_text  # the log really captured the run
    haystacks = {
        "stdout": captured.out,
        "stderr": captured.err,
        "caplog": caplog.text,
        "log file": file_text,
        "errors": "\n".join(f"{e}\n{e!r}\n{getattr(e, 'hint', '')}\n{getattr(e, 'arrived', '')}\n"
                            f"{e.__cause__!r}\n{e.__context__!r}" for e in errors),
        "events": "\n".join(repr(e) for e in events),
    }
    assert "DEBUG" in captured.err  # -v really printed to stderr
    for where, text in haystacks.items():
        for secret in secrets:
            for form in _forms(secret):
                assert form not in text, f"a session cookie value leaked into {where}"
    assert SESSION_COOKIE + "=" not in haystacks["errors"] + haystacks["events"]


def test_filter_scrubs_even_httpcore_debug_output(
    sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None,
) -> None:
    """If something turns httpcore's DEBUG back on (it prints headers incl. Set-Cookie), the filter still
    removes the rotated value."""
    log_file = tmp_path / "debug.log"
    tzlog.setup_logging(verbose=True, log_file=log_file)
    logging.getLogger("httpcore").setLevel(logging.DEBUG)
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    sandbox.state.rotate_every = 1
    first = sandbox.cookie
    errs, _, rotated = _drive(sandbox, first, None, "ok")
    assert not errs and rotated
    text = log_file.read_text("utf-8") + capsys.readouterr().err
    assert "receive_response_headers" in text and "<redacted>" in text  # httpcore did log the headers
    for secret in {first, *rotated}:
        for form in _forms(secret):
            assert form not in text


def test_redact_patterns_and_registered_forms(restore_logging: None) -> None:
    secret = "Abc%2Bdef~ghi.jkl%3D" + "m" * 30
    tzlog.add_secret(secret)
    assert tzlog.redact(f"value {secret} and {unquote(secret)} and {quote(secret, safe='')}").count(
        "<redacted>") == 3
    for text in (
        "Cookie: __Secure-better-auth.session_token=unregistered.value; other=1",
        "[(b'set-cookie', b'appSession.0=unregisteredvalue123; Path=/')]",
        "session_token=zzz",
    ):
        out = tzlog.redact(text)
        assert "unregistered" not in out and "zzz" not in out and "<redacted>" in out
    assert tzlog.redact("nothing secret here") == "nothing secret here"


def test_filter_on_a_logged_exception(tmp_path: Path, restore_logging: None) -> None:
    secret = "S3cret-" + "q" * 40
    tzlog.add_secret(secret)
    log_file = tmp_path / "x.log"
    logger = tzlog.setup_logging(verbose=False, log_file=log_file)
    try:
        raise RuntimeError(f"boom {secret}")
    except RuntimeError:
        logger.exception("failed with %s", secret)
    text = log_file.read_text("utf-8")
    assert "boom" in text and "failed with" in text and secret not in text
    assert (log_file.stat().st_mode & 0o777) == 0o600
