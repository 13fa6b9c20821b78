"""``tzbackup --version``, ``--help`` and the offline commands start without httpx and asyncio.

Those two cost about a third of a second at start-up (issue 16) and only the commands that talk to the service
need them. One child process makes a demo backup (images and chat included, so ``status`` and ``verify`` run
every check); another runs each offline command in turn through ``main`` and reports what ``sys.modules``
holds after each, so the first command that pulls them in is named.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_support import subprocess_env

HEAVY = ("httpx", "asyncio")
OFFLINE_RUNS: list[list[str]] = [
    ["--version"],
    ["--help"],
    ["status"],
    ["status", "--json"],
    ["verify", "captain-nemo"],
    ["search", "the", "--limit", "3"],
    ["show", "captain-nemo"],
    ["export", "captain-nemo", "--format", "card", "--output", "{tmp}/card.png"],
    ["export", "captain-nemo", "--format", "markdown", "--output", "{tmp}/memories.md"],
    ["history", "captain-nemo"],
    ["diff", "captain-nemo"],
]

PROBE = r"""
import contextlib, io, json, sys
from tzbackup_gui.cli import main
data_dir, runs = sys.argv[1], json.loads(sys.argv[2])
heavy = ("httpx", "asyncio")
report = []
for args in runs:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["--data-dir", data_dir, *args])
    report.append({"args": args, "code": code, "loaded": [m for m in heavy if m in sys.modules],
                   "output": out.getvalue()[-500:]})
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def demo_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("startup")
    data_dir = tmp / "data"
    proc = subprocess.run(
        [sys.executable, "-m", "tzbackup_gui.cli", "--demo", "--data-dir", str(data_dir), "--quiet",
         "backup", "captain-nemo", "--delay", "0.01"],
        env=subprocess_env(tmp), capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = data_dir / "personalities" / "captain-nemo"
    assert (folder / "avatar.png").is_file() and (folder / "chat").is_dir()  # every check of verify runs
    return data_dir


def test_offline_commands_import_neither_httpx_nor_asyncio(demo_backup: Path, tmp_path: Path) -> None:
    runs = [[arg.replace("{tmp}", str(tmp_path)) for arg in args] for args in OFFLINE_RUNS]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(demo_backup), json.dumps(runs)],
        env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    for entry in report:
        assert entry["code"] == 0, entry
        assert entry["loaded"] == [], f"tzbackup {' '.join(entry['args'])} imported {entry['loaded']}"
    assert (tmp_path / "card.png").is_file() and (tmp_path / "memories.md").is_file()


def test_version_under_importtime_loads_neither(tmp_path: Path) -> None:
    """The check the issue names: ``python -X importtime -m tzbackup_gui.cli --version``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tzbackup_gui.cli", "--version"],
        env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("tzbackup ")
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert imported and not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_a_network_command_still_gets_its_client(demo_backup: Path, tmp_path: Path) -> None:
    """``verify --online`` is the one offline command that asks the service: it starts a loop for that."""
    proc = subprocess.run(
        [sys.executable, "-m", "tzbackup_gui.cli", "--demo", "--data-dir", str(demo_backup), "verify",
         "captain-nemo", "--online", "--json"],
        env=subprocess_env(tmp_path), capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
