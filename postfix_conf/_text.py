"""Bytes <-> text without loss, and Postfix's notion of whitespace.

Postfix never decodes its files. We decode UTF-8 with ``surrogateescape`` so that
every byte sequence (Latin-1 comments, stray high bytes) comes back unchanged on
encode. Whitespace is C ``isspace()`` in the C locale, *not* Python's ``str.isspace``
(which also accepts ``\\x1c``-``\\x1f``, NBSP and other Unicode spaces).
"""

from __future__ import annotations

import re

WS = " \t\n\v\f\r"
"""C ``isspace()``: what Postfix's ``ISSPACE()`` accepts."""

LINE_WS = " \t\v\f\r"
"""Whitespace that can occur inside one physical line (LF ends the line)."""

BOM = "\ufeff"
_NAMEVAL = re.compile(r"([^ \t\n\v\f\r=]+)[ \t\n\v\f\r]*=(.*)", re.DOTALL)


def decode(data: bytes | str) -> str:
    """Decode file bytes losslessly; a ``str`` is taken as already decoded."""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    """Inverse of :func:`decode`."""
    return text.encode("utf-8", "surrogateescape")


def ws_strip(text: str) -> str:
    """Strip C whitespace at both ends (``str.strip()`` would strip Unicode spaces too)."""
    return text.strip(WS)


def split_lines(raw: str) -> list[str]:
    """Split on LF only, keeping each line's LF; never ``str.splitlines()``."""
    parts = raw.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def line_body(line: str) -> str:
    """A physical line without its LF (a CR of a CRLF ending stays: Postfix keeps it)."""
    return line[:-1] if line.endswith("\n") else line


def line_eol(line: str) -> str:
    """The line terminator as written: ``"\\r\\n"``, ``"\\n"`` or ``""`` (last line)."""
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith("\n"):
        return "\n"
    return ""


def is_trivia(line: str) -> bool:
    """BLANK or COMMENT: whitespace only, or the first non-whitespace byte is ``#``."""
    stripped = line.lstrip(WS)
    return not stripped or stripped[0] == "#"


def dominant_eol(text: str) -> str:
    """``"\\r\\n"`` when most terminated lines are CRLF, else ``"\\n"``."""
    total = text.count("\n")
    crlf = text.count("\r\n")
    return "\r\n" if total and crlf * 2 > total else "\n"


def braces_balanced(text: str) -> bool:
    """``{`` and ``}`` nest properly (Postfix's brace grouping in master.cf and ``${...}``)."""
    level = 0
    for c in text:
        if c == "{":
            level += 1
        elif c == "}":
            level -= 1
            if level < 0:
                return False
    return level == 0


def split_nameval(text: str) -> tuple[str, str] | tuple[None, str]:
    """Postfix's ``split_nameval()``: ``(name, value)`` or ``(None, error message)``."""
    stripped = text.lstrip(WS)
    if not stripped or stripped[0] == "=":
        return None, "missing attribute name"
    m = _NAMEVAL.match(stripped)
    if m is None:
        return None, "missing '=' after attribute name"
    return m.group(1), ws_strip(m.group(2))


LIST_SEPARATORS = ", \t\r\n"
"""``CHARS_COMMA_SP``: what separates the elements of list-valued parameters."""


def split_list(value: str) -> list[str]:
    """Elements of a list value as ``mystrtokq(CHARS_COMMA_SP, "{}")`` gives them (braces kept)."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in LIST_SEPARATORS:
            i += 1
        if i >= n:
            break
        start, depth = i, 0
        while i < n and (depth > 0 or value[i] not in LIST_SEPARATORS):
            if value[i] == "{":
                depth += 1
            elif value[i] == "}":
                depth -= 1
            i += 1
        out.append(value[start:i])
    return out


def split_plain(value: str) -> list[str]:
    """``mystrtok(CHARS_COMMA_SP)``: like :func:`split_list` but braces are ordinary characters."""
    return [t for t in re.split(r"[, \t\r\n]+", value) if t]


def unbrace(token: str) -> str:
    """``{ text }`` -> ``text`` (outer braces and the whitespace inside them removed)."""
    if token.startswith("{") and token.endswith("}"):
        return token[1:-1].strip(" \t\r\n")
    return token
