"""HiDPI and small screens, on the real window in a fresh Qt (QT_SCALE_FACTOR is read once, at start): the
avatars are drawn at the device pixel ratio (never a 1x picture blown up), and at 800×600 (and 560×400 with
the log open) the table fits without sideways scrolling and keeps its rows while the log gives way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tzbackup_gui.ui.avatars import AVATAR_SIZE

ROOT = Path(__file__).resolve().parents[2]


def probe(scale: float, width: int, height: int, *, log: bool = False) -> dict[str, Any]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": f"{scale:g}"}
    args = [sys.executable, "-m", "tests.ui.hidpi_probe", str(width), str(height)]
    if log:
        args.append("--log")
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("PROBE ")), None)
    assert done.returncode == 0 and line is not None, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(line[len("PROBE "):])
    return result


@pytest.mark.parametrize("scale", [1.5, 2.0])
def test_hidpi_avatars_and_an_800_by_600_window(scale: float) -> None:
    seen = probe(scale, 800, 600)
    assert seen["app_ratio"] == scale
    for kind in ("initials", "avatar"):  # the placeholder disc and a downloaded picture
        icon = seen["icon"][kind]
        assert icon["dpr"] == scale and icon["pixels"] == round(AVATAR_SIZE * scale), (kind, icon)
    assert seen["window"] == [800, 600] and seen["minimum"][0] <= 800
    assert not seen["hscroll"]
    assert all(width >= 36 for width in seen["columns"]) and sum(seen["columns"]) <= seen["viewport"]
    assert seen["columns"][-1] >= 200  # the status has room for its sentence
    width, shown = seen["data_dir_label"]
    assert shown and width > 100  # the status bar still says where the backups go


@pytest.mark.parametrize("scale", [1.5, 2.0])
def test_a_small_window_keeps_its_rows_and_the_log_gives_way(scale: float) -> None:
    seen = probe(scale, 560, 400, log=True)
    assert seen["window"] == [560, 400]  # not held wider by a long label or fixed columns
    assert not seen["hscroll"]
    assert seen["rows_shown"] >= 3  # was 2.6, under a log that kept its height
    assert 0 < seen["log"] <= seen["splitter"] // 3 + 1
