"""The shapes.inc data API client: auth, pacing, retries, error classification, drift-tolerant parsing.

::

    from tzbackup_gui.service import ShapesClient, Pacer, RetryPolicy, MemoryPage, ShapeSummary

See docs/INTERNALS.md, section "Service client".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .auth import (
    DEFAULT_COOKIE_NAME,
    SessionCredential,
    parse_cookie_input,
    rotated_credential,
)

if TYPE_CHECKING:
    from .client import DEFAULT_BASE_URL, DEFAULT_FILES_BASE_URL, ShapesClient
    from .models import MemoryPage, ShapeSummary, content_hash, memory_created_at, memory_sort_key
    from .pacing import Pacer, RetryPolicy, parse_retry_after

# ``client`` (httpx), ``pacing`` (asyncio) and ``models`` load on first use (PEP 562), so that
# ``tzbackup --version`` or an offline command, which need only ``auth`` (through the credential store), never
# pay for them. Plain ``from . import`` statements: the dependency stays visible to readers and tools.
_CLIENT_NAMES = frozenset({"DEFAULT_BASE_URL", "DEFAULT_FILES_BASE_URL", "ShapesClient"})
_PACING_NAMES = frozenset({"Pacer", "RetryPolicy", "parse_retry_after"})
_MODELS_NAMES = frozenset(
    {"MemoryPage", "ShapeSummary", "content_hash", "memory_created_at", "memory_sort_key"}
)


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from . import client

        value = getattr(client, name)
    elif name in _PACING_NAMES:
        from . import pacing

        value = getattr(pacing, name)
    elif name in _MODELS_NAMES:
        from . import models

        value = getattr(models, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_CLIENT_NAMES, *_PACING_NAMES, *_MODELS_NAMES])


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_COOKIE_NAME",
    "DEFAULT_FILES_BASE_URL",
    "MemoryPage",
    "Pacer",
    "RetryPolicy",
    "SessionCredential",
    "ShapeSummary",
    "ShapesClient",
    "content_hash",
    "memory_created_at",
    "memory_sort_key",
    "parse_cookie_input",
    "parse_retry_after",
    "rotated_credential",
]
