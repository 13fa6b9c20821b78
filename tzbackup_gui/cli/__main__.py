"""``python -m tzbackup_gui.cli``: the same as the ``tzbackup`` console script."""

from __future__ import annotations

from . import main

if __name__ == "__main__":  # importing this module (as tests that import every module do) runs nothing
    raise SystemExit(main())
