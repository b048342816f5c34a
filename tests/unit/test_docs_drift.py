"""The committed docs/ must be exactly what the graph gives (`python -m dbfsm.docs` regenerates).

If this fails after a change to fsm/graph.py or fsm/rules.py, run `python -m dbfsm.docs` and
commit docs/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dbfsm.docs import generate as docs
from dbfsm.docs.render import to_mermaid
from dbfsm.docs.views import VIEWS
from dbfsm.fsm.rules import RULES

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return docs.generate()


def test_committed_docs_are_what_the_graph_gives(generated: dict[str, str]) -> None:
    stale = docs.stale(DOCS, generated)
    assert stale == [], f"stale files under docs/: {stale}; run `{docs.COMMAND}` and commit docs/"


def test_generated_files_cover_every_view(generated: dict[str, str]) -> None:
    for view in VIEWS:
        assert f"diagrams/{view}.mmd" in generated and f"diagrams/{view}.dot" in generated
    assert "lifecycle.md" in generated


def test_lifecycle_page_embeds_every_view_and_names_every_rule(generated: dict[str, str]) -> None:
    page = generated["lifecycle.md"]
    fences = re.findall(r"```mermaid\n(.*?)```", page, re.DOTALL)
    for view in VIEWS.values():
        assert to_mermaid(view) in fences, view.name
    assert len(fences) == len(VIEWS) + 1  # and the highlighted example
    used = {t.rule for v in VIEWS.values() for t in v.graph.transitions}
    for rule_id in used:
        assert f"`{rule_id}`: “" in page
    rows = [line for line in page.splitlines() if line.startswith("| backend |")]
    assert len(rows) == len(VIEWS["backend"].graph.transitions)
    rows = [line for line in page.splitlines() if line.startswith("| server |")]
    assert len(rows) == len(VIEWS["server"].graph.transitions)
    assert page.count("**Differs from Kea:**") == sum(
        1 for v in ("backend", "server") for t in VIEWS[v].graph.transitions
        if RULES[t.rule].differs_from_kea
    )  # fmt: skip


def test_check_mode_lists_stale_files_and_regeneration_fixes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], generated: dict[str, str]
) -> None:
    assert docs.main(["--check", "--docs", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    for rel in generated:
        assert f"stale: {tmp_path / rel}\n" in err
    assert docs.main(["--docs", str(tmp_path)]) == 0
    assert docs.main(["--check", "--docs", str(tmp_path)]) == 0
    for rel, text in generated.items():
        assert (tmp_path / rel).read_text(encoding="utf-8") == text

    (tmp_path / "diagrams" / "server.dot").write_text("digraph edited {}\n")
    (tmp_path / "diagrams" / "old-view.mmd").write_text("stateDiagram-v2\n")
    (tmp_path / "notes.md").write_text("not generated: left alone\n")
    assert docs.stale(tmp_path, generated) == ["diagrams/old-view.mmd", "diagrams/server.dot"]
    capsys.readouterr()
    assert docs.main(["--docs", str(tmp_path)]) == 0
    assert "removed" in capsys.readouterr().out
    assert docs.stale(tmp_path, generated) == []
    assert not (tmp_path / "diagrams" / "old-view.mmd").exists()
    assert (tmp_path / "notes.md").exists()
