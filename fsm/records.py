"""Records: the one output vocabulary of runs, as JSON Lines or as a timeline to read.

Every record has `t` (seconds from start) and `type`: `log` (`id`, `severity`, `text`),
`serving` (`serving`), `attempt` (`backend`, `n`, `of`, `ok`), `command` (`command`,
`result`, `text`), `exit` (`code`); a run ends with one `summary`
(`exit_code`, `serving`, `state`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from dbfsm.fsm.actions import Action, AttemptResult, Exit, Log, Reply, ServingChanged
from dbfsm.fsm.messages import LogMessage


@dataclass(slots=True, unsafe_hash=True)
class Record:
    """One thing that happened at `t`; a value, like the actions (see `fsm.actions`)."""

    t: Final[float]
    type: Final[str]
    data: Final[Mapping[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "type": self.type, **self.data}


def record_of(action: Action, t: float) -> Record | None:
    """The record a notification action becomes; None for requests to drivers and timers."""
    data = _RECORD_DATA.get(type(action))
    return None if data is None else Record(t, data[0], data[1](action))


def _log(message: LogMessage) -> dict[str, Any]:
    return {"id": message.id, "severity": str(message.severity), "text": message.text}


def _command(action: Reply) -> dict[str, Any]:
    response = action.response
    text = response.get("text", "")
    return {"command": action.command, "result": response["result"], "text": text}


# Notification -> (record type, its data): a table, since this runs for every record.
_RECORD_DATA: dict[type, tuple[str, Callable[[Any], Mapping[str, Any]]]] = {
    Log: ("log", lambda a: _log(a.message)),
    ServingChanged: ("serving", lambda a: {"serving": a.serving}),
    AttemptResult: ("attempt", lambda a: {"backend": a.backend, "n": a.n, "of": a.of, "ok": a.ok}),
    Reply: ("command", _command),
    Exit: ("exit", lambda a: {"code": a.code}),
}


def summary(t: float, exit_code: int | None, serving: bool, state: str) -> Record:
    data = {"exit_code": exit_code, "serving": serving, "state": state}
    return Record(t, "summary", data)


# Values that never change: a line written from them stays right for as long as it is kept.
_UNCHANGING = frozenset({str, int, bool, type(None)})

# Notifications whose objects a server emits again and again (a backend keeps the logs and
# attempt results it emits; there are two serving notices), all of their fields values.
_KEPT_ACTIONS = frozenset({Log, AttemptResult, ServingChanged, Exit})
_KEPT_LIMIT = 1024


class JsonLines:
    """Writes records as JSON Lines: each line exactly `json.dumps(r.to_json())`.

    A run repeats itself (the hot path of `dbfsm simulate`): records come in bursts at one
    instant, and a server emits the same few action objects again and again. So the text of
    the last time is kept, and so is the rest of each line written from an action (`notice`)
    whose values are text, integers, booleans or null, under the action object."""

    def __init__(self) -> None:
        self._t: float | None = None
        self._head = ""
        self._noticed: dict[int, tuple[Action, str]] = {}

    def line(self, r: Record) -> str:
        if r.t is not self._t:  # records of one instant share its time: the same object
            self._at(r.t)
        if "t" in r.data or "type" in r.data:  # they replace the record's own: never in practice
            return json.dumps(r.to_json()) + "\n"
        return self._head + json.dumps({"type": r.type, **r.data})[1:] + "\n"

    def notice(self, action: Action, t: float) -> str | None:
        """The line of `record_of(action, t)`; None if the action makes no record."""
        if t is not self._t:
            self._at(t)
        noticed = self._noticed.get(id(action))  # kept with its object: no other has its id
        if noticed is not None:
            return self._head + noticed[1]
        record = record_of(action, t)
        if record is None:
            return None
        line = self.line(record)
        if type(action) in _KEPT_ACTIONS and _UNCHANGING.issuperset(
            map(type, record.data.values())
        ):
            if len(self._noticed) >= _KEPT_LIMIT:
                self._noticed.clear()
            self._noticed[id(action)] = (action, line[len(self._head) :])  # the body
        return line

    def _at(self, t: float) -> None:
        self._t = t
        self._head = f'{{"t": {_seconds(t)}, '


def _seconds(t: float) -> str:
    """`repr(round(t, 6))`, the way `json.dumps` writes a record's time, in one conversion
    where it can: ".6f" rounds as `round` does, and between 1e-4 and 1e9 no shorter text
    names the same float, so `repr` would give those digits less the trailing zeros."""
    if type(t) is float and 1e-4 <= t < 1e9:
        text = f"{t:.6f}".rstrip("0")
        return text + "0" if text[-1] == "." else text
    return repr(round(t, 6))


def jsonl_line(r: Record) -> str:
    """One JSON Lines record, newline included."""
    return JsonLines().line(r)


def to_jsonl(records: Iterable[Record]) -> str:
    return "".join(map(JsonLines().line, records))


def describe(r: Record) -> str:
    """What a record says, as a timeline line says it after the time."""
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
            # An answer without text (status-get's) ends at its result, not at a bare colon.
            said = f": {d['text']}" if d["text"] else ""
            return f"command {d['command']} -> result {d['result']}{said}"
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
    return f"{r.t:9.3f}s  {describe(r)}\n"


def to_text(records: Iterable[Record]) -> str:
    """A timeline a person reads at a glance: time, then what happened."""
    return "".join(map(text_line, records))
