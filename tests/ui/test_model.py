"""The personalities model on its own: Qt's model checks, merging, sorting, filtering, coalesced repaints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from tzbackup_gui.ui.personalities_model import (
    COL_LAST,
    COL_MEMORIES,
    COL_NAME,
    COL_STATUS,
    PersonalitiesModel,
    PersonalitiesProxy,
    ProgressRole,
    merge_rows,
    relative_time,
)
from tzbackup_gui.ui.profile_view import server_count_phrase
from tzbackup_gui.ui.progress import RowProgress


@dataclass
class Shape:
    id: str
    name: str
    username: str
    avatar: str = ""


@dataclass
class Local:
    folder: Path
    slug: str
    shape_id: str
    display_name: str
    last_backup: Any = None
    total_memories: int = 0
    server_total: int | None = None
    last_run: dict[str, Any] | None = None
    owner_id: str = "u"
    live_at_last_full_walk: int | None = None


def _rows() -> list[Any]:
    remote = [Shape("1", "Ann Lee", "ann-lee"), Shape("2", "Bob", "bob.v2"), Shape("3", "Zoë", "zoe")]
    local = [
        Local(Path("/x/bob"), "bob", "2", "Bob", "2026-05-01T10:00:00Z", 12, 14, {"status": "ok", "new": 3}),
        Local(Path("/x/gone"), "gone", "9", "Gone One", "2026-04-01T10:00:00+00:00", 7, 7),
    ]
    return merge_rows(remote, local)


def test_merge_matches_by_id_and_keeps_local_only() -> None:
    rows = _rows()
    assert [r.slug for r in rows] == ["ann-lee", "bob.v2", "zoe", "gone"]
    bob = rows[1]
    assert bob.total_memories == 12 and bob.server_total == 14 and bob.folder == Path("/x/bob")
    assert bob.last_status == "backed up: 3 new"  # the words of a row that just finished
    assert rows[3].local_only and not rows[0].local_only


def test_qt_model_checks(qtmodeltester: Any) -> None:
    model = PersonalitiesModel()
    model.set_rows(_rows())
    qtmodeltester.check(model)
    proxy = PersonalitiesProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy)


def test_display_checks_sort_filter(qtbot: Any) -> None:
    model = PersonalitiesModel()
    model.set_rows(_rows())
    assert model.index(3, COL_NAME).data() == "Gone One  (local only)"
    assert model.index(1, COL_MEMORIES).data() == "12 / 14"
    assert model.index(0, COL_LAST).data() == "never"
    assert model.index(0, COL_STATUS).data() == "not backed up yet"
    # local-only rows cannot be checked (nothing to back up from the account)
    assert not model.setData(
        model.index(3, COL_NAME), Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole
    )
    assert model.setData(
        model.index(2, COL_NAME), Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole
    )
    assert model.checked_slugs() == ["zoe"]
    model.set_checked(None)
    assert model.checked_slugs() == ["ann-lee", "bob.v2", "zoe"]
    model.set_rows(_rows())  # a refresh keeps the check marks
    assert model.checked_slugs() == ["ann-lee", "bob.v2", "zoe"]

    proxy = PersonalitiesProxy()
    proxy.setSourceModel(model)
    proxy.sort(COL_NAME, Qt.SortOrder.DescendingOrder)
    assert proxy.index(0, COL_NAME).data() == "Zoë"
    proxy.setFilterFixedString("BOB")
    assert proxy.rowCount() == 1 and proxy.index(0, 1).data() == "bob.v2"
    proxy.setFilterFixedString("zo")
    assert proxy.rowCount() == 1


def test_progress_role_and_coalesced_repaints(qtbot: Any) -> None:
    model = PersonalitiesModel()
    model.set_rows(_rows())
    model.progress = {
        "zoe": RowProgress(state="active", text="syncing memories 5 of 20", done=5, expected=20)
    }
    assert model.index(2, COL_STATUS).data(ProgressRole) == 0.25
    assert model.index(2, COL_STATUS).data() == "syncing memories 5 of 20"
    assert model.index(0, COL_STATUS).data(ProgressRole) is None
    model.progress["zoe"] = RowProgress(state="done", text="backed up: 20 new", done=20, expected=20)
    assert model.index(2, COL_STATUS).data(ProgressRole) is None  # outcome as text, no full bar
    assert model.index(2, COL_STATUS).data() == "backed up: 20 new"
    emitted: list[int] = []
    model.dataChanged.connect(lambda *a: emitted.append(1))
    for _ in range(5000):
        model.mark_dirty({"zoe"})
    qtbot.waitUntil(lambda: len(emitted) >= 1, timeout=10_000)
    qtbot.wait(120)
    assert len(emitted) == 1  # 5000 updates -> one repaint


def test_memories_column_shows_live_counts_during_a_run(qtbot: Any) -> None:
    model = PersonalitiesModel()
    model.set_rows(_rows())
    cell = model.index(1, COL_MEMORIES)  # Bob: 12 stored, 14 on the server
    assert cell.data() == "12 / 14"
    model.progress = {"bob.v2": RowProgress(state="active", done=40, expected=2600, stored=1140)}
    assert cell.data() == "1,140 / 2,600"
    model.progress = {"bob.v2": RowProgress(state="active", done=40, expected=None, stored=1140)}
    assert cell.data() == "1,140 / 14"  # total not sent yet: the last known one
    model.progress = {"bob.v2": RowProgress(state="queued")}
    assert cell.data() == "12 / 14"
    model.progress = {"zoe": RowProgress(state="active", stored=60)}
    assert model.index(2, COL_MEMORIES).data() == "60 / —"
    assert model.index(3, COL_MEMORIES).data() == "7"  # local only: no server count


def test_memories_column_claims_only_what_the_server_said(qtbot: Any) -> None:
    """No total from the service: "—" on the server side, the last full walk's count only in the tooltip
    and labelled as ours; a finished run never puts the local count under "on server"."""
    remote = [Shape("1", "Ann", "ann"), Shape("2", "Bob", "bob")]
    local = [Local(Path("/x/ann"), "ann", "1", "Ann", None, 1203, None, live_at_last_full_walk=1203),
             Local(Path("/x/bob"), "bob", "2", "Bob", None, 12, 14, live_at_last_full_walk=13)]
    model = PersonalitiesModel()
    model.set_rows(merge_rows(remote, local))
    ann, bob = model.index(0, COL_MEMORIES), model.index(1, COL_MEMORIES)
    assert model.rows()[0].live_at_last_full_walk == 1203
    assert ann.data() == "1,203 / —"
    tip = ann.data(Qt.ItemDataRole.ToolTipRole)
    assert "does not report" in tip and "1,203" in tip and "last full walk" in tip
    assert bob.data() == "12 / 14"
    assert "last full walk" not in bob.data(Qt.ItemDataRole.ToolTipRole)
    model.progress = {"ann": RowProgress(state="done", done=1203, expected=1203, stored=1203)}
    assert ann.data() == "1,203 / —"  # the run's own count is not the server's


def test_profile_facts_claim_only_what_the_server_said() -> None:
    assert server_count_phrase(2600, 2590) == "on the server at the last check: 2,600"
    labelled = server_count_phrase(None, 1203)
    assert "not reported by the service" in labelled and "last full walk counted 1,203 live" in labelled
    assert "check" not in labelled
    assert server_count_phrase(None, None) == "on the server: — (not reported by the service)"


def test_relative_time() -> None:
    now = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    assert relative_time(None, now) == "never"
    assert relative_time(now - timedelta(seconds=10), now) == "just now"
    assert relative_time(now - timedelta(minutes=3), now) == "3 min ago"
    assert relative_time(now - timedelta(hours=5), now) == "5 h ago"
    assert relative_time(now - timedelta(days=1), now) == "yesterday"
    assert relative_time(now - timedelta(days=4), now) == "4 days ago"


def test_paths_shown_with_the_home_folder_as_tilde(monkeypatch: Any, tmp_path: Path) -> None:
    from tzbackup_gui.app import display_path

    home = tmp_path / "home" / "ann"
    assert display_path(home / "backups" / "lilith", home=home) == "~/backups/lilith"
    assert display_path(home, home=home) == "~"
    assert display_path(tmp_path / "elsewhere", home=home) == str(tmp_path / "elsewhere")
    monkeypatch.setenv("HOME", str(home))
    model = PersonalitiesModel()
    model.set_rows(merge_rows([Shape("1", "Ann", "ann")], [Local(home / "data" / "ann", "ann", "1", "Ann")]))
    tip = model.index(0, COL_NAME).data(Qt.ItemDataRole.ToolTipRole)
    assert "~/data/ann" in tip and str(home) not in tip
