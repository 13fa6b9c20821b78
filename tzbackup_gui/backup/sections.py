"""Small per-personality sections: knowledge (``/story``), training, personalization (``/user``).

Each section is fetched whole (they are small), written atomically as its own file in the personality folder,
and summarised under ``sections`` in the metadata (count, last sync, status, error). What a new version
replaces (a changed or removed entry, a changed personalization) is first appended to
``.section-history.jsonl``, so nothing once saved is lost. A section that fails is reported as failed and its
previous file stays untouched; the other sections still run. An expired session, a bot wall, a full disk, or
the service / network gone (still rate limited, unreachable after every retry) (:data:`STOP_ERRORS`) is not a
section failure: it propagates and stops the whole run, as for memories.
Qt-free, blocking parts run in a thread.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..archive.store import append_line, atomic_write_json, read_json, read_jsonl
from ..errors import AuthError, BotWallError, DiskFullError, NetworkError, RateLimitedError, TzBackupError

__all__ = [
    "SECTION_FILES",
    "SECTION_HISTORY_NAME",
    "STOP_ERRORS",
    "SectionOutcome",
    "history_records",
    "merge_metadata",
    "save_section",
    "sync_sections",
]

SECTION_HISTORY_NAME = ".section-history.jsonl"
#: errors that stop the whole run (exit 3 / 4) instead of failing only one section or personality: the next
#: request would meet them too (session gone, bot wall, disk full, the service rate-limiting without end, the
#: network gone). A 5xx may be one personality's own trouble, so ServerError is not among them (the engine
#: checks whether the service still answers instead).
STOP_ERRORS: tuple[type[TzBackupError], ...] = (
    AuthError, BotWallError, DiskFullError, RateLimitedError, NetworkError,
)
#: section name -> (file name, client method name)
SECTION_FILES: dict[str, tuple[str, str]] = {
    "knowledge": ("knowledge.json", "get_story"),
    "training": ("training.json", "get_training"),
    "personalization": ("personalization.json", "get_user_personalization"),
}


@dataclass
class SectionOutcome:
    """What happened to one section in this run."""

    name: str
    status: str  # "ok" | "failed"
    count: int = 0
    error: str | None = None
    #: entries new in this run (chat messages, ...), when the section counts them
    new: int | None = None
    #: further section-specific figures kept in the metadata summary (e.g. chunk files, newest ts)
    extra: dict[str, Any] | None = None

    def summary(self, when: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "count": self.count, "lastSync": when, "status": self.status, "error": self.error,
        }
        if self.new is not None:
            out["new"] = self.new
        if self.extra:
            out.update(self.extra)
        return out


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _content(name: str, payload: Any) -> Any:
    """The file content of a section: ``{"items": [...]}`` for lists, the raw object for personalization."""
    return payload if name == "personalization" else {"items": list(payload)}


def _count(name: str, payload: Any) -> int:
    if name == "personalization":
        return 1 if isinstance(payload, dict) and payload else 0
    return len(payload) if isinstance(payload, list) else 0


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _replaced(name: str, old: Any, new: Any) -> list[dict[str, Any]]:
    """History records for what ``new`` replaces in ``old``: per entry for lists, whole for objects."""
    if _same(old, new):
        return []
    old_items = old.get("items") if isinstance(old, dict) and name != "personalization" else None
    new_items = new.get("items") if isinstance(new, dict) and name != "personalization" else None
    if not isinstance(old_items, list) or not isinstance(new_items, list):
        return [{"reason": "changed", "previous": old}]
    by_id = {str(e["id"]): e for e in new_items if isinstance(e, dict) and "id" in e}
    out: list[dict[str, Any]] = []
    for entry in old_items:
        key = str(entry["id"]) if isinstance(entry, dict) and "id" in entry else None
        if key is not None and key in by_id:
            if not _same(entry, by_id[key]):
                out.append({"reason": "changed", "id": key, "previous": entry})
        elif not any(_same(entry, e) for e in new_items):
            out.append({"reason": "removed", "id": key, "previous": entry})
    return out


def save_section(folder: Path, name: str, payload: Any, when: str) -> int:
    """Write one section's file; first keep what it replaces in the history. Returns the entry count."""
    path = folder / SECTION_FILES[name][0]
    new = _content(name, payload)
    old: Any = None
    if path.exists():
        old = read_json(path)
    if old is not None:
        history = folder / SECTION_HISTORY_NAME
        for record in _replaced(name, old, new):
            append_line(history, {"section": name, "replacedAt": when, **record})
        if _same(old, new):
            return _count(name, payload)
    atomic_write_json(path, new)
    return _count(name, payload)


def history_records(folder: Path) -> list[dict[str, Any]]:
    """Every record of ``.section-history.jsonl`` (oldest first)."""
    return [rec for _, rec in read_jsonl(folder / SECTION_HISTORY_NAME) if isinstance(rec, dict)]


BlockingRunner = Callable[..., Awaitable[Any]]


async def sync_sections(
    client: object,
    shape_id: str,
    folder: Path,
    blocking: BlockingRunner,
    *,
    names: Iterable[str] | None = None,
    outcomes: dict[str, SectionOutcome] | None = None,
) -> dict[str, SectionOutcome]:
    """Fetch and save the sections in ``names`` (default: all of :data:`SECTION_FILES`) that the client can
    fetch, filling ``outcomes`` (returned). A failed section is reported in its outcome (its file is left as
    it was). :data:`STOP_ERRORS` are recorded as that section's failure in ``outcomes`` and re-raised, so the
    caller keeps what completed before; cancellation propagates."""
    outcomes = {} if outcomes is None else outcomes
    chosen = set(SECTION_FILES) if names is None else set(names)
    for name, (_, method) in SECTION_FILES.items():
        fetch = getattr(client, method, None)
        if name not in chosen or not callable(fetch):
            continue  # not asked for, or a client without this endpoint (e.g. a test double)
        try:
            payload = await fetch(shape_id)
            count = await blocking(save_section, folder, name, payload, _iso_now())
            outcomes[name] = SectionOutcome(name, "ok", count)
        except asyncio.CancelledError:
            raise
        except STOP_ERRORS as err:
            outcomes[name] = SectionOutcome(name, "failed", 0, str(err) or type(err).__name__)
            raise
        except (TzBackupError, OSError) as err:
            outcomes[name] = SectionOutcome(name, "failed", 0, str(err) or type(err).__name__)
    return outcomes


def merge_metadata(metadata: dict[str, Any], outcomes: dict[str, SectionOutcome]) -> dict[str, Any]:
    """``metadata`` with its ``sections`` summary updated, and the last run record given section statuses.
    A failed section keeps the count and last sync of its last success."""
    meta = dict(metadata)
    sections = dict(meta.get("sections") or {})
    when = _iso_now()
    for name, outcome in outcomes.items():
        entry = outcome.summary(when)
        previous = sections.get(name)
        if outcome.status != "ok" and isinstance(previous, dict):
            entry["count"] = previous.get("count", 0)
            entry["lastSync"] = previous.get("lastSync")
        elif outcome.status != "ok":
            entry["lastSync"] = None
        sections[name] = entry
    meta["sections"] = sections
    runs = meta.get("runs")
    if isinstance(runs, list) and runs and isinstance(runs[-1], dict):
        last = dict(runs[-1])
        last["sections"] = {name: o.status for name, o in outcomes.items()}
        meta["runs"] = [*runs[:-1], last]
    return meta
