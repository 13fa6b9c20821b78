"""The memories worth showing the model for one turn: full-text retrieval over the backup's search index.

The index (:mod:`tzbackup_gui.archive.index`, SQLite FTS5) already holds every memory's text. A turn's
message becomes an OR query of its distinctive words: stop words and very short words are dropped, then the
words that occur in more than :data:`COMMON_SHARE` of all indexed records (the personality's own name, "user":
they rank nothing, and one of them alone made a turn take 200 ms at 100,000 memories, since BM25 scores every
match) and words the index has never seen; of the rest the :data:`MAX_TERMS` rarest are kept (document counts
from an ``fts5vocab`` table in the connection's ``temp`` schema: nothing is written to the index). FTS5's BM25
ranks the matches; the best memories are taken in rank order while they fit the token budget (one that does
not fit is skipped, a shorter one further down may still fit). Memories flagged ``deleted: true`` are left
out; memories deleted upstream are kept (the backup exists to keep them).

The search uses the index's own SQLite connection on one dedicated thread (a connection must stay on the
thread that opened it), so callers on the event loop ``await`` :meth:`MemoryRetriever.retrieve` without
blocking it.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..archive.browse import resolve_source
from ..archive.index import SearchIndex
from ..errors import SearchIndexError

__all__ = ["MAX_TERMS", "MemoryRetriever", "RetrievedMemory", "estimate_tokens", "query_terms"]

T = TypeVar("T")
#: words of a message that go into one query: the rarest ones
MAX_TERMS = 12
#: a word in more than this share of all indexed records says nothing about relevance
COMMON_SHARE = 0.2
#: ranked candidates looked at per turn (enough to fill any sensible budget)
CANDIDATES = 60
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP_WORDS = """
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
off on once only or other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up very was we were what
when where which while who whom why will with would you your yours yourself yourselves hi hey hello yes yeah
okay ok please thanks thank tell know think like really also still just get got let lets im ive dont cant
"""
_STOP = frozenset(_STOP_WORDS.split())


def estimate_tokens(text: str) -> int:
    """A model-independent estimate: about four characters per token (never 0 for non-empty text)."""
    return (len(text) + 3) // 4


def query_terms(text: str) -> list[str]:
    """The words of ``text`` as the index's tokenizer stores them (lowercase, without diacritics), in order,
    without repeats, stop words, numbers or words under three letters."""
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(ch))
    seen: dict[str, None] = {}
    for word in _WORD.findall(plain):
        if len(word) >= 3 and word not in _STOP and not word.isdigit():
            seen.setdefault(word, None)
    return list(seen)


@dataclass(frozen=True)
class RetrievedMemory:
    """One memory chosen for a turn: where it lives (to open it in the browser) and its text."""

    id: str
    ts: float
    text: str
    path: Path
    pos: int
    tokens: int


_SQL = (
    "SELECT d.memory_id, d.ts, f.rel, d.pos, fts.text FROM fts "
    "JOIN docs d ON d.id = fts.rowid JOIN files f ON f.id = d.file_id "
    "WHERE fts MATCH ? AND d.folder = ? AND d.kind = 'memory' AND d.deleted = 0 "
    "ORDER BY rank LIMIT ?"
)


class MemoryRetriever:
    """Retrieval for one personality folder of a data dir. Open it (brings the index up to date), use it,
    close it; all index work happens on the retriever's own thread."""

    def __init__(self, data_dir: Path, folder: str) -> None:
        self.data_dir = data_dir
        self.folder = folder
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="talk-retrieval")
        self._index: SearchIndex | None = None
        self._records = 0  # records in the index when it was opened (for COMMON_SHARE)

    async def _run(self, func: Callable[[], T]) -> T:
        # through to_thread, like every other blocking call: the loop's own executor waits for the retriever's
        # thread (under qasync a future of a foreign executor would call back into the loop from that thread)
        return await asyncio.to_thread(lambda: self._executor.submit(func).result())

    def open_blocking(self) -> None:
        """Open the index and index what changed since (blocking; on the retriever's thread only)."""
        if self._index is None:
            try:
                self._index = SearchIndex(resolve_source(self.data_dir))
                self._index.update()
            except sqlite3.DatabaseError as err:  # e.g. locked by an indexer for longer than busy_timeout
                raise SearchIndexError(f"Could not open the search index of {self.data_dir}: {err}.") from err
            conn = self._index.conn
            conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.talk_vocab "
                         "USING fts5vocab(main, 'fts', 'row')")
            self._records = int(conn.execute("SELECT count(*) FROM docs").fetchone()[0])

    def _distinctive(self, terms: list[str]) -> list[str]:
        """The :data:`MAX_TERMS` rarest of ``terms`` that occur in the index but not in most records."""
        assert self._index is not None
        marks = ", ".join("?" * len(terms))
        counts = dict(self._index.conn.execute(
            f"SELECT term, doc FROM temp.talk_vocab WHERE term IN ({marks})", terms).fetchall())
        limit = max(50, int(self._records * COMMON_SHARE))
        found = [t for t in terms if 0 < counts.get(t, 0) <= limit]
        return sorted(found, key=lambda t: counts[t])[:MAX_TERMS]

    async def open(self) -> None:
        await self._run(self.open_blocking)

    def search_blocking(self, text: str, budget_tokens: int) -> list[RetrievedMemory]:
        """The memories for ``text`` within ``budget_tokens`` (blocking; on the retriever's thread only)."""
        terms = query_terms(text)
        if not terms or budget_tokens <= 0:
            return []
        self.open_blocking()
        assert self._index is not None
        try:
            terms = self._distinctive(terms)
            if not terms:
                return []
            query = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
            rows = self._index.conn.execute(_SQL, (query, self.folder, CANDIDATES)).fetchall()
        except sqlite3.DatabaseError as err:
            raise SearchIndexError(f"Could not search the memories of {self.folder}: {err}.") from err
        chosen: list[RetrievedMemory] = []
        left = budget_tokens
        for mid, ts, rel, pos, body in rows:
            tokens = estimate_tokens(body)
            if tokens <= left:
                chosen.append(RetrievedMemory(str(mid), float(ts), str(body), self._index.source.root / rel,
                                              int(pos), tokens))
                left -= tokens
            if left < 16:
                break
        return chosen

    def search_on_thread(self, text: str, budget_tokens: int) -> list[RetrievedMemory]:
        """:meth:`search_blocking` from any thread (waits for the retriever's thread); for benchmarks."""
        return self._executor.submit(self.search_blocking, text, budget_tokens).result()

    async def retrieve(self, text: str, budget_tokens: int) -> list[RetrievedMemory]:
        return await self._run(lambda: self.search_blocking(text, budget_tokens))

    def _close_blocking(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    async def close(self) -> None:
        """Close the index and wait for the retriever's thread to end (none is left behind a closed loop)."""
        await self._run(self._close_blocking)
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    def close_blocking(self) -> None:
        """Close from a thread without an event loop (the CLI's exit path, tests)."""
        self._executor.submit(self._close_blocking).result()
        self._executor.shutdown(wait=True)
