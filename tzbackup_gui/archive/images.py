"""Saved avatar and banner files, read side: what kind of image a file is, which file holds a personality's
avatar, and whether the saved files still match the metadata (no network, no Qt).

The download side (``backup.images``) writes ``avatar.<ext>`` / ``banner.<ext>`` with the extension of the
sniffed type and records ``{"file", "sha256", ...}`` per kind under ``sections.images``. Readers (``verify``,
``status``, the character-card export) use this module, so they never import the engine or its HTTP client.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["IMAGE_EXTENSIONS", "IMAGE_KINDS", "find_image", "sniff_image", "verify_images"]

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
