"""A small JSON reader for Kea configuration files.

Kea's own lexer (`src/bin/dhcp4/dhcp4_lexer.ll`) accepts JSON plus `//` and `#` line
comments and `/* */` block comments, trailing commas (with a warning) and integers with
leading zeros (with a warning). The standard `json` module accepts none of that and forgets
where a value was, so this reader is hand-written: it keeps the line and column of every value
and every object key, so that configuration errors can point at the offending text the way
Kea's `(<file>:<line>:<col>)` positions do.

Error messages never quote the input text (only its structural characters), because the text
may be a password.
"""

from __future__ import annotations

import bisect
import enum
import json
import math
import re
from dataclasses import dataclass, field

from dbfsm.fsm.errors import ConfigError

JsonValue = dict[str, "JsonValue"] | list["JsonValue"] | str | int | float | bool | None
Path = tuple[str | int, ...]

MAX_DEPTH = 100  # far beyond any Kea configuration; keeps Python's recursion limit out of reach
# Values in one document: Kea's largest example holds about 2,000. Bounds the time of a read.
MAX_VALUES = 1_000_000
_INT64 = 2**63

_SKIP = re.compile(r"(?:[ \t\r\n]+|//[^\n]*|#[^\n]*|/\*.*?\*/)*", re.DOTALL)
# Possessive (no backtracking): an unterminated string costs one pass, not a quadratic search.
_STRING_BODY = re.compile(r'[^"\\\x00-\x1f]*+(?:\\.[^"\\\x00-\x1f]*+)*+', re.DOTALL)
_STRING = re.compile(f'"({_STRING_BODY.pattern})"', re.DOTALL)
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
# Kea's lexer also takes `.5`, `5.` and leading zeros (`t1-percent: .5` in all-keys.json).
# Not followed by a letter or digit: `12ab` is no number (one regex, not a second look).
_NUMBER = re.compile(r"-?(?:[0-9]+(\.[0-9]*)?|(\.)[0-9]+)([eE][+-]?[0-9]+)?(?![A-Za-z0-9_.+-])")
_WORD = re.compile(r"[A-Za-z0-9_.+-]*")
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n"}
_SIMPLE_ESCAPES.update({"r": "\r", "t": "\t"})
_LITERALS: dict[str, JsonValue] = {"true": True, "false": False, "null": None}
_STRUCTURAL = frozenset('{}[],:"')
_SKIP_START = frozenset(" \t\r\n/#")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_COMMENT_START = re.compile(r"//|#|/\*")
# Strings first, so that what looks like a comment inside a string stays.
_IN_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_COMMENT = re.compile(_IN_STRING + r"|//[^\n]*|#[^\n]*|/\*.*?\*/", re.DOTALL)


@dataclass(frozen=True)
class Parsed:
    """A parsed document and where each of its values and object keys starts in the text.

    Paths are tuples of object keys and list indices from the root, e.g.
    `("Dhcp4", "hosts-databases", 0, "port")`; the root is `()`.
    """

    value: JsonValue
    source: str
    value_offsets: dict[Path, int]
    key_offsets: dict[Path, int]
    line_starts: list[int] = field(repr=False)

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int] | None:
        """(line, column), 1-based, of the value at `path` (or of its key if `key`)."""
        offsets = self.key_offsets if key else self.value_offsets
        offset = offsets.get(path)
        return None if offset is None else _line_col(self.line_starts, offset)

    def where(self, path: Path, *, key: bool = False) -> str:
        """`source:line:col` for `path`, falling back to the nearest ancestor that exists."""
        for depth in range(len(path), -1, -1):
            pos = self.position(path[:depth], key=key and depth == len(path))
            if pos is not None:
                return f"{self.source}:{pos[0]}:{pos[1]}"
        return self.source


def plain(text: str) -> JsonValue | NotPlain:
    """The fast way: the `json` module reads `text` once its comments are blanked out (offsets
    unchanged). `NOT_PLAIN` when the text needs this reader, because it uses another Kea
    extension (an extra comma, a leading zero), has duplicate keys, NaN or Infinity, an escaped
    surrogate, or is not valid at all; the caller then parses it here, which also gives
    positions. What the `json` module accepts beyond this reader (deep nesting, huge numbers)
    the caller checks (`fsm.config.check_json_data`)."""
    if _COMMENT_START.search(text):
        text = _COMMENT.sub(_blank, text)
    return strict(text)


def strict(text: str) -> JsonValue | NotPlain:
    """Plain JSON by the `json` module, or `NOT_PLAIN` where it would differ from a careful
    reader: duplicate keys (it keeps the last), NaN and Infinity, escaped surrogates (which no
    output can encode), and of course anything it refuses."""
    if _SURROGATE_ESCAPE.search(text):
        return NOT_PLAIN
    try:
        value: JsonValue = json.loads(text, object_pairs_hook=_unique, parse_constant=_not_plain)
    except (ValueError, RecursionError, _NotPlain):
        return NOT_PLAIN
    return value


def root_where(text: str, source: str) -> str:
    """`source:line:col` of the document's first value, past blanks and comments."""
    reader = _Reader(text, source)
    try:
        return reader.where(reader.skip(0))
    except ConfigError:
        return f"{source}:1:1"


class NotPlain(enum.Enum):
    NOT_PLAIN = "not plain JSON"


NOT_PLAIN = NotPlain.NOT_PLAIN


class _NotPlain(Exception):
    pass


def _unique(pairs: list[tuple[str, JsonValue]]) -> dict[str, JsonValue]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _NotPlain
    return result


def _not_plain(_: str) -> JsonValue:
    raise _NotPlain


def _blank(match: re.Match[str]) -> str:
    """A comment as blanks (newlines kept); a string as it is."""
    text = match.group(0)
    if text.startswith('"'):
        return text
    return re.sub(r"[^\n]", " ", text) if "\n" in text else " " * len(text)


def parse(text: str, source: str = "<string>") -> Parsed:
    """Parse Kea-flavoured JSON; every syntax error is a ConfigError with `source:line:col`."""
    return _Reader(text, source).document()


def _line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in re.finditer("\n", text))]


def _line_col(line_starts: list[int], offset: int) -> tuple[int, int]:
    line = bisect.bisect_right(line_starts, offset)
    return line, offset - line_starts[line - 1] + 1


class _Reader:
    """Recursive descent over one text; positions are kept as offsets until asked for."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.values: dict[Path, int] = {}
        self.keys: dict[Path, int] = {}
        self._line_starts: list[int] | None = None

    # -- entry point -------------------------------------------------------------------

    def document(self) -> Parsed:
        pos = self.skip(0)
        if pos == len(self.text):
            raise self.error("empty document: no JSON value found", pos)
        value, pos = self.value(pos, (), "toplevel", 0)
        pos = self.skip(pos)
        if pos != len(self.text):
            raise self.error(f"expected end of document, found {self.describe(pos)}", pos)
        return Parsed(value, self.source, self.values, self.keys, self.line_starts())

    # -- helpers -----------------------------------------------------------------------

    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = _line_starts(self.text)
        return self._line_starts

    def where(self, offset: int) -> str:
        line, col = _line_col(self.line_starts(), offset)
        return f"{self.source}:{line}:{col}"

    def error(self, message: str, offset: int) -> ConfigError:
        return ConfigError(message, self.where(offset))

    def describe(self, pos: int) -> str:
        """Name what is at `pos` without quoting user text (it may be a secret)."""
        if pos >= len(self.text):
            return "end of file"
        char = self.text[pos]
        return f"'{char}'" if char in _STRUCTURAL else "an unexpected character"

    def skip(self, pos: int) -> int:
        """Skip blanks and the three comment styles."""
        if pos < len(self.text) and self.text[pos] not in _SKIP_START:
            return pos  # fast path: most tokens follow each other directly
        match = _SKIP.match(self.text, pos)
        end = match.end() if match else pos
        if self.text.startswith("/*", end):
            raise self.error("unterminated /* comment", end)
        return end

    def word_end(self, pos: int) -> int:
        """End of the run of letters, digits and number signs at `pos` (a literal or number)."""
        match = _WORD.match(self.text, pos)
        return match.end() if match else pos

    def unclosed(self, what: str, start: int, pos: int) -> ConfigError:
        line, col = _line_col(self.line_starts(), start)
        return self.error(
            f"unexpected end of file: {what} opened at {line}:{col} is not closed", pos
        )

    # -- grammar -----------------------------------------------------------------------

    def value(self, pos: int, path: Path, context: str, depth: int) -> tuple[JsonValue, int]:
        """Parse the value starting at `pos` (already past blanks); `context` names its key."""
        self.values[path] = pos
        if len(self.values) > MAX_VALUES:
            raise self.error(f"more than {MAX_VALUES} values", pos)
        char = self.text[pos] if pos < len(self.text) else ""
        if char == '"':
            return self.string(pos)
        if char == "{" or char == "[":
            if depth >= MAX_DEPTH:
                raise self.error(f"nesting deeper than {MAX_DEPTH} levels", pos)
            if char == "{":
                return self.object(pos, path, context, depth + 1)
            return self.array(pos, path, context, depth + 1)
        if char == "-" or char == "." or char.isdigit():
            return self.number(pos)
        if char.isalpha():
            return self.literal(pos)
        raise self.error(f"expected a value, found {self.describe(pos)}", pos)

    def object(self, start: int, path: Path, context: str, depth: int) -> tuple[JsonValue, int]:
        result: dict[str, JsonValue] = {}
        pos = self.skip(start + 1)
        if self.text.startswith("}", pos):
            return result, pos + 1
        while True:
            if pos >= len(self.text):
                raise self.unclosed("object", start, pos)
            pos = self.member(pos, result, path, context, depth)
            pos = self.skip(pos)
            if pos >= len(self.text):
                raise self.unclosed("object", start, pos)
            if self.text[pos] == "}":
                return result, pos + 1
            if self.text[pos] != ",":
                raise self.error(f"expected ',' or '}}', found {self.describe(pos)}", pos)
            pos = self.skip(pos + 1)
            if self.text.startswith("}", pos):  # Kea accepts an extra comma (with a warning)
                return result, pos + 1

    def member(
        self, pos: int, result: dict[str, JsonValue], path: Path, context: str, depth: int
    ) -> int:
        """Parse one `"key": value` into `result`; returns the offset after the value."""
        if self.text[pos] != '"':
            raise self.error(f"expected a string key, found {self.describe(pos)}", pos)
        key, pos_after_key = self.string(pos)
        assert isinstance(key, str)
        child = (*path, key)
        if key in result:
            raise self.duplicate(key, context, child, pos)
        self.keys[child] = pos
        pos = self.skip(pos_after_key)
        if not self.text.startswith(":", pos):
            raise self.error(f"expected ':', found {self.describe(pos)}", pos)
        pos = self.skip(pos + 1)
        if pos >= len(self.text):
            raise self.error("expected a value, found end of file", pos)
        result[key], pos = self.value(pos, child, key, depth)
        return pos

    def duplicate(self, key: str, context: str, child: Path, pos: int) -> ConfigError:
        """Kea's `duplicate <k> entries in <ctx> map (previous at <pos>)` (parser_context.cc)."""
        previous = self.where(self.keys[child])
        return self.error(f"duplicate {key} entries in {context} map (previous at {previous})", pos)

    def array(self, start: int, path: Path, context: str, depth: int) -> tuple[JsonValue, int]:
        result: list[JsonValue] = []
        pos = self.skip(start + 1)
        if self.text.startswith("]", pos):
            return result, pos + 1
        while True:
            if pos >= len(self.text):
                raise self.unclosed("list", start, pos)
            item, pos = self.value(pos, (*path, len(result)), context, depth)
            result.append(item)
            pos = self.skip(pos)
            if pos >= len(self.text):
                raise self.unclosed("list", start, pos)
            if self.text[pos] == "]":
                return result, pos + 1
            if self.text[pos] != ",":
                raise self.error(f"expected ',' or ']', found {self.describe(pos)}", pos)
            pos = self.skip(pos + 1)
            if self.text.startswith("]", pos):  # Kea accepts an extra comma (with a warning)
                return result, pos + 1

    def string(self, start: int) -> tuple[JsonValue, int]:
        match = _STRING.match(self.text, start)
        if match is None:
            raise self.bad_string(start)
        body = match.group(1)
        if "\\" in body:
            body = self.unescape(body, start + 1)
        return body, match.end()

    def bad_string(self, start: int) -> ConfigError:
        """Explain why `_STRING` did not match: a raw control character or no closing quote."""
        match = _STRING_BODY.match(self.text, start + 1)
        pos = match.end() if match else start + 1
        char = self.text[pos] if pos < len(self.text) else "\n"
        if char < " " and char != "\n":
            return self.error("invalid control character in string", pos)
        return self.error("unterminated string", start)

    def unescape(self, body: str, offset: int) -> str:
        def replace(match: re.Match[str]) -> str:
            escape = match.group(1)
            if len(escape) == 5:
                return chr(int(escape[1:], 16))
            if escape in _SIMPLE_ESCAPES:
                return _SIMPLE_ESCAPES[escape]
            raise self.error("invalid escape sequence in string", offset + match.start())

        decoded = _ESCAPE.sub(replace, body)
        try:
            return decoded.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise self.error("invalid \\u escape (unpaired surrogate) in string", offset) from None

    def number(self, start: int) -> tuple[JsonValue, int]:
        match = _NUMBER.match(self.text, start)
        if match is None:
            raise self.error("invalid number", start)
        end = match.end()
        literal = match.group(0)
        if match.group(1) is None and match.group(2) is None and match.group(3) is None:
            # 20 digits hold any 64-bit integer; longer ones are refused before int() is asked
            # (which would raise past Python's 4300-digit limit).
            significant = literal.lstrip("-").lstrip("0")
            sign = -1 if literal.startswith("-") else 1
            number = sign * int(significant or "0") if len(significant) <= 20 else _INT64
            if not -_INT64 <= number < _INT64:
                raise self.error("integer out of range (64-bit)", start)
            return number, end
        real = float(literal)
        if not math.isfinite(real):
            raise self.error("number out of range", start)
        return real, end

    def literal(self, start: int) -> tuple[JsonValue, int]:
        end = self.word_end(start)
        word = self.text[start:end]
        if word in _LITERALS:
            return _LITERALS[word], end
        raise self.error("expected a value (true, false and null are lower case only)", start)
