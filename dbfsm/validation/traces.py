"""Reading a recorded run for `dbfsm conform`: a file into a `Trace` of observations.

A trace is dbfsm's JSON Lines (each record checked, a damaged one refused with its line) or a
kea-dhcp4/kea-dhcp6 log (its lines read by `dbfsm.validation.kealog`). Kept apart from the
search so that what a trace file may hold, and how it is refused, is stated in one place.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

from dbfsm.files.reading import read_text
from dbfsm.fsm.actions import Reply
from dbfsm.fsm.engine import Engine
from dbfsm.fsm.errors import InputError
from dbfsm.fsm.errors import kind as describe
from dbfsm.fsm.records import Record
from dbfsm.fsm.settings import ServerSettings
from dbfsm.validation import kealog
from dbfsm.validation.observations import Observation, Trace, TraceFormat, observe

_JSON_FIELDS: dict[str, dict[str, type]] = {
    "log": {"id": str, "severity": str, "text": str},
    "serving": {"serving": bool},
    "attempt": {"backend": str, "n": int, "of": int, "ok": bool},
    "command": {"command": str, "result": int, "text": str},
    "exit": {"code": int},
    "summary": {"serving": bool, "state": str},
}


def _json_record(raw: str, where: str) -> Record:
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InputError(f"{where}:{err.colno}: not JSON: {err.msg}") from None
    except ValueError:  # an integer past Python's digit limit
        raise InputError(f"{where}: not JSON: a number too long to read") from None
    except RecursionError:
        raise InputError(f"{where}: not JSON: nested too deeply") from None
    return record_of_json(item, where)


def record_of_json(item: object, where: str) -> Record:
    """A parsed JSON Lines item as a record of `fsm.records`' schema, or `InputError`
    saying at `where` what it lacks (a summary's `exit_code` included)."""
    if not isinstance(item, dict):
        raise InputError(f"{where}: a record must be a JSON object")
    kind, t = item.get("type"), item.get("t")
    if not isinstance(kind, str) or kind not in _JSON_FIELDS:
        expected = ", ".join(_JSON_FIELDS)
        raise InputError(f"{where}: 'type' must be one of {expected}, not {describe(kind)}")
    seconds = _seconds(t)
    if seconds is None:
        raise InputError(f"{where}: 't' must be a number of seconds, not {describe(t)}")
    for name, kind_of in _JSON_FIELDS[kind].items():
        value = item.get(name)
        if not isinstance(value, kind_of) or (kind_of is int and isinstance(value, bool)):
            raise InputError(f"{where}: {kind} record needs {name!r} ({kind_of.__name__})")
    if kind == "summary":
        code = item.get("exit_code")
        if code is not None and type(code) is not int:
            raise InputError(f"{where}: summary record needs 'exit_code' (int or null)")
    data = {k: v for k, v in item.items() if k not in ("t", "type")}
    return Record(seconds, kind, data)


def _seconds(t: object) -> float | None:
    """`t` as a time of the run: a finite number >= 0 (an integer too large for a float or
    NaN is none), else None."""
    if not isinstance(t, int | float) or isinstance(t, bool):
        return None
    try:
        seconds = float(t)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _read_jsonl(text: str, name: str, settings: ServerSettings) -> Trace:
    observations: list[Observation] = []
    end, exit_code, last, previous = 0.0, None, 0, 0.0
    for number, raw in enumerate(kealog.split_lines(text), start=1):
        if not raw.strip():
            continue
        where = f"{name}:{number}"
        record = _json_record(raw, where)
        if record.t < previous:
            raise InputError(f"{where}: time goes backwards ({record.t} after {previous})")
        previous, last = record.t, number
        if record.type == "summary":
            end, exit_code = record.t, record.data.get("exit_code")
            continue
        found = observe(record, settings, number)
        if found is not None:
            observations.append(found)
    if last == 0:
        raise InputError(f"{name}:1: the trace is empty")
    end = max(end, previous)
    return Trace(name, TraceFormat.DBFSM, True, tuple(observations), end, exit_code, last)


def _read_kea_log(text: str, name: str, settings: ServerSettings, known: frozenset[str]) -> Trace:
    log = kealog.read(text, settings.universe, name)
    observations: list[Observation] = []
    for line in log.lines:
        found = observe(line.record, settings, line.number)
        if found is None:
            continue
        if found.kind == "COMMAND_RECEIVED" and found.details[:1] and found.details[0] not in known:
            continue  # a command dbfsm does not model (hooks' lease commands, ...)
        observations.append(replace(found, shown=line.written))
    log_format = TraceFormat.KEA2 if log.version == 2 else TraceFormat.KEA3
    last = log.lines[-1].number
    return Trace(name, log_format, log.from_start, tuple(observations), log.end, None, last)


def read_trace(path: str, settings: ServerSettings) -> Trace:
    text = read_text(path, "the trace")  # bounded in size and time (a FIFO), UTF-8
    lines = kealog.split_lines(text)
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("{"):
        return _read_jsonl(text, path, settings)
    if not any(kealog.looks_like_kea_log(line) for line in lines):
        raise InputError(f"{path}:1: neither dbfsm JSON Lines nor a Kea log")
    return _read_kea_log(text, path, settings, _known_commands(settings))


def _known_commands(settings: ServerSettings) -> frozenset[str]:
    """The commands the engine answers, as it lists them itself."""
    for action in Engine(settings).command({"command": "list-commands"}):
        if isinstance(action, Reply):
            return frozenset(action.response.get("arguments", []))
    return frozenset()
