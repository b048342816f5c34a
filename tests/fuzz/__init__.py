"""Fuzz tests: every reader of dbfsm against hostile files, documents, paths and commands."""
