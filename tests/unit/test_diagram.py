"""Tests for `dbfsm diagram` (dbfsm.diagram, dbfsm.views, dbfsm.render).

The diagrams are checked against the graph itself (`fsm.graph`), never against a copy of it:
every edge and label is parsed back out of the text and compared with the declaration.
Rendering in the real renderers is tests/render/test_diagrams_render.py.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from dbfsm import cli
from dbfsm.cli.docs import diagram as command
from dbfsm.docs.diagram import EXTENSIONS, highlight_of, render
from dbfsm.docs.render import (
    TAKEN_MARK,
    dot_quote,
    edge_label,
    guard_words,
    mermaid_escape,
    to_dot,
    to_mermaid,
)
from dbfsm.docs.views import VIEWS, Edge, Highlight, View, get_view, trace
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.graph import BACKEND, GRAPHS, SERVER
from dbfsm.fsm.settings import OnFail
from dbfsm.simulation import scenario as scenario_module
from dbfsm.simulation import simulate

EXAMPLES = resources.files("dbfsm") / "examples"
EXAMPLE_NAMES = sorted(
    p.name.removesuffix(".yaml") for p in EXAMPLES.iterdir() if p.name.endswith(".yaml")
)
MODE_VIEWS = [VIEWS[m.value] for m in OnFail]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_EDGE_RE = re.compile(r"^    (\S+) --> (\S+) : (.*)$")


def example(name: str) -> Path:
    return Path(str(EXAMPLES / f"{name}.yaml"))


def mermaid_edges(text: str) -> list[tuple[str, str, str]]:
    """(source, dest, label) of every labelled transition line of a Mermaid text; several
    self-loops of one state are one line, a `<br/>`-separated label per edge."""
    return [
        (m[1], m[2], label)
        for line in text.splitlines()
        if (m := _EDGE_RE.match(line))
        for label in m[3].split("<br/>")
    ]


def unmark(label: str) -> str:
    return re.sub(f" {TAKEN_MARK}(\u00d7\\d+)?$", "", label)


@pytest.fixture(scope="module")
def highlights() -> dict[str, Highlight]:
    return {name: trace(example(name)) for name in EXAMPLE_NAMES}


# ---------------------------------------------------------------------------------------------
# Views: what each one shows
# ---------------------------------------------------------------------------------------------


def test_views_are_the_lifecycles_and_one_per_on_fail_mode() -> None:
    assert list(VIEWS) == ["backend", "server", *(m.value for m in OnFail)]
    assert VIEWS["backend"].graph is BACKEND and VIEWS["server"].graph is SERVER
    for view in MODE_VIEWS:
        assert view.graph is BACKEND and view.mode is not None and view.name == view.mode.value


@pytest.mark.parametrize("name", ["backend", "server"])
def test_whole_lifecycle_views_show_every_state_and_every_declared_edge(name: str) -> None:
    view = VIEWS[name]
    graph = GRAPHS[name]
    assert view.state_names == graph.state_names
    expected = Counter((i, s) for i, t in enumerate(graph.transitions) for s in t.source)
    assert Counter((e.index, e.source) for e in view.edges) == expected


@pytest.mark.parametrize("view", MODE_VIEWS, ids=lambda v: v.name)
def test_mode_view_has_only_that_modes_transitions(view: View) -> None:
    assert view.mode is not None
    possible = {i for i, t in enumerate(BACKEND.transitions) if t in BACKEND.for_mode(view.mode)}
    assert {e.index for e in view.edges} <= possible
    # ...and all of them, from every state it keeps.
    expected = {
        (i, s) for i in possible for s in BACKEND.transitions[i].source if s in view.state_names
    }
    assert {(e.index, e.source) for e in view.edges} == expected
    for edge in view.edges:
        assert edge.source in view.state_names and edge.dest in view.state_names


def test_mode_views_leave_out_states_the_mode_never_reaches() -> None:
    assert "fatal" not in VIEWS["serve-retry-continue"].state_names
    assert "abandoned" not in VIEWS["stop-retry-exit"].state_names
    assert "abandoned" not in VIEWS["serve-retry-exit"].state_names
    assert "abandoned" in VIEWS["serve-retry-continue"].state_names
    assert "fatal" in VIEWS["stop-retry-exit"].state_names
    for view, state in (("serve-retry-continue", "fatal"), ("stop-retry-exit", "abandoned")):
        text = to_mermaid(VIEWS[view]) + to_dot(VIEWS[view])
        assert not re.search(rf"(?<![\w.-]){state}(?![\w-])", text), (view, state)


def test_only_stop_retry_exit_stops_the_service() -> None:
    label = BACKEND.guards["stops_service_on_loss"].label
    for view in MODE_VIEWS:
        when = [e for e in view.edges if "stops_service_on_loss" in e.transition.when]
        assert bool(when) == (view.mode is OnFail.STOP_RETRY_EXIT), view.name
        assert (f", {label}," in to_mermaid(view)) == (view.mode is OnFail.STOP_RETRY_EXIT)


def test_get_view_rejects_unknown_names() -> None:
    with pytest.raises(InputError, match=r"unknown view 'nope'.*backend"):
        get_view("nope")


# ---------------------------------------------------------------------------------------------
# Mermaid and DOT text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", list(VIEWS.values()), ids=lambda v: v.name)
def test_mermaid_edges_and_labels_are_the_graphs(view: View) -> None:
    text = to_mermaid(view)
    expected = [(e.source, e.dest, edge_label(view, e)) for e in view.edges]
    assert mermaid_edges(text) == expected
    lines = text.splitlines()
    assert lines[:4] == ["---", f'title: "{view.title}"', "---", "stateDiagram-v2"]
    assert f"    [*] --> {view.graph.initial}" in lines
    assert [line for line in lines if line.endswith("--> [*]")] == [
        f"    {s} --> [*]" for s in view.final
    ]
    assert "classDef" not in text and TAKEN_MARK not in text


def test_labels_are_trigger_and_guards_in_the_documentations_words() -> None:
    view = VIEWS["backend"]
    edge = next(e for e in view.edges if e.transition.rule == "doc.serve-retry-continue")
    assert edge_label(view, edge) == (
        "open_failed [not exit if recovery is not successful, not retries left]"
    )
    used = {g for t in BACKEND.transitions for g in (*t.when, *t.unless)}
    text = to_mermaid(view)
    for name in used:
        assert BACKEND.guards[name].label in text
    unguarded = next(e for e in view.edges if e.trigger == "timer_fired")
    assert edge_label(view, unguarded) == "timer_fired"


def test_internal_transitions_are_drawn_as_loops() -> None:
    view = VIEWS["backend"]
    loops = [e for e in view.edges if e.internal]
    assert {e.source for e in loops} == {"retry_pending", "reconnecting", "waiting", "abandoned"}
    assert all(e.dest == e.source for e in loops)
    dot = to_dot(view)
    assert (
        '"waiting" -> "waiting" [label="lost", tooltip="kea.loss-during-recovery", style="dashed"]'
        in dot
    )


@pytest.mark.parametrize("view", list(VIEWS.values()), ids=lambda v: v.name)
def test_dot_has_every_state_and_edge(view: View) -> None:
    text = to_dot(view)
    assert text.startswith("// dbfsm diagram --view ")
    assert f"digraph {dot_quote(view.name)} {{" in text
    assert f"label={dot_quote(view.title)}" in text
    for state in view.state_names:
        assert f"\n    {dot_quote(state)} [tooltip=" in text
    for final in view.final:
        assert re.search(rf'\n    "{final}" \[[^\n]*peripheries=2', text)
    assert f'"[*]" -> {dot_quote(view.graph.initial)}\n' in text
    edge_lines = [line for line in text.splitlines() if " -> " in line and "[*]" not in line]
    assert len(edge_lines) == len(view.edges)
    for line, edge in zip(edge_lines, view.edges, strict=True):
        assert line.startswith(f"    {dot_quote(edge.source)} -> {dot_quote(edge.dest)} [label=")
        assert f'tooltip="{edge.transition.rule}"' in line
        for word in guard_words(view.graph, edge.transition):
            assert word in line


def test_mermaid_escape_leaves_plain_text_and_encodes_the_rest() -> None:
    plain = "open_failed [not retries left, max-reconnect-tries or x is 0] (a/b) é"
    assert mermaid_escape(plain) == plain
    assert mermaid_escape('a: b; c # d {e} <f> & "g" %% h') == (
        "a#58; b#59; c #35; d #123;e#125; #60;f#62; #38; #34;g#34; #37;#37; h"
    )
    assert mermaid_escape("a\nb\tc") == "a#10;b#9;c"


def test_dot_quote_escapes_backslashes_and_quotes() -> None:
    assert dot_quote('a "b" \\N c\nd') == '"a \\"b\\" \\\\N c\\nd"'


def test_state_names_mermaid_cannot_take_get_safe_ids() -> None:
    from dbfsm.fsm.graph import Graph, Guard, State, Transition

    graph = Graph(
        name="odd",
        title="Odd: names",
        states=(State("end", "a keyword"), State("two words", "a space"), State("ok", "")),
        initial="end",
        final=("ok",),
        guards={"g": Guard("g", "x: y; z", lambda m: True)},
        effects={},
        transitions=(
            Transition("go", ("end",), "two words", "kea.shutdown", when=("g",)),
            Transition("on", ("two words",), "ok", "kea.shutdown"),
        ),
    )
    text = to_mermaid(View("odd", graph))
    assert 'state "end" as s0' in text and 'state "two words" as s1' in text
    assert "s0 --> s1 : go [x#58; y#59; z]" in text
    assert "ok --> [*]" in text
    assert 'title: "Odd: names"' in text


# ---------------------------------------------------------------------------------------------
# Formats and byte stability
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(EXTENSIONS))
@pytest.mark.parametrize("view", list(VIEWS.values()), ids=lambda v: v.name)
def test_every_view_in_every_format(view: View, fmt: str) -> None:
    data = render(view, fmt)
    if fmt == "mermaid":
        assert data == to_mermaid(view).encode()
    elif fmt == "dot":
        assert data == to_dot(view).encode()
    elif fmt == "svg":
        assert b"<svg" in data and view.graph.initial.encode() in data
    else:
        assert data.startswith(PNG_MAGIC)
    assert render(view, fmt) == data


def test_render_rejects_unknown_formats() -> None:
    with pytest.raises(InputError, match="unknown format 'gif'"):
        render(VIEWS["backend"], "gif")


_DUMP = """
import sys
from dbfsm.docs.diagram import VIEWS, highlight_of, to_dot, to_mermaid
h = highlight_of(sys.argv[1])
for v in VIEWS.values():
    for x in (None, h):
        sys.stdout.write(to_mermaid(v, x) + to_dot(v, x))
"""


def test_output_is_byte_stable_across_processes_and_hash_seeds() -> None:
    scenario = str(example("default"))
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", _DUMP, scenario], capture_output=True, env=env, check=True
        )
        outputs.add(proc.stdout)
    assert len(outputs) == 1
    h = highlight_of(scenario)
    here = "".join(to_mermaid(v, x) + to_dot(v, x) for v in VIEWS.values() for x in (None, h))
    assert outputs == {here.encode()}


# ---------------------------------------------------------------------------------------------
# --highlight
# ---------------------------------------------------------------------------------------------


def _taken(name: str, keep: object) -> Counter[tuple[str, str, str]]:
    """(source, trigger, dest) -> times, straight from `dbfsm simulate`'s report."""
    scenario = scenario_module.load(example(name))
    result = simulate.run(scenario)
    modes = {b.key: b.on_fail for b in scenario.settings.backends}
    return Counter(
        (a.source, a.trigger, a.dest)
        for _, a in result.transitions
        if keep(a.machine, modes.get(a.machine))  # type: ignore[operator]
    )


def _marked(view: View, highlight: Highlight) -> Counter[tuple[str, str, str]]:
    """(source, trigger, dest) -> times, as the Mermaid text marks them."""
    out: Counter[tuple[str, str, str]] = Counter()
    for source, dest, label in mermaid_edges(to_mermaid(view, highlight)):
        m = re.search(f" {TAKEN_MARK}(?:\u00d7(\\d+))?$", label)
        if m:
            out[(source, label.split(" ")[0], dest)] += int(m.group(1) or 1)
    return out


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_highlight_marks_exactly_the_transitions_the_scenario_took(
    name: str, highlights: dict[str, Highlight]
) -> None:
    h = highlights[name]
    assert h.name == f"{name}.yaml"
    backend_taken = _taken(name, lambda machine, mode: machine != "server")
    assert backend_taken, "every example changes some backend's state"
    assert _marked(VIEWS["backend"], h) == backend_taken
    assert _marked(VIEWS["server"], h) == _taken(name, lambda machine, mode: machine == "server")
    for view in MODE_VIEWS:
        expected = _taken(name, lambda machine, mode, v=view: mode is v.mode)
        assert _marked(view, h) == expected, view.name
        # A mode view names one declaration per taken change: no double marks.
        assert sum(h.counts(view).values()) == sum(expected.values())


def test_highlight_picks_the_declaration_that_was_taken(highlights: dict[str, Highlight]) -> None:
    h = highlights["stop-retry-exit"]
    counts = h.counts(VIEWS["backend"])
    lost = [
        e
        for e in VIEWS["backend"].edges
        if (e.source, e.trigger, e.dest) == ("online", "lost", "reconnecting")
    ]
    assert {e.transition.rule: counts[e] for e in lost} == {
        "doc.stop-retry-exit": 1,
        "doc.loss-reconnects": 0,
    }


@pytest.mark.parametrize(
    ("event", "rule"),
    [
        ('{at: 0, schema: lease-database, version: "1.0"}', "kea.schema-mismatch-not-retried"),
        ("{at: 0, down: lease-database}", "doc.startup-fatal"),
    ],
)
def test_highlight_tells_apart_declarations_with_the_same_endpoints(
    tmp_path: Path, event: str, rule: str
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "config:\n  Dhcp4:\n    lease-database: {type: mysql, name: kea}\n"
        f"until: 2\nevents:\n  - {event}\n"
    )
    h = trace(scenario)
    view = VIEWS["backend"]
    marked = {e.transition.rule for e in h.counts(view) if e.dest == "unreachable"}
    assert marked == {rule}


def test_highlighted_text_colours_visited_states_and_says_which_scenario(
    highlights: dict[str, Highlight],
) -> None:
    h = highlights["stop-retry-exit"]
    view = VIEWS["stop-retry-exit"]
    text = to_mermaid(view, h)
    assert (
        'title: "Backend lifecycle, on-fail stop-retry-exit: path of stop-retry-exit.yaml"' in text
    )
    assert "    class configured,connecting,online,reconnecting,waiting,fatal taken" in text
    assert "    reconnecting --> waiting : open_failed [retries left] \u2714\u00d72" in text
    dot = to_dot(view, h)
    assert re.search(r'\n    "fatal" \[tooltip="[^"]*", style="rounded,filled"', dot)
    assert dot.count("penwidth=2.5") == len(h.counts(view))
    # Without the highlight the same edges carry no mark.
    assert [unmark(label) for _, _, label in mermaid_edges(text)] == [
        label for _, _, label in mermaid_edges(to_mermaid(view))
    ]


def test_highlight_accepts_a_builtin_example_name() -> None:
    assert highlight_of("serve-retry-exit") == highlight_of(str(example("serve-retry-exit")))


def test_highlight_of_a_missing_scenario_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read scenario"):
        highlight_of(str(tmp_path / "nope.yaml"))


# ---------------------------------------------------------------------------------------------
# command() and the command line
# ---------------------------------------------------------------------------------------------


def _args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "view": "backend",
        "format": "mermaid",
        "output": None,
        "highlight": None,
    }
    return argparse.Namespace(**{**base, **kw})


def dbfsm(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_default_is_the_backend_view_in_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = dbfsm(["diagram"], capsys)
    assert (code, err) == (0, "")
    assert out == to_mermaid(VIEWS["backend"])


def test_cli_prints_svg_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = dbfsm(["diagram", "--view", "server", "--format", "svg"], capsys)
    assert code == 0 and "<svg" in out and ">not_serving</text>" in out


@pytest.mark.parametrize("fmt", list(EXTENSIONS))
def test_cli_view_all_writes_one_file_per_view(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "new" / "dir"
    code, out, err = dbfsm(
        ["diagram", "--view", "all", "--format", fmt, "-o", str(out_dir), "--highlight", "default"],
        capsys,
    )
    assert (code, out, err) == (0, "", "")
    ext = EXTENSIONS[fmt]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(f"{v}.{ext}" for v in VIEWS)
    if fmt in ("mermaid", "dot"):
        h = highlight_of("default")
        for view in VIEWS.values():
            assert (out_dir / f"{view.name}.{ext}").read_bytes() == render(view, fmt, h)


def test_cli_writes_png_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "b.png"
    code, _, _ = dbfsm(["diagram", "--format", "png", "--output", str(target)], capsys)
    assert code == 0 and target.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--view", "nope"], "invalid choice: 'nope'"),
        (["--format", "gif"], "invalid choice: 'gif'"),
        (["--format", "png"], "png is binary: give --output FILE"),
        (["--view", "all"], "--view all writes one file per view: give --output DIRECTORY"),
        (["-o", "/nonexistent-dir/x.mmd"], "/nonexistent-dir/x.mmd: cannot write the diagram"),
        (["-o", "{tmp}"], "{tmp}: cannot write the diagram: Is a directory"),
        (["--view", "all", "-o", "{tmp}/file/sub"], "cannot create directory {tmp}/file/sub"),
        (["--highlight", "{tmp}/missing.yaml"], "cannot read scenario"),
        (["--highlight", "{tmp}/file"], "{tmp}/file"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not: [a scenario")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = dbfsm(["diagram", *argv], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert "Traceback" not in err


def test_missing_dot_binary_says_to_install_graphviz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot anywhere on PATH
    for fmt in ("svg", "png"):
        code, _, err = dbfsm(["diagram", "--format", fmt, "-o", str(tmp_path / f"x.{fmt}")], capsys)
        assert code == 2 and err.count("\n") == 1
        assert "install Debian's graphviz (apt-get install graphviz)" in err
    with pytest.raises(InputError, match="graphviz"):
        command(_args(format="svg"))


def test_missing_graphviz_package_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    with pytest.raises(InputError, match=r"pip install 'dbfsm\[diagrams\]'"):
        command(_args(format="svg"))


def test_run_checks_its_arguments_without_argparse() -> None:
    with pytest.raises(InputError, match="unknown view"):
        command(_args(view="nope"))
    with pytest.raises(InputError, match="unknown format"):
        command(_args(format="gif"))


def test_edges_are_one_per_source_of_each_transition() -> None:
    close = [e for e in VIEWS["backend"].edges if e.trigger == "close"]
    assert {e.source for e in close} == set(BACKEND.state_names) - {"closed"}
    assert all(isinstance(e, Edge) and e.dest == "closed" for e in close)
