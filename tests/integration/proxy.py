"""The TCP fault proxy, now in the package (`dbfsm.validation.kea.proxy`) so the real-Kea
spec runner can use it too; this name stays for the tests."""

from dbfsm.validation.kea.proxy import MODES, FaultProxy

__all__ = ["MODES", "FaultProxy"]
