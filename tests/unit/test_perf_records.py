"""The hot-path writers of `dbfsm simulate` say exactly what the plain ones say."""

from __future__ import annotations

import io
import json

from hypothesis import given
from hypothesis import strategies as st

from dbfsm.fsm import messages
from dbfsm.fsm.actions import Action, AttemptResult, Close, Exit, Log, Reply, ServingChanged
from dbfsm.fsm.records import JsonLines, Record, jsonl_line, record_of, to_jsonl, to_text
from dbfsm.simulation import scenario
from dbfsm.simulation.simulate import json_sink, run, text_sink

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.text(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
)
records = st.builds(
    Record,
    st.one_of(st.floats(0, 1e10, allow_nan=False), st.integers(0, 10**6)),
    st.text(min_size=1),
    st.dictionaries(st.text(), values, max_size=6),
)


def _dumps(record: Record) -> str:
    return json.dumps(record.to_json(), separators=(", ", ": ")) + "\n"


@given(records)
def test_a_json_line_is_what_json_dumps_writes(record: Record) -> None:
    assert jsonl_line(record) == _dumps(record)


_ALIKE = ["1", 1, True, 1.0, 0, False, 0.0, -0.0, None, "x", (1,), (True,), [1]]
repeating = st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=4).flatmap(
    lambda keys: st.builds(
        Record,
        st.sampled_from([0, 0.0, 1, 1.0, 2.5, 1e-05]),
        st.sampled_from(["log", "attempt"]),
        st.fixed_dictionaries({k: st.sampled_from(_ALIKE) for k in keys}),
    )
)


@given(st.lists(repeating, max_size=30))
def test_lines_written_again_are_what_json_dumps_writes(records: list[Record]) -> None:
    """What one writer keeps for later lines (the time of the instant) never stands in for
    a line that differs: 1, 1.0 and True, or 0.0 and -0.0, all look alike to a dictionary."""
    assert to_jsonl(records) == "".join(map(_dumps, records))


# Actions as a server emits them: some objects again and again, some equal but new objects.
_STARTED = Log(messages.server(4, "STARTED", "3.0.0"))
_ACTIONS: list[Action] = [
    _STARTED,
    _STARTED,
    Log(messages.server(4, "STARTED", "3.0.0")),
    Log(messages.server(6, "STARTED", "3.0.0")),
    AttemptResult("lease-database", 1, 3, ok=False),
    AttemptResult("lease-database", 1, 3, ok=True),
    AttemptResult("lease-database", True, 3, ok=True),  # type: ignore[arg-type]
    ServingChanged(True),
    ServingChanged(False),
    ServingChanged(1),  # type: ignore[arg-type]
    Reply(7, "config-set", {"result": 0, "text": "done"}),
    Exit(1),
    Close("lease-database", 1),
]


@given(st.lists(st.tuples(st.sampled_from(_ACTIONS), st.sampled_from([0.0, 1, 1.5])), max_size=40))
def test_a_notice_is_written_as_its_record(notices: list[tuple[Action, float]]) -> None:
    """Lines written from actions are their records' lines, whichever objects come again,
    and nothing for an action that makes no record."""
    writer = JsonLines()
    for action, t in notices:
        record = record_of(action, t)
        assert writer.notice(action, t) == (None if record is None else _dumps(record))


def test_a_notice_of_a_changed_reply_is_written_as_it_is_now() -> None:
    """Only actions whose fields are values are written from what was kept for the object:
    a reply's response is a dict, and may be changed."""
    reply, writer = Reply(1, "status-get", {"result": 0, "text": "ok"}), JsonLines()
    writer.notice(reply, 1.0)
    reply.response["text"] = "changed"
    assert writer.notice(reply, 1.0) == _dumps(
        Record(1.0, "command", {"command": "status-get", "result": 0, "text": "changed"})
    )


SCENARIO = """\
config: {"Dhcp4": {"lease-database": {"type": "mysql", "name": "kea", "max-reconnect-tries": 3,
  "reconnect-wait-time": 1000}, "hosts-database": {"type": "postgresql", "name": "kea",
  "max-reconnect-tries": 0, "on-fail": "serve-retry-continue"}}}
until: 20
traffic: {every: 0.5}
events:
  - {at: 2, down: lease-database}
  - {at: 3.2, up: lease-database}
  - {at: 5, down: hosts-database}
  - {at: 6, command: {command: status-get}}
  - {at: 9, down: lease-database}
"""


def test_streamed_output_is_the_collected_output(tmp_path) -> None:
    """Writing records as they happen gives the text and JSON of the collected run."""
    loaded = scenario.parse(SCENARIO, "scenario.yaml", tmp_path)
    collected = run(loaded)
    for sink, expected in (
        (json_sink, to_jsonl(collected.timeline())),
        (text_sink, to_text(collected.records)),
    ):
        out = io.StringIO()
        streamed = run(loaded, sink(out))
        assert out.getvalue() == expected
        assert streamed.records == () and streamed.transitions == ()
        assert (streamed.exit_code, streamed.state) == (collected.exit_code, collected.state)
    assert collected.exit_code == 1 and len(collected.records) > 20
