"""Desktop integration files: icons, .desktop launcher, AppStream metainfo, scripts/install-desktop.

Validators (desktop-file-validate, appstreamcli) run when installed; the structural checks always run.
"""

from __future__ import annotations

import configparser
import shutil
import struct
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tzbackup_gui import __version__
from tzbackup_gui.__main__ import app_icon_path

ROOT = Path(__file__).resolve().parents[2]
RES = ROOT / "resources"
APP_ID = "io.github.tzbackup"
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (raises on anything that is not a PNG)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(RES / f"{APP_ID}.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def gui_script_name() -> str:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (name,) = pyproject["project"]["gui-scripts"]
    return str(name)


@pytest.mark.parametrize("size", PNG_SIZES)
def test_png_icon_has_its_size(size: int) -> None:
    assert png_size((RES / "icons" / f"tzbackup-{size}.png").read_bytes()) == (size, size)


def test_window_icon_is_the_packaged_copy_of_the_svg() -> None:
    path = app_icon_path()
    assert path == ROOT / "tzbackup_gui" / "resources" / "tzbackup.svg"
    assert path.read_bytes() == (RES / "tzbackup.svg").read_bytes()


def test_ico_holds_png_entries_of_the_declared_sizes() -> None:
    data = (RES / "tzbackup.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1) and count >= 5
    sizes = []
    for i in range(count):
        entry = data[6 + 16 * i : 22 + 16 * i]
        width, _h, _c, _r, _planes, _bpp, length, offset = struct.unpack("<BBBBHHII", entry)
        declared = width or 256
        assert png_size(data[offset : offset + length]) == (declared, declared)
        sizes.append(declared)
    assert {16, 32, 48, 256} <= set(sizes)


def test_icns_records_add_up_to_the_file_length() -> None:
    data = (RES / "tzbackup.icns").read_bytes()
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    pos, kinds = 8, []
    while pos < len(data):
        kind, length = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        png_size(data[pos + 8 : pos + length])
        kinds.append(kind)
        pos += length
    assert pos == len(data) and b"ic09" in kinds  # 512 x 512


def test_desktop_file_launches_the_gui_with_the_app_icon() -> None:
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == gui_script_name() == entry["TryExec"]
    assert entry["Icon"] == APP_ID
    assert entry["Terminal"] == "false"
    assert "Utility" in entry["Categories"].split(";")


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validates() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(RES / f"{APP_ID}.desktop")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_metainfo_matches_the_desktop_file_and_the_version() -> None:
    root = ET.parse(RES / f"{APP_ID}.metainfo.xml").getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == f"{APP_ID}.desktop"
    assert {b.text for b in root.iter("binary")} == {"tzbackup", gui_script_name()}
    assert next(r.get("version") for r in root.iter("release")) == __version__


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_validates() -> None:
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(RES / f"{APP_ID}.metainfo.xml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_desktop_into_a_prefix_and_uninstall(tmp_path: Path) -> None:
    prefix = tmp_path / "a prefix"
    exe = "/opt/tz backup/tzbackup-gui"
    script = str(ROOT / "scripts" / "install-desktop")
    subprocess.run(["bash", script, "--prefix", str(prefix), "--exec", exe], check=True, capture_output=True)
    share = prefix / "share"
    launcher = (share / "applications" / f"{APP_ID}.desktop").read_text()
    assert f'Exec="{exe}"\n' in launcher and f"TryExec={exe}\n" in launcher
    assert (share / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    assert (share / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg").is_file()
    for size in PNG_SIZES:
        icon = share / f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png"
        assert png_size(icon.read_bytes()) == (size, size)
    subprocess.run(["bash", script, "--prefix", str(prefix), "--uninstall"], check=True, capture_output=True)
    assert not list(share.rglob(f"{APP_ID}*"))
