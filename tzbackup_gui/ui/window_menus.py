"""The main window's menus and the dialogs and windows they launch; the table's keys and row menu."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, Qt
from PySide6.QtGui import QAction, QContextMenuEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QTableView

from ..app import display_path
from ..archive.store import ensure_dir
from ..errors import TzBackupError
from .diagnostics import diagnostics_text
from .export_dialog import EXPORT_FORMATS
from .help_viewer import COOKIE_HELP, DOCS_HELP, show_help
from .personalities_model import COL_NAME, SlugRole
from .settings_dialog import SettingsDialog
from .window_rows import WindowRows
from .window_status import acts_on, menu_text

__all__ = ["WindowMenus"]


class WindowMenus(WindowRows):
    """The menus and what they launch: Back Up / Cancel, the row menu and the table's keys, Settings, the
    browser, export and import, help, diagnostics, About, Open from the tray and Quit."""

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.sign_in_action = self._action(file_menu, "Sign &In…", self.sign_in, None, "signInAction")
        self.sign_out_action = self._action(file_menu, "Sign &Out", self.sign_out, None, "signOutAction")
        file_menu.addSeparator()
        self.refresh_action = self._action(
            file_menu, "&Refresh", self.refresh, QKeySequence.StandardKey.Refresh, "refreshAction"
        )
        self._action(file_menu, "Open &Data Folder", self._open_data_dir, None, "openDataAction")
        self._action(
            file_menu, "&Browse Backups…", lambda: self.browse_backups(), QKeySequence("Ctrl+Shift+O"),
            "browseAction",
        )
        # acts on the ticked rows, like Back Up Selected; its title says which ("Export Selected (Lilith)")
        self.export_menu = file_menu.addMenu("&Export Selected")
        self.export_menu.setObjectName("exportMenu")
        self.export_actions: dict[str, QAction] = {}
        for fmt, (text, _label, _filter) in EXPORT_FORMATS.items():
            self.export_actions[fmt] = self._action(
                self.export_menu, text, lambda f=fmt: self.export_selected(f), None, f"export_{fmt}Action"
            )
        self.import_action = self._action(
            file_menu, "&Import Backup…", self.import_backup, QKeySequence("Ctrl+I"), "importAction"
        )
        file_menu.addSeparator()
        self.settings_action = self._action(
            file_menu, "Se&ttings…", self.open_settings, QKeySequence("Ctrl+,"), "settingsAction"
        )
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        file_menu.addSeparator()
        self.quit_action = self._action(
            file_menu, "&Quit", self.quit_app, QKeySequence.StandardKey.Quit, "quitAction"
        )
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.refresh_action.setShortcut(QKeySequence("F5"))

        backup_menu = bar.addMenu("&Backup")
        self.back_up_selected_action = self._action(
            backup_menu,
            "Back Up &Selected",
            self.back_up_selected,
            QKeySequence("Ctrl+B"),
            "backUpSelectedAction",
        )
        self.back_up_all_action = self._action(
            backup_menu, "Back Up &All", self.back_up_all, QKeySequence("Ctrl+Shift+B"), "backUpAllAction"
        )
        self.cancel_action = self._action(
            backup_menu, "&Cancel", self.cancel_backup, QKeySequence("Ctrl+."), "cancelAction"
        )
        backup_menu.addSeparator()
        self._action(
            backup_menu,
            "Select A&ll",
            lambda: self.model.set_checked(None),
            QKeySequence("Ctrl+Shift+A"),
            "selectAllAction",
        )
        self._action(
            backup_menu,
            "Select &None",
            lambda: self.model.set_checked(set()),
            QKeySequence("Ctrl+Shift+N"),
            "selectNoneAction",
        )
        self.count_action = self._action(
            backup_menu, "C&ount Memories on shapes.inc", self.count_selected_memories,
            QKeySequence("Ctrl+M"), "countMemoriesAction",
        )
        self.count_action.setToolTip(
            "Ask shapes.inc how many memories the selected personalities have (one request each), "
            "to see how big a first backup will be"
        )
        backup_menu.addSeparator()
        # these act on the highlighted row (the keyboard cursor), and say which
        self.open_backup_action = self._action(
            backup_menu, "Open &Backup Folder", self._open_current, QKeySequence("Ctrl+O"), "openBackupAction"
        )
        self.browse_row_action = self._action(
            backup_menu, "Bro&wse This Backup", self._browse_current, QKeySequence("Ctrl+Return"),
            "browseRowAction",
        )
        backup_menu.aboutToShow.connect(self._update_row_actions)

        view_menu = bar.addMenu("&View")
        self._action(view_menu, "&Filter", self._focus_filter, QKeySequence.StandardKey.Find, "filterAction")
        self.log_action = self._action(view_menu, "Show &Log", None, QKeySequence("Ctrl+L"), "logAction")
        self.log_action.setCheckable(True)
        self.log_action.toggled.connect(self.log_toggle.setChecked)
        self.log_toggle.toggled.connect(self.log_action.setChecked)

        help_menu = bar.addMenu("&Help")
        self._action(
            help_menu, "Getting Your &Cookie", lambda: self.show_help(COOKIE_HELP), None, "cookieHelpAction"
        )
        self._action(
            help_menu, "&Documentation", lambda: self.show_help(DOCS_HELP),
            QKeySequence.StandardKey.HelpContents, "docsAction",
        )
        self._action(
            help_menu, "Copy Dia&gnostics", self.copy_diagnostics, None, "copyDiagnosticsAction"
        ).setToolTip("Versions, folders and the last errors, for a bug report (never your cookie)")
        help_menu.addSeparator()
        self._action(help_menu, "&About tzbackup", self._about, None, "aboutAction")

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any, name: str) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            action.setShortcut(shortcut if isinstance(shortcut, QKeySequence) else QKeySequence(shortcut))
        if slot is not None:
            action.triggered.connect(lambda _checked=False, s=slot: s())
        menu.addAction(action)
        self.addAction(action)
        return action

    def back_up_selected(self) -> None:
        slugs = self.model.checked_slugs()
        if not slugs:
            self.statusBar().showMessage("Check the personalities to back up first.", 5000)
            return
        self.runs.start(slugs)

    def back_up_all(self) -> None:
        self.runs.start(None)

    def cancel_backup(self) -> None:
        self.runs.cancel()

    def open_settings(self) -> None:
        """File → Settings… (non-modal ``open``; changes apply when the dialog is accepted)."""
        if self.settings_dialog is not None:
            self.settings_dialog.raise_()
            self.settings_dialog.activateWindow()
            return
        dialog = SettingsDialog(self)
        dialog.finished.connect(self._settings_closed)
        self.settings_dialog = dialog
        dialog.open()

    def _settings_closed(self, _code: int) -> None:
        dialog, self.settings_dialog = self.settings_dialog, None
        if dialog is not None:
            dialog.deleteLater()

    def choose_data_dir(self) -> None:
        """The banner's button: Settings, with the data folder field ready to change."""
        self.open_settings()
        dialog = self.settings_dialog
        if dialog is not None:
            dialog.focus_data_dir()

    def show_from_tray(self) -> None:
        """The tray's Open (or a click on its notification): bring the window back; when scheduled
        backups wait for a new sign-in, ask for it now that the user is looking."""
        self.in_tray = False
        self.showNormal()
        self.raise_()
        self.activateWindow()
        self._ask_sign_in_for_schedule()

    def quit_app(self) -> None:
        """An explicit Quit (menu, Ctrl+Q, tray): close for good, also with a schedule and a tray."""
        self._quitting = True
        if self.in_tray and self.running:
            self.show_from_tray()  # "Stop the backup?" needs the window
        self.close()

    def _focus_filter(self) -> None:
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    def _open_row(self, index: QModelIndex) -> None:
        slug = index.data(SlugRole)
        row = self.model.row_for(str(slug)) if slug else None
        if row is None:
            return
        if row.folder is None or not row.folder.exists():
            self.statusBar().showMessage(f"{row.display_name} has no local backup yet.", 5000)
            return
        self.open_folder(row.folder)

    def browse_backups(self, folder: str | None = None) -> None:
        """Open the offline browser on the data dir (on one personality when ``folder`` is given)."""
        from .browser_window import BrowserWindow

        self.browser = BrowserWindow()
        self.browser.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.browser.open_folder(self.ctx.config.data_dir, select=folder)
        self.browser.show()

    def export_selected(self, fmt: str) -> bool:
        """File → Export Selected: the ticked rows' backups as ``zip`` / ``markdown`` / ``card`` (one file
        dialog for one, a folder for several)."""
        return self.export_rows(self._ticked_rows(), fmt)

    def export_rows(self, rows: list[Any], fmt: str) -> bool:
        if not rows:
            self.statusBar().showMessage("Select (tick) the personalities to export first.", 5000)
            return False
        backed_up = [r for r in rows if r.folder is not None and r.folder.exists()]
        missing = [r.display_name for r in rows if r not in backed_up]
        if not backed_up:
            names = " and ".join(missing[:2]) + (f" and {len(missing) - 2} more" if len(missing) > 2 else "")
            have = "has" if len(missing) == 1 else "have"
            self.statusBar().showMessage(f"{names} {have} no local backup yet.", 5000)
            return False
        if len(rows) == 1:
            row = backed_up[0]
            return self.files.export(row.folder, fmt, row.display_name)
        return self.files.export_many([(r.folder, r.display_name) for r in backed_up], fmt, skipped=missing)

    def import_backup(self) -> bool:
        """File → Import Backup…: an exported zip, verified, merged into the data folder."""
        if self.running:
            self.statusBar().showMessage("Wait for the backup to finish before importing.", 5000)
            return False
        return self.files.import_zip()

    def _on_imported(self, _result: Any) -> None:
        self.refresh()

    def _browse_row(self, index: QModelIndex) -> None:
        row = self.model.row_for(str(index.data(SlugRole) or ""))
        if row is not None and row.folder is not None and row.folder.exists():
            self.browse_backups(row.folder.name)
        elif row is not None:
            self.statusBar().showMessage(f"{row.display_name} has no local backup yet.", 5000)

    def _open_current(self) -> None:
        self._open_row(self.table.currentIndex())

    def _browse_current(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self._browse_row(index)
        else:
            self.statusBar().showMessage("Highlight a personality first (the arrows move in the list).", 5000)

    # --- the table from the keyboard, and its row menu ---------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The table: Space ticks the highlighted row, Return browses it, the Menu key and Shift+F10 open its
        menu (at the row, not at the pointer); on focus a row is highlighted so the focus shows. Its
        viewport's width re-fits the columns."""
        table: QTableView | None = getattr(self, "table", None)
        if table is not None and watched is table:
            if event.type() == QEvent.Type.KeyPress and self._table_key(event):  # type: ignore[arg-type]
                event.accept()
                return True
            menu_key = event.type() == QEvent.Type.ContextMenu and isinstance(event, QContextMenuEvent)
            if menu_key and event.reason() == QContextMenuEvent.Reason.Keyboard:  # type: ignore[attr-defined]
                # the Menu key (Qt sends it as a context menu event): the highlighted row's menu, at that row
                self._row_menu_for_current()
                event.accept()
                return True
            focus_in = event.type() == QEvent.Type.FocusIn
            if focus_in and not table.currentIndex().isValid() and self.proxy.rowCount() > 0:
                table.setCurrentIndex(self.proxy.index(0, COL_NAME))
        return super().eventFilter(watched, event)

    def _table_key(self, event: QKeyEvent) -> bool:
        key, mods = event.key(), event.modifiers()
        plain = mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
        index = self.table.currentIndex()
        if key == Qt.Key.Key_Space and plain:
            self.toggle_row(index)
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and plain and index.isValid():
            self._browse_row(index)
            return True
        if key == Qt.Key.Key_F10 and mods == Qt.KeyboardModifier.ShiftModifier:  # the Menu key's twin
            self._row_menu_for_current()
            return True
        return False

    def toggle_row(self, index: QModelIndex) -> None:
        """Tick or untick the row of ``index`` (Space), whichever column the cursor is in."""
        if not index.isValid():
            return
        source = self.proxy.mapToSource(self.proxy.index(index.row(), COL_NAME))
        row = self.model.row_for(str(source.data(SlugRole) or ""))
        if row is None:
            return
        if not row.on_account:
            self.statusBar().showMessage(
                f"{row.display_name} is no longer on your account, so it cannot be backed up.", 5000
            )
            return
        state = Qt.CheckState.Unchecked if row.checked else Qt.CheckState.Checked
        self.model.setData(source, state.value, Qt.ItemDataRole.CheckStateRole)

    def _row_menu_at(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self.table.setCurrentIndex(index)
        self.row_menu(index).popup(self.table.viewport().mapToGlobal(pos))

    def _row_menu_for_current(self) -> None:
        index = self.table.currentIndex()
        if not index.isValid():
            return
        rect = self.table.visualRect(index)
        self.table.scrollTo(index)
        self.row_menu(index).popup(self.table.viewport().mapToGlobal(rect.bottomLeft()))

    def row_menu(self, index: QModelIndex) -> QMenu:
        """The right-click (or Menu key) menu of a row. It acts on that row, or on all the ticked rows when
        the row is one of several ticked; every entry says which."""
        row = self.model.row_for(str(index.data(SlugRole) or ""))
        menu = QMenu(self)
        menu.setObjectName("rowMenu")
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.last_row_menu = menu
        if row is None:
            return menu
        ticked = self._ticked_rows()
        rows = ticked if row.checked and len(ticked) > 1 else [row]
        who = acts_on(rows)
        ready = self._ready_to_back_up()
        owned = [r.slug for r in rows if r.on_account]

        def add(text: str, slot: Callable[[], object], name: str, enabled: bool = True) -> QAction:
            action = menu.addAction(text)
            action.setObjectName(name)
            action.setEnabled(enabled)
            action.triggered.connect(lambda _checked=False: slot())
            return action

        add(f"&Back Up {who}", lambda: self.runs.start(owned), "rowBackUpAction", ready and bool(owned))
        single = len(rows) == 1
        has_backup = row.folder is not None and row.folder.exists()
        this = acts_on([row])  # what only one row can do: always the row under the menu, named
        add(f"Bro&wse the Backup of {this}", lambda: self._browse_row(index), "rowBrowseAction", has_backup)
        add(f"Open the Backup &Folder of {this}", lambda: self._open_row(index), "rowOpenFolderAction",
            has_backup)
        export = menu.addMenu(f"&Export {who}")
        export.setObjectName("rowExportMenu")
        for fmt, (text, _label, _filter) in EXPORT_FORMATS.items():
            action = export.addAction(text)
            action.setObjectName(f"rowExport_{fmt}Action")
            action.triggered.connect(lambda _checked=False, f=fmt: self.export_rows(rows, f))
        export.setEnabled(any(r.folder is not None and r.folder.exists() for r in rows))
        menu.addSeparator()
        add(f"C&ount Memories of {who}", lambda: self.count_memories(owned), "rowCountAction",
            bool(owned) and self.ctx.credential is not None and not self.running)
        if single and row.on_account:
            add("Untick" if row.checked else "Tick for Back Up Selected", lambda: self.toggle_row(index),
                "rowTickAction")
        copy = QApplication.clipboard().setText
        add(f"Copy the &Username ({menu_text(row.slug)})", lambda: copy(row.slug), "rowCopyUsernameAction")
        return menu

    def _open_data_dir(self) -> None:
        data_dir = self.ctx.config.data_dir
        problem = self.check_data_dir()
        if not problem:
            try:
                ensure_dir(data_dir)  # not there yet (nothing backed up): made private, as a backup would
            except TzBackupError as err:
                problem = str(err)
        if problem:
            self.statusBar().showMessage(f"Cannot open {display_path(data_dir)}: {problem}.", 8000)
            return
        self.open_folder(data_dir)

    def show_help(self, link: str = DOCS_HELP) -> None:
        """Help → Documentation / Getting Your Cookie: the README in the app, at that section."""
        self.help_viewer = show_help(self, link)

    def copy_diagnostics(self) -> str:
        """Help → Copy Diagnostics: versions, folders, settings and the last errors on the clipboard, for a
        bug report. Never the cookie (nor anything else the app knows as secret: all of it is redacted)."""
        text = diagnostics_text(
            self.runs, self.settings, scheduler=self.scheduler, data_dir_problem=self.data_dir_problem,
            problems=list(self._log_handler.problems),
        )
        QApplication.clipboard().setText(text)
        self.statusBar().showMessage(
            "Diagnostics copied to the clipboard (no cookie in them). Paste them into your bug report.", 8000
        )
        return text

    def _about(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "About tzbackup",
            "<b>tzbackup</b><br>Back up your shapes.inc personalities and their long-term "
            "memories to local JSON files, incrementally.<br><br>Your session cookie stays in "
            "your system keyring and is only ever sent to shapes.inc.",
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setObjectName("aboutBox")
        self.message_box = box
        box.open()
