"""Third-party licence notices for the packaged app, collected from the installed distributions' metadata.

The PyInstaller build ships Python, Qt (PySide6, LGPL-3.0) and every runtime dependency of tzbackup; their
licences ask for their notices to travel with them. This walks the ``Requires-Dist`` closure of the installed
``tzbackup`` distribution (environment markers evaluated, so development tools are never included), and for
each distribution copies the licence files its wheel carries (``*.dist-info/licenses/`` or the usual names in
``*.dist-info``). The few wheels that carry none (PySide6-Essentials, shiboken6, rookiepy) get the texts kept
in ``packaging/licenses/``. ``THIRD-PARTY-NOTICES.txt`` lists every distribution with its version, licence
and home page, followed by the full texts.

    python packaging/licenses.py OUT_DIR     write OUT_DIR/THIRD-PARTY-NOTICES.txt and OUT_DIR/<dist>/...

The spec calls :func:`collect` and puts the result in the bundle as ``licenses/`` (``_internal/licenses`` in a
onedir build).
"""

from __future__ import annotations

import re
import shutil
import sys
import sysconfig
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

HERE = Path(__file__).resolve().parent
FALLBACK_DIR = HERE / "licenses"
ROOT_DIST = "tzbackup"
NOTICES_NAME = "THIRD-PARTY-NOTICES.txt"

# Wheels without licence files in their metadata: the texts their licences name.
FALLBACK_TEXTS: dict[str, list[str]] = {
    "pyside6-essentials": ["LGPL-3.0.txt", "GPL-3.0.txt"],
    "shiboken6": ["LGPL-3.0.txt", "GPL-3.0.txt"],
    "rookiepy": ["rookiepy-MIT.txt"],
}
# What LGPL-3.0 asks of a distributor, said where a user of the packaged app will look.
QT_NOTE = """\
Qt and PySide6 are used under the GNU Lesser General Public License v3 (texts below). In this app they
are separate shared libraries (the Qt and PySide6 files in the bundle), which you may replace with your
own builds of the same versions. Their source is at https://download.qt.io/ (Qt) and
https://code.qt.io/cgit/pyside/pyside-setup.git/ (PySide6).
"""
_LICENCE_NAME = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)([.-].*)?$", re.IGNORECASE)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Notice:
    name: str
    version: str
    licence: str
    home: str
    texts: list[tuple[str, str]] = field(default_factory=list)  # (file name, text)


def runtime_closure(root: str = ROOT_DIST) -> list[metadata.Distribution]:
    """The installed distributions ``root`` needs at run time on this machine (markers evaluated)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [(root, frozenset[str]())]
    while todo:
        name, extras = todo.pop()
        key = normalize(name)
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here (a marker excluded it, e.g. rookiepy on Python 3.13)
        seen[key] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            env_extras = extras or {""}
            if req.marker is not None and not any(
                req.marker.evaluate({"extra": extra}) for extra in env_extras
            ):
                continue
            todo.append((req.name, frozenset(req.extras)))
    seen.pop(normalize(root), None)
    return sorted(seen.values(), key=lambda d: normalize(d.metadata["Name"]))


def _licence_files(dist: metadata.Distribution) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for entry in dist.files or []:
        parts = entry.parts
        if not parts or not parts[0].endswith(".dist-info"):
            continue
        in_licences = len(parts) > 2 and parts[1] == "licenses"
        if not (in_licences or (len(parts) == 2 and _LICENCE_NAME.match(parts[1]))):
            continue
        path = Path(str(dist.locate_file(entry)))
        if path.is_file():
            shown = "/".join(parts[2:] if in_licences else parts[1:])
            found.append((shown, path.read_text("utf-8", "replace")))
    return found


def _licence_name(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    licence = (meta.get("License") or "").strip()
    if licence and "\n" not in licence and len(licence) < 100:
        return licence
    classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or []
                   if c.startswith("License ::")]
    return ", ".join(classifiers) or "see the text below"


def _home(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    if meta.get("Home-page"):
        return str(meta["Home-page"])
    for url in meta.get_all("Project-URL") or []:
        label, _, link = url.partition(",")
        if label.strip().lower() in ("homepage", "home", "source", "repository", "source code"):
            return link.strip()
    return ""


def notices() -> list[Notice]:
    """One notice per runtime distribution, Python itself first."""
    python = Notice("Python", sys.version.split()[0], "PSF-2.0", "https://www.python.org/")
    python_licence = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if python_licence.is_file():
        python.texts.append(("LICENSE.txt", python_licence.read_text("utf-8", "replace")))
    found = [python]
    for dist in runtime_closure():
        name = str(dist.metadata["Name"])
        notice = Notice(name, dist.version, _licence_name(dist), _home(dist), _licence_files(dist))
        if not notice.texts:
            notice.texts = [(text, (FALLBACK_DIR / text).read_text("utf-8"))
                            for text in FALLBACK_TEXTS.get(normalize(name), [])]
        found.append(notice)
    return found


def collect(out_dir: Path) -> list[Notice]:
    """Write ``out_dir/THIRD-PARTY-NOTICES.txt`` and each distribution's files under ``out_dir/<name>/``
    (the folder is emptied first). Raises when a distribution has no licence text at all."""
    found = notices()
    missing = [n.name for n in found if not n.texts]
    if missing:
        raise SystemExit(f"packaging/licenses.py: no licence text for {', '.join(missing)}: add one to "
                         f"{FALLBACK_DIR} and FALLBACK_TEXTS")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    summary = ["Third-party software in this build of tzbackup", "=" * 47, ""]
    width = max(len(n.name) for n in found)
    wide = max(len(n.version) for n in found)
    summary += [f"{n.name:<{width}}  {n.version:<{wide}}  {n.licence}  {n.home}".rstrip() for n in found]
    summary += ["", QT_NOTE]
    body: list[str] = []
    for notice in found:
        folder = out_dir / f"{notice.name}-{notice.version}"
        for file_name, text in notice.texts:
            target = folder / file_name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, "utf-8")
            rule = "-" * 100
            body += ["", rule, f"{notice.name} {notice.version}: {file_name}", rule, "", text.rstrip()]
    (out_dir / NOTICES_NAME).write_text("\n".join(summary + body) + "\n", "utf-8")
    return found


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    written = collect(Path(sys.argv[1]))
    print(f"{len(written)} notices written to {Path(sys.argv[1]) / NOTICES_NAME}")
