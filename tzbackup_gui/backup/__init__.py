"""The backup engine (Qt-free): ``BackupEngine(client, data_dir, options=..., on_event=...).run(slugs)``."""

from __future__ import annotations

from .report import BackupOptions, PersonalityResult, RunReport
from .run import BackupEngine, run_backup

__all__ = ["BackupEngine", "BackupOptions", "PersonalityResult", "RunReport", "run_backup"]
