"""A TCP fault proxy between a client (a driver, a Kea server) and a private database server,
for network faults (the integration tests, and `down` by black hole in real-Kea spec runs).

It runs its own asyncio loop in a daemon thread, listens on 127.0.0.1 only and forwards to
127.0.0.1:`upstream_port`. Modes (toxiproxy's vocabulary):

* `pass`: forward both ways (with `set_latency` seconds added to every chunk);
* `refuse`: nothing listens on the port any more: new connections are refused;
  connections already open keep working;
* `blackhole`: everything is accepted and swallowed, nothing is ever answered, on new and
  open connections alike (the peer sees a server that went silent);
* `reset`: every open connection is reset (RST) at once, and so is every new one.

`cut_all()` closes every open connection cleanly (FIN both ways). The proxy stops by itself
after `lifetime` seconds, so a test that forgets `stop()` leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any

MODES = ("pass", "refuse", "blackhole", "reset")
_CHUNK = 65536


class _Link:
    """One proxied connection: the client side and the upstream side."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter | None):
        self.client = client
        self.upstream = upstream

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.upstream) if w is not None]


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, upstream_port: int, *, lifetime: float = 900.0) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.mode = "pass"
        self.latency = 0.0
        self.lifetime = lifetime
        self.accepted = 0  # connections accepted so far (any mode)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    # -- control, from the test's thread ------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        self._loop.call_soon_threadsafe(self._arm_expiry)
        return self

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"proxy mode must be one of {', '.join(MODES)}, not {mode!r}")
        self._call(self._set_mode(mode))

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    def cut_all(self) -> None:
        self._call(self._close_links(reset=False))

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, work: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=10)

    # -- the loop's side ----------------------------------------------------------------------

    def _arm_expiry(self) -> None:
        self._loop.call_later(self.lifetime, lambda: self._loop.create_task(self._shutdown()))

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _set_mode(self, mode: str) -> None:
        previous, self.mode = self.mode, mode
        if mode == "refuse":
            await self._unlisten()
        elif previous == "refuse":
            await self._listen()
        if mode == "reset":
            await self._close_links(reset=True)

    async def _close_links(self, *, reset: bool) -> None:
        for link in list(self._links):
            for writer in link.writers():
                if reset:
                    _reset(writer)
                else:
                    writer.close()  # the pumps see EOF and end
        self._links.clear()

    async def _shutdown(self) -> None:
        await self._unlisten()
        await self._close_links(reset=False)
        # Let every connection's task see its end (the loop is the proxy's alone).
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if others:
            _, late = await asyncio.wait(others, timeout=2)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "reset":
            _reset(writer)
            return
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        if self.mode == "pass":
            try:
                upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            except OSError:
                writer.close()  # the server is down: the client sees its connection closed
                return
        link = _Link(writer, upstream[1] if upstream else None)
        self._links.add(link)
        if upstream is None:
            await self._swallow(reader)
        else:
            back = asyncio.create_task(self._pump(upstream[0], writer))
            await self._pump(reader, upstream[1])
            await asyncio.gather(back, return_exceptions=True)
        self._links.discard(link)
        for w in link.writers():
            w.close()

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        while await reader.read(_CHUNK):
            pass

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction until EOF; in blackhole mode, read and drop."""
        try:
            while data := await reader.read(_CHUNK):
                if self.mode == "blackhole":
                    continue
                if self.latency:
                    await asyncio.sleep(self.latency)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if self.mode != "blackhole" and writer.can_write_eof():
                with contextlib.suppress(OSError, RuntimeError):
                    writer.write_eof()
