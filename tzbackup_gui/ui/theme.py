"""Colours derived from the palette, with a contrast check: readable on light, dark and high-contrast themes.

No widget hard-codes a colour. A semantic colour (success, warning, error, a search hit, a banner) starts from
a hue and is then pushed lighter or darker until its text reaches WCAG's 4.5:1 against the background it is
drawn on, which comes from the widget's palette. Tests use :func:`contrast_ratio` to check what is painted.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette

__all__ = [
    "MIN_CONTRAST",
    "TEXT_AIM",
    "banner_colors",
    "banner_sheet",
    "contrast_ratio",
    "css",
    "error_color",
    "flatten",
    "hit_colors",
    "is_dark",
    "muted_text",
    "placeholder_color",
    "readable",
    "readable_on",
    "success_color",
    "warning_color",
    "warning_fill",
]

#: WCAG AA for normal text
MIN_CONTRAST = 4.5
#: what to aim for when a colour is computed: a little above the minimum, so that anti-aliased thin glyphs and
#: 8-bit rounding still paint at 4.5:1 or more
TEXT_AIM = MIN_CONTRAST + 0.25

_SUCCESS = QColor(40, 150, 60)
_WARNING = QColor(190, 120, 0)
_ERROR = QColor(200, 40, 40)
_HIT = QColor(255, 225, 90)
_INFO = QColor(40, 110, 200)


def _luminance(color: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + 0.0722 * channel(color.blueF())


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two opaque colours, 1.0 to 21.0."""
    la, lb = _luminance(a), _luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def is_dark(palette: QPalette) -> bool:
    """True when the palette's window background is dark."""
    return _luminance(palette.color(QPalette.ColorRole.Window)) < 0.2


def readable(color: QColor, background: QColor, minimum: float = MIN_CONTRAST) -> QColor:
    """``color`` made lighter or darker (keeping its hue) until it reaches ``minimum`` against ``background``;
    black or white when no shade of the hue does."""
    if contrast_ratio(color, background) >= minimum:
        return QColor(color)
    towards_light = _luminance(background) < 0.18
    # QColor.getHslF's stub says it returns ``object``; the per-channel getters are typed and equivalent.
    hue, sat, light, alpha = color.hslHueF(), color.hslSaturationF(), color.lightnessF(), color.alphaF()
    hue = max(hue, 0.0)
    for step in range(1, 21):
        value = light + (1 - light) * step / 20 if towards_light else light * (1 - step / 20)
        candidate = QColor.fromHslF(hue, sat, value, alpha)
        if contrast_ratio(candidate, background) >= minimum:
            return candidate
    return QColor("white") if towards_light else QColor("black")


def _base(palette: QPalette) -> QColor:
    return palette.color(QPalette.ColorRole.Base)


def success_color(palette: QPalette, background: QColor | None = None) -> QColor:
    """Text colour for "done"/"ok" on ``background`` (the palette's base by default)."""
    return readable(_SUCCESS, background or _base(palette))


def warning_color(palette: QPalette, background: QColor | None = None) -> QColor:
    """Text colour for "partial"/"resumes next time"."""
    return readable(_WARNING, background or _base(palette))


def error_color(palette: QPalette, background: QColor | None = None) -> QColor:
    """Text colour for failures."""
    return readable(_ERROR, background or _base(palette))


def muted_text(palette: QPalette, background: QColor | None = None) -> QColor:
    """Secondary text (usernames, dates above a search hit): the placeholder colour, made readable."""
    return readable(palette.color(QPalette.ColorRole.PlaceholderText), background or _base(palette))


def hit_colors(palette: QPalette) -> tuple[QColor, QColor]:
    """(background, text) of a highlighted search hit: a yellow that suits the theme, with readable text."""
    base = _base(palette)
    dark_hit = QColor.fromHslF(max(_HIT.hslHueF(), 0.0), 0.55, 0.30)
    background = dark_hit if is_dark(palette) else QColor(_HIT)
    text = readable(palette.color(QPalette.ColorRole.Text), background)
    if contrast_ratio(background, base) < 1.2:  # make the hit stand out from the page at all
        background = background.darker(130) if not is_dark(palette) else background.lighter(130)
        text = readable(text, background)
    return background, text


def banner_colors(palette: QPalette, kind: str = "info") -> tuple[QColor, QColor]:
    """(background, text) of a banner ("info", "warning" or "error") that suits the theme."""
    hue_color = {"warning": _WARNING, "error": _ERROR}.get(kind, _INFO)
    hue = max(hue_color.hslHueF(), 0.0)
    background = QColor.fromHslF(hue, 0.45, 0.22) if is_dark(palette) else QColor.fromHslF(hue, 0.7, 0.94)
    text = readable(palette.color(QPalette.ColorRole.WindowText), background)
    return background, text


def banner_sheet(palette: QPalette, kind: str, padding: str) -> str:
    """The style sheet of a banner label (:func:`banner_colors`, its text pushed to :data:`TEXT_AIM`)."""
    background, text = banner_colors(palette, kind)
    text = readable(text, background, TEXT_AIM)
    return (f"QLabel {{ background: {css(background)}; color: {css(text)}; padding: {padding};"
            " border-radius: 4px; }")


def readable_on(color: QColor, *backgrounds: QColor, minimum: float = MIN_CONTRAST) -> QColor:
    """``color`` made readable on every one of ``backgrounds`` (a table's base and alternate base), pushed
    away from them in turn. The backgrounds are assumed on one side (all light or all dark), as in a table."""
    result = QColor(color)
    for background in backgrounds:
        result = readable(result, background, minimum)
    return result


def warning_fill(palette: QPalette) -> QColor:
    """The amber fill of a progress bar that stopped: the bar's text over it (the palette's highlighted text)
    stays readable."""
    return readable(_WARNING, palette.color(QPalette.ColorRole.HighlightedText))


def css(color: QColor) -> str:
    """``#rrggbb`` for a style sheet or a rich-text ``<span style="color: ...">``."""
    return color.name(QColor.NameFormat.HexRgb)


def flatten(color: QColor, background: QColor) -> QColor:
    """``color`` as painted over ``background``: its alpha blended in, opaque. Palette colours may be
    translucent (Qt 6's placeholder text is the text colour at half alpha) and :func:`contrast_ratio` reads
    only the RGB, so blend first, then check."""
    alpha = color.alphaF()
    if alpha >= 1.0:
        return QColor(color)
    return QColor.fromRgbF(
        color.redF() * alpha + background.redF() * (1 - alpha),
        color.greenF() * alpha + background.greenF() * (1 - alpha),
        color.blueF() * alpha + background.blueF() * (1 - alpha),
    )


def placeholder_color(palette: QPalette) -> QColor:
    """A field's placeholder text ("Filter by name…") readable on the field: Qt's own is the text colour at
    half alpha, about 4:1 on white, under WCAG's 4.5:1. Set it as the field's PlaceholderText role."""
    base = _base(palette)
    return readable(flatten(palette.color(QPalette.ColorRole.PlaceholderText), base), base, TEXT_AIM)
