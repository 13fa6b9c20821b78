"""The chat as a SillyTavern chat file: header + one line per turn, oldest first, swipes for regenerated
replies, exact times kept; read back by our reader, which also reads a file shaped like SillyTavern's own."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_export import BASE, make_folder, memory
from tzbackup_gui.archive.chat import CHAT_CHUNK_SIZE
from tzbackup_gui.archive.export import export_as
from tzbackup_gui.archive.sillytavern import (
    export_sillytavern_chat,
    parse_send_date,
    read_sillytavern_chat,
    st_create_date,
    st_send_date,
)
from tzbackup_gui.errors import ArchiveError


def message(n: int, ts: float, **fields: Any) -> dict[str, Any]:
    base = {"id": f"msg-{n}", "message": f"Question {n}?", "reply": f"Answer {n}.", "ts": ts,
            "voice_reply_url": None, "attachment_url": None, "attachment_type": None,
            "regenerated_replies": [], "fallback_model_used": False}
    return {**base, **fields}


def write_chat(folder: Path, messages: list[dict[str, Any]]) -> None:
    chat = folder / "chat"
    chat.mkdir()
    for n, at in enumerate(range(0, len(messages), CHAT_CHUNK_SIZE), 1):
        data = {"messages": messages[at : at + CHAT_CHUNK_SIZE]}
        (chat / f"{folder.name}_chat_{n}.json").write_text(json.dumps(data), "utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    f = make_folder(tmp_path, [memory(0, BASE)])
    msgs = [message(i, BASE + i * 60.5) for i in range(CHAT_CHUNK_SIZE + 3)]  # two chat files
    msgs[1] = message(1, BASE + 60.5, message=None)  # the personality spoke first (a greeting)
    msgs[2] = message(2, BASE + 121.0, reply=None)  # no reply came
    msgs[3] = message(3, BASE + 181.5, regenerated_replies=["Older take.", "Oldest take."])
    msgs[4] = message(4, BASE + 242.0, attachment_url="https://files.shapes.inc/x.png",
                      attachment_type="image/png")
    msgs[5] = message(5, "1740000302.5")  # ts as a numeric string, as the service sometimes sends it
    write_chat(f, msgs)
    return f


def test_chat_file_round_trip(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "zoe.jsonl"
    result = export_sillytavern_chat(folder, out)
    assert result.paths == [out] and result.messages == CHAT_CHUNK_SIZE + 3 and not result.unreadable
    raw_lines = out.read_text("utf-8").split("\n")
    header = json.loads(raw_lines[0])
    assert set(header) == {"user_name", "character_name", "create_date", "chat_metadata"}
    assert header["user_name"] == "User" and header["character_name"] == "Zoë Test"
    assert header["create_date"] == st_create_date(BASE) and header["chat_metadata"]["integrity"]
    for line in raw_lines[1:]:
        obj = json.loads(line)
        assert {"name", "is_user", "is_system", "send_date", "mes", "extra"} <= set(obj)
        assert obj["is_system"] is False and isinstance(obj["send_date"], str)

    chat = read_sillytavern_chat(out)
    assert chat.header == header
    lines = chat.lines
    assert len(lines) == 2 * (CHAT_CHUNK_SIZE + 3) - 2  # one user turn and one reply missing
    assert [(x.is_user, x.mes) for x in lines[:6]] == [
        (True, "Question 0?"), (False, "Answer 0."), (False, "Answer 1."), (True, "Question 2?"),
        (True, "Question 3?"), (False, "Answer 3.")]
    assert {x.name for x in lines if x.is_user} == {"User"} and {x.name for x in lines if not x.is_user} == {
        "Zoë Test"}
    times = [x.ts for x in lines]
    assert times == sorted(times) and times[0] == BASE and lines[-1].ts == BASE + (CHAT_CHUNK_SIZE + 2) * 60.5
    assert lines[5].swipes == ["Answer 3.", "Older take.", "Oldest take."] and lines[5].raw["swipe_id"] == 0
    assert len(lines[5].raw["swipe_info"]) == 3
    image = lines[6]
    assert image.extra["image"] == "https://files.shapes.inc/x.png"
    assert [x.extra["tzbackup"]["id"] for x in lines[:3]] == ["msg-0", "msg-0", "msg-1"]
    numeric = [x for x in lines if x.extra["tzbackup"]["id"] == "msg-5"]
    assert [x.ts for x in numeric] == [1740000302.5, 1740000302.5]
    # SillyTavern's own date, to the minute, agrees with the exact time
    assert all(abs((parse_send_date(x.send_date) or 0) - (x.ts or 0)) < 60 for x in lines)


def test_empty_chat_writes_a_header_and_says_why(tmp_path: Path) -> None:
    f = make_folder(tmp_path, [memory(0, BASE)])
    result, problems = export_as(f, "sillytavern-chat", tmp_path / "empty.jsonl")
    assert problems == [] and result.messages == 0
    assert any("No chat messages are saved" in n and "chat section was not chosen" in n for n in result.notes)
    assert read_sillytavern_chat(tmp_path / "empty.jsonl").lines == []


def test_a_damaged_chat_file_is_named_and_the_rest_written(folder: Path, tmp_path: Path) -> None:
    (folder / "chat" / f"{folder.name}_chat_2.json").write_text("{not json", "utf-8")
    result = export_sillytavern_chat(folder, tmp_path / "part.jsonl")
    assert result.messages == CHAT_CHUNK_SIZE and result.unreadable
    assert len(read_sillytavern_chat(tmp_path / "part.jsonl").lines) == 2 * CHAT_CHUNK_SIZE - 2


NOON_24 = dt.datetime(2024, 6, 19, 12, 24, tzinfo=dt.UTC).timestamp()
#: A chat file shaped like one SillyTavern 1.12 writes (no tzbackup marks; its own date formats).
SILLYTAVERN_FILE = "\n".join(json.dumps(x) for x in [
    {"user_name": "Ann", "character_name": "Seraphina", "create_date": "2024-06-19@14h20m05s",
     "chat_metadata": {"integrity": "0f0e8c8e-1c1a-4a8e-9b59-3a9c1fd0a7c1", "chat_id_hash": 123,
                       "note_prompt": "", "note_interval": 1}},
    {"name": "Seraphina", "is_user": False, "is_system": False, "send_date": "June 19, 2024 2:20pm",
     "mes": "*She smiles.* Welcome.", "extra": {}},
    {"name": "Ann", "is_user": True, "is_system": False, "send_date": "June 19, 2024 2:21pm",
     "mes": "Hello!", "extra": {"isSmallSys": False}, "force_avatar": "User Avatars/user.png"},
    {"name": "Seraphina", "is_user": False, "is_system": False, "send_date": "2024-6-19 @14h 22m 10s 5ms",
     "mes": "How are you?", "extra": {"api": "openai", "model": "gpt-4o"}, "swipe_id": 1,
     "swipes": ["Hi.", "How are you?"], "swipe_info": [{}, {}], "gen_started": "2024-06-19T12:22:09.000Z"},
    {"name": "Ann", "is_user": True, "is_system": False, "send_date": 1718806980000, "mes": "Fine.",
     "extra": {}},
    {"name": "SillyTavern System", "is_user": False, "is_system": True,
     "send_date": "2024-06-19T12:24:00.000Z", "mes": "Note.", "extra": {"type": "narrator"}},
]) + "\n"


def test_reads_a_file_shaped_like_sillytaverns_own(tmp_path: Path) -> None:
    path = tmp_path / "Seraphina - 2024-06-19@14h20m05s.jsonl"
    path.write_text(SILLYTAVERN_FILE, "utf-8")
    chat = read_sillytavern_chat(path)
    assert chat.header["character_name"] == "Seraphina"
    assert [(x.name, x.is_user, x.is_system, x.mes) for x in chat.lines] == [
        ("Seraphina", False, False, "*She smiles.* Welcome."), ("Ann", True, False, "Hello!"),
        ("Seraphina", False, False, "How are you?"), ("Ann", True, False, "Fine."),
        ("SillyTavern System", False, True, "Note.")]
    assert chat.lines[2].swipes == ["Hi.", "How are you?"]
    assert all(x.ts is not None for x in chat.lines)
    assert chat.lines[3].ts == 1718806980.0 and chat.lines[4].ts == NOON_24


def test_send_date_formats() -> None:
    for ts in (BASE, BASE + 12 * 3600 + 59, BASE + 6 * 3600):
        assert abs((parse_send_date(st_send_date(ts)) or 0) - ts) < 60
        assert abs((parse_send_date(st_create_date(ts).replace("@", " @")) or 0) - ts) < 1
    assert st_send_date(BASE).endswith(("am", "pm"))
    assert parse_send_date("2024-06-19T12:24:00Z") == NOON_24
    assert parse_send_date(1718806980000) == 1718806980.0
    for junk in ("", "soon", None, True, "Smarch 3, 2024 1:00pm"):
        assert parse_send_date(junk) is None


def test_reader_refuses_what_is_not_a_chat(tmp_path: Path) -> None:
    for name, text, needle in (("a", "", "is empty"), ("b", "[1]\n", "not a JSON object"),
                               ("c", "{oops\n", "line 1 is not JSON"),
                               ("d", '{"name": "x", "mes": "hi"}\n', "no SillyTavern header")):
        (tmp_path / name).write_text(text, "utf-8")
        with pytest.raises(ArchiveError, match=needle):
            read_sillytavern_chat(tmp_path / name)


def test_a_message_without_a_usable_time_keeps_its_place(tmp_path: Path) -> None:
    f = make_folder(tmp_path, [memory(0, BASE)])
    write_chat(f, [message(0, BASE), message(1, "soon"), message(2, BASE + 60)])
    result = export_sillytavern_chat(f, tmp_path / "odd.jsonl")
    assert result.messages == 3 and not result.unreadable
    assert any("msg-1 has no usable time" in n for n in result.notes)
    lines = read_sillytavern_chat(tmp_path / "odd.jsonl").lines
    assert [x.extra["tzbackup"]["id"] for x in lines] == ["msg-0", "msg-0", "msg-1", "msg-1", "msg-2",
                                                          "msg-2"]
    assert lines[2].ts == BASE
