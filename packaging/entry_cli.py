"""PyInstaller entry point of the ``tzbackup`` console executable (same as the ``tzbackup`` script)."""

from __future__ import annotations

from tzbackup_gui.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
