"""Kea's control-channel answers: `{"result": ..., "text": ..., "arguments": ...}`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# Kea's CONTROL_RESULT_* codes (command_interpreter.h).
SUCCESS, ERROR, UNSUPPORTED, EMPTY = 0, 1, 2, 3

Answer = dict[str, Any]


def answer(result: int, text: str = "", arguments: Any = None) -> Answer:
    """Kea's createAnswer: `text` only when not empty, `arguments` only when given."""
    response: Answer = {"result": result}
    if text:
        response["text"] = text
    if arguments is not None:
        response["arguments"] = arguments
    return response


def config_hash(document: Mapping[str, Any]) -> str:
    """Kea's configuration hash: SHA-256 of the configuration as JSON, upper-case hex."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest().upper()
