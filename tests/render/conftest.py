"""Fixtures for the render tests.

Missing renderers make these tests FAIL with a message saying what to install; nothing here
skips.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from .errors import RendererUnavailable
from .graphviz import find_dot
from .mermaid import find_chromium, find_mermaid_js


def _version(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unusable ({exc})"
    # dot prints its version on stderr; Debian's chromium wrapper prints shell noise there.
    lines = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    return lines[-1] if lines else f"no version (exit {proc.returncode})"


def _describe(find: Callable[[], str], version_args: list[str]) -> str:
    try:
        binary = find()
    except RendererUnavailable as exc:
        return f"MISSING: {exc}"
    return f"{binary}: {_version([binary, *version_args])}"


def _mermaid_version() -> str:
    try:
        js = find_mermaid_js()
    except RendererUnavailable as exc:
        return f"MISSING: {exc}"
    package_json = js.parents[1] / "package.json"
    try:
        version = json.loads(package_json.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        version = "unknown version"
    return f"{js}: {version}"


def pytest_report_header() -> list[str]:
    return [
        "render: chromium " + _describe(find_chromium, ["--version"]),
        "render: mermaid " + _mermaid_version(),
        "render: dot " + _describe(find_dot, ["-V"]),
    ]


def _require(find: Callable[[], object]) -> None:
    try:
        find()
    except RendererUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def mermaid_renderer() -> None:
    """Fail (not skip) the requesting test at once if Chromium or Mermaid is missing."""
    _require(find_chromium)
    _require(find_mermaid_js)


@pytest.fixture(scope="session")
def dot_renderer() -> None:
    """Fail (not skip) the requesting test at once if Graphviz's dot is missing."""
    _require(find_dot)
