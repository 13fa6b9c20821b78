"""The session secret never leaks: run the CLI with ``-v`` through every failure kind and grep everything.

Every run is a real subprocess (so stdout, stderr and the log file are exactly what a user would see or keep)
against the sandbox with a fault switched on. Afterwards stdout, stderr, the ``--log-file`` and every file in
the data dir are searched for every cookie value the sandbox ever issued (rotations included).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .cli_support import run_subprocess, server_args

SLUG = "dr.ada.lovelace"

# (case id, fault set-up, expected exit codes)
CASES: list[tuple[str, dict[str, Any] | None, set[int]]] = [
    ("ok-with-rotation", None, {0}),
    ("expired-mid-run", {"name": "expire_after", "requests": 4}, {3}),
    ("login-redirect", {"name": "login_redirect", "count": 1, "after": 2}, {3}),
    ("bot-wall-cloudflare", {"name": "bot_wall", "vendor": "cloudflare", "count": 1, "after": 2}, {4}),
    ("bot-wall-datadome", {"name": "bot_wall", "vendor": "datadome", "count": 1, "after": 2}, {4}),
    ("bot-wall-html", {"name": "bot_wall", "vendor": "html", "count": 1, "after": 2}, {3, 4}),  # login page?
    ("rate-limit", {"name": "rate_limit", "retry_after": "1", "count": 1, "after": 2}, {0}),
    ("server-error-storm", {"name": "server_error", "status": 503, "count": None, "after": 2}, {1, 4}),
    ("truncated-json", {"name": "truncated_json", "count": None, "after": 3}, {1, 4}),
    ("dropped-connection", {"name": "drop", "count": None, "after": 3}, {1, 4}),
]


def _all_text(*paths: Path) -> str:
    chunks: list[str] = []
    for root in paths:
        if root.is_file():
            chunks.append(root.read_text(errors="replace"))
        elif root.is_dir():
            for path in root.rglob("*"):
                if path.is_file():
                    chunks.append(path.read_text(errors="replace"))
    return "\n".join(chunks)


def _record_issued(sandbox: Any) -> set[str]:
    """Collect every session value the sandbox issues from now on (rotations and new sessions included)."""
    issued: set[str] = {sandbox.cookie}
    sessions = sandbox.state.sessions
    original = sessions.issue

    def issue() -> str:
        value: str = original()
        issued.add(value)
        return value

    sessions.issue = issue
    return issued


@pytest.mark.parametrize(("case", "fault", "codes"), CASES, ids=[c[0] for c in CASES])
def test_no_cookie_in_any_output(
    tmp_path: Path, sandbox: Any, case: str, fault: dict[str, Any] | None, codes: set[int]
) -> None:
    first = sandbox.cookie
    issued = _record_issued(sandbox)
    sandbox.state.rotate_every = 2
    if fault is not None:
        params = dict(fault)
        sandbox.state.set_fault(params.pop("name"), **params)
    log_file = tmp_path / "tzbackup.log"
    data = tmp_path / "data"
    result = run_subprocess(
        tmp_path,
        ["-v", "--log-file", str(log_file), "backup", SLUG, *server_args(sandbox, data)],
        {"TZBACKUP_COOKIE": first},
        timeout=120,
    )
    assert result.code in codes, (case, result.code, result.err[-2000:])
    assert "Traceback" not in result.err
    assert log_file.exists() and log_file.stat().st_size > 0  # -v did log something
    haystack = "\n".join([result.out, result.err, _all_text(log_file, data, tmp_path / "home")])
    secrets = issued | {first, sandbox.cookie}
    if case == "ok-with-rotation":
        assert len(secrets) > 2  # rotation really happened, so rotated values were checked too
    for secret in secrets:
        assert secret not in haystack, f"{case}: a session cookie value leaked"
        # a URL-decoded or partially printed value must not appear either
        assert secret[:24] not in haystack, f"{case}: a prefix of a session cookie leaked"


def test_bad_cookie_first_request(tmp_path: Path, sandbox: Any) -> None:
    bad = "bad-but-well-formed-cookie-value-0123456789abcdef"
    log_file = tmp_path / "tzbackup.log"
    result = run_subprocess(
        tmp_path,
        ["-v", "--log-file", str(log_file), "list", *server_args(sandbox, tmp_path)],
        {"TZBACKUP_COOKIE": f"Cookie: __Secure-better-auth.session_token={bad}; x=1"},
    )
    assert result.code == 3
    haystack = "\n".join([result.out, result.err, _all_text(log_file)])
    assert bad not in haystack and bad[:24] not in haystack and sandbox.cookie not in haystack


def test_sandbox_command_is_the_only_one_printing_a_cookie(tmp_path: Path) -> None:
    """--demo runs never print the demo cookie (the sandbox state is in-process, so look for the name)."""
    result = run_subprocess(
        tmp_path, ["-v", "--demo", "backup", "echo-new", "--data-dir", str(tmp_path / "d")]
    )
    assert result.code == 0, result.err
    assert "session_token=" not in result.out + result.err
