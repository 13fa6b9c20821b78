"""The chat history as a SillyTavern chat file, and a reader for such files.

SillyTavern keeps a chat as JSON Lines (``src/endpoints/chats.js`` saves the array ``script.js`` builds, one
object per line): a header ``{"user_name", "character_name", "create_date", "chat_metadata"}``, then one
line per message ``{"name", "is_user", "is_system", "send_date", "mes", "extra"}``, where alternative
replies are ``swipes`` (the shown one is ``swipes[swipe_id]``, each with a ``swipe_info`` entry). Import it in
SillyTavern with the character selected: Manage chat files → Import chat.

One shapes.inc message holds a user turn (``message``) and the personality's reply (``reply``), so it becomes
up to two lines, oldest first: the user's, then the reply's. Earlier takes of a reply that was regenerated
(``regenerated_replies``) become its other swipes. ``send_date`` is written as SillyTavern writes it
("June 19, 2023 2:20pm", local time); ``create_date`` as "2023-06-19@14h20m05s". Both lose the seconds or
the fraction, so every line also carries ``extra.tzbackup`` = ``{"id", "ts"}``: the message id and the exact
Unix time, which SillyTavern keeps untouched and :func:`read_sillytavern_chat` prefers. The chat is read one
chunk file at a time and streamed out; a 100,000-message chat never sits in RAM.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ArchiveError, DriftError, TzBackupError
from .chat import iter_chat, message_id, message_ts
from .chat_browse import chat_fields, chat_section_state
from .export_common import TOOL, ExportResult, failure_reason, open_folder, read_profile, utc_now
from .store import atomic_output

__all__ = [
    "DEFAULT_USER_NAME",
    "SillyTavernChat",
    "SillyTavernLine",
    "export_sillytavern_chat",
    "parse_send_date",
    "read_sillytavern_chat",
    "st_create_date",
    "st_send_date",
]

#: SillyTavern's own default persona name (``default_user_name``).
DEFAULT_USER_NAME = "User"
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _local(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC).astimezone()


def st_send_date(ts: float) -> str:
    """``send_date`` as SillyTavern's ``getMessageTimeStamp`` writes it: "June 19, 2023 2:20pm" (local)."""
    when = _local(ts)
    hour = when.hour % 12 or 12
    return f"{_MONTHS[when.month - 1]} {when.day}, {when.year} {hour}:{when.minute:02d}" + (
        "pm" if when.hour >= 12 else "am")


def st_create_date(ts: float) -> str:
    """``create_date`` as SillyTavern's ``humanizedDateTime`` writes it: "2023-06-19@14h20m05s" (local)."""
    return _local(ts).strftime("%Y-%m-%d@%Hh%Mm%Ss")


_SEND_DATE = re.compile(r"^([A-Za-z]+) (\d{1,2}), (\d{4}) (\d{1,2}):(\d{2}) ?([ap]m)$", re.IGNORECASE)
_HUMANIZED = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}) ?@(\d{1,2})h ?(\d{1,2})m ?(\d{1,2})s(?: ?(\d+)ms)?$")


def parse_send_date(value: object) -> float | None:
    """A SillyTavern ``send_date`` as Unix seconds: a number (milliseconds since 1970, as some importers
    write), ISO 8601, "June 19, 2023 2:20pm" or "2023-6-19 @14h 20m 5s 123ms" (both local time); None
    when it is none of them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000.0
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if (m := _SEND_DATE.match(text)) and m.group(1).capitalize() in _MONTHS:
        hour = int(m.group(4)) % 12 + (12 if m.group(6).lower() == "pm" else 0)
        when = dt.datetime(int(m.group(3)), _MONTHS.index(m.group(1).capitalize()) + 1, int(m.group(2)),
                           hour, int(m.group(5)))
        return when.astimezone().timestamp()
    if m := _HUMANIZED.match(text):
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        return dt.datetime(y, mo, d, h, mi, s, int(m.group(7) or 0) * 1000).astimezone().timestamp()
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.astimezone()).timestamp()


def _line(name: str, is_user: bool, ts: float, mes: str, mark: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "is_user": is_user, "is_system": False, "send_date": st_send_date(ts), "mes": mes,
            "extra": {"tzbackup": mark}}


def _lines(raw: dict[str, Any], user: str, character: str, ts: float) -> Iterator[dict[str, Any]]:
    """The SillyTavern lines of one stored message (sent at ``ts``): the user's turn, then the reply (with
    its swipes)."""
    fields = chat_fields(raw)
    mark = {"id": message_id(raw), "ts": ts}
    if fields.message:
        line = _line(user, True, ts, fields.message, {**mark, "part": "message"})
        if fields.attachment_url:
            line["extra"]["tzbackup"]["attachment"] = {"url": fields.attachment_url,
                                                       "type": fields.attachment_type}
            if fields.attachment_type.startswith("image"):
                line["extra"]["image"] = fields.attachment_url
        yield line
    if fields.reply is not None:
        line = _line(character, False, ts, fields.reply, {**mark, "part": "reply"})
        if fields.voice_url:
            line["extra"]["tzbackup"]["voice_reply_url"] = fields.voice_url
        if fields.regenerated:
            line["swipes"] = [fields.reply, *fields.regenerated]
            line["swipe_id"] = 0
            line["swipe_info"] = [{"send_date": line["send_date"], "extra": {}} for _ in line["swipes"]]
        yield line


def export_sillytavern_chat(
    folder: Path, output: Path, *, user_name: str = DEFAULT_USER_NAME
) -> ExportResult:
    """Write the personality's saved chat as one SillyTavern chat file (JSON Lines, oldest first)."""
    archive, meta = open_folder(folder)
    profile, _ = read_profile(archive)
    character = str(profile.get("name") or meta.get("displayName") or meta.get("slug") or folder.name)
    result = ExportResult(format="sillytavern-chat", paths=[output], files=1)
    first = next(_first_ts(folder), None)
    header = {
        "user_name": user_name,
        "character_name": character,
        "create_date": st_create_date(first if first is not None else dt.datetime.now(dt.UTC).timestamp()),
        "chat_metadata": {
            "integrity": str(uuid.uuid4()),
            "tzbackup": {"source": "shapes.inc", "slug": str(meta.get("slug") or folder.name),
                         "shapeId": str(meta.get("shapeId") or ""), "exportedAt": utc_now(), "tool": TOOL,
                         "version": __version__},
        },
    }
    lines = 0
    with atomic_output(output) as fh:
        data = json.dumps(header, ensure_ascii=False).encode("utf-8")
        fh.write(data)
        result.bytes += len(data)
        try:
            last = first or 0.0
            for raw in iter_chat(folder):
                result.messages += 1
                try:
                    last = message_ts(raw)
                except DriftError:  # kept in order, at the time of the message before it, and said
                    result.notes.append(f"chat message {message_id(raw) or '(no id)'} has no usable time; "
                                        "it is dated like the message before it")
                for line in _lines(raw, user_name, character, last):
                    data = b"\n" + json.dumps(line, ensure_ascii=False).encode("utf-8")
                    fh.write(data)
                    result.bytes += len(data)
                    lines += 1
        except TzBackupError as err:  # a damaged chat file: what came before it is written, and said
            result.unreadable.append(f"chat history: {failure_reason(err)}")
    result.notes.append(f"{lines} chat lines for SillyTavern (user turns and replies, oldest first)")
    if not lines:
        result.notes.append(f"No chat messages are saved: {chat_section_state(folder).empty_reason()}")
    return result


def _first_ts(folder: Path) -> Iterator[float]:
    try:
        for raw in iter_chat(folder):
            yield message_ts(raw)
            return
    except TzBackupError:  # a damaged first file or time: the export says so while writing
        return


@dataclass
class SillyTavernLine:
    """One message line of a SillyTavern chat file, read leniently."""

    name: str
    is_user: bool
    is_system: bool
    mes: str
    send_date: object
    ts: float | None  # exact (``extra.tzbackup.ts``) when we wrote the file, else parsed from ``send_date``
    extra: dict[str, Any] = field(default_factory=dict)
    swipes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class SillyTavernChat:
    header: dict[str, Any]
    lines: list[SillyTavernLine]


def _read_line(obj: dict[str, Any]) -> SillyTavernLine:
    extra = obj.get("extra") if isinstance(obj.get("extra"), dict) else {}
    assert isinstance(extra, dict)
    mark = extra.get("tzbackup") if isinstance(extra.get("tzbackup"), dict) else {}
    assert isinstance(mark, dict)
    ts = mark.get("ts")
    exact = float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else None
    swipes = obj.get("swipes")
    return SillyTavernLine(
        name=str(obj.get("name") or ""), is_user=obj.get("is_user") is True,
        is_system=obj.get("is_system") is True,
        mes=str(obj.get("mes") or ""), send_date=obj.get("send_date"),
        ts=exact if exact is not None else parse_send_date(obj.get("send_date")), extra=extra,
        swipes=[s for s in swipes if isinstance(s, str)] if isinstance(swipes, list) else [], raw=obj,
    )


def read_sillytavern_chat(path: Path) -> SillyTavernChat:
    """Parse a SillyTavern chat file (ours or one SillyTavern wrote). Blank lines are skipped; a line that is
    not a JSON object, or a file without the header line, raises :class:`ArchiveError` naming the line."""
    header: dict[str, Any] | None = None
    lines: list[SillyTavernLine] = []
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ArchiveError(f"{path.name} cannot be read as a SillyTavern chat: {err}") from err
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ArchiveError(f"{path.name} line {number} is not JSON: {err}") from err
        if not isinstance(obj, dict):
            raise ArchiveError(f"{path.name} line {number} is not a JSON object.")
        if header is None:
            if "mes" in obj or ("user_name" not in obj and "character_name" not in obj):
                raise ArchiveError(f"{path.name} has no SillyTavern header line (user_name, character_name).")
            header = obj
            continue
        lines.append(_read_line(obj))
    if header is None:
        raise ArchiveError(f"{path.name} is empty: a SillyTavern chat starts with a header line.")
    return SillyTavernChat(header, lines)
