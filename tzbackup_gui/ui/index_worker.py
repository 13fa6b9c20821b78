"""Builds or updates the browser's search index on a worker thread, reporting back through Qt signals.

The offline browser runs on a plain Qt event loop (no asyncio), so this is a ``threading.Thread`` whose
signals are delivered to the GUI thread as queued calls. The thread owns its own SQLite connection (the
writer); the window reads through a second connection opened once :attr:`IndexWorker.opened` fired.
JSON parsing holds the GIL, but only for one file at a time, so the window keeps painting and answering.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from PySide6.QtCore import QObject, Signal

from ..archive.browse import BackupSource
from ..archive.index import IndexCancelled, IndexProgress, SearchIndex

__all__ = ["IndexWorker"]


class _Gone(Exception):
    """The QObject behind the signals was deleted (window closed) while the thread was still reading."""

PROGRESS_EVERY = 0.1  # seconds between two file-count signals (folder commits are always reported)
SWITCH_INTERVAL = 0.0005  # seconds; see IndexWorker._run


class IndexWorker(QObject):
    """One index update of one :class:`BackupSource`; start it once, cancel it to stop early."""

    opened = Signal(str)  # path of the index: ready for readers (created or validated)
    progress = Signal(int, int)  # files read so far, files to read
    # a personality folder committed: its name, whether anything changed in it, and its MemoryRows when it is
    # the folder the window wants (read here, so the GUI thread does not spend 40 ms on 20,000 rows)
    folder_ready = Signal(str, bool, object)
    finished = Signal(object)  # IndexUpdate; None when cancelled; an Exception when it failed

    def __init__(self, source: BackupSource, first: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.first = first
        self._stop = threading.Event()
        self._index: SearchIndex | None = None
        self.wanted = first  # the folder on screen; set from the GUI thread (a plain attribute swap)
        self._last_emit = 0.0
        self._thread = threading.Thread(target=self._run, name="tzbackup-index", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self, wait: float = 5.0) -> None:
        """Ask the thread to stop after the current file and wait for it (the folder in progress is rolled
        back; committed folders stay indexed)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def is_running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        # A thread running Python code keeps the GIL for up to the switch interval (5 ms) each time the GUI
        # thread wants it back, and the GUI thread wants it back after every call into Qt: painting a table
        # would crawl. 0.5 ms while indexing keeps the window smooth; the default comes back afterwards.
        previous = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        try:
            self._update()
        finally:
            sys.setswitchinterval(previous)

    def _update(self) -> None:
        try:
            with SearchIndex(self.source) as index:
                self._index = index
                self.opened.emit(str(index.path))
                report = index.update(first=self.first, progress=self._report, should_stop=self._stop.is_set)
        except IndexCancelled:
            self._finish(None)
        except _Gone:
            return
        except Exception as err:  # shown in the window: the browser still works without search
            self._finish(err)
        else:
            self._finish(report)

    def _finish(self, result: object) -> None:
        with contextlib.suppress(RuntimeError):  # the window (and this QObject) went away meanwhile
            self.finished.emit(result)

    def _report(self, event: IndexProgress) -> None:
        try:
            self._emit_progress(event)
        except RuntimeError as err:  # "Signal source has been deleted": the window closed; stop quietly
            raise _Gone from err

    def _emit_progress(self, event: IndexProgress) -> None:
        if event.folder is not None:
            self.progress.emit(event.done, event.total)
            rows = None
            if event.folder == self.wanted and self._index is not None:
                rows = self._index.memory_rows(event.folder)
            self.folder_ready.emit(event.folder, event.changed, rows)
            return
        now = time.monotonic()
        if now - self._last_emit >= PROGRESS_EVERY or event.done in (0, event.total):
            self._last_emit = now
            self.progress.emit(event.done, event.total)
