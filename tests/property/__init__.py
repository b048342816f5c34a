"""Property tests of dbfsm: random configurations, faults and commands against the engine."""
