"""The package's shape: one import name, no import cycles, a pure core, drivers on the core
only, a command line that imports only what a command uses, and a wheel of `dbfsm` alone.

The import graph is read from the source (ast), not by importing: an import written in a
module is seen whether or not a test happens to run it.

Which imports count:
- for cycles, the imports that run when a module is imported: those at its top, in a
  module-level `if`/`try`/`with` and in class bodies, not those inside functions (they run
  later, once every module they name can be complete, which is why a tool imports a heavy
  or optional module there) and not those under `if TYPE_CHECKING:` (never run);
- for what the core and the drivers may use, every import anywhere in the file, inside
  functions too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import dbfsm

PACKAGE = Path(dbfsm.__file__).resolve().parent
REPO = PACKAGE.parent
EXAMPLE = str(PACKAGE / "examples" / "kea-dhcp4.json")
IO_MODULES = {"os", "socket", "select", "asyncio", "subprocess", "threading", "io", "pathlib"}
DATABASE_LIBRARIES = ("pymysql", "psycopg")


def _files(pattern: str) -> list[Path]:
    """The package's files named `pattern`, through the links dbfsm/fsm and dbfsm/drivers
    (which `Path.rglob` would not follow)."""
    found: list[Path] = []
    for folder, _, _ in os.walk(PACKAGE, followlinks=True):
        found.extend(Path(folder).glob(pattern))
    return sorted(found)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in _files("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("dbfsm", *parts)).removesuffix(".__init__")
        found[name] = path
    return found


def test_the_walk_sees_the_core_and_the_drivers() -> None:
    modules = _modules()
    assert {"dbfsm.fsm.engine", "dbfsm.drivers.live", "dbfsm.cli", "dbfsm.drivers.schema"} <= set(
        modules
    )


def _is_type_checking(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_at_import(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of `body` that run when the module is imported, nested ones too."""
    for node in body:
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.If):
            if not _is_type_checking(node):
                yield from _run_at_import(node.body)
            yield from _run_at_import(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _run_at_import(block)
            for handler in node.handlers:
                yield from _run_at_import(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from _run_at_import(node.body)


def _imports(name: str, path: Path, *, anywhere: bool = False) -> set[str]:
    """The modules `name` (at `path`) imports: when imported, or with `anywhere` in any
    function too. `from p import x` names both `p` and `p.x` (x may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if anywhere else _run_at_import(tree.body)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the module's package
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports when imported (a module's package comes
    with it; a module's own ancestors are left out: Python imports them before it, and a
    package's `__init__` importing its own modules is no cycle)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for imported in _imports(name, path):
            parts = imported.split(".")
            deps.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
        graph[name] = {
            d for d in deps if d in modules and d != name and not name.startswith(d + ".")
        }
    return graph


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
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_reader_sees_what_runs_at_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import dbfsm.a\n"
        "try:\n    from dbfsm.b import c\nexcept ImportError:\n    pass\n"
        "if TYPE_CHECKING:\n    import dbfsm.typing_only\n"
        "class K:\n    import dbfsm.d\n"
        "def f():\n    import dbfsm.lazy\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    at_import = _imports("dbfsm.x.m", module)
    assert {"dbfsm.a", "dbfsm.b", "dbfsm.b.c", "dbfsm.d", "dbfsm.x.sibling"} <= at_import
    assert not {"dbfsm.typing_only", "dbfsm.lazy"} & at_import
    assert {"dbfsm.typing_only", "dbfsm.lazy"} <= _imports("dbfsm.x.m", module, anywhere=True)


def test_the_core_imports_no_tool_no_driver_and_no_io() -> None:
    for name, path in _modules().items():
        if not name.startswith("dbfsm.fsm"):
            continue
        imports = _imports(name, path, anywhere=True)
        outside = {m for m in imports if m.startswith("dbfsm.") and not m.startswith("dbfsm.fsm")}
        assert not outside, f"{name} imports {sorted(outside)}"
        io = {m for m in imports if m.split(".")[0] in IO_MODULES}
        assert not io, f"{name} imports {sorted(io)}"


def test_drivers_import_only_the_core_and_drivers() -> None:
    for name, path in _modules().items():
        if name.startswith("dbfsm.drivers"):
            ours = {m for m in _imports(name, path, anywhere=True) if m.startswith("dbfsm.")}
            others = {m for m in ours if not m.startswith(("dbfsm.fsm", "dbfsm.drivers"))}
            assert not others, f"{name} imports {sorted(others)}"


def test_the_command_line_modules_import_only_the_standard_library_and_the_core() -> None:
    """`dbfsm.cli.*` is argument parsing: a command function imports its tool when it runs."""
    for name, path in _modules().items():
        if name == "dbfsm.cli" or name.startswith("dbfsm.cli."):
            heavy = {
                m
                for m in _imports(name, path)
                if m.split(".")[0] not in sys.stdlib_module_names
                and m != "dbfsm"
                and not m.startswith(("dbfsm.fsm", "dbfsm.cli"))
            }
            assert not heavy, f"{name} imports {sorted(heavy)} when imported"


def test_every_public_name_resolves_and_import_needs_no_database_library() -> None:
    code = (
        "import sys, dbfsm\n"
        "assert 'psycopg' not in sys.modules and 'pymysql' not in sys.modules\n"
        "missing = [n for n in dbfsm.__all__ if getattr(dbfsm, n, None) is None]\n"
        "assert not missing, missing\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_sub_package_says_what_it_is_for() -> None:
    for init in _files("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init} has no docstring"


# -- a command imports only what it uses ------------------------------------------------------

# `dbfsm ARGV` in a fresh interpreter in which PyMySQL and psycopg cannot be imported (as
# where they are not installed); with "--libraries", in one where they can.
_DBFSM = f"""
import importlib.abc, sys

class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {DATABASE_LIBRARIES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

argv = sys.argv[1:]
if argv[:1] == ["--libraries"]:
    argv = argv[1:]
else:
    sys.meta_path.insert(0, _Refuse())
from dbfsm.cli import main
try:
    code = main(argv)
finally:
    sys.stdout.flush()
    loaded = sorted(m for m in sys.modules if m.startswith("dbfsm."))
    sys.stderr.write("LOADED " + " ".join(loaded) + "\\n")
sys.exit(code)
"""


def _dbfsm(*argv: str, libraries: bool = False) -> tuple[int, str, str, set[str]]:
    """(exit status, stdout, stderr, dbfsm modules imported) of `dbfsm ARGV`."""
    args = [sys.executable, "-c", _DBFSM, *(["--libraries"] if libraries else []), *argv]
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=120)
    err, _, loaded = done.stderr.rpartition("LOADED ")
    return done.returncode, done.stdout, err, set(loaded.split())


def test_check_and_simulate_run_without_the_database_libraries() -> None:
    from dbfsm.files.reading import load_file
    from dbfsm.simulation.check import report

    for argv in (["check", EXAMPLE], ["simulate"], ["simulate", "--format", "json"]):
        code, out, err, loaded = _dbfsm(*argv)
        assert (code, err) == (0, ""), (argv, err)
        assert (code, out, err) == _dbfsm(*argv, libraries=True)[:3], argv
        assert out.endswith("\n") and len(out.splitlines()) > 5, argv
        assert not {m for m in loaded if m.startswith(("dbfsm.live", "dbfsm.validation"))}
        assert "dbfsm.drivers.live" not in loaded, argv
        if argv[0] == "check":
            assert out == report(load_file(EXAMPLE))


def test_run_without_the_database_libraries_says_so_in_one_line() -> None:
    code, out, err, _ = _dbfsm("run", EXAMPLE, "--until", "1")
    assert (code, out) == (2, "")
    assert err == (
        "dbfsm run: live connections need PyMySQL, which is not installed: pip install PyMySQL\n"
    )


def test_run_of_a_bad_configuration_says_the_same_with_or_without_the_libraries(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"Dhcp4": {"lease-database": {"type": "mysql", "name": "k", "on-fail": "x"}}}')
    said = _dbfsm("run", str(bad))[:3]
    assert said == _dbfsm("run", str(bad), libraries=True)[:3]
    code, out, err = said
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith(f"dbfsm run: {bad}:") and "Invalid action on connection loss" in err


def test_a_command_line_imports_the_one_cli_module_it_runs() -> None:
    _, _, _, loaded = _dbfsm("--help")
    assert not {m for m in loaded if m.startswith("dbfsm.cli.")}, loaded
    _, _, _, loaded = _dbfsm("diagram")
    assert {m for m in loaded if m.startswith("dbfsm.cli.")} == {"dbfsm.cli.docs"}


# -- the wheel -------------------------------------------------------------------------------


def test_the_wheel_holds_the_dbfsm_package_only(tmp_path: Path) -> None:
    """Built from a copy of what the build reads, so that no build/ or egg-info lands in
    the checkout; the links dbfsm/fsm and dbfsm/drivers are copied as links."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("dbfsm", "fsm", "drivers"):
        shutil.copytree(REPO / name, source / name, symlinks=True, ignore=skip)
    out = tmp_path / "wheel"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), "."],
        cwd=source,
        env=env,
        check=True,
        timeout=300,
    )
    (wheel,) = out.glob("dbfsm-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"dbfsm", f"{wheel.name.split('-py')[0]}.dist-info"}, top
    assert "dbfsm/fsm/engine.py" in names
    assert "dbfsm/drivers/schema/postgresql/create.sql" in names
