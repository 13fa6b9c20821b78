"""``python -m tzbackup_gui.cli``: the same as the ``tzbackup`` console script."""

from __future__ import annotations

from . import main

raise SystemExit(main())
