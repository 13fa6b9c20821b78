"""Writing a character card: the card as JSON and the same card in a PNG, the form front-ends import.

The PNG is the saved avatar (a JPEG, WebP or GIF avatar converted to PNG with Qt, or Pillow when present);
without a usable avatar, a plain 400x600 solid-colour PNG (colour from the shape id) generated here, and the
result says so. A V2 card goes in the PNG's ``chara`` chunk; a V3 card in its ``ccv3`` chunk, with the V2
card backfilled from it in ``chara`` for older readers (:func:`~.card.backfill_v2`). Mapping and
validation: :mod:`.card`; memories in the lorebook: :mod:`.card_memories`. :func:`read_card_file` reads
a card back from either file, as a front-end would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ArchiveError
from .card import backfill_v2, build_card, build_card_v3, validate_card, validate_card_v3
from .card_memories import MemoryChoice, memory_book_entries
from .export_common import ExportResult, load_knowledge, open_folder, read_profile, redact_profile
from .images import convert_to_png, find_image, sniff_image
from .png_card import PNG_SIGNATURE, embed_card, read_card, read_newest_card, solid_png
from .store import atomic_output

__all__ = ["PLACEHOLDER_SIZE", "card_png_base", "export_card", "read_card_file"]

PLACEHOLDER_SIZE = (400, 600)


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


def _write(path: Path, data: bytes, result: ExportResult) -> None:
    with atomic_output(path) as fh:
        fh.write(data)
    result.paths.append(path)
    result.bytes += len(data)


def export_card(
    folder: Path, json_path: Path, png_path: Path | None = None,
    *, on_card: Callable[[dict[str, Any]], None] | None = None, profile: dict[str, Any] | None = None,
    version: int = 2, memories: MemoryChoice | None = None,
) -> ExportResult:
    """Write the card (``version`` 2 or 3) as JSON and, unless ``png_path`` is None, embedded in a PNG.

    ``memories`` puts memories into the lorebook beside the knowledge (none by default). With ``profile`` (an
    earlier version from the profile history) the card is that version, without a character book (neither
    knowledge nor memories are versioned with the profile)."""
    archive, meta = open_folder(folder)
    choice = memories or MemoryChoice(0)
    if profile is None:
        profile, problem = read_profile(archive)
        knowledge, knowledge_problem = load_knowledge(folder)
    else:
        problem, knowledge, knowledge_problem = "", [], ""
        choice = MemoryChoice(0)
    profile = redact_profile(profile)
    names = [str(v) for v in (profile.get("name"), profile.get("username"), meta.get("displayName")) if v]
    entries, memory_notes = memory_book_entries(archive, choice, exclude=names)
    if version == 3:
        card = build_card_v3(profile, meta, knowledge, entries)
        problems = validate_card_v3(card)
    else:
        card = build_card(profile, meta, knowledge, entries)
        problems = validate_card(card)
    if problems:  # a bug of ours, never the user's data: refuse to write a card others cannot read
        raise ArchiveError("The character card does not validate: " + "; ".join(problems))
    if on_card is not None:
        on_card(card)
    result = ExportResult(format="card" if version == 2 else "card-v3",
                          memories=len(entries) if choice.wanted else int(meta.get("totalMemories") or 0))
    result.notes += [n for n in (problem, knowledge_problem, *memory_notes) if n]
    if choice.wanted:
        result.notes.append(f"lorebook: {len(knowledge)} knowledge entries and {len(entries)} memories "
                            f"({choice.describe()})")
    _write(json_path, (json.dumps(card, ensure_ascii=False, indent=2) + "\n").encode("utf-8"), result)
    if png_path is not None:
        base, note = card_png_base(folder, str(meta.get("shapeId") or folder.name), _recorded_avatar(meta))
        png = embed_card(base, backfill_v2(card), card) if version == 3 else embed_card(base, card)
        _write(png_path, png, result)
        result.notes.append(note)
    result.files = len(result.paths)
    return result


def read_card_file(path: Path) -> dict[str, Any]:
    """A character card read back from a ``.json`` file or a PNG (its ``ccv3`` card when it has one, else
    its ``chara`` card, as the V3 spec tells readers). Raises :class:`ArchiveError` when there is none."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ArchiveError(f"{path.name} cannot be read: {err.strerror or err}") from err
    if data.startswith(PNG_SIGNATURE):
        try:
            card = read_newest_card(data)
        except ValueError as err:
            raise ArchiveError(f"{path.name} holds no readable card: {err}") from err
    else:
        try:
            card = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ArchiveError(f"{path.name} is neither a PNG nor a JSON card: {err}") from err
    if not isinstance(card, dict):
        raise ArchiveError(f"{path.name} holds no character card.")
    return card
