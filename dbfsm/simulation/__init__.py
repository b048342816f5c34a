"""Simulation: scenarios of faults and commands run on a virtual clock.

`scenario` reads a scenario, `virtual` is the runtime whose clock jumps from one scheduled
thing to the next, `simulate` runs a scenario into records, and `check` explains a
configuration by simulating each backend's failure.
"""
