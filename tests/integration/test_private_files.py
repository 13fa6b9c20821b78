"""Private by construction, end to end: a whole demo session through the real ``tzbackup`` command, run
under a permissive umask, leaves every file it made 0600 and every folder it made 0700 (issue 14).

Decision tested here: a data dir (or output folder) that existed before keeps its own mode: it is the
user's folder and may hold other things; everything tzbackup puts inside it is private.
"""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from .cli_support import cli_command, subprocess_env


def _tzbackup(tmp_path: Path, umask: int, args: Sequence[str | Path]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cli_command([str(a) for a in args]),
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        umask=umask,
    )
    assert proc.returncode == 0, f"tzbackup {' '.join(map(str, args))}: {proc.returncode}\n{proc.stderr}"
    return proc


def _loose(root: Path, *, skip_root: bool = False) -> list[str]:
    """Everything under ``root`` (``root`` too unless ``skip_root``) that is not 0600 / 0700."""
    found = []
    for path in [root, *root.rglob("*")]:
        if skip_root and path == root:
            continue
        st = path.lstat()
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) != want or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            found.append(f"{oct(stat.S_IMODE(st.st_mode))} {path.relative_to(root.parent)}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    ("umask", "data_dir_existed"), [(0o000, False), (0o022, True)], ids=["umask000-new", "umask022-existing"]
)
def test_a_whole_demo_session_leaves_only_private_files(
    tmp_path: Path, umask: int, data_dir_existed: bool
) -> None:
    data, outputs = tmp_path / "data", tmp_path / "exports"
    logs = tmp_path / "logs" / "tzbackup"  # made by --log-file
    outputs.mkdir()
    outputs.chmod(0o755)  # the user's folder
    if data_dir_existed:
        data.mkdir()
        data.chmod(0o755)
    log = ["--log-file", logs / "run.log", "-v"]
    demo = ["--demo", "--data-dir", data, *log]
    offline = ["--data-dir", data, *log]

    _tzbackup(tmp_path, umask, [*demo, "backup", "--all", "--delay", "0"])
    _tzbackup(tmp_path, umask, [*demo, "backup", "--all", "--delay", "0"])  # journals, history appends
    _tzbackup(tmp_path, umask, [*offline, "search", "umbrella"])
    _tzbackup(tmp_path, umask, [*offline, "status"])
    _tzbackup(tmp_path, umask, [*offline, "verify", "--all"])
    _tzbackup(tmp_path, umask, [*offline, "history", "lilith"])
    _tzbackup(tmp_path, umask, [*offline, "show", "lilith"])
    for fmt in ("zip", "markdown", "card"):
        _tzbackup(tmp_path, umask, [*offline, "export", "lilith", "--format", fmt, "-o", outputs])
    zips = sorted(outputs.glob("*.zip"))
    assert len(zips) == 1
    _tzbackup(tmp_path, umask, ["--data-dir", tmp_path / "imported", *log, "import", zips[0]])
    _tzbackup(tmp_path, umask, [*offline, "verify", zips[0]])

    assert (data / ".tzbackup-index.sqlite3").is_file(), "the search made no index"
    assert (logs / "run.log").stat().st_size > 0
    exported = sorted(p.name for p in outputs.iterdir())
    assert len(exported) >= 4, exported  # zip, .md, card .json + .png
    problems = (
        _loose(data, skip_root=data_dir_existed)
        + _loose(tmp_path / "imported")
        + _loose(tmp_path / "logs")
        + _loose(outputs, skip_root=True)
        + (_loose(tmp_path / "home") if (tmp_path / "home").exists() else [])  # caches tzbackup made
    )
    assert problems == []
    if data_dir_existed:
        assert stat.S_IMODE(data.stat().st_mode) == 0o755  # the user's folder is left as it was
