"""Safe folder names and paths: nothing a personality is called can write outside personalities/."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tzbackup_gui.archive.layout import (
    MAX_NAME_BYTES,
    chunk_file_name,
    chunk_number,
    personalities_root,
    personality_path,
    safe_folder_name,
)
from tzbackup_gui.errors import UnsafeNameError

HOSTILE = [
    "",
    ".",
    "..",
    "../x",
    "a/b",
    "a\\b",
    "nul\x00x",
    "ctl\x01\x1f\x7fx",
    "/etc/passwd",
    "..\\..\\w",
    ".hidden",
    "...",
    "x" * 300,
    "é" * 300,
    "CON",
    "nul",
    "com1.txt",
    " space ",
    "a:b*c?d",
    "\u202eevil",
]


def _suffix(slug: str) -> str:
    return "-" + hashlib.sha256(slug.encode()).hexdigest()[:8]


@pytest.mark.parametrize("slug", HOSTILE)
def test_hostile_names_stay_inside(tmp_path: Path, slug: str) -> None:
    name = safe_folder_name(slug)
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".")
    assert all(ch.isprintable() for ch in name)
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name.endswith(_suffix(slug))  # every one of these needed changing
    path = personality_path(tmp_path, name)
    assert path.parent == personalities_root(tmp_path).resolve()


@pytest.mark.parametrize("slug", ["lilith", "Nova.v2", "my_bot-1", "Лилит", "小红", "ñandú"])
def test_clean_names_kept_verbatim(slug: str) -> None:
    assert safe_folder_name(slug) == slug


def test_stable_and_distinct() -> None:
    assert safe_folder_name("a/b") == safe_folder_name("a/b")
    assert safe_folder_name("a/b") != safe_folder_name("a\\b")  # both map to a_b; the hash tells them apart
    assert safe_folder_name("a/b").startswith("a_b-")


def test_case_insensitive_collision_gets_suffix() -> None:
    assert safe_folder_name("Alice", taken=["alice"]) == "Alice" + _suffix("Alice")
    assert safe_folder_name("Alice", taken=["bob"]) == "Alice"


def test_long_name_cut_on_character_boundary() -> None:
    name = safe_folder_name("日" * 200)
    assert len(name.encode()) <= MAX_NAME_BYTES
    name.encode().decode()  # no split character
    assert name.startswith("日")


def test_personality_path_refuses_escape(tmp_path: Path) -> None:
    for bad in ["", ".", "..", "../x", "a/b", "x\x00"]:
        with pytest.raises(UnsafeNameError):
            personality_path(tmp_path, bad)


def test_personality_path_refuses_symlink_out(tmp_path: Path) -> None:
    root = personalities_root(tmp_path)
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafeNameError):
        personality_path(tmp_path, "link")


def test_chunk_names() -> None:
    assert chunk_file_name("lilith", 12) == "lilith_memory_12.json"
    assert chunk_number("lilith_memory_12.json", "lilith") == 12
    assert chunk_number("lilith_memory_012.json", "lilith") is None  # no zero padding
    assert chunk_number("other_memory_1.json", "lilith") is None
    assert chunk_number("a_memory_b_memory_3.json", "a_memory_b") == 3
