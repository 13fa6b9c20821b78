"""The committed PNG/ICO/ICNS icons and the packaged SVG copy are what resources/render-icons makes today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_rendered_icons_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "resources" / "render-icons"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
