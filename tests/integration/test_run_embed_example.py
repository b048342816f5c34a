"""docs/examples/embed.py (shown in the README) runs on the live driver against the local
PostgreSQL (127.0.0.1:5432, user postgres, database `test`) and does what it says."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "embed.py"


def test_embedding_example_runs_on_a_real_database(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    answers = [line for line in out if line.startswith("{'result'")]
    assert out[out.index("serving: True") + 1].startswith("lease acknowledged: ('lease-database'")
    assert answers[0].startswith("{'result': 1, 'text': 'Unable to open database: connection to")
    assert "port 1 failed: Connection refused" in answers[0]
    assert "serving: False {}" in out
    assert "status-get result: 0" in out
    assert answers[1].startswith("{'result': 0, 'text': 'Configuration successful.'")
    assert "serving: True open connections: 1" in out
    assert out[-2:] == ["exit code: 0", "open connections: 0"]
