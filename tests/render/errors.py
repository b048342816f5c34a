"""Exceptions shared by the renderer harness."""

from __future__ import annotations


class RendererUnavailable(RuntimeError):
    """A renderer (Chromium, Mermaid or Graphviz) is not installed; the message says how."""


class RenderHarnessError(RuntimeError):
    """The renderer itself misbehaved: crashed, timed out or gave no usable answer."""


class DotError(RuntimeError):
    """``dot`` rejected its input; the message carries dot's stderr."""
