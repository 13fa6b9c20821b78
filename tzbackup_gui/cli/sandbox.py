"""``tzbackup sandbox``: run the local sandbox service (made-up personalities, cookie auth, switchable
faults) in the foreground until Ctrl+C, for trying the tool out or pointing the GUI at it. Only this command
prints the sandbox's cookie; ``--demo`` starts one of its own without ever showing it.
"""

from __future__ import annotations

import argparse
import sys

from .context import Command
from .options import EXIT_FATAL, EXIT_OK, port_arg

__all__ = ["COMMANDS"]


def _sandbox_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=port_arg, default=8765,
                   help="port on 127.0.0.1 (default 8765; 0 = any free)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated demo data")
    p.add_argument("--rotate-every", type=int, default=None, metavar="N",
                   help="rotate the session cookie every N authenticated requests")


def _run_sandbox(args: argparse.Namespace) -> int:
    from ..sandbox import serve_forever_cli

    try:
        result = serve_forever_cli(args.port, seed=args.seed, rotate_every=args.rotate_every)
    except KeyboardInterrupt:
        return EXIT_OK
    except OSError as exc:
        print(f"error: cannot start the sandbox on port {args.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_FATAL
    return int(result or 0)


COMMANDS = (
    Command("sandbox", "run the local sandbox service (for trying things out) until Ctrl+C",
            _sandbox_arguments, standalone=_run_sandbox),
)
