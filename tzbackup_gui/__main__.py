"""``tzbackup-gui`` / ``python -m tzbackup_gui``: start the desktop app.

Order matters on Python 3.11: QApplication first, PySide6 imported before qasync, then the asyncio loop via
``asyncio.Runner(loop_factory=qasync.QEventLoop)``. The window closing sets an ``asyncio.Event``; ``main``
awaits it, closes the shared HTTP client and returns, so nothing is torn down under a running coroutine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .paths import default_data_dir, demo_data_dir

if TYPE_CHECKING:
    from .sandbox import SandboxServer

__all__ = ["configure_app", "display_name", "main", "parse_args"]

ORG_NAME = "tzbackup"
APP_NAME = "tzbackup"
DEMO_DELAY = 0.1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tzbackup-gui", description="Back up your shapes.inc personalities (desktop app)."
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="use a local sandbox with made-up personalities (no account, no keyring)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="where backups are kept")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="only browse the backups in the data dir: no network, no sign-in",
    )
    parser.add_argument("--base-url", default=None, help="service base URL (default https://shapes.inc)")
    parser.add_argument(
        "--files-base-url", default=None, help="files host (default https://files.shapes.inc)"
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=None,
        help=f"seconds between requests (default 1.0; {DEMO_DELAY} in --demo)",
    )
    parser.add_argument("--version", action="version", version=f"tzbackup-gui {__version__}")
    return parser.parse_args(argv)


def _no_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def app_icon_path() -> Path | None:
    for candidate in (
        Path(__file__).resolve().parent / "resources" / "tzbackup.svg",
        Path(__file__).resolve().parent.parent / "resources" / "tzbackup.svg",
    ):
        if candidate.is_file():
            return candidate
    return None


def display_name(*, demo: bool) -> str:
    """The app's name in window titles: "tzbackup", or "tzbackup — demo" for the demo."""
    return APP_NAME + (" — demo" if demo else "")


def configure_app(app: Any, *, demo: bool) -> None:
    """Names, settings location and desktop id. Qt appends the display name to every window title that does
    not already end with it: the main window's title is the display name itself ("tzbackup — demo", never
    "tzbackup — demo — tzbackup"), a dialog reads "Settings — tzbackup — demo"."""
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME + ("-demo" if demo else ""))
    app.setApplicationDisplayName(display_name(demo=demo))
    app.setDesktopFileName("io.github.tzbackup")  # = resources/io.github.tzbackup.desktop (Wayland app id)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the GUI script."""
    args = parse_args(argv)
    if _no_display():
        print(
            "tzbackup-gui needs a desktop session (no DISPLAY or WAYLAND_DISPLAY is set).\n"
            "Start it from your desktop, or use the command-line tool: tzbackup --help",
            file=sys.stderr,
        )
        return 2
    import qasync
    from PySide6.QtWidgets import QApplication  # PySide6 before qasync

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    configure_app(app, demo=args.demo)
    app.setQuitOnLastWindowClosed(False)  # each face ends its own loop when its last window closes
    with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
        return runner.run(_offline(app, args) if args.offline else _amain(app, args))


async def _offline(app: Any, args: argparse.Namespace) -> int:
    """The offline browser alone: no service client, no keyring, no sign-in. It still runs on the qasync loop,
    because the Talk tab streams its replies from the chat endpoint the user chose (in the demo, the
    sandbox's made-up one on this machine; never shapes.inc)."""
    from .ui.browser_window import BrowserWindow

    icon_path = app_icon_path()
    if icon_path:
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon_path)))
    with contextlib.ExitStack() as stack:
        if args.demo:
            _start_demo_sandbox(app, stack)
        window = BrowserWindow(args.data_dir or (demo_data_dir() if args.demo else default_data_dir()))
        closed = asyncio.Event()
        app.lastWindowClosed.connect(closed.set)
        window.show()
        await closed.wait()
        await _drain()
    return 0


def _start_demo_sandbox(app: Any, stack: contextlib.ExitStack) -> SandboxServer:
    """Start the demo's sandbox (stopped when ``stack`` closes) and point the browser's Talk tab at its
    made-up chat endpoint (no model, no keyring). Returns the sandbox."""
    from .sandbox import SandboxServer
    from .sandbox.llm import llm_base_url
    from .ui.talk_view import DEMO_ENDPOINT_PROPERTY

    sandbox = stack.enter_context(SandboxServer.demo())
    app.setProperty(DEMO_ENDPOINT_PROPERTY, llm_base_url(sandbox.base_url))
    return sandbox


async def _drain() -> None:
    """Let the tasks a closing window started (a Talk conversation closing its HTTP client and retrieval
    thread) finish while the loop still runs; stopped later they fail with "no running event loop"."""
    pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    if pending:
        await asyncio.wait(pending, timeout=5.0)


async def _amain(app: Any, args: argparse.Namespace) -> int:
    import httpx
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QIcon

    from .app import DEFAULT_BASE_URL, DEFAULT_FILES_BASE_URL, AppConfig, AppContext
    from .credentials import CredentialStore
    from .service.auth import parse_cookie_input
    from .ui.avatars import initials_icon
    from .ui.main_window import MainWindow
    from .ui.notifier import make_notifier
    from .ui.settings_dialog import apply_saved_preferences, make_private

    icon_path = app_icon_path()
    icon = QIcon(str(icon_path)) if icon_path else initials_icon("tzbackup", 64)
    app.setWindowIcon(icon)
    with contextlib.ExitStack() as stack:
        credential = None
        if args.demo:
            sandbox = _start_demo_sandbox(app, stack)
            config = AppConfig(
                data_dir=args.data_dir or demo_data_dir(),
                base_url=sandbox.base_url,
                files_base_url=sandbox.files_base_url,
                delay=DEMO_DELAY if args.delay is None else args.delay,
                demo=True,
            )
            store = CredentialStore(memory_only=True)  # the demo never touches the keyring
            credential = parse_cookie_input(sandbox.cookie)
        else:
            config = AppConfig(
                data_dir=args.data_dir or default_data_dir(),
                base_url=args.base_url or DEFAULT_BASE_URL,
                files_base_url=args.files_base_url or DEFAULT_FILES_BASE_URL,
                delay=1.0 if args.delay is None else args.delay,
            )
            store = CredentialStore()
        settings = make_private(QSettings())
        explicit = {name for name in ("data_dir", "delay") if getattr(args, name) is not None}
        apply_saved_preferences(config, settings, explicit=explicit)  # Settings dialog values
        prepare_data_dir(config)
        http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=15.0), follow_redirects=False)
        ctx = AppContext(config, http, store, credential=credential)
        if args.demo:
            ctx.location = "demo session"
        window = MainWindow(ctx, settings=settings, icon=icon)
        window.notifier = make_notifier(icon, window, tray=window.tray.icon if window.tray else None)
        closed = asyncio.Event()
        # hidden in the tray (a schedule is on) the app keeps running; Quit there ends it
        app.lastWindowClosed.connect(lambda: None if window.in_tray else closed.set())
        window.quit_requested.connect(closed.set)
        window.show()
        start = asyncio.ensure_future(window.start())
        await closed.wait()
        if not start.done():
            start.cancel()
        await asyncio.gather(start, return_exceptions=True)
        await _drain()
        await ctx.aclose()
    return 0


def prepare_data_dir(config: Any) -> str:
    """Make the data folder a full path and create it (0700) when it can be; never raises. A folder that
    cannot be used is left as it is: the window opens anyway, with a banner that names it and says why."""
    from .app import data_dir_problem
    from .archive.store import ensure_dir
    from .errors import TzBackupError

    config.data_dir = Path(os.path.abspath(config.data_dir.expanduser()))
    problem = data_dir_problem(config.data_dir)
    if not problem:
        try:
            ensure_dir(config.data_dir)
        except TzBackupError as err:
            problem = str(err)
    return problem


if __name__ == "__main__":
    raise SystemExit(main())
