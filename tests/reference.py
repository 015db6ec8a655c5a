"""An independent, deliberately naive port of Postfix's ``readllines()`` + ``split_nameval()``.

Written line by line from ``src/util/readlline.c`` as described in spec section 2.2,
without sharing code with :mod:`postfix_conf.lines`, so that the fast regex splitter
can be checked against it on generated input.
"""

from __future__ import annotations

WS = " \t\n\v\f\r"


def physical_lines(text: str) -> list[str]:
    """LF-terminated lines without their LF; a trailing fragment counts as a line."""
    out: list[str] = []
    cur: list[str] = []
    for ch in text:
        if ch == "\n":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def readllines(text: str) -> list[tuple[int, str]]:
    """(first line number, logical text) for every logical line, orphans dropped."""
    lines = physical_lines(text)
    result: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip(WS)
        if stripped == "" or stripped.startswith("#"):
            i += 1
            continue
        start = i + 1
        buf = line
        i += 1
        while i < len(lines):
            nxt = lines[i]
            if nxt == "" or nxt[0] == "#" or nxt[0] in WS:
                s = nxt.lstrip(WS)
                if s and not s.startswith("#"):
                    buf += nxt
                i += 1
            else:
                break
        if buf[0] in WS:
            continue  # orphan: "logical line must not start with whitespace"
        if "\0" in buf:
            buf = buf[: buf.index("\0")]
        result.append((start, buf))
    return result


def split_nameval(text: str) -> tuple[str, str] | None:
    """``(name, value)`` or None when Postfix reports a syntax error."""
    s = text.lstrip(WS)
    n = 0
    while n < len(s) and s[n] not in WS and s[n] != "=":
        n += 1
    if n == 0:
        return None
    name = s[:n]
    rest = s[n:].lstrip(WS)
    if not rest.startswith("="):
        return None
    return name, rest[1:].strip(WS)


def main_cf_parameters(text: str) -> dict[str, str] | None:
    """Effective parameters (last wins), or None if Postfix would refuse the file."""
    params: dict[str, str] = {}
    for _, logical in readllines(text):
        nv = split_nameval(logical)
        if nv is None:
            return None
        params[nv[0]] = nv[1]
    return params
