"""Where an export goes: the default file name of each export format, and ``--output`` / a chosen path
turned into the file(s) to write.

Shared by both faces (the CLI's ``export`` and the window's Export…), so it lives below them, in the archive
layer; it only does path arithmetic (nothing is read or written here). A new export format adds its default
file name to :data:`DEFAULT_NAMES` (and, when it also writes a PNG beside its JSON, its name to
:data:`WITH_PNG`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_NAMES", "EXPORT_FORMATS", "WITH_PNG", "default_outputs"]

#: format -> default file name, ``{folder}`` being the personality's folder name (in the order shown)
DEFAULT_NAMES: dict[str, str] = {
    "zip": "{folder}.tzbackup.zip",
    "markdown": "{folder}.md",
    "card": "{folder}.card.json",
}
#: the export formats, in the order the faces offer them
EXPORT_FORMATS: tuple[str, ...] = tuple(DEFAULT_NAMES)
#: formats that write a PNG beside their JSON (a character card: the same card embedded in its avatar)
WITH_PNG: frozenset[str] = frozenset({"card"})


def default_outputs(folder: str, fmt: str, output: Path | str | None) -> tuple[Path, Path | None]:
    """Where an export goes: ``output`` (a file, or a folder to put the default name in: an existing one, or
    text ending in a slash as typed) or the current folder. The second path is the card's PNG (None for
    other formats)."""
    name = DEFAULT_NAMES[fmt].format(folder=folder)
    meant_folder = isinstance(output, str) and output.endswith(("/", "\\"))
    output = Path(output).expanduser() if output is not None else None
    if output is None:
        main = Path(name)
    elif output.is_dir() or meant_folder:
        main = output / name
    else:
        main = output
    if fmt not in WITH_PNG:
        return main, None
    if main.suffix.lower() == ".png":
        return main.with_suffix(".json"), main
    return main, main.with_suffix(".png") if main.suffix.lower() == ".json" else main.with_name(
        main.name + ".png")
