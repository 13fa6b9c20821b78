"""Memories as lorebook entries of a character card, so a front-end recalls them when they come up.

Each chosen memory becomes one entry: its text is the content, its keys are the memory's most distinctive
words. "Distinctive" is TF-IDF over the chosen memories: a word scores by how often it occurs in this memory
and how rarely in the others, so "tea" keys the one memory about tea and not the hundred that all say
"talked". Stop words (English function words and the chat filler every memory shares: "user", "talked",
"discussed"...), the personality's own name, numbers and words under three letters (two for CJK
ideographs) never become keys; a capitalised word (a name, a place) counts a little more. Words keep their
letters in any script.

Which memories: :class:`MemoryChoice` is none, all, or the newest N (by the memory's time). Memories flagged
``deleted: true`` are left out (their owner deleted them); memories deleted upstream are kept (the backup
is the only copy left). The memory files are read one at a time; only the chosen memories are held.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import TzBackupError
from ..model.memory import memory_id, memory_text, memory_ts
from .export_common import failure_reason, ts_text
from .personality import PersonalityArchive

__all__ = ["MAX_KEYS", "MemoryChoice", "memory_book_entries", "memory_keys", "parse_memory_choice"]

#: Keys per memory entry: enough to catch the topic, few enough not to fire on every message.
MAX_KEYS = 5
_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]{3,}", re.UNICODE)
_STOP = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each even ever few for from further get got
had has have having he her here hers herself him himself his how however i if in into is it its itself
just let like made make many may me might more most much must my myself no nor not now of off often on
once one only or other our ours ourselves out over own per perhaps quite rather really said same say says
she should since so some such than that the their theirs them themselves then there these they thing
things this those though through thus to too under until up upon us very via was way we well were what
when where whether which while who whom whose why will with within without would yet you your yours
yourself yourselves also again always another around away back came come comes coming didn don doesn
isn wasn weren won wouldn shouldn couldn hasn haven hadn ll ve re
user users shape bot assistant talked talk talking talks discussed discuss discussing discussion
conversation conversations chat chatted chatting mentioned mention mentions asked ask asks asking told
tell tells telling shared share shares sharing expressed express expresses said saying spoke speak
speaking replied reply responded response something someone anything everything nothing time times today
yesterday tomorrow day days week weeks month months year years feel feels feeling felt think thinks
thought want wants wanted going went gone know knows knew new old good great bit lot lots
""".split())  # noqa: SIM905 (a word list reads best as text)


@dataclass(frozen=True)
class MemoryChoice:
    """Which memories go into the lorebook: ``newest`` None = all, 0 = none, N = the newest N."""

    newest: int | None = 0

    @property
    def wanted(self) -> bool:
        return self.newest != 0

    def describe(self) -> str:
        if self.newest is None:
            return "all memories"
        return "no memories" if self.newest == 0 else f"the newest {self.newest} memories"


def parse_memory_choice(text: str) -> MemoryChoice:
    """``none`` | ``all`` | a whole number N ≥ 0 (the newest N); anything else raises ``ValueError``."""
    value = text.strip().lower()
    if value in ("none", "0", ""):
        return MemoryChoice(0)
    if value == "all":
        return MemoryChoice(None)
    if value.isdigit():
        return MemoryChoice(int(value))
    raise ValueError(f"{text!r} is not none, all or a number of memories")


def _words(text: str) -> Iterator[tuple[str, bool]]:
    """``(folded word, capitalised)`` for every candidate word of ``text``."""
    for match in _WORD.finditer(text):
        word = match.group().strip("'’-")
        folded = word.casefold()
        shortest = 2 if "\u2e80" <= folded[:1] <= "\ufaff" else 3  # two ideographs make a word (東京)
        if len(folded) >= shortest and folded not in _STOP:
            yield folded, word[:1].isupper()


def memory_keys(
    text: str, doc_freq: collections.Counter[str], docs: int, *, exclude: Iterable[str] = (),
    limit: int = MAX_KEYS,
) -> list[str]:
    """The ``limit`` most distinctive words of ``text`` (TF-IDF against ``doc_freq`` over ``docs``
    memories), best first; ties go to the word met first."""
    skip = {w.casefold() for w in exclude}
    counts: collections.Counter[str] = collections.Counter()
    capital: set[str] = set()
    order: dict[str, int] = {}
    for word, cap in _words(text):
        if word in skip:
            continue
        counts[word] += 1
        order.setdefault(word, len(order))
        if cap:
            capital.add(word)
    scored = []
    for word, tf in counts.items():
        # a word in every memory keeps a small weight, so a single memory still gets its frequent words
        idf = math.log((1 + docs) / (1 + doc_freq.get(word, 0))) + 0.1
        scored.append((-(tf * idf * (1.25 if word in capital else 1.0)), order[word], word))
    return [word for _, _, word in sorted(scored)[:limit]]


def _chosen(archive: PersonalityArchive, choice: MemoryChoice, notes: list[str]) -> list[dict[str, Any]]:
    """The chosen memories, oldest first (one memory file in RAM at a time besides them)."""
    keep: collections.deque[dict[str, Any]] = collections.deque(maxlen=choice.newest)
    for _, name in archive.chunk_files():
        try:
            memories = archive.load_chunk(name)
        except (OSError, TzBackupError) as err:
            notes.append(f"memory file {name} left out of the lorebook: {failure_reason(err)}")
            continue
        memories = [m for m in memories if m.get("deleted") is not True and memory_text(m).strip()]
        memories.sort(key=memory_ts)  # stable: files are chronological already
        keep.extend(memories)
    return list(keep)


def memory_book_entries(
    archive: PersonalityArchive, choice: MemoryChoice, *, exclude: Iterable[str] = ()
) -> tuple[list[dict[str, Any]], list[str]]:
    """Lorebook entries (V2 fields; the card adds ``insertion_order`` and ``id``) for the chosen memories,
    oldest first, and notes (files that could not be read). ``exclude``: words never used as keys (the
    personality's name)."""
    notes: list[str] = []
    if not choice.wanted:
        return [], notes
    chosen = _chosen(archive, choice, notes)
    doc_freq: collections.Counter[str] = collections.Counter()
    for raw in chosen:
        doc_freq.update({word for word, _ in _words(memory_text(raw))})
    excluded = [w for name in exclude for w, _ in _words(name)]
    entries = []
    for raw in chosen:
        when = ts_text(memory_ts(raw)) or "undated"
        keys = memory_keys(memory_text(raw), doc_freq, len(chosen), exclude=excluded)
        entries.append({
            "keys": keys,
            "content": memory_text(raw),
            "extensions": {"tzbackup": {"memoryId": memory_id(raw), "ts": memory_ts(raw) or None,
                                        "summary_type": raw.get("summary_type")}},
            "enabled": True,
            "constant": False,
            "selective": False,
            "secondary_keys": [],
            "case_sensitive": False,
            "name": f"Memory {when}",
            "comment": f"Memory of {when} (saved from shapes.inc by tzbackup)",
            "position": "after_char",
        })
    unkeyed = sum(1 for e in entries if not e["keys"])
    if unkeyed:
        notes.append(f"{unkeyed} memories have no distinctive word to key on; they stay in the lorebook "
                     "but a front-end recalls them only through their other settings")
    return entries, notes
