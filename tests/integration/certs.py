"""The test certificates, now in the package (`dbfsm.validation.kea.certs`) so the real-Kea
spec runner can use them too; this name stays for the tests."""

from dbfsm.validation.kea.certs import Pki, make_pki

__all__ = ["Pki", "make_pki"]
