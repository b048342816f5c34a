"""A tiny DHCP client on loopback: is Kea serving, and real requests that use its databases.

Every packet is relayed (a gateway address on v4, RELAY-FORW on v6), so Kea answers on
loopback without broadcast or multicast, to the client port given with `kea-dhcp4 -P`.
Two subnets: a probe subnet whose INFORM / INFORMATION-REQUEST touches no database (a reply
means the service is enabled: serving), and a traffic subnet whose DISCOVER / SOLICIT looks
up host reservations and allocates a lease (a request that uses every backend, like the
model's). An answer within `DEADLINE` seconds counts; a request not answered was dropped.
"""

from __future__ import annotations

import secrets
import select
import socket
import struct
import time
from dataclasses import dataclass

DEADLINE = 0.2
V4_PROBE_RELAY = "127.0.0.1"  # in 127.0.0.0/24, the probe subnet
V4_TRAFFIC_RELAY = "127.0.1.1"  # in 127.0.1.0/24, the traffic subnet
V6_PROBE_LINK = "2001:db8:1::1"
V6_TRAFFIC_LINK = "2001:db8:2::1"
_MAGIC = b"\x63\x82\x53\x63"
_INFORM, _DISCOVER = 8, 1
_SOLICIT, _INFORMATION_REQUEST, _RELAY_FORW, _RELAY_REPL = 1, 11, 12, 13


@dataclass
class Client:
    """Requests to a Kea listening on `server_port`, replies expected on `client_port`."""

    universe: int
    server_port: int
    client_port: int

    def __post_init__(self) -> None:
        family = socket.AF_INET if self.universe == 4 else socket.AF_INET6
        self._sockets: dict[str, socket.socket] = {}
        relays = (V4_PROBE_RELAY, V4_TRAFFIC_RELAY) if self.universe == 4 else ("::1",)
        for relay in relays:
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.bind((relay, self.client_port))
            s.setblocking(False)
            self._sockets[relay] = s

    def close(self) -> None:
        for s in self._sockets.values():
            s.close()

    def probe(self) -> bool:
        """Whether the service answers a request that needs no database."""
        return self._ask(probe=True)

    def use(self) -> None:
        """One request that uses the lease and host databases, not waited for (what matters
        is that Kea uses its databases; serving is the probes' to say)."""
        self._ask(probe=False, wait=False)

    def _ask(self, *, probe: bool, wait: bool = True) -> bool:
        xid = secrets.randbits(24)
        if self.universe == 4:
            relay = V4_PROBE_RELAY if probe else V4_TRAFFIC_RELAY
            packet = _v4(xid, relay, _INFORM if probe else _DISCOVER)
            sock, target = self._sockets[relay], ("127.0.0.1", self.server_port)
        else:
            link = V6_PROBE_LINK if probe else V6_TRAFFIC_LINK
            packet = _v6(xid, link, _INFORMATION_REQUEST if probe else _SOLICIT)
            sock, target = self._sockets["::1"], ("::1", self.server_port)
        _drain(sock)
        sock.sendto(packet, target)
        if not wait:
            return False
        deadline = time.monotonic() + DEADLINE
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            data = sock.recv(4096)
            if self._answers(data, xid):
                return True
        return False

    def _answers(self, data: bytes, xid: int) -> bool:
        if self.universe == 4:
            return len(data) >= 240 and data[0] == 2 and struct.unpack("!I", data[4:8])[0] == xid
        inner = _relay_message(data)
        return inner is not None and int.from_bytes(inner[1:4], "big") == xid


def _drain(sock: socket.socket) -> None:
    """Late answers to earlier requests are not answers to this one."""
    while select.select([sock], [], [], 0)[0]:
        sock.recv(4096)


def _v4(xid: int, relay: str, message_type: int) -> bytes:
    mac = b"\x02" + secrets.token_bytes(5)
    ciaddr = bytes(4)  # an INFORM with a ciaddr is answered there, not to the relay
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        1,
        1,
        6,
        1,
        xid,
        0,
        0,
        ciaddr,
        bytes(4),
        bytes(4),
        socket.inet_aton(relay),
        mac + bytes(10),
        b"",
        b"",
    )
    client_id = b"\x01" + mac
    options = bytes([53, 1, message_type, 61, len(client_id)]) + client_id + b"\xff"
    return header + _MAGIC + options


def _option6(code: int, data: bytes) -> bytes:
    return struct.pack("!HH", code, len(data)) + data


def _v6(xid: int, link: str, message_type: int) -> bytes:
    duid = struct.pack("!HH", 3, 1) + b"\x02" + secrets.token_bytes(5)  # DUID-LL
    options = _option6(1, duid) + _option6(8, b"\x00\x00")
    if message_type == _SOLICIT:
        options += _option6(3, struct.pack("!III", secrets.randbits(32), 0, 0))
    inner = bytes([message_type]) + xid.to_bytes(3, "big") + options
    peer = socket.inet_pton(socket.AF_INET6, "fe80::2")
    head = bytes([_RELAY_FORW, 0]) + socket.inet_pton(socket.AF_INET6, link) + peer
    return head + _option6(18, b"dbfsm") + _option6(9, inner)


def _relay_message(data: bytes) -> bytes | None:
    """The message inside a RELAY-REPL (option 9), if `data` is one."""
    if len(data) < 34 or data[0] != _RELAY_REPL:
        return None
    at = 34
    while at + 4 <= len(data):
        code, length = struct.unpack("!HH", data[at : at + 4])
        if code == 9:
            return data[at + 4 : at + 4 + length]
        at += 4 + length
    return None
