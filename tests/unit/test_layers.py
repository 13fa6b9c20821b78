"""The package's shape, read from its own imports (issue 17).

Every module under ``tzbackup_gui/`` is parsed (never imported) and each of its imports of the package is
resolved to a module: relative and absolute, at module level, inside functions and under ``TYPE_CHECKING``
alike, because a late import still is a dependency. The tests fail on

* an arrow against the layer order below (a lower layer importing a higher one, or two peers that must stay
  apart importing each other),
* an import cycle between modules,
* a dynamic import (``importlib.import_module``, ``__import__``) that would hide a dependency from this test,
* a module over 600 lines.

So the layering cannot rot quietly: a new arrow upwards has to change this table, in review.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "tzbackup_gui"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE
MAX_LINES = 600

#: Lowest first. A module may import its own layer and any lower one, never a higher one. The key is the
#: first component of the module's name below the package (``backup`` for ``tzbackup_gui.backup.walk``); the
#: package's own ``__init__`` (``__version__``) is ``""``. Root-level ``cli_*.py`` modules belong to ``cli``.
LAYERS: dict[str, int] = {
    "": 0,
    "model": 0,  # pure rules over records: imports nothing of ours
    "errors": 1,
    "paths": 1,
    "events": 1,
    "log": 1,
    "service": 2,  # the HTTP client
    "archive": 2,  # the on-disk store
    "credentials": 3,
    "browser_cookies": 3,
    "backup": 4,  # the engine
    "schedule": 4,
    "talk": 4,  # talking to a backed-up personality: reads the archive, used by both faces
    "app": 5,
    "cli": 6,  # the two faces
    "ui": 6,
    "__main__": 7,
}

#: Peers at one rank that must not import each other (either way).
APART: list[frozenset[str]] = [
    frozenset({"archive", "service"}),
    frozenset({"cli", "ui"}),
]

#: The sandbox stands beside the layers: it imports only these, and only the faces start it.
SANDBOX = "sandbox"
SANDBOX_MAY_IMPORT = frozenset({"", "model", "errors"})
SANDBOX_IMPORTED_FROM_RANK = LAYERS["app"]


@dataclass(frozen=True)
class Arrow:
    """One import of the package by one of its modules."""

    source: str  # dotted name below the package: "backup.walk"; "" for the package itself
    target: str
    line: int

    def where(self) -> str:
        return f"{module_path(self.source)}:{self.line}"


def module_path(name: str) -> str:
    """The file of module ``name``, relative to the repository, for messages."""
    for candidate in (name.replace(".", "/") + ".py", (name.replace(".", "/") + "/__init__.py").lstrip("/")):
        if (ROOT / candidate).is_file():
            return f"{PACKAGE}/{candidate}"
    return f"{PACKAGE}/{name}"


def all_modules() -> dict[str, Path]:
    """Every module of the package by dotted name below it ("" for ``tzbackup_gui/__init__.py``)."""
    modules: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def is_package(name: str) -> bool:
    return (ROOT / name.replace(".", "/") / "__init__.py").is_file() if name else True


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _absolute(dotted: str) -> str | None:
    """``tzbackup_gui.x.y`` → ``x.y``; ``tzbackup_gui`` → ``""``; anything else → None (not ours)."""
    if dotted == PACKAGE:
        return ""
    if dotted.startswith(PACKAGE + "."):
        return dotted[len(PACKAGE) + 1 :]
    return None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Arrow]:
    """Each module of ours that ``name`` imports, wherever in the file the import sits."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _absolute(alias.name)
                if target is not None:
                    yield Arrow(name, target, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                up = node.level - 1
                if up > len(base_parts):
                    where = f"{module_path(name)}:{node.lineno}"
                    raise AssertionError(f"{where}: relative import above the package")
                base = _join(*base_parts[: len(base_parts) - up], node.module or "")
            else:
                resolved = _absolute(node.module or "")
                if resolved is None:
                    continue
                base = resolved
            for alias in node.names:
                submodule = _join(base, alias.name)
                # ``from pkg import sub`` depends on the submodule; ``from mod import name`` on the module.
                yield Arrow(name, submodule if submodule in modules else base, node.lineno)


def layer_of(name: str) -> str:
    first = name.split(".")[0]
    return "cli" if first.startswith("cli_") else first


def graph() -> tuple[dict[str, Path], list[Arrow]]:
    modules = all_modules()
    arrows = [a for n, p in modules.items() for a in imports_of(n, p, modules) if a.target != a.source]
    return modules, arrows


def test_every_module_has_a_layer() -> None:
    modules = all_modules()
    unknown = sorted(
        {layer_of(n) for n in modules} - set(LAYERS) - {SANDBOX},
    )
    assert not unknown, f"modules without a layer (add them to LAYERS in {__name__}): {unknown}"


def test_imports_follow_the_layer_order() -> None:
    modules, arrows = graph()
    wrong: list[str] = []
    for arrow in arrows:
        if arrow.target not in modules:
            wrong.append(f"{arrow.where()}: imports {PACKAGE}.{arrow.target}, which does not exist")
            continue
        src, dst = layer_of(arrow.source), layer_of(arrow.target)
        if src == dst:
            continue
        if src == SANDBOX:
            if dst not in SANDBOX_MAY_IMPORT:
                wrong.append(f"{arrow.where()}: the sandbox imports {arrow.target} (only model, errors)")
            continue
        if dst == SANDBOX:
            if LAYERS.get(src, -1) < SANDBOX_IMPORTED_FROM_RANK:
                wrong.append(f"{arrow.where()}: {arrow.source} imports the sandbox (only faces may)")
            continue
        if src not in LAYERS or dst not in LAYERS:
            continue  # reported by test_every_module_has_a_layer
        if LAYERS[dst] > LAYERS[src]:
            wrong.append(
                f"{arrow.where()}: {src} (rank {LAYERS[src]}) imports {arrow.target}"
                f" ({dst}, rank {LAYERS[dst]})"
            )
        elif frozenset({src, dst}) in APART:
            wrong.append(f"{arrow.where()}: {src} imports {arrow.target}; {src} and {dst} must stay apart")
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(set(wrong)))


def _cycles(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    modules, arrows = graph()
    edges: dict[str, set[str]] = {}
    for arrow in arrows:
        edges.setdefault(arrow.source, set()).add(arrow.target)
    cycles = _cycles(sorted(modules), edges)
    lines = []
    for component in cycles:
        members = set(component)
        inner = sorted(
            {f"  {a.where()} -> {a.target}" for a in arrows if a.source in members and a.target in members}
        )
        lines.append("cycle among " + ", ".join(component or ["<package>"]) + ":\n" + "\n".join(inner))
    assert not cycles, "import cycles:\n" + "\n".join(lines)


def test_no_dynamic_imports() -> None:
    found: list[str] = []
    for name, path in all_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = ""
                if isinstance(func, ast.Attribute):
                    called = func.attr
                elif isinstance(func, ast.Name):
                    called = func.id
                if called in {"import_module", "__import__"}:
                    found.append(f"{module_path(name)}:{node.lineno}: {called}()")
            elif (
                isinstance(node, ast.ImportFrom)
                and node.module == "importlib"
                and any(alias.name == "import_module" for alias in node.names)
            ):
                found.append(f"{module_path(name)}:{node.lineno}: from importlib import import_module")
    assert not found, "dynamic imports hide dependencies; import plainly:\n" + "\n".join(found)


def test_no_module_over_the_line_limit() -> None:
    over = []
    for name, path in all_modules().items():
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_LINES:
            over.append(f"{module_path(name)}: {count} lines")
    assert not over, f"modules over {MAX_LINES} lines:\n" + "\n".join(sorted(over))


def test_the_checker_sees_what_it_should(tmp_path: Path) -> None:
    """The resolver itself: relative levels, ``from pkg import submodule``, function-level imports."""
    modules = {n: Path() for n in ("backup", "backup.engine", "backup.chat", "archive", "archive.store")}
    source = tmp_path / "engine.py"
    source.write_text(
        "from . import chat\n"
        "from ..archive import store\n"
        "from ..archive.store import x\n"
        "import tzbackup_gui.archive\n"
        "def f():\n"
        "    from .. import archive\n",
        encoding="utf-8",
    )
    got = [(a.target, a.line) for a in imports_of("backup.engine", source, modules)]
    assert sorted(got) == [
        ("archive", 4),
        ("archive", 6),
        ("archive.store", 2),
        ("archive.store", 3),
        ("backup.chat", 1),
    ]
    assert _cycles(["a", "b", "c"], {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _cycles(["a", "b"], {"a": {"b"}}) == []
