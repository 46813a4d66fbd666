"""Provider text is untrusted: escaped before it reaches a terminal, table or log line."""

import json
import re
from typing import Any

# JSON can carry a lone surrogate (``"\\ud800"``); UTF-8 cannot, so one would break every
# write downstream (audit hash, plan file, state, terminal). Python leaves only lone ones in
# a ``str``: a well-formed pair is already decoded to its character.
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(text: str) -> str:
    """``text`` with every non-printable character (control codes, ANSI escapes, line
    separators, bidi overrides) written as an escape, so no provider string can add or
    forge a line, a column or a colour."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def json_text(value: Any, **options: Any) -> str:
    """JSON for people and what they pipe it to: names readable (not every accent escaped,
    as ``ensure_ascii`` would), but every character a terminal would act on or hide (bidi
    overrides, C1 controls, line separators, zero-width marks) written as its ``\\u``
    escape, so the value read back is the same and nothing in it can reorder or hide text.
    A raw newline is the layout's own: json writes one inside a string as ``\\n``."""
    text = json.dumps(value, ensure_ascii=False, **options)
    if text.isprintable():
        return text
    return "\n".join(
        line if line.isprintable() else "".join(map(_json_escape, line))
        for line in text.split("\n")
    )


def _json_escape(char: str) -> str:
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 pair, as JSON writes a character beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def well_formed(value: Any) -> Any:
    """A provider's decoded answer with every lone surrogate, in strings and keys, written
    as its escape text (``\\ud800``). It arrives that way, so nothing later can fail to
    encode it; an ID that held one now holds a backslash, which the ID rule refuses."""
    if isinstance(value, str):
        return _SURROGATE.sub(lambda m: _escape(m.group()), value)
    if isinstance(value, dict):
        return {well_formed(k): well_formed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [well_formed(v) for v in value]
    return value
