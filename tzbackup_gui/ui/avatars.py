"""Avatars: placeholder initials at once, the real picture fetched lazily and cached on disk."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap

from ..archive.store import atomic_write_bytes, ensure_dir
from ..errors import TzBackupError

__all__ = ["AVATAR_SIZE", "AvatarCache", "initials_icon", "round_icon"]

log = logging.getLogger("tzbackup.ui")
AVATAR_SIZE = 28
_COLORS = ("#5b6ee1", "#d9534f", "#2e9d6e", "#c98b1b", "#8e5bd1", "#1f8bb0", "#c2457a")


def initials_icon(name: str, size: int = AVATAR_SIZE) -> QIcon:
    """A coloured disc with the first letter: shown until the real avatar arrives (or when there is none)."""
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    color = QColor(_COLORS[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(_COLORS)])
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QBrush(color))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(0, 0, size, size)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(size * 0.5))
    painter.setFont(font)
    painter.setPen(QColor("white"))
    letter = next((c for c in name if c.isalnum()), "?").upper()
    painter.drawText(QRectF(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, letter)
    painter.end()
    return QIcon(pix)


def round_icon(data: bytes, size: int = AVATAR_SIZE) -> QIcon | None:
    """Decode image bytes into a round icon; ``None`` when the bytes are not an image."""
    source = QPixmap()
    if not source.loadFromData(data):
        return None
    scaled = source.scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation
    )
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    path = QPainterPath()
    path.addEllipse(0, 0, size, size)
    painter.setClipPath(path)
    painter.drawPixmap(0, 0, scaled)
    painter.end()
    return QIcon(pix)


class AvatarCache:
    """Disk cache under ``<data dir>/.cache/avatars``; downloads go through the paced client."""

    def __init__(self, cache_dir: Path, download: Callable[[str], Awaitable[bytes]]) -> None:
        self.cache_dir = cache_dir
        self._download = download
        self._memory: dict[str, QIcon] = {}
        #: False while the data folder cannot be used: icons stay in memory, nothing is written (a missing
        #: drive's folder must never be created on the system disk)
        self.writable = True

    def _path(self, url: str) -> Path:
        return self.cache_dir / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".img")

    def cached(self, url: str) -> QIcon | None:
        """From memory or disk, without any request."""
        if url in self._memory:
            return self._memory[url]
        path = self._path(url)
        if path.is_file():
            icon = round_icon(path.read_bytes())
            if icon is not None:
                self._memory[url] = icon
                return icon
        return None

    async def fetch(self, url: str) -> QIcon | None:
        """Cached icon, or download it once; failures just leave the placeholder."""
        icon = self.cached(url)
        if icon is not None:
            return icon
        try:
            data = await self._download(url)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # an avatar is decoration: never let it break the window
            log.debug("avatar not fetched: %s", type(err).__name__)
            return None
        icon = round_icon(data)
        if icon is None:
            return None
        if self.writable:
            try:  # private like every file tzbackup writes (folder 0700, file 0600)
                ensure_dir(self.cache_dir)
                atomic_write_bytes(self._path(url), data)
            except (OSError, TzBackupError):
                pass
        self._memory[url] = icon
        return icon
