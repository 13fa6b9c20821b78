"""Profile versions on real files: deltas, volatile fields, keyframes, damage, version lookup."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.archive.profile_history import (
    KEYFRAME_EVERY,
    PROFILE_HISTORY_DIR,
    VERSIONS_NAME,
    ProfileHistory,
    apply_delta,
    field_changes,
    make_delta,
    parse_when,
    record_profile,
    word_diff,
)
from tzbackup_gui.errors import CorruptBackupError
from tzbackup_gui.sandbox.data import build_profile

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def _profile(seed: int = 1) -> dict[str, Any]:
    return build_profile(random.Random(seed), "sid", "slug", "Name", ["me"], "https://f/a.png", 1.7e9)


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "slug"
    folder.mkdir()
    return folder, folder / "slug.json"


def test_delta_round_trip_exact_with_key_order() -> None:
    old = _profile()
    new = copy.deepcopy(old)
    new["jailbreak"] = new["jailbreak"].replace("Stay in character.", "Stay kind.", 2)
    new["shape_settings"]["status"] = "new status"
    del new["shape_settings"]["nickname"]
    del new["tagline"]
    new["brand_new"] = {"x": [1, 2]}
    new["user_count"] += 40
    del new["message_count"]
    delta = make_delta(new, old)  # rebuilds old from new
    rebuilt = apply_delta(new, delta)
    assert rebuilt == old
    assert json.dumps(rebuilt) == json.dumps(old)  # same key order, nested too
    assert [p for p, _ in delta["text"]] == [["jailbreak"]]  # a word patch, not the whole prompt
    assert len(json.dumps(delta)) < len(old["jailbreak"])
    # later counter-only changes of the base do not matter: the old counters are in the delta
    newer = copy.deepcopy(new)
    newer["user_count"] += 1000
    newer["updated_ts"] = 1.9e9
    assert apply_delta(newer, delta) == old


def test_field_changes_ignore_volatile_and_reach_into_objects() -> None:
    old = _profile()
    new = copy.deepcopy(old)
    new["user_count"] += 1
    new["message_count"] += 5
    new["updated_ts"] += 60
    new["shape_settings"]["knowledge_count"] = 9
    assert not field_changes(old, new)
    new["shape_settings"]["humour"] = 11
    new["extra"] = 1
    del new["banner"]
    changes = field_changes(old, new)
    assert changes.changed == ["shape_settings.humour"]
    assert (changes.added, changes.removed) == (["extra"], ["banner"])


def test_counter_only_changes_make_no_version(tmp_path: Path) -> None:
    folder, path = _setup(tmp_path)
    p = _profile()
    assert record_profile(folder, path, p, now=T0) is None
    for day in range(1, 4):
        p = copy.deepcopy(p)
        p["user_count"] += day
        assert record_profile(folder, path, p, now=T0 + dt.timedelta(days=day)) is None
        assert json.loads(path.read_text("utf-8")) == p  # the current file has the newest counters
    lines = (folder / PROFILE_HISTORY_DIR / VERSIONS_NAME).read_text("utf-8").splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["first"]
    history = ProfileHistory(folder)
    assert len(history.versions) == 1 and history.versions[0].since == "2026-03-01T08:00:00.000000Z"


def test_many_versions_keyframes_and_lookup(tmp_path: Path) -> None:
    folder, path = _setup(tmp_path)
    p = _profile()
    kept = []
    n = KEYFRAME_EVERY + 5
    for day in range(n):
        if day:
            p = copy.deepcopy(p)
            p["personality_likes"] = f"likes, day {day}: " + p["personality_likes"]
            p["user_count"] += 3
        kept.append(copy.deepcopy(p))
        record_profile(folder, path, p, now=T0 + dt.timedelta(days=day))
    history = ProfileHistory(folder)
    assert history.problems == [] and len(history.versions) == n
    stored = [v.stored for v in history.versions]
    assert stored[-1] == "current" and stored.count("file") == 1  # one keyframe in KEYFRAME_EVERY versions
    for number in (1, KEYFRAME_EVERY - 1, KEYFRAME_EVERY, n - 1, n):
        assert history.load(number) == kept[number - 1]
    files = sorted(p.name for p in (folder / PROFILE_HISTORY_DIR).iterdir())
    assert files == sorted([VERSIONS_NAME, history.versions[stored.index("file")].file or ""])
    # lookup: a day means the version current at its end; vN; previous
    assert history.find("2026-03-03") is history.versions[2]
    assert history.find("2026-03-03T07:59") is history.versions[1]
    assert history.find("20260303T080000Z") is history.versions[2]
    assert history.find("1999-01-01") is history.versions[0]
    assert history.find("v4") is history.versions[3] and history.find("previous") is history.versions[-2]
    assert history.find("nonsense") is None and history.find(f"v{n + 1}") is None


def test_damaged_delta_is_detected_not_misread(tmp_path: Path) -> None:
    folder, path = _setup(tmp_path)
    p = _profile()
    record_profile(folder, path, p, now=T0)
    q = copy.deepcopy(p)
    q["description"] = "completely new"
    record_profile(folder, path, q, now=T0 + dt.timedelta(days=1))
    log = folder / PROFILE_HISTORY_DIR / VERSIONS_NAME
    lines = log.read_text("utf-8").splitlines()
    rec = json.loads(lines[1])
    assert "delta" in rec["previous"]
    rec["previous"]["delta"]["set"][0][1] = "tampered"
    log.write_text("\n".join([lines[0], json.dumps(rec)]) + "\n", "utf-8")
    history = ProfileHistory(folder)
    assert history.load(2) == q
    with pytest.raises(CorruptBackupError, match="checksum"):
        history.load(1)


def test_word_diff_and_parse_when() -> None:
    assert word_diff("a quiet cat.", "a loud cat!") == [
        ("equal", "a "), ("delete", "quiet"), ("insert", "loud"), ("equal", " cat"), ("delete", "."),
        ("insert", "!")]
    assert parse_when("2026-05-01", end_of_precision=True) == dt.datetime(2026, 5, 1, 23, 59, 59, 999999,
                                                                         tzinfo=dt.UTC)
    assert parse_when("2026-05-01 12:30:05 UTC") == dt.datetime(2026, 5, 1, 12, 30, 5, tzinfo=dt.UTC)
    assert parse_when("2026-05-01T12:30:05.5Z") == dt.datetime(2026, 5, 1, 12, 30, 5, 500000, tzinfo=dt.UTC)
    assert parse_when("tomorrow") is None and parse_when("2026-13-01") is None


def test_a_rewritten_phrase_is_one_change_not_word_crumbs() -> None:
    old = "Ask me about likes of Lilith: they should try again next week."
    new = "Ask me about rain on the window, old maps, knitting by the fire"
    assert word_diff(old, new) == [
        ("equal", "Ask me about "),
        ("delete", "likes of Lilith: they should try again next week."),
        ("insert", "rain on the window, old maps, knitting by the fire"),
    ]
    # small edits inside a sentence still show alone, and the pieces rebuild both texts exactly
    pieces = word_diff("Stay in character. Speak.", "Stay gently in character. Speak.")
    assert pieces == [("equal", "Stay "), ("insert", "gently "), ("equal", "in character. Speak.")]
    for text, drop in ((old, "insert"), (new, "delete")):
        assert "".join(t for o, t in word_diff(old, new) if o != drop) == text


def test_a_sections_only_run_is_not_summarised_as_zero_memories() -> None:
    from tzbackup_gui.archive.timeline import run_summary

    chat_only = {"status": "ok", "new": 0, "edited": 0, "deletedUpstream": 0,
                 "skipped": ["memories", "knowledge", "training", "personalization", "images"],
                 "sections": {"chat": "failed"}}
    assert run_summary(chat_only) == "ok: profile, chat (memories not chosen) (chat failed)"
    full = {"status": "ok", "new": 3, "edited": 1, "deletedUpstream": 0, "sections": {"chat": "ok"}}
    assert run_summary(full) == "ok: 3 new, 1 edited, 0 deleted upstream memories"
