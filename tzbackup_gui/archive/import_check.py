"""Checks of an exported zip, before anything is written: :func:`check_archive` (for the import) and
:func:`verify_export` (``tzbackup verify FILE.zip``), so verify and import agree.

An archive is untrusted input:

- the manifest is read with a size cap and checked (tool, format version, a safe folder name, one entry
  per path, sizes within the limits);
- every entry name is checked: no absolute path, no ``..`` / ``.`` / empty component, no backslash, no drive
  letter or ``:``, no NUL, nothing under the engine's private ``.tzbackup/``, all under ``<folder>/``;
- entries must be regular files (a symlink, device or directory entry in ``external_attr`` is refused), not
  encrypted, not duplicated (also ignoring case), and exactly the manifest's files plus the manifest;
- every entry is decompressed with a hard cap of its manifest size + 1 byte, counting the bytes that
  really come out (the sizes in the zip headers are never trusted), and its SHA-256 compared.

:func:`verify_export` also runs :func:`~.verify.verify_backup` on a staged extraction in a private temp
folder, as the import does on its staging folder.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import ArchiveError, TzBackupError
from .export_common import TOOL
from .export_zip import MANIFEST_FORMAT, MANIFEST_NAME, count_chunk_memories
from .layout import MEMORY_DIR, METADATA_NAME, STATE_DIR, chunk_number
from .personality import PersonalityArchive, check_format
from .store import DIR_MODE, FILE_MODE
from .verify import VerifyReport, verify_backup

__all__ = [
    "ImportLimits",
    "ImportRefusedError",
    "Manifest",
    "check_archive",
    "entry_problem",
    "read_manifest",
    "refusal",
    "staged_report",
    "verify_export",
]

_BLOCK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAX_PARSED_CHUNK = 64 * 1024 * 1024  # memory files larger than this are not parsed to count memories


class ImportRefusedError(ArchiveError):
    """The archive is unsafe, damaged or does not match its manifest. Nothing was written."""

    hint = "Export the personality again on the machine it came from, and copy the zip over once more."

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        #: the problem alone, for ``verify`` (which imports nothing, so never says "Nothing was imported")
        self.reason = message
        if "nothing" not in message.lower():
            message = f"{message} Nothing was imported."
        super().__init__(message, hint=hint)



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
        raise ImportRefusedError(refusal(f"The archive {zip_path.name}", report.problems))
    return manifest


def refusal(what: str, problems: list[str]) -> str:
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
                    inner = staged_report(sink / manifest.folder, manifest)
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


def staged_report(staged: Path, manifest: Manifest) -> VerifyReport:
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

