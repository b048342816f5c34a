"""The fault proxy itself, against a small echo server: each mode does what it says.

A fault acts on connections the proxy has accepted and connected through; each test makes
sure of that with one echo first, as a driver's connection is used before a fault.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.integration.proxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the proxy resets it in some tests
            while data := self.request.recv(4096):
                self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _client(port: int) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=2)
    client.settimeout(2)
    return client


def _echoes(client: socket.socket, payload: bytes = b"ping") -> bool:
    client.sendall(payload)
    return client.recv(4096) == payload


def test_pass_and_latency(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy, _client(proxy.port) as client:
        assert _echoes(client)
        proxy.set_latency(0.2)
        start = time.monotonic()
        assert _echoes(client)
        assert time.monotonic() - start >= 0.4, "both directions are delayed"


def test_refuse_keeps_open_connections_and_pass_listens_again(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy, _client(proxy.port) as open_before:
        assert _echoes(open_before)  # accepted and connected through
        port = proxy.port
        proxy.set_mode("refuse")
        with pytest.raises(ConnectionRefusedError):
            _client(port)
        assert _echoes(open_before)
        proxy.set_mode("pass")
        assert proxy.port == port
        with _client(port) as client:
            assert _echoes(client)


def test_blackhole_swallows_on_open_and_new_connections(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy, _client(proxy.port) as open_before:
        assert _echoes(open_before)
        proxy.set_mode("blackhole")
        with _client(proxy.port) as new:
            for client in (open_before, new):
                client.settimeout(0.3)
                client.sendall(b"anyone?")
                with pytest.raises(TimeoutError):
                    client.recv(4096)


def test_reset_and_cut(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        with _client(proxy.port) as cut:
            assert _echoes(cut)
            proxy.cut_all()
            assert cut.recv(4096) == b"", "a clean close: EOF"
        with _client(proxy.port) as reset:
            assert _echoes(reset)
            proxy.set_mode("reset")
            with pytest.raises(ConnectionResetError):
                reset.recv(4096)
            # A new connection is reset as soon as it is accepted: at connect or first read.
            with pytest.raises(ConnectionResetError), _client(proxy.port) as new:
                new.recv(4096)


def test_stop_and_lifetime_leave_nothing_listening(echo_port: int) -> None:
    proxy = FaultProxy(echo_port).start()
    proxy.stop()
    with pytest.raises(ConnectionRefusedError):
        _client(proxy.port)
    short = FaultProxy(echo_port, lifetime=0.2).start()
    time.sleep(0.5)
    with pytest.raises(ConnectionRefusedError):
        _client(short.port)
    short.stop()
