"""PNG chunk reading and writing: the ``chara`` card chunk round-trips, damage is reported."""

from __future__ import annotations

import base64
import json
import struct
import zlib

import pytest

from tzbackup_gui.archive.png_card import (
    PNG_SIGNATURE,
    PngError,
    embed_card,
    iter_chunks,
    make_chunk,
    read_card,
    read_text_chunks,
    solid_png,
)

CARD = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Zoë ✨", "description": "ünïcødé"}}


def _pixels(png: bytes) -> tuple[int, int, bytes]:
    chunks = list(iter_chunks(png))
    width, height = struct.unpack(">II", chunks[0][1][:8])
    raw = zlib.decompress(b"".join(data for kind, data, _ in chunks if kind == b"IDAT"))
    return width, height, raw


def test_solid_png_is_a_valid_png_of_the_right_size_and_colour() -> None:
    png = solid_png(400, 600, (10, 20, 30))
    assert png.startswith(PNG_SIGNATURE)
    kinds = [kind for kind, _, _ in iter_chunks(png)]
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    width, height, raw = _pixels(png)
    assert (width, height) == (400, 600)
    assert len(raw) == 600 * (1 + 400 * 3)
    assert raw[:7] == b"\x00" + bytes([10, 20, 30]) * 2
    assert len(png) < 10_000  # one colour compresses to almost nothing


def test_embedded_card_reads_back_identically_and_sits_before_iend() -> None:
    png = embed_card(solid_png(4, 4, (1, 2, 3)), CARD)
    assert read_card(png) == CARD
    kinds = [kind for kind, _, _ in iter_chunks(png)]
    assert kinds[-2:] == [b"tEXt", b"IEND"]
    keyword, text = read_text_chunks(png)[0]
    assert keyword == "chara"
    assert json.loads(base64.b64decode(text)) == CARD
    # the picture itself is unchanged
    assert _pixels(png) == _pixels(solid_png(4, 4, (1, 2, 3)))


def test_embedding_twice_leaves_one_card_and_keeps_other_text_chunks() -> None:
    base = solid_png(2, 2, (0, 0, 0))
    chunks = list(iter_chunks(base))
    other = make_chunk(b"tEXt", b"Comment\x00hello")
    with_comment = base[: chunks[-1][2]] + other + base[chunks[-1][2]:]
    png = embed_card(embed_card(with_comment, {"old": True}), CARD)
    texts = read_text_chunks(png)
    assert [k for k, _ in texts] == ["Comment", "chara"]
    assert read_card(png) == CARD


def test_png_without_card_reads_none() -> None:
    assert read_card(solid_png(1, 1, (5, 5, 5))) is None


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda png: b"GIF89a" + png[6:], "signature"),
        (lambda png: png[:-6], "IEND"),
        (lambda png: png[:20] + bytes([png[20] ^ 0xFF]) + png[21:], "CRC"),
    ],
)
def test_damaged_png_is_reported(mutate: object, message: str) -> None:
    png = embed_card(solid_png(3, 3, (9, 9, 9)), CARD)
    with pytest.raises(PngError, match=message):
        read_card(mutate(png))  # type: ignore[operator]


def test_chara_chunk_that_is_not_base64_json_is_an_error() -> None:
    base = solid_png(1, 1, (0, 0, 0))
    end = list(iter_chunks(base))[-1][2]
    bad = base[:end] + make_chunk(b"tEXt", b"chara\x00not base64!!") + base[end:]
    with pytest.raises(PngError, match="base64"):
        read_card(bad)
