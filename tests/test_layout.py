"""The package's layout: no import cycle between its modules, and every annotation resolves.

The import graph is read from the sources with ``ast`` (every import statement, including
those inside functions and under ``TYPE_CHECKING``), so a lazy import that closes a cycle
counts as much as a top-level one. Each module is then imported alone, in a fresh
interpreter, and ``typing.get_type_hints`` runs on every public class, its methods, and
every public function it defines.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import wxcorp_fast

PACKAGE_DIR = Path(wxcorp_fast.__file__).parent
README = Path(__file__).resolve().parent.parent / "README.md"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """Return the absolute name ``from <level dots><target>`` refers to inside ``module``."""
    if level == 0:
        assert target is not None
        return target
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imports(module: str, path: Path) -> set[str]:
    """Return the package modules that ``module``'s import statements name."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node.level, node.module)
            # `from pkg import sub` names the module pkg.sub when there is one, else pkg
            names = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in MODULES and name != module)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one cycle of ``graph`` as a path of modules, or ``None`` if it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_graph_sees_the_rooms() -> None:
    assert GRAPH["wxcorp_fast.callback.serve"] >= {
        "wxcorp_fast.callback.checks",
        "wxcorp_fast.callback.request",
    }
    assert "wxcorp_fast._core" in GRAPH["wxcorp_fast.crypto"]


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    assert _cycle(GRAPH) is None


def test_request_types_are_a_leaf() -> None:
    own = {m for m in GRAPH["wxcorp_fast.callback.request"] if m.startswith("wxcorp_fast.")}
    assert own <= {"wxcorp_fast.errors", "wxcorp_fast.messages"}


_HINTS = r"""
import importlib, inspect, json, sys, typing
name = sys.argv[1]
module = importlib.import_module(name)
public = getattr(module, "__all__", None)
if public is None:
    public = [n for n in vars(module) if not n.startswith("_")]
checked, failed = 0, []
def check(label, obj):
    global checked
    try:
        typing.get_type_hints(obj)
        checked += 1
    except Exception as exc:
        failed.append(f"{label}: {type(exc).__name__}: {exc}")
for attr in public:
    obj = getattr(module, attr)
    if getattr(obj, "__module__", None) != name:
        continue  # re-exported: checked where it is defined
    if inspect.isclass(obj):
        check(attr, obj)
        for meth_name, meth in vars(obj).items():
            public = meth_name == "__init__" or not meth_name.startswith("_")
            if inspect.isfunction(meth) and public:
                check(f"{attr}.{meth_name}", meth)
    elif inspect.isfunction(obj):
        check(attr, obj)
print(json.dumps({"checked": checked, "failed": failed}))
"""


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_alone_and_its_hints_resolve(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _HINTS, module], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["failed"] == []


def test_readme_layout_names_every_room() -> None:
    text = README.read_text(encoding="utf-8")
    layout = text[text.index("## Layout") :]
    rooms = {p.name for p in PACKAGE_DIR.iterdir() if p.is_dir() and p.name != "__pycache__"}
    for room in rooms:
        assert f"{room}/" in layout, room
