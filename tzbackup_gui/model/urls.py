"""Rules over service URLs that every layer asks (pure: no I/O, no name lookup).

Whether a URL points at this machine decides what is allowed against it: fast pacing without
``--allow-fast``, plain ``http``. The CLI, the window's settings and Talk's endpoint all ask the same
question, so they take the answer from here.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["SHAPES_DOMAIN", "is_loopback", "is_shapes_host"]

#: the service whose data we back up; Talk, which works from the backup alone, must never call it
SHAPES_DOMAIN = "shapes.inc"


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


def is_shapes_host(url: str) -> bool:
    """True for shapes.inc and any of its subdomains (``api.shapes.inc`` serves an OpenAI-compatible API):
    Talk refuses them, so "offline" stays true even when such a URL is typed in."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    return host == SHAPES_DOMAIN or host.endswith("." + SHAPES_DOMAIN)
