"""Help → Copy Diagnostics: what a bug report needs, and nothing secret.

Versions, the platform and display, folders, settings, the account's shape (counts, not names) and the last
warnings and errors of the log. The cookie never appears: the text names where the cookie is kept, never its
value, and the whole text goes through the log pane's redaction of every secret the app knows (a cookie that
slipped into an error message is replaced too).
"""

from __future__ import annotations

import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QSettings, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from .. import __version__
from ..app import display_path, where_text
from .log_pane import redact
from .run_controller import RunController
from .scheduler import BackupScheduler
from .sections import chosen_sections
from .theme import is_dark

__all__ = ["diagnostics_text"]

_PACKAGES = ("qasync", "httpx", "keyring", "rookiepy")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _display() -> str:
    app = QApplication.instance()
    screen = QGuiApplication.primaryScreen()
    size = f"{screen.size().width()}×{screen.size().height()}" if screen is not None else "no screen"
    ratio = f"{screen.devicePixelRatio():g}" if screen is not None else "?"
    style = app.style().name() if isinstance(app, QApplication) else "?"
    dark = "dark" if is_dark(QApplication.palette()) else "light"
    return (f"Qt platform {QGuiApplication.platformName()}, style {style}, {dark} palette, screen {size} "
            f"at scale {ratio}")


def diagnostics_text(
    runs: RunController,
    settings: QSettings,
    *,
    scheduler: BackupScheduler | None,
    data_dir_problem: str,
    problems: list[str],
) -> str:
    """The report, redacted. ``runs`` gives the context, the rows and the last error shown; ``problems``
    are the log's recent warnings and errors."""
    ctx = runs.ctx
    config = ctx.config
    now = datetime.now(UTC)
    lines = [
        f"tzbackup diagnostics, {now.astimezone().strftime('%Y-%m-%d %H:%M %Z')} ({now:%H:%M} UTC)",
        "",
        f"Versions: tzbackup {__version__}, Python {platform.python_version()}, Qt {qVersion()}, "
        f"PySide6 {pyside_version}, " + ", ".join(f"{name} {_version(name)}" for name in _PACKAGES),
        f"System: {platform.platform()} ({sys.platform})",
        f"Display: {_display()}",
        f"Mode: {'demo (local sandbox)' if config.demo else 'shapes.inc'}",
        f"Service: {config.base_url} (files: {config.files_base_url})",
        f"Data folder: {display_path(config.data_dir)}"
        + (f" (cannot be used: {data_dir_problem})" if data_dir_problem else ""),
        f"Settings file: {display_path(Path(settings.fileName()))}",
    ]
    store = ctx.store
    if config.demo:
        keyring = "not used (demo)"
    elif store.available():
        keyring = store.backend_name
    else:
        keyring = f"none available ({store.unavailable_reason() or 'no backend'})"
    lines.append(f"Keyring: {keyring}")
    signed_in = ctx.credential is not None
    lines.append(f"Signed in: {'yes, cookie ' + where_text(ctx.location) if signed_in else 'no'}")
    sections = chosen_sections(settings)
    lines.append(
        f"Backups: spacing {ctx.pacer_delay():g} s, full check every {config.reconcile_age_days:g} days, "
        f"sections {'all' if sections is None else ', '.join(sorted(sections))}"
    )
    if scheduler is not None:
        lines.append(f"Schedule: {scheduler.schedule.describe()}; {scheduler.status() or 'no status'}")
    rows = runs.model.rows()
    on_account = sum(1 for r in rows if r.on_account)
    backed_up = sum(1 for r in rows if r.last_backup is not None)
    lines.append(
        f"Personalities: {on_account} on the account, {len(rows) - on_account} only local, "
        f"{backed_up} backed up at least once"
    )
    lines.append(f"Last error shown: {runs.last_error or 'none'}")
    lines.append("")
    lines.append("Recent warnings and errors, oldest first:" if problems else "No warnings or errors.")
    lines.extend(f"  {line}" for line in problems)
    return redact("\n".join(lines), ctx.secrets()) + "\n"
