"""File → Settings…: data folder, sections, request spacing, schedule, reconcile age, keyring status.

Everything is kept in QSettings (keys below) and applied when the dialog is accepted; a new data folder
applies only after a confirmation, then the list reloads from it. Command-line options (``--data-dir``,
``--delay``) win over the saved values for that start (see :func:`apply_saved_preferences`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from pathlib import Path
from typing import Any, Protocol, cast

from PySide6.QtCore import QEvent, QSettings, Qt, QTime
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from ..app import (
    MIN_REMOTE_DELAY,
    AppConfig,
    AppContext,
    data_dir_problem,
    display_path,
    spacing_problem,
    where_text,
)
from ..archive.store import make_private_dirs
from ..backup.report import ALL_SECTIONS
from ..model.urls import is_loopback
from ..schedule import Schedule
from .help_viewer import HEADLESS_HELP
from .scheduler import BackupScheduler
from .sections import SECTION_LABELS, chosen_sections, save_sections
from .theme import TEXT_AIM, css, error_color, flatten, muted_text, readable

__all__ = ["DATA_DIR_KEY", "SettingsDialog", "SettingsHost", "apply_saved_preferences", "make_private"]


class SettingsHost(Protocol):
    """What the dialog changes and reads in the window that opens it (the main window is one)."""

    ctx: AppContext
    settings: QSettings
    scheduler: BackupScheduler
    data_dir_problem: str  # why the current data folder cannot be used ("" when it can)

    @property
    def running(self) -> bool: ...

    def sign_out(self) -> object: ...

    def set_data_dir(self, data_dir: Path) -> str: ...


log = logging.getLogger("tzbackup.ui")

DATA_DIR_KEY = "data/dir"
DELAY_KEY = "network/delay"
ALLOW_FAST_KEY = "network/allow_fast"
RECONCILE_KEY = "backup/reconcile_age_days"
SPIN_WIDTH = 140
KINDS = (("off", "Off"), ("interval", "Every N hours"), ("daily", "Daily at a time"))


def _bool(value: object) -> bool:
    return str(value).lower() in ("true", "1")


def make_private(settings: QSettings) -> QSettings:
    """The settings file readable by its owner only, like every file tzbackup writes: its folder 0700 and the
    file created 0600 before Qt first writes it (Qt keeps an existing file's mode when it saves)."""
    path = Path(settings.fileName())
    if settings.format() == QSettings.Format.NativeFormat and not path.is_absolute():
        return settings  # not a file (e.g. the registry on Windows)
    try:
        make_private_dirs(path.parent)
        path.parent.chmod(0o700)  # the app's own folder under ~/.config
        if path.exists():
            path.chmod(0o600)
        else:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as err:  # settings still work in memory; say why they may not be private
        log.warning("Could not make the settings file private (%s): %s", display_path(path), err.strerror)
    return settings


def apply_saved_preferences(config: AppConfig, settings: QSettings, *, explicit: set[str]) -> None:
    """Fill ``config`` from QSettings, except for what the command line set (``explicit`` names)."""
    data_dir = settings.value(DATA_DIR_KEY)
    if "data_dir" not in explicit and isinstance(data_dir, str) and data_dir:
        config.data_dir = Path(data_dir)
    if "delay" not in explicit and settings.value(DELAY_KEY) is not None:
        try:
            delay = float(settings.value(DELAY_KEY))
        except (TypeError, ValueError):
            delay = config.delay
        allow = _bool(settings.value(ALLOW_FAST_KEY, False))
        if not spacing_problem(delay, config.base_url, allow_fast=allow):
            config.delay = delay
    reconcile = settings.value(RECONCILE_KEY)
    if reconcile is not None:
        with contextlib.suppress(TypeError, ValueError):
            config.reconcile_age_days = max(1.0, float(reconcile))


class SettingsDialog(QDialog):
    """The settings of one window; ``accept`` validates, confirms a data-folder change, then applies."""

    def __init__(self, window: QWidget) -> None:
        """``window``: the parent, a :class:`SettingsHost` (the main window)."""
        super().__init__(window)
        self.settings: QSettings = self.window_.settings
        self.confirm_box: QMessageBox | None = None
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        layout.addWidget(self._backups_box())
        layout.addWidget(self._sections_box())
        layout.addWidget(self._network_box())
        layout.addWidget(self._schedule_box())
        layout.addWidget(self._keyring_box())
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.setObjectName("settingsButtons")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._load()
        self._validate()
        self._set_tab_order()
        self._apply_theme()
        problem = self.window_.data_dir_problem
        if problem:  # the current folder cannot be used (the window's banner says so too)
            self._refuse(f"{display_path(self.window_.ctx.config.data_dir)} cannot be used: {problem}.")
        # Wrapped hints make the layout height-for-width; without this the first show squeezes every group
        # to its minimum (checkboxes overlapping) instead of giving the dialog the height it asks for.
        self.setMinimumHeight(layout.totalHeightForWidth(self.minimumWidth()))

    def _set_tab_order(self) -> None:
        """Top to bottom, as the eye reads the dialog (the default follows creation order)."""
        order: list[QWidget] = [
            self.data_dir_edit, self.browse_button, self.reconcile_spin,
            *[check for name, check in self.section_checks.items() if name != "profile"],
            self.delay_spin, self.allow_fast_check, self.kind_combo, self.hours_spin, self.time_edit,
            self.schedule_note, self.sign_out_button,
            *[b for b in (self.buttons.button(s) for s in (QDialogButtonBox.StandardButton.Ok,
                                                        QDialogButtonBox.StandardButton.Cancel)) if b],
        ]
        for first, second in itertools.pairwise(order):
            self.setTabOrder(first, second)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._apply_theme()

    def _apply_theme(self) -> None:
        """The notes in a quieter colour and the problems in red, both readable in this palette."""
        if getattr(self, "_theming", False):
            return
        self._theming = True  # a style sheet sends the widget a palette change of its own
        try:
            palette = self.palette()
            window = palette.color(QPalette.ColorRole.Window)
            muted = css(readable(flatten(muted_text(palette, window), window), window, TEXT_AIM))
            for note in (self.reconcile_note, self.sections_note, self.delay_note, self.schedule_note):
                note.setStyleSheet(f"QLabel {{ color: {muted}; }}")
            error = css(readable(error_color(palette, window), window, TEXT_AIM))
            for label in (self.data_dir_problem, self.delay_problem):
                label.setStyleSheet(f"QLabel {{ color: {error}; }}")
            link = css(readable(palette.color(QPalette.ColorRole.Link), window, TEXT_AIM))
            self.schedule_note.setText(
                "Runs while tzbackup is open or in the tray; a run missed while the computer slept runs "
                "once when it wakes. To back up when tzbackup is not running (a systemd timer or cron): "
                f'<a href="{HEADLESS_HELP}" style="color: {link}">how to set it up</a>.'
            )
        finally:
            self._theming = False

    def _open_help(self, link: str) -> None:
        """The schedule note's link: the README's section on timers, in the app's help viewer."""
        from .help_viewer import show_help

        show_help(self, link)

    @property
    def window_(self) -> SettingsHost:
        """The main window (our Qt parent; not stored, so no reference cycle)."""
        return cast("SettingsHost", self.parentWidget())

    # --- construction -------------------------------------------------------------------------------

    def _backups_box(self) -> QGroupBox:
        box = QGroupBox("Backups")
        form = QFormLayout(box)
        self.data_dir_edit = QLineEdit()
        self.data_dir_edit.setObjectName("dataDirEdit")
        self.data_dir_edit.setAccessibleName("Data folder")
        self.browse_button = QPushButton("&Browse…")
        self.browse_button.setObjectName("browseDataDirButton")
        self.browse_button.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.data_dir_edit, 1)
        row.addWidget(self.browse_button)
        form.addRow("&Data folder:", _wrap(row))
        self.data_dir_problem = QLabel()
        self.data_dir_problem.setObjectName("dataDirProblemLabel")
        self.data_dir_problem.setWordWrap(True)
        self.data_dir_problem.setVisible(False)
        form.addRow("", self.data_dir_problem)
        if self.window_.running:
            self.data_dir_edit.setEnabled(False)
            self.browse_button.setEnabled(False)
            self.data_dir_edit.setToolTip("Wait for the backup to finish to change the data folder")
        self.reconcile_spin = QSpinBox()
        self.reconcile_spin.setObjectName("reconcileSpin")
        self.reconcile_spin.setRange(1, 365)
        self.reconcile_spin.setSuffix(" days")
        self.reconcile_spin.setToolTip(
            "Quick backups fetch only the newest memories. Once in this many days a backup reads every "
            "page, to notice edits and deletions of older memories."
        )
        self.reconcile_spin.setMaximumWidth(SPIN_WIDTH)
        self.reconcile_spin.setAccessibleName("Re-read all memories every N days")
        form.addRow("Re-read &all memories every:", self.reconcile_spin)
        self.reconcile_note = _note(
            "A backup normally fetches only the memories added since the last one. This often it reads "
            "them all instead, to catch memories edited or deleted on shapes.inc (slower: one request "
            "per 20 memories).",
            "reconcileNote",
        )
        form.addRow(self.reconcile_note)  # the whole width: a wrapped label in the field column leaves a gap
        return box

    def _sections_box(self) -> QGroupBox:
        """One checkbox per section; the profile is always backed up (it names the folder)."""
        box = QGroupBox("Sections")
        box.setObjectName("sectionsBox")
        outer = QVBoxLayout(box)
        grid = QGridLayout()
        rows = (len(ALL_SECTIONS) + 1) // 2
        self.section_checks: dict[str, QCheckBox] = {}
        for i, name in enumerate(ALL_SECTIONS):
            label = SECTION_LABELS.get(name, name.title()).replace("&", "&&")  # "&" is not a mnemonic
            check = QCheckBox(label)
            check.setObjectName(f"section_{name}")
            if name == "profile":
                check.setChecked(True)
                check.setEnabled(False)
                check.setToolTip("Always backed up: it identifies the personality and its folder")
            self.section_checks[name] = check
            grid.addWidget(check, i % rows, i // rows)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        outer.addLayout(grid)
        note = _note("Sections left out are not fetched; their earlier files stay on disk.", "sectionsNote",
                     wrap=False)
        self.sections_note = note
        outer.addWidget(note)  # one line, not wrapped: a wrapped label's height-for-width squeezed the grid
        return box

    def chosen_sections(self) -> set[str]:
        """The ticked sections (``profile`` always included)."""
        return {name for name, check in self.section_checks.items() if check.isChecked()} | {"profile"}

    def _network_box(self) -> QGroupBox:
        box = QGroupBox("Network")
        form = QFormLayout(box)
        self.delay_spin = QDoubleSpinBox()
        self.delay_spin.setObjectName("delaySpin")
        self.delay_spin.setRange(0.0, 60.0)
        self.delay_spin.setDecimals(2)
        self.delay_spin.setSingleStep(0.1)
        self.delay_spin.setSuffix(" s")
        self.delay_spin.setToolTip(
            "Time between the starts of two requests (twice that between personalities)"
        )
        self.delay_spin.setMaximumWidth(SPIN_WIDTH)
        self.delay_spin.setAccessibleName("Wait between requests, in seconds")
        self.delay_spin.valueChanged.connect(self._validate)
        form.addRow("&Wait between requests:", self.delay_spin)
        self.delay_note = _note(
            "tzbackup waits this long between two requests to shapes.inc (twice as long between "
            "personalities), to stay gentle on the service. Shorter is faster; 1 s is the default.",
            "delayNote",
        )
        form.addRow(self.delay_note)
        self.allow_fast_check = QCheckBox(f"I know what I'm doing: allow less than {MIN_REMOTE_DELAY:g} s")
        self.allow_fast_check.setObjectName("allowFastCheck")
        self.allow_fast_check.toggled.connect(self._validate)
        form.addRow("", self.allow_fast_check)
        self.delay_problem = QLabel()
        self.delay_problem.setObjectName("delayProblemLabel")
        self.delay_problem.setWordWrap(True)
        form.addRow("", self.delay_problem)
        return box

    def _schedule_box(self) -> QGroupBox:
        box = QGroupBox("Scheduled backups")
        form = QFormLayout(box)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("scheduleKind")
        for kind, label in KINDS:
            self.kind_combo.addItem(label, kind)
        self.hours_spin = QSpinBox()
        self.hours_spin.setObjectName("scheduleHours")
        self.hours_spin.setRange(1, 168)
        self.hours_spin.setPrefix("every ")
        self.hours_spin.setSuffix(" h")
        self.time_edit = QTimeEdit()
        self.time_edit.setObjectName("scheduleTime")
        self.time_edit.setDisplayFormat("HH:mm")
        row = QHBoxLayout()
        row.addWidget(self.kind_combo)
        row.addWidget(self.hours_spin)
        row.addWidget(self.time_edit)
        row.addStretch(1)
        self.kind_combo.setAccessibleName("Run Back Up All")
        self.hours_spin.setAccessibleName("Hours between scheduled backups")
        self.time_edit.setAccessibleName("Time of the daily backup")
        form.addRow("&Run Back Up All:", _wrap(row))
        self.schedule_note = _note("", "scheduleNote")
        self.schedule_note.setTextFormat(Qt.TextFormat.RichText)
        self.schedule_note.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.schedule_note.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.schedule_note.setAccessibleName("How to back up when tzbackup is not running")
        self.schedule_note.linkActivated.connect(self._open_help)
        form.addRow(self.schedule_note)
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        return box

    def _keyring_box(self) -> QGroupBox:
        box = QGroupBox("Session cookie")
        form = QFormLayout(box)
        self.keyring_label = QLabel()
        self.keyring_label.setObjectName("keyringLabel")
        self.keyring_label.setWordWrap(True)
        self.keyring_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.account_label = QLabel()
        self.account_label.setObjectName("storedAccountLabel")
        self.sign_out_button = QPushButton("Sign &Out")
        self.sign_out_button.setObjectName("settingsSignOutButton")
        self.sign_out_button.clicked.connect(self._sign_out)
        row = QHBoxLayout()
        row.addWidget(self.account_label, 1)
        row.addWidget(self.sign_out_button)
        form.addRow("Keyring:", self.keyring_label)
        form.addRow("Account:", _wrap(row))
        return box

    # --- values -------------------------------------------------------------------------------------

    def _load(self) -> None:
        ctx = self.window_.ctx
        self.data_dir_edit.setText(display_path(ctx.config.data_dir))
        self.data_dir_edit.setToolTip(str(ctx.config.data_dir))
        self.data_dir_edit.setCursorPosition(0)
        self.reconcile_spin.setValue(max(1, round(ctx.config.reconcile_age_days)))
        self.delay_spin.setValue(ctx.pacer_delay())
        self.allow_fast_check.setChecked(_bool(self.settings.value(ALLOW_FAST_KEY, False)))
        self.allow_fast_check.setVisible(not is_loopback(ctx.config.base_url))
        sections = chosen_sections(self.settings)
        for name, check in self.section_checks.items():
            check.setChecked(name == "profile" or sections is None or name in sections)
        schedule = self.window_.scheduler.schedule
        self.kind_combo.setCurrentIndex([k for k, _ in KINDS].index(schedule.kind))
        self.hours_spin.setValue(schedule.hours)
        at = schedule.time_of_day()
        self.time_edit.setTime(QTime(at.hour, at.minute))
        self._kind_changed()
        self.refresh_keyring()

    def refresh_keyring(self) -> None:
        """Backend name (or why there is none), the account, and whether Sign Out makes sense."""
        ctx = self.window_.ctx
        store = ctx.store
        if ctx.config.demo:
            keyring = "not used in demo mode"
        elif store.available():
            keyring = store.describe_location() or store.backend_name
        else:
            keyring = f"none available: {store.unavailable_reason() or 'no keyring backend'}"
        self.keyring_label.setText(keyring)
        user = ctx.user or {}
        if ctx.credential is None:
            account = "not signed in"
        else:
            name = user.get("username") or user.get("displayName") or "signed in"
            where = where_text(ctx.location)
            account = f"@{name}" + (f" · cookie {where}" if where else "")
        self.account_label.setText(account)
        self.sign_out_button.setEnabled(ctx.credential is not None and not ctx.config.demo)

    def schedule(self) -> Schedule:
        kind = str(self.kind_combo.currentData())
        t = self.time_edit.time()
        return Schedule(kind, hours=self.hours_spin.value(), at=f"{t.hour():02d}:{t.minute():02d}")  # type: ignore[arg-type]

    def chosen_data_dir(self) -> Path:
        return Path(self.data_dir_edit.text().strip()).expanduser()

    def _kind_changed(self) -> None:
        kind = self.kind_combo.currentData()
        self.hours_spin.setVisible(kind == "interval")
        self.time_edit.setVisible(kind == "daily")

    def _validate(self) -> bool:
        problem = spacing_problem(
            self.delay_spin.value(), self.window_.ctx.config.base_url,
            allow_fast=self.allow_fast_check.isChecked(),
        )
        self.delay_problem.setText(problem)
        self.delay_problem.setVisible(bool(problem))
        if hasattr(self, "data_dir_problem"):
            self.data_dir_problem.setVisible(False)
        buttons = getattr(self, "buttons", None)
        ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok) if buttons is not None else None
        if ok_button is not None:
            ok_button.setEnabled(not problem)
        return not problem

    def _browse(self) -> None:
        start = str(self.chosen_data_dir())
        chosen = QFileDialog.getExistingDirectory(self, "Choose the data folder", start)
        if chosen:
            self.data_dir_edit.setText(display_path(Path(chosen)))

    def _sign_out(self) -> None:
        task: Any = self.window_.sign_out()
        if task is not None and hasattr(task, "add_done_callback"):
            task.add_done_callback(lambda _t: self.refresh_keyring())
        else:
            self.refresh_keyring()

    # --- accept -------------------------------------------------------------------------------------

    def accept(self) -> None:
        """Validate; a new data folder is confirmed first (``open``, not ``exec``), then all applies."""
        if not self._validate():
            return
        new_dir = self.chosen_data_dir()
        if not self.data_dir_edit.text().strip():
            self._refuse("Choose a data folder.")
            return
        if not new_dir.is_absolute():
            self._refuse("Give the data folder as a full path (or use Browse…).")
            return
        if new_dir != self.window_.ctx.config.data_dir:
            problem = data_dir_problem(new_dir)
            if problem:  # said here, in the dialog; the current folder stays
                self._refuse(f"{display_path(new_dir)} cannot be used: {problem}.")
                return
            box = QMessageBox(
                QMessageBox.Icon.Question,
                "Change the data folder?",
                f"Keep backups in {display_path(new_dir)} from now on? The list reloads from that "
                "folder; backups in the old folder stay where they are.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                self,
            )
            box.setObjectName("confirmDataDirBox")
            _name_button(box, QMessageBox.StandardButton.Yes, "&Use the New Folder")
            _name_button(box, QMessageBox.StandardButton.No, "&Keep the Current Folder")
            box.setDefaultButton(QMessageBox.StandardButton.No)
            box.finished.connect(lambda code: self._confirmed(code, new_dir))
            self.confirm_box = box
            box.open()
            return
        self._apply(None)
        super().accept()

    def _confirmed(self, code: int, new_dir: Path) -> None:
        self.confirm_box = None
        if code != QMessageBox.StandardButton.Yes.value:
            self.data_dir_edit.setText(display_path(self.window_.ctx.config.data_dir))
            return
        problem = self._apply(new_dir)
        if problem:  # it changed since the check (a drive unplugged): the dialog stays, with the reason
            self._refuse(f"{display_path(new_dir)} cannot be used: {problem}. The data folder is unchanged.")
            return
        super().accept()

    def focus_data_dir(self) -> None:
        """Put the cursor in the data folder field, its text selected (the window's banner asks for this)."""
        self.data_dir_edit.setFocus()
        self.data_dir_edit.selectAll()

    def _refuse(self, text: str) -> None:
        self.data_dir_problem.setText(text)
        self.data_dir_problem.setVisible(True)

    def _apply(self, new_dir: Path | None) -> str:
        """Apply and save everything; returns why ``new_dir`` could not be used ("" when all applied).
        The data folder goes first: when it fails nothing else changes."""
        window, ctx, s = self.window_, self.window_.ctx, self.settings
        if new_dir is not None:
            problem = window.set_data_dir(new_dir)
            if problem:
                return problem
            s.setValue(DATA_DIR_KEY, str(new_dir))
        delay = self.delay_spin.value()
        ctx.set_delay(delay)
        s.setValue(DELAY_KEY, delay)
        s.setValue(ALLOW_FAST_KEY, self.allow_fast_check.isChecked())
        ctx.config.reconcile_age_days = float(self.reconcile_spin.value())
        s.setValue(RECONCILE_KEY, self.reconcile_spin.value())
        save_sections(s, self.chosen_sections())
        window.scheduler.set_schedule(self.schedule())
        s.sync()
        chosen = chosen_sections(s)
        log.info(
            "Settings saved: %.2f s between requests, all memories re-read every %d days, schedule %s, "
            "sections %s",
            delay, self.reconcile_spin.value(), window.scheduler.schedule.describe(),
            "all" if chosen is None else ", ".join(n for n in ALL_SECTIONS if n in chosen),
        )
        return ""


def _note(text: str, name: str, *, wrap: bool = True) -> QLabel:
    """A quiet explanation under a setting (coloured by ``_apply_theme``)."""
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(wrap)
    return label


def _name_button(box: QMessageBox, which: QMessageBox.StandardButton, text: str) -> None:
    """A message box's button says what it does ("Keep the Current Folder"), not Yes/No."""
    button = box.button(which)
    if button is not None:
        button.setText(text)


def _wrap(layout: QHBoxLayout) -> QWidget:
    layout.setContentsMargins(0, 0, 0, 0)
    widget = QWidget()
    widget.setLayout(layout)
    return widget
