"""The bracket of a memory walk without an item total, and the walk's journaled state.

What changes here is *how a walk proves it saw the whole list* when the service sends no item count: the
leapfrog probes ahead of the walk, the binary search for the last page, the anchors checked where the walk
reaches a probed page, the moves counted at page boundaries, and the length check at the end (``walk.py``
says why this works). These are plain functions over :class:`WalkState` and the :class:`PageRecord` of one
answer: no request is made here. ``walk.py`` makes the requests, journals the state and decides what a
failed check costs (another pass).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..archive.journal import PageRecord

__all__ = [
    "PENDING", "WalkState", "boundary", "check_anchors", "check_length", "claims_more", "probe_due",
    "says_more", "take_in_order", "take_probe",
]

#: a probe's count of moves, until the next page read in order fixes it (see ``take_in_order``)
PENDING = -1


@dataclass
class WalkState:
    """Everything the walk needs to resume; journaled after every request (see ``Journal.save_walk``)."""

    passes: int = 1  # which pass over the list this is
    mode: str = ""  # the journal's mode when this pass began ("incremental" passes set no anchors)
    spent: int = 0  # memory-page requests of the earlier passes
    pages_seen: int = 0  # the longest the list was seen to be, in pages (sizes the retry budget)
    phase: str = "walk"  # walk | topup | done
    kind: str = ""  # "" until the pass's first answer, then "total" or "anchored"
    next_page: int = 1  # the next page this pass reads in order
    prev_slots: list[str] = field(default_factory=list)  # ids of the last page read in order
    prev_claim: bool = False  # its pagination said that more pages follow
    in_order: int = 0  # pages this pass has read in order
    requests: int = 0  # memory-page requests of this pass
    disturbed: str = ""  # why this pass cannot certify itself (empty: so far it can)
    gaps: int = 0  # total kind: times the frontier fell behind the page read
    certified: bool = False
    final_length: int | None = None  # the list's length where the pass ended it (plus what the top-up added)
    # total kind
    frontier: int = 0
    last_total: int | None = None
    # anchored kind
    moves: int = 0  # downward moves seen at page boundaries during this pass
    anchors: list[list[Any]] = field(default_factory=list)  # [page, first id, moves at the probe]
    furthest: int = 0  # furthest page probed that holds memories and says more follow
    pages_hint: int | None = None  # total_pages as the service sent it, probed first
    hint_probed: bool = False
    beyond: int | None = None  # lowest probed page that was empty
    beyond_moves: int = 0
    beyond_confirmed: int | None = None  # the empty page that closes the bracket, asked a second time
    anchored_end: int = 0  # the last page whose anchor check passed
    length: list[int] | None = None  # [length bound, moves when it was measured] once bracketed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> WalkState | None:
        if not isinstance(data, dict):
            return None
        try:
            names = set(cls.__dataclass_fields__)
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError:
            return None

    def next_pass(self, pages: int) -> WalkState:
        """A fresh pass (numbered one more); the pages already fetched stay in the journal."""
        return WalkState(
            passes=self.passes + 1, mode=self.mode, spent=self.spent + self.requests,
            pages_seen=max(self.pages_seen, pages),
        )


def says_more(limit: int, record: PageRecord) -> bool:
    """Does the list go on after this page? The pagination says so; without any, a full page does. An
    empty page ends it (``MemoryWalk._read_in_order`` has already dealt with one that should not be empty)."""
    if record.not_found or not record.raw_count:
        return False
    if record.has_next is not None:
        return record.has_next
    if record.total is not None:
        return record.page * limit < record.total
    if record.total_pages is not None:
        return record.page < record.total_pages
    return record.raw_count >= limit


def claims_more(limit: int, record: PageRecord, page: int) -> bool:
    """Does ``record``'s pagination (not a guess from its size) say that ``page`` holds memories?"""
    if record.has_next is not None and page == record.page + 1:
        return record.has_next
    if record.has_next is True and page == record.page:
        return True
    if record.total is not None:
        return (page - 1) * limit < record.total
    if record.total_pages is not None:
        return page <= record.total_pages
    return False


def boundary(st: WalkState, record: PageRecord) -> int:
    """How far memories moved down across the boundary into ``record`` since the page before it was
    read: its first memory found at index i of that page means s - i. A page that only repeats the one
    before it moved by a page or more, which no count can certify."""
    first = record.slots[0] if record.slots else ""
    if not st.prev_slots or not first or first not in st.prev_slots:
        return 0
    moves = len(st.prev_slots) - st.prev_slots.index(first)
    if moves >= len(st.prev_slots) and record.page > 1:
        st.disturbed = st.disturbed or f"page {record.page} only repeated the page before it"
    return moves


def take_in_order(st: WalkState, record: PageRecord, moves: int, limit: int) -> None:
    """Account a page read in order: the moves across its boundary, and where the walk goes next."""
    st.moves += moves
    # Probes answered since the last page read in order count moves from this page's boundary on: a
    # memory added before the probe was answered moved this boundary too, and this boundary is watched
    # by an older anchor (on this very page) or by none being needed (page 1).
    for anchor in st.anchors:
        if anchor[2] == PENDING:
            anchor[2] = st.moves
    if st.length is not None and st.length[1] == PENDING:
        st.length[1] = st.moves
    if st.beyond_moves == PENDING:
        st.beyond_moves = st.moves
    st.prev_slots = list(record.slots)
    st.prev_claim = claims_more(limit, record, record.page + 1)
    st.in_order += 1
    st.next_page = record.page + 1


def check_anchors(st: WalkState, record: PageRecord) -> None:
    """Check the anchors probed on this page: each first memory sits at least as far down as the moves
    counted since its probe, or this pass cannot certify itself."""
    keep: list[list[Any]] = []
    for anchor in st.anchors:
        page, first, moves_then = int(anchor[0]), str(anchor[1]), int(anchor[2])
        if page != record.page:
            keep.append(anchor)
            continue
        moved = st.moves - moves_then
        at = record.slots.index(first) if first in record.slots else None
        if at is None or at < moved:
            st.disturbed = st.disturbed or f"page {page} no longer starts where the walk expected"
        else:
            st.anchored_end = page
    st.anchors = keep


def check_length(st: WalkState, record: PageRecord, limit: int) -> None:
    """At the end of the list: its length must exceed the bracket's bound by the moves counted since."""
    if st.in_order <= 1 and not st.anchors and st.length is None:
        return  # one page read once: nothing could move
    if st.anchored_end == record.page:
        return  # an anchor on this last page passed: every boundary up to it is watched
    length = (record.page - 1) * limit + record.raw_count
    if st.length is None:
        st.disturbed = st.disturbed or "the list ended before its length was bracketed"
        return
    bound, moves_then = st.length
    if length - bound < st.moves - moves_then:
        st.disturbed = st.disturbed or "the list is shorter than the memories that moved down explain"


def probe_due(st: WalkState, limit: int) -> int | None:
    """The page to probe before reading ``next_page`` in order, or None: ``total_pages`` first when the
    service sends it, the binary search for the last page once a probe came back empty, and the
    leapfrog (page 2q once the walk reaches its furthest probe q) all along, so that a deletion is
    caught at the next anchor rather than at the end of the list."""
    if st.length is None and st.beyond is not None:
        low, high = st.furthest, st.beyond
        if high - low > 1:
            return (low + high) // 2
        if st.beyond_confirmed != high:
            # the empty answer that closes the bracket is asked again: one empty page served by mistake
            # would otherwise set a bound below the real length, and no anchor would watch the rest
            st.beyond_confirmed = high
            return high
        # page ``low`` holds memories and says more follow, page ``high`` was empty: when that empty
        # probe was answered the list held at most low·s memories (an upper bound is all the check needs)
        st.length = [low * limit, st.beyond_moves]
    if st.length is None and st.pages_hint and st.pages_hint > 1 and not st.hint_probed:
        st.hint_probed = True
        return st.pages_hint
    if st.next_page < st.furthest:
        return None
    page = 2 * max(st.next_page, st.furthest, 1)
    last = math.ceil(st.length[0] / limit) if st.length is not None else None
    if last is not None and page >= last:
        return None  # the bracket is closed and its last page is an anchor already
    return page


def take_probe(st: WalkState, record: PageRecord, limit: int) -> None:
    """Take what a probe of ``record.page`` said: an anchor, the furthest page known to go on, or a bound
    of the bracket."""
    page = record.page
    if record.raw_count == 0:  # empty or 404: the list ends before this page (for now)
        inside = st.length is not None and (page - 1) * limit < st.length[0]
        if inside or page <= st.furthest:
            # the bracket (or an earlier probe) says this page holds memories: the list shrank, or the
            # service contradicts itself; this pass cannot certify
            st.disturbed = st.disturbed or f"probed page {page} came back empty inside the list"
        elif st.beyond is None or page <= st.beyond:
            st.beyond, st.beyond_moves = page, st.moves
    else:
        first = record.slots[0]
        if first:
            st.anchors.append([page, first, st.moves])
        if says_more(limit, record):
            st.furthest = max(st.furthest, page)
            if st.beyond is not None and st.beyond <= st.furthest:
                st.beyond = None  # the list grew past an earlier empty probe: bracket again
        else:
            st.length = [(page - 1) * limit + record.raw_count, st.moves]
