"""Helpers for the CLI tests: run ``tzbackup`` in-process or as a real subprocess against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import pytest

from tests.fake_keyring import MemoryKeyring
from tzbackup_gui.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def server_args(sandbox: Any, data_dir: Path, delay: str = "0") -> list[str]:
    return [
        "--base-url",
        sandbox.base_url,
        "--files-base-url",
        sandbox.files_base_url,
        "--data-dir",
        str(data_dir),
        "--delay",
        delay,
        "--retry-delay",
        "0.05",  # backoff between retries: keep fault tests fast
    ]


def run_inprocess(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: Sequence[str],
    env: Mapping[str, str | None] | None = None,
) -> Result:
    """Call ``main(args)`` in this process with ``env`` applied (None removes a variable)."""
    for name in ("TZBACKUP_COOKIE", "TZBACKUP_COOKIE_FILE", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (env or {}).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def subprocess_env(tmp_path: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TZBACKUP_COOKIE", "TZBACKUP_COOKIE_FILE", "CREDENTIALS_DIRECTORY")
    }
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # never a real keyring from tests
    env["HOME"] = str(tmp_path / "home")
    env["XDG_CACHE_HOME"] = str(tmp_path / "home" / ".cache")
    env["XDG_DATA_HOME"] = str(tmp_path / "home" / ".local" / "share")
    env.update(extra or {})
    return env


def cli_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "tzbackup_gui.cli", *args]


def run_subprocess(
    tmp_path: Path,
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    stdin: str | None = None,
    timeout: float = 120,
) -> Result:
    proc = subprocess.run(
        cli_command(args),
        env=subprocess_env(tmp_path, env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def owned_slugs(sandbox: Any) -> list[str]:
    return sorted(slug for slug, p in sandbox.state.personalities.items() if p.owned)


def memory_ids_on_disk(folder: Path) -> list[str]:
    """Every memory id in the folder's memory files (duplicates kept, to catch them)."""
    ids: list[str] = []
    for path in sorted((folder / "memory").glob("*_memory_*.json")):
        ids += [m["id"] for m in json.loads(path.read_text())["memories"]]
    return ids
