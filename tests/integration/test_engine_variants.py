"""Every pagination / envelope / timestamp variant of the memory endpoint gives the same backup."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tzbackup_gui.archive import verify_backup
from tzbackup_gui.sandbox import SandboxServer

from .engine_support import Runner, max_pages, sandbox, stored_ids, upstream_ids

__all__ = ["sandbox"]

SLUG = "eng-variant"
PAGINATIONS = ["has_next", "total_pages", "totalPages", "meta", "none"]
# A bare array carries no pagination, so it only combines with "none".
VARIANTS = [(k, p) for k in ("items", "memories") for p in PAGINATIONS] + [("bare", "none")]


@pytest.mark.parametrize(("items_key", "pagination"), VARIANTS)
def test_variant_first_and_incremental(
    sandbox: SandboxServer, tmp_path: Path, items_key: str, pagination: str
) -> None:
    sandbox.state.set_variant(items_key=items_key, pagination=pagination)
    sandbox.state.add_personality(SLUG, memories=130)  # 6.5 pages: the last page is short
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG])
    assert report.exit_code == 0, report.results
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)
    # 7 pages, + 1 top-up read of page 1 where the service sends a total. Without one, the walk brackets
    # the list's length while walking (probes ahead, a binary search for the last page), which watches for
    # deletions during the walk (test_deletion_during_walk_without_total_skips_nothing): at most
    # P + 2·ceil(log2 P) + 3 requests.
    assert runner.memory_requests() <= (8 if pagination != "none" else 7 + 2 * math.ceil(math.log2(7)) + 3)
    sandbox.state.add_memories(SLUG, 25)
    report = runner.run([SLUG])
    assert report.results[0].new == 25
    assert runner.memory_requests() <= max_pages(25)
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)
    assert verify_backup(runner.folder(SLUG)).ok


@pytest.mark.parametrize("pagination", ["has_next", "none"])
def test_exact_multiple_of_page_size(sandbox: SandboxServer, tmp_path: Path, pagination: str) -> None:
    sandbox.state.set_variant(pagination=pagination, include_total=False)
    sandbox.state.add_personality(SLUG, memories=60)
    runner = Runner(sandbox, tmp_path)
    assert runner.run([SLUG]).exit_code == 0
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)


def test_created_at_top_level(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.set_variant(created_at="top")
    sandbox.state.add_personality(SLUG, memories=45)
    runner = Runner(sandbox, tmp_path)
    assert runner.run([SLUG]).exit_code == 0
    assert stored_ids(runner.folder(SLUG)) == upstream_ids(sandbox, SLUG)
    assert verify_backup(runner.folder(SLUG)).ok


def test_no_memories_at_all(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.add_personality(SLUG, memories=0)
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG])
    assert report.exit_code == 0 and report.results[0].total == 0
    assert runner.memory_requests() == 1
    meta = runner.metadata(SLUG)
    assert meta["totalMemories"] == 0 and meta["lastMemoryId"] is None
    assert verify_backup(runner.folder(SLUG)).ok


@pytest.mark.parametrize(
    "variant",
    [
        {"pagination": "has_next", "include_total": False},
        {"pagination": "none", "include_total": False},
        {"items_key": "bare", "pagination": "none"},
    ],
)
def test_deletion_during_walk_without_total_skips_nothing(
    sandbox: SandboxServer, tmp_path: Path, variant: dict[str, object]
) -> None:
    """No total means page numbers can't reveal a deletion mid-walk; the boundary re-read must."""
    sandbox.state.set_variant(**variant)  # type: ignore[arg-type]
    sandbox.state.add_personality(SLUG, memories=200)
    fired: set[int] = set()

    def hook(record: object) -> None:
        page = int(getattr(record, "query", {}).get("page", "0") or 0)
        if not getattr(record, "path", "").startswith("/api/memory/") or page != 5 or page in fired:
            return
        fired.add(page)
        for mid in upstream_ids(sandbox, SLUG)[-10:-5]:  # five memories on page 1: the rest moves up by 5
            sandbox.state.delete_memory(SLUG, mid)

    sandbox.state.hooks.append(hook)
    runner = Runner(sandbox, tmp_path)
    report = runner.run([SLUG])
    sandbox.state.hooks.clear()
    assert report.exit_code == 0 and fired == {5}
    stored = set(stored_ids(runner.folder(SLUG)))
    live = set(upstream_ids(sandbox, SLUG))
    assert live <= stored and len(stored) == 200  # every live memory, plus the five read before deletion
    assert verify_backup(runner.folder(SLUG)).ok
