"""Palettes to test under, and a contrast check on what a widget really paints (its grab's pixels)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QWidget,
)

from tzbackup_gui.ui.theme import contrast_ratio

__all__ = ["PALETTES", "make_palette", "painted_contrast", "readable_widgets", "widget_contrast"]

Role = QPalette.ColorRole
Group = QPalette.ColorGroup


def _fusion(dark: bool) -> QPalette:
    """Qt's own Fusion palette (qt_fusionPalette in qfusionstyle.cpp), light or dark, placeholder included."""
    window_text = QColor(240, 240, 240) if dark else QColor("black")
    background = QColor(50, 50, 50) if dark else QColor(239, 239, 239)
    base = background.darker(140) if dark else QColor("white")
    text = window_text
    placeholder = QColor(text)
    placeholder.setAlpha(128)
    disabled = QColor(130, 130, 130) if dark else QColor(190, 190, 190)
    palette = QPalette(background)
    for role, color in (
        (Role.Window, background), (Role.WindowText, window_text), (Role.Base, base),
        (Role.AlternateBase, base.lighter(115) if dark else QColor(247, 247, 247)),
        (Role.Text, text), (Role.Button, background), (Role.ButtonText, window_text),
        (Role.Highlight, QColor(48, 140, 198)),
        (Role.HighlightedText, window_text if dark else QColor("white")),
        (Role.PlaceholderText, placeholder), (Role.Light, background.lighter(150)),
        (Role.Mid, background.darker(130)), (Role.Dark, background.darker(150)),
        (Role.ToolTipBase, QColor(60, 60, 60) if dark else QColor(255, 255, 220)),
        (Role.ToolTipText, window_text),
        (Role.Link, QColor(42, 130, 218) if dark else QColor(0, 0, 255)),
    ):
        palette.setColor(role, color)
    for role in (Role.Text, Role.WindowText, Role.ButtonText):
        palette.setColor(Group.Disabled, role, disabled)
    return palette


def _high_contrast(dark: bool) -> QPalette:
    """Black on white (or white on black), yellow/blue highlights: a high-contrast desktop theme."""
    fg, bg = (QColor("white"), QColor("black")) if dark else (QColor("black"), QColor("white"))
    palette = QPalette(bg)
    for role in (Role.Window, Role.Base, Role.AlternateBase, Role.Button, Role.ToolTipBase):
        palette.setColor(role, bg)
    for role in (Role.WindowText, Role.Text, Role.ButtonText, Role.ToolTipText, Role.PlaceholderText):
        palette.setColor(role, fg)
    palette.setColor(Role.Highlight, QColor("yellow") if dark else QColor("darkblue"))
    palette.setColor(Role.HighlightedText, QColor("black") if dark else QColor("white"))
    palette.setColor(Role.Link, QColor("cyan") if dark else QColor("darkblue"))
    return palette


PALETTES = ("light", "fusion-dark", "high-contrast-dark", "high-contrast-light")


def make_palette(name: str) -> QPalette:
    return {
        "light": lambda: _fusion(False),
        "fusion-dark": lambda: _fusion(True),
        "high-contrast-dark": lambda: _high_contrast(True),
        "high-contrast-light": lambda: _high_contrast(False),
    }[name]()


def painted_contrast(image: QImage, rect: QRect | None = None) -> tuple[float, QColor, QColor]:
    """(ratio, background, text) of what is painted in ``rect`` of ``image``: the background is the most
    common colour, the text the colour that stands out most from it (glyph cores reach the full text colour;
    anti-aliased edges lie between)."""
    area = rect or image.rect()
    counts: Counter[int] = Counter()
    for y in range(area.top(), area.bottom() + 1):
        for x in range(area.left(), area.right() + 1):
            counts[image.pixel(x, y)] += 1
    background = QColor.fromRgb(counts.most_common(1)[0][0])
    text = max((QColor.fromRgb(p) for p in counts), key=lambda c: contrast_ratio(c, background))
    return contrast_ratio(text, background), background, text


def readable_widgets(top: QWidget) -> Iterator[QWidget]:
    """The visible, enabled widgets under ``top`` that show text a person reads."""
    for widget in top.findChildren(QWidget):
        if not widget.isVisibleTo(top) or not widget.isEnabled() or widget.width() <= 2:
            continue
        label = isinstance(widget, QLabel) and widget.text().strip() and widget.pixmap().isNull()
        button = isinstance(widget, QAbstractButton) and widget.text().strip()
        field = isinstance(widget, QLineEdit) and (widget.text() or widget.placeholderText())
        if label or button or field or isinstance(widget, QComboBox):
            yield widget


def widget_contrast(widget: QWidget) -> tuple[float, QColor, QColor]:
    """The painted contrast of a widget's text: inside its frame for buttons and fields (a frame's outline
    would stand out more than the text), right of the box for a check box."""
    QApplication.processEvents()
    image = widget.grab().toImage()
    rect = image.rect()
    if isinstance(widget, QCheckBox):
        rect = rect.adjusted(22, 1, -1, -1)
    elif isinstance(widget, QAbstractButton | QLineEdit | QComboBox):
        rect = rect.adjusted(4, 4, -4, -4)
    return painted_contrast(image, rect)
