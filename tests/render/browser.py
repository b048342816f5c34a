"""Open a page in headless Chromium and look at it: console errors, network requests, the
DOM, the time it took, a screenshot.

Chromium is driven through the DevTools protocol over a pipe (`--remote-debugging-pipe`: the
browser reads commands on fd 3 and writes answers on fd 4, each message JSON ended by NUL),
so no port is opened and nothing beyond the standard library is needed. Network access is
off: every request the page makes is recorded (a self-contained page makes none but its own
file), and the browser is started with the flags of `tests/render/mermaid.py`.

Screenshots and other artefacts go to `artefact_dir()`: `$DBFSM_RENDER_ARTEFACTS`, or
`build/render/` in the repository (ignored by git; CI keeps it as an artefact).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import RenderHarnessError
from .mermaid import CHROMIUM_FLAGS, REPO_ROOT, _kill_group, _tail, find_chromium

ARTEFACTS_ENV = "DBFSM_RENDER_ARTEFACTS"


def artefact_dir() -> Path:
    """Where render tests keep what a person should look at (screenshots)."""
    path = Path(os.environ.get(ARTEFACTS_ENV) or REPO_ROOT / "build" / "render")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Visit:
    """What opening a page showed."""

    url: str
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, log errors
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    seconds: float = 0.0  # from navigation to the page's script being done (`data-ready`)


class Browser:
    """One headless Chromium; `open()` gives a `Tab` per page."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="dbfsm-browser-", ignore_cleanup_errors=True)
        profile = Path(self._tmp.name) / "profile"
        profile.mkdir()
        to_child, self._out = os.pipe()  # we write commands, Chromium reads fd 3
        self._in, from_child = os.pipe()  # Chromium writes fd 4, we read
        os.set_inheritable(to_child, True)
        os.set_inheritable(from_child, True)
        self._stderr = open(Path(self._tmp.name) / "stderr", "wb")  # noqa: SIM115

        def fds() -> None:  # in the child, before exec: the pipe ends at 3 and 4
            high_in, high_out = os.dup(to_child), os.dup(from_child)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self._proc = subprocess.Popen(
            [
                find_chromium(),
                *CHROMIUM_FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                "--force-color-profile=srgb",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            preexec_fn=fds,
            pass_fds=(3, 4),
            start_new_session=True,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._id = 0
        self._events: list[dict[str, Any]] = []

    # -- the protocol -------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RenderHarnessError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self._events.append(answer)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise RenderHarnessError(
                    "Chromium did not answer; stderr (tail):\n" + self._stderr_tail()
                )
            ready, _, _ = select.select([self._in], [], [], 0.5)
            if ready:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise RenderHarnessError("Chromium closed its pipe:\n" + self._stderr_tail())
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        result: dict[str, Any] = json.loads(raw)
        return result

    def wait_event(self, method: str, session: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    del self._events[i]
                    return
            if time.monotonic() > deadline:
                raise RenderHarnessError(f"no {method} within the timeout")
            self._events.append(self._read())

    def events(self, session: str) -> list[dict[str, Any]]:
        mine = [e for e in self._events if e.get("sessionId") == session]
        self._events = [e for e in self._events if e.get("sessionId") != session]
        return mine

    def _stderr_tail(self) -> str:
        self._stderr.flush()
        return _tail((Path(self._tmp.name) / "stderr").read_bytes())

    # -- pages ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def tab(self, width: int, height: int, mobile: bool = False) -> Iterator[Tab]:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        tab = Tab(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", {}, session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
            session,
        )
        try:
            yield tab
        finally:
            self.send("Target.closeTarget", {"targetId": target})

    def close(self) -> None:
        with contextlib.suppress(OSError, RenderHarnessError):
            self.send("Browser.close")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=10)
        _kill_group(self._proc)
        for fd in (self._in, self._out):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._stderr.close()
        self._tmp.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Tab:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        self.visit = Visit("")

    def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.browser.send(method, params, self.session)

    def open(self, path: Path, ready: str = "document.documentElement.dataset.ready") -> Visit:
        """Navigate to `path` (a file) and wait for the load event and for `ready` to be
        truthy; what the page logged and requested is in the returned `Visit`."""
        url = path.resolve().as_uri()
        self.visit = Visit(url)
        start = time.perf_counter()
        self.send("Page.navigate", {"url": url})
        self.browser.wait_event("Page.loadEventFired", self.session)
        deadline = time.monotonic() + self.browser.timeout
        while not self.evaluate(f"!!({ready})"):
            if time.monotonic() > deadline:
                raise RenderHarnessError(f"{url}: {ready} never became true")
            time.sleep(0.01)
        self.visit.seconds = time.perf_counter() - start
        self._collect()
        return self.visit

    def _collect(self) -> None:
        for event in self.browser.events(self.session):
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text")
                self.visit.errors.append(f"exception: {text}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                "error",
                "assert",
                "warning",
            ):
                args = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
                self.visit.errors.append(f"console.{params['type']}: {' '.join(map(str, args))}")
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                if entry.get("level") in ("error", "warning"):
                    self.visit.errors.append(f"log {entry.get('source')}: {entry.get('text')}")
            elif method == "Network.requestWillBeSent":
                self.visit.requests.append(params.get("request", {}).get("url", ""))

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RenderHarnessError(f"{expression}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def errors(self) -> list[str]:
        """Errors since the page opened (a click, a zoom), added to the visit's."""
        self._collect()
        return self.visit.errors

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            params.update(
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
            )
        data = self.send("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def mouse(self, kind: str, x: float, y: float, **extra: Any) -> None:
        self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, **extra})
