"""Every diagram dbfsm generates renders in the real renderers: Mermaid (in headless Chromium)
and Graphviz's dot. A diagram a renderer rejects fails the build; a missing renderer fails too
(conftest's fixtures), never skips.

Mermaid is lenient in a dangerous way: some characters in a label do not raise an error but
silently cut the label (`;` ends the statement). So besides "no error", the rendered text
nodes must contain every state name and every edge label exactly as the graph words them.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from dbfsm.docs import generate as docs
from dbfsm.docs.diagram import render
from dbfsm.docs.render import TAKEN_MARK, edge_label, self_loops, to_dot, to_image, to_mermaid
from dbfsm.docs.views import VIEWS, Edge, Highlight, View, trace
from dbfsm.fsm.graph import Graph, Guard, State, Transition

from .graphviz import render_dot
from .mermaid import MermaidResult, render_mermaid, render_mermaid_detailed

pytestmark = pytest.mark.usefixtures("mermaid_renderer", "dot_renderer")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = resources.files("dbfsm") / "examples"
SCENARIOS = sorted(p.name for p in EXAMPLES.iterdir() if p.name.endswith(".yaml"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Labels that break Mermaid's state-diagram grammar when written raw (checked in Mermaid 11:
# `;` splits the statement, `::` is a parse error, `#x;` is an entity code, `%%` a comment).
NASTY = 'a: b; c :: d # e #35; {f} <g> & "h" %% i | j ` k \\ l'


def _nasty_view() -> View:
    graph = Graph(
        name="nasty",
        title='Nasty: "labels"; {and} #names',
        states=(State("end", "a Mermaid keyword"), State("two words", ""), State("ok", "")),
        initial="end",
        final=("ok",),
        guards={"g": Guard("g", NASTY, lambda m: True), "h": Guard("h", "x;y", lambda m: True)},
        effects={},
        transitions=(
            Transition(f"go{NASTY}", ("end",), "two words", "kea.shutdown", when=("g",)),
            Transition("on", ("two words",), "ok", "kea.shutdown", unless=("h",)),
            Transition("stay", ("ok",), None, "kea.shutdown"),
        ),
    )
    return View("nasty", graph)


@pytest.fixture(scope="module")
def highlights() -> dict[str, Highlight]:
    return {name: trace(str(EXAMPLES / name)) for name in SCENARIOS}


def _diagrams(highlights: dict[str, Highlight]) -> dict[str, tuple[View, Highlight | None]]:
    out: dict[str, tuple[View, Highlight | None]] = {}
    for view in VIEWS.values():
        out[view.name] = (view, None)
        for name, h in highlights.items():
            out[f"{view.name} --highlight {name}"] = (view, h)
    out["nasty"] = (_nasty_view(), None)
    return out


@pytest.fixture(scope="module")
def mermaid_results(
    highlights: dict[str, Highlight],
) -> tuple[dict[str, tuple[View, Highlight | None]], dict[str, MermaidResult]]:
    """Every generated Mermaid text, rendered in ONE Chromium run."""
    diagrams = _diagrams(highlights)
    texts = {name: to_mermaid(view, h) for name, (view, h) in diagrams.items()}
    return diagrams, render_mermaid_detailed(texts)


def test_every_mermaid_diagram_renders(
    mermaid_results: tuple[dict[str, tuple[View, Highlight | None]], dict[str, MermaidResult]],
) -> None:
    diagrams, results = mermaid_results
    failed = {name: r.error for name, r in results.items() if r.error is not None}
    assert failed == {}
    assert set(results) == set(diagrams)
    for name, result in results.items():
        assert result.kind == "stateDiagram", name


def test_rendered_mermaid_shows_every_state_label_and_title(
    mermaid_results: tuple[dict[str, tuple[View, Highlight | None]], dict[str, MermaidResult]],
) -> None:
    diagrams, results = mermaid_results
    for name, (view, h) in diagrams.items():
        texts = results[name].texts
        counts = h.counts(view) if h is not None else {}
        for state in view.state_names:
            assert state in texts, (name, state)

        def shown(edge: Edge, view: View = view, counts: dict[Edge, int] = counts) -> str:
            label = edge_label(view, edge)
            if edge in counts:
                n = counts[edge]
                label += f" {TAKEN_MARK}" + (f"\u00d7{n}" if n > 1 else "")
            return label

        loops = self_loops(view)
        for edge in view.edges:
            # Several self-loops of one state are one Mermaid loop, a line per edge.
            group = loops[edge.source] if edge.source == edge.dest else [edge]
            label = "".join(shown(e) for e in group)
            assert label in texts, (name, label)
        title = view.title if h is None else f"{view.title}: path of {h.name}"
        assert title in texts, (name, title)


def test_the_nasty_labels_arrive_intact(
    mermaid_results: tuple[dict[str, tuple[View, Highlight | None]], dict[str, MermaidResult]],
) -> None:
    _, results = mermaid_results
    texts = results["nasty"].texts
    assert f"go{NASTY} [{NASTY}]" in texts
    assert "on [not x;y]" in texts
    assert {"end", "two words", "ok", "stay"} <= set(texts)


def test_the_mermaid_in_docs_renders() -> None:
    """What GitHub shows: the fences of docs/lifecycle.md and docs/diagrams/*.mmd, as committed
    and as generated now."""
    generated = docs.generate()
    texts: dict[str, str] = {}
    sources = {"generated": generated["lifecycle.md"]}
    committed_page = REPO / "docs" / docs.LIFECYCLE
    sources["committed"] = committed_page.read_text(encoding="utf-8")
    for origin, page in sources.items():
        fences = re.findall(r"```mermaid\n(.*?)```", page, re.DOTALL)
        assert len(fences) == len(VIEWS) + 1
        texts.update({f"{origin} lifecycle.md fence {i}": t for i, t in enumerate(fences)})
    for rel, text in generated.items():
        if rel.endswith(".mmd"):
            texts[f"generated {rel}"] = text
    for path in sorted((REPO / "docs" / docs.DIAGRAMS).glob("*.mmd")):
        texts[f"committed {path.name}"] = path.read_text(encoding="utf-8")
    assert render_mermaid(texts) == dict.fromkeys(texts)


def test_every_dot_diagram_renders(highlights: dict[str, Highlight]) -> None:
    for name, (view, h) in _diagrams(highlights).items():
        svg = render_dot(to_dot(view, h)).decode("utf-8")
        for state in view.state_names:
            assert f">{state}</text>" in svg, (name, state)
    for path in sorted((REPO / "docs" / docs.DIAGRAMS).glob("*.dot")):
        assert b"<svg" in render_dot(path.read_text(encoding="utf-8")), path.name


@pytest.mark.parametrize("view", list(VIEWS.values()), ids=lambda v: v.name)
def test_svg_and_png_through_the_graphviz_package(view: View) -> None:
    svg = to_image(view, "svg")
    assert svg == render(view, "svg")
    assert f">{view.graph.initial}</text>".encode() in svg
    assert to_image(view, "png").startswith(PNG_MAGIC)
    assert render_dot(to_dot(view), "png").startswith(PNG_MAGIC)
