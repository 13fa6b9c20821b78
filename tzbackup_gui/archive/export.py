"""Portable exports of one personality folder: a verifiable zip, a readable Markdown file, a character card.

All three only read the backup (call them while holding the data dir's :class:`~.lock.DataDirLock`, as
``tzbackup export`` does, so a running backup cannot change files half-way) and write their output
atomically (temp file in the target folder, fsync, rename): an interrupted export never leaves a half file.

**zip.** The personality folder as ``<folder>/...`` entries plus ``manifest.json`` at the root of the
archive (see :func:`export_zip`). The engine's private state (``.tzbackup/``: journal, id index, commit
staging), temp files, locks and caches are left out; the metadata, the memory files and
``.memory-history.jsonl`` are in. Entries come in a fixed order (natural sort of their paths, manifest
last); each file is read once, hashed (SHA-256) while it is compressed. :func:`verify_export` lives in
:mod:`.importer`, beside the import that shares its checks.

**markdown.** One document: title, identity, description and prompts, the ``personality_*`` fields,
engine settings as a compact table, knowledge (when a knowledge file exists), then every memory grouped by
day (UTC), oldest first, deleted-upstream and ``deleted: true`` memories marked. Written while the memory
files are read one at a time, so a 50,000-memory personality never sits in RAM.

**card.** A Character Card V2 (``chara_card_v2``) as ``<name>.card.json`` and the same card in a PNG
(``tEXt`` chunk ``chara`` = base64 of the JSON), the form character front-ends import. The PNG is the
saved avatar (a JPEG, WebP or GIF avatar converted to PNG with Qt, or Pillow when present); without a usable
avatar, a plain 400x600 solid-colour PNG (colour from the shape id) generated here, and the result says so.
Mapping from the shapes.inc profile (SERVICE_API.md; the sandbox's ``data.build_profile`` shows all ~170
fields):

=============================  ==========================================================================
Card V2 ``data`` field          taken from the profile
=============================  ==========================================================================
``name``                        ``name`` (else ``username``, else the metadata's display name)
``description``                 ``description`` (else ``search_description``), then the labelled facts
                                ``personality_age``, ``_sex``, ``_heritage``, ``_birthday``, ``_occupation``,
                                ``_appearance``, ``_physical_traits``, ``_history``, ``_relationships``
``personality``                 labelled ``personality_traits``, ``_tone``, ``_personality_type``, ``_likes``,
                                ``_dislikes``, ``_hobbies``, ``_fears``, ``_quirks``, ``_goals``,
                                ``_catchphrases``, ``_conversational_goals``
``scenario``                    ``user_prompt`` (what the personality is told about the user it talks to)
``first_mes``                   ``initial_message`` (else ``shape_settings.shape_initial_message``)
``mes_example``                 ``personality_conversational_examples`` (``<START>`` prepended when absent)
``creator_notes``               ``tagline`` and ``search_description``, plus where the card came from
``system_prompt``               ``jailbreak`` (the shape's system prompt)
``post_history_instructions``   "" (shapes.inc has no such field)
``alternate_greetings``         [] (shapes.inc has one greeting)
``character_book``              the knowledge entries (``/story``), when a knowledge file was saved
``tags``                        ``tags`` (strings only)
``creator``                     ``creator_username``
``character_version``           ``shape_settings.version`` (else ``updated_ts`` as a UTC date)
``extensions.tzbackup``         ``{"profile": <the full raw profile>, "shapeId", "slug", "ownerId",
                                "exportedAt", "tool", "version", "source": "shapes.inc"}``; credential
                                fields (``engine_api_key``, ``*token*``, ``*secret*``...) are redacted
                                here and in the Markdown, since both are made to be shared
=============================  ==========================================================================
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ArchiveError, CorruptBackupError, TzBackupError
from .browse import field_text
from .images import convert_to_png, find_image, sniff_image
from .layout import MEMORY_DIR, METADATA_NAME, STATE_DIR, chunk_number
from .memories import memory_id, memory_ts
from .personality import PersonalityArchive, check_format
from .png_card import embed_card, read_card, solid_png
from .store import FILE_MODE, atomic_output, read_json

__all__ = [
    "CARD_V2_FIELDS",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "ExportResult",
    "archive_files",
    "build_card",
    "export_card",
    "export_markdown",
    "export_profile_json",
    "export_zip",
    "load_knowledge",
    "validate_card",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
TOOL = "tzbackup"
_BLOCK = 1024 * 1024
#: Knowledge (``/story``) files a backup may hold; read defensively, the section may not exist yet.
KNOWLEDGE_NAMES = ("knowledge.json", "story.json", "{folder}_knowledge.json", "{folder}_story.json")
AVATAR_PNG = "avatar.png"
PLACEHOLDER_SIZE = (400, 600)


@dataclass
class ExportResult:
    """What an export wrote."""

    format: str
    paths: list[Path] = field(default_factory=list)
    bytes: int = 0
    memories: int = 0
    files: int = 0
    notes: list[str] = field(default_factory=list)  # e.g. "placeholder picture", skipped files
    #: files of the backup that could not be read, so their content is missing from the export: "name: why"
    unreadable: list[str] = field(default_factory=list)
    #: the memory count the backup's metadata records (``memories`` is what the export holds)
    recorded: int | None = None


# --- shared helpers -------------------------------------------------------------------------------------


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_folder(folder: Path) -> tuple[PersonalityArchive, dict[str, Any]]:
    """The archive and its metadata, refusing folders we must not export as they are."""
    archive = PersonalityArchive(folder)
    meta = archive.read_metadata()
    if meta is None:
        raise ArchiveError(f"{folder} has no {METADATA_NAME}: it is not a tzbackup backup.")
    check_format(meta, folder)
    if archive.commit_path.exists():
        raise ArchiveError(
            f"A backup of {folder.name} was interrupted while saving; its files are being completed.",
            hint="Run 'tzbackup backup' for it once (it finishes the save), then export again.",
        )
    return archive, meta


def open_damaged(folder: Path) -> tuple[PersonalityArchive, dict[str, Any], str]:
    """:func:`open_folder` for exports that take whatever can be read: damaged metadata gives ``{}`` and a
    sentence saying so (a backup without metadata, of another format, or mid-save is still refused)."""
    try:
        archive, meta = open_folder(folder)
    except CorruptBackupError as err:
        if not Path(err.path or "").name == METADATA_NAME:
            raise
        return PersonalityArchive(folder), {}, f"{METADATA_NAME}: {_reason(err)}"
    return archive, meta, ""


def read_profile(archive: PersonalityArchive) -> tuple[dict[str, Any], str]:
    """The raw profile, or ``{}`` and a sentence saying why there is none."""
    try:
        profile = read_json(archive.profile_path)
    except FileNotFoundError:
        return {}, "No profile file was saved."
    except TzBackupError as err:
        return {}, str(err)
    if not isinstance(profile, dict):
        return {}, f"{archive.profile_path.name} is not a JSON object."
    return profile, ""


def load_knowledge(folder: Path) -> tuple[list[dict[str, Any]], str]:
    """Knowledge entries of a saved knowledge file (any envelope SERVICE_API.md lists), and a problem."""
    for pattern in KNOWLEDGE_NAMES:
        path = folder / pattern.format(folder=folder.name)
        if not path.is_file():
            continue
        try:
            data = read_json(path)
        except (OSError, TzBackupError) as err:
            return [], str(err)
        if isinstance(data, dict):
            inner = next((data[k] for k in ("items", "story", "knowledge", "entries") if k in data), None)
            data = inner if inner is not None else ([data] if "content" in data else [])
        if not isinstance(data, list):
            return [], f"{path.name} does not hold a list of knowledge entries."
        return [e for e in data if isinstance(e, dict)], ""
    return [], ""


#: Profile keys whose values are credentials (``engine_api_key``...): never copied into a card or a
#: Markdown file meant for sharing (the zip is a backup copy and keeps the profile file untouched).
_SECRET_KEY = re.compile(r"(api_?key|secret|token|password)", re.IGNORECASE)
REDACTED = "<redacted by tzbackup>"


def redact_profile(value: Any) -> Any:
    """A copy of ``value`` with every non-empty credential-like field replaced by :data:`REDACTED`."""
    if isinstance(value, dict):
        return {k: (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "", [], {}) else
                    redact_profile(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_profile(v) for v in value]
    return value


def _natural_key(path: str) -> list[Any]:
    """``memory_2`` before ``memory_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def _is_private(rel: str) -> bool:
    """Engine state, temp files, locks and caches: never part of an export."""
    parts = rel.split("/")
    name = parts[-1]
    return (
        parts[0] == STATE_DIR
        or ".tmp-" in name
        or name.endswith((".lock", ".sqlite3", ".sqlite3-journal", ".sqlite3-wal", ".sqlite3-shm"))
        or any(p.startswith(".cache") for p in parts)
    )


def archive_files(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """``(relative posix path, file)`` of everything an export holds, in entry order; plus the skipped
    entries that are neither files nor folders (symlinks, sockets...)."""
    found: list[tuple[str, Path]] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        rel_dir = base.relative_to(folder).as_posix()
        for name in list(dirnames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if (base / name).is_symlink():
                skipped.append(rel)
                dirnames.remove(name)
            elif _is_private(rel):
                dirnames.remove(name)
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            path = base / name
            if _is_private(rel):
                continue
            if path.is_symlink() or not path.is_file():
                skipped.append(rel)
                continue
            found.append((rel, path))
    found.sort(key=lambda item: _natural_key(item[0]))
    return found, sorted(skipped)


def _zip_info(name: str, mtime: float | None) -> zipfile.ZipInfo:
    when = dt.datetime.fromtimestamp(mtime, dt.UTC) if mtime else dt.datetime(1980, 1, 1)
    stamp = max(when.timetuple()[:6], (1980, 1, 1, 0, 0, 0))
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so external_attr's mode bits mean what they say
    info.external_attr = (0o100000 | FILE_MODE) << 16  # a regular file, 0600
    return info


def _is_chunk(rel: str, folder: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 2 and parts[0] == MEMORY_DIR and chunk_number(parts[1], folder) is not None


def count_chunk_memories(data: bytes, name: str) -> int:
    """How many memories a chunk file's bytes hold (a damaged file raises)."""
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptBackupError(f"The memory file {name} is damaged: {err}", path=name) from err
    items = parsed.get("memories") if isinstance(parsed, dict) else None
    if not isinstance(items, list):
        raise CorruptBackupError(f"The memory file {name} does not hold a 'memories' list.", path=name)
    return len(items)


# --- zip ------------------------------------------------------------------------------------------------


def export_zip(folder: Path, output: Path) -> ExportResult:
    """Write ``folder`` as a zip with ``manifest.json`` (format, personality, counts, SHA-256 per file)."""
    _, meta, damaged = open_damaged(folder)
    files, skipped = archive_files(folder)
    result = ExportResult(format="zip", paths=[output], recorded=_recorded_total(meta))
    result.notes += [f"skipped {rel} (not a regular file)" for rel in skipped]
    if damaged:
        result.notes.append(f"{damaged}; copied as it is")
    entries: list[dict[str, Any]] = []
    with atomic_output(output) as fh, zipfile.ZipFile(fh, "w", compresslevel=6) as zf:
        for rel, path in files:
            name = f"{folder.name}/{rel}"
            digest = hashlib.sha256()
            size = 0
            chunk_data: list[bytes] | None = [] if _is_chunk(rel, folder.name) else None
            try:  # a file that cannot be opened is left out and named; everything readable goes in
                src = path.open("rb")
                mtime = os.fstat(src.fileno()).st_mtime
            except OSError as err:
                result.unreadable.append(f"{rel}: {err.strerror or err}")
                continue
            with src, zf.open(_zip_info(name, mtime), "w") as dst:
                try:
                    while block := src.read(_BLOCK):
                        digest.update(block)
                        size += len(block)
                        dst.write(block)
                        if chunk_data is not None:
                            chunk_data.append(block)
                except OSError as err:  # cut short: the entry holds what was read (the manifest says so)
                    result.unreadable.append(f"{rel}: {err.strerror or err} after {size} bytes")
                    chunk_data = None
            if chunk_data is not None:
                # a damaged one is exported byte for byte as it is; ``verify`` (and the CLI) name the damage
                with contextlib.suppress(CorruptBackupError):
                    result.memories += count_chunk_memories(b"".join(chunk_data), rel)
            entries.append({"path": name, "size": size, "sha256": digest.hexdigest()})
            result.bytes += size
        manifest = {
            "tool": TOOL,
            "version": __version__,
            "formatVersion": MANIFEST_FORMAT,
            "created": utc_now(),
            "personality": {
                "folder": folder.name,
                "slug": str(meta.get("slug") or folder.name),
                "shapeId": str(meta.get("shapeId") or ""),
                "displayName": str(meta.get("displayName") or ""),
                "ownerId": str(meta.get("ownerId") or ""),
                "lastBackup": meta.get("lastBackup") if isinstance(meta.get("lastBackup"), str) else None,
                "backupFormatVersion": meta.get("formatVersion"),
            },
            "counts": {"memories": result.memories, "files": len(entries), "bytes": result.bytes},
            "files": entries,
        }
        data = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
        zf.writestr(_zip_info(MANIFEST_NAME, None), data)
    result.files = len(entries)
    return result


# --- markdown -------------------------------------------------------------------------------------------

_IDENTITY = (("name", "Name"), ("username", "Username"), ("id", "Shape id"), ("tagline", "Tagline"),
             ("category", "Category"), ("tags", "Tags"), ("language", "Language"),
             ("creator_username", "Creator"), ("user_id", "Owners"), ("created_ts", "Created"),
             ("updated_ts", "Updated"), ("is_public", "Public"))
_PROMPTS = (("description", "Description"), ("search_description", "Search description"),
            ("jailbreak", "System prompt"), ("user_prompt", "User prompt"),
            ("initial_message", "First message"), ("error_message", "Error message"),
            ("wack_message", "Fallback message"), ("sleep_message", "Sleep message"))
_SETTING_PREFIXES = ("engine_", "ltm_", "stm_")


def _ts_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value:
        return str(value) if value not in (None, "") else ""
    try:
        return dt.datetime.fromtimestamp(float(value), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, OSError, ValueError):
        return str(value)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", "<br>")


def _para(text: str) -> str:
    """Free text as Markdown paragraphs: a line that would start a heading, quote or list is escaped, line
    breaks inside a paragraph are kept."""
    out = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if re.match(r"\s*([#>+*=|-]|\d+[.)])", line):
            line = "\\" + line.lstrip()
        out.append(line.rstrip() + ("  " if line.strip() else ""))
    return "\n".join(out).rstrip() + "\n"


def _label(key: str) -> str:
    return key.removeprefix("personality_").replace("_", " ").capitalize()


def _profile_sections(profile: dict[str, Any]) -> Iterator[str]:
    rows = [(label, _ts_text(profile.get(k)) if k.endswith("_ts") else field_text(profile.get(k)))
            for k, label in _IDENTITY if k in profile]
    if rows:
        yield "## Identity\n\n| | |\n|---|---|\n"
        yield "".join(f"| {label} | {_cell(value)} |\n" for label, value in rows) + "\n"
    for key, label in _PROMPTS:
        text = field_text(profile.get(key)).strip()
        if text:
            yield f"## {label}\n\n{_para(text)}\n"
    traits = [(k, field_text(v).strip()) for k, v in profile.items() if k.startswith("personality_")]
    traits = [(k, v) for k, v in traits if v]
    if traits:
        yield "## Personality\n\n"
        yield "".join(f"### {_label(k)}\n\n{_para(v)}\n" for k, v in traits)
    settings = [(k, field_text(v)) for k, v in profile.items() if k.startswith(_SETTING_PREFIXES)]
    if settings:
        yield "## Engine settings\n\n| setting | value | setting | value |\n|---|---|---|---|\n"
        for at in range(0, len(settings), 2):
            pair = settings[at : at + 2] + ([("", "")] if at + 1 >= len(settings) else [])
            yield "| " + " | ".join(f"{_cell(k)} | {_cell(v)}" for k, v in pair) + " |\n"
        yield "\n"


def _knowledge_section(knowledge: list[dict[str, Any]], problem: str) -> Iterator[str]:
    if problem:
        yield f"## Knowledge\n\n> The knowledge file could not be read: {_cell(problem)}\n\n"
    if not knowledge:
        return
    yield f"## Knowledge ({len(knowledge)} entries)\n\n"
    for n, entry in enumerate(knowledge, 1):
        title = field_text(entry.get("title")).strip() or f"Entry {n}"
        kind = field_text(entry.get("story_type")).strip()
        yield f"### {_cell(title)}" + (f" ({kind})" if kind else "") + "\n\n"
        yield _para(field_text(entry.get("content"))) + "\n"


def _memory_block(raw: dict[str, Any], upstream: dict[str, Any]) -> str:
    mid = memory_id(raw)
    ts = memory_ts(raw)
    when = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M") if ts else "--:--"
    tags = [str(raw.get("summary_type") or "")] if raw.get("summary_type") else []
    if mid in upstream:
        tags.append(f"**deleted upstream** ({field_text(upstream[mid])})".replace(" ()", ""))
    if raw.get("deleted") is True:
        tags.append("**deleted**")
    text = raw.get("result") if isinstance(raw.get("result"), str) else raw.get("content")
    head = f"**{when}**" + "".join(f" · {t}" for t in tags) + f" · `{_cell(mid)}`"
    return f"{head}  \n{_para(str(text or ''))}\n"


def _recorded_total(meta: dict[str, Any]) -> int | None:
    total = meta.get("totalMemories")
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


def _readable_chunks(archive: PersonalityArchive) -> tuple[int, list[str]]:
    """Memories in the memory files that can be read, and "name: why" for each one that cannot (one file
    in RAM at a time), so a document can say both at its top before it streams the memories."""
    count, unreadable = 0, []
    for _, name in archive.chunk_files():
        try:
            count += len(archive.load_chunk(name))
        except (OSError, TzBackupError) as err:
            unreadable.append(f"{name}: {_reason(err)}")
    return count, unreadable


def _reason(err: Exception) -> str:
    """Why a file could not be read, without repeating its path."""
    if isinstance(err, OSError):
        return err.strerror or str(err)
    cause = err.__cause__
    if isinstance(cause, OSError):
        return cause.strerror or str(cause)
    if cause is not None:
        return f"damaged ({cause})"
    return str(err)


def _memory_sections(
    archive: PersonalityArchive, upstream: dict[str, Any], result: ExportResult | None = None
) -> Iterator[str]:
    """Memories grouped by UTC day, one memory file in RAM at a time; a damaged file is named and skipped.
    With ``result``, the memories written are counted in it (and a file that fails now is added to its
    ``unreadable``)."""
    day = None
    for _, name in archive.chunk_files():
        try:
            memories = archive.load_chunk(name)
        except (OSError, TzBackupError) as err:
            yield f"> **The memory file {name} could not be read:** {_cell(_reason(err))}\n\n"
            if result is not None and not any(u.startswith(f"{name}: ") for u in result.unreadable):
                result.unreadable.append(f"{name}: {_reason(err)}")
            continue
        if result is not None:
            result.memories += len(memories)
        for raw in memories:
            ts = memory_ts(raw)
            this_day = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d") if ts else "Undated"
            if this_day != day:
                day = this_day
                yield f"### {day}\n\n"
            yield _memory_block(raw, upstream)


def export_markdown(
    folder: Path, output: Path, *, profile: dict[str, Any] | None = None, as_of: str | None = None
) -> ExportResult:
    """Write one readable Markdown document of the personality (streamed, memories oldest first).

    With ``profile`` (an earlier version kept in the profile history, ``as_of`` saying which), the document
    holds that profile as it was then, and neither the knowledge nor the memories (they are not versioned
    with the profile; export the current backup for them)."""
    if profile is not None:
        return _export_markdown_version(folder, output, profile, as_of or "an earlier version")
    archive, meta, damaged = open_damaged(folder)
    profile, problem = read_profile(archive)
    profile = redact_profile(profile)
    knowledge, knowledge_problem = load_knowledge(folder)
    upstream = meta.get("deletedUpstream") if isinstance(meta.get("deletedUpstream"), dict) else {}
    assert isinstance(upstream, dict)
    title = str(profile.get("name") or meta.get("displayName") or meta.get("slug") or folder.name)
    recorded = _recorded_total(meta)
    # read every memory file once first, so the top of the document says what it holds and what is missing
    readable, unreadable = _readable_chunks(archive)
    result = ExportResult(format="markdown", paths=[output], files=1, recorded=recorded)
    count = f"{readable} memories"
    if unreadable:
        files = f"{len(unreadable)} memory file{'s' if len(unreadable) > 1 else ''}"
        count = (f"{readable} of {recorded if recorded is not None else '?'} memories ({files} could not be "
                 "read, listed below)")
    if damaged:  # the recorded count and the deleted-upstream marks are missing then
        unreadable.insert(0, damaged)
    result.unreadable += unreadable
    with atomic_output(output) as fh:

        def put(text: str) -> None:
            data = text.encode("utf-8")
            result.bytes += len(data)
            fh.write(data)

        put(f"# {_cell(title)}\n\n")
        put(f"*@{meta.get('slug') or folder.name} · {count} · last backup "
            f"{meta.get('lastBackup') or 'never'} · exported {utc_now()} by tzbackup {__version__}. "
            "Times are UTC.*\n\n")
        if unreadable:
            put("> **Not in this document: these files of the backup could not be read** "
                "('tzbackup verify' lists every problem):\n>\n")
            put("".join(f"> - {_cell(item)}\n" for item in unreadable) + "\n")
        if problem:
            put(f"> {_cell(problem)}\n\n")
        for part in _profile_sections(profile):
            put(part)
        for part in _knowledge_section(knowledge, knowledge_problem):
            put(part)
        put(f"## Memories ({readable})\n\n")
        if upstream:
            put(f"{len(upstream)} memories were deleted on shapes.inc and are kept here, marked "
                "**deleted upstream**.\n\n")
        for part in _memory_sections(archive, upstream, result):
            put(part)
    return result


def _export_markdown_version(folder: Path, output: Path, profile: dict[str, Any], as_of: str) -> ExportResult:
    _, meta = open_folder(folder)
    profile = redact_profile(profile)
    title = str(profile.get("name") or meta.get("displayName") or meta.get("slug") or folder.name)
    slug = profile.get("username") or meta.get("slug") or folder.name
    parts = [f"# {_cell(title)}\n\n",
             f"*@{slug} · profile {_cell(as_of)}, as it was then · exported {utc_now()} by tzbackup "
             f"{__version__}. Knowledge and memories are not part of a profile version: export the current "
             "backup for them.*\n\n",
             *_profile_sections(profile)]
    data = "".join(parts).encode("utf-8")
    with atomic_output(output) as fh:
        fh.write(data)
    return ExportResult(format="markdown", paths=[output], bytes=len(data), files=1,
                        notes=[f"profile {as_of}"])


def export_profile_json(folder: Path, output: Path, profile: dict[str, Any]) -> ExportResult:
    """Write a raw profile (e.g. an earlier version from the profile history) as JSON, exactly as it was
    saved: the same form as ``<folder>.json``, credential fields included (it is a restore, like the zip)."""
    open_folder(folder)
    data = (json.dumps(profile, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    with atomic_output(output) as fh:
        fh.write(data)
    return ExportResult(format="json", paths=[output], bytes=len(data), files=1)


# --- Character Card V2 ----------------------------------------------------------------------------------

#: Every field of a V2 card's ``data`` and the JSON type it must have.
CARD_V2_FIELDS: dict[str, type] = {
    "name": str, "description": str, "personality": str, "scenario": str, "first_mes": str,
    "mes_example": str, "creator_notes": str, "system_prompt": str, "post_history_instructions": str,
    "alternate_greetings": list, "tags": list, "creator": str, "character_version": str,
    "extensions": dict,
}
_BOOK_ENTRY_FIELDS: dict[str, type] = {
    "keys": list, "content": str, "extensions": dict, "enabled": bool, "insertion_order": int,
}
_DESCRIPTION_KEYS = ("age", "sex", "heritage", "birthday", "occupation", "appearance", "physical_traits",
                     "history", "relationships")
_PERSONALITY_KEYS = ("traits", "tone", "personality_type", "likes", "dislikes", "hobbies", "fears",
                     "quirks", "goals", "catchphrases", "conversational_goals")


def _text(profile: dict[str, Any], key: str) -> str:
    value = profile.get(key)
    return value.strip() if isinstance(value, str) else ""


def _labelled(profile: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [f"{_label(k)}: {_text(profile, f'personality_{k}')}"
            for k in keys if _text(profile, f"personality_{k}")]


def _book(knowledge: list[dict[str, Any]], name: str) -> dict[str, Any]:
    entries = []
    for n, entry in enumerate(knowledge):
        title = field_text(entry.get("title")).strip()
        entries.append({
            "keys": [title] if title else [],
            "content": field_text(entry.get("content")),
            "extensions": {"tzbackup": {"id": entry.get("id"), "story_type": entry.get("story_type")}},
            "enabled": True,
            "insertion_order": n,
            "constant": not title,  # no key to trigger on: always in context, as on shapes.inc
            "name": title or f"Entry {n + 1}",
            "id": n,
        })
    return {"name": f"{name} knowledge", "extensions": {}, "entries": entries}


def build_card(
    profile: dict[str, Any], meta: dict[str, Any], knowledge: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A Character Card V2 for the personality (mapping: see the module docstring)."""
    name = _text(profile, "name") or _text(profile, "username") or str(meta.get("displayName") or "")
    description = "\n\n".join(
        p for p in [_text(profile, "description") or _text(profile, "search_description"),
                    "\n".join(_labelled(profile, _DESCRIPTION_KEYS))] if p
    )
    settings = profile.get("shape_settings") if isinstance(profile.get("shape_settings"), dict) else {}
    assert isinstance(settings, dict)
    first = _text(profile, "initial_message") or str(settings.get("shape_initial_message") or "")
    examples = _text(profile, "personality_conversational_examples")
    if examples and "<START>" not in examples:
        examples = f"<START>\n{examples}"
    notes = [t for t in (_text(profile, "tagline"), _text(profile, "search_description")) if t]
    notes.append(f"Exported from shapes.inc (@{profile.get('username') or meta.get('slug')}) by tzbackup.")
    version = settings.get("version")
    updated = profile.get("updated_ts")
    char_version = str(version) if isinstance(version, int | str) and version != "" else (
        _ts_text(updated)[:10] if updated else "")
    data: dict[str, Any] = {
        "name": name,
        "description": description,
        "personality": "\n".join(_labelled(profile, _PERSONALITY_KEYS)),
        "scenario": _text(profile, "user_prompt"),
        "first_mes": first,
        "mes_example": examples,
        "creator_notes": "\n\n".join(notes),
        "system_prompt": _text(profile, "jailbreak"),
        "post_history_instructions": "",
        "alternate_greetings": [],
        "tags": [t for t in profile.get("tags") or [] if isinstance(t, str)],
        "creator": _text(profile, "creator_username"),
        "character_version": char_version,
        "extensions": {"tzbackup": {
            "profile": profile,
            "shapeId": str(profile.get("id") or meta.get("shapeId") or ""),
            "slug": str(profile.get("username") or meta.get("slug") or ""),
            "ownerId": str(meta.get("ownerId") or ""),
            "exportedAt": utc_now(),
            "tool": TOOL,
            "version": __version__,
            "source": "shapes.inc",
        }},
    }
    if knowledge:
        data["character_book"] = _book(knowledge, name)
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def _type_name(kind: type) -> str:
    return {str: "a string", list: "a list", dict: "an object", bool: "true/false", int: "a number"}[kind]


def _has_type(value: object, kind: type) -> bool:
    if kind is int:  # a JSON number, never a bool
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_fields(obj: dict[str, Any], fields: dict[str, type], where: str) -> list[str]:
    problems = []
    for key, kind in fields.items():
        if key not in obj:
            problems.append(f"{where}.{key} is missing")
        elif not _has_type(obj[key], kind):
            problems.append(f"{where}.{key} must be {_type_name(kind)}")
    return problems


def _check_book(book: object) -> list[str]:
    if not isinstance(book, dict):
        return ["data.character_book must be an object"]
    entries = book.get("entries")
    if not isinstance(entries, list):
        return ["data.character_book.entries must be a list"]
    if not isinstance(book.get("extensions", {}), dict):
        return ["data.character_book.extensions must be an object"]
    problems = []
    for n, entry in enumerate(entries):
        where = f"data.character_book.entries[{n}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be an object")
            continue
        problems += _check_fields(entry, _BOOK_ENTRY_FIELDS, where)
        if isinstance(entry.get("keys"), list) and not all(isinstance(k, str) for k in entry["keys"]):
            problems.append(f"{where}.keys must hold strings only")
        if entry.get("position") not in (None, "before_char", "after_char"):
            problems.append(f"{where}.position must be before_char or after_char")
    return problems


def validate_card(card: object) -> list[str]:
    """Problems of ``card`` against the Character Card V2 field list ([] = a valid V2 card)."""
    if not isinstance(card, dict):
        return ["the card is not a JSON object"]
    problems = []
    if card.get("spec") != "chara_card_v2":
        problems.append(f"spec must be 'chara_card_v2', not {card.get('spec')!r}")
    if card.get("spec_version") != "2.0":
        problems.append(f"spec_version must be '2.0', not {card.get('spec_version')!r}")
    data = card.get("data")
    if not isinstance(data, dict):
        return [*problems, "data must be an object"]
    problems += _check_fields(data, CARD_V2_FIELDS, "data")
    for key in ("alternate_greetings", "tags"):
        if isinstance(data.get(key), list) and not all(isinstance(v, str) for v in data[key]):
            problems.append(f"data.{key} must hold strings only")
    if "character_book" in data:
        problems += _check_book(data["character_book"])
    unknown = sorted(set(data) - set(CARD_V2_FIELDS) - {"character_book"})
    if unknown:
        problems.append(f"data has fields that are not in the V2 spec: {', '.join(unknown)}")
    return problems


def _placeholder_colour(seed: str) -> tuple[int, int, int]:
    """A muted colour that stays the same for one personality."""
    d = hashlib.sha256(seed.encode("utf-8")).digest()
    return (64 + d[0] % 128, 64 + d[1] % 128, 64 + d[2] % 128)


def card_png_base(folder: Path, seed: str, recorded: str | None = None) -> tuple[bytes, str]:
    """The PNG the card goes into, plus a note saying which: the saved avatar (``recorded``, the file the
    metadata names, else ``avatar.png``, ``avatar.jpg``...) when it is a readable PNG or converts to one,
    else a placeholder."""
    path = find_image(folder, "avatar", recorded)
    why = "no avatar saved in the backup"
    if path is not None:
        try:
            data = path.read_bytes()
        except OSError as err:
            data, why = b"", f"the saved avatar {path.name} cannot be read: {err.strerror or err}"
        kind = sniff_image(data)
        if kind == "png":
            try:
                read_card(data)  # parses every chunk (CRCs included)
                return data, f"picture: the saved avatar ({path.name})"
            except ValueError:
                why = f"the saved avatar {path.name} is a damaged PNG"
        elif kind is not None:
            converted = convert_to_png(data)
            if converted is not None:
                return converted, f"picture: the saved avatar ({path.name}, converted to PNG)"
            why = f"the saved avatar {path.name} could not be converted to PNG (no converter could read it)"
        elif data:
            why = f"the saved avatar {path.name} is not an image"
    width, height = PLACEHOLDER_SIZE
    placeholder = solid_png(width, height, _placeholder_colour(seed))
    return placeholder, f"picture: a plain {width}x{height} placeholder ({why})"


def _recorded_avatar(meta: dict[str, Any]) -> str | None:
    """The avatar's file name as the metadata records it (``sections.images.avatar.file``), if any."""
    sections = meta.get("sections")
    images = sections.get("images") if isinstance(sections, dict) else None
    avatar = images.get("avatar") if isinstance(images, dict) else None
    name = avatar.get("file") if isinstance(avatar, dict) else None
    return name if isinstance(name, str) and name else None


def export_card(
    folder: Path, json_path: Path, png_path: Path | None = None,
    *, on_card: Callable[[dict[str, Any]], None] | None = None, profile: dict[str, Any] | None = None,
) -> ExportResult:
    """Write the V2 card as JSON and, unless ``png_path`` is None, embedded in a PNG. With ``profile`` (an
    earlier version from the profile history) the card is that version, without a character book (the
    knowledge is not versioned with the profile)."""
    archive, meta = open_folder(folder)
    if profile is None:
        profile, problem = read_profile(archive)
        knowledge, knowledge_problem = load_knowledge(folder)
    else:
        problem, knowledge, knowledge_problem = "", [], ""
    profile = redact_profile(profile)
    card = build_card(profile, meta, knowledge)
    problems = validate_card(card)
    if problems:  # a bug of ours, never the user's data: refuse to write a card others cannot read
        raise ArchiveError("The character card does not validate: " + "; ".join(problems))
    if on_card is not None:
        on_card(card)
    result = ExportResult(format="card", memories=int(meta.get("totalMemories") or 0))
    result.notes += [n for n in (problem, knowledge_problem) if n]
    data = (json.dumps(card, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    with atomic_output(json_path) as fh:
        fh.write(data)
    result.paths.append(json_path)
    result.bytes += len(data)
    if png_path is not None:
        base, note = card_png_base(folder, str(meta.get("shapeId") or folder.name), _recorded_avatar(meta))
        png = embed_card(base, card)
        with atomic_output(png_path) as fh:
            fh.write(png)
        result.paths.append(png_path)
        result.bytes += len(png)
        result.notes.append(note)
    result.files = len(result.paths)
    return result


def export_as(folder: Path, fmt: str, main: Path, png: Path | None = None) -> tuple[ExportResult, list[str]]:
    """Export one personality folder as ``zip``, ``markdown`` or ``card`` under its data dir's lock (when it
    lies in one). For a zip, the folder is verified first and the problems are returned beside the result:
    the zip is still written, but the user must learn of them before moving it (import would refuse it)."""
    from .lock import reading_lock
    from .verify import verify_backup

    data_dir = folder.parent.parent if folder.parent.name == "personalities" else None
    problems: list[str] = []
    with reading_lock(data_dir):
        if fmt == "zip":
            problems = verify_backup(folder).problems
            return export_zip(folder, main), problems
        if fmt == "markdown":
            return export_markdown(folder, main), problems
        if fmt == "card":
            return export_card(folder, main, png), problems
    raise ValueError(f"unknown export format {fmt!r}")
