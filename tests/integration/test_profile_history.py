"""Profile versions against the real sandbox over loopback: backups between which the profile changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive.export import export_card, export_markdown, export_profile_json
from tzbackup_gui.archive.profile_history import (
    PROFILE_HISTORY_DIR,
    VERSIONS_NAME,
    ProfileHistory,
    unified_profile_diff,
)
from tzbackup_gui.archive.timeline import build_timeline
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.sandbox.state import RequestRecord

from ..clock_support import shifted_clock
from .cli_support import run_inprocess, server_args
from .engine_support import Runner, sandbox

__all__ = ["sandbox"]

SLUG = "evolving"
OLD_PHRASE = "Stay in character."
NEW_PHRASE = "Stay gently in character, and answer in rhyme."


def _records(folder: Path) -> list[dict[str, Any]]:
    path = folder / PROFILE_HISTORY_DIR / VERSIONS_NAME
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _kept_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / PROFILE_HISTORY_DIR).iterdir() if p.name != VERSIONS_NAME)


def _counters_tick(sandbox: SandboxServer) -> None:
    """Every profile fetch sees grown counters, as on the real service."""

    def hook(record: RequestRecord) -> None:
        if record.path.startswith("/api/shapes/username/"):
            sandbox.state.tick_profile(SLUG)

    sandbox.state.hooks.append(hook)


@pytest.fixture
def evolved(sandbox: SandboxServer, tmp_path: Path) -> tuple[Runner, Path, list[dict[str, Any]]]:
    """Four backups: first; counters only; a long prompt edited + a field added + one removed; counters only.
    Returns the runner, the folder and the profiles the service served at each backup."""
    sandbox.state.add_personality(SLUG, "Evolving One", memories=30, story=3)
    _counters_tick(sandbox)
    runner = Runner(sandbox, tmp_path)
    served: list[dict[str, Any]] = []
    with shifted_clock() as clock:
        for step in range(4):
            if step in (2, 3):
                # run records have whole seconds: keep the run that changed the profile in a second of its
                # own, so the timeline can tell which run made the change (the clock moves; nothing sleeps)
                clock.advance()
            if step == 2:
                profile = sandbox.state.personalities[SLUG].profile
                assert OLD_PHRASE in profile["jailbreak"] and len(profile["jailbreak"]) > 500
                sandbox.state.edit_profile(
                    SLUG,
                    {"jailbreak": profile["jailbreak"].replace(OLD_PHRASE, NEW_PHRASE, 1),
                     "voice_accent": "soft Scottish"},
                    remove=["tagline"],
                )
                sandbox.state.add_memories(SLUG, 3)
            report = runner.run([SLUG])
            assert report.exit_code == 0, report.results
            served.append(json.loads(json.dumps(sandbox.state.personalities[SLUG].profile)))
    return runner, runner.folder(SLUG), served


def test_versions_and_change_records(evolved: tuple[Runner, Path, list[dict[str, Any]]]) -> None:
    runner, folder, served = evolved
    # <name>.json is the current version, counters included
    assert json.loads((folder / f"{folder.name}.json").read_text("utf-8")) == served[-1]
    assert served[1]["message_count"] != served[0]["message_count"]  # the counters really moved
    records = _records(folder)
    assert [r["kind"] for r in records] == ["first", "changed"]  # nothing for the counter-only backups
    change = records[1]
    assert change["changed"] == ["jailbreak"]
    assert change["added"] == ["voice_accent"]
    assert change["removed"] == ["tagline"]
    history = ProfileHistory(folder)
    assert history.problems == []
    assert [v.number for v in history.versions] == [1, 2]
    # version 1 is the profile as the second backup saw it (the last one before the edit), exactly
    assert history.load(1) == served[1]
    assert list(history.load(1)) == list(served[1])  # key order kept too
    assert history.load(2) == served[3]
    # the change happened during the third run, and the timeline says so under that run
    runs = runner.metadata(SLUG)["runs"]
    assert len(runs) == 4
    assert runs[2]["started"] <= history.versions[1].since[:19] + "Z" <= runs[2]["finished"]
    # the run that saw the change records it; counter-only runs record none
    assert runs[2]["profileChanges"] == {
        "added": ["voice_accent"], "removed": ["tagline"], "changed": ["jailbreak"],
    }
    assert [("profileChanges" in r) for r in runs] == [False, False, True, False]
    timeline = build_timeline(folder)
    run_entries = [e for e in timeline.entries if e.kind == "run"]
    assert len(run_entries) == 4 and len(timeline.entries) == 4
    newest_first_versions = [e.version for e in run_entries]
    assert newest_first_versions == [None, 2, None, 1]
    third = run_entries[1]
    assert third.run is not None and third.run["new"] == 3
    assert "3 new" in third.title
    assert third.details == ["profile v2: changed jailbreak; added voice_accent; removed tagline"]


def test_diff_shows_the_edited_words(evolved: tuple[Runner, Path, list[dict[str, Any]]]) -> None:
    _, folder, _ = evolved
    history = ProfileHistory(folder)
    text = unified_profile_diff(history.load(1), history.load(2), "v1", "v2")
    assert f"-{OLD_PHRASE}" in text.splitlines()
    assert f"+{NEW_PHRASE}" in text.splitlines()
    # the word-level marks name exactly the edited words, with a little context
    lines = text.splitlines()
    mood = evolved[2][1]["jailbreak"].split(",")[1].split()[1]  # "You are X, a <mood> companion. ..."
    assert f"~ …a {mood} companion. Stay {{+gently+}} in character…" in lines
    assert "~ …in character{+, and answer in rhyme+}. Speak naturally, remember…" in lines
    assert "+++ voice_accent (v2)" in text and "--- tagline (v1)" in text
    assert "message_count" not in text and "user_count" not in text


def test_cli_history_and_diff(
    evolved: tuple[Runner, Path, list[dict[str, Any]]],
    sandbox: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner, folder, served = evolved
    base = server_args(sandbox, runner.data_dir)
    res = run_inprocess(capsys, monkeypatch, ["history", SLUG, *base])
    assert res.code == 0, res.err
    assert "2 profile versions kept" in res.out
    assert "profile v2: changed jailbreak; added voice_accent; removed tagline" in res.out
    assert res.out.count("Backup ok") == 4
    res = run_inprocess(capsys, monkeypatch, ["history", SLUG, "--json", *base])
    data = res.json()
    assert res.code == 0 and [v["version"] for v in data["versions"]] == [1, 2]
    assert data["versions"][1]["changes"]["changed"] == ["jailbreak"]
    res = run_inprocess(capsys, monkeypatch, ["diff", SLUG, *base])  # default: previous -> current
    assert res.code == 0, res.err
    assert f"-{OLD_PHRASE}" in res.out and f"+{NEW_PHRASE}" in res.out and "{+gently+}" in res.out
    # --from a time: the version current then (v1 was current until the third run)
    since_v2 = ProfileHistory(folder).versions[1].since
    assert since_v2 is not None
    res = run_inprocess(capsys, monkeypatch, ["diff", SLUG, "--from", "v2", "--to", "current", *base])
    assert res.code == 0 and res.out.startswith("--from and --to both name v2")
    res = run_inprocess(capsys, monkeypatch, ["diff", SLUG, "--from", "2000-01-01", "--to", since_v2, *base])
    assert res.code == 0 and "{+gently+}" in res.out
    assert "nothing was backed up yet then; using the oldest kept version, v1" in res.err
    res = run_inprocess(capsys, monkeypatch, ["history", SLUG, "--version", "v1", *base])
    assert res.code == 0 and res.json() == served[1]
    res = run_inprocess(capsys, monkeypatch, ["diff", SLUG, "--from", "yesterday-ish", *base])
    assert res.code == 2 and "names no kept profile version" in res.err
    res = run_inprocess(capsys, monkeypatch, ["diff", "nobody", *base])
    assert res.code == 1 and "no local backup" in res.err


def test_earlier_version_exports(evolved: tuple[Runner, Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    _, folder, served = evolved
    old = ProfileHistory(folder).load(1)
    export_profile_json(folder, tmp_path / "v1.json", old)
    assert json.loads((tmp_path / "v1.json").read_text("utf-8")) == served[1]
    export_markdown(folder, tmp_path / "v1.md", profile=old, as_of="v1")
    md = (tmp_path / "v1.md").read_text("utf-8")
    assert OLD_PHRASE in md and NEW_PHRASE not in md and "## Memories" not in md
    assert served[1]["tagline"] in md
    cards: list[dict[str, Any]] = []
    export_card(folder, tmp_path / "v1.card.json", tmp_path / "v1.card.png", profile=old,
                on_card=cards.append)
    card = json.loads((tmp_path / "v1.card.json").read_text("utf-8"))
    assert cards == [card]
    assert OLD_PHRASE in card["data"]["system_prompt"] and "character_book" not in card["data"]
    assert (tmp_path / "v1.card.png").read_bytes().startswith(b"\x89PNG")


def test_interrupted_save_is_skipped(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A crash after the change record but before <name>.json was replaced: the record never landed, the
    next backup records the change again, and readers see exactly two versions."""
    sandbox.state.add_personality(SLUG, memories=5)
    runner = Runner(sandbox, tmp_path)
    assert runner.run([SLUG]).exit_code == 0
    folder = runner.folder(SLUG)
    profile_file = folder / f"{folder.name}.json"
    before = profile_file.read_bytes()
    sandbox.state.edit_profile(SLUG, {"description": "A brand new description."})
    assert runner.run([SLUG]).exit_code == 0
    profile_file.write_bytes(before)  # as if the crash came just before the replace
    assert runner.run([SLUG]).exit_code == 0
    assert [r["kind"] for r in _records(folder)] == ["first", "changed", "changed"]
    history = ProfileHistory(folder)
    assert history.problems == [] and len(history.versions) == 2
    assert history.load(1) == json.loads(before)
    assert history.load(2)["description"] == "A brand new description."



def test_verify_checks_every_kept_profile_version(evolved: tuple[Runner, Path, list[dict[str, Any]]]) -> None:
    from tzbackup_gui.archive.verify import verify_backup

    _, folder, _ = evolved
    assert verify_backup(folder).problems == []
    path = folder / PROFILE_HISTORY_DIR / VERSIONS_NAME
    records = _records(folder)
    records[1]["previous"]["hash"] = "0" * 64  # the stored delta no longer rebuilds the recorded version
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    problems = verify_backup(folder).problems
    expected = "Profile version 1 was rebuilt but does not match its checksum"
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("name", ["../../../../../../../../dev/zero", "bomb.json.gz"])
def test_a_crafted_kept_version_is_refused_without_reading_it_whole(
    evolved: tuple[Runner, Path, list[dict[str, Any]]], name: str
) -> None:
    """versions.jsonl may come from an imported archive: a path out of the folder or a gzip bomb is damage,
    reported plainly, never followed or inflated into memory."""
    import gzip

    from tzbackup_gui.archive.profile_history import MAX_KEPT_BYTES
    from tzbackup_gui.archive.verify import verify_backup

    _, folder, _ = evolved
    history_path = folder / PROFILE_HISTORY_DIR
    if name.endswith(".gz"):  # 40 MB of spaces in ~40 KB: well over the cap once inflated
        (history_path / name).write_bytes(gzip.compress(b" " * (MAX_KEPT_BYTES + 24 * 2**20), 9))
    records = _records(folder)
    previous = records[1]["previous"]
    previous.pop("delta", None)
    previous["file"] = name
    (history_path / VERSIONS_NAME).write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    problems = verify_backup(folder).problems
    expected = "is not a file in history/profile" if name.startswith("..") else "is larger than 16 MB"
    assert any(expected in p for p in problems), problems


def test_history_names_the_personality_not_its_safe_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    runner = Runner(sandbox, tmp_path)
    assert runner.run(["zoë-✨"]).exit_code == 0
    folders = [p.name for p in (runner.data_dir / "personalities").iterdir()]
    assert len(folders) == 1 and folders[0] != "zoë-✨"  # the folder's safe name differs from the username
    res = run_inprocess(capsys, monkeypatch, ["history", "zoë-✨", *server_args(sandbox, runner.data_dir)])
    assert res.code == 0, res.err
    assert res.out.startswith("zoë-✨: 1 profile version kept"), res.out
