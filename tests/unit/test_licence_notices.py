"""packaging/licenses.py: the notices the packaged app carries name every runtime dependency with a licence
text (PySide6's LGPL from packaging/licenses/, since its wheel has none) and none of the development tools."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def licences() -> ModuleType:
    path = ROOT / "packaging" / "licenses.py"
    spec = importlib.util.spec_from_file_location("tzbackup_licences_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_notices_cover_the_runtime_closure_only(licences: ModuleType, tmp_path: Path) -> None:
    found = licences.collect(tmp_path / "licenses")
    names = {licences.normalize(n.name) for n in found}
    runtime = {"python", "pyside6-essentials", "shiboken6", "httpx", "qasync", "keyring", "platformdirs"}
    assert runtime <= names
    assert not names & {"pytest", "mypy", "ruff", "pyinstaller", "hypothesis", "uv", "coverage"}
    assert all(n.texts for n in found)  # every one with its licence text
    text = (tmp_path / "licenses" / licences.NOTICES_NAME).read_text("utf-8")
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert "PySide6_Essentials" in text and "replace with your" in text
    pyside = next(n for n in found if licences.normalize(n.name) == "pyside6-essentials")
    assert [name for name, _ in pyside.texts] == ["LGPL-3.0.txt", "GPL-3.0.txt"]
    assert (tmp_path / "licenses" / f"{pyside.name}-{pyside.version}" / "LGPL-3.0.txt").is_file()
