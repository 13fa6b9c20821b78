"""Character cards: the V2 card (``chara_card_v2``) and the V3 card (``chara_card_v3``), built from a saved
profile, with the knowledge (and, when asked, memories) as the card's lorebook; validated against the
published field lists before anything is written.

Mapping from the shapes.inc profile (SERVICE_API.md; the sandbox's ``data.build_profile`` shows all ~170
fields):

=============================  ==========================================================================
Card ``data`` field             taken from the profile
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
``character_book``              the knowledge entries (``/story``), when a knowledge file was saved; then,
                                when asked, memories (:mod:`.card_memories`)
``tags``                        ``tags`` (strings only)
``creator``                     ``creator_username``
``character_version``           ``shape_settings.version`` (else ``updated_ts`` as a UTC date)
``extensions.tzbackup``         ``{"profile": <the full raw profile>, "shapeId", "slug", "ownerId",
                                "exportedAt", "tool", "version", "source": "shapes.inc"}``; credential
                                fields (``engine_api_key``, ``*token*``, ``*secret*``...) are redacted
=============================  ==========================================================================

V3 (kwaroran's character-card-spec-v3, SPEC_V3.md) is a superset of V2: every V2 field above is kept (the
spec lets a V3 card carry them for V2 readers), plus ``group_only_greetings`` ([]), ``creation_date``
(``created_ts``, Unix seconds), ``modification_date`` (the export time), ``source`` (the shape's page) and
``assets`` (the card's own picture as the main icon, ``ccdefault:``). Lorebook entries gain the V3 fields
``use_regex`` (false) and ``constant``. :func:`backfill_v2` gives the V2 card that goes beside a V3 card
in a PNG (``chara`` chunk), with the warning the spec asks for in its ``creator_notes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from .. import __version__
from .browse import field_text
from .export_common import TOOL, field_label, ts_text, utc_now

__all__ = [
    "CARD_V2_FIELDS",
    "CARD_V3_FIELDS",
    "V3_BACKFILL_NOTE",
    "backfill_v2",
    "build_card",
    "build_card_v3",
    "card_data_fields",
    "validate_card",
    "validate_card_v3",
]

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
    return [f"{field_label(k)}: {_text(profile, f'personality_{k}')}"
            for k in keys if _text(profile, f"personality_{k}")]


def _book(
    knowledge: list[dict[str, Any]], name: str, memory_entries: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """The lorebook: the knowledge entries, then the memory entries (numbered on after the knowledge)."""
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
    for n, entry in enumerate(memory_entries, start=len(entries)):
        entries.append({**entry, "insertion_order": n, "id": n})
    label = "knowledge and memories" if memory_entries and knowledge else (
        "memories" if memory_entries else "knowledge")
    return {"name": f"{name} {label}", "extensions": {}, "entries": entries}


def build_card(
    profile: dict[str, Any], meta: dict[str, Any], knowledge: list[dict[str, Any]] | None = None,
    memory_entries: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A Character Card V2 for the personality (mapping: see the module docstring); ``memory_entries``
    (from :func:`~.card_memories.memory_book_entries`) join the knowledge in the lorebook."""
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
        ts_text(updated)[:10] if updated else "")
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
    if knowledge or memory_entries:
        data["character_book"] = _book(knowledge or [], name, memory_entries)
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


#: V3 lorebook entries: the V2 fields plus ``use_regex`` (required since V3).
_BOOK_ENTRY_FIELDS_V3: dict[str, type] = {**_BOOK_ENTRY_FIELDS, "use_regex": bool}
#: Optional fields of a lorebook entry (both versions) and their types; ``id`` may be a number or a string.
_BOOK_ENTRY_OPTIONAL: dict[str, type] = {
    "case_sensitive": bool, "constant": bool, "name": str, "priority": int, "comment": str, "selective": bool,
    "secondary_keys": list,
}
#: The V3 card's required ``data`` fields: the V2 ones (kept for V2 readers) and ``group_only_greetings``.
CARD_V3_FIELDS: dict[str, type] = {**CARD_V2_FIELDS, "group_only_greetings": list}
_CARD_V3_OPTIONAL: dict[str, type] = {
    "character_book": dict, "assets": list, "nickname": str, "creator_notes_multilingual": dict,
    "source": list, "creation_date": int, "modification_date": int,
}
_ASSET_FIELDS: dict[str, type] = {"type": str, "uri": str, "name": str, "ext": str}
#: What the spec asks a V2 card backfilled from a V3 one to say in its ``creator_notes``.
V3_BACKFILL_NOTE = ("This character card is Character Card V3, but it is loaded as a Character Card V2. "
                    "Please use a Character Card V3 compatible application to use this character card "
                    "properly.")


def _check_optional(obj: dict[str, Any], fields: dict[str, type], where: str) -> list[str]:
    return [f"{where}.{key} must be {_type_name(kind)}" for key, kind in fields.items()
            if key in obj and obj[key] is not None and not _has_type(obj[key], kind)]


def _strings_only(obj: dict[str, Any], keys: tuple[str, ...], where: str) -> list[str]:
    return [f"{where}.{key} must hold strings only" for key in keys
            if isinstance(obj.get(key), list) and not all(isinstance(v, str) for v in obj[key])]


def _check_book(book: object, v3: bool = False) -> list[str]:
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
        problems += _check_fields(entry, _BOOK_ENTRY_FIELDS_V3 if v3 else _BOOK_ENTRY_FIELDS, where)
        problems += _check_optional(entry, _BOOK_ENTRY_OPTIONAL, where)
        problems += _strings_only(entry, ("keys", "secondary_keys"), where)
        if "id" in entry and not isinstance(entry["id"], str | None) and not _has_type(entry["id"], int):
            problems.append(f"{where}.id must be a number or a string")
        if entry.get("position") not in (None, "before_char", "after_char"):
            problems.append(f"{where}.position must be before_char or after_char")
    return problems


def _check_head(card: object, spec: str, version: str) -> tuple[list[str], dict[str, Any] | None]:
    if not isinstance(card, dict):
        return ["the card is not a JSON object"], None
    problems = []
    if card.get("spec") != spec:
        problems.append(f"spec must be {spec!r}, not {card.get('spec')!r}")
    if card.get("spec_version") != version:
        problems.append(f"spec_version must be {version!r}, not {card.get('spec_version')!r}")
    data = card.get("data")
    if not isinstance(data, dict):
        return [*problems, "data must be an object"], None
    return problems, data


def validate_card(card: object) -> list[str]:
    """Problems of ``card`` against the Character Card V2 field list ([] = a valid V2 card)."""
    problems, data = _check_head(card, "chara_card_v2", "2.0")
    if data is None:
        return problems
    problems += _check_fields(data, CARD_V2_FIELDS, "data")
    problems += _strings_only(data, ("alternate_greetings", "tags"), "data")
    if "character_book" in data:
        problems += _check_book(data["character_book"])
    unknown = sorted(set(data) - set(CARD_V2_FIELDS) - {"character_book"})
    if unknown:
        problems.append(f"data has fields that are not in the V2 spec: {', '.join(unknown)}")
    return problems


def validate_card_v3(card: object) -> list[str]:
    """Problems of ``card`` against the Character Card V3 fields (SPEC_V3.md) ([] = a valid V3 card); the
    V2 fields a V3 card keeps for older readers are checked too."""
    problems, data = _check_head(card, "chara_card_v3", "3.0")
    if data is None:
        return problems
    problems += _check_fields(data, CARD_V3_FIELDS, "data")
    problems += _check_optional(data, _CARD_V3_OPTIONAL, "data")
    problems += _strings_only(data, ("alternate_greetings", "tags", "group_only_greetings", "source"), "data")
    if isinstance(data.get("creator_notes_multilingual"), dict) and not all(
            isinstance(v, str) for v in data["creator_notes_multilingual"].values()):
        problems.append("data.creator_notes_multilingual must map language codes to strings")
    for n, asset in enumerate(data.get("assets") or []):
        if not isinstance(asset, dict):
            problems.append(f"data.assets[{n}] must be an object")
        else:
            problems += _check_fields(asset, _ASSET_FIELDS, f"data.assets[{n}]")
    if "character_book" in data:
        problems += _check_book(data["character_book"], v3=True)
    unknown = sorted(set(data) - set(CARD_V3_FIELDS) - set(_CARD_V3_OPTIONAL))
    if unknown:
        problems.append(f"data has fields that are not in the V3 spec: {', '.join(unknown)}")
    return problems


def card_data_fields(card: dict[str, Any]) -> set[str]:
    """The ``data`` fields the card's spec defines (what a round trip must keep)."""
    v3 = card.get("spec") == "chara_card_v3"
    return set(CARD_V3_FIELDS) | set(_CARD_V3_OPTIONAL) if v3 else set(CARD_V2_FIELDS) | {"character_book"}


def _unix(value: object) -> int:
    """A Unix timestamp in whole seconds (0 when unknown, which the spec allows)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0
    try:
        return max(0, int(float(value)))
    except (ValueError, OverflowError):
        return 0


def build_card_v3(
    profile: dict[str, Any], meta: dict[str, Any], knowledge: list[dict[str, Any]] | None = None,
    memory_entries: Sequence[dict[str, Any]] = (), *, now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A Character Card V3 for the personality: the V2 card's ``data`` (every V2 field kept for older
    readers) plus the V3 fields; lorebook entries gain ``use_regex`` and an explicit ``constant``."""
    data = dict(build_card(profile, meta, knowledge, memory_entries)["data"])
    slug = str(profile.get("username") or meta.get("slug") or "")
    when = now or dt.datetime.now(dt.UTC)
    data.update({
        "group_only_greetings": [],
        "creation_date": _unix(profile.get("created_ts")),
        "modification_date": int(when.timestamp()),
        "source": [f"https://shapes.inc/{slug}"] if slug else [],
        "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
    })
    book = data.get("character_book")
    if isinstance(book, dict):
        data["character_book"] = {**book, "entries": [
            {**entry, "use_regex": False, "constant": entry.get("constant") is True}
            for entry in book.get("entries") or []
        ]}
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": data}


def backfill_v2(card_v3: dict[str, Any]) -> dict[str, Any]:
    """The V2 card that goes beside a V3 card (a PNG's ``chara`` chunk, for V2-only readers): the V2 fields
    of its ``data``, the same lorebook, and the spec's warning first in ``creator_notes``."""
    data = {k: v for k, v in card_v3["data"].items() if k in CARD_V2_FIELDS or k == "character_book"}
    notes = str(data.get("creator_notes") or "")
    data["creator_notes"] = f"{V3_BACKFILL_NOTE}\n\n{notes}" if notes else V3_BACKFILL_NOTE
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}
