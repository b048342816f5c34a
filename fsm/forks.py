"""Forks: an engine's objects copied so that a model checker can branch on them.

A model checker explores a state by trying each next step on its own copy of the world in
that state; replaying the path from the start for every step costs more than the steps.
Each forkable class (`Engine`, `Server`, `Backend`) has a `fork` that starts from `twin` and
then copies, by name, every container either copy changes later.
"""

from __future__ import annotations

from typing import TypeVar

_T = TypeVar("_T")


def twin(obj: _T) -> _T:
    """A new object of the same class with the same attribute values: a shallow copy without
    the pickling protocol `copy.copy` goes through (a checker makes thousands a second)."""
    new = object.__new__(type(obj))
    new.__dict__ = obj.__dict__.copy()
    return new
