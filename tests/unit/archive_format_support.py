"""A fixed scenario of memory and chat commits, to pin the on-disk format of the archive byte for byte.

``tests/unit/test_archive_format.py`` runs it and compares every file it leaves with SHA-256 sums recorded
from the code as it was before the memory and chat stores were merged into one (issue 17). Everything that
could vary (clock, ids, order) is fixed; the id-index cache (keyed on inode and mtime) is left out.

Regenerate the sums only for a deliberate format change: ``python -m tests.unit.archive_format_support``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from tzbackup_gui.archive.chat import ChatArchive, ChatJournal
from tzbackup_gui.archive.journal import Journal
from tzbackup_gui.archive.layout import FORMAT_VERSION, personality_path
from tzbackup_gui.archive.personality import CommitResult, PersonalityArchive

FOLDER = "format-pin"
MEMORY_CHUNK = 250
SUMS_FILE = Path(__file__).with_name("archive_format_sums.json")


def _memory(n: int, *, edit: int = 0) -> dict[str, Any]:
    text = f"memory {n} ünïcode \"quoted\" line\nsecond line" + (f" (edit {edit})" if edit else "")
    return {
        "id": f"mem-{n:05d}",
        "summary": text,
        "metadata": {"created_at": 1_700_000_000 + 60 * n, "tags": [], "extra": {}},
        "deleted": False,
    }


def _message(n: int, *, edit: int = 0) -> dict[str, Any]:
    ts: float | str = 1_710_000_000.5 + 7 * n
    if n % 97 == 0:
        ts = str(ts)  # a numeric string, as some services send it
    return {"id": f"msg-{n:05d}", "ts": ts, "text": f"message {n}" + (f" edited {edit}" if edit else "")}


def _memory_commit(archive: PersonalityArchive, pages: list[list[dict[str, Any]]], now: str) -> None:
    meta = archive.read_metadata() or {"formatVersion": FORMAT_VERSION, "chunkSize": MEMORY_CHUNK}
    index = archive.load_index(MEMORY_CHUNK)
    journal = Journal.start(archive.journal_path, mode="incremental", reason="", started=now)
    for number, items in enumerate(pages, 1):
        journal.add_page(number, items, has_next=number < len(pages), total_pages=len(pages), total=None)

    def make_metadata(result: CommitResult) -> dict[str, Any]:
        return {**meta, "totalMemories": result.total, "lastBackup": now, "lastId": result.last_id}

    archive.commit(journal, index, MEMORY_CHUNK, now, make_metadata)


def _chat_commit(archive: ChatArchive, batches: list[list[dict[str, Any]]], now: str) -> None:
    archive.recover()
    _, _, newest = archive.tail()
    journal = ChatJournal.start(archive.journal_path, full=False, stored_newest=newest, started=now)
    for batch in batches:
        journal.add_batch(batch, None, False)
    steps = archive.commit_steps(journal, now)
    while True:
        try:
            next(steps)
        except StopIteration:
            return


def build(data_dir: Path) -> Path:
    """Three runs of memories and chat into ``data_dir``; returns the personality folder."""
    folder = personality_path(data_dir, FOLDER)
    memories = PersonalityArchive(folder)
    memories.create_dirs()
    chat = ChatArchive(folder)
    # run 1: 600 memories (three files), 1,100 messages (three files), newest first as the service sends
    pages = [[_memory(n) for n in range(600, 300, -1)], [_memory(n) for n in range(300, 0, -1)]]
    _memory_commit(memories, pages, "2026-01-01T00:00:00Z")
    _chat_commit(chat, [[_message(n) for n in range(1100, 0, -1)]], "2026-01-01T00:00:00Z")
    # run 2: 40 new, 3 edited (one in the first file), an entry without id; chat: 60 new, 2 edited
    page = [_memory(n) for n in range(640, 600, -1)] + [_memory(n, edit=1) for n in (599, 300, 2)]
    _memory_commit(memories, [[*page, {"summary": "no id here"}]], "2026-01-02T00:00:00Z")
    _chat_commit(chat, [[_message(n) for n in range(1160, 1100, -1)] + [_message(1099, edit=1),
                                                                            _message(1050, edit=1)]],
                 "2026-01-02T00:00:00Z")
    # run 3: memories older than everything stored (a full rewrite) and one edited again
    older = [{**_memory(n), "metadata": {"created_at": 1_600_000_000 + n}} for n in range(9000, 9005)]
    _memory_commit(memories, [[_memory(599, edit=2), *older]], "2026-01-03T00:00:00Z")
    _chat_commit(chat, [[_message(1161), _message(1099, edit=2)]], "2026-01-03T00:00:00Z")
    return folder


def sums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` but the id-index cache, by path relative to it."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != ".tzbackup/index.json":
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = sums(build(Path(tmp)))
    SUMS_FILE.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    sys.stdout.write(f"{len(result)} files pinned in {SUMS_FILE.name}\n")
