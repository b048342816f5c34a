"""Kea's TLS parameters mapped onto each client library (kea-behaviour.md §5).

MySQL: TLS is configured when any of `trust-anchor`, `cert-file`, `key-file`, `cipher-list`
is given; as Kea, the client does not itself insist on TLS (a server without it is answered
in clear text, and the driver reports `tls_missing` so the engine logs `*_NO_TLS`). A given
trust anchor is verified (a file is the CA, a directory a CA path); the host name is not,
as with PostgreSQL's `verify-ca`.

PostgreSQL: the parameters only feed libpq (`sslrootcert`, `sslcert`, `sslkey`, `sslmode`
as `fsm.config` derived it, `gssencmode=disable` whenever TLS is configured); `cipher-list`
is ignored, as Kea ignores it.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dbfsm.drivers.session import OpenError

MYSQL_TLS_KEYS = ("trust-anchor", "cert-file", "key-file", "cipher-list")
POSTGRESQL_TLS_KEYS = ("ssl-mode", "trust-anchor", "cert-file", "key-file")


def mysql_tls_configured(parameters: Mapping[str, Any]) -> bool:
    return any(key in parameters for key in MYSQL_TLS_KEYS)


def mysql_context(parameters: Mapping[str, Any]) -> ssl.SSLContext | None:
    """The TLS context for PyMySQL, or None when no TLS parameter is given.

    A file that cannot be used fails the open with Kea's text (`unable to set CA: ...`,
    `unable to set CA path: ...`, `unable to set certificate: ...`, `unable to set cipher:
    ...`, mysql_connection.cc:256-279).
    """
    if not mysql_tls_configured(parameters):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    anchor = parameters.get("trust-anchor")
    if anchor is not None:
        is_dir = Path(anchor).is_dir()
        with _kea_error("CA path" if is_dir else "CA"):
            if is_dir:
                context.load_verify_locations(capath=anchor)
            else:
                context.load_verify_locations(cafile=anchor)
        context.verify_mode = ssl.CERT_REQUIRED
    if "cert-file" in parameters:
        with _kea_error("certificate"):
            context.load_cert_chain(parameters["cert-file"], parameters.get("key-file"))
    if "cipher-list" in parameters:
        with _kea_error("cipher"):
            context.set_ciphers(parameters["cipher-list"])
    return context


@contextlib.contextmanager
def _kea_error(what: str) -> Iterator[None]:
    try:
        yield
    except (OSError, ssl.SSLError, ValueError) as e:
        raise OpenError(f"unable to set {what}: {e}") from None


@functools.cache
def opportunistic_context() -> ssl.SSLContext:
    """MySQL without TLS parameters: TLS if the server offers it, nothing verified (as
    PyMySQL's and libmysqlclient's "preferred" mode), built once: loading a CA store on every
    connect would cost a connection attempt a tenth of a second."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def postgresql_parameters(parameters: Mapping[str, Any]) -> dict[str, str]:
    """The libpq keywords for the TLS parameters given (none: libpq's own default)."""
    if not any(key in parameters for key in POSTGRESQL_TLS_KEYS):
        return {}
    libpq = {"gssencmode": "disable"}
    for kea, keyword in (
        ("trust-anchor", "sslrootcert"),
        ("cert-file", "sslcert"),
        ("key-file", "sslkey"),
        ("ssl-mode", "sslmode"),
    ):
        if kea in parameters:
            libpq[keyword] = str(parameters[kea])
    libpq.setdefault("sslmode", "require")
    return libpq
