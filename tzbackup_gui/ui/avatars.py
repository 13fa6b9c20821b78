"""Avatars: placeholder initials at once, the real picture fetched lazily and cached on disk."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QGuiApplication, QIcon, QPainter, QPainterPath, QPixmap

from ..archive.store import atomic_write_bytes, ensure_dir
from ..errors import TzBackupError
from .theme import readable

__all__ = ["AVATAR_SIZE", "AvatarCache", "initials_icon", "pixel_ratios", "round_icon"]

log = logging.getLogger("tzbackup.ui")
AVATAR_SIZE = 28
_COLORS = ("#5b6ee1", "#d9534f", "#2e9d6e", "#c98b1b", "#8e5bd1", "#1f8bb0", "#c2457a")


def pixel_ratios() -> list[float]:
    """The device pixel ratios to draw icons at: 1 and 2, and every screen's (1.25, 1.5 ... on HiDPI)."""
    ratios = {1.0, 2.0}
    if QGuiApplication.instance() is not None:
        ratios.add(float(QGuiApplication.instance().devicePixelRatio()))  # type: ignore[union-attr]
        ratios.update(float(screen.devicePixelRatio()) for screen in QGuiApplication.screens())
    return sorted(ratios)


def _disc_color(name: str) -> QColor:
    """The disc's colour for ``name``: one of a few hues, dark enough for its white letter (WCAG 4.5:1)."""
    color = QColor(_COLORS[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(_COLORS)])
    return readable(color, QColor("white"))


def _initials_pixmap(name: str, size: int, ratio: float) -> QPixmap:
    pix = QPixmap(round(size * ratio), round(size * ratio))
    pix.setDevicePixelRatio(ratio)  # drawn in logical pixels, sharp at the screen's ratio
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    painter.setBrush(QBrush(_disc_color(name)))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(QRectF(0, 0, size, size))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(1, int(size * 0.5)))
    painter.setFont(font)
    painter.setPen(QColor("white"))
    letter = next((c for c in name if c.isalnum()), "?").upper()
    painter.drawText(QRectF(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, letter)
    painter.end()
    return pix


def initials_icon(name: str, size: int = AVATAR_SIZE) -> QIcon:
    """A coloured disc with the first letter: shown until the real avatar arrives (or when there is none).
    Drawn at every device pixel ratio in use, so it is sharp on a HiDPI screen."""
    icon = QIcon()
    for ratio in pixel_ratios():
        icon.addPixmap(_initials_pixmap(name, size, ratio))
    return icon


def _round_pixmap(source: QPixmap, size: int, ratio: float) -> QPixmap:
    side = round(size * ratio)
    scaled = source.scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation
    )
    pix = QPixmap(side, side)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    path = QPainterPath()
    path.addEllipse(0, 0, side, side)
    painter.setClipPath(path)
    painter.drawPixmap((side - scaled.width()) // 2, (side - scaled.height()) // 2, scaled)
    painter.end()
    pix.setDevicePixelRatio(ratio)
    return pix


def round_icon(data: bytes, size: int = AVATAR_SIZE) -> QIcon | None:
    """Decode image bytes into a round icon, scaled from the full picture for each device pixel ratio in use
    (never a 1x picture blown up on a HiDPI screen); ``None`` when the bytes are not an image."""
    source = QPixmap()
    if not source.loadFromData(data):
        return None
    icon = QIcon()
    for ratio in pixel_ratios():
        icon.addPixmap(_round_pixmap(source, size, ratio))
    return icon


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
