"""The shapes.inc data API client: auth, pacing, retries, error classification, drift-tolerant parsing.

::

    from tzbackup_gui.service import ShapesClient, Pacer, RetryPolicy, MemoryPage, ShapeSummary

See docs/INTERNALS.md, section "Service client".
"""

from __future__ import annotations

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
