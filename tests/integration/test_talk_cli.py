"""``tzbackup talk`` over a pipe against the sandbox's made-up chat endpoint: one reply per line, the setting
saved, the API key in the keyring, the exit codes of every endpoint failure, and ``--demo``."""

from __future__ import annotations

import io
import json
import re

import pytest

from tests.fake_keyring import MemoryKeyring
from tests.integration.cli_support import Result, memory_keyring, run_inprocess, run_subprocess  # noqa: F401
from tests.integration.talk_support import SLUG, Backed, unused_port


def talk(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, backed: Backed, lines: str,
         *extra: str) -> Result:
    """``tzbackup talk`` in this process with ``lines`` as its (non-terminal) standard input."""
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    return run_inprocess(capsys, monkeypatch, ["--data-dir", str(backed.data_dir), "talk", SLUG, *extra])


def test_one_reply_per_line_over_a_real_pipe(backed: Backed, tmp_path: pytest.TempPathFactory) -> None:
    result = run_subprocess(tmp_path, ["--data-dir", str(backed.data_dir), "talk", SLUG,  # type: ignore[arg-type]
                                       "--endpoint", backed.endpoint_url, "--model", "sandbox-echo"],
                            stdin="Hello Lilith\n\nDo you remember the night market?\n")
    assert result.code == 0, result.err
    replies = result.out.splitlines()
    assert len(replies) == 2
    assert replies[0].startswith("You said “Hello Lilith”")
    assert replies[1].startswith("You said “Do you remember the night market?”")
    assert "memories used]" in result.err and "Conversation saved in" in result.err
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", result.err), "memory ids only with -v"
    saved = json.loads((backed.data_dir / "talk" / "endpoint.json").read_text("utf-8"))
    assert saved["base_url"] == backed.endpoint_url and saved["model"] == "sandbox-echo"
    assert [r.path for r in backed.sb.state.request_log] == ["/v1/chat/completions"] * 2
    conversations = list((backed.data_dir / "talk" / SLUG).glob("*.jsonl"))
    assert len(conversations) == 1


def test_nothing_is_contacted_without_an_endpoint(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch, backed: Backed) -> None:
    result = talk(capsys, monkeypatch, backed, "Hello\n")
    assert result.code == 2 and "no chat endpoint is set up" in result.err
    assert backed.sb.state.request_log == []


def test_the_saved_endpoint_is_used_next_time(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, backed: Backed) -> None:
    first = talk(capsys, monkeypatch, backed, "One\n", "--endpoint", backed.endpoint_url, "--model",
                 "sandbox-echo-large")
    assert first.code == 0 and "endpoint saved" in first.err
    second = talk(capsys, monkeypatch, backed, "Two\n")
    assert second.code == 0 and second.out.startswith("You said “Two”") and "sandbox-echo-large" in second.out


@pytest.mark.parametrize(("setup", "model", "code", "words"), [
    ("api_key", "sandbox-echo", 3, "refused the request (HTTP 401)"),
    ("", "no-such-model", 1, "has no model"),
    ("context", "sandbox-echo", 1, "too long"),
    ("html", "sandbox-echo", 1, "web page"),
])
def test_endpoint_failures_have_plain_messages_and_exit_codes(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, backed: Backed, setup: str,
        model: str, code: int, words: str) -> None:
    if setup == "api_key":
        backed.llm.api_key = "sk-needed"
    elif setup == "context":
        backed.llm.context_chars = 1000
    elif setup == "html":
        backed.llm.fault = "html"
    result = talk(capsys, monkeypatch, backed, "Hello\nSecond line never sent\n", "--endpoint",
                  backed.endpoint_url, "--model", model)
    assert result.code == code, result.err
    assert words in result.err and "hint:" in result.err and "Traceback" not in result.err
    turns = [r for r in backed.sb.state.request_log if r.path == "/v1/chat/completions"]
    assert len(turns) == 1  # stopped at the first failed turn


def test_unreachable_endpoint_exits_4(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                      backed: Backed) -> None:
    result = talk(capsys, monkeypatch, backed, "Hello\n", "--endpoint",
                  f"http://127.0.0.1:{unused_port()}/v1", "--model", "m")
    assert result.code == 4 and "Cannot reach the endpoint" in result.err


def test_unknown_personality_and_bad_url(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                         backed: Backed) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello\n"))
    args = ["--data-dir", str(backed.data_dir), "talk", "nobody", "--endpoint", backed.endpoint_url,
            "--model", "sandbox-echo"]
    result = run_inprocess(capsys, monkeypatch, args)
    assert result.code == 1 and "No backup of 'nobody'" in result.err and "lilith" in result.err
    bad = talk(capsys, monkeypatch, backed, "Hello\n", "--endpoint", "ftp://example.org", "--model", "m")
    assert bad.code == 2 and "http(s) URL" in bad.err
    assert backed.sb.state.request_log == []


def test_api_key_is_kept_in_the_keyring_never_in_the_settings_file(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, backed: Backed,
        memory_keyring: MemoryKeyring) -> None:  # noqa: F811 (the fixture, imported above)
    backed.llm.api_key = "sk-secret-4242"
    stored = talk(capsys, monkeypatch, backed, "sk-secret-4242\n", "--endpoint", backed.endpoint_url,
                  "--model", "sandbox-echo", "--store-api-key")
    assert stored.code == 0 and "keyring" in stored.out and "sk-secret-4242" not in stored.out + stored.err
    assert ("tzbackup", f"talk-api-key {backed.endpoint_url}") in memory_keyring.entries
    settings_text = (backed.data_dir / "talk" / "endpoint.json").read_text("utf-8")
    assert "sk-secret-4242" not in settings_text and json.loads(settings_text)["has_api_key"] is True
    result = talk(capsys, monkeypatch, backed, "Hello\n")
    assert result.code == 0, result.err
    assert result.out.startswith("You said “Hello”")
    for path in (backed.data_dir / "talk").rglob("*"):
        if path.is_file():
            assert b"sk-secret-4242" not in path.read_bytes()


def test_demo_talks_to_the_demo_sandbox_and_saves_no_setting(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, backed: Backed) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello demo\n"))
    result = run_inprocess(capsys, monkeypatch, ["--demo", "--data-dir", str(backed.data_dir), "talk", SLUG])
    assert result.code == 0, result.err
    assert result.out.startswith("You said “Hello demo”") and "sandbox-echo" in result.out
    assert not (backed.data_dir / "talk" / "endpoint.json").exists()
    assert backed.sb.state.request_log == []  # the demo's own sandbox answered, not this one
