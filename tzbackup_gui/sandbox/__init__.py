"""A local stand-in for the shapes.inc data API, for the demo mode, the tests and the benchmarks.

::

    from tzbackup_gui.sandbox import SandboxServer
    with SandboxServer(port=0, seed=1) as sb:
        sb.base_url, sb.files_base_url, sb.cookie, sb.demo_user, sb.state

See docs/INTERNALS.md, section "Sandbox", for the state's mutation, fault and variant methods.
"""

from __future__ import annotations

from .data import DEMO_USER_ID, OTHER_USER_ID, SandboxPersonality
from .faults import FAULT_NAMES
from .server import SandboxServer, serve_forever_cli
from .sessions import SESSION_COOKIE
from .state import RequestRecord, SandboxState, Variant

__all__ = [
    "DEMO_USER_ID",
    "FAULT_NAMES",
    "OTHER_USER_ID",
    "SESSION_COOKIE",
    "RequestRecord",
    "SandboxPersonality",
    "SandboxServer",
    "SandboxState",
    "Variant",
    "main",
    "serve_forever_cli",
]


def main(argv: list[str] | None = None) -> int:
    """``python -m tzbackup_gui.sandbox [--port P] [--seed S] [--rotate-every N]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tzbackup_gui.sandbox",
                                     description="Serve the tzbackup sandbox on 127.0.0.1 until Ctrl+C.")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (0 = any free port)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated demo data")
    parser.add_argument("--rotate-every", type=int, default=None, metavar="N",
                        help="rotate the session cookie every N authenticated requests")
    args = parser.parse_args(argv)
    return serve_forever_cli(args.port, seed=args.seed, rotate_every=args.rotate_every)
