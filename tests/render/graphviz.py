"""Render Graphviz DOT text with the real ``dot`` program.

Prerequisite (the render tests FAIL, never skip, without it): Graphviz's ``dot``, from
``apt-get install -y graphviz`` (``/usr/bin/dot``), or set ``DBFSM_DOT`` to another ``dot``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from .errors import DotError, RendererUnavailable

__all__ = ["find_dot", "render_dot"]

DOT_ENV = "DBFSM_DOT"
_FORMAT_RE = re.compile(r"^[A-Za-z0-9_]+(:[A-Za-z0-9_]+){0,2}$")


def find_dot() -> str:
    """Return the ``dot`` binary, or raise :class:`RendererUnavailable` saying how to get it."""
    override = os.environ.get(DOT_ENV)
    if override:
        found = shutil.which(override)
        if found is None:
            raise RendererUnavailable(f"{DOT_ENV}={override!r} is not an executable dot binary")
        return found
    found = shutil.which("dot")
    if found is None and os.access("/usr/bin/dot", os.X_OK):
        found = "/usr/bin/dot"
    if found is None:
        raise RendererUnavailable(
            "Graphviz's `dot` not found on PATH or at /usr/bin/dot. Install it with "
            f"`apt-get install -y graphviz` (Debian), or set {DOT_ENV} to a dot binary."
        )
    return found


def render_dot(text: str, fmt: str = "svg", *, timeout: float = 60.0) -> bytes:
    """Render DOT ``text`` with ``dot -T<fmt>`` and return dot's output.

    Raises :class:`DotError`, carrying dot's stderr, when dot rejects the input (non-zero exit
    or no output) or does not finish within ``timeout`` seconds, and
    :class:`RendererUnavailable` when dot is missing.
    """
    if not _FORMAT_RE.match(fmt):
        raise ValueError(f"not a Graphviz output format: {fmt!r}")
    dot = find_dot()
    cmd = [dot, f"-T{fmt}"]
    try:
        proc = subprocess.run(
            cmd,
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DotError(f"`{' '.join(cmd)}` did not finish within {timeout:g} s") from None
    stderr = proc.stderr.decode("utf-8", errors="replace").strip()
    if proc.returncode != 0:
        raise DotError(
            f"`{' '.join(cmd)}` failed with exit status {proc.returncode}:\n"
            + (stderr or "(no stderr)")
        )
    if not proc.stdout:
        raise DotError(f"`{' '.join(cmd)}` produced no output:\n{stderr or '(no stderr)'}")
    return proc.stdout
