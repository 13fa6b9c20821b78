"""The character card's picture: a JPEG, WebP or GIF avatar is converted to PNG (Qt, headless; Pillow when
present), a damaged or unconvertible one gives the placeholder with a note that says why."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QColor, QImage

from tzbackup_gui.archive.export import export_card
from tzbackup_gui.archive.images import convert_to_png, sniff_image
from tzbackup_gui.archive.png_card import read_card, solid_png

from .test_export import BASE, make_folder, memory


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path, [memory(i, BASE + i) for i in range(3)])


def encoded(fmt: bytes, size: tuple[int, int] = (24, 16), colour: str = "#3366cc") -> bytes:
    image = QImage(size[0], size[1], QImage.Format.Format_RGB32)
    image.fill(QColor(colour))
    out = QByteArray()
    buffer = QBuffer(out)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    assert image.save(buffer, fmt.decode())  # type: ignore[call-overload]  # PySide6 takes str here
    buffer.close()
    return bytes(out.data())


def record_avatar(folder: Path, name: str) -> None:
    meta_path = folder / ".backup-metadata.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    meta["sections"] = {"images": {"avatar": {"file": name, "sha256": "x"}, "banner": None}}
    meta_path.write_text(json.dumps(meta), "utf-8")


@pytest.mark.parametrize(("fmt", "name"), [(b"JPEG", "avatar.jpg"), (b"WEBP", "avatar.webp")])
def test_a_jpeg_or_webp_avatar_becomes_the_card_picture(
    folder: Path, tmp_path: Path, fmt: bytes, name: str
) -> None:
    (folder / name).write_bytes(encoded(fmt))
    record_avatar(folder, name)
    result = export_card(folder, tmp_path / "c.json", tmp_path / "c.png")
    png = (tmp_path / "c.png").read_bytes()
    assert sniff_image(png) == "png"
    assert read_card(png) == json.loads((tmp_path / "c.json").read_text("utf-8"))
    picture = QImage.fromData(png)
    assert (picture.width(), picture.height()) == (24, 16)  # the avatar, not the 400x600 placeholder
    assert any(f"saved avatar ({name}, converted to PNG)" in n for n in result.notes)


def test_the_recorded_avatar_wins_over_an_older_file(folder: Path, tmp_path: Path) -> None:
    (folder / "avatar.png").write_bytes(solid_png(8, 8, (1, 2, 3)))  # left by hand, not the recorded one
    (folder / "avatar.jpg").write_bytes(encoded(b"JPEG", (12, 12)))
    record_avatar(folder, "avatar.jpg")
    export_card(folder, tmp_path / "c.json", tmp_path / "c.png")
    assert QImage.fromData((tmp_path / "c.png").read_bytes()).width() == 12


def test_without_any_converter_the_placeholder_says_why(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "avatar.jpg").write_bytes(encoded(b"JPEG"))
    monkeypatch.setitem(sys.modules, "PySide6.QtGui", None)  # no Qt...
    monkeypatch.setitem(sys.modules, "PIL", None)  # ...and no Pillow
    result = export_card(folder, tmp_path / "c.json", tmp_path / "c.png")
    assert QImage.fromData((tmp_path / "c.png").read_bytes()).width() == 400
    assert any("placeholder (the saved avatar avatar.jpg could not be converted" in n for n in result.notes)


def test_a_damaged_avatar_gives_the_placeholder(folder: Path, tmp_path: Path) -> None:
    (folder / "avatar.png").write_bytes(solid_png(8, 8, (1, 2, 3))[:-6])  # cut short
    result = export_card(folder, tmp_path / "c.json", tmp_path / "c.png")
    assert any("placeholder (the saved avatar avatar.png is a damaged PNG)" in n for n in result.notes)
    (folder / "avatar.png").write_bytes(b"<html>not an image</html>")
    result = export_card(folder, tmp_path / "c.json", tmp_path / "c.png")
    assert any("avatar.png is not an image" in n for n in result.notes)


def test_convert_to_png_refuses_what_is_not_an_image() -> None:
    assert convert_to_png(b"RIFF\0\0\0\0WEBPgarbage") is None
    assert sniff_image(convert_to_png(encoded(b"JPEG")) or b"") == "png"
