"""Saved avatar and banner files, read side: what kind of image a file is, which file holds a personality's
avatar, and whether the saved files still match the metadata (no network, no Qt).

The download side (``backup.images``) writes ``avatar.<ext>`` / ``banner.<ext>`` with the extension of the
sniffed type and records ``{"file", "sha256", ...}`` per kind under ``sections.images``. Readers (``verify``,
``status``, the character-card export) use this module, so they never import the engine or its HTTP client.
:func:`convert_to_png` turns a JPEG / WebP / GIF avatar into the PNG a character card needs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["IMAGE_EXTENSIONS", "IMAGE_KINDS", "convert_to_png", "find_image", "sniff_image", "verify_images"]

IMAGE_KINDS: tuple[str, ...] = ("avatar", "banner")
#: file extensions an image of a kind may have on disk (``jpeg`` only as written by hand / other tools)
IMAGE_EXTENSIONS: tuple[str, ...] = ("png", "jpg", "jpeg", "gif", "webp")


def sniff_image(data: bytes) -> str | None:
    """The file extension for ``data`` by its magic bytes ("png", "jpg", "gif", "webp"), else ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def find_image(folder: Path, kind: str, preferred: str | None = None) -> Path | None:
    """The saved image of ``kind`` (``avatar.png``, ``avatar.jpg``...), the recorded file name first."""
    names = [preferred] if preferred else []
    names += [f"{kind}.{ext}" for ext in IMAGE_EXTENSIONS]
    for name in names:
        if name and name.startswith(f"{kind}.") and "/" not in name and (folder / name).is_file():
            return folder / name
    return None


def verify_images(folder: Path, summary: object) -> list[str]:
    """Problems of the saved images against the metadata's ``sections.images`` summary."""
    if not isinstance(summary, dict):
        return []
    problems: list[str] = []
    for kind in IMAGE_KINDS:
        entry = summary.get(kind)
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("file") or "")
        path = folder / name
        if not name or "/" in name or not path.is_file():
            problems.append(f"The {kind} image {name or '(no name)'} recorded in the metadata is missing.")
            continue
        try:
            data = path.read_bytes()
        except OSError as err:
            problems.append(f"The {kind} image {name} cannot be read: {err.strerror or err}.")
            continue
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            problems.append(
                f"The {kind} image {name} does not match its recorded SHA-256 (damaged or changed)."
            )
        elif sniff_image(data) is None:
            problems.append(f"The {kind} image {name} is not a PNG, JPEG, GIF or WebP image.")
    return problems


def convert_to_png(data: bytes) -> bytes | None:
    """``data`` (a JPEG, WebP, GIF... image) re-encoded as PNG, or None when no converter can read it.

    Qt's ``QImage`` first: PySide6 is a dependency of the app and decodes JPEG, WebP and GIF without a
    display or a ``QApplication``. It is imported here, on first use only, so the archive layer stays Qt-free
    at import time (the CLI never loads Qt unless a card needs a converted picture). Pillow next, when it
    happens to be installed; otherwise None and the caller uses a placeholder.
    """
    for convert in (_png_with_qt, _png_with_pillow):
        try:
            png = convert(data)
        except ImportError:
            continue
        if png is not None:
            return png
    return None


def _png_with_qt(data: bytes) -> bytes | None:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QImage

    image = QImage.fromData(data)
    if image.isNull():
        return None
    out = QByteArray()
    buffer = QBuffer(out)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    saved = image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; PySide6 takes str
    buffer.close()
    return bytes(out.data()) if saved else None


def _png_with_pillow(data: bytes) -> bytes | None:
    import io

    from PIL import Image, UnidentifiedImageError  # type: ignore[import-not-found,unused-ignore]

    try:
        with Image.open(io.BytesIO(data)) as image:
            out = io.BytesIO()
            image.save(out, "PNG")
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return out.getvalue()
