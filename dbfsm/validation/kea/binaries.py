"""Which Kea binaries a real-Kea run uses, and which Kea version they are."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from dbfsm.fsm.errors import InputError

_INSTALL = {
    "kea-dhcp4": "kea-dhcp4-server",
    "kea-dhcp6": "kea-dhcp6-server",
    "kea-admin": "kea-admin",
}


@dataclass(frozen=True)
class Binaries:
    dhcp4: str | None
    dhcp6: str | None
    admin: str
    version: str  # of kea-dhcp4 (or kea-dhcp6 when only that one is used), e.g. "2.2.0"

    def server(self, universe: int) -> str:
        path = self.dhcp4 if universe == 4 else self.dhcp6
        assert path is not None  # find() required it for every universe the cases use
        return path

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version.split(".")[:3] if p.isdigit())


def locate(name: str, given: str | None) -> str:
    """`given`, else `name` on PATH or in /usr/sbin; missing: one line saying how to get it."""
    if given:
        if os.path.isfile(given) and os.access(given, os.X_OK):
            return given
        raise InputError(f"{name} not found or not executable: {given}")
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise InputError(
            f"{name} not found on PATH or in /usr/sbin: install it "
            f"(apt-get install {_INSTALL[name]}) or give --{name} PATH"
        )
    return found


def version(path: str) -> str:
    """The version `path -v` prints (kea-dhcp4 -V prints it on its first line too)."""
    try:
        done = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as err:
        raise InputError(f"{path}: cannot run: {err.strerror}") from None
    first = (done.stdout.strip().splitlines() or [""])[0].strip()
    if done.returncode != 0 or not first[:1].isdigit():
        raise InputError(f"{path} -V did not print a Kea version: {first or done.stderr.strip()}")
    return first


def find(universes: set[int], dhcp4: str | None, dhcp6: str | None, admin: str | None) -> Binaries:
    """The binaries the cases need: a server per universe they use, and kea-admin."""
    four = locate("kea-dhcp4", dhcp4) if 4 in universes or dhcp4 else None
    six = locate("kea-dhcp6", dhcp6) if 6 in universes or dhcp6 else None
    admin_path = locate("kea-admin", admin)
    main = four or six
    assert main is not None
    return Binaries(four, six, admin_path, version(main))
