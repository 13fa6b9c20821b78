"""The main window's account and rows: sign-in, loading the table (local first), avatars, counting."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from ..app import SignInResult, where_text
from ..errors import AuthError, TzBackupError
from ..model.words import plural
from ..service.auth import SessionCredential
from .async_slot import async_slot
from .avatars import initials_icon
from .personalities_model import merge_rows
from .sign_in_dialog import SignInDialog
from .window_status import WindowStatus, escape_html

__all__ = ["WindowRows"]

log = logging.getLogger("tzbackup.ui")


class WindowRows(WindowStatus):
    """The account and its rows: sign-in, the local backups shown at once, the account list merged when it
    arrives, avatars, counting memories on request, the sign-in a paused schedule waits for."""

    async def start(self) -> None:
        """Show the local backups at once, then load the saved credential (or ask for one) and merge the
        account list when the service answers: a slow network never leaves the table empty."""
        _freeze_startup_heap()
        credential = asyncio.ensure_future(self.ctx.load_saved_credential())
        try:
            local = await self._read_local()
            self._show_local(local, provisional=self._maybe_signed_in(credential))
            signed_in = await credential
        finally:
            if not credential.done():
                credential.cancel()
        self.scheduler.start()
        if not signed_in:
            await self._load(account=False, local=local)
            self.overall_label.setText("Not signed in. Sign in to see your personalities.")
            await self._ask_sign_in()
            return
        await self._load(account=True, local=local)

    def _maybe_signed_in(self, loading: asyncio.Future[bool]) -> bool:
        """While the keyring is read: is a sign-in likely (a credential set, or one may be stored)?"""
        if self.ctx.credential is not None:
            return True
        if loading.done():
            return not loading.cancelled() and loading.exception() is None and bool(loading.result())
        return not self.ctx.config.demo and self.ctx.store.available()

    def _update_account(self) -> None:
        ctx = self.ctx
        if ctx.credential is None:
            self.account_label.setText(
                "<b>Not signed in.</b> Use <i>Sign In…</i> with your shapes.inc session cookie."
            )
        else:
            user = ctx.user or {}
            who = user.get("displayName") or user.get("username") or "checking…"
            handle = f" (@{user['username']})" if user.get("username") and user.get("displayName") else ""
            where = f" · session cookie {where_text(ctx.location)}" if ctx.location else ""
            self.account_label.setText(
                f"Signed in as <b>{escape_html(str(who))}</b>{escape_html(handle)}{escape_html(where)}"
            )
        signed_in = ctx.credential is not None
        self.sign_out_button.setVisible(signed_in and not ctx.config.demo)
        self.sign_out_action.setEnabled(signed_in and not ctx.config.demo)
        self.sign_in_button.setText("Sign &In Again…" if signed_in else "Sign &In…")
        self.sign_in_button.setVisible(not ctx.config.demo)
        self.sign_in_action.setEnabled(not ctx.config.demo)
        self._update_buttons()

    async def _sign_in_fn(self, credential: SessionCredential, session_only: bool) -> SignInResult:
        return await self.ctx.sign_in(credential, session_only=session_only)

    async def _ask_sign_in(self, resume_prompt: str = "") -> bool:
        """Open the sign-in dialog (``open``, not ``exec``) and wait; True when a new cookie is in use."""
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.raise_()
            return False
        dialog = SignInDialog(
            self._sign_in_fn,
            keyring_available=self.ctx.store.available() and not self.ctx.config.demo,
            keyring_name=self.ctx.store.describe_location() if self.ctx.store.available() else "",
            resume_prompt=resume_prompt,
            parent=self,
        )
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def finished(code: int) -> None:
            if not done.done():
                done.set_result(code)

        dialog.finished.connect(finished)
        self.sign_in_dialog = dialog
        dialog.open()
        try:
            code = await done
        finally:
            self.sign_in_dialog = None
            dialog.deleteLater()
        ok = code == SignInDialog.DialogCode.Accepted and dialog.result_info is not None
        if ok:
            self._update_account()
            if not resume_prompt:
                await self._load(account=True)
        return ok

    @async_slot()
    async def sign_in(self) -> None:
        await self._ask_sign_in()

    @async_slot()
    async def sign_out(self) -> None:
        if self.ctx.running:
            self.statusBar().showMessage("Cancel the backup before signing out.", 5000)
            return
        await self.ctx.sign_out()
        self._update_account()
        await self._load(account=False)

    def _ask_sign_in_for_schedule(self) -> None:
        """Open the sign-in dialog when a scheduled run stopped for an ended session (once at a time)."""
        if not self.scheduler.waiting_for_sign_in or self.sign_in_dialog is not None or self.running:
            return
        if self._resume_sign_in_task is not None and not self._resume_sign_in_task.done():
            return
        self._resume_sign_in_task = asyncio.ensure_future(self._sign_in_for_schedule())

    async def _sign_in_for_schedule(self) -> None:
        ok = await self._ask_sign_in(
            "Your shapes.inc session ended during a scheduled backup, so scheduled backups are paused. "
            "Everything fetched so far is saved. Sign in again with a fresh cookie: the backup resumes "
            "where it stopped and the schedule goes on."
        )
        if ok:
            log.info("Signed in again: resuming the scheduled backup")
            self.scheduler.signed_in_again()

    @async_slot()
    async def refresh(self) -> None:
        # every caller (buttons, a new data folder, an import) goes through here: remember the task so
        # closing the window cancels a load still running instead of letting it touch deleted models
        self._refresh_task = asyncio.current_task()
        self.check_data_dir()
        if self.ctx.running:
            await self.reload_local()
            return
        await self._load(account=self.ctx.credential is not None)

    async def _load(self, *, account: bool, local: list[Any] | None = None) -> None:
        """Local backups first (read off the GUI thread), then the account list merged in when it arrives.

        The two reads run at the same time; the table shows the local rows as soon as they are read, so
        a slow service delays only the merge, never the list.
        """
        account = account and self.ctx.credential is not None
        self.overall_label.setText("Loading…")
        remote_task = asyncio.ensure_future(self._fetch_account()) if account else None
        try:
            if local is None:
                local = await self._read_local()
            if remote_task is None or not remote_task.done():
                self._show_local(local, provisional=account)
            if remote_task is None:
                self._remote = []
                self._account_ready = False
                self._apply_rows(merge_rows([], local))
                self.overall_label.setText("Not signed in.")
                return
            remote = await remote_task
        except AuthError as err:
            log.warning("The service did not accept the saved session: %s", err.message)
            self.overall_label.setText("Your session has ended. Sign in again.")
            self._account_ready = False
            self._apply_rows(merge_rows([], local or []))
            await self._ask_sign_in()
            return
        except TzBackupError as err:
            log.warning("Could not list your personalities: %s", err.message)
            self._account_ready = False
            self._apply_rows(merge_rows([], local or []))
            self.overall_label.setText("Could not reach your account; showing the local backups.")
            self.show_error(type(err).__name__, err.message, err.hint)
            return
        finally:
            if remote_task is not None and not remote_task.done():
                remote_task.cancel()
        self._remote = remote
        self._account_ready = True
        self._apply_rows(merge_rows(remote, local))
        n = len(self.model.owned_slugs())
        self.overall_label.setText(f"{plural(n, 'personality', 'personalities')} on your account.")

    async def _fetch_account(self) -> list[Any]:
        """The signed-in user (once) and the account's personalities: two requests."""
        if self.ctx.user is None:
            await self.ctx.fetch_user()
            self._update_account()
        return await self.ctx.list_account()

    async def _read_local(self) -> list[Any]:
        """The local backups' metadata (``list_backups`` in a worker thread)."""
        try:
            return await self.ctx.list_local()
        except TzBackupError as err:
            log.warning("Could not read the local backups: %s", err.message)
            return []
        except OSError as err:  # an unreadable data folder: the banner says why
            log.warning("Could not read the local backups: %s", err.strerror or type(err).__name__)
            return []

    def _show_local(self, local: list[Any], *, provisional: bool) -> None:
        """Rows from the local metadata while the account list is on its way.

        ``provisional``: a sign-in is (probably) in place, so the backed-up personalities are shown as
        the account's until the service says otherwise (after a refresh, the last known account list is
        merged instead). The Back Up buttons wait for the real list.
        """
        if provisional and not self._remote:
            rows = merge_rows([], local)
            for row in rows:
                row.on_account = True
            self._account_ready = False
        else:
            rows = merge_rows(self._remote if provisional else [], local)
        self._apply_rows(rows, fetch_avatars=False)
        if provisional:
            self.overall_label.setText(f"{plural(len(rows), 'local backup')} shown · checking your account…")

    def _apply_rows(self, rows: list[Any], *, fetch_avatars: bool = True) -> None:
        for row in rows:  # a total counted on request stands until a backup brings its own
            if row.server_total is None and row.slug in self._counted and row.on_account:
                row.server_total = self._counted[row.slug]
        self.model.set_rows(rows)
        for row in rows:
            self.model.set_avatar(row.slug, initials_icon(row.display_name))
        if self._restore_checked is not None and any(r.on_account for r in rows):
            self.model.set_checked(self._restore_checked)
            self._restore_checked = None
        if fetch_avatars:
            self._start_avatars()
        self._update_buttons()

    async def reload_local(self) -> None:
        """After a run: new last-backup times and counts from the archive, account rows unchanged."""
        try:
            local = await self.ctx.list_local()
        except (TzBackupError, OSError):
            return
        remote_rows = [r for r in self.model.rows() if r.on_account]
        by_slug = {getattr(b, "slug", ""): b for b in local}
        by_id = {getattr(b, "shape_id", ""): b for b in local if getattr(b, "shape_id", "")}
        for row in remote_rows:
            backup = by_id.get(row.shape_id) or by_slug.get(row.slug)
            if backup is None:
                continue
            fresh = merge_rows([_Summary(row)], [backup])[0]
            self.model.update_row(
                row.slug,
                folder=fresh.folder,
                last_backup=fresh.last_backup,
                total_memories=fresh.total_memories,
                # the archive was just written: a total the service no longer reports is not kept
                server_total=fresh.server_total,
                live_at_last_full_walk=fresh.live_at_last_full_walk,
                last_status=fresh.last_status,
                pending_resume=fresh.pending_resume,
                unfinished_fetched=fresh.unfinished_fetched,
                problem=fresh.problem,
                failed_sections=fresh.failed_sections,
            )
            if fresh.pending_resume and self.tracker.kept(row.slug, fresh.unfinished_fetched):
                self.model.mark_dirty({row.slug})
        self.model.flush()

    def _start_avatars(self) -> None:
        if self._avatar_task is not None and not self._avatar_task.done():
            self._avatar_task.cancel()
        self._avatar_task = asyncio.ensure_future(self._load_avatars())

    async def _load_avatars(self) -> None:
        """Cached avatars at once; missing ones fetched one by one (paced), never during a backup."""
        pending = []
        for row in self.model.rows():
            if not row.avatar_url:
                continue
            icon = self.avatars.cached(row.avatar_url)
            if icon is not None:
                self.model.set_avatar(row.slug, icon)
            else:
                pending.append(row)
        for row in pending:
            if self.ctx.running or self.ctx.credential is None:
                return
            icon = await self.avatars.fetch(row.avatar_url)
            if icon is not None:
                self.model.set_avatar(row.slug, icon)

    def count_selected_memories(self) -> None:
        """Backup → Count Memories: for the ticked rows."""
        slugs = [r.slug for r in self._ticked_rows() if r.on_account]
        if not slugs:
            self.statusBar().showMessage("Select (tick) the personalities to count first.", 5000)
            return
        self.count_memories(slugs)

    def count_memories(self, slugs: list[str]) -> bool:
        """Ask shapes.inc how many memories these personalities have: one small request each (a page of one
        memory; its pagination says the total), paced like a backup. Only on demand: the account list has no
        counts, and a request per personality at every start would cost a large account a minute of
        requests. A service that does not say a total leaves "—"."""
        if self.running or self.ctx.credential is None:
            self.statusBar().showMessage(
                "Wait for the backup to finish." if self.running else "Sign in first.", 5000
            )
            return False
        if self._count_task is not None and not self._count_task.done():
            self.statusBar().showMessage("Already counting…", 3000)
            return False
        self._count_task = asyncio.ensure_future(self._count(slugs))
        return True

    async def _count(self, slugs: list[str]) -> None:
        told = unknown = 0
        for i, slug in enumerate(slugs, 1):
            row = self.model.row_for(slug)
            if row is None or not row.shape_id:
                continue
            if self.running:  # a backup started meanwhile: it reports the totals itself
                break
            self.overall_label.setText(f"Counting memories on shapes.inc: {i} of {len(slugs)}…")
            try:
                total = await self.ctx.count_memories(row.shape_id)
            except TzBackupError as err:
                log.warning("Could not count the memories of %s: %s", slug, err.message)
                self.overall_label.setText(f"Could not count the memories: {err.message}")
                return
            if total is None:
                unknown += 1
                continue
            told += 1
            self._counted[slug] = total
            self.model.update_row(slug, server_total=total)
        self.model.flush()
        if not self.running:
            parts = [f"Counted the memories of {plural(told, 'personality', 'personalities')}"]
            if unknown:
                parts.append(f"shapes.inc did not say for {unknown}")
            self.overall_label.setText("; ".join(parts) + ".")
        log.info("Counted memories on shapes.inc: %d told, %d not told", told, unknown)


class _Summary:
    """Adapter so :func:`merge_rows` can re-merge one existing row with fresh local data."""

    def __init__(self, row: Any) -> None:
        self.id, self.name, self.username, self.avatar = (
            row.shape_id,
            row.display_name,
            row.slug,
            row.avatar_url,
        )


_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Move the objects start-up built (Qt bindings, modules, the window) out of the collector's reach.

    A full (generation 2) collection walks every tracked object while holding the GIL, whichever thread
    triggers it: with the start-up heap included it froze the event loop for 25-40 ms (up to 100 ms on a
    loaded machine) several times per large backup. Frozen, a full pass only walks what the run created.
    Once per process: freezing again later would also pin the garbage cycles of finished runs.
    """
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.freeze()

