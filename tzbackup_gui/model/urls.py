"""Rules over service URLs that every layer asks (pure: no I/O, no name lookup).

Whether a URL points at this machine decides what is allowed against it: fast pacing without
``--allow-fast``, plain ``http``. The CLI, the window's settings and Talk's endpoint all ask the same
question, so they take the answer from here.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback"]


def is_loopback(url: str) -> bool:
    """True for a server on this machine: ``localhost`` (and ``*.localhost``), 127.x, ``::1``. A host name
    is never looked up: only these literal forms count."""
    host = (urlsplit(url).hostname or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
