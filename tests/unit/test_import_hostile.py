"""Hostile and damaged archives are refused with a clear reason, and nothing is written to the data dir."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_export import BASE, DAY, make_folder, memory
from tzbackup_gui.archive import list_backups, verify_backup
from tzbackup_gui.archive.export import export_zip
from tzbackup_gui.archive.importer import ImportRefusedError, import_archive, verify_export

Entry = tuple[zipfile.ZipInfo | str, bytes]


@pytest.fixture
def good_zip(tmp_path: Path) -> Path:
    src = make_folder(tmp_path / "src", [memory(i, BASE + i * DAY) for i in range(5)])
    out = tmp_path / "zoe.zip"
    export_zip(src, out)
    assert verify_export(out).ok
    return out


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir that already holds another personality's backup."""
    other = make_folder(tmp_path / "data", [memory(i, BASE + i) for i in range(2)])
    other.rename(other.parent / "other")
    (other.parent / "other" / "zoe.json").rename(other.parent / "other" / "other.json")
    for p in (other.parent / "other" / "memory").iterdir():
        p.rename(p.with_name(p.name.replace("zoe", "other")))
    meta_path = other.parent / "other" / ".backup-metadata.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    meta.update(slug="other", shapeId="shape-other")
    meta_path.write_text(json.dumps(meta), "utf-8")
    return tmp_path / "data"


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    if not root.exists():
        return {}
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def rebuild(
    src: Path,
    dst: Path,
    *,
    replace: dict[str, bytes] | None = None,
    add: list[Entry] = (),  # type: ignore[assignment]
    drop: set[str] = frozenset(),  # type: ignore[assignment]
    manifest: Callable[[dict[str, Any]], None] | None = None,
    list_added: bool = True,
) -> Path:
    """A copy of ``src`` with entries replaced/added/dropped; the manifest lists added entries (with their
    true size and hash) unless ``list_added`` is False, then ``manifest`` may edit it further."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zf:
        man = json.loads(zf.read("manifest.json"))
        entries = [(i, zf.read(i)) for i in zf.infolist() if i.filename != "manifest.json"]
    out: list[Entry] = []
    for info, data in entries:
        if info.filename in drop:
            continue
        out.append((info, replace.get(info.filename, data)))
    for info, data in add:
        out.append((info, data))
        name = info.filename if isinstance(info, zipfile.ZipInfo) else info
        if list_added:
            man["files"].append({"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    man["counts"]["files"] = len(man["files"])
    if manifest is not None:
        manifest(man)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in out:
            zf.writestr(info, data)
        zf.writestr("manifest.json", json.dumps(man))
    return dst


def assert_refused(zip_path: Path, data_dir: Path, match: str) -> None:
    before = snapshot(data_dir)
    report = verify_export(zip_path)
    assert not report.ok
    with pytest.raises(ImportRefusedError, match=match) as info:
        import_archive(zip_path, data_dir)
    assert "nothing was" in str(info.value).lower()
    assert snapshot(data_dir) == before, "the data dir changed"


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    "name, match",
    [
        ("zoe/../../escaped.txt", r"'\.\.' path component"),
        ("../escaped.txt", r"'\.\.' path component"),
        ("/tmp/escaped.txt", "absolute path"),
        ("zoe\\..\\..\\escaped.txt", "backslash"),
        ("C:/escaped.txt", "drive letter"),
        ("zoe/./x.json", r"'\.' or '\.\.' path component"),
        ("zoe/.tzbackup/commit.json", "engine-private"),
        ("elsewhere/x.json", "outside the personality folder"),
    ],
)
def test_unsafe_entry_names_are_refused(good_zip: Path, data_dir: Path, tmp_path: Path, name: str,
                                        match: str) -> None:
    listed = rebuild(good_zip, tmp_path / "listed.zip", add=[(name, b"{}")])
    with pytest.raises(ImportRefusedError, match=match):
        import_archive(listed, data_dir)
    unlisted = rebuild(good_zip, tmp_path / "unlisted.zip", add=[(name, b"{}")], list_added=False)
    assert_refused(unlisted, data_dir, match)
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()


def test_symlink_entry_is_refused(good_zip: Path, data_dir: Path, tmp_path: Path) -> None:
    bad = rebuild(good_zip, tmp_path / "bad.zip", add=[(symlink_info("zoe/link.json"), b"/etc/passwd")])
    assert_refused(bad, data_dir, "symbolic link")


def test_extra_duplicate_and_missing_entries_are_refused(
    good_zip: Path, data_dir: Path, tmp_path: Path
) -> None:
    extra = rebuild(good_zip, tmp_path / "extra.zip", add=[("zoe/extra.txt", b"hi")], list_added=False)
    assert_refused(extra, data_dir, "not listed in the manifest")
    with pytest.warns(UserWarning, match="Duplicate name"):
        dup = rebuild(good_zip, tmp_path / "dup.zip", add=[("zoe/zoe.json", b"{}")], list_added=False)
    assert_refused(dup, data_dir, "appears 2 times")
    case = rebuild(good_zip, tmp_path / "case.zip", add=[("zoe/ZOE.json", b"{}")])
    assert_refused(case, data_dir, "lists 'zoe/ZOE.json' twice")
    case = rebuild(good_zip, tmp_path / "case2.zip", add=[("zoe/ZOE.json", b"{}")], list_added=False)
    assert_refused(case, data_dir, "upper/lower case")
    missing = rebuild(good_zip, tmp_path / "missing.zip", drop={"zoe/zoe.json"})
    assert_refused(missing, data_dir, "missing from the archive")


def test_tampered_hash_and_wrong_size_are_refused(good_zip: Path, data_dir: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(good_zip) as zf:
        profile = zf.read("zoe/zoe.json")
    flipped = profile.replace(b"Stay", b"Stya")
    assert len(flipped) == len(profile) and flipped != profile
    tampered = rebuild(good_zip, tmp_path / "t.zip", replace={"zoe/zoe.json": flipped})
    assert_refused(tampered, data_dir, "does not match its SHA-256")
    longer = rebuild(good_zip, tmp_path / "l.zip", replace={"zoe/zoe.json": profile + b" "})
    assert_refused(longer, data_dir, "says it holds")


def test_zip_bomb_with_an_honest_header_is_refused_without_decompressing(
    good_zip: Path, data_dir: Path, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.zip"
    rebuild(good_zip, bomb, drop={"zoe/zoe.json"})
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as zf, zf.open("zoe/zoe.json", "w") as out:
        block = bytes(1024 * 1024)
        for _ in range(100):
            out.write(block)
    assert bomb.stat().st_size < 300_000
    start = time.monotonic()
    assert_refused(bomb, data_dir, "says it holds 104857600 bytes")
    assert time.monotonic() - start < 2.0


def _lie_about_size(path: Path, name: str, size: int) -> None:
    """Rewrite the uncompressed size of ``name`` in its local and central headers."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        offset = zf.getinfo(name).header_offset
    struct.pack_into("<I", data, offset + 22, size)
    encoded = name.encode()
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        (name_len,) = struct.unpack_from("<H", data, at + 28)
        if bytes(data[at + 46 : at + 46 + name_len]) == encoded:
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_zip_bomb_whose_headers_lie_is_capped_while_decompressing(
    good_zip: Path, data_dir: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(good_zip) as zf:
        real = zf.read("zoe/zoe.json")
    bomb = tmp_path / "liar.zip"
    rebuild(good_zip, bomb, drop={"zoe/zoe.json"})
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as zf, zf.open("zoe/zoe.json", "w") as out:
        out.write(real)
        for _ in range(100):
            out.write(bytes(1024 * 1024))
    _lie_about_size(bomb, "zoe/zoe.json", len(real))  # headers and manifest both claim the small size
    with zipfile.ZipFile(bomb) as zf:
        assert zf.getinfo("zoe/zoe.json").file_size == len(real)
    start = time.monotonic()
    assert_refused(bomb, data_dir, "zoe/zoe.json")
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m.update(tool="other"), "not written by tzbackup"),
        (lambda m: m.update(formatVersion=99), "export format 99"),
        (lambda m: m["personality"].update(folder="../zoe"), "not a safe folder name"),
        (lambda m: m["personality"].update(folder=".hidden"), "not a safe folder name"),
        (lambda m: m["files"][0].update(size=-1), "size of -1"),
        (lambda m: m["files"][0].update(sha256="nothex"), "malformed file entry"),
        (lambda m: m["files"].append(dict(m["files"][0])), "lists .* twice"),
        (lambda m: m["counts"].update(memories=999), "manifest says 999"),
    ],
)
def test_bad_manifests_are_refused(good_zip: Path, data_dir: Path, tmp_path: Path,
                                   edit: Callable[[dict[str, Any]], None], match: str) -> None:
    assert_refused(rebuild(good_zip, tmp_path / "m.zip", manifest=edit), data_dir, match)


def test_not_a_zip_and_no_manifest(good_zip: Path, data_dir: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    assert_refused(junk, data_dir, "not a readable zip")
    no_manifest = tmp_path / "nm.zip"
    with zipfile.ZipFile(good_zip) as src, zipfile.ZipFile(no_manifest, "w") as dst:
        for info in src.infolist():
            if info.filename != "manifest.json":
                dst.writestr(info, src.read(info))
    assert_refused(no_manifest, data_dir, "no manifest.json")


def test_refused_import_into_a_missing_data_dir_creates_nothing(good_zip: Path, tmp_path: Path) -> None:
    bad = rebuild(good_zip, tmp_path / "bad.zip", add=[("../x", b"")], list_added=False)
    target = tmp_path / "fresh"
    with pytest.raises(ImportRefusedError):
        import_archive(bad, target)
    assert not target.exists()


def test_the_good_archive_imports_beside_the_other_backup(good_zip: Path, data_dir: Path) -> None:
    result = import_archive(good_zip, data_dir)
    assert result.memories == 5 and not result.replaced
    assert sorted(b.slug for b in list_backups(data_dir)) == ["other", "zoe"]
    assert verify_backup(data_dir / "personalities" / "zoe").ok
    assert not [n for n in os.listdir(data_dir / "personalities") if n.startswith(".")]
