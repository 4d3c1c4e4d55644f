"""The package's architecture, checked: rooms import only the rooms below them, the core
never imports the optional subpackages, and ``import actimg`` stays light."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "actimg"
#: each room may import the rooms listed before it (and the top-level private helpers)
ORDER = ["geometry", "codec", "cameras", "robust", "media"]
#: optional rooms built on the core: the core never imports them
OPTIONAL = {"models", "torch", "policy", "datasets"}
HEAVY = ("torch", "diffusers", "transformers", "mujoco", "pyarrow", "av", "h5py", "ray", "matplotlib")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the actimg modules that ``path`` imports (anywhere in the file)."""
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("actimg"):
                out.add(name)
                out.update(f"{name}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("actimg"))
    return out


def _room(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and (PKG / parts[1]).is_dir() else None


FILES = sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=[_module_name(p) for p in FILES])
def test_rooms_import_downwards_only(path):
    room = _room(_module_name(path))
    if room is None or room not in ORDER:
        return  # top level (the public API, cli) and the optional rooms may import any core room
    allowed = set(ORDER[: ORDER.index(room) + 1])
    for name in _imports(path):
        other = _room(name)
        assert other is None or other in allowed, f"{_module_name(path)} (room {room}) imports {name}"


@pytest.mark.parametrize("path", FILES, ids=[_module_name(p) for p in FILES])
def test_core_never_imports_optional_rooms(path):
    if _room(_module_name(path)) in OPTIONAL or _module_name(path) == "actimg.cli":
        return  # the console script wires every room's command (actimg convert); it is not imported by actimg
    for name in _imports(path):
        assert _room(name) not in OPTIONAL, f"{_module_name(path)} imports the optional {name}"


def test_no_module_import_cycles():
    graph = {_module_name(p): {n for n in _imports(p)} for p in FILES}
    mods = set(graph)
    graph = {m: {n for n in deps if n in mods and n != m and not m.startswith(n + ".")} for m, deps in graph.items()}
    # a package __init__ re-exporting its own modules is not a cycle: drop edges into a package's own children
    graph = {m: {n for n in deps if not n.startswith(m + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_cli_is_not_imported_by_the_package():
    for path in FILES:
        if _module_name(path) != "actimg.cli":
            assert "actimg.cli" not in _imports(path), f"{_module_name(path)} imports actimg.cli"


def test_import_actimg_is_light():
    code = ("import sys, actimg; heavy = [m for m in sys.modules if m.split('.')[0] in %r]; "
            "assert not heavy, heavy" % (HEAVY,))
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("old", sorted(__import__("actimg")._MOVED))
def test_old_module_paths_still_import(old):
    """``import actimg.viz`` / ``from actimg.spec import ...`` from before the rooms: the
    very module of the room, whose own name (and so its relative imports) is unchanged."""
    new = __import__("actimg")._MOVED[old]
    code = (f"import importlib, sys, actimg; a = importlib.import_module({old!r}); "
            f"b = importlib.import_module({new!r}); assert a is b, (a, b); "
            f"assert a.__name__ == {new!r} and a.__package__ == {new.rsplit('.', 1)[0]!r}, a.__name__")
    subprocess.run([sys.executable, "-c", code], check=True)
