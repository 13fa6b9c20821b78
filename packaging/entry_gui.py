"""PyInstaller entry point of the windowed ``tzbackup-gui`` executable (as the ``tzbackup-gui`` script)."""

from __future__ import annotations

from tzbackup_gui.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
