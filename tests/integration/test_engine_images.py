"""The ``images`` section (avatar + banner) against the real sandbox over loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tzbackup_gui.archive import verify_backup
from tzbackup_gui.backup import images as images_module
from tzbackup_gui.backup.images import sniff_image
from tzbackup_gui.sandbox import SandboxServer
from tzbackup_gui.sandbox.data import SandboxPersonality, add_banner, png_bytes
from tzbackup_gui.service import Pacer, ShapesClient
from tzbackup_gui.service.auth import SessionCredential
from tzbackup_gui.service.client import DownloadTooLargeError

from .engine_support import Runner, fast_retry, sandbox

__all__ = ["sandbox"]

SLUG = "eng-images"
ONLY_IMAGES = frozenset({"profile", "images"})
# a tiny valid GIF (1x1, one colour) and the start of a JPEG / WebP file: enough for the type sniffing
GIF = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"


def _personality(sandbox: SandboxServer, *, banner: bool = True) -> SandboxPersonality:
    p = sandbox.state.add_personality(SLUG, memories=3)
    if banner:
        add_banner(p, sandbox.files_base_url)
    return p


def _serve(sandbox: SandboxServer, p: SandboxPersonality, name: str, data: bytes, ctype: str) -> str:
    """Serve ``data`` at a new files URL (like the service does after an upload) and return the URL."""
    p.files[name] = (data, ctype)
    return f"{sandbox.files_base_url}/api/files/{name}"


def _file_requests(sandbox: SandboxServer) -> list[str]:
    return [r.path for r in sandbox.state.request_log if r.path.startswith("/files/")]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _history(folder: Path) -> dict[str, bytes]:
    base = folder / "history" / "images"
    return {p.name: p.read_bytes() for p in sorted(base.iterdir())} if base.is_dir() else {}


def test_avatar_and_banner_saved_with_metadata(sandbox: SandboxServer, tmp_path: Path) -> None:
    p = _personality(sandbox)
    banner_name = p.profile["banner"].rsplit("/", 1)[-1]
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG])
    assert report.exit_code == 0 and report.results[0].sections["images"] == "ok"
    folder = runner.folder(SLUG)
    assert (folder / "avatar.png").read_bytes() == p.avatar_png
    assert (folder / "banner.png").read_bytes() == p.files[banner_name][0]
    images = runner.metadata(SLUG)["sections"]["images"]
    assert images["status"] == "ok" and images["count"] == 2
    assert images["error"] is None and images["lastSync"]
    assert images["avatar"] == {
        "url": p.profile["avatar"], "file": "avatar.png", "sha256": _sha(p.avatar_png),
        "bytes": len(p.avatar_png), "type": "image/png",
    }
    assert images["banner"]["url"] == p.profile["banner"] and images["banner"]["file"] == "banner.png"
    assert len(_file_requests(sandbox)) == 2
    assert verify_backup(folder).ok


def test_unchanged_images_are_not_fetched_again(sandbox: SandboxServer, tmp_path: Path) -> None:
    _personality(sandbox)
    runner = Runner(sandbox, tmp_path)
    assert runner.run([SLUG]).exit_code == 0
    first = runner.metadata(SLUG)["sections"]["images"]
    report = runner.run([SLUG])
    assert report.exit_code == 0 and report.results[0].sections["images"] == "ok"
    assert _file_requests(sandbox) == []
    again = runner.metadata(SLUG)["sections"]["images"]
    assert again["avatar"] == first["avatar"] and again["banner"] == first["banner"]
    assert not (runner.folder(SLUG) / "history" / "images").exists()


def test_changed_url_saves_new_type_and_keeps_old_picture(sandbox: SandboxServer, tmp_path: Path) -> None:
    p = _personality(sandbox)
    runner = Runner(sandbox, tmp_path)
    assert runner.run([SLUG]).exit_code == 0
    folder = runner.folder(SLUG)
    old_avatar = (folder / "avatar.png").read_bytes()
    p.profile["avatar"] = _serve(sandbox, p, "avatar_new.gif", GIF, "image/gif")
    report = runner.run([SLUG], sections=ONLY_IMAGES)
    assert report.exit_code == 0, report.results
    assert _file_requests(sandbox) == ["/files/api/files/avatar_new.gif"]  # the banner was not fetched
    assert (folder / "avatar.gif").read_bytes() == GIF and not (folder / "avatar.png").exists()
    kept = _history(folder)
    assert list(kept.values()) == [old_avatar] and next(iter(kept)).endswith("-avatar.png")
    entry = runner.metadata(SLUG)["sections"]["images"]["avatar"]
    assert entry["file"] == "avatar.gif" and entry["type"] == "image/gif" and entry["sha256"] == _sha(GIF)
    # a JPEG next: the GIF joins the history, nothing is overwritten
    p.profile["avatar"] = _serve(sandbox, p, "avatar_3.jpg", JPEG, "image/jpeg")
    assert runner.run([SLUG], sections=ONLY_IMAGES).exit_code == 0
    assert (folder / "avatar.jpg").read_bytes() == JPEG and not (folder / "avatar.gif").exists()
    assert sorted(_history(folder).values()) == sorted([old_avatar, GIF])
    assert verify_backup(folder).ok


def test_damaged_or_missing_image_is_downloaded_again(sandbox: SandboxServer, tmp_path: Path) -> None:
    p = _personality(sandbox)
    runner = Runner(sandbox, tmp_path)
    runner.run([SLUG])
    folder = runner.folder(SLUG)
    (folder / "avatar.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage")
    (folder / "banner.png").unlink()
    problems = verify_backup(folder).problems
    assert any("avatar image avatar.png does not match" in problem for problem in problems), problems
    assert any("banner image banner.png" in problem and "missing" in problem for problem in problems)
    assert runner.run([SLUG], sections=ONLY_IMAGES).exit_code == 0
    assert sorted(_file_requests(sandbox)) == sorted(
        "/files/api/files/" + p.profile[kind].rsplit("/", 1)[-1] for kind in ("avatar", "banner")
    )
    assert (folder / "avatar.png").read_bytes() == p.avatar_png
    assert list(_history(folder).values()) == [b"\x89PNG\r\n\x1a\n" + b"garbage"]  # even that is kept
    assert verify_backup(folder).ok


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("{files}/api/files/avatar_gone.png", "404"),
        ("https://images.example.com/avatar.png", "Refused to download from images.example.com"),
    ],
)
def test_unreachable_avatar_fails_the_section_and_keeps_the_old_one(
    sandbox: SandboxServer, tmp_path: Path, url: str, message: str
) -> None:
    p = _personality(sandbox)
    runner = Runner(sandbox, tmp_path)
    runner.run([SLUG])
    folder = runner.folder(SLUG)
    before = runner.metadata(SLUG)["sections"]["images"]
    p.profile["avatar"] = url.format(files=sandbox.files_base_url)
    report = runner.run([SLUG])
    result = report.results[0]
    assert report.exit_code == 1 and result.status == "ok" and result.new == 0
    assert result.summary_status == "ok (images failed)"
    images = runner.metadata(SLUG)["sections"]["images"]
    assert images["status"] == "failed" and message in images["error"] and "avatar" in images["error"]
    assert images["avatar"] == before["avatar"] and images["count"] == 2  # never a silent 0
    assert images["lastSync"] == before["lastSync"]
    assert (folder / "avatar.png").read_bytes() == p.avatar_png
    assert all("images.example.com" not in r.path for r in sandbox.state.request_log)
    assert verify_backup(folder).ok


def test_not_an_image_or_too_big_is_refused(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = _personality(sandbox, banner=False)
    not_image = b"\x00\x01 this is not a picture " * 4
    p.profile["avatar"] = _serve(sandbox, p, "avatar_x.png", not_image, "application/octet-stream")
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG], sections=ONLY_IMAGES)
    assert report.exit_code == 1
    images = runner.metadata(SLUG)["sections"]["images"]
    assert images["status"] == "failed" and "not a PNG, JPEG, GIF or WebP image" in images["error"]
    assert not list(runner.folder(SLUG).glob("avatar.*"))
    big = png_bytes("big", size=64)
    p.profile["avatar"] = _serve(sandbox, p, "avatar_big.png", big, "image/png")
    monkeypatch.setattr(images_module, "MAX_IMAGE_BYTES", len(big) - 1)
    runner.run([SLUG], sections=ONLY_IMAGES)
    images = runner.metadata(SLUG)["sections"]["images"]
    assert images["status"] == "failed" and "more than the" in images["error"]
    assert not list(runner.folder(SLUG).glob("avatar.*"))
    monkeypatch.setattr(images_module, "MAX_IMAGE_BYTES", 20 * 1024 * 1024)
    assert runner.run([SLUG], sections=ONLY_IMAGES).exit_code == 0
    assert (runner.folder(SLUG) / "avatar.png").read_bytes() == big


def test_banner_removed_upstream_moves_to_history(sandbox: SandboxServer, tmp_path: Path) -> None:
    p = _personality(sandbox)
    runner = Runner(sandbox, tmp_path)
    runner.run([SLUG])
    folder = runner.folder(SLUG)
    banner = (folder / "banner.png").read_bytes()
    p.profile["banner"] = ""
    assert runner.run([SLUG], sections=ONLY_IMAGES).exit_code == 0
    assert not (folder / "banner.png").exists() and list(_history(folder).values()) == [banner]
    images = runner.metadata(SLUG)["sections"]["images"]
    assert images["banner"] is None and images["count"] == 1
    assert verify_backup(folder).ok


def test_seeded_personalities_with_and_without_banner(sandbox: SandboxServer, tmp_path: Path) -> None:
    runner = Runner(sandbox, tmp_path)
    report = runner.run(["captain-nemo", "zoë-✨"], sections=ONLY_IMAGES)
    assert report.exit_code == 0, report.results
    nemo = json.loads((runner.folder("captain-nemo") / ".backup-metadata.json").read_text("utf-8"))
    assert nemo["sections"]["images"]["count"] == 2
    zoe_folder = report.results[1].folder
    zoe = runner.metadata(zoe_folder)["sections"]["images"]
    assert zoe["count"] == 1 and zoe["banner"] is None


def test_sniff_image_types() -> None:
    assert sniff_image(png_bytes("x")) == "png"
    assert sniff_image(GIF) == "gif"
    assert sniff_image(JPEG) == "jpg"
    assert sniff_image(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff_image(b"<html>") is None and sniff_image(b"") is None


# --- downloads are bounded: the client stops reading at the cap --------------------------------------------

#: a 50 MB "PNG" (the right magic bytes, then zeros)
HUGE = b"\x89PNG\r\n\x1a\n" + bytes(50 * 2**20)


class _CountingTransport(httpx.AsyncBaseTransport):
    """Real loopback HTTP; counts the body bytes the client actually pulls from the socket. With
    ``hide_length`` the Content-Length header is removed (as for a chunked answer), so only counting while
    reading can stop a big body."""

    def __init__(self, *, hide_length: bool) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.hide_length = hide_length
        self.read = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        counter = self
        upstream = response.stream
        assert isinstance(upstream, httpx.AsyncByteStream)

        class _Counted(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in upstream:
                    counter.read += len(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await upstream.aclose()

        headers = [(k, v) for k, v in response.headers.multi_items()
                   if not (self.hide_length and k.lower() == "content-length")]
        return httpx.Response(response.status_code, headers=headers, stream=_Counted(),
                              extensions=response.extensions)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _download(
    sandbox: SandboxServer, url: str, transport: _CountingTransport, cap: int | None
) -> bytes:
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        client = ShapesClient(http, SessionCredential.from_value(sandbox.cookie), base_url=sandbox.base_url,
                              files_base_url=sandbox.files_base_url, pacer=Pacer(delay=0), retry=fast_retry())
        return await client.download(url, max_bytes=cap)


@pytest.mark.parametrize("hide_length", [False, True], ids=["content-length", "no-content-length"])
def test_download_stops_reading_past_the_cap(sandbox: SandboxServer, hide_length: bool) -> None:
    p = _personality(sandbox, banner=False)
    url = _serve(sandbox, p, "avatar_huge.png", HUGE, "image/png")
    transport = _CountingTransport(hide_length=hide_length)
    sandbox.state.clear_log()
    with pytest.raises(DownloadTooLargeError) as caught:
        asyncio.run(_download(sandbox, url, transport, 1000))
    err = caught.value
    assert err.limit == 1000 and err.announced is not hide_length
    assert "bigger than the 1000 bytes allowed" in str(err) and "avatar_huge.png" in str(err)
    if hide_length:
        assert 1000 < err.size <= transport.read
        assert transport.read < 2**20  # stopped after a chunk or so of the 50 MB
    else:
        assert err.size == len(HUGE) and "50.0 MB announced" in str(err)
        assert transport.read < 2**20  # refused on the header: (almost) nothing of the body was read
    assert _file_requests(sandbox) == ["/files/api/files/avatar_huge.png"]  # final: not retried

    # Under the cap, the streamed download returns the exact body (both ways).
    small = png_bytes("small", size=64)
    url = _serve(sandbox, p, "avatar_small.png", small, "image/png")
    for cap in (len(small), None):
        assert asyncio.run(_download(sandbox, url, _CountingTransport(hide_length=hide_length), cap)) == small


def test_huge_avatar_fails_the_section_and_writes_nothing(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = _personality(sandbox, banner=False)
    p.profile["avatar"] = _serve(sandbox, p, "avatar_huge.png", HUGE, "image/png")
    monkeypatch.setattr(images_module, "MAX_IMAGE_BYTES", 1000)
    transport = _CountingTransport(hide_length=False)
    real_client = httpx.AsyncClient
    monkeypatch.setattr(httpx, "AsyncClient", lambda **kw: real_client(transport=transport, **kw))
    runner = Runner(sandbox, tmp_path)  # its client now goes through the counting transport
    report = runner.run([SLUG], sections=ONLY_IMAGES)
    assert report.exit_code == 1 and report.results[0].summary_status == "ok (images failed)"
    assert 0 < transport.read < 2**20  # the profile was read; the 50 MB body was not
    images = runner.metadata(SLUG)["sections"]["images"]
    assert images["status"] == "failed" and images["count"] == 0 and images["avatar"] is None
    assert "avatar" in images["error"] and "50.0 MB, more than the 1000 bytes allowed" in images["error"]
    folder = runner.folder(SLUG)
    assert not list(folder.glob("avatar.*")) and _history(folder) == {}
    assert not [f for f in folder.rglob("*") if f.is_file() and f.stat().st_size > 2**20]
    assert _file_requests(sandbox).count("/files/api/files/avatar_huge.png") == 1
