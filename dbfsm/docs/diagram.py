"""`dbfsm diagram`: draw the lifecycle graphs from their declaration in `fsm.graph`.

Views: `backend` and `server` (the whole lifecycles) and one per `on-fail` mode (the backend
lifecycle cut to what that mode can do). Formats: `mermaid` (the default, for Markdown),
`dot`, and `svg` / `png` drawn by Graphviz. `--highlight SCENARIO` colours the path a
`dbfsm simulate` scenario takes. The same graph always gives the same bytes.
"""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path

from dbfsm.docs.render import IMAGE_FORMATS, to_dot, to_image, to_mermaid
from dbfsm.docs.views import VIEWS, Highlight, View, get_view, trace
from dbfsm.files.output import write_file
from dbfsm.fsm.errors import InputError

__all__ = [
    "ALL",
    "EXTENSIONS",
    "VIEWS",
    "draw",
    "highlight_of",
    "render",
    "to_dot",
    "to_mermaid",
]

ALL = "all"
# Format -> file extension; `dbfsm diagram --view all -o DIR` writes DIR/<view>.<extension>.
EXTENSIONS = {"mermaid": "mmd", "dot": "dot", "svg": "svg", "png": "png"}


def highlight_of(scenario: str) -> Highlight:
    """The path of `scenario`: a scenario file, or the name of a built-in example.

    Whatever `scenario` holds (a name too long for the system, a NUL byte, a directory), the
    file is opened only by the scenario reader, which turns every failure into one line."""
    path = Path(scenario)
    if _EXAMPLE_NAME.fullmatch(scenario) and not _exists(path):
        example = resources.files("dbfsm") / "examples" / f"{scenario}.yaml"
        if example.is_file():
            path = Path(str(example))
    return trace(path)


_EXAMPLE_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def render(view: View, fmt: str, highlight: Highlight | None = None) -> bytes:
    """`view` in format `fmt` as the bytes to write."""
    if fmt == "mermaid":
        return to_mermaid(view, highlight).encode("utf-8")
    if fmt == "dot":
        return to_dot(view, highlight).encode("utf-8")
    if fmt in IMAGE_FORMATS:
        return to_image(view, fmt, highlight)
    raise InputError(f"unknown format {fmt!r} (expected one of: {', '.join(EXTENSIONS)})")


def _write(path: Path, data: bytes) -> None:
    write_file(str(path), data, "the diagram")


def draw(view: str, fmt: str, output: str | None, scenario: str | None) -> int:
    """`dbfsm diagram`: `view` (a view's name or `ALL`) drawn in `fmt`, with the path of
    `scenario` (see `highlight_of`) coloured, written to `output` (None or "-": stdout; a
    directory for `ALL`); the exit status."""
    if fmt not in EXTENSIONS:
        raise InputError(f"unknown format {fmt!r} (expected one of: {', '.join(EXTENSIONS)})")
    names = tuple(VIEWS) if view == ALL else (get_view(view).name,)
    output = output if output != "-" else None
    if view == ALL and output is None:
        raise InputError("--view all writes one file per view: give --output DIRECTORY")
    if fmt == "png" and output is None:
        raise InputError("png is binary: give --output FILE")
    highlight = highlight_of(scenario) if scenario else None

    if view == ALL:
        assert output is not None
        directory = Path(output)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create directory {directory}: {err.strerror}") from None
        for name in names:
            data = render(VIEWS[name], fmt, highlight)
            _write(directory / f"{name}.{EXTENSIONS[fmt]}", data)
        return 0

    data = render(VIEWS[names[0]], fmt, highlight)
    if output is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        _write(Path(output), data)
    return 0
