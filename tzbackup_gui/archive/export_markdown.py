"""The Markdown export: one readable document of a personality.

Title, identity, description and prompts, the ``personality_*`` fields, engine settings as a compact table,
knowledge (when a knowledge file exists), then every memory grouped by day (UTC), oldest first,
deleted-upstream and ``deleted: true`` memories marked. Written while the memory files are read one at a
time, so a 50,000-memory personality never sits in RAM. Credential fields of the profile are redacted.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import TzBackupError
from ..model.memory import memory_id, memory_ts
from .browse import field_text
from .export_common import (
    ExportResult,
    failure_reason,
    field_label,
    load_knowledge,
    open_damaged,
    open_folder,
    read_profile,
    recorded_total,
    redact_profile,
    ts_text,
    utc_now,
)
from .personality import PersonalityArchive
from .store import atomic_output

__all__ = ["export_markdown"]

_IDENTITY = (("name", "Name"), ("username", "Username"), ("id", "Shape id"), ("tagline", "Tagline"),
             ("category", "Category"), ("tags", "Tags"), ("language", "Language"),
             ("creator_username", "Creator"), ("user_id", "Owners"), ("created_ts", "Created"),
             ("updated_ts", "Updated"), ("is_public", "Public"))
_PROMPTS = (("description", "Description"), ("search_description", "Search description"),
            ("jailbreak", "System prompt"), ("user_prompt", "User prompt"),
            ("initial_message", "First message"), ("error_message", "Error message"),
            ("wack_message", "Fallback message"), ("sleep_message", "Sleep message"))
_SETTING_PREFIXES = ("engine_", "ltm_", "stm_")


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


def _profile_sections(profile: dict[str, Any]) -> Iterator[str]:
    rows = [(label, ts_text(profile.get(k)) if k.endswith("_ts") else field_text(profile.get(k)))
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
        yield "".join(f"### {field_label(k)}\n\n{_para(v)}\n" for k, v in traits)
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


def _readable_chunks(archive: PersonalityArchive) -> tuple[int, list[str]]:
    """Memories in the memory files that can be read, and "name: why" for each one that cannot (one file
    in RAM at a time), so a document can say both at its top before it streams the memories."""
    count, unreadable = 0, []
    for _, name in archive.chunk_files():
        try:
            count += len(archive.load_chunk(name))
        except (OSError, TzBackupError) as err:
            unreadable.append(f"{name}: {failure_reason(err)}")
    return count, unreadable


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
            yield f"> **The memory file {name} could not be read:** {_cell(failure_reason(err))}\n\n"
            if result is not None and not any(u.startswith(f"{name}: ") for u in result.unreadable):
                result.unreadable.append(f"{name}: {failure_reason(err)}")
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
    recorded = recorded_total(meta)
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
