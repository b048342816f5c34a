"""The core: Kea's database-connectivity lifecycle as a declared graph and a sans-I/O engine.

Events in, actions out, the clock injected: nothing here performs I/O or imports the tools
or the drivers.
"""

__version__ = "0.1.0"
