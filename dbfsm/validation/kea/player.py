"""One case against a real Kea, on the real clock.

Before t=0 the case's databases are made and its t=0 events applied (a backend down at 0 is
down when Kea starts); then Kea starts, with `-p`/`-P` on private ports, and the timeline
plays: `down`/`up` at the backend's proxy, `schema` in its version row, `no-tls`/`tls` on its
server, `use` and traffic as real requests, `command` over the control socket. Probes every
`PROBE_EVERY` seconds measure serving from the wire; two answers in a row (or two drops)
make a change, timed at the first of them. The run ends at the case's `until`, or when Kea
exits; Kea is stopped, whatever happens. A case with a black hole is refused (`unplayable`):
the proxy's black hole never lets a stalled connection recover, so it would play another case.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbfsm.fsm.records import Record
from dbfsm.simulation.scenario import BLACK_HOLE_EVENTS, ScenarioEvent
from dbfsm.validation.clauses import Case
from dbfsm.validation.kea import control, dhcp, keaconfig
from dbfsm.validation.kea.binaries import Binaries
from dbfsm.validation.kea.databases import Backend, Servers, SetupError, make_backend, release
from dbfsm.validation.kea.observed import Timed

PROBE_EVERY = 0.1
STARTUP_GRACE = 1.0  # drops before the first answer within this are Kea still starting
TRAFFIC_EVERY = 0.2  # `traffic: continuous`: a request using the databases this often
MODEL_SCHEMA = (2, 0)  # the version dbfsm's model expects (drivers/schema)
NO_BLACK_HOLES = (
    "the player cannot make a black hole that ends: the fault proxy's blackhole mode "
    "acknowledges and drops what Kea sends, so a connection stalled in it never recovers, "
    "even after black-hole-end, unlike a real network path whose packets TCP retransmits "
    "(tests/kea/test_black_hole.py); a faithful one drops packets in a private network "
    "namespace, which the player does not set up"
)


@dataclass
class Run:
    """What happened: wall-clock start, what was seen outside the log, how Kea ended."""

    directory: Path
    universe: int
    start: float = 0.0
    seen: list[Timed] = field(default_factory=list)
    exit_code: int | None = None
    exit_at: float | None = None
    serving: bool = False
    serving_seen: bool = False  # the last serving record the wire gave said serving
    schema_versions: dict[str, str] = field(default_factory=dict)  # the model's -> Kea's

    @property
    def log(self) -> Path:
        return keaconfig.Layout(self.directory).log

    @property
    def console(self) -> Path:
        return keaconfig.Layout(self.directory).console


def _tls_files(document: dict[str, Any], servers: Servers) -> None:
    """TLS file parameters point at the private PKI's files."""
    pki = servers.pki
    if pki is None:
        return
    server = document.get("Dhcp4") or document.get("Dhcp6") or {}
    for _, item in keaconfig.backend_maps(server):
        if "trust-anchor" in item:
            item["trust-anchor"] = str(
                pki.ca if str(item["trust-anchor"]).endswith(".pem") else pki.ca_dir
            )
        if "cert-file" in item:
            item["cert-file"] = str(pki.client_cert)
        if "key-file" in item:
            item["key-file"] = str(pki.client_key)


class Player:
    def __init__(
        self,
        case: Case,
        binaries: Binaries,
        servers: Servers,
        directory: Path,
        stop: threading.Event | None = None,
    ) -> None:
        self.stop = stop or threading.Event()
        self.case = case
        self.binaries = binaries
        self.servers = servers
        self.settings = case.scenario.settings
        self.universe = self.settings.universe
        self.run = Run(directory, self.universe)
        self.layout = keaconfig.Layout(directory)
        self.backends: dict[str, Backend] = {}
        self.broken_files: set[str] = set()
        self.process: subprocess.Popen[bytes] | None = None
        self.client: dhcp.Client | None = None

    # -- the case ----------------------------------------------------------------------------

    def play(self) -> Run:
        reason = unplayable(self.case)
        if reason:
            raise SetupError(reason)
        try:
            self._prepare()
            self._start()
            self._timeline()
        finally:
            self._stop()
        return self.run

    def _prepare(self) -> None:
        document = json.loads(json.dumps(dict(self.settings.document)))
        _tls_files(document, self.servers)
        self.document = document
        own = {e.backend for e in self.case.scenario.events if e.kind in ("tls", "no-tls")}
        for key, kind in _backends_named(document, self.case):
            self.backends[f"{key} {kind}"] = make_backend(
                key,
                kind,
                self.servers,
                own=kind == "mysql" and key in own,
                admin=self.binaries.admin,
            )
        for event in self.case.scenario.events:
            if event.at == 0 and event.kind != "command":
                self._apply(event)

    def _config(self, document: dict[str, Any]) -> dict[str, Any]:
        endpoints = {k: b.endpoint for k, b in self.backends.items()}
        return keaconfig.rewrite(
            document, endpoints, self.layout, broken_files=frozenset(self.broken_files)
        )

    def _start(self) -> None:
        self.layout.config.write_text(json.dumps(self._config(self.document), indent=1))
        port, client_port = _free_udp(self.universe), _free_udp(self.universe)
        self.client = dhcp.Client(self.universe, port, client_port)
        env = dict(
            os.environ,
            KEA_PIDFILE_DIR=str(self.run.directory),
            KEA_LOCKFILE_DIR=str(self.run.directory),
        )
        command = [
            self.binaries.server(self.universe),
            "-c",
            str(self.layout.config),
            "-p",
            str(port),
            "-P",
            str(client_port),
        ]
        console = self.run.console.open("wb")
        self.run.start = time.time()
        self.process = subprocess.Popen(
            command, stdout=console, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        console.close()

    def _now(self) -> float:
        return time.time() - self.run.start

    def _timeline(self) -> None:
        sc = self.case.scenario
        self.until = quiet_after(self.case)
        pending = sorted(
            (e for e in sc.events if e.at > 0 or e.kind == "command"), key=lambda e: e.at
        )
        traffic = sc.traffic
        next_use = (
            0.0
            if traffic.kind == "continuous"
            else traffic.start
            if traffic.kind != "none"
            else None
        )
        every = TRAFFIC_EVERY if traffic.kind == "continuous" else traffic.every
        next_probe = 0.0
        last: bool | None = None
        first_seen: tuple[bool, float] | None = None
        while True:
            now = self._now()
            if now > self.until or self._exited() or self.stop.is_set():
                break
            while pending and pending[0].at <= now:
                self._apply(pending.pop(0))
            if next_use is not None and next_use <= now:
                self._ask(probe=False)
                next_use += every
                while next_use <= self._now():
                    next_use += every
            if next_probe <= self._now():
                at = time.time()
                answered = self._ask(probe=True)
                next_probe = self._now() + PROBE_EVERY
                if last is None and not answered and self._now() < STARTUP_GRACE:
                    continue
                if answered != last:
                    if first_seen is not None and first_seen[0] == answered:
                        self.run.seen.append(
                            Timed(first_seen[1], Record(0, "serving", {"serving": answered}))
                        )
                        last, first_seen = answered, None
                    else:
                        first_seen = (answered, at)
                else:
                    first_seen = None
            self.run.serving = self.run.serving_seen = bool(last)
            upcoming = (
                [next_probe]
                + ([pending[0].at] if pending else [])
                + ([next_use] if next_use is not None else [])
            )
            time.sleep(max(0.0, min(0.02, min(upcoming) - self._now())))
        if self.run.exit_code is not None:
            self.run.serving = False

    def _ask(self, *, probe: bool) -> bool:
        assert self.client is not None
        if self._exited():
            return False
        if probe:
            return self.client.probe()
        self.client.use()
        return True

    def _exited(self) -> bool:
        if self.process is None or self.run.exit_code is not None:
            return self.run.exit_code is not None
        code = self.process.poll()
        if code is None:
            return False
        self.run.exit_code, self.run.exit_at = code, time.time()
        return True

    # -- events ------------------------------------------------------------------------------

    def _apply(self, event: ScenarioEvent) -> None:
        actions: dict[str, Callable[[ScenarioEvent], None]] = {
            "down": self._down,
            "up": self._up,
            "file-error": self._down,  # a memfile's lease file: see `_down`
            "file-ok": self._up,
            "use": lambda e: self._use(),
            "schema": self._schema,
            "tls": lambda e: self._tls(e, True),
            "no-tls": lambda e: self._tls(e, False),
            "command": self._command,
        }
        actions[event.kind](event)

    def _down(self, event: ScenarioEvent) -> None:
        assert event.backend is not None
        for backend in self._named(event.backend):
            backend.down()
        self.broken_files.add(event.backend)  # if it is a memfile: its file cannot be opened

    def _up(self, event: ScenarioEvent) -> None:
        assert event.backend is not None
        for backend in self._named(event.backend):
            backend.up()
        self.broken_files.discard(event.backend)

    def _use(self) -> None:
        if self.process is not None:
            self._ask(probe=False)

    def _schema(self, event: ScenarioEvent) -> None:
        assert event.backend is not None and event.version is not None
        for backend in self._named(event.backend):
            self._set_schema(backend, event.version)

    def _set_schema(self, backend: Backend, given: str) -> None:
        major, _, minor = given.partition(".")
        wanted = (int(major), int(minor or 0))
        kea = getattr(backend, "kea_schema", None)
        if kea is None:
            kea = backend.schema()
            backend.kea_schema = kea  # type: ignore[attr-defined]
        # The model's own version means "the one the server expects": Kea's; an older or newer
        # one than the model's is older or newer than Kea's.
        if wanted == MODEL_SCHEMA:
            version = f"{kea[0]}.{kea[1]}"
        elif wanted < MODEL_SCHEMA:
            version = f"{kea[0] - 1}.0"
        else:
            version = f"{kea[0] + 1}.{wanted[1]}"
        self.run.schema_versions[given] = version
        self.run.schema_versions[f"{MODEL_SCHEMA[0]}.{MODEL_SCHEMA[1]}"] = f"{kea[0]}.{kea[1]}"
        was_up = backend.proxy.mode == "pass"
        if was_up:
            backend.proxy.set_mode("refuse")  # our own update reaches the server directly
        backend.set_schema(version)
        if was_up:
            backend.proxy.set_mode("pass")

    def _tls(self, event: ScenarioEvent, offered: bool) -> None:
        assert event.backend is not None
        for backend in self._named(event.backend):
            backend.set_tls(offered)

    def _named(self, key: str) -> list[Backend]:
        return [b for b in self.backends.values() if b.key == key]

    def _command(self, event: ScenarioEvent) -> None:
        assert event.command is not None
        command = dict(event.command)
        arguments = command.get("arguments")
        if command.get("command") in ("config-set", "config-test") and isinstance(arguments, dict):
            given = json.loads(json.dumps(arguments))
            _tls_files(given, self.servers)
            command["arguments"] = self._config(given)
        answer: dict[str, Any]
        if self.process is None or self._exited():
            answer = {"result": 1, "text": "the server is not running"}
        else:
            answer = control.send(self.layout.socket, command)
        record = Record(
            0,
            "command",
            {
                "command": str(command.get("command")),
                "result": int(answer.get("result", 1)),
                "text": str(answer.get("text", "")),
            },
        )
        self.run.seen.append(Timed(time.time(), record))

    # -- the end -----------------------------------------------------------------------------

    def _stop(self) -> None:
        if self.client is not None:
            self.client.close()
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        release(list(self.backends.values()))


def unplayable(case: Case) -> str:
    """Why no Kea can play `case` faithfully here ("" when it can): what it would play
    instead is another case."""
    hole = next((e for e in case.scenario.events if e.kind in BLACK_HOLE_EVENTS), None)
    if hole is None:
        return ""
    return f"{hole.kind} of {hole.backend} at {hole.at:g}s: {NO_BLACK_HOLES}"


def quiet_after(case: Case) -> float:
    """When the run may stop: at `until`, or earlier once nothing more can happen without
    input: after the last event and the last instant the case names, the longest reconnect
    loop any backend can still run (tries x wait), a `max-period` and a second."""
    sc = case.scenario
    last = max([0.0, *(e.at for e in sc.events), *(float(e.t or 0.0) for e in case.expect)])
    loops = [b.max_reconnect_tries * b.reconnect_wait_time / 1000 for b in sc.settings.backends]
    for e in sc.events:
        if e.command is not None:
            args = e.command.get("arguments")
            if isinstance(args, dict):
                if isinstance(args.get("max-period"), int | float):
                    loops.append(float(args["max-period"]))
                loops.append(10.0)  # a new configuration's loops: not known here, bounded
    return min(sc.until, last + max([0.0, *loops]) + 1.0)


def _backends_named(document: dict[str, Any], case: Case) -> list[tuple[str, str]]:
    """(key, type) of every database backend of the configuration and of the configurations
    its commands carry, each made before t=0 (a database takes a second to make)."""
    documents = [document] + [
        dict(e.command["arguments"])
        for e in case.scenario.events
        if e.command is not None
        and isinstance(e.command.get("arguments"), dict)
        and any(k in e.command["arguments"] for k in ("Dhcp4", "Dhcp6"))
    ]
    found: dict[tuple[str, str], None] = {}
    for doc in documents:
        server = doc.get("Dhcp4") or doc.get("Dhcp6") or {}
        for key, item in keaconfig.backend_maps(server):
            if item.get("type") in ("postgresql", "mysql"):
                found[(key, str(item["type"]))] = None
    return list(found)


def _free_udp(universe: int) -> int:
    family, host = (socket.AF_INET, "127.0.0.1") if universe == 4 else (socket.AF_INET6, "::1")
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
