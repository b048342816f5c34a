"""Validation: the model checked against the documentation, against itself and against logs.

`clauses` and `spec` run the documentation's clauses (specs/); `invariants`, `explore`,
`statespace`, `verify` and `counterexample` are the model checker; `conform` decides whether
a recorded run is one the model allows: `traces` reads the run (`kealog` a real Kea log's
lines) into the terms of `observations`, and `hypotheses` replays the model against it.
"""
