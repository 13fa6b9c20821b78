"""The memory walk: read a shape's newest-first memory pages and prove that the walk saw the whole list.

The service pages its memories by offset (``page``, ``limit``). A memory added at the top while a walk is
under way pushes the rest down (the next page repeats one: harmless); a memory deleted above the cursor
pulls the rest up (the next page skips one: data loss unless detected). A walk therefore only ends where
the list's own pagination says it ends, and only a walk that *certified* itself complete may record
upstream deletions (the engine asks :attr:`MemoryWalk.certified`).

Two ways to certify, chosen from the first answer of each pass:

- **total** (the service sends an item count, ``pagination.total``): a *frontier* F says "every memory
  that existed when the walk began and is still live sits below position F, or has been read". Between two
  requests every memory moves by at least the change of the total (new memories only arrive at the top),
  so F moves with it; a page is read in order only when it starts at or above F. A drop of the total opens a
  gap, and the walk reads the page(s) above F again. An undisturbed walk costs one request per page.
- **anchored** (no item count: ``has_next`` only, ``total_pages`` only, or nothing): the walk *brackets the
  list's length while walking* ("leapfrog"). Before reading page q, once it has reached its furthest probe,
  it probes page 2q; the first empty probe starts a binary search for the last page (``total_pages``, when
  sent, is probed first). Each probe that returns memories is an *anchor*: its first memory x sat exactly at
  the start of its page then. Every later boundary between two pages read in order shows how far memories
  moved down across it (the first memory of page q found at index i of page q-1 means a move of s - i; a
  deletion above the boundary shows no move at all). When the walk reaches an anchor's page, x must sit at
  least as far down as the moves counted since the probe; the length at the end is checked the same way
  against the bracket. A deletion above the cursor breaks one of these inequalities, so a skip can never
  pass. A walk of P pages costs P + at most 2·⌈log2 P⌉ + 3 requests.

A pass that cannot certify itself (a check failed, the list moved by more than a page at once) is followed
by another full pass that keeps everything already seen; after :data:`MAX_PASSES` the personality fails
with :class:`MemoryWalkError`. An empty page or a 404 where the pagination says the list goes on is retried
once, then explained (the list shrank: another pass) or reported (the personality fails). Every full walk
of more than one page ends with a *top-up* from page 1 to the first memory already read, which picks up
memories added while it walked. The walk's state is journaled after every request, so a killed walk resumes
where it stopped (plus the bracket).

Incremental walks keep their cost: page 1 onwards up to the first page holding a stored memory. They are
never certified unless the service sends a total and the frontier never opened a gap.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..archive.journal import Journal, PageRecord
from ..errors import MemoryWalkError, NotFoundError
from ..events import MemoryPageFetched, Reconciling
from .walk_bracket import (
    WalkState,
    boundary,
    check_anchors,
    check_length,
    claims_more,
    probe_due,
    says_more,
    take_in_order,
    take_probe,
)

if TYPE_CHECKING:
    from ..archive.personality import MemoryIndex
    from .engine import EngineCore as BackupEngine

__all__ = ["MAX_PASSES", "MemoryWalk", "WalkState", "window_deletions"]

Blocking = Callable[..., Awaitable[Any]]

#: A list that keeps changing under the walk gets new passes until they cost this many undisturbed walks
#: (a pass stops at its first failed check, so a short burst of deletions costs little); then the
#: personality fails (everything fetched is kept).
MAX_PASSES = 4
#: ... and never more passes than this, however cheap.
MAX_PASS_COUNT = 40
class _Ended(Exception):
    """Internal: the page read in order shows where the list ends."""


class MemoryWalk:
    """One walk over the memory pages of a shape, journaled request by request."""

    def __init__(
        self,
        engine: BackupEngine,
        slug: str,
        shape_id: str,
        journal: Journal,
        index: MemoryIndex,
        metadata: dict[str, Any],
        blocking: Blocking,
    ) -> None:
        self.engine = engine
        self.slug = slug
        self.shape_id = shape_id
        self.journal = journal
        self.index = index
        self.metadata = metadata
        self.blocking = blocking
        self.limit = engine.options.page_limit
        self.deleted = set(metadata.get("deletedUpstream") or {})
        journal.count_new(index.__contains__)
        self.st = WalkState.from_json(journal.walk_state) or WalkState(mode=journal.mode)
        if self.st.phase == "walk" and self.st.kind == "anchored" and self.st.mode != journal.mode:
            # an early-stop pass resumed as a full walk (--full): its pages so far were read without
            # anchors, so none of them can be certified; a fresh pass keeps them and starts over
            self.st = self.st.next_pass(0)
            self.st.mode = journal.mode
        #: a page read in order whose state line a kill (or cancel) prevented: accounted on resume
        self._replay = self._replayable(journal.trailing) if journal.walk_state else None

    # --- results -----------------------------------------------------------------------------------------

    @property
    def certified(self) -> bool:
        """True when the walk proved it saw every live memory: only then may deletions be recorded."""
        return self.st.certified and self.full

    @property
    def window_clean(self) -> bool:
        """An early-stop walk whose pages 1..q provably form one contiguous window of the list: a single
        page read in a single request (one snapshot: nothing can move within it), or pages whose totals
        kept the frontier from ever falling behind. Stored memories newer than the window's oldest that it
        did not meet are gone upstream."""
        st = self.st
        if st.disturbed or not st.in_order:
            return False
        single = st.in_order == 1 and st.requests == 1 and not self.journal.resumed
        return single or (st.kind == "total" and not st.gaps)

    @property
    def live_count(self) -> int | None:
        """How many memories the certified walk found live when it ended (None when not certified)."""
        return self.st.final_length if self.certified else None

    @property
    def full(self) -> bool:
        return self.journal.mode == "full"

    # --- the walk ----------------------------------------------------------------------------------------

    async def run(self) -> None:
        st = self.st
        if st.phase == "done" and self.journal.resumed:
            # the walk had ended, but the run that walked it never committed (cancelled or killed after the
            # last state line): memories added since then are picked up by another top-up before the commit
            st.phase = "topup"
        while st.phase != "done":
            if st.phase == "walk":
                outcome = await self._pass()
                st = self.st
                if outcome == "disturbed":
                    await self._another_pass()
                    st = self.st
                    continue
                if outcome == "known" and self._total_unexplained():
                    reason = "the server's total disagrees with what is stored"
                    await self.blocking(self.journal.switch_mode, "full", reason)
                    self.engine._emit(Reconciling(slug=self.slug, reason=reason))
                    continue  # the same pass goes on as a full walk: its frontier still holds
                if outcome == "end" and not st.disturbed and (self.full or st.kind == "total"):
                    st.certified = True
                    if not self.full:
                        # Every page was read without meeting a stored memory and the frontier proves the
                        # walk saw the whole list: that is a full walk already.
                        await self.blocking(
                            self.journal.switch_mode, "full", "the walk reached the end of the list"
                        )
                st.phase = "topup"
                await self._save()
            if st.phase == "topup":
                if self._needs_top_up():
                    await self._top_up()
                st.phase = "done"
                await self._save()

    async def _another_pass(self) -> None:
        st = self.st
        why = st.disturbed or "the list changed during the walk"
        if not self.full:
            # An early-stop walk is never certified: what it might have skipped, the next full walk finds.
            st.phase = "topup"
            await self._save()
            return
        pages = max(st.pages_seen, self._pages_estimate(), st.next_page, 10)
        budget = MAX_PASSES * (pages + 2 * math.ceil(math.log2(pages)) + 3)
        if st.spent + st.requests >= budget or st.passes >= MAX_PASS_COUNT:
            # the next run starts afresh (keeping everything fetched), not with this exhausted budget
            self.st = WalkState(mode=self.journal.mode)
            await self._save()
            raise MemoryWalkError(
                f"The memories of {self.slug!r} kept changing while they were read ({why}); after "
                f"{st.passes} full passes the backup could not prove it saw every memory, so it stopped "
                "instead of calling that complete.",
                url_path=f"/api/memory/{self.shape_id}",
            )
        self.st = st.next_pass(pages)
        await self._save()
        self.engine._emit(
            Reconciling(
                slug=self.slug,
                reason=f"the memory list changed during the walk ({why}): reading it again, keeping "
                "everything already read",
            )
        )

    async def _save(self) -> None:
        await self.blocking(self.journal.save_walk, self.st.to_json())

    # --- one pass ----------------------------------------------------------------------------------------

    async def _pass(self) -> str:
        """Read pages in order (with probes ahead, on the anchored kind) until the list ends ("end"), a
        page holds a stored memory on an early-stop walk ("known"), or the pass cannot certify itself
        ("disturbed")."""
        st = self.st
        while True:
            if st.requests > 3 * max(st.next_page, self._pages_estimate()) + 40:
                st.disturbed = st.disturbed or "the pages kept moving under the walk"
                return "disturbed"
            if st.disturbed and (self.full or st.kind == "total"):
                return "disturbed"
            if st.kind == "anchored" and self.full:
                probe = probe_due(st, self.limit)
                if probe is not None:
                    await self._probe(probe)
                    continue
            record = self._replay or await self._read_in_order(st.next_page)
            self._replay = None
            if record is None:  # the list shrank under the walk
                return "disturbed"
            if st.kind == "" and self._shape_only(record):
                await self._save()
                continue
            try:
                if st.kind == "total":
                    self._account_total(record)
                else:
                    self._account_anchored(record)
            except _Ended:
                await self._save()
                return "disturbed" if st.disturbed else "end"
            await self._save()
            if st.disturbed and (self.full or st.kind == "total"):
                return "disturbed"
            # An early-stop walk without a total goes on to its first stored memory even when the list moved
            # under it (a burst of new memories repeats a page): it is not certified anyway, and what it
            # stopped short of would wait for the next run although it was live all along.
            if not self.full and any(mid in self.index for mid in record.ids):
                return "known"

    def _replayable(self, trailing: list[PageRecord]) -> PageRecord | None:
        """The one page read in order after the last saved state, when it can be accounted as if it had just
        arrived (a plain page with memories: anything else is simply read again)."""
        st = self.st
        if len(trailing) != 1 or st.phase != "walk" or not st.kind:
            return None
        record = trailing[0]
        if record.role != "walk" or record.page != st.next_page or not record.raw_count:
            return None
        return record

    def _shape_only(self, record: PageRecord) -> bool:
        """Decide from the pass's first answer how it certifies itself. True when that answer only told
        the shape: a full walk without a total reads page 1 again in order after its first probe, so that
        every boundary it crosses is watched by an anchor."""
        st = self.st
        if record.total is not None and not record.not_found:
            st.kind = "total"
            return False
        st.kind = "anchored"
        if not self.full or not says_more(self.limit, record):
            return False
        st.furthest = 1
        st.pages_hint = record.total_pages
        return True

    # --- the total kind ----------------------------------------------------------------------------------

    def _account_total(self, record: PageRecord) -> None:
        """Move the frontier by the change of the total, then extend it over the page when the page starts
        at or above it. Raises :class:`_Ended` once the frontier covers the whole list."""
        st = self.st
        total = record.total
        if total is None:
            st.disturbed = "the service stopped sending its total"
            raise _Ended
        # (a page that repeats the one before it needs no check here: the frontier moved with the total)
        delta = total - st.last_total if st.last_total is not None else 0
        frontier = max(0, st.frontier + delta)
        start = (record.page - 1) * self.limit
        if start <= frontier and not st.disturbed:
            frontier = max(frontier, start + record.raw_count)
        else:
            st.gaps += 1
        st.frontier, st.last_total = frontier, total
        take_in_order(st, record, 0, self.limit)
        if frontier >= total:
            st.final_length = total
            raise _Ended
        st.next_page = frontier // self.limit + 1

    # --- the anchored kind (the bracket itself is in walk_bracket.py) ----------------------------------

    async def _probe(self, page: int) -> None:
        take_probe(self.st, await self._fetch(page, role="probe"), self.limit)
        await self._save()

    def _account_anchored(self, record: PageRecord) -> None:
        """Count the move across the boundary into this page, check the anchors on it, and at the end of the
        list check its length against the bracket. Raises :class:`_Ended` at the end of the list."""
        moves = boundary(self.st, record)
        take_in_order(self.st, record, moves, self.limit)
        if self.full:
            check_anchors(self.st, record)
        if not says_more(self.limit, record):
            st = self.st
            st.final_length = (record.page - 1) * self.limit + record.raw_count
            if self.full:
                check_length(self.st, record, self.limit)
            raise _Ended

    # --- reading -----------------------------------------------------------------------------------------

    async def _read_in_order(self, page: int) -> PageRecord | None:
        """Read ``page`` in order. An empty page or a 404 where the list should go on is retried once; then,
        when the page before now ends the list, the list shrank (None: this pass cannot certify); otherwise
        the service contradicts itself and the personality fails (:class:`MemoryWalkError`). On page 1 a
        404 means "no memories" only on a full walk, and only when it says so twice."""
        record = await self._fetch(page)
        if record.raw_count and not record.not_found:
            return record
        if page == 1:
            if record.not_found and not self.full:
                return record  # proves nothing to an early-stop walk (it records nothing from it)
            # without any pagination, an empty page 1 is no evidence of an empty list to a full walk
            bare = record.has_next is None and record.total is None and record.total_pages is None
            doubt = (self.full and bare) or record.not_found or claims_more(self.limit, record, 2)
            if doubt or len(self.index):
                record = await self._fetch(page)  # "no memories" only when it says so twice
                if record.raw_count and not record.not_found:
                    return record
                if claims_more(self.limit, record, 2):
                    raise MemoryWalkError(
                        f"Memory page 1 of {self.slug!r} came back empty twice although its pagination says "
                        "more pages follow. The backup stopped instead of calling the list empty.",
                        url_path=f"/api/memory/{self.shape_id}",
                    )
            return record
        if not record.not_found and not self._expected_more(page, record):
            return record  # a plain end of the list (e.g. an exact multiple of the page size)
        what = "answered 404" if record.not_found else "came back empty"
        record = await self._fetch(page)
        if record.raw_count and not record.not_found:
            return record
        before = await self._fetch(page - 1, role="reread")
        if before.raw_count and not says_more(self.limit, before):
            self.st.disturbed = f"the list shrank to {page - 1} pages during the walk"
            return None
        totals = {t for t in (self.st.last_total, record.total, before.total) if t is not None}
        if not record.not_found and not self._expected_more(page, record) and len(totals) > 1:
            # the retry's own pagination ends the list before this page and the totals moved between the
            # answers: the list shrank and grew again while the page was retried, nothing contradicted itself
            self.st.disturbed = f"the list changed length while page {page} was retried"
            return None
        raise MemoryWalkError(
            f"Memory page {page} of {self.slug!r} {what} twice although the list goes on (page {page - 1} "
            "says more follow). The backup stopped instead of calling that the end of the list.",
            url_path=f"/api/memory/{self.shape_id}",
        )

    def _expected_more(self, page: int, record: PageRecord) -> bool:
        """Does the pagination say that ``page``, which came back empty, should hold memories?"""
        if claims_more(self.limit, record, page):
            return True
        has_claims = record.has_next is not None or record.total is not None or record.total_pages is not None
        return not has_claims and self.st.prev_claim

    async def _fetch(self, page: int, *, role: str = "walk") -> PageRecord:
        """Fetch one page and journal it before anything else looks at it. A 404 comes back as an empty
        record with ``not_found`` set (what it means depends on where it happened)."""
        not_found = False
        try:
            got = await self.engine.client.get_memory_page(self.shape_id, page, limit=self.limit)
            items, has_next, total_pages, total = got.items, got.has_next, got.total_pages, got.total
            not_found = bool(getattr(got, "not_found", False))
        except NotFoundError:
            items, has_next, total_pages, total, not_found = [], None, None, None, True
        if not_found:
            items, has_next, total_pages, total = [], None, None, None
        record: PageRecord = await self.blocking(
            lambda: self.journal.add_page(
                page, items, has_next=has_next, total_pages=total_pages, total=total,
                top_up=role == "topup", role=role,
            )
        )
        record.not_found = not_found
        self.st.requests += 1
        self.engine._emit(
            MemoryPageFetched(
                slug=self.slug,
                page=page,
                memories_done=len(self.journal.items),
                new_so_far=self.journal.new_count,
                expected=self.journal.last_total,
                reconciling=self.full,
            )
        )
        return record

    # --- top-up ------------------------------------------------------------------------------------------

    def _needs_top_up(self) -> bool:
        st = self.st
        if self.full:
            if st.final_length == 0 and not self.journal.items:
                return False  # an empty list, said twice: the last answer was page 1 itself
            return st.requests > 1 or self.journal.resumed
        return self.journal.resumed or len(set(self.journal.totals)) > 1 or st.moves > 0

    async def _top_up(self) -> None:
        """Pick up memories added upstream since the walk began: from page 1 down to the first memory the
        walk had read (or that was stored). A memory met on the top-up's own previous page does not count:
        a memory added meanwhile pushes it onto the next page, above memories nobody has read yet."""
        before = set(self.journal.items)
        page, total, restarts = 1, None, 0
        while True:
            record = await self._fetch(page, role="topup")
            if self.st.final_length is not None:
                self.st.final_length += record.unseen
            if record.total is not None and total is not None and record.total < total and restarts < 3:
                # the total dropped between two pages of the top-up: a deletion above the boundary pulled
                # unread memories up into a page it had read; read again from page 1 (only when it happens)
                page, total, restarts = 1, None, restarts + 1
                continue
            total = record.total
            if (
                record.raw_count == 0
                or any(mid in before or mid in self.index for mid in record.ids)
                or not says_more(self.limit, record)
            ):
                return
            page += 1

    # --- decisions ---------------------------------------------------------------------------------------

    def _pages_estimate(self) -> int:
        st = self.st
        size = st.last_total if st.last_total is not None else (st.length[0] if st.length else 0)
        return math.ceil(size / self.limit) if size else 0

    def _total_unexplained(self) -> bool:
        total = self.journal.last_total
        if total is None:
            return False
        live = sum(1 for e in self.index.entries if e.id not in self.deleted)
        if self.window_clean:
            live -= len(window_deletions(self.index, self.journal, self.deleted))
        new = self.journal.new_count
        offset = int(self.metadata.get("totalOffset") or 0)
        return live + new + offset != total


def window_deletions(index: MemoryIndex, journal: Journal, already: Iterable[str]) -> list[str]:
    """Stored memories that an early-stop walk proves deleted upstream, at no extra request.

    Pages 1..q are one contiguous newest-first window of the server's list (the caller checks that the walk
    proved it: :attr:`MemoryWalk.window_clean`). A stored memory strictly newer than the oldest memory of
    that window must have been in it; when it was not, it is gone upstream. (Ties on the boundary timestamp
    are left alone: the service may order them differently.)"""
    if not journal.items:
        return []
    oldest = min(item.ts for item in journal.items.values())
    known_deleted = set(already)
    gone: list[str] = []
    for entry in reversed(index.entries):  # chronological: walk back from the newest
        if entry.ts <= oldest:
            break
        if entry.id not in journal.items and entry.id not in known_deleted:
            gone.append(entry.id)
    return gone
