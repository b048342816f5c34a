"""Records: the one output vocabulary of runs, as JSON Lines or as a timeline to read.

Every record has `t` (seconds from start) and `type`: `log` (`id`, `severity`, `text`),
`serving` (`serving`), `attempt` (`backend`, `n`, `of`, `ok`), `command` (`command`,
`result`, `text`), `exit` (`code`); a run ends with one `summary`
(`exit_code`, `serving`, `state`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fsm.actions import Action, AttemptResult, Exit, Log, Reply, ServingChanged


@dataclass(frozen=True)
class Record:
    t: float
    type: str
    data: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "type": self.type, **self.data}


def record_of(action: Action, t: float) -> Record | None:
    """The record a notification action becomes; None for requests to drivers and timers."""
    match action:
        case Log(message):
            data = {"id": message.id, "severity": str(message.severity), "text": message.text}
            return Record(t, "log", data)
        case ServingChanged(serving):
            return Record(t, "serving", {"serving": serving})
        case AttemptResult(backend, n, of, ok):
            return Record(t, "attempt", {"backend": backend, "n": n, "of": of, "ok": ok})
        case Reply(_, command, response):
            data = {"command": command, "result": response["result"]}
            data["text"] = response.get("text", "")
            return Record(t, "command", data)
        case Exit(code):
            return Record(t, "exit", {"code": code})
    return None


def summary(t: float, exit_code: int | None, serving: bool, state: str) -> Record:
    data = {"exit_code": exit_code, "serving": serving, "state": state}
    return Record(t, "summary", data)


def to_jsonl(records: Iterable[Record]) -> str:
    return "".join(json.dumps(r.to_json(), separators=(", ", ": ")) + "\n" for r in records)


def _describe(r: Record) -> str:
    d = r.data
    match r.type:
        case "log":
            return f"{d['severity']:<5}  {d['id']}  {d['text']}"
        case "serving":
            return "SERVING" if d["serving"] else "NOT SERVING"
        case "attempt":
            outcome = "succeeded" if d["ok"] else "failed"
            return f"attempt {d['n']} of {d['of']} on {d['backend']} {outcome}"
        case "command":
            return f"command {d['command']} -> result {d['result']}: {d['text']}"
        case "exit":
            return f"EXIT {d['code']}"
        case "summary":
            code = d["exit_code"]
            ending = "still running" if code is None else f"exited with code {code}"
            serving = "serving" if d["serving"] else "not serving"
            return f"end: {ending}, {serving}, server state {d['state']}"
        case "scenario":
            return f"-- {d['event']}"
    return json.dumps(d)


def to_text(records: Iterable[Record]) -> str:
    """A timeline a person reads at a glance: time, then what happened."""
    return "".join(f"{r.t:9.3f}s  {_describe(r)}\n" for r in records)
