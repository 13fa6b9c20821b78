"""``python -m tzbackup_gui.sandbox --port P``: serve the sandbox until Ctrl+C."""

from __future__ import annotations

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
