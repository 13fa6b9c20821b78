"""Export… and Import backup… in the windows: choose a file, work on a thread, say what happened.

The export and import functions (``archive/export.py``, ``archive/importer.py``) block: they read and hash
whole personality folders. :class:`FileJob` runs one of them on a ``threading.Thread`` and delivers its
result (or exception) to the GUI thread through a queued Qt signal, like ``index_worker.py`` does, so it
works the same in the main window (qasync) and in the offline browser (a plain Qt loop). One job at a
time per window. Results and errors are shown as plain, non-modal message boxes (``open``, not ``exec``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from ..app import display_path
from ..archive.card_memories import MemoryChoice
from ..archive.export import ExportResult, export_as
from ..archive.export_paths import default_outputs
from ..archive.importer import ImportResult, LocalBackupNewerError, import_archive
from ..errors import TzBackupError
from ..model.words import plural

__all__ = ["EXPORT_FORMATS", "ExportImport", "FileJob", "ManyExports", "size_text"]

log = logging.getLogger("tzbackup.ui")

#: format -> (menu text, what it is called in messages, file dialog filter)
EXPORT_FORMATS: dict[str, tuple[str, str, str]] = {
    "zip": ("As &ZIP Archive…", "ZIP archive", "tzbackup archive (*.zip)"),
    "markdown": ("As &Markdown…", "Markdown document", "Markdown (*.md)"),
    "card": ("As &Character Card (JSON + PNG)…", "character card", "Character card (*.json *.png)"),
    "card-v3": ("As Character Card &V3 (JSON + PNG)…", "character card (V3)",
                "Character card V3 (*.json *.png)"),
    "sillytavern-chat": ("As &SillyTavern Chat…", "SillyTavern chat file", "SillyTavern chat (*.jsonl)"),
}
LAST_DIR_KEY = "export/last_dir"
MEMORIES_KEY = "export/card_memories"
#: what a V3 card's lorebook may hold besides the knowledge: (choice offered, memories: None = all)
MEMORY_CHOICES: tuple[tuple[str, int | None], ...] = (
    ("Knowledge only (no memories)", 0),
    ("Knowledge and the newest 50 memories", 50),
    ("Knowledge and the newest 200 memories", 200),
    ("Knowledge and the newest 1,000 memories", 1000),
    ("Knowledge and all memories", None),
)
#: formats that ask which memories go into the card's lorebook
ASKS_MEMORIES = frozenset({"card-v3"})


def size_text(n: int) -> str:
    """ "812 bytes", "14.2 KB", "3.1 MB"."""
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} MB"
    if n >= 1_000:
        return f"{n / 1e3:.1f} KB"
    return f"{n} bytes"


class FileJob(QObject):
    """One blocking call on a worker thread; :attr:`finished` carries its return value or its exception."""

    finished = Signal(object)

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self._thread = threading.Thread(target=self._run, name="tzbackup-file-job", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float = 30.0) -> None:
        """Block until the call returned (closing a window mid-export lets the file be finished)."""
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            outcome: Any = self._fn()
        except Exception as err:  # delivered to the window, shown as a plain message
            outcome = err
        with contextlib.suppress(RuntimeError):  # the window (our parent) was deleted meanwhile
            self.finished.emit(outcome)


@dataclass
class ManyExports:
    """What an export of several personalities did (delivered to the GUI thread as one outcome)."""

    fmt: str
    folder: Path
    results: list[tuple[str, ExportResult]] = field(default_factory=list)
    errors: list[tuple[str, Exception]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def run_export(
    folder: Path, fmt: str, main: Path, png: Path | None, memories: MemoryChoice | None = None
) -> ExportResult:
    """The blocking export of one personality folder (called on the worker thread); problems a zip's
    verification found come back as a note, so the finished message says them."""
    result, problems = export_as(folder, fmt, main, png, memories=memories)
    if problems:
        shown = "; ".join(problem_text.rstrip(". ") for problem_text in problems[:5])
        result.notes.append(f"Warning: the backup has problems ({shown}); importing this zip will be refused "
                            "until they are fixed (tzbackup verify lists them).")
    return result


class ExportImport(QObject):
    """The Export… / Import backup… commands of one window.

    ``data_dir`` returns the data dir imports go to (None: this window has none, e.g. a browser opened on one
    personality folder). :attr:`imported` fires after a successful import so the window reloads its list.
    """

    imported = Signal(object)  # ImportResult
    job_done = Signal(str, object)  # "export" | "import", the result or the exception (tests wait on it)

    def __init__(
        self, parent: QWidget, data_dir: Callable[[], Path | None], settings: QSettings | None = None
    ) -> None:
        super().__init__(parent)
        self._data_dir = data_dir
        self.settings = settings
        self.job: FileJob | None = None
        self.message_box: QMessageBox | None = None
        self.last_result: object = None

    @property
    def widget(self) -> QWidget:
        """The window (our Qt parent; not stored, so no reference cycle keeps it alive)."""
        return self.parent()  # type: ignore[return-value]

    @property
    def busy(self) -> bool:
        return self.job is not None

    # --- export -----------------------------------------------------------------------------------------

    def _start_dir(self) -> Path:
        saved = self.settings.value(LAST_DIR_KEY) if self.settings is not None else None
        if isinstance(saved, str) and saved and Path(saved).is_dir():
            return Path(saved)
        return Path.home()

    def ask_memories(self, fmt: str, title: str) -> MemoryChoice | None:
        """Which memories a card's lorebook holds besides the knowledge (asked for the formats in
        :data:`ASKS_MEMORIES`, else none); the last answer is offered first. None: the user cancelled."""
        if fmt not in ASKS_MEMORIES:
            return MemoryChoice(0)
        labels = [label for label, _ in MEMORY_CHOICES]
        saved = self.settings.value(MEMORIES_KEY) if self.settings is not None else None
        current = labels.index(saved) if isinstance(saved, str) and saved in labels else 0
        chosen, ok = QInputDialog.getItem(
            self.widget, f"Memories in the card of {title}",
            "The card's lorebook holds the knowledge. Memories can go in too, each recalled when its most "
            "distinctive words come up in a chat:", labels, current, False,
        )
        if not ok or chosen not in labels:
            return None
        if self.settings is not None:
            self.settings.setValue(MEMORIES_KEY, chosen)
        return MemoryChoice(dict(MEMORY_CHOICES)[chosen])

    def export(self, folder: Path, fmt: str, title: str = "") -> bool:
        """Ask where to save ``folder`` as ``fmt`` (one of :data:`EXPORT_FORMATS`) and, for a V3 card, which
        memories go into its lorebook; then export it."""
        if self.busy:
            self._say(QMessageBox.Icon.Information, "Please wait", "An export or import is still running.")
            return False
        label = EXPORT_FORMATS[fmt][1]
        title = title or folder.name
        default, _ = default_outputs(folder.name, fmt, self._start_dir())
        chosen, _filter = QFileDialog.getSaveFileName(
            self.widget, f"Export {title} as {label}", str(default), EXPORT_FORMATS[fmt][2]
        )
        if not chosen:
            return False
        main, png = default_outputs(folder.name, fmt, Path(chosen))
        if self.settings is not None:
            self.settings.setValue(LAST_DIR_KEY, str(main.parent))
        memories = self.ask_memories(fmt, title)
        if memories is None:
            return False
        log.info("Exporting %s as %s to %s", title, label, display_path(main))
        self._start("export", lambda: run_export(folder, fmt, main, png, memories), title)
        return True

    def export_many(self, items: list[tuple[Path, str]], fmt: str, *, skipped: Sequence[str] = ()) -> bool:
        """Several personality folders (``(folder, title)``) as ``fmt``, each under its default name in one
        folder the user picks; ``skipped`` names the ticked ones without a backup (the message says them)."""
        if self.busy:
            self._say(QMessageBox.Icon.Information, "Please wait", "An export or import is still running.")
            return False
        label = EXPORT_FORMATS[fmt][1]
        chosen = QFileDialog.getExistingDirectory(
            self.widget, f"Export {len(items)} personalities, each as a {label}, into the folder…",
            str(self._start_dir()),
        )
        if not chosen:
            return False
        out = Path(chosen)
        if self.settings is not None:
            self.settings.setValue(LAST_DIR_KEY, str(out))
        memories = self.ask_memories(fmt, f"{len(items)} personalities")
        if memories is None:
            return False
        log.info("Exporting %d personalities as %s to %s", len(items), label, display_path(out))

        def work() -> ManyExports:
            done = ManyExports(fmt, out, skipped=list(skipped))
            for folder, title in items:
                main, png = default_outputs(folder.name, fmt, out)
                try:
                    done.results.append((title, run_export(folder, fmt, main, png, memories)))
                except Exception as err:  # one failure never stops the others; the message lists it
                    done.errors.append((title, err))
            return done

        self._start("export", work, f"{len(items)} personalities")
        return True

    def _export_done(self, title: str, outcome: object) -> None:
        if isinstance(outcome, ManyExports):
            self._many_done(outcome)
            return
        if isinstance(outcome, ExportResult):
            label = EXPORT_FORMATS.get(outcome.format, ("", outcome.format, ""))[1]
            files = "\n".join(
                f"{display_path(p)}  ({size_text(p.stat().st_size) if p.exists() else '?'})"
                for p in outcome.paths
            )
            if outcome.format == "zip":  # ExportResult.bytes counts the files before compression
                detail = (f"{outcome.memories:,} memories in {outcome.files:,} files "
                          f"({size_text(outcome.bytes)} before compression).")
            elif outcome.format == "sillytavern-chat":
                detail = f"{outcome.messages:,} chat messages, {size_text(outcome.bytes)} in all."
            else:
                detail = f"{outcome.memories:,} memories, {size_text(outcome.bytes)} in all."
            notes = "\n".join(outcome.notes)
            log.info("Exported %s as %s: %s", title, label, detail)
            self._say(
                QMessageBox.Icon.Information, "Export finished", f"Exported {title} as a {label}:\n\n{files}",
                detail + (f"\n{notes}" if notes else ""), name="exportDoneBox",
            )
        else:
            self._error("Export failed", outcome, name="exportErrorBox")

    def _many_done(self, outcome: ManyExports) -> None:
        label = EXPORT_FORMATS.get(outcome.fmt, ("", outcome.fmt, ""))[1]
        n = len(outcome.results)
        files = "\n".join(
            f"{title}: {', '.join(p.name for p in result.paths)}" for title, result in outcome.results
        )
        lines = []
        for title, err in outcome.errors:
            reason = err.message if isinstance(err, TzBackupError) else (
                err.strerror or str(err) if isinstance(err, OSError) else type(err).__name__
            )
            lines.append(f"{title}: not exported ({reason})")
        if outcome.skipped:
            lines.append("No local backup yet, so not exported: " + ", ".join(outcome.skipped))
        log.info("Exported %d personalities as %s to %s", n, label, display_path(outcome.folder))
        self._say(
            QMessageBox.Icon.Information if not outcome.errors else QMessageBox.Icon.Warning,
            "Export finished" if not outcome.errors else "Export finished with problems",
            f"Exported {plural(n, 'personality', 'personalities')}, each as a {label}, into "
            f"{display_path(outcome.folder)}:\n\n{files}",
            "\n".join(lines), name="exportDoneBox" if not outcome.errors else "exportErrorBox",
        )

    # --- import -----------------------------------------------------------------------------------------

    def import_zip(self) -> bool:
        """Ask for an exported zip, verify it and merge it into the data dir (nothing written if refused)."""
        data_dir = self._data_dir()
        if data_dir is None:
            self._say(
                QMessageBox.Icon.Information, "Open a data folder first",
                "An import goes into a data folder. Open one (File → Open Backup Folder…) and try again.",
            )
            return False
        if self.busy:
            self._say(QMessageBox.Icon.Information, "Please wait", "An export or import is still running.")
            return False
        chosen, _filter = QFileDialog.getOpenFileName(
            self.widget, "Import a backup", str(self._start_dir()), "tzbackup archive (*.zip);;All files (*)"
        )
        if not chosen:
            return False
        path = Path(chosen)
        log.info("Importing %s into %s", display_path(path), display_path(data_dir))
        self._start("import", lambda: import_archive(path, data_dir), path.name)
        return True

    def _import_done(self, name: str, outcome: object) -> None:
        if isinstance(outcome, ImportResult):
            who = outcome.display_name or outcome.slug or outcome.folder.name
            action = (
                "It replaced the older local copy." if outcome.replaced else "It is new in this data folder."
            )
            kept = (
                f"\n{plural(outcome.history_kept, 'older memory version')} that only the local copy had "
                f"{'was' if outcome.history_kept == 1 else 'were'} kept."
                if outcome.history_kept else ""
            ) + "".join(
                f"\n{plural(count, 'entry', 'entries')} of {what} that only the local copy had "
                f"{'was' if count == 1 else 'were'} kept."
                for what, count in outcome.carried.items()
            )
            log.info("Imported %s: %s memories, %s files", who, outcome.memories, outcome.files)
            self._say(
                QMessageBox.Icon.Information, "Import finished",
                f"Imported {who}: {outcome.memories:,} memories, {outcome.files:,} files "
                f"({size_text(outcome.bytes)}) into {display_path(outcome.folder)}.",
                action + kept, name="importDoneBox",
            )
            self.imported.emit(outcome)
        elif isinstance(outcome, LocalBackupNewerError):
            log.info("Import of %s skipped: %s", name, outcome.message)
            self._say(
                QMessageBox.Icon.Information, "Nothing imported", f"{name} was skipped: {outcome.message}",
                outcome.hint, name="importSkippedBox",
            )
        else:
            self._error("The archive was not imported", outcome, name="importErrorBox")

    # --- shared -----------------------------------------------------------------------------------------

    def _start(self, kind: str, fn: Callable[[], Any], what: str) -> None:
        job = FileJob(fn, self)
        job.finished.connect(lambda outcome: self._finished(kind, what, outcome))
        self.job = job
        job.start()

    def _finished(self, kind: str, what: str, outcome: object) -> None:
        job, self.job = self.job, None
        if job is not None:
            job.deleteLater()
        self.last_result = outcome
        if kind == "export":
            self._export_done(what, outcome)
        else:
            self._import_done(what, outcome)
        self.job_done.emit(kind, outcome)

    def _error(self, title: str, err: object, *, name: str) -> None:
        if isinstance(err, TzBackupError):
            message, hint = err.message, err.hint
        elif isinstance(err, OSError):
            message, hint = f"Could not write the file: {err.strerror or err}.", "Choose another folder."
        else:
            message = f"Something unexpected went wrong ({type(err).__name__})."
            hint = "The details are in the log."
            log.error("%s: %r", title, err)
        log.warning("%s: %s", title, message)
        self._say(QMessageBox.Icon.Warning, title, message, hint, name=name)

    def _say(
        self, icon: QMessageBox.Icon, title: str, text: str, detail: str = "", *, name: str = "infoBox"
    ) -> None:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self.widget)
        box.setObjectName(name)
        if detail:
            box.setInformativeText(detail)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_box = box
        box.open()
