"""Help → Documentation / Getting Your Cookie, and the links in Settings: the README, read inside the app.

The documentation is the README. It is shown here, offline, at the section a link names (``help:`` + the
heading's GitHub-style anchor, e.g. ``help:scheduled-backups-headless``), so a link never points at a source
folder a user of the packaged app does not have. The text comes from the README beside the package (a source
checkout) or from the installed package's metadata (the README is its long description); when neither exists
the cookie steps of the sign-in dialog still answer the commonest question.
"""

from __future__ import annotations

import re
import unicodedata
from importlib import metadata
from pathlib import Path

from PySide6.QtCore import QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QTextBlock
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

__all__ = [
    "COOKIE_HELP",
    "DOCS_HELP",
    "HEADLESS_HELP",
    "HelpViewer",
    "anchor_of",
    "readme_path",
    "readme_text",
    "show_help",
]

DOCS_HELP = "help:"
COOKIE_HELP = "help:getting-your-session-cookie"
HEADLESS_HELP = "help:scheduled-backups-headless"
_IMAGE_LINE = re.compile(r"^\s*!\[[^\]]*\]\([^)]*\)\s*$", re.MULTILINE)


def readme_path() -> Path | None:
    """README.md of a source checkout (beside the package), if there is one."""
    candidate = Path(__file__).resolve().parent.parent.parent / "README.md"
    return candidate if candidate.is_file() else None


def readme_text() -> str | None:
    """The README's Markdown: from the checkout, else the installed package's long description."""
    path = readme_path()
    if path is not None:
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            pass
    try:
        description = metadata.metadata("tzbackup").get_payload()  # type: ignore[attr-defined]
    except metadata.PackageNotFoundError:
        return None
    return description if isinstance(description, str) and description.strip() else None


def anchor_of(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


class HelpViewer(QDialog):
    """A non-modal window with the README; :meth:`show_section` scrolls to a heading."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("helpViewer")
        self.setWindowTitle("Help")  # Qt adds the app name: "Help — tzbackup"
        self.resize(760, 600)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setObjectName("helpText")
        self.browser.setAccessibleName("Documentation")
        self.browser.setOpenLinks(False)
        self.browser.anchorClicked.connect(self._follow)
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.found = self._load()

    def _load(self) -> bool:
        text = readme_text()
        if text is None:
            from .sign_in_dialog import STEPS

            self.browser.setHtml(
                "<h2>Getting your session cookie</h2>" + STEPS
                + "<p>The full documentation (the README) is not installed with this copy of tzbackup. "
                "<code>tzbackup --help</code> lists the commands.</p>"
            )
            return False
        self.browser.setMarkdown(_IMAGE_LINE.sub("", text))  # screenshots: not needed to read the text
        return True

    def headings(self) -> dict[str, QTextBlock]:
        """Anchor -> heading block, in document order."""
        found: dict[str, QTextBlock] = {}
        block = self.browser.document().begin()
        while block.isValid():
            if block.blockFormat().headingLevel() > 0 or (not self.found and block.text() and
                                                          block.charFormat().fontWeight() > 600):
                found.setdefault(anchor_of(block.text()), block)
            block = block.next()
        return found

    def show_section(self, anchor: str) -> bool:
        """Scroll so the heading named ``anchor`` is at the top; False when there is no such heading."""
        block = self.headings().get(anchor) if anchor else None
        if block is None and anchor and not self.found and anchor == anchor_of("Getting your session cookie"):
            block = self.browser.document().begin()
        if block is None:
            self.browser.verticalScrollBar().setValue(0)
            return not anchor
        cursor = self.browser.textCursor()
        cursor.setPosition(block.position())
        self.browser.setTextCursor(cursor)
        top = self.browser.document().documentLayout().blockBoundingRect(block).top()
        self.browser.verticalScrollBar().setValue(int(top))
        return True

    def _follow(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)
        elif url.hasFragment() and not url.path():
            self.show_section(url.fragment())
        elif url.scheme() == "help":
            self.show_section(url.path())
        elif (path := readme_path()) is not None and url.isRelative():  # a file of the checkout
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent / url.path())))


def show_help(parent: QWidget, link: str = DOCS_HELP) -> HelpViewer:
    """Open (or raise) the help window of ``parent``'s top-level window at ``link``'s section."""
    top = parent.window()
    viewer = top.findChild(HelpViewer, "helpViewer")
    if viewer is None:
        viewer = HelpViewer(top)
    anchor = link.removeprefix("help:")
    viewer.show()
    viewer.raise_()
    viewer.activateWindow()
    viewer.show_section(anchor)
    QTimer.singleShot(0, viewer, lambda: viewer.show_section(anchor))  # again, laid out at its width
    return viewer
