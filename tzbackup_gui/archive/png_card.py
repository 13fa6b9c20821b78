"""PNG chunks, read and written with ``struct`` and ``zlib`` only: the card chunks and a plain PNG.

Character front-ends (SillyTavern, Agnai, RisuAI...) import a Character Card V2 from a PNG that carries the
card JSON, base64-encoded, in a ``tEXt`` chunk whose keyword is ``chara``; a Character Card V3 goes in a
``ccv3`` chunk the same way (SPEC_V3.md), with a V2 card kept in ``chara`` for older readers (a reader that
finds both uses ``ccv3``). This module inserts those chunks just before ``IEND`` (replacing older card
chunks), reads them back, and generates a solid-colour PNG for personalities whose avatar was not saved.
Every chunk's CRC is checked on reading, so a damaged file is reported rather than half-read.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

__all__ = [
    "CARD_KEYWORD",
    "CARD_V3_KEYWORD",
    "PNG_SIGNATURE",
    "PngError",
    "embed_card",
    "iter_chunks",
    "make_chunk",
    "read_card",
    "read_newest_card",
    "read_text_chunks",
    "solid_png",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_KEYWORD = "chara"
CARD_V3_KEYWORD = "ccv3"
#: Largest chunk we accept on reading (the PNG spec allows 2**31 - 1; nothing sane is near that).
MAX_CHUNK = 256 * 1024 * 1024


class PngError(ValueError):
    """The bytes are not a well-formed PNG (bad signature, truncated chunk, wrong CRC, no IEND)."""


def make_chunk(kind: bytes, data: bytes) -> bytes:
    """One chunk: length, type, data, CRC-32 of type + data."""
    if len(kind) != 4 or not kind.isalpha():
        raise ValueError(f"{kind!r} is not a PNG chunk type")
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def iter_chunks(png: bytes) -> Iterator[tuple[bytes, bytes, int]]:
    """``(type, data, offset of the chunk)`` for every chunk up to and including ``IEND``."""
    if not png.startswith(PNG_SIGNATURE):
        raise PngError("not a PNG file (wrong signature)")
    pos = len(PNG_SIGNATURE)
    first = True
    while True:
        if pos + 8 > len(png):
            raise PngError("the PNG ends before its IEND chunk")
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        if length > MAX_CHUNK or pos + 12 + length > len(png):
            raise PngError(f"chunk {kind!r} at byte {pos} is truncated or too large")
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        if crc != zlib.crc32(kind + data):
            raise PngError(f"chunk {kind!r} at byte {pos} has a wrong CRC")
        if first and kind != b"IHDR":
            raise PngError("the first chunk is not IHDR")
        first = False
        yield kind, data, pos
        pos += 12 + length
        if kind == b"IEND":
            return


def _split_text(data: bytes) -> tuple[str, str] | None:
    """A tEXt chunk's keyword and text (both Latin-1), or None when it has no separator."""
    keyword, sep, text = data.partition(b"\x00")
    if not sep:
        return None
    return keyword.decode("latin-1"), text.decode("latin-1")


def read_text_chunks(png: bytes) -> list[tuple[str, str]]:
    """Every ``tEXt`` chunk as ``(keyword, text)``, in file order."""
    found = []
    for kind, data, _ in iter_chunks(png):
        if kind == b"tEXt":
            pair = _split_text(data)
            if pair is not None:
                found.append(pair)
    return found


def _card_text(keyword: str, card: dict[str, Any]) -> bytes:
    text = base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8"))
    return make_chunk(b"tEXt", keyword.encode("latin-1") + b"\x00" + text)


def embed_card(png: bytes, card: dict[str, Any], v3: dict[str, Any] | None = None) -> bytes:
    """``png`` with ``card`` as a ``chara`` tEXt chunk (base64 of the UTF-8 JSON) just before IEND, and
    ``v3`` (a V3 card) as a ``ccv3`` chunk after it when given.

    Existing ``chara`` and ``ccv3`` chunks are dropped, so embedding twice leaves one card of each kind (and
    no stale V3 card that readers would prefer to a new V2 one). Base64 keeps the text chunk within
    Latin-1 whatever the card's script.
    """
    out = [PNG_SIGNATURE]
    for kind, data, pos in iter_chunks(png):
        if kind == b"tEXt" and (_split_text(data) or ("", ""))[0] in (CARD_KEYWORD, CARD_V3_KEYWORD):
            continue
        if kind == b"IEND":
            out.append(_card_text(CARD_KEYWORD, card))
            if v3 is not None:
                out.append(_card_text(CARD_V3_KEYWORD, v3))
        out.append(png[pos : pos + 12 + len(data)])
    return b"".join(out)


def read_card(png: bytes, keyword: str = CARD_KEYWORD) -> dict[str, Any] | None:
    """The card JSON of the (last) ``keyword`` chunk (``chara`` by default), or None when there is none. A
    chunk that is not base64 of a JSON object raises :class:`PngError`."""
    texts = [text for key, text in read_text_chunks(png) if key == keyword]
    if not texts:
        return None
    try:
        card = json.loads(base64.b64decode(texts[-1], validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PngError(f"the {keyword} chunk is not base64 of a JSON card: {err}") from err
    if not isinstance(card, dict):
        raise PngError(f"the {keyword} chunk does not hold a JSON object")
    return card


def read_newest_card(png: bytes) -> dict[str, Any] | None:
    """The card a reader should use: the ``ccv3`` card when there is one (as the V3 spec says), else the
    ``chara`` card, else None."""
    return read_card(png, CARD_V3_KEYWORD) or read_card(png, CARD_KEYWORD)


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain 8-bit RGB PNG of one colour (the card's picture when no avatar was saved)."""
    if width < 1 or height < 1:
        raise ValueError("a PNG needs at least one pixel")
    row = b"\x00" + bytes(rgb) * width  # filter type 0 (none), then the pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + make_chunk(b"IHDR", ihdr) + make_chunk(b"IDAT", idat) + make_chunk(b"IEND", b"")
