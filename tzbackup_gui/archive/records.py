"""One chunked record store: the files every kind of stored record (memories, chat messages) shares.

A kind of record lives in a personality folder as ``<dir>/<folder>_<noun>_N.json`` chunk files, each
``{"<frame key>": [records]}`` (N=1 the oldest; every file but the last holds exactly ``chunk_size``), with
an append-only history of replaced versions beside them (``{id, hash, replacedAt, <field>: old}`` per line)
and engine-private files under ``.tzbackup/``: the journal of an unfinished walk, and a commit in progress
(a staging folder plus a commit record naming the moves).

:class:`RecordKind` says what differs between kinds (names, framing, chunk size, record id / hash / order);
:class:`RecordStore` does the rest: paths, listing and reading chunk files, encoding them, staging history
lines, and applying (or, after a crash, rolling forward) a staged commit. How a commit merges new records
into the files is the kind's own business (``memory_commit.py``, ``chat.py``); the journal of a walk is
``journal_file.py``. Everything here blocks: callers run it in a worker thread.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CorruptBackupError
from .layout import STATE_DIR, record_file_name, record_file_number
from .store import (
    append_line,
    append_missing,
    atomic_write_bytes,
    clear_dir,
    dump_json,
    ensure_dir,
    fsync_dir,
    pending_commit,
    record_key,
    remove_file,
)

__all__ = ["HISTORY_STAGED", "STEP_RECORDS", "RecordKind", "RecordStore", "run_steps"]

#: the staged history lines of a commit, inside its staging folder
HISTORY_STAGED = "history.jsonl"
#: records encoded per step of a chunk file's encoding: one step holds the GIL for a few milliseconds
STEP_RECORDS = 25

T = TypeVar("T")


@dataclass(frozen=True)
class RecordKind:
    """What tells one kind of chunked record apart on disk and in order."""

    noun: str  # in chunk file names: ``<folder>_<noun>_N.json``
    records_dir: str  # the folder of the chunk files, inside the personality folder
    frame_key: str  # a chunk file is ``{frame_key: [records]}``
    label: str  # "memory file": how messages name one chunk file
    chunk_size: int  # records per chunk file (a folder's metadata may record its own)
    history_name: str  # the history of replaced versions, inside the personality folder
    history_field: str  # the key of the replaced version in a history line
    journal_name: str  # the walk journal, under ``.tzbackup/``
    commit_name: str  # the commit record, under ``.tzbackup/``
    staging_name: str  # the staging folder, under ``.tzbackup/``
    #: (name in the staging folder, path inside the personality folder) of the file a commit moves in last
    sidecar: tuple[str, str]
    record_id: Callable[[Mapping[str, Any]], str]
    record_hash: Callable[[Mapping[str, Any]], str]
    #: staged id-less entries kept verbatim at apply, inside the personality folder (None: never any)
    quarantine_name: str | None = None


def run_steps(steps: Generator[None, None, T]) -> T:
    """Run a generator of steps to its end in one go; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            value: T = done.value
            return value


def _chunk_item(record: Mapping[str, Any]) -> str:
    """One record as it appears inside a chunk file: ``indent=1`` at nesting depth 2. JSON text never
    holds a raw newline inside a string, so every newline is indentation and can be deepened by 2."""
    return json.dumps(record, ensure_ascii=False, indent=1).replace("\n", "\n  ")


class RecordStore:
    """The files of one kind of record in one personality folder. All methods block."""

    def __init__(self, path: Path, kind: RecordKind) -> None:
        self.path = path
        self.name = path.name
        self.kind = kind

    # --- paths -------------------------------------------------------------------------------------------

    @property
    def records_dir(self) -> Path:
        return self.path / self.kind.records_dir

    @property
    def state_dir(self) -> Path:
        return self.path / STATE_DIR

    @property
    def history_path(self) -> Path:
        return self.path / self.kind.history_name

    @property
    def journal_path(self) -> Path:
        return self.state_dir / self.kind.journal_name

    @property
    def commit_path(self) -> Path:
        return self.state_dir / self.kind.commit_name

    @property
    def staging_dir(self) -> Path:
        return self.state_dir / self.kind.staging_name

    def chunk_name(self, number: int) -> str:
        return record_file_name(self.name, self.kind.noun, number)

    def chunk_path(self, number: int) -> Path:
        return self.records_dir / self.chunk_name(number)

    # --- reading -----------------------------------------------------------------------------------------

    def chunk_files(self) -> list[tuple[int, str]]:
        """(N, file name) of every chunk file of this folder, in numeric order."""
        if not self.records_dir.is_dir():
            return []
        found = []
        for entry in os.listdir(self.records_dir):
            number = record_file_number(entry, self.kind.noun, self.name)
            if number is not None:
                found.append((number, entry))
        return sorted(found)

    def chunk_numbers(self) -> list[int]:
        """N of every chunk file, ascending."""
        return [number for number, _ in self.chunk_files()]

    def read_chunk_bytes(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as err:
            raise CorruptBackupError(f"Could not read {path}: {err.strerror}", path=str(path)) from err

    def parse_chunk(self, raw: bytes, path: Path) -> list[dict[str, Any]]:
        """The records of one chunk file; anything but ``{frame_key: [objects]}`` is corruption."""
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            text = f"The {self.kind.label} {path} is damaged: {err}"
            raise CorruptBackupError(text, path=str(path)) from err
        records = data.get(self.kind.frame_key) if isinstance(data, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise CorruptBackupError(
                f"The {self.kind.label} {path} does not hold a {self.kind.frame_key!r} list of objects.",
                path=str(path),
            )
        return records

    def load_chunk(self, chunk: int | str) -> list[dict[str, Any]]:
        """The records of chunk file ``chunk`` (its number N, or its file name)."""
        path = self.chunk_path(chunk) if isinstance(chunk, int) else self.records_dir / chunk
        return self.parse_chunk(self.read_chunk_bytes(path), path)

    # --- writing -----------------------------------------------------------------------------------------

    def encode_chunk(self, records: list[dict[str, Any]]) -> bytes:
        """A chunk file's bytes: equal to ``dump_json({frame_key: records}, indent=1)``."""
        return run_steps(self.encode_chunk_steps(records))

    def encode_chunk_steps(self, records: list[dict[str, Any]]) -> Generator[None, None, bytes]:
        """:meth:`encode_chunk` in slices of :data:`STEP_RECORDS`, yielding between them: encoding is
        pure-Python work that holds the GIL (see ``PersonalityArchive.commit_steps``)."""
        if not records:
            return dump_json({self.kind.frame_key: []}, indent=1)
        parts: list[str] = []
        for at in range(0, len(records), STEP_RECORDS):
            parts.extend(_chunk_item(r) for r in records[at : at + STEP_RECORDS])
            yield
        head = "{\n " + json.dumps(self.kind.frame_key, ensure_ascii=False) + ": [\n  "
        return (head + ",\n  ".join(parts) + "\n ]\n}\n").encode("utf-8")

    def stage_history(self, record_id: str, digest: str, now: str, old: dict[str, Any]) -> None:
        """Stage the replaced version ``old`` of a record for the history (appended at apply)."""
        line = {"id": record_id, "hash": digest, "replacedAt": now, self.kind.history_field: old}
        append_line(self.staging_dir / HISTORY_STAGED, line)

    def start_staging(self) -> None:
        """An empty staging folder for a new commit (whatever an uncommitted one left is dropped)."""
        clear_dir(self.staging_dir)
        ensure_dir(self.staging_dir)

    def stage_file(self, name: str, data: bytes) -> None:
        atomic_write_bytes(self.staging_dir / name, data)

    # --- commit ------------------------------------------------------------------------------------------

    def recover(self) -> bool:
        """Finish a commit that a crash interrupted (roll forward); drop a staging area never committed.
        True when there was one."""
        plan = pending_commit(self.commit_path, self.staging_dir)
        if plan is None:
            return False
        self._apply(plan)
        return True

    def _target(self, where: object) -> Path:
        """A commit plan names a file by its chunk number (chat) or its path in the folder (memories)."""
        return self.chunk_path(where) if isinstance(where, int) else self.path / str(where)

    def _apply(self, plan: dict[str, Any]) -> None:
        """Carry out a staged commit, in an order that a crash at any point leaves safe to replay: history
        (and quarantine) lines first, then the chunk files, then the sidecar (metadata / state), then the
        journal and the commit record go."""
        staged_history = self.staging_dir / HISTORY_STAGED
        if staged_history.exists():
            append_missing(self.history_path, staged_history)  # a replay adds nothing twice
        quarantine = plan.get("quarantine")
        if quarantine and self.kind.quarantine_name and (self.staging_dir / quarantine).exists():
            append_missing(self.path / self.kind.quarantine_name, self.staging_dir / quarantine, record_key)
        renames = plan.get("renames", [])
        if renames:
            ensure_dir(self.records_dir)
        for staged, target in renames:
            source = self.staging_dir / str(staged)
            if source.exists():
                os.replace(source, self._target(target))
        for target in plan.get("remove", []):
            remove_file(self._target(target))
        if self.records_dir.is_dir():
            fsync_dir(self.records_dir)
        staged_name, target_name = self.kind.sidecar
        sidecar = self.staging_dir / staged_name
        if sidecar.exists():
            target = self.path / target_name
            os.replace(sidecar, target)
            fsync_dir(target.parent)
        if plan.get("deleteJournal", True):
            remove_file(self.journal_path)
        remove_file(self.commit_path)
        clear_dir(self.staging_dir)
        fsync_dir(self.state_dir)
