"""The package's shape: one import name, no import cycles, a pure core, a public API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dbfsm

PACKAGE = Path(dbfsm.__file__).resolve().parent
IO_MODULES = {"os", "socket", "select", "asyncio", "subprocess", "threading", "io", "pathlib"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):  # follows the fsm/ and drivers/ links
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("dbfsm", *parts)).removesuffix(".__init__")
        found[name] = path
    return found


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported when the module is (not inside functions, not for type checking)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m in _top_level_imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_import_cycles() -> None:
    graph = _graph()
    # A package imports its modules' parent first: drop module -> own ancestor edges.
    for name, deps in graph.items():
        graph[name] = {d for d in deps if not name.startswith(d + ".")}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_core_imports_no_tool_no_driver_and_no_io() -> None:
    for name, path in _modules().items():
        if not name.startswith("dbfsm.fsm"):
            continue
        imports = _top_level_imports(path)
        for lazy in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(lazy, ast.ImportFrom) and lazy.module:
                imports.add(lazy.module)
        outside = {m for m in imports if m.startswith("dbfsm.") and not m.startswith("dbfsm.fsm")}
        assert not outside, f"{name} imports {outside}"
        assert not (imports & IO_MODULES), f"{name} imports {imports & IO_MODULES}"


def test_drivers_import_only_the_core_and_drivers() -> None:
    for name, path in _modules().items():
        if name.startswith("dbfsm.drivers"):
            ours = {m for m in _top_level_imports(path) if m.startswith("dbfsm.")}
            assert all(m.startswith(("dbfsm.fsm", "dbfsm.drivers")) for m in ours), (name, ours)


def test_every_public_name_resolves_and_import_needs_no_database_library() -> None:
    code = (
        "import sys, dbfsm\n"
        "assert 'psycopg' not in sys.modules and 'pymysql' not in sys.modules\n"
        "missing = [n for n in dbfsm.__all__ if getattr(dbfsm, n, None) is None]\n"
        "assert not missing, missing\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_sub_package_says_what_it_is_for() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        if "schema" in init.parts:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init} has no docstring"
