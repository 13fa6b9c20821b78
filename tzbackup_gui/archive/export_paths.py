"""Where an export goes: ``--output`` (or the path chosen in the window) turned into the file(s) to write.

Shared by both faces (the CLI's ``export`` and the window's Export…), so it lives below them. The naming rule
is :func:`tzbackup_gui.model.export_formats.output_paths`; this adds the one look at the disk it needs
(is the output an existing folder?).
"""

from __future__ import annotations

from pathlib import Path

from ..model.export_formats import output_paths

__all__ = ["default_outputs"]


def default_outputs(folder: str, fmt: str, output: Path | str | None) -> tuple[Path, Path | None]:
    """Where an export goes: ``output`` (a file, or a folder to put the default name in: an existing one, or
    text ending in a slash as typed) or the current folder. The second path is the card's PNG (None for
    other formats)."""
    meant_folder = isinstance(output, str) and output.endswith(("/", "\\"))
    path = Path(output).expanduser() if output is not None else None
    return output_paths(folder, fmt, path, into_folder=path is not None and (meant_folder or path.is_dir()))
