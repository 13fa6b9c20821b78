"""The browser on small and scaled screens (issue 15): it opens inside the screen, shows every control of the
tab in front without clipping or a sideways scrollbar, draws the avatar at the device pixel ratio, and comes
back where it was left, shrunk to fit when the screen got smaller.

Each case is a fresh process (the screen size and QT_SCALE_FACTOR are fixed when Qt starts), on the offscreen
platform with a screen of the given size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .browser_support import make_archive

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_archive(tmp_path_factory.mktemp("geometry") / "data")


def probe(tmp_path: Path, data_dir: Path, screen: tuple[int, int], scale: float, settings: Path,
          *extra: str) -> dict[str, Any]:
    config = tmp_path / f"screen-{screen[0]}x{screen[1]}.json"
    config.write_text(json.dumps({"screens": [{"name": "laptop", "x": 0, "y": 0, "width": screen[0],
                                               "height": screen[1], "logicalDpi": 96, "logicalBaseDpi": 96,
                                               "dpr": 1}]}), "utf-8")
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}", QT_SCALE_FACTOR=str(scale),
               HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, "-m", "tests.ui.browser_geometry_probe", str(data_dir), str(settings), *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def inside(outer: list[int], inner: list[int]) -> bool:
    ox, oy, ow, oh = outer
    ix, iy, iw, ih = inner
    return ox <= ix and oy <= iy and ix + iw <= ox + ow and iy + ih <= oy + oh


@pytest.mark.parametrize(
    ("screen", "scale"),
    [((800, 600), 1.0), ((1366, 768), 1.0), ((1366, 768), 1.5), ((1366, 768), 2.0), ((1920, 1080), 2.0)],
)
def test_fits_small_and_scaled_screens(
    tmp_path: Path, data_dir: Path, screen: tuple[int, int], scale: float
) -> None:
    seen = probe(tmp_path, data_dir, screen, scale, tmp_path / "settings.ini")
    assert seen["ratio"] == scale
    assert inside(seen["area"], seen["frame"]), seen  # never past the screen's edge (a 768-pixel laptop...)
    assert seen["minimum"][0] <= seen["area"][2] and seen["minimum"][1] <= seen["area"][3], seen
    if screen == (1366, 768) and scale == 1.0:
        assert seen["size"][0] == 1200 and seen["size"][1] < 768 - 40  # room for a panel and a title bar
    assert seen["memory_tools_inside"] and seen["search_tools_inside"], seen  # nothing clipped
    assert not seen["memory_table_hscroll"] and not seen["results_hscroll"], seen  # no sideways scrolling
    # a 1366×768 laptop at 200 % leaves 683×384 pixels: still a few rows (the splitter gives more)
    assert seen["memory_rows_visible"] >= (2 if seen["area"][3] < 400 else 5), seen
    assert seen["list_width"] >= 100, seen
    side = round(64 * scale)
    assert seen["avatar"] == [side, side, scale], seen  # drawn at the pixel ratio, not a blurry upscale


def test_geometry_is_remembered_and_shrunk_to_a_smaller_screen(tmp_path: Path, data_dir: Path) -> None:
    settings = tmp_path / "settings.ini"
    first = probe(tmp_path, data_dir, (1920, 1080), 1.0, settings, "--resize", "1700x1000")
    assert first["size"] == [1200, 760]  # a first window: 1200×760 where the screen has room
    again = probe(tmp_path, data_dir, (1920, 1080), 1.0, settings)
    assert again["size"] == [1700, 1000]  # as it was left
    small = probe(tmp_path, data_dir, (800, 600), 1.0, settings)
    assert inside(small["area"], small["frame"]), small  # the same settings on a small screen: made to fit
    assert small["size"][0] <= 800 and small["size"][1] <= 600
