"""Validation: the model checked against the documentation, against itself and against logs.

`clauses` and `spec` run the documentation's clauses (specs/); `invariants`, `explore`,
`statespace`, `verify` and `counterexample` are the model checker; `kealog` reads a real
Kea log and `conform` decides whether a recorded run is one the model allows.
"""
