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
    if isinstance(action, Log):  # by far the most frequent: tested first, no match statement
        message = action.message
        data = {"id": message.id, "severity": str(message.severity), "text": message.text}
        return Record(t, "log", data)
    if isinstance(action, ServingChanged):
        return Record(t, "serving", {"serving": action.serving})
    if isinstance(action, AttemptResult):
        a = action
        return Record(t, "attempt", {"backend": a.backend, "n": a.n, "of": a.of, "ok": a.ok})
    if isinstance(action, Reply):
        response = action.response
        text = response.get("text", "")
        return Record(
            t, "command", {"command": action.command, "result": response["result"], "text": text}
        )
    if isinstance(action, Exit):
        return Record(t, "exit", {"code": action.code})
    return None


def summary(t: float, exit_code: int | None, serving: bool, state: str) -> Record:
    data = {"exit_code": exit_code, "serving": serving, "state": state}
    return Record(t, "summary", data)


_STRING = json.encoder.encode_basestring_ascii  # json.dumps' own (C) string encoder
_LITERALS = {True: "true", False: "false", None: "null"}
_KEYS: dict[str, str] = {}  # a record key -> its JSON text and separator, made once


def jsonl_line(r: Record) -> str:
    """One JSON Lines record, newline included: exactly `json.dumps(r.to_json())`, written
    directly, since every record is one flat map (the hot path of `dbfsm simulate`)."""
    data = r.data
    if "t" in data or "type" in data:  # keys that replace the record's own: never in practice
        return json.dumps(r.to_json()) + "\n"
    parts = [f'{{"t": {round(r.t, 6)!r}, "type": {_STRING(r.type)}']
    for key, value in data.items():
        name = _KEYS.get(key)
        if name is None:
            name = f", {_STRING(key)}: "
            if len(_KEYS) < 256:
                _KEYS[key] = name
        parts.append(name)
        kind = type(value)
        if kind is str:
            parts.append(_STRING(value))
        elif kind is bool or value is None:
            parts.append(_LITERALS[value])
        elif kind is int:
            parts.append(int.__repr__(value))
        else:
            parts.append(json.dumps(value))
    parts.append("}\n")
    return "".join(parts)


def to_jsonl(records: Iterable[Record]) -> str:
    return "".join(map(jsonl_line, records))


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


def text_line(r: Record) -> str:
    """One line of the timeline, newline included."""
    return f"{r.t:9.3f}s  {_describe(r)}\n"


def to_text(records: Iterable[Record]) -> str:
    """A timeline a person reads at a glance: time, then what happened."""
    return "".join(map(text_line, records))
