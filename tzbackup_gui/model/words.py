"""How counts read in every face: one rule, so the CLI, the window and the browser never disagree."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 memory``, ``2,600 memories``: the count with thousands separators and the noun it needs
    (``noun + "s"`` unless ``plural_noun`` is given, e.g. "personalities")."""
    return f"{count:,} {noun if count == 1 else plural_noun or noun + 's'}"
