"""The export formats both faces offer, and the rule that names their files (pure: no I/O).

A new export format adds one entry to :data:`DEFAULT_NAMES` (and its name to :data:`WITH_PNG` when it also
writes the card embedded in a PNG beside its JSON); the CLI's ``--format`` choices and the default file names
of the CLI and the window follow. What each format writes is ``archive/export.py``'s business.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_NAMES", "EXPORT_FORMATS", "WITH_PNG", "output_paths"]

#: format -> default file name, ``{folder}`` being the personality's folder name (in the order offered)
DEFAULT_NAMES: dict[str, str] = {
    "zip": "{folder}.tzbackup.zip",
    "markdown": "{folder}.md",
    "card": "{folder}.card.json",
    "card-v3": "{folder}.card-v3.json",
    "sillytavern-chat": "{folder}.sillytavern.jsonl",
}
#: the export formats, in the order the faces offer them
EXPORT_FORMATS: tuple[str, ...] = tuple(DEFAULT_NAMES)
#: formats that write a PNG beside their JSON (a character card: the same card embedded in its avatar)
WITH_PNG: frozenset[str] = frozenset({"card", "card-v3"})


def output_paths(
    folder: str, fmt: str, output: Path | None, *, into_folder: bool
) -> tuple[Path, Path | None]:
    """The file(s) an export of personality folder ``folder`` as ``fmt`` writes: ``output`` itself, or the
    default name inside ``output`` when ``into_folder`` (it names a folder), or the default name in the
    current folder when there is no ``output``. The second path is the PNG of a format in :data:`WITH_PNG`
    (``x.json`` + ``x.png``; a ``.png`` output gets its JSON beside it), else None."""
    name = DEFAULT_NAMES[fmt].format(folder=folder)
    if output is None:
        main = Path(name)
    elif into_folder:
        main = output / name
    else:
        main = output
    if fmt not in WITH_PNG:
        return main, None
    if main.suffix.lower() == ".png":
        return main.with_suffix(".json"), main
    return main, main.with_suffix(".png") if main.suffix.lower() == ".json" else main.with_name(
        main.name + ".png")
