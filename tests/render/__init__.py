"""Render tests: Mermaid (headless Chromium) and Graphviz (``dot``) renderer harness.

This directory is a package on purpose: it keeps ``tests/render`` off ``sys.path``, so the
harness module ``graphviz.py`` here never shadows the ``graphviz`` library from PyPI.
"""
