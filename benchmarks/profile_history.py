"""Disk use of the profile history: 365 daily backups of a ~40 KB profile with small daily edits.

Every day the counters grow (``user_count`` / ``message_count``: never a new version); on most days the
creator also makes a small edit (a word in the system prompt, a sentence added to a personality field, a
setting changed). Each day goes through :func:`record_profile`, exactly as ``write_profile`` does in a
backup. Prints the disk used (bytes and allocated blocks) against keeping 365 full copies, and against one
gzip'd full copy per version; plus the time to record a day and to rebuild the oldest version.

    .venv/bin/python benchmarks/profile_history.py [--days 365] [--edit-every 1]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gzip
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tzbackup_gui.archive.profile_history import (
    PROFILE_HISTORY_DIR,
    ProfileHistory,
    record_profile,
)
from tzbackup_gui.sandbox.data import build_profile

WORDS = [
    "gentle", "curious", "stubborn", "lighthouse", "cardamom", "cello", "rain", "market", "winter", "poem",
    "jazz", "garden", "stars", "tea", "letter", "harbour", "lantern", "orchard", "violin", "compass", "ember",
    "meadow", "glacier", "riddle", "sparrow", "velvet", "thunder", "willow", "copper", "saffron", "quill",
    "nebula", "archive", "tide", "ferry", "marble", "clover", "the", "and", "of", "a", "to", "in", "with",
]


def _prose(rng: random.Random, n_chars: int) -> str:
    """Varied prose (compresses like real text, unlike one sentence repeated)."""
    out: list[str] = []
    size = 0
    while size < n_chars:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))).capitalize() + "."
        out.append(sentence)
        size += len(sentence) + 1
    return " ".join(out)


def big_profile(rng: random.Random) -> dict[str, Any]:
    """A sandbox profile grown to ~40 KB with long prompt and personality texts, as large real ones are."""
    p = build_profile(rng, "bench-id", "bench", "Bench", ["owner"], "https://files.example/a.png", 1.7e9)
    p["jailbreak"] = _prose(rng, 12000)
    p["personality_conversational_examples"] = _prose(rng, 9000)
    p["personality_history"] = _prose(rng, 6000)
    p["description"] = _prose(rng, 2500)
    p["user_prompt"] = _prose(rng, 2500)
    for key in ("personality_traits", "personality_likes", "personality_appearance", "personality_goals"):
        p[key] = _prose(rng, 600)
    return p


def small_edit(rng: random.Random, p: dict[str, Any]) -> None:
    kind = rng.random()
    if kind < 0.5:  # one word of the system prompt
        words = p["jailbreak"].split(" ")
        words[rng.randrange(len(words))] = rng.choice(WORDS)
        p["jailbreak"] = " ".join(words)
    elif kind < 0.8:  # a sentence added to a personality field
        key = rng.choice(["personality_history", "personality_likes", "personality_traits"])
        p[key] += " " + _prose(rng, 60)
    else:  # a setting
        p["engine_temperature"] = round(rng.uniform(0.5, 1.2), 2)
        p["shape_settings"]["status"] = rng.choice(WORDS)


def disk_use(folder: Path) -> tuple[int, int, int]:
    """(bytes, allocated bytes, files) of everything under ``folder``."""
    size = blocks = files = 0
    for root, _, names in os.walk(folder):
        for name in names:
            st = os.stat(Path(root) / name)
            size += st.st_size
            blocks += st.st_blocks * 512
            files += 1
    return size, blocks, files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--edit-every", type=int, default=1,
                        help="edit the profile every N days (else only the counters change)")
    args = parser.parse_args()
    rng = random.Random(7)
    profile = big_profile(rng)
    raw_size = len(json.dumps(profile, ensure_ascii=False, indent=2).encode())
    start = dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.UTC)
    naive_gz = 0
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bench"
        folder.mkdir()
        profile_path = folder / "bench.json"
        versions = 1
        for day in range(args.days):
            if day:
                profile = copy.deepcopy(profile)
                profile["user_count"] += rng.randint(0, 9)
                profile["message_count"] += rng.randint(10, 900)
                if day % args.edit_every == 0 and rng.random() < 0.85:
                    small_edit(rng, profile)
            before = profile_path.read_bytes() if profile_path.exists() else b""
            t0 = time.perf_counter()
            changed = record_profile(folder, profile_path, profile, now=start + dt.timedelta(days=day))
            timings.append(time.perf_counter() - t0)
            if changed:
                versions += 1
                naive_gz += len(gzip.compress(before, mtime=0))
        size, allocated, files = disk_use(folder)
        hist_size, hist_alloc, hist_files = disk_use(folder / PROFILE_HISTORY_DIR)
        t0 = time.perf_counter()
        history = ProfileHistory(folder)
        oldest = history.load(1)
        rebuild = time.perf_counter() - t0
        assert len(history.versions) == versions and not history.problems
        assert isinstance(oldest, dict)
    full = args.days * raw_size
    print(f"profile: {raw_size / 1024:.1f} KB of JSON; {args.days} daily backups; {versions} versions kept "
          f"({args.days - versions} days with counter changes only)")
    print(f"365 full copies would be:       {full / 1e6:8.2f} MB")
    print(f"one gzip'd copy per version:    {naive_gz / 1e6:8.2f} MB  (+ the current file)")
    print(f"history + current, bytes:       {size / 1e6:8.3f} MB  = {100 * size / full:.2f} % of full copies")
    print(f"history + current, on disk:     {allocated / 1e6:8.3f} MB  = {100 * allocated / full:.2f} % "
          f"({files} files)")
    print(f"  of which history/profile:     {hist_size / 1e6:8.3f} MB bytes, "
          f"{hist_alloc / 1e6:.3f} MB on disk, {hist_files} files")
    timings.sort()
    print(f"record_profile per backup:      median {1000 * timings[len(timings) // 2]:.1f} ms, "
          f"max {1000 * timings[-1]:.1f} ms")
    print(f"read history + rebuild oldest:  {1000 * rebuild:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
