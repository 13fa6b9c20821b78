"""``archive.images`` (read side, used by verify / status / the card export) agrees with ``backup.images``
(the download side), which keeps its own copies of ``sniff_image`` / ``verify_images`` for now."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tzbackup_gui.archive import images as read_side
from tzbackup_gui.backup import images as write_side

SAMPLES = [
    b"\x89PNG\r\n\x1a\n" + b"\0" * 20,
    b"\xff\xd8\xff\xe0" + b"\0" * 20,
    b"GIF89a" + b"\0" * 10,
    b"GIF87a",
    b"RIFF\0\0\0\0WEBPVP8 ",
    b"RIFF\0\0\0\0WAVE",
    b"",
    b"<html>",
]


@pytest.mark.parametrize("data", SAMPLES)
def test_sniff_agrees(data: bytes) -> None:
    assert read_side.sniff_image(data) == write_side.sniff_image(data)


def test_constants_agree() -> None:
    assert read_side.IMAGE_KINDS == write_side.IMAGE_KINDS
    assert read_side.IMAGE_EXTENSIONS == write_side.IMAGE_EXTENSIONS


def test_verify_agrees(tmp_path: Path) -> None:
    png = SAMPLES[0]
    (tmp_path / "avatar.png").write_bytes(png)
    (tmp_path / "banner.jpg").write_bytes(b"not an image")
    summaries: list[object] = [
        None,
        {"avatar": {"file": "avatar.png", "sha256": hashlib.sha256(png).hexdigest()}},
        {"avatar": {"file": "avatar.png", "sha256": "0" * 64}},
        {"avatar": {"file": "gone.png", "sha256": "0" * 64}, "banner": {"file": ""}},
        {"banner": {"file": "banner.jpg", "sha256": hashlib.sha256(b"not an image").hexdigest()}},
        {"avatar": {"file": "../avatar.png"}},
    ]
    for summary in summaries:
        assert read_side.verify_images(tmp_path, summary) == write_side.verify_images(tmp_path, summary)
    assert read_side.verify_images(tmp_path, summaries[1]) == []


def test_find_image(tmp_path: Path) -> None:
    assert read_side.find_image(tmp_path, "avatar") is None
    (tmp_path / "avatar.webp").write_bytes(b"x")
    assert read_side.find_image(tmp_path, "avatar") == tmp_path / "avatar.webp"
    (tmp_path / "avatar.jpg").write_bytes(b"x")
    assert read_side.find_image(tmp_path, "avatar") == tmp_path / "avatar.jpg"  # the extension order
    # the recorded name first
    assert read_side.find_image(tmp_path, "avatar", "avatar.webp") == tmp_path / "avatar.webp"
    assert read_side.find_image(tmp_path, "avatar", "banner.png") == tmp_path / "avatar.jpg"
    assert write_side.current_image(tmp_path, "avatar") == read_side.find_image(tmp_path, "avatar")
