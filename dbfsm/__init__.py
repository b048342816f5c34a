"""dbfsm: the tools around the engine (check, simulate, diagram, run and the rest)."""
