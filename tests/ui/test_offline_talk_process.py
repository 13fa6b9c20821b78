"""The offline browser started the way users start it (``tzbackup-gui --offline --demo``), in a process of its
own: Talk there needs an asyncio loop (before, the plain Qt loop left Send doing nothing at all), talks to the
demo's made-up endpoint, and closing the window mid-conversation ends the process cleanly (its HTTP client and
retrieval thread closed while the loop still runs, not "no running event loop" on the way out)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.talk_support import SLUG, Backed, make_backup

ROOT = Path(__file__).resolve().parents[2]

DRIVER = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    import tzbackup_gui.__main__ as gui
    from pathlib import Path
    from tzbackup_gui.archive.browse import load_personality
    from tzbackup_gui.ui.browser_window import BrowserWindow

    data_dir, slug = sys.argv[1], sys.argv[2]
    app = QApplication(sys.argv[:1])
    state = {"sent": False, "ticks": 0}

    def poll() -> None:
        state["ticks"] += 1
        if state["ticks"] > 600:  # 30 s: give up, the test reads what was printed
            print("TIMEOUT", flush=True)
            for w in app.topLevelWidgets():
                w.close()
            return
        windows = [w for w in app.topLevelWidgets() if isinstance(w, BrowserWindow) and w.isVisible()]
        if not windows:
            return
        view = windows[0].talk
        if not state["sent"]:
            view.show_details(load_personality(Path(data_dir) / "personalities" / slug))
            view.input.setPlainText("Do you remember the lighthouse?")
            view.send()
            state["sent"] = True
        elif "You said" in view.transcript.toPlainText():
            said = [line for line in view.transcript.toPlainText().splitlines() if "You said" in line]
            print("REPLY:", said[0][:80], flush=True)
            view.input.setPlainText("And the tide pools?")
            view.send()  # closing while this second reply streams in
            windows[0].close()
            timer.stop()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(50)
    code = gui.main(["--offline", "--demo", "--data-dir", data_dir])
    print("EXIT", code, flush=True)
    sys.exit(code)
    """
)


@pytest.fixture(scope="module")
def module_backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backed]:
    yield from make_backup(tmp_path_factory)


def test_offline_demo_browser_talks_and_closes_cleanly(module_backup: Backed, tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(module_backup.data_dir), SLUG],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )
    assert "REPLY: Lilith: You said" in proc.stdout, (proc.stdout, proc.stderr)
    assert "TIMEOUT" not in proc.stdout
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "never retrieved" not in proc.stderr, proc.stderr
    saved = list((module_backup.data_dir / "talk" / SLUG).glob("*.jsonl"))
    assert saved and all(p.stat().st_mode & 0o077 == 0 for p in saved), "the conversation, private, apart"
