"""The real ``tzbackup`` CLI against the real sandbox over loopback: in-process and as subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.cli import build_parser
from tzbackup_gui.credentials import ACTIVE_ACCOUNT, KEYRING_SERVICE

from .cli_support import (
    MemoryKeyring,
    cli_command,
    memory_ids_on_disk,
    memory_keyring,
    owned_slugs,
    run_inprocess,
    run_subprocess,
    server_args,
    subprocess_env,
)

__all__ = ["memory_keyring"]  # the fixture, re-exported for pytest

BAD_COOKIE = "not-the-right-session-value-0123456789abcdefXYZ"


@pytest.fixture(autouse=True)
def _isolated_keyring(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    return memory_keyring


def cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    cookie: str | None = None,
    env: dict[str, str | None] | None = None,
) -> Any:
    full_env: dict[str, str | None] = dict(env or {})
    if cookie is not None:
        full_env["TZBACKUP_COOKIE"] = cookie
    return run_inprocess(capsys, monkeypatch, args, full_env)


# --- parsing ---------------------------------------------------------------------------------------------


def test_global_options_before_and_after_the_command(tmp_path: Path) -> None:
    parser = build_parser()
    before = parser.parse_args(["--data-dir", str(tmp_path), "--delay", "0.2", "-v", "status"])
    after = parser.parse_args(["status", "--data-dir", str(tmp_path), "--delay", "0.2", "-v"])
    for ns in (before, after):
        assert ns.data_dir == tmp_path and ns.delay == 0.2 and ns.verbose is True and ns.command == "status"
    mixed = parser.parse_args(["--delay", "3", "backup", "--all", "--delay", "0.7"])
    assert mixed.delay == 0.7  # the later one wins
    untouched = parser.parse_args(["--delay", "3", "backup", "--all"])
    assert untouched.delay == 3


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["backup"],  # no NAME and no --all
        ["backup", "lilith", "--all"],
        ["--delay", "0.1", "list"],  # too fast for a non-local service
        ["list", "--base-url", "ftp://example.invalid"],
        ["--delay", "-1", "status"],
        [],
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str]
) -> None:
    result = cli(capsys, monkeypatch, *args, "--data-dir", str(tmp_path), cookie=BAD_COOKIE)
    assert result.code == 2, result.err
    assert "error" in result.err


def test_version_and_help(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli(capsys, monkeypatch, "--version").code == 0
    result = cli(capsys, monkeypatch, "backup", "--help")
    assert result.code == 0 and "--reconcile-days" in result.out and "--data-dir" in result.out


# --- demo ---------------------------------------------------------------------------------------------------


def test_demo_list_prints_the_demo_personalities(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sandbox: Any,
    memory_keyring: MemoryKeyring,
) -> None:
    result = cli(capsys, monkeypatch, "--demo", "list", "--data-dir", str(tmp_path))
    assert result.code == 0, result.err
    for slug in owned_slugs(sandbox):
        assert slug in result.out
    assert "session_token" not in result.out + result.err
    assert memory_keyring.entries == {}  # the demo never touches the keyring


def test_demo_list_as_a_subprocess(tmp_path: Path, sandbox: Any) -> None:
    (tmp_path / "d").mkdir()  # a --data-dir named on the command line must exist (a typo is exit 2)
    result = run_subprocess(tmp_path, ["--demo", "list", "--json", "--data-dir", str(tmp_path / "d")])
    assert result.code == 0, result.err
    assert sorted(row["username"] for row in result.json()) == owned_slugs(sandbox)


# --- auth ---------------------------------------------------------------------------------------------


def test_list_with_a_bad_cookie_exits_3_and_says_what_to_do(tmp_path: Path, sandbox: Any) -> None:
    result = run_subprocess(
        tmp_path, ["list", *server_args(sandbox, tmp_path)], {"TZBACKUP_COOKIE": BAD_COOKIE}
    )
    assert result.code == 3, result.err
    assert result.err.startswith("error: ")
    assert "tzbackup login" in result.err and "TZBACKUP_COOKIE" in result.err
    assert "Traceback" not in result.err
    assert BAD_COOKIE not in result.out + result.err


def test_malformed_cookie_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any
) -> None:
    result = cli(capsys, monkeypatch, "list", *server_args(sandbox, tmp_path), cookie="talk_session=abc")
    assert result.code == 3
    assert "__Secure-better-auth.session_token" in result.err


def test_not_signed_in_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any
) -> None:
    result = cli(capsys, monkeypatch, "whoami", *server_args(sandbox, tmp_path))
    assert result.code == 3
    assert "Not signed in" in result.err and "tzbackup login" in result.err


def test_whoami(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any
) -> None:
    result = cli(capsys, monkeypatch, "whoami", *server_args(sandbox, tmp_path), cookie=sandbox.cookie)
    assert result.code == 0, result.err
    assert sandbox.demo_user["username"] in result.out and sandbox.demo_user["id"] in result.out
    assert sandbox.cookie not in result.out + result.err


def test_login_stores_in_the_keyring_then_commands_use_it(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sandbox: Any,
    memory_keyring: MemoryKeyring,
) -> None:
    import io

    monkeypatch.setattr(
        "sys.stdin", io.StringIO(f"Cookie: _ga=1; __Secure-better-auth.session_token={sandbox.cookie}\n")
    )
    result = cli(capsys, monkeypatch, "login", "--stdin", *server_args(sandbox, tmp_path))
    assert result.code == 0, result.err
    assert "stored in the system keyring" in result.out
    user_id = sandbox.demo_user["id"]
    assert memory_keyring.entries[(KEYRING_SERVICE, ACTIVE_ACCOUNT)] == user_id
    assert sandbox.cookie in memory_keyring.entries[(KEYRING_SERVICE, user_id)]
    assert sandbox.cookie not in result.out + result.err

    result = cli(capsys, monkeypatch, "whoami", *server_args(sandbox, tmp_path))
    assert result.code == 0 and sandbox.demo_user["username"] in result.out

    result = cli(capsys, monkeypatch, "logout", *server_args(sandbox, tmp_path))
    assert result.code == 0 and memory_keyring.entries == {}
    assert cli(capsys, monkeypatch, "whoami", *server_args(sandbox, tmp_path)).code == 3


def test_login_with_a_bad_cookie_stores_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sandbox: Any,
    memory_keyring: MemoryKeyring,
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(BAD_COOKIE))
    result = cli(capsys, monkeypatch, "login", "--stdin", *server_args(sandbox, tmp_path))
    assert result.code == 3
    assert memory_keyring.entries == {}


def test_login_without_a_keyring_says_so_plainly(tmp_path: Path, sandbox: Any) -> None:
    result = run_subprocess(
        tmp_path, ["login", "--stdin", *server_args(sandbox, tmp_path)], stdin=sandbox.cookie
    )
    assert result.code == 3
    assert "No usable keyring" in result.err or "no usable keyring" in result.err
    assert "TZBACKUP_COOKIE_FILE" in result.err
    assert "Traceback" not in result.err and sandbox.cookie not in result.out + result.err


def test_rotated_cookie_is_stored_back_in_the_keyring(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sandbox: Any,
    memory_keyring: MemoryKeyring,
) -> None:
    first = sandbox.cookie
    user_id = sandbox.demo_user["id"]
    memory_keyring.entries[(KEYRING_SERVICE, ACTIVE_ACCOUNT)] = user_id
    memory_keyring.entries[(KEYRING_SERVICE, user_id)] = f"__Secure-better-auth.session_token={first}"
    sandbox.state.rotate_every = 3
    result = cli(capsys, monkeypatch, "backup", "dr.ada.lovelace", *server_args(sandbox, tmp_path))
    assert result.code == 0, result.err
    assert sandbox.cookie != first
    assert memory_keyring.entries[(KEYRING_SERVICE, user_id)].endswith("=" + sandbox.cookie)
    assert first not in result.out + result.err and sandbox.cookie not in result.out + result.err


def test_rotation_with_env_cookie_warns_that_it_is_stale(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sandbox: Any,
) -> None:
    sandbox.state.rotate_every = 3
    result = cli(
        capsys,
        monkeypatch,
        "backup",
        "dr.ada.lovelace",
        *server_args(sandbox, tmp_path),
        cookie=sandbox.cookie,
    )
    assert result.code == 0, result.err
    assert result.err.count("stale") == 1


def test_cookie_file_is_used_and_rewritten_on_rotation(tmp_path: Path, sandbox: Any) -> None:
    cookie_file = tmp_path / "cookie"
    cookie_file.write_text(sandbox.cookie + "\n")
    os.chmod(cookie_file, 0o600)
    sandbox.state.rotate_every = 3
    result = run_subprocess(
        tmp_path,
        ["backup", "zoë-✨", *server_args(sandbox, tmp_path / "d")],
        {"TZBACKUP_COOKIE_FILE": str(cookie_file)},
    )
    assert result.code == 0, result.err
    assert cookie_file.read_text().strip().endswith(sandbox.cookie)
    assert (cookie_file.stat().st_mode & 0o777) == 0o600

    os.chmod(cookie_file, 0o644)
    result = run_subprocess(
        tmp_path, ["list", *server_args(sandbox, tmp_path / "d")], {"TZBACKUP_COOKIE_FILE": str(cookie_file)}
    )
    assert result.code == 3 and "chmod 600" in result.err


# --- backup, status, verify -------------------------------------------------------------------------


def test_backup_one_then_status_and_verify(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any
) -> None:
    slug = "dr.ada.lovelace"
    expected = len(sandbox.state.personalities[slug].memories)
    result = cli(capsys, monkeypatch, "backup", slug, *server_args(sandbox, tmp_path), cookie=sandbox.cookie)
    assert result.code == 0, result.err
    folder = tmp_path / "personalities" / slug
    ids = memory_ids_on_disk(folder)
    assert len(ids) == expected == len(set(ids))
    header, _, row = result.out.strip().splitlines()[-3:]
    assert header.split()[:3] == ["name", "new", "edited"]
    chat = len(sandbox.state.personalities[slug].chat)  # the chat column sits between total and status
    assert row.split() == [slug, str(expected), "0", "0", str(expected), f"{chat}/{chat}", "ok"]

    # status / verify read the disk only: no cookie needed, global options after the command
    result = cli(capsys, monkeypatch, "status", "--json", "--data-dir", str(tmp_path))
    assert result.code == 0
    (entry,) = result.json()["backups"]
    assert entry["username"] == slug and entry["local_memories"] == expected and entry["last_backup"]
    result = cli(capsys, monkeypatch, "status", slug, "--data-dir", str(tmp_path))
    assert result.code == 0 and slug in result.out

    result = cli(capsys, monkeypatch, "verify", slug, "--data-dir", str(tmp_path))
    assert result.code == 0 and f"ok       {slug}: {expected} memories" in result.out
    result = cli(capsys, monkeypatch, "verify", "--all", "--json", "--data-dir", str(tmp_path))
    assert result.code == 0 and result.json()["ok"] is True

    # incremental: nothing new => one memory page
    sandbox.state.clear_log()
    result = cli(capsys, monkeypatch, "backup", slug, *server_args(sandbox, tmp_path), cookie=sandbox.cookie)
    assert result.code == 0
    assert sandbox.state.count("/api/memory/") == 1


def test_verify_reports_a_damaged_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any
) -> None:
    slug = "dr.ada.lovelace"
    assert (
        cli(capsys, monkeypatch, "backup", slug, *server_args(sandbox, tmp_path), cookie=sandbox.cookie).code
        == 0
    )
    damaged = sorted((tmp_path / "personalities" / slug / "memory").glob("*.json"))[0]
    damaged.write_text('{"memories": [')
    result = cli(capsys, monkeypatch, "verify", slug, "--data-dir", str(tmp_path))
    assert result.code == 1
    assert "PROBLEM" in result.out and damaged.name in result.out
    assert "have problems" in result.err
    result = cli(capsys, monkeypatch, "verify", "--all", "--json", "--data-dir", str(tmp_path))
    assert result.code == 1 and result.json()["ok"] is False
    result = cli(capsys, monkeypatch, "verify", "no-such-backup", "--data-dir", str(tmp_path))
    assert result.code == 1 and "no-such-backup" in result.out


def test_backup_all_as_a_subprocess(tmp_path: Path, sandbox: Any) -> None:
    data = tmp_path / "data"
    result = run_subprocess(
        tmp_path, ["-q", "backup", "--all", *server_args(sandbox, data)], {"TZBACKUP_COOKIE": sandbox.cookie}
    )
    assert result.code == 0, result.err
    rows = {line.split()[0]: line.split() for line in result.out.strip().splitlines()[2:]}
    assert sorted(rows) == owned_slugs(sandbox)
    for slug in owned_slugs(sandbox):
        assert rows[slug][-1] == "ok"
        assert int(rows[slug][4]) == len(sandbox.state.personalities[slug].memories)
    status = run_subprocess(tmp_path, ["status", "--json", "--data-dir", str(data)])
    assert status.code == 0
    assert len(status.json()["backups"]) == len(owned_slugs(sandbox))


def test_not_owned_is_refused_with_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any
) -> None:
    not_owned = next(slug for slug, p in sandbox.state.personalities.items() if not p.owned)
    result = cli(
        capsys, monkeypatch, "backup", not_owned, *server_args(sandbox, tmp_path), cookie=sandbox.cookie
    )
    assert result.code == 1
    assert "refused" in result.out and "owner" in result.err


def test_ctrl_c_exits_130_and_the_next_run_resumes(tmp_path: Path, sandbox: Any) -> None:
    slug = "lilith"
    total = len(sandbox.state.personalities[slug].memories)
    data = tmp_path / "data"
    env = subprocess_env(tmp_path, {"TZBACKUP_COOKIE": sandbox.cookie})
    proc = subprocess.Popen(
        cli_command(["backup", slug, *server_args(sandbox, data, delay="0.05")]),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while sandbox.state.count("/api/memory/") < 10 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        fetched_before = sandbox.state.count("/api/memory/")
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        stopped_after = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert stopped_after < 5
    assert "Traceback" not in err and "resume" in err
    assert "cancelled" in out

    status = run_subprocess(tmp_path, ["status", "--json", "--data-dir", str(data)]).json()
    assert status["backups"][0]["pending_resume"] is True

    sandbox.state.clear_log()
    result = run_subprocess(
        tmp_path, ["backup", slug, *server_args(sandbox, data)], {"TZBACKUP_COOKIE": sandbox.cookie}
    )
    assert result.code == 0, result.err
    ids = memory_ids_on_disk(data / "personalities" / slug)
    assert len(ids) == total == len(set(ids))
    full_walk_pages = -(-total // 20)
    assert sandbox.state.count("/api/memory/") <= full_walk_pages - fetched_before + 3
    assert run_subprocess(tmp_path, ["verify", slug, "--data-dir", str(data)]).code == 0


def test_json_outputs_parse(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any
) -> None:
    result = cli(
        capsys, monkeypatch, "list", "--json", *server_args(sandbox, tmp_path), cookie=sandbox.cookie
    )
    rows = result.json()
    assert {r["username"] for r in rows} == set(owned_slugs(sandbox))
    assert all(r["last_backup"] is None and r["local_memories"] == 0 for r in rows)
    assert (
        json.loads(cli(capsys, monkeypatch, "status", "--json", "--data-dir", str(tmp_path)).out)["backups"]
        == []
    )


def test_verify_online_and_status_unknown_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Any
) -> None:
    slug = "zoë-✨"
    args = server_args(sandbox, tmp_path)
    assert cli(capsys, monkeypatch, "backup", slug, *args, cookie=sandbox.cookie).code == 0
    result = cli(capsys, monkeypatch, "verify", slug, "--online", *args, cookie=sandbox.cookie)
    assert result.code == 0, result.out + result.err
    sandbox.state.add_memories(slug, 3)  # the service now holds more than the backup
    result = cli(capsys, monkeypatch, "verify", slug, "--online", "--json", *args, cookie=sandbox.cookie)
    assert result.code == 1 and result.json()["results"][0]["problems"]
    result = cli(capsys, monkeypatch, "status", "nobody-here", "--data-dir", str(tmp_path))
    assert result.code == 1 and "nobody-here" in result.err


def test_a_reader_that_leaves_early_is_not_an_error(tmp_path: Path) -> None:
    """`tzbackup ... | head -1`: the pipe closes under a long output; no 'unexpected BrokenPipeError'."""
    import subprocess

    from .cli_support import cli_command, subprocess_env

    proc = subprocess.Popen(
        cli_command(["backup", "--help"]),
        env=subprocess_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first byte is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "BrokenPipe" not in err and "unexpected" not in err and "Traceback" not in err, err
