"""The ``images`` section: the personality's avatar and banner, saved beside its profile.

The profile's ``avatar`` / ``banner`` fields hold URLs (empty or missing = none). Each image is downloaded
with ``client.download`` (paced like any request; it refuses hosts other than the service and the files host
and never sends the cookie to the files host), checked (PNG, JPEG, GIF or WebP by its magic bytes, at most
:data:`MAX_IMAGE_BYTES`) and saved atomically as ``avatar.<ext>`` / ``banner.<ext>`` in the personality
folder, the extension from the sniffed type (``browse.AVATAR_NAMES`` and the card export read these names).

An image is downloaded again only when its URL changed or the saved file is missing or no longer matches the
SHA-256 recorded in the metadata. A picture that is replaced (or whose URL vanished from the profile) is
first copied to ``history/images/<UTC stamp>-<file name>``, so nothing once saved is lost.

Metadata, under ``sections.images``: ``count``, ``status``, ``error``, ``lastSync`` and, per kind,
``{"url", "file", "sha256", "bytes", "type"}`` (or ``None`` when the profile has no such image). A 404, a
refused host, something that is not an image or too big fails the section with a plain message, never a
silent 0; the other image is still handled and the previous file and record stay as they were.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..archive.images import IMAGE_EXTENSIONS, IMAGE_KINDS, sniff_image, verify_images
from ..archive.images import find_image as current_image
from ..archive.store import atomic_write_bytes, ensure_dir, remove_file
from ..errors import AuthError, NetworkError, RateLimitedError, TzBackupError
from ..service.client import DownloadTooLargeError
from .sections import STOP_ERRORS, SectionOutcome

__all__ = [
    "IMAGE_EXTENSIONS",
    "IMAGE_HISTORY_DIR",
    "IMAGE_KINDS",
    "MAX_IMAGE_BYTES",
    "ImageError",
    "current_image",
    "sniff_image",
    "sync_images",
    "verify_images",
]

IMAGE_HISTORY_DIR = Path("history") / "images"
MAX_IMAGE_BYTES = 20 * 1024 * 1024
_MIME = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}

BlockingRunner = Callable[..., Awaitable[Any]]


class ImageError(TzBackupError):
    """A downloaded file is not an image we keep (unknown type, too big)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _keep_in_history(folder: Path, path: Path) -> Path:
    """Copy ``path`` to ``history/images/<stamp>-<name>`` (never over an earlier copy)."""
    target_dir = folder / IMAGE_HISTORY_DIR
    ensure_dir(folder / "history")
    ensure_dir(target_dir)
    stamp = _stamp()
    target = target_dir / f"{stamp}-{path.name}"
    n = 1
    while target.exists():
        n += 1
        target = target_dir / f"{stamp}-{n}-{path.name}"
    atomic_write_bytes(target, path.read_bytes())
    return target


def _unchanged(folder: Path, kind: str, url: str, previous: dict[str, Any] | None) -> bool:
    """True when the recorded image of ``url`` is on disk, intact: no download needed."""
    if not previous or previous.get("url") != url:
        return False
    path = current_image(folder, kind, str(previous.get("file") or ""))
    if path is None or path.name != previous.get("file"):
        return False
    try:
        return _sha256(path.read_bytes()) == previous.get("sha256")
    except OSError:
        return False


def _save(
    folder: Path, kind: str, url: str, data: bytes, ext: str, previous_file: str | None
) -> dict[str, Any]:
    """Write the new image; an existing different one goes to the history first."""
    current = current_image(folder, kind, previous_file)
    target = folder / f"{kind}.{ext}"
    if current is not None:
        try:
            same = current.read_bytes() == data
        except OSError:
            same = False
        if not same:
            _keep_in_history(folder, current)
    atomic_write_bytes(target, data)
    if current is not None and current != target:
        remove_file(current)
    return {"url": url, "file": target.name, "sha256": _sha256(data), "bytes": len(data), "type": _MIME[ext]}


def _retire(folder: Path, kind: str, previous_file: str | None) -> None:
    """The profile no longer names an image of ``kind``: keep the saved one in the history only."""
    current = current_image(folder, kind, previous_file)
    if current is not None:
        _keep_in_history(folder, current)
        remove_file(current)


def _size_text(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size} bytes"


def _too_big(kind: str, url: str, size: int, announced: bool = True) -> ImageError:
    shown = _size_text(size) if announced else f"over {_size_text(MAX_IMAGE_BYTES)}"
    return ImageError(
        f"The {kind} at {url} is {shown}, more than the {_size_text(MAX_IMAGE_BYTES)} allowed for an image; "
        "it was not saved."
    )


def _check(kind: str, url: str, data: bytes) -> str:
    if len(data) > MAX_IMAGE_BYTES:  # a client that does not stream (the real one stops at the cap)
        raise _too_big(kind, url, len(data))
    ext = sniff_image(data)
    if ext is None:
        raise ImageError(
            f"The {kind} at {url} is not a PNG, JPEG, GIF or WebP image ({len(data)} bytes); "
            "it was not saved."
        )
    return ext


def _is_files_host(client: object, url: str) -> bool:
    files = getattr(client, "files_base_url", "")
    return isinstance(files, str) and bool(files) and url.startswith(files.rstrip("/") + "/")


async def _sync_one(
    client: object,
    folder: Path,
    kind: str,
    url: str,
    previous: dict[str, Any] | None,
    blocking: BlockingRunner,
) -> dict[str, Any] | None:
    previous_file = (str(previous.get("file") or "") or None) if previous else None
    if not url:
        await blocking(_retire, folder, kind, previous_file)
        return None
    if await blocking(_unchanged, folder, kind, url, previous):
        return previous
    download = getattr(client, "download", None)
    if not callable(download):
        raise ImageError(f"This client cannot download the {kind}.")
    try:
        data = await download(url, max_bytes=MAX_IMAGE_BYTES)  # stops reading past the cap
    except DownloadTooLargeError as err:
        raise _too_big(kind, url, err.size, err.announced) from err
    except AuthError as err:
        if not _is_files_host(client, url):
            raise  # the session died: that stops the whole run
        raise ImageError(f"The files host refused the {kind} ({err}).") from err  # no cookie was sent there
    except (RateLimitedError, NetworkError) as err:
        if not _is_files_host(client, url):
            raise  # the service itself is gone: that stops the whole run
        # another host: its trouble says nothing about shapes.inc (the next request there tells)
        raise ImageError(f"The files host could not be reached for the {kind} ({err}).") from err
    if not isinstance(data, bytes):
        raise ImageError(f"The download of the {kind} returned no bytes.")
    ext = _check(kind, url, data)
    saved: dict[str, Any] = await blocking(_save, folder, kind, url, data, ext, previous_file)
    return saved


async def sync_images(
    client: object,
    profile: dict[str, Any],
    folder: Path,
    blocking: BlockingRunner,
    previous: dict[str, Any] | None = None,
) -> SectionOutcome:
    """Download the avatar and banner when needed; ``previous`` is the last ``sections.images`` summary.

    :data:`~.sections.STOP_ERRORS` propagate (they stop the run; rate limiting and network trouble only from
    the service itself, not from the files host); any other problem fails the section with a plain message,
    keeping the previous file and record of that image. Cancellation propagates."""
    entries: dict[str, dict[str, Any] | None] = {}
    problems: list[str] = []
    for kind in IMAGE_KINDS:
        prev = previous.get(kind) if isinstance(previous, dict) else None
        prev = prev if isinstance(prev, dict) else None
        raw = profile.get(kind)
        url = raw.strip() if isinstance(raw, str) else ""
        try:
            entries[kind] = await _sync_one(client, folder, kind, url, prev, blocking)
        except asyncio.CancelledError:
            raise
        except STOP_ERRORS:
            raise
        except (TzBackupError, OSError) as err:
            message = str(err) or type(err).__name__
            problems.append(message if kind in message else f"{kind}: {message}")
            entries[kind] = prev
    count = sum(1 for entry in entries.values() if entry)
    status = "failed" if problems else "ok"
    return SectionOutcome("images", status, count, " ".join(problems) or None, extra=dict(entries))
