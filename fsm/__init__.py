"""dbfsm: Kea's database-connectivity behaviour as an explicit finite-state machine."""

__version__ = "0.1.0"
