"""Certificates for TLS to private database servers (tests, real-Kea spec runs), made with
the openssl command line.

Two certificate authorities: the one the servers' and the client's certificates come from,
and an unrelated one, so a test can trust the wrong CA and see the verification fail.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA that signed server and client
    wrong_ca: Path  # a CA that signed nothing used here
    ca_dir: Path  # a directory holding `ca` under its subject-hash name (a CA path)
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(words: str, *paths: str | Path) -> str:
    """Run `openssl` with the fixed `words` (split at spaces) followed by `paths`."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is not installed (apt-get install openssl)")
    command = ["openssl", *words.split(), *map(str, paths)]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subject = f"/CN=dbfsm-test-{name}"
    _openssl(
        f"req -x509 -newkey rsa:2048 -nodes -days 2 -subj {subject} -keyout", key, "-out", cert
    )
    return cert, key


def _make_signed(
    directory: Path, name: str, cn: str, ca: tuple[Path, Path], extensions: str
) -> tuple[Path, Path]:
    cert, key, csr, ext = (directory / f"{name}.{s}" for s in ("crt", "key", "csr", "ext"))
    ext.write_text(extensions)
    _openssl(f"req -newkey rsa:2048 -nodes -subj /CN={cn} -keyout", key, "-out", csr)
    _openssl(
        "x509 -req -days 2 -CAcreateserial -in",
        csr,
        "-CA",
        ca[0],
        "-CAkey",
        ca[1],
        "-extfile",
        ext,
        "-out",
        cert,
    )
    key.chmod(0o600)
    return cert, key


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(directory, "ca")
    wrong_ca, _ = _make_ca(directory, "wrong-ca")
    server = _make_signed(
        directory,
        "server",
        "localhost",
        ca,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    client = _make_signed(directory, "client", "dbfsm", ca, "extendedKeyUsage=clientAuth\n")
    ca_dir = directory / "ca-path"
    ca_dir.mkdir(exist_ok=True)
    subject_hash = _openssl("x509 -hash -noout -in", ca[0]).strip()
    shutil.copy(ca[0], ca_dir / f"{subject_hash}.0")
    return Pki(ca[0], wrong_ca, ca_dir, *server, *client)
