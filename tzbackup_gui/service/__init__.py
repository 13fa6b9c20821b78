"""The shapes.inc data API client: auth, pacing, retries, error classification, drift-tolerant parsing.

::

    from tzbackup_gui.service import ShapesClient, Pacer, RetryPolicy, MemoryPage, ShapeSummary

See docs/INTERNALS.md, section "Service client".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .auth import (
        DEFAULT_COOKIE_NAME,
        SessionCredential,
        parse_cookie_input,
        rotated_credential,
    )
    from .client import DEFAULT_BASE_URL, DEFAULT_FILES_BASE_URL, ShapesClient
    from .models import (
        MemoryPage,
        ShapeSummary,
        content_hash,
        memory_created_at,
        memory_sort_key,
    )
    from .pacing import Pacer, RetryPolicy, parse_retry_after

# Each public name and the submodule that defines it. They are imported on first use (PEP 562), so that
# ``tzbackup --version`` or an offline command, which need only ``service.auth`` (through the credential
# store), never pay for httpx (``client``) and asyncio (``pacing``).
_WHERE = {
    "DEFAULT_COOKIE_NAME": "auth",
    "SessionCredential": "auth",
    "parse_cookie_input": "auth",
    "rotated_credential": "auth",
    "DEFAULT_BASE_URL": "client",
    "DEFAULT_FILES_BASE_URL": "client",
    "ShapesClient": "client",
    "MemoryPage": "models",
    "ShapeSummary": "models",
    "content_hash": "models",
    "memory_created_at": "models",
    "memory_sort_key": "models",
    "Pacer": "pacing",
    "RetryPolicy": "pacing",
    "parse_retry_after": "pacing",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


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
