"""Verify an exported zip (``verify_export``) and import it into a data dir (``import_archive``).

An archive is untrusted input. Before one byte is written:

- the manifest is read with a size cap and checked (tool, format version, a safe folder name, one entry
  per path, sizes within the limits);
- every entry name is checked: no absolute path, no ``..`` / ``.`` / empty component, no backslash, no drive
  letter or ``:``, no NUL, nothing under the engine's private ``.tzbackup/``, all under ``<folder>/``;
- entries must be regular files (a symlink, device or directory entry in ``external_attr`` is refused), not
  encrypted, not duplicated (also ignoring case), and exactly the manifest's files plus the manifest;
- every entry is decompressed with a hard cap of its manifest size + 1 byte, counting the bytes that
  really come out (the sizes in the zip headers are never trusted), and its SHA-256 compared.

:func:`import_archive` runs that whole check first without writing anything, then takes the data dir's
lock, extracts into a staging folder inside ``personalities/`` (same checks again: the file may have
changed), runs :func:`~.verify.verify_backup` on the staged folder, and only then moves it into place
with renames. A personality that is already backed up is replaced only when the archive is strictly newer
(``lastBackup``), belongs to the same owner and shape, has no unfinished memory or chat run, and holds
every memory id, every chat message id and every profile version record the local copy holds (anything
the local copy alone has that cannot be merged refuses the import, naming it). What can be merged safely
is carried over: lines of the append-only histories (``.memory-history.jsonl``, ``.chat-history.jsonl``,
``.section-history.jsonl``) and kept pictures (``history/images/``) that only the local copy has. The old
folder is kept as a ``.<folder>.replaced-<time>`` sibling until the new one is in place, then removed.

:func:`verify_export` runs the same checks as the import, including :func:`~.verify.verify_backup` on a
staged extraction in a private temp folder, so ``tzbackup verify FILE.zip`` and ``tzbackup import`` agree.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import ArchiveError, OwnerMismatchError, TzBackupError
from .chat import CHAT_HISTORY_NAME, ChatArchive, iter_chat, message_id
from .export import MANIFEST_FORMAT, MANIFEST_NAME, TOOL, count_chunk_memories
from .layout import HISTORY_NAME, MEMORY_DIR, METADATA_NAME, STATE_DIR, chunk_number, personalities_root
from .lock import DataDirLock
from .memories import memory_id
from .personality import PersonalityArchive, check_format
from .profile_history import PROFILE_HISTORY_DIR, VERSIONS_NAME
from .store import (
    DIR_MODE,
    FILE_MODE,
    append_missing,
    atomic_write_bytes,
    ensure_dir,
    fsync_dir,
    read_jsonl,
    record_key,
    write_error,
)
from .verify import VerifyReport, verify_backup

__all__ = [
    "ImportLimits",
    "ImportRefusedError",
    "ImportResult",
    "LocalBackupNewerError",
    "Manifest",
    "import_archive",
    "verify_export",
]

_BLOCK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_PARSED_CHUNK = 64 * 1024 * 1024  # memory files larger than this are not parsed to count memories
#: written by the engine layer (backup.sections / backup.images); spelled here so the archive layer does not
#: import the engine
_SECTION_HISTORY_NAME = ".section-history.jsonl"
_IMAGE_HISTORY_DIR = "history/images"


class ImportRefusedError(ArchiveError):
    """The archive is unsafe, damaged or does not match its manifest. Nothing was written."""

    hint = "Export the personality again on the machine it came from, and copy the zip over once more."

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        #: the problem alone, for ``verify`` (which imports nothing, so never says "Nothing was imported")
        self.reason = message
        if "nothing" not in message.lower():
            message = f"{message} Nothing was imported."
        super().__init__(message, hint=hint)


class LocalBackupNewerError(ImportRefusedError):
    """The data dir already holds a copy of this personality that the archive must not overwrite."""

    hint = "Nothing was imported; the local backup was left as it is."


@dataclass(frozen=True)
class ImportLimits:
    """Hard caps that make a zip bomb harmless (bytes are counted as they are decompressed)."""

    max_entry_bytes: int = 1024**3
    max_total_bytes: int = 8 * 1024**3
    max_entries: int = 200_000
    max_manifest_bytes: int = 64 * 1024 * 1024


@dataclass
class Manifest:
    folder: str
    personality: dict[str, Any]
    files: dict[str, tuple[int, str]]  # entry name -> (size, sha256), in manifest order
    memories: int
    raw: dict[str, Any] = field(repr=False)


@dataclass
class ImportResult:
    folder: Path
    slug: str = ""
    display_name: str = ""
    memories: int = 0
    files: int = 0
    bytes: int = 0
    replaced: bool = False
    history_kept: int = 0  # old memory versions only the replaced local copy had, carried over
    #: other history only the replaced local copy had, carried over: file name -> lines (or files)
    carried: dict[str, int] = field(default_factory=dict)


# --- checks ---------------------------------------------------------------------------------------------


def entry_problem(name: str, folder: str) -> str | None:
    """Why an entry name is unsafe (or not ours), or None."""
    if not name or "\x00" in name:
        return f"entry {name!r} has an empty name or a NUL byte"
    if "\\" in name:
        return f"entry {name!r} contains a backslash"
    if name.startswith("/"):
        return f"entry {name!r} is an absolute path"
    if ":" in name or re.match(r"^[A-Za-z]:", name):
        return f"entry {name!r} contains a drive letter or ':'"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return f"entry {name!r} has an empty, '.' or '..' path component"
    if any(ord(ch) < 32 for ch in name):
        return f"entry {name!r} contains a control character"
    if name == MANIFEST_NAME:
        return None
    if parts[0] != folder or len(parts) < 2:
        return f"entry {name!r} lies outside the personality folder {folder!r}"
    if parts[1] == STATE_DIR:
        return f"entry {name!r} is engine-private state ({STATE_DIR}/), which an export never holds"
    return None


def _info_problem(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if info.is_dir():
        return f"entry {info.filename!r} is a folder entry"
    if kind == stat.S_IFLNK:
        return f"entry {info.filename!r} is a symbolic link"
    if kind not in (0, stat.S_IFREG):
        return f"entry {info.filename!r} is not a regular file (mode {oct(mode)})"
    if info.flag_bits & 0x1:
        return f"entry {info.filename!r} is encrypted"
    return None


def _folder_problem(folder: object) -> str | None:
    if not isinstance(folder, str) or not folder or folder.startswith(".") or "/" in folder:
        return f"the manifest's folder name {folder!r} is not a safe folder name"
    if entry_problem(f"{folder}/x", folder) is not None:
        return f"the manifest's folder name {folder!r} is not a safe folder name"
    return None


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> Iterator[bytes]:
    """The entry's bytes in blocks, raising as soon as more than ``cap`` bytes come out."""
    seen = 0
    with zf.open(info) as src:
        while block := src.read(min(_BLOCK, cap + 1 - seen)):
            seen += len(block)
            if seen > cap:
                raise ImportRefusedError(
                    f"The entry {info.filename!r} holds more data than its manifest says ({cap} bytes): "
                    "refused (a zip bomb or a tampered archive)."
                )
            yield block


def read_manifest(zf: zipfile.ZipFile, limits: ImportLimits) -> Manifest:
    """The manifest, checked for shape and limits (raises :class:`ImportRefusedError`)."""
    infos = [i for i in zf.infolist() if i.filename == MANIFEST_NAME]
    if len(infos) != 1:
        raise ImportRefusedError(
            f"The archive has {'no' if not infos else 'more than one'} {MANIFEST_NAME}: it is not a tzbackup "
            "export (or it was altered)."
        )
    problem = _info_problem(infos[0])
    if problem:
        raise ImportRefusedError(f"The archive is unsafe: {problem}.")
    try:
        raw = json.loads(b"".join(_read_capped(zf, infos[0], limits.max_manifest_bytes)))
    except (UnicodeDecodeError, json.JSONDecodeError, zipfile.BadZipFile, OSError) as err:
        raise ImportRefusedError(f"The archive's {MANIFEST_NAME} is damaged: {err}") from err
    if not isinstance(raw, dict) or raw.get("tool") != TOOL:
        raise ImportRefusedError(f"The archive's {MANIFEST_NAME} was not written by tzbackup.")
    version = raw.get("formatVersion")
    if not isinstance(version, int) or version > MANIFEST_FORMAT:
        raise ImportRefusedError(
            f"The archive uses export format {version!r}; this tzbackup reads format {MANIFEST_FORMAT}.",
            hint="Upgrade tzbackup to import this archive.",
        )
    personality = raw.get("personality")
    folder = personality.get("folder") if isinstance(personality, dict) else None
    problem = _folder_problem(folder)
    if problem:
        raise ImportRefusedError(f"The archive is unsafe: {problem}.")
    assert isinstance(folder, str) and isinstance(personality, dict)
    files = _manifest_files(raw.get("files"), folder, limits)
    counts = raw.get("counts") if isinstance(raw.get("counts"), dict) else {}
    assert isinstance(counts, dict)
    memories = counts.get("memories")
    if counts.get("files") != len(files) or not isinstance(memories, int):
        raise ImportRefusedError(f"The archive's {MANIFEST_NAME} counts do not match its file list.")
    return Manifest(folder, personality, files, memories, raw)


def _manifest_files(items: object, folder: str, limits: ImportLimits) -> dict[str, tuple[int, str]]:
    if not isinstance(items, list) or len(items) > limits.max_entries:
        raise ImportRefusedError(f"The archive's {MANIFEST_NAME} has no usable file list.")
    files: dict[str, tuple[int, str]] = {}
    folded: set[str] = set()
    total = 0
    for item in items:
        path = item.get("path") if isinstance(item, dict) else None
        size = item.get("size") if isinstance(item, dict) else None
        digest = item.get("sha256") if isinstance(item, dict) else None
        if not isinstance(path, str) or not isinstance(digest, str) or not _SHA256.match(digest):
            raise ImportRefusedError(f"The archive's {MANIFEST_NAME} has a malformed file entry.")
        problem = entry_problem(path, folder)
        if problem or path == MANIFEST_NAME:
            raise ImportRefusedError(f"The archive is unsafe: {problem or 'the manifest lists itself'}.")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= limits.max_entry_bytes:
            raise ImportRefusedError(
                f"The archive's manifest gives {path!r} a size of {size!r}: not within "
                f"0..{limits.max_entry_bytes}."
            )
        if path.casefold() in folded:
            raise ImportRefusedError(f"The archive's manifest lists {path!r} twice.")
        folded.add(path.casefold())
        files[path] = (size, digest)
        total += size
    if total > limits.max_total_bytes:
        raise ImportRefusedError(
            f"The archive would unpack to {total} bytes, more than the limit of {limits.max_total_bytes}."
        )
    return files


def _structure_problems(zf: zipfile.ZipFile, manifest: Manifest, limits: ImportLimits) -> list[str]:
    """Names, types, duplicates, extra and missing entries: everything checkable without decompressing."""
    infos = zf.infolist()
    if len(infos) > limits.max_entries + 1:
        return [f"the archive has {len(infos)} entries, more than the limit of {limits.max_entries}"]
    problems: list[str] = []
    counts = collections.Counter(i.filename for i in infos)
    folded = collections.Counter(i.filename.casefold() for i in infos)
    problems += [f"entry {n!r} appears {c} times" for n, c in counts.items() if c > 1]
    problems += [f"entries differ only in upper/lower case ({n!r})"
                 for n, c in folded.items() if c > 1 and counts[n] <= 1]
    for info in infos:
        problem = entry_problem(info.filename, manifest.folder) or _info_problem(info)
        if problem:
            problems.append(problem)
        elif info.filename != MANIFEST_NAME and info.filename not in manifest.files:
            problems.append(f"entry {info.filename!r} is not listed in the manifest")
        elif info.filename in manifest.files and info.file_size != manifest.files[info.filename][0]:
            problems.append(
                f"entry {info.filename!r} says it holds {info.file_size} bytes; the manifest says "
                f"{manifest.files[info.filename][0]}"
            )
    problems += [f"{p!r} is listed in the manifest but missing from the archive"
                 for p in manifest.files if p not in counts]
    return problems


def _is_chunk_entry(name: str, folder: str) -> bool:
    parts = name.split("/")
    return len(parts) == 3 and parts[1] == MEMORY_DIR and chunk_number(parts[2], folder) is not None


def _check_entries(
    zf: zipfile.ZipFile, manifest: Manifest, report: VerifyReport, sink: Path | None = None
) -> None:
    """Decompress every listed entry under its cap, compare size and hash; write it under ``sink``."""
    for name, (size, digest) in manifest.files.items():
        sha = hashlib.sha256()
        got = 0
        keep: list[bytes] | None = (
            [] if _is_chunk_entry(name, manifest.folder) and size <= _MAX_PARSED_CHUNK else None
        )
        try:
            with _sink_file(sink, name) as out:
                for block in _read_capped(zf, zf.getinfo(name), size):
                    sha.update(block)
                    got += len(block)
                    if out is not None:
                        out.write(block)
                    if keep is not None:
                        keep.append(block)
        except ImportRefusedError as err:
            report.add(str(err))
            continue
        except (zipfile.BadZipFile, zlib.error, EOFError) as err:
            report.add(f"entry {name!r} is damaged: {err}")
            continue
        report.checked_files += 1
        if got != size:
            report.add(f"entry {name!r} holds {got} bytes; the manifest says {size}")
        elif sha.hexdigest() != digest:
            report.add(f"entry {name!r} does not match its SHA-256 in the manifest (altered or damaged)")
        elif keep is not None:
            try:
                report.memories += count_chunk_memories(b"".join(keep), name)
            except TzBackupError as err:
                report.add(str(err))
    if report.ok and report.memories != manifest.memories:
        report.add(f"the memory files hold {report.memories} memories; the manifest says {manifest.memories}")


@contextlib.contextmanager
def _sink_file(sink: Path | None, name: str) -> Iterator[IO[bytes] | None]:
    if sink is None:
        yield None
        return
    path = sink.joinpath(*name.split("/"))
    for parent in reversed(path.relative_to(sink).parents):
        if parent != Path("."):
            (sink / parent).mkdir(mode=DIR_MODE, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def _open_zip(zip_path: Path, limits: ImportLimits) -> zipfile.ZipFile:
    try:
        size = zip_path.stat().st_size
    except FileNotFoundError:
        raise ImportRefusedError(f"There is no file {zip_path}.", hint="Check the path.") from None
    if size > limits.max_total_bytes:
        raise ImportRefusedError(
            f"{zip_path} is larger than the limit for an archive ({limits.max_total_bytes} bytes)."
        )
    try:
        return zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ImportRefusedError(f"{zip_path} is not a readable zip file: {err}") from err


def check_archive(zip_path: Path, limits: ImportLimits | None = None, sink: Path | None = None) -> Manifest:
    """Run every check (writing entries under ``sink`` when given); raise with all problems found."""
    limits = limits or ImportLimits()
    with _open_zip(zip_path, limits) as zf:
        manifest = read_manifest(zf, limits)
        report = VerifyReport()
        for problem in _structure_problems(zf, manifest, limits):
            report.add(problem)
        if report.ok:  # never decompress an archive whose layout is already hostile
            _check_entries(zf, manifest, report, sink)
    if not report.ok:
        raise ImportRefusedError(_refusal(f"The archive {zip_path.name}", report.problems))
    return manifest


def _refusal(what: str, problems: list[str]) -> str:
    shown = "; ".join(p.rstrip(". ") for p in problems[:5])  # problems often end with "." already
    shown += f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return f"{what} was refused, nothing was written: {shown}."


def verify_export(zip_path: Path, limits: ImportLimits | None = None) -> VerifyReport:
    """Check an exported zip as :func:`import_archive` does: against its manifest (sizes, SHA-256, counts,
    safe names) and then, extracted into a private temp folder (same limits), the backup inside it with
    :func:`~.verify.verify_backup`, so verify and import agree. Writes nothing to any data dir."""
    limits = limits or ImportLimits()
    report = VerifyReport()
    try:
        with tempfile.TemporaryDirectory(prefix="tzbackup-verify-") as tmp:
            sink = Path(tmp)
            with _open_zip(zip_path, limits) as zf:
                manifest = read_manifest(zf, limits)
                for problem in _structure_problems(zf, manifest, limits):
                    report.add(problem)
                if report.ok:  # never decompress an archive whose layout is already hostile
                    _check_entries(zf, manifest, report, sink)
            if report.ok:
                try:
                    inner = _staged_report(sink / manifest.folder, manifest)
                except ImportRefusedError as err:
                    report.add(err.reason)
                except TzBackupError as err:
                    report.add(str(err))
                else:
                    for problem in inner.problems:
                        report.add(f"The backup inside the archive: {problem}")
    except ImportRefusedError as err:
        report.add(err.reason)
    except OSError as err:
        report.add(f"The archive could not be extracted to a temporary folder to check it: {err}")
    return report


# --- import ---------------------------------------------------------------------------------------------


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _memory_ids(folder: Path) -> set[str]:
    """Every memory id of a backup folder, one memory file in RAM at a time."""
    archive = PersonalityArchive(folder)
    return {memory_id(m) for _, name in archive.chunk_files() for m in archive.load_chunk(name)}


def _existing_checks(target: Path, manifest: Manifest) -> None:
    """Refuse when the local copy must not be replaced by the archive (checked before extracting)."""
    archive = PersonalityArchive(target)
    try:
        meta = archive.read_metadata()
    except TzBackupError as err:
        raise LocalBackupNewerError(f"The local folder {target} cannot be read ({err}); nothing imported.") \
            from err
    if meta is None:
        raise LocalBackupNewerError(
            f"{target} exists but is not a tzbackup backup; nothing imported.",
            hint="Move that folder elsewhere, then import again.",
        )
    check_format(meta, target)
    theirs, ours = manifest.personality, meta
    if ours.get("ownerId") and theirs.get("ownerId") and ours.get("ownerId") != theirs.get("ownerId"):
        raise OwnerMismatchError(
            f"The archive belongs to another shapes.inc account than the local backup of {target.name}; "
            "nothing imported."
        )
    if ours.get("shapeId") and theirs.get("shapeId") and ours.get("shapeId") != theirs.get("shapeId"):
        raise LocalBackupNewerError(
            f"The local folder {target.name} holds a different personality (shape id {ours.get('shapeId')}); "
            "nothing imported.",
            hint="Move the local folder elsewhere, then import again.",
        )
    local, incoming = _parse_time(ours.get("lastBackup")), _parse_time(theirs.get("lastBackup"))
    if local is not None and (incoming is None or local >= incoming):
        raise LocalBackupNewerError(
            f"The local backup of {target.name} is newer than the archive or as new (local "
            f"{ours.get('lastBackup')}, archive {theirs.get('lastBackup') or 'never'}); nothing imported."
        )
    if archive.commit_path.exists() or archive.journal_path.exists():
        raise LocalBackupNewerError(
            f"The local backup of {target.name} has an unfinished backup run; nothing imported.",
            hint="Run 'tzbackup backup' for it first (it completes the run), then import again.",
        )
    chat = ChatArchive(target)
    if chat.commit_path.exists() or chat.journal_path.exists():
        raise LocalBackupNewerError(
            f"The local backup of {target.name} has an unfinished chat backup run; nothing imported.",
            hint="Run 'tzbackup backup' for it first (it completes the run), then import again.",
        )


def _other_copies(root: Path, manifest: Manifest) -> None:
    """Refuse when the same personality, or a folder name that differs only in case, lives elsewhere."""
    if not root.is_dir():
        return
    shape_id = manifest.personality.get("shapeId")
    for entry in os.listdir(root):
        path = root / entry
        if entry == manifest.folder or entry.startswith(".") or not path.is_dir():
            continue
        if entry.casefold() == manifest.folder.casefold():
            raise LocalBackupNewerError(
                f"The local folder {entry} differs from the archive's {manifest.folder} only in case; "
                "nothing imported."
            )
        try:
            meta = PersonalityArchive(path).read_metadata() or {}
        except TzBackupError:
            continue
        if shape_id and meta.get("shapeId") == shape_id:
            raise LocalBackupNewerError(
                f"This personality is already backed up in the folder {entry} (under another name); "
                "nothing imported.",
                hint="Back it up once with 'tzbackup backup' or move that folder aside, then import again.",
            )


def _staged_checks(staged: Path, manifest: Manifest) -> VerifyReport:
    """:func:`_staged_report`, refusing the import when the backup inside the archive has problems."""
    report = _staged_report(staged, manifest)
    if not report.ok:
        raise ImportRefusedError(_refusal("The backup inside the archive", report.problems))
    return report


def _staged_report(staged: Path, manifest: Manifest) -> VerifyReport:
    """The extracted backup checked: metadata present, readable format, agreeing with the manifest (those
    raise), then :func:`~.verify.verify_backup` (its problems are in the report)."""
    meta = PersonalityArchive(staged).read_metadata()
    if meta is None:
        raise ImportRefusedError(f"The archive holds no {METADATA_NAME}.")
    check_format(meta, staged)
    for key in ("shapeId", "ownerId", "slug"):
        if str(meta.get(key) or "") != str(manifest.personality.get(key) or ""):
            raise ImportRefusedError(
                f"The archive's manifest and metadata disagree on {key}."
            )
    return verify_backup(staged)


def _kept_pictures(folder: Path) -> dict[str, Path]:
    """The regular files in ``history/images/`` (symlinks and folders are not kept pictures)."""
    where = folder.joinpath(*_IMAGE_HISTORY_DIR.split("/"))
    if not where.is_dir():
        return {}
    with os.scandir(where) as entries:
        return {e.name: Path(e.path) for e in entries if e.is_file(follow_symlinks=False)}


def _carry_pictures(old: Path, staged: Path) -> int:
    """Copy the kept pictures only the local copy has into the staged ``history/images/``; a name the
    archive also uses for different bytes is kept under a ``local-`` name beside it."""
    theirs = _kept_pictures(staged)
    where = staged.joinpath(*_IMAGE_HISTORY_DIR.split("/"))
    kept = 0
    for name, path in sorted(_kept_pictures(old).items()):
        data = path.read_bytes()
        if name in theirs and theirs[name].read_bytes() == data:
            continue
        ensure_dir(where.parent)
        ensure_dir(where)
        dest, n = where / name, 1
        while dest.exists():
            dest = where / (f"local-{name}" if n == 1 else f"local-{n}-{name}")
            n += 1
        atomic_write_bytes(dest, data)
        kept += 1
    return kept


def _local_only_losses(old: Path, staged: Path) -> list[str]:
    """What only the local copy holds, that replacing it would lose and that cannot be merged: chat
    messages and profile version records the archive lacks (empty list = nothing)."""
    losses: list[str] = []
    try:
        ours = {message_id(m) for m in iter_chat(old)}
        lacking = len(ours - {message_id(m) for m in iter_chat(staged)})
    except TzBackupError as err:
        losses.append(f"the local chat history cannot be read to compare it ({err})")
    else:
        if lacking:
            losses.append(f"the local copy has {lacking} chat message(s) the archive lacks")
    versions = Path(*PROFILE_HISTORY_DIR.split("/"), VERSIONS_NAME)
    present = {record_key(rec) for _, rec in read_jsonl(staged / versions) if isinstance(rec, dict)}
    lacking = sum(1 for _, rec in read_jsonl(old / versions) if isinstance(rec, dict)
                  and record_key(rec) not in present)
    if lacking:
        losses.append(f"the local copy has {lacking} profile version record(s) the archive lacks")
    return losses


def _swap_in(staged: Path, target: Path) -> None:
    """Move ``staged`` to ``target``; an existing target is kept aside until the move succeeded."""
    root = target.parent
    aside: Path | None = None
    if target.exists():
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        aside = root / f".{target.name}.replaced-{stamp}-{secrets.token_hex(2)}"
        os.rename(target, aside)
    try:
        os.rename(staged, target)
    except OSError:
        if aside is not None:
            os.rename(aside, target)
        raise
    fsync_dir(root)
    if aside is not None:
        shutil.rmtree(aside)
        fsync_dir(root)


def import_archive(
    zip_path: Path, data_dir: Path, *, limits: ImportLimits | None = None, lock_wait: float = 0.0
) -> ImportResult:
    """Import an exported zip into ``data_dir`` (checks in the module docstring). Raises
    :class:`ImportRefusedError` / :class:`LocalBackupNewerError` / :class:`OwnerMismatchError`."""
    limits = limits or ImportLimits()
    manifest = check_archive(zip_path, limits)  # nothing is written before this passes
    root = personalities_root(data_dir)
    created_root = not root.exists()
    with DataDirLock(data_dir, wait=lock_wait):
        target = root / manifest.folder
        _other_copies(root, manifest)
        if target.exists():
            _existing_checks(target, manifest)
        ensure_dir(root)
        staging = root / f".import-{secrets.token_hex(6)}"
        try:
            staging.mkdir(mode=DIR_MODE)
            check_archive(zip_path, limits, sink=staging)
            staged = staging / manifest.folder
            report = _staged_checks(staged, manifest)
            result = ImportResult(folder=target, memories=report.memories, files=len(manifest.files),
                                  bytes=sum(s for s, _ in manifest.files.values()),
                                  slug=str(manifest.personality.get("slug") or ""),
                                  display_name=str(manifest.personality.get("displayName") or ""))
            if target.exists():
                missing = _memory_ids(target) - _memory_ids(staged)
                if missing:
                    raise LocalBackupNewerError(
                        f"The local backup of {target.name} holds {len(missing)} memories the archive lacks; "
                        "nothing imported (memories are never dropped)."
                    )
                losses = _local_only_losses(target, staged)
                if losses:
                    raise LocalBackupNewerError(
                        f"The local backup of {target.name} holds what the archive lacks: "
                        f"{'; '.join(losses)}; nothing imported (saved data is never dropped).",
                        hint="Back the personality up on the machine the archive came from, export it again "
                        "and import that newer archive; the local backup was left as it is.",
                    )
                # what only the local copy kept of earlier versions goes into the imported copy
                result.history_kept = append_missing(staged / HISTORY_NAME, target / HISTORY_NAME)
                carried = {
                    CHAT_HISTORY_NAME: append_missing(staged / CHAT_HISTORY_NAME, target / CHAT_HISTORY_NAME),
                    _SECTION_HISTORY_NAME: append_missing(
                        staged / _SECTION_HISTORY_NAME, target / _SECTION_HISTORY_NAME, record_key),
                    _IMAGE_HISTORY_DIR: _carry_pictures(target, staged),
                }
                result.carried = {k: v for k, v in carried.items() if v}
                result.replaced = True
            _swap_in(staged, target)
        except OSError as err:
            raise write_error(err, target) from err
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if created_root:
                with contextlib.suppress(OSError):
                    root.rmdir()  # only succeeds when the import left it empty
    return result
