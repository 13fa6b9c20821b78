"""No input a user can type makes ``tzbackup`` say "unexpected ... please report it" (issue 14).

A table of bad inputs (dates, option values, hostile and weird names, missing paths, files given for folders,
missing and corrupt zips, ``--output`` into a missing folder, unusable data dirs) is driven through the real
CLI entry point; each one must end with a plain message that names the problem and the exit code the README
documents: 1 for "that thing is not there / has problems", 2 for a bad value typed on the command line (a
path that does not exist included), 4 for a data dir or output folder that cannot be written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.engine_support import Runner
from tzbackup_gui.sandbox import SandboxServer

from .cli_support import MemoryKeyring, Result, cli_command, memory_keyring, run_inprocess, subprocess_env

__all__ = ["memory_keyring"]

SLUG = "dr.ada.lovelace"
BUG_WORDS = ("unexpected", "please report", "Traceback")


@pytest.fixture(autouse=True)
def _isolated_keyring(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    return memory_keyring


@dataclass(frozen=True)
class World:
    """Paths the table's placeholders stand for."""

    data: Path  # a data dir with one real backup of SLUG
    file: Path  # a regular file
    missing: Path  # a path that does not exist
    bad_zip: Path  # a file called .zip that is not a zip
    empty_zip: Path  # a zero-byte .zip
    no_manifest: Path  # a real zip without manifest.json
    good_zip: Path  # an export of SLUG
    out: Path  # an existing, empty folder for outputs

    def fill(self, arg: str) -> str:
        return arg.format(
            data=self.data, file=self.file, missing=self.missing, bad_zip=self.bad_zip,
            empty_zip=self.empty_zip, no_manifest=self.no_manifest, good_zip=self.good_zip, out=self.out,
            slug=SLUG,
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("bad-inputs")
    with SandboxServer(port=0, seed=1) as sandbox:
        assert Runner(sandbox, base / "data").run([SLUG]).exit_code == 0
    (base / "a-file").write_text("not a folder\n")
    (base / "bad.zip").write_text("this is not a zip file\n")
    (base / "empty.zip").write_bytes(b"")
    with zipfile.ZipFile(base / "no-manifest.zip", "w") as zf:
        zf.writestr("hello.txt", "hi")
    from tzbackup_gui.archive.export import export_zip

    export_zip(base / "data" / "personalities" / SLUG, base / "good.zip")
    (base / "out").mkdir()
    yield World(data=base / "data", file=base / "a-file", missing=base / "no-such-dir",
                bad_zip=base / "bad.zip", empty_zip=base / "empty.zip", no_manifest=base / "no-manifest.zip",
                good_zip=base / "good.zip", out=base / "out")


# (id, arguments with placeholders, exit code, words the error output must hold)
CASES: list[tuple[str, tuple[str, ...], int, tuple[str, ...]]] = [
    # dates and other option values: usage errors naming the option
    ("since-month-13", ("search", "memory", "--since", "2025-13-01"), 2, ("--since", "2025-13-01")),
    ("since-yesterday", ("search", "memory", "--since", "yesterday"), 2, ("--since", "YYYY-MM-DD")),
    ("until-feb-30", ("search", "memory", "--until", "2025-02-30"), 2, ("--until",)),
    ("until-before-since", ("search", "memory", "--since", "2025-05-02", "--until", "2025-05-01"), 2,
     ("--until", "--since")),
    ("limit-zero", ("search", "memory", "--limit", "0"), 2, ("--limit",)),
    ("limit-negative", ("search", "memory", "--limit", "-3"), 2, ("--limit",)),
    ("limit-word", ("search", "memory", "--limit", "many"), 2, ("--limit",)),
    ("history-version", ("history", "{slug}", "--version", "v99"), 2, ("--version", "v99")),
    ("diff-from-date", ("diff", "{slug}", "--from", "2025-13-01"), 2, ("--from",)),
    ("diff-to-word", ("diff", "{slug}", "--to", "someday"), 2, ("--to",)),
    ("memory-empty", ("show", "{slug}", "--memory", ""), 2, ("--memory",)),
    ("delay-infinite", ("--delay", "inf", "status"), 2, ("--delay",)),
    ("delay-nan", ("--delay", "nan", "status"), 2, ("--delay",)),
    ("retry-delay-infinite", ("--retry-delay", "inf", "status"), 2, ("--retry-delay",)),
    ("reconcile-nan", ("backup", "x", "--reconcile-days", "nan"), 2, ("--reconcile-days",)),
    ("reconcile-negative", ("backup", "x", "--reconcile-days", "-1"), 2, ("--reconcile-days",)),
    ("sections-unknown", ("backup", "x", "--sections", "photos"), 2, ("--sections", "photos")),
    ("format-unknown", ("export", "{slug}", "--format", "pdf"), 2, ("--format",)),
    ("base-url-ftp", ("whoami", "--base-url", "ftp://example.com"), 2, ("--base-url",)),
    ("sandbox-port-high", ("sandbox", "--port", "70000"), 2, ("--port",)),
    ("sandbox-port-negative", ("sandbox", "--port", "-1"), 2, ("--port",)),
    # names: plain "no local backup named ..." (exit 1), or a usage error for an empty one
    ("show-dotdot", ("show", "../x"), 1, ("no local backup named '../x'",)),
    ("export-dotdot", ("export", "../x", "--output", "{out}"), 1, ("no local backup named '../x'",)),
    ("history-abs", ("history", "/etc/passwd"), 1, ("no local backup named '/etc/passwd'",)),
    ("diff-dot", ("diff", "."), 1, ("no local backup named '.'",)),
    ("status-dotdot", ("status", ".."), 1, ("no local backup named '..'",)),
    ("verify-dotdot", ("verify", "../{slug}"), 1, ("no local backup named '../{slug}'",)),
    ("search-name-dotdot", ("search", "memory", "--name", "../x"), 1, ("no local backup named '../x'",)),
    ("show-long", ("show", "x" * 300), 1, ("no local backup named",)),
    ("show-rtl", ("show", "\u202egnp.exe"), 1, ("no local backup named",)),
    ("show-tab", ("show", "a\tb"), 1, ("no local backup named",)),
    ("show-cjk", ("show", "名前"), 1, ("no local backup named '名前'",)),
    ("show-empty", ("show", ""), 2, ("name",)),
    ("export-blank", ("export", "  "), 2, ("name",)),
    ("backup-empty", ("backup", ""), 2, ("name",)),
    # data dirs that do not exist or are files: readers exit 2
    ("status-missing-dir", ("status", "--data-dir", "{missing}"), 2, ("no such data dir: {missing}",)),
    ("status-file-dir", ("status", "--data-dir", "{file}"), 2, ("no such data dir: {file}",)),
    ("verify-all-missing-dir", ("verify", "--all", "--data-dir", "{missing}"), 2, ("no such data dir",)),
    ("verify-all-file-dir", ("verify", "--all", "--data-dir", "{file}"), 2, ("no such data dir",)),
    ("search-missing-dir", ("search", "x", "--data-dir", "{missing}"), 2, ("no such data dir",)),
    ("show-file-dir", ("show", "{slug}", "--data-dir", "{file}"), 2, ("no such data dir",)),
    ("export-missing-dir", ("export", "{slug}", "--data-dir", "{missing}"), 2, ("no such data dir",)),
    ("history-missing-dir", ("history", "{slug}", "--data-dir", "{missing}"), 2, ("no such data dir",)),
    ("diff-file-dir", ("diff", "{slug}", "--data-dir", "{file}"), 2, ("no such data dir",)),
    # data dirs that cannot be written: writers exit 4
    ("backup-under-file", ("backup", "x", "--data-dir", "{file}/sub"), 4, ("cannot write to {file}/sub",)),
    ("backup-file-dir", ("backup", "x", "--data-dir", "{file}"), 4, ("cannot write to {file}",)),
    ("backup-uncreatable", ("backup", "x", "--data-dir", "/proc/tzbackup-no/data"), 4,
     ("cannot write to /proc/tzbackup-no/data",)),
    ("import-under-file", ("import", "{good_zip}", "--data-dir", "{file}/sub"), 4, ("cannot write to",)),
    # --output: never creates a folder, says which one is missing
    ("output-missing-folder", ("export", "{slug}", "--output", "{missing}/x.zip"), 2,
     ("no such folder: {missing}", "--output")),
    ("output-missing-folder-slash", ("export", "{slug}", "--output", "{missing}/"), 2,
     ("no such folder: {missing}",)),
    ("output-under-file", ("export", "{slug}", "--output", "{file}/x.zip"), 2, ("no such folder: {file}",)),
    ("card-output-missing", ("export", "{slug}", "--format", "card", "--output", "{missing}/c.png"), 2,
     ("no such folder",)),
    ("md-output-missing", ("export", "{slug}", "--format", "markdown", "--output", "{missing}/a/b.md"), 2,
     ("no such folder",)),
    # zips: missing is a usage error; corrupt ones are problems (verify never speaks of importing)
    ("verify-missing-zip", ("verify", "nosuch.zip"), 2, ("no such file: nosuch.zip",)),
    ("verify-bad-zip", ("verify", "{bad_zip}"), 1, ("bad.zip", "not a readable zip file")),
    ("verify-empty-zip", ("verify", "{empty_zip}"), 1, ("empty.zip",)),
    ("verify-no-manifest", ("verify", "{no_manifest}"), 1, ("manifest.json",)),
    ("import-missing-zip", ("import", "nosuch.zip"), 2, ("no such file: nosuch.zip",)),
    ("import-folder", ("import", "{out}"), 2, ("not a file: {out}",)),
    ("import-bad-zip", ("import", "{bad_zip}"), 1, ("not a readable zip file", "Nothing was imported")),
    ("import-no-manifest", ("import", "{no_manifest}"), 1, ("manifest.json", "Nothing was imported")),
    # a log file under a file, or a folder given as the log file
    ("log-file-under-file", ("--log-file", "{file}/log.txt", "status"), 4,
     ("cannot write to {file}/log.txt", "is a file, not a folder")),
    ("log-file-is-folder", ("--log-file", "{out}", "status"), 2, ("--log-file", "{out}")),
]


@pytest.mark.parametrize(("args", "code", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_plain_message_and_the_documented_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, world: World,
    args: tuple[str, ...], code: int, says: tuple[str, ...],
) -> None:
    argv = [world.fill(a) for a in args]
    if "--data-dir" not in argv:
        argv += ["--data-dir", str(world.data)]
    monkeypatch.chdir(world.out)
    result = run_inprocess(capsys, monkeypatch, argv)
    _assert_plain(result, code, [world.fill(w) for w in says])
    assert not world.missing.exists(), "a bad input created a folder"
    if args[0] == "verify":
        assert "import" not in result.err.lower() and "import" not in result.out.lower()


def _assert_plain(result: Result, code: int, says: list[str]) -> None:
    text = result.out + result.err
    assert result.code == code, text
    for word in BUG_WORDS:
        assert word not in text, text
    for word in says:
        assert word in text, text


# --- a read-only data dir (root ignores permissions: a read-only bind mount in a user namespace) -----------


def _read_only_runner(folder: Path) -> list[str] | None:
    """A command prefix under which ``folder`` is read-only, or None when this machine cannot make one."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && shift && exec "$@"'
    prefix = [unshare, "-rm", "sh", "-c", script, str(folder), "--"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return prefix if probe.returncode == 0 else None


@pytest.mark.parametrize("where", ["data dir", "personalities folder"])
def test_backup_into_a_read_only_data_dir_exits_4_with_cannot_write(
    tmp_path: Path, sandbox: SandboxServer, where: str
) -> None:
    data = tmp_path / "data"
    (data / "personalities").mkdir(parents=True)
    target = data if where == "data dir" else data / "personalities"
    prefix = _read_only_runner(target)
    if prefix is None:
        pytest.skip("cannot make a read-only folder here (root without user namespaces)")
    try:
        args = ["backup", SLUG, "--base-url", sandbox.base_url, "--files-base-url", sandbox.files_base_url,
                "--data-dir", str(data), "--delay", "0"]
        proc = subprocess.run([*prefix, *cli_command(args)], capture_output=True, text=True, timeout=120,
                              env=subprocess_env(tmp_path, {"TZBACKUP_COOKIE": sandbox.cookie}), cwd=tmp_path)
    finally:
        target.chmod(0o700)
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    _assert_plain(result, 4, [f"cannot write to {target}"])
    assert sandbox.state.count("/api/memory/") == 0  # refused before any request for memories


def _run_read_only(prefix: list[str], tmp_path: Path, args: list[str]) -> Result:
    proc = subprocess.run([*prefix, *cli_command(args)], capture_output=True, text=True, timeout=120,
                          env=subprocess_env(tmp_path), cwd=tmp_path)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_a_read_only_data_dir_can_still_be_read_and_exported(tmp_path: Path, sandbox: SandboxServer) -> None:
    """Backups on read-only media (a mounted archive disk): the readers work; an output that cannot be
    written is exit 4 with "cannot write to"."""
    data = tmp_path / "data"
    assert Runner(sandbox, data).run([SLUG]).exit_code == 0
    out = tmp_path / "out"
    out.mkdir()
    prefix = _read_only_runner(data)
    if prefix is None:
        pytest.skip("cannot make a read-only folder here (root without user namespaces)")
    try:
        for args in (["status"], ["verify", "--all"], ["search", "the"], ["show", SLUG], ["history", SLUG],
                     ["export", SLUG, "--format", "markdown", "--output", str(out)]):
            result = _run_read_only(prefix, tmp_path, [*args, "--data-dir", str(data)])
            _assert_plain(result, 0, [])
        into = data / "personalities"  # read-only too
        args = ["export", SLUG, "--output", f"{into}/", "--data-dir", str(data)]
        result = _run_read_only(prefix, tmp_path, args)
        _assert_plain(result, 4, [f"cannot write to {into}"])
    finally:
        data.chmod(0o700)
    assert (out / f"{SLUG}.md").is_file()
