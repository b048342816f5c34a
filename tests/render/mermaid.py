"""Render Mermaid texts with the real Mermaid library in one headless Chromium run.

All diagrams of one call go into ONE HTML page: it loads ``node_modules/mermaid`` (installed by
``npm ci`` from the repository's ``package-lock.json``), calls ``mermaid.render`` for each text in
turn, and writes a JSON result into the DOM, which Chromium prints with ``--dump-dom``.

Prerequisites (the render tests FAIL, never skip, without them):

* Chromium: ``apt-get install -y chromium`` (``/usr/bin/chromium``), or set ``DBFSM_CHROMIUM``
  to another Chromium/Chrome binary;
* Mermaid: ``npm ci`` in the repository root (``node_modules/mermaid/dist/mermaid.min.js``).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RendererUnavailable, RenderHarnessError

__all__ = [
    "MermaidResult",
    "find_chromium",
    "find_mermaid_js",
    "render_mermaid",
    "render_mermaid_detailed",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
MERMAID_JS = REPO_ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CHROMIUM_ENV = "DBFSM_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Flags that work as root, without a display and without network access (see
# shared/reference/rendering-facts.md): without the background-networking flags Chromium keeps
# trying to reach Google's hosts, which this machine's closed network refuses.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--allow-file-access-from-files",
)

RESULT_ID = "dbfsm-render-result"
_RESULT_RE = re.compile(rf'<pre id="{RESULT_ID}"[^>]*>(.*?)</pre>', re.DOTALL)
# Mermaid draws a "bomb" picture (aria-roledescription="error") instead of a diagram for some
# failures; its text says "Syntax error in text".
_MERMAID_ERROR_TEXT = "Syntax error in text"
_MIN_SVG_CHARS = 200

_PAGE_TEMPLATE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>dbfsm mermaid render</title></head>
<body>
<pre id="{result_id}">pending</pre>
<div id="dbfsm-scratch"></div>
<script type="application/json" id="dbfsm-input">{input_json}</script>
<script src="{mermaid_src}"></script>
<script>
(async () => {{
  const out = document.getElementById("{result_id}");
  // Escape everything outside printable ASCII so the text survives --dump-dom untouched.
  const write = (value) => {{
    out.textContent = JSON.stringify(value).replace(
      /[<>&\\u007f-\\uffff]/g,
      (c) => "\\\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
    );
  }};
  try {{
    if (typeof mermaid === "undefined") {{
      throw new Error("mermaid.min.js did not load from {mermaid_src}");
    }}
    mermaid.initialize({{ startOnLoad: false, securityLevel: "strict" }});
    const input = JSON.parse(document.getElementById("dbfsm-input").textContent);
    const scratch = document.getElementById("dbfsm-scratch");
    const results = [];
    for (let i = 0; i < input.length; i++) {{
      const [name, text] = input[i];
      try {{
        const {{ svg }} = await mermaid.render("dbfsm-diagram-" + i, text);
        scratch.innerHTML = svg;
        const root = scratch.querySelector("svg");
        const kind = root ? root.getAttribute("aria-roledescription") : null;
        const texts = Array.from(scratch.querySelectorAll("text, foreignObject"))
          .map((n) => n.textContent.trim())
          .filter((t) => t.length > 0);
        scratch.innerHTML = "";
        results.push({{ name, svg, kind, texts }});
      }} catch (e) {{
        const message = e && e.message ? e.message : String(e);
        results.push({{ name, error: message }});
      }}
    }}
    write({{ done: true, version: mermaid.version || null, results }});
  }} catch (e) {{
    write({{ done: false, fatal: e && e.stack ? e.stack : String(e) }});
  }}
}})();
</script>
</body>
</html>
"""


@dataclass(frozen=True)
class MermaidResult:
    """What Mermaid made of one text: an SVG (``error is None``) or an error message."""

    svg: str | None
    error: str | None
    kind: str | None = None  # the SVG's aria-roledescription, e.g. "stateDiagram"
    texts: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error is None


def find_chromium() -> str:
    """Return the Chromium binary to use, or raise :class:`RendererUnavailable` saying how."""
    override = os.environ.get(CHROMIUM_ENV)
    if override:
        found = shutil.which(override)
        if found is None:
            raise RendererUnavailable(
                f"{CHROMIUM_ENV}={override!r} is not an executable Chromium binary"
            )
        return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    raise RendererUnavailable(
        "Chromium not found (looked for "
        + ", ".join(CHROMIUM_NAMES)
        + f" on PATH and /usr/bin/chromium). Install it with `apt-get install -y chromium` "
        f"(Debian), or set {CHROMIUM_ENV} to a Chromium/Chrome binary."
    )


def find_mermaid_js(path: Path | None = None) -> Path:
    """Return ``mermaid.min.js``, or raise :class:`RendererUnavailable` saying how to get it."""
    js = path if path is not None else MERMAID_JS
    if not js.is_file():
        raise RendererUnavailable(
            f"Mermaid not found: {js} does not exist. Run `npm ci` in {REPO_ROOT} "
            "(it installs mermaid@11 from package-lock.json; needs Node.js and npm)."
        )
    return js


def svg_problem(svg: str, texts: tuple[str, ...], kind: str | None = None) -> str | None:
    """Say why ``svg`` is not a real rendered diagram, or return None if it looks like one.

    ``texts`` are the SVG's non-empty text nodes and ``kind`` its ``aria-roledescription``.
    """
    if "<svg" not in svg:
        return "no <svg> element in Mermaid's output"
    if kind == "error" or any(_MERMAID_ERROR_TEXT in t for t in texts):
        return "Mermaid drew its error picture instead of the diagram"
    if len(svg) < _MIN_SVG_CHARS:
        return f"SVG is only {len(svg)} characters long"
    if not texts:
        return "SVG contains no text nodes (no labels were drawn)"
    return None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill Chromium and all its helper processes (they share the session we started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _build_page(diagrams: Mapping[str, str], mermaid_js: Path) -> str:
    pairs = [[str(name), str(text)] for name, text in diagrams.items()]
    # JSON inside <script>: escape "<" so no text can close the element early.
    input_json = json.dumps(pairs).replace("<", "\\u003c")
    return _PAGE_TEMPLATE.format(
        result_id=RESULT_ID,
        input_json=input_json,
        mermaid_src=html.escape(mermaid_js.resolve().as_uri(), quote=True),
    )


def render_mermaid_detailed(
    diagrams: Mapping[str, str],
    *,
    timeout: float | None = None,
    virtual_time_budget_ms: int = 60_000,
    mermaid_js: Path | None = None,
) -> dict[str, MermaidResult]:
    """Render every text in ``diagrams`` in one Chromium run; name -> :class:`MermaidResult`.

    ``timeout`` (wall-clock seconds, default 60 + 2 per diagram) bounds the whole Chromium run;
    past it Chromium and its helpers are killed and :class:`RenderHarnessError` is raised.
    ``virtual_time_budget_ms`` is Chromium's virtual-time budget: the page gets that much
    (virtual) time to finish; idle waiting is fast-forwarded, so a large value costs little.
    """
    if not diagrams:
        return {}
    chromium = find_chromium()
    js = find_mermaid_js(mermaid_js)
    if timeout is None:
        timeout = 60.0 + 2.0 * len(diagrams)

    with tempfile.TemporaryDirectory(prefix="dbfsm-mermaid-", ignore_cleanup_errors=True) as tmp:
        tmpdir = Path(tmp)
        page = tmpdir / "render.html"
        page.write_text(_build_page(diagrams, js), encoding="utf-8")
        profile = tmpdir / "profile"
        profile.mkdir()
        cmd = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={virtual_time_budget_ms}",
            "--dump-dom",
            page.as_uri(),
        ]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # own process group, so a timeout can kill every helper
        )
        try:
            stdout_b, stderr_b = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            _, stderr_b = proc.communicate()
            raise RenderHarnessError(
                f"Chromium did not finish rendering {len(diagrams)} Mermaid diagram(s) within "
                f"{timeout:g} s and was killed. Chromium's stderr (tail):\n" + _tail(stderr_b)
            ) from None
        finally:
            _kill_group(proc)  # leftover helpers, if any

    stdout = stdout_b.decode("utf-8", errors="replace")
    match = _RESULT_RE.search(stdout)
    if proc.returncode != 0 or match is None:
        raise RenderHarnessError(
            f"Chromium exited with status {proc.returncode} without a render result. "
            f"Command: {' '.join(cmd)}\nstderr (tail):\n{_tail(stderr_b)}"
        )
    raw = html.unescape(match.group(1)).strip()
    if raw == "pending":
        raise RenderHarnessError(
            f"Mermaid did not finish within the virtual time budget ({virtual_time_budget_ms} ms)"
            f" for {len(diagrams)} diagram(s); raise virtual_time_budget_ms or split the batch."
        )
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RenderHarnessError(f"unreadable render result ({exc}): {raw[:500]!r}") from exc
    if not payload.get("done"):
        raise RenderHarnessError(
            "the render page failed before rendering: " + str(payload.get("fatal"))
        )

    results: dict[str, MermaidResult] = {}
    for item in payload["results"]:
        name = str(item["name"])
        if "error" in item:
            results[name] = MermaidResult(svg=None, error=str(item["error"]))
            continue
        svg = str(item["svg"])
        texts = tuple(str(t) for t in item.get("texts", ()))
        kind = None if item.get("kind") is None else str(item["kind"])
        problem = svg_problem(svg, texts, kind)
        results[name] = MermaidResult(svg=svg, error=problem, kind=kind, texts=texts)
    missing = [name for name in diagrams if name not in results]
    if missing:
        raise RenderHarnessError(f"no render result for: {', '.join(missing)}")
    return results


def render_mermaid(
    diagrams: Mapping[str, str],
    *,
    timeout: float | None = None,
    virtual_time_budget_ms: int = 60_000,
    mermaid_js: Path | None = None,
) -> dict[str, str | None]:
    """Render all ``diagrams`` (name -> Mermaid text) in ONE headless Chromium run.

    Returns name -> None when the text rendered to a non-trivial SVG, else name -> the
    renderer's error message (e.g. ``Parse error on line 3: ...``). Raises
    :class:`RendererUnavailable` when Chromium or Mermaid is missing and
    :class:`RenderHarnessError` when Chromium crashes or times out. The keyword arguments are
    those of :func:`render_mermaid_detailed`.
    """
    detailed = render_mermaid_detailed(
        diagrams,
        timeout=timeout,
        virtual_time_budget_ms=virtual_time_budget_ms,
        mermaid_js=mermaid_js,
    )
    return {name: result.error for name, result in detailed.items()}


def _tail(data: bytes, lines: int = 30) -> str:
    text = data.decode("utf-8", errors="replace").rstrip()
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"
