"""What the main window shows about the run, the rows and the schedule (no widgets built here)."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QMessageBox

from ..app import data_dir_problem, display_path
from .personalities_model import SlugRole
from .progress import format_duration
from .run_controller import ERROR_TITLES
from .window_layout import WindowLayout

__all__ = ["WindowStatus", "acts_on", "escape_html", "menu_text"]

log = logging.getLogger("tzbackup.ui")


class WindowStatus(WindowLayout):
    """What the window shows about the run, the rows and the schedule: the bar, the status line, which
    buttons and menu entries can act now, the data-folder banner, the tray's status, the error dialog."""

    @property
    def running(self) -> bool:
        """True from the click until the run has settled (see :class:`RunController`)."""
        return self.runs.running

    @property
    def last_error(self) -> str:
        """The kind of the last problem the user was told about (for Copy Diagnostics)."""
        return self.runs.last_error

    @last_error.setter
    def last_error(self, kind: str) -> None:
        self.runs.last_error = kind

    @property
    def settling(self) -> bool:
        """The last run's task is still finishing (reloading rows, showing its outcome, asking to sign in)."""
        return self.runs.settling

    def show_error(self, kind: str, message: str, hint: str) -> None:
        self.last_error = kind
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            ERROR_TITLES.get(kind, "Backup problem"),
            message,
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setObjectName("errorBox")
        if hint:
            box.setInformativeText(hint)
        self.message_box = box
        box.open()

    def _show_refusal(self, text: str) -> None:
        self.statusBar().showMessage(text, 5000)

    def _set_running(self, running: bool) -> None:
        """The overall bar: the run's progress while it runs (from what a resumed walk already has); after
        it, 100 % only for a complete run, else where it stopped, in amber, saying why ("Stopped: you are
        offline", "Cancelled")."""
        self.overall_bar.setVisible(running or self.overall_bar.value() > 0 or bool(self.tracker.rows))
        if running:
            self._set_bar_state("")
            self.overall_bar.setValue(0)
            self._update_overall()
            self._overall_timer.start()
        else:
            self._overall_timer.stop()
            self._update_overall()
            text = self.tracker.bar_text()
            self._set_bar_state(text)
            if not text:
                self.overall_bar.setValue(self.overall_bar.maximum())
        self._update_buttons()

    def _update_overall(self) -> None:
        self.overall_bar.setValue(round(self.tracker.fraction() * 1000))
        if self.tracker.running and not self.runs.cancel_requested:
            self.overall_label.setText(self.tracker.summary())
            eta = self.tracker.eta_seconds()
            if eta is not None:
                self.overall_bar.setToolTip(f"About {format_duration(eta)} left at the current pace")

    def _ready_to_back_up(self) -> bool:
        signed_in = self.ctx.credential is not None
        return signed_in and not self.running and self._account_ready and not self.data_dir_problem

    def _update_buttons(self) -> None:
        running = self.running
        ready = self._ready_to_back_up()
        can_selected = ready and bool(self.model.checked_slugs())
        can_all = ready and bool(self.model.owned_slugs())
        self.back_up_selected_button.setEnabled(can_selected)
        self.back_up_selected_action.setEnabled(can_selected) if hasattr(
            self, "back_up_selected_action"
        ) else None
        self.back_up_all_button.setEnabled(can_all)
        if hasattr(self, "back_up_all_action"):
            self.back_up_all_action.setEnabled(can_all)
            self.cancel_action.setEnabled(running and not self.runs.cancel_requested)
        self.cancel_button.setEnabled(running and not self.runs.cancel_requested)
        self.refresh_button.setEnabled(not running)
        self.sign_out_button.setEnabled(not running)
        if hasattr(self, "export_menu"):
            self._update_row_actions()
        self._update_tray()

    def _on_model_changed(
        self, top: QModelIndex, bottom: QModelIndex, roles: list[int] | None = None
    ) -> None:
        if roles and Qt.ItemDataRole.CheckStateRole in roles:
            self._update_buttons()

    def _current_row(self) -> Any:
        """The highlighted row (the keyboard cursor), or None."""
        slug = self.table.currentIndex().data(SlugRole)
        return self.model.row_for(str(slug)) if slug else None

    def _ticked_rows(self) -> list[Any]:
        return [row for slug in self.model.checked_slugs() if (row := self.model.row_for(slug)) is not None]

    def _update_row_actions(self) -> None:
        """The menu entries that act on the highlighted row name it; the export menu names the ticked rows."""
        row = self._current_row()
        name = f" of “{menu_text(row.display_name)}”" if row is not None else ""
        self.open_backup_action.setText(f"Open &Backup Folder{name}")
        self.open_backup_action.setEnabled(row is not None)
        self.browse_row_action.setText(
            f"Bro&wse the Backup{name}" if row is not None else "Bro&wse This Backup"
        )
        self.browse_row_action.setEnabled(row is not None)
        ticked = self._ticked_rows()
        self.export_menu.setTitle(f"&Export Selected ({acts_on(ticked)})" if ticked else "&Export Selected")
        self.export_menu.setEnabled(bool(ticked))
        self.export_menu.setToolTip("" if ticked else "Tick the personalities to export first")
        count = "C&ount Memories on shapes.inc"
        self.count_action.setText(f"{count} ({acts_on(ticked)})" if ticked else count)
        self.count_action.setEnabled(bool(ticked) and self.ctx.credential is not None and not self.running)

    def _show_schedule_status(self, text: str) -> None:
        """ "Next backup: …" / "Scheduled backups paused after 3 failures: … [Resume]" in the window."""
        schedule = self.scheduler.schedule
        paused = schedule.active and (self.scheduler.state.paused or self.scheduler.waiting_for_sign_in)
        shown = text if schedule.active else ""
        metrics = self.schedule_label.fontMetrics()
        self.schedule_label.setText(metrics.elidedText(shown, Qt.TextElideMode.ElideRight, 520))
        self.schedule_label.setToolTip(shown or "Scheduled backups run Back Up All (File → Settings…)")
        self._schedule_paused = paused
        self._apply_theme()
        self.resume_schedule_button.setVisible(paused)
        waiting = self.scheduler.waiting_for_sign_in
        self.resume_schedule_button.setText("Sign &In…" if waiting else "&Resume")
        self.resume_schedule_button.setToolTip(
            "Sign in again to resume scheduled backups" if waiting else "Resume scheduled backups"
        )
        self._update_tray()

    def _update_tray(self, summary: str = "") -> None:
        if self.tray is not None:
            self.tray.update_status(summary)

    def check_data_dir(self) -> str:
        """Whether the data folder can be used now: the banner, the status bar and the buttons follow.
        Called at start-up, on a folder change and on every refresh (a drive may have been plugged in)."""
        data_dir = self.ctx.config.data_dir
        problem = data_dir_problem(data_dir)
        if problem != self.data_dir_problem:
            if problem:
                log.warning("The data folder %s cannot be used: %s", display_path(data_dir), problem)
            elif self.data_dir_problem:
                log.info("The data folder %s can be used again", display_path(data_dir))
        self.data_dir_problem = problem
        self.data_dir_banner_label.setText(
            f"<b>The data folder {escape_html(display_path(data_dir))} cannot be used:</b> "
            f"{escape_html(problem)}.<br>"
            "Backing up is off until you choose another folder (or fix this one and press F5)."
            if problem else ""
        )
        self.data_dir_banner.setVisible(bool(problem))
        self.avatars.writable = not problem
        self.data_dir_label.setText(
            f"Data folder: {display_path(data_dir)}" + (" (cannot be used)" if problem else "")
        )
        self.data_dir_label.setToolTip(str(data_dir) + (f"\n{problem}" if problem else ""))
        self._update_buttons()
        return problem


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def menu_text(text: str) -> str:
    """Text shown in a menu entry as it is ("&" is a mnemonic there)."""
    return text.replace("&", "&&")


def acts_on(rows: list[Any]) -> str:
    """ "“Lilith”" for one row, "3 Selected" for several: what a menu entry acts on."""
    if len(rows) == 1:
        return f"“{menu_text(rows[0].display_name)}”"
    return f"{len(rows)} Selected"

