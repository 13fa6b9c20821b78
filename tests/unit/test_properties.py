"""Property-based tests (Hypothesis): rules that must hold for every input, not only for the examples we
thought of. Each names the invariant it checks; a failure prints the smallest input that breaks it.

- ``fts_query``: whatever a user types, SQLite FTS5 accepts the query, and a text is found by itself;
- ``parse_retry_after``: any header value gives None or a finite delay >= 0, never an exception;
- the character card: embed then read gives the card back, whatever its script, and embedding twice keeps one;
- ``read_jsonl``: complete lines come back with their offsets, a torn last line never does;
- ``display_width`` / ``truncate_to_width``: widths add up, and a cut line never exceeds its width;
- ``safe_folder_name``: every slug maps to one safe folder inside ``personalities/``, the same every time.
"""

from __future__ import annotations

import json
import math
import sqlite3
import unicodedata
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tzbackup_gui.archive.index import fts_query
from tzbackup_gui.archive.layout import MAX_NAME_BYTES, personality_path, safe_folder_name
from tzbackup_gui.archive.png_card import CARD_KEYWORD, iter_chunks, read_card, read_text_chunks, solid_png
from tzbackup_gui.archive.png_card import embed_card as embed
from tzbackup_gui.archive.store import read_jsonl
from tzbackup_gui.cli.progress import display_width, truncate_to_width
from tzbackup_gui.errors import UnsafeNameError
from tzbackup_gui.service.pacing import parse_retry_after

# every character Python can hold in a str except lone surrogates (not valid in UTF-8 files or JSON)
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)

# --- fts_query ----------------------------------------------------------------------------------------------

_FTS = sqlite3.connect(":memory:")
_FTS.execute("CREATE VIRTUAL TABLE fts USING fts5(text, tokenize='unicode61 remove_diacritics 2')")


def _matches(document: str, query: str) -> bool:
    with _FTS:
        _FTS.execute("DELETE FROM fts")
        _FTS.execute("INSERT INTO fts(text) VALUES (?)", (document,))
        return _FTS.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", (query,)).fetchone()[0] == 1


@given(ANY_TEXT)
@example('"unclosed phrase')
@example("\x00")  # SQLite ends the query at a NUL: was "unterminated string"
@example("AND OR NOT NEAR(a b) col:x ^start * -")
def test_fts5_accepts_every_query_fts_query_makes(typed: str) -> None:
    query = fts_query(typed)
    if not query:  # nothing to search for (search() then answers [] without asking SQLite)
        assert not typed.replace("\x00", " ").split()
        return
    _matches("anything", query)  # raises sqlite3.OperationalError on a syntax error


WORD = st.text(st.characters(categories=("L", "Nd")), min_size=1, max_size=8)
WORDS = st.lists(WORD, min_size=1, max_size=5)


@given(WORDS, st.booleans())
def test_a_text_is_found_by_what_was_typed_of_it(words: list[str], quoted: bool) -> None:
    document = " ".join(words)
    typed = f'"{document}"' if quoted else document
    assert _matches(f"before {document} after", fts_query(typed))


@given(WORDS)
def test_the_last_word_matches_as_a_prefix(words: list[str]) -> None:
    """Search-as-you-type: the half-typed last word finds the whole word."""
    *first, last = words
    typed = " ".join([*first, last[: max(1, len(last) // 2)]])
    assert _matches(" ".join(words), fts_query(typed))


# --- parse_retry_after ----------------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@given(st.one_of(st.none(), ANY_TEXT, st.from_regex(r"\A\s*[0-9٠-٩²³.]{1,6}\s*\Z")))
@example("²")  # a digit to str.isdigit, not to float()
@example("1e400")
def test_retry_after_never_raises_and_is_never_negative(header: str | None) -> None:
    delay = parse_retry_after(header, NOW)
    assert delay is None or (math.isfinite(delay) and delay >= 0)


@given(st.integers(min_value=0, max_value=10**9))
def test_retry_after_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds), NOW) == float(seconds)
    assert parse_retry_after(f"  {seconds}\t", NOW) == float(seconds)


@given(st.integers(min_value=-10**7, max_value=10**7))
def test_retry_after_http_date(offset: int) -> None:
    when = NOW + timedelta(seconds=offset)
    assert parse_retry_after(format_datetime(when, usegmt=True), NOW) == max(0.0, float(offset))


# --- character card PNG ---------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | ANY_TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)
CARDS = st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=6)
BASE_PNG = solid_png(3, 2, (10, 20, 30))


@given(CARDS, CARDS)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_card_round_trip(card: dict[str, object], older: dict[str, object]) -> None:
    png = embed(embed(BASE_PNG, older), card)  # a card embedded over an earlier one replaces it
    assert read_card(png) == card
    assert [k for k, _ in read_text_chunks(png)].count(CARD_KEYWORD) == 1
    kinds = [kind for kind, _, _ in iter_chunks(png)]  # every CRC checked on the way
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and kinds[-2] == b"tEXt"
    assert [k for k in kinds if k != b"tEXt"] == [kind for kind, _, _ in iter_chunks(BASE_PNG)]


# --- JSON lines with a torn last line -------------------------------------------------------------------

RECORDS = st.lists(st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=3), max_size=6)


@given(RECORDS, st.dictionaries(ANY_TEXT, JSON_VALUES, min_size=1, max_size=3), st.data())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_read_jsonl_skips_only_the_torn_last_line(
    tmp_path: Path, records: list[dict[str, object]], torn: dict[str, object], data: st.DataObject
) -> None:
    lines = [json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records]
    whole = json.dumps(torn, ensure_ascii=False).encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(whole) - 1), label="torn after byte")
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(lines) + whole[:cut])  # a crash mid-append: no newline at the end
    offsets = [sum(len(line) for line in lines[:n]) for n in range(len(lines))]
    assert list(read_jsonl(path)) == list(zip(offsets, records, strict=True))


# --- display width --------------------------------------------------------------------------------------

@given(ANY_TEXT, ANY_TEXT)
def test_display_width_adds_up(a: str, b: str) -> None:
    assert display_width(a + b) == display_width(a) + display_width(b)
    assert display_width(a) <= 2 * len(a)


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_printable_ascii_is_one_column_each(text: str) -> None:
    assert display_width(text) == len(text)


@given(ANY_TEXT, st.integers(min_value=0, max_value=80))
@example("東京" * 30, 39)
def test_a_cut_line_never_exceeds_its_width(text: str, width: int) -> None:
    cut = truncate_to_width(text, width)
    assert display_width(cut) <= width
    if display_width(text) <= width:
        assert cut == text
    elif width >= 1:
        assert cut.endswith("…") and text.startswith(cut[:-1])
        # nothing more would have fitted: the next character is wider than what is left
        kept = len(cut) - 1
        next_width = display_width(text[kept])
        assert display_width(cut) + next_width > width


# --- safe folder names ----------------------------------------------------------------------------------

@given(ANY_TEXT)
@example("..")
@example("CON")
@example("../../etc/passwd")
@example("é" * 80)
def test_every_slug_maps_to_one_safe_folder(tmp_path_factory: pytest.TempPathFactory, slug: str) -> None:
    name = safe_folder_name(slug)
    assert name == safe_folder_name(slug)  # stable
    assert name and not name.startswith(".") and len(name.encode()) <= MAX_NAME_BYTES
    assert all(ch in "._-" or unicodedata.category(ch)[0] in "LM" or unicodedata.category(ch) == "Nd"
               for ch in name)
    assert name.upper().split(".")[0] not in {"CON", "PRN", "AUX", "NUL"}
    if name != slug:  # anything changed: the hash suffix tells two such slugs apart
        assert name[-9] == "-" and all(c in "0123456789abcdef" for c in name[-8:])
    root = Path("/data")
    assert personality_path(root, name).parent == (root / "personalities").resolve()


@given(ANY_TEXT, ANY_TEXT)
def test_two_slugs_never_share_a_folder(a: str, b: str) -> None:
    assume(a != b and a != safe_folder_name(b) and b != safe_folder_name(a))
    assert safe_folder_name(a) != safe_folder_name(b)


@given(ANY_TEXT, st.lists(ANY_TEXT, max_size=4))
def test_a_name_taken_by_another_folder_is_never_given(slug: str, taken: list[str]) -> None:
    try:
        name = safe_folder_name(slug, taken)
    except UnsafeNameError:
        return  # refused rather than shared
    assert name.casefold() not in {t.casefold() for t in taken}
