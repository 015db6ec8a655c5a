"""Tokens of one master.cf entry, with their spans, and how Postfix reads them.

Postfix joins an entry's HEAD and continuation lines (``readllines``) and splits the
result on runs of ``SP TAB CR LF`` with brace grouping (``argv_splitq`` = ``mystrtokq``).
``\\v`` and ``\\f`` are *not* separators here (checked with postconf 3.7.11: a ``\\v``
between fields gives "bad field count"), although they are C ``isspace()`` bytes that
make a line a continuation line. We tokenise the joined text exactly like that, but
remember where every token sits in the raw entry, so an edit can replace one token and
nothing else.

The reading of the arguments follows ``pcf_normalize_daemon_args`` (spec 5.5) with one
deliberate difference: postconf 3.7 splits ``-osyslog_name=x`` at the *second* letter
``o`` (it prints ``-o sysl -o g_name=x``); the daemons use ``getopt`` and read
``syslog_name=x``. We follow the daemons and report the postconf quirk as a diagnostic.

This module only *reads* (and checks edit arguments against what it would read back);
the raw-text edits live in :mod:`._master_edit`, the layout of new text in
:mod:`._master_layout` and the commented-out services in :mod:`._master_disabled`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ._text import WS, braces_balanced, is_trivia, line_body, split_lines, split_nameval, ws_strip
from .data import READ_ONLY
from .errors import InvalidNameError, InvalidValueError

SEP = " \t\r\n"
"""``PCF_MASTER_BLANKS``: the token separators of master.cf."""
TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")
FIELDS = ("service", "type", "private", "unprivileged", "chroot", "wakeup", "process_limit", "command")
KNOWN_TCP_PORTS = {"lmtp": "24", "smtp": "25", "smtps": "465", "submissions": "465", "submission": "587"}

Severity = Literal["error", "warning", "info"]
_SKIP = re.compile(r"[ \t\r\n]*")
_PLAIN = re.compile(r"[^ \t\r\n{]*")
WAKEUP_MASTER = re.compile(r"-|[0-9]+\??")
INET_NAME = re.compile(r"(?:\[[^\[\]]+\]:|[^\[\]:]*:)?[^\[\]:]+")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its logical text and where it is in the raw entry (``line`` is 0 for the HEAD)."""

    text: str
    start: int
    end: int
    line: int
    end_line: int

    @property
    def multiline(self) -> bool:
        return self.line != self.end_line


@dataclass(frozen=True, slots=True)
class Option:
    """One ``-o`` option: ``index`` holds the ``-o`` (maybe bundled as ``-vo`` or glued as ``-oa=b``)."""

    index: int
    value_index: int  # == index when the value is glued to the option letter
    at: int  # offset of the letter "o" in the token at ``index``
    name: str | None  # None when the value is not name=value
    value: str
    braced: bool


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    severity: Severity
    message: str
    token: int | None = None  # token index the problem is about
    fatal: bool = False  # postconf refuses the whole file


@dataclass(frozen=True, slots=True)
class Reading:
    """The arguments after the command as the daemon gets them (normalised like postconf)."""

    args: tuple[str, ...]
    options: tuple[Option, ...]
    end: int  # token index of the first non-option argument (len(tokens) if none)
    problems: tuple[Problem, ...]


def split_tokens(text: str) -> list[tuple[int, int]]:
    """``mystrtokq(text, SEP, "{}")``: ``{`` nests, ``}`` un-nests, blanks split at depth 0."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while True:
        i = _SKIP.match(text, i).end()  # type: ignore[union-attr]
        if i >= n:
            return spans
        start = i
        i = _PLAIN.match(text, i).end()  # type: ignore[union-attr]
        level = 0
        while i < n:
            c = text[i]
            if c == "{":
                level += 1
            elif c == "}" and level > 0:
                level -= 1
            elif level == 0 and c in SEP:
                break
            i += 1
        spans.append((start, i))


def tokenize(raw: str) -> tuple[list[Token], str, bool]:
    """Tokens of one entry node, its logical text and whether a NUL cut it short."""
    segs: list[tuple[int, int, int]] = []  # (logical start, raw start, line index)
    parts: list[str] = []
    pos = lpos = 0
    for idx, line in enumerate(split_lines(raw)):
        body = line_body(line)
        if idx == 0 or not is_trivia(body):
            segs.append((lpos, pos, idx))
            parts.append(body)
            lpos += len(body)
        pos += len(line)
    text = "".join(parts)
    cut = text.find("\0")
    if cut >= 0:
        text = text[:cut]
    starts = [s[0] for s in segs]
    tokens = []
    for a, b in split_tokens(text):
        si = bisect_right(starts, a) - 1
        ei = bisect_right(starts, b - 1) - 1
        tokens.append(Token(text[a:b], segs[si][1] + a - segs[si][0], segs[ei][1] + b - segs[ei][0],
                            segs[si][2], segs[ei][2]))
    return tokens, text, cut >= 0


def extpar(text: str) -> tuple[str, str | None]:
    """``extpar(..., EXTPAR_FLAG_STRIP)``: the text inside ``{}``, trimmed, and an error or None."""
    level = 0
    close = -1
    for i, c in enumerate(text):
        if c == "{":
            level += 1
        elif c == "}":
            level -= 1
            if level == 0:
                close = i
                break
    if close < 0:
        return text[1:].strip(WS), f"missing '}}' in \"{text}\""
    err = None if close == len(text) - 1 else f"syntax error after '}}' in \"{text}\""
    return text[1:close].strip(WS), err


def check_fields(texts: list[str], logical: str) -> list[Problem]:
    """``pcf_check_master_entry`` (fatal in postconf) plus what only the master daemon rejects."""
    name, kind, private, unpriv, chroot, wakeup, maxproc, command = texts[:8]
    out: list[Problem] = []

    def bad(code: str, field: str, value: str, index: int) -> None:
        out.append(Problem(code, "error", f'invalid {field} field "{value}" in "{logical}"', index, True))

    if kind not in TYPES:
        bad("invalid-type", "type", kind, 1)
    for index, field, value in ((2, "private", private), (3, "unprivileged", unpriv), (4, "chroot", chroot)):
        if len(value) != 1 or value not in "yn-":
            bad(f"invalid-{field}", field, value, index)
    digits = wakeup[:-1] if wakeup.endswith("?") else wakeup
    if not (digits == "-" or (digits.isascii() and (digits.isdigit() or not digits))):
        bad("invalid-wakeup", "wakeup", wakeup, 5)
    elif not WAKEUP_MASTER.fullmatch(wakeup):
        out.append(Problem("wakeup-question", "error", f'wakeup "{wakeup}": the master wants digits or "-"', 5))
    if maxproc != "-" and not (maxproc.isascii() and maxproc.isdigit()):
        bad("invalid-process-limit", "process_limit", maxproc, 6)
    if kind == "inet" and private != "n":
        out.append(Problem("inet-private", "error", f'"{name}/inet": inet service cannot be private', 2))
    if command == "-":
        out.append(Problem("dash-command", "error", f'"{name}/{kind}": field "command" has no default value', 7))
    for index, value in enumerate(texts[:8]):
        if "{" in value or "}" in value:
            message = f'"{value}": the master daemon reads fields 1-8 without braces'
            out.append(Problem("brace-in-field", "error", message, index))
    if "/" in name:
        out.append(Problem("slash-in-name", "warning", f'"{name}": postconf cannot address a name with "/"', 0))
    elif kind == "inet" and not INET_NAME.fullmatch(name):
        out.append(Problem("invalid-inet-name", "error", f'inet service name "{name}" is not [host:]port', 0))
    return out


def read_args(texts: list[str]) -> Reading:
    """Read the arguments after the command (``texts[8:]``) the way the daemon gets them."""
    args: list[str] = []
    options: list[Option] = []
    problems: list[Problem] = []

    def warn(code: str, message: str, token: int, severity: Severity = "warning") -> None:
        problems.append(Problem(code, severity, message, token))

    i, n = 8, len(texts)
    while i < n:
        t = texts[i]
        if t[:1] != "-" or t in ("-", "--"):
            break
        at = t.find("o", 1)
        args.extend([t] if at < 0 else [t[:at], "-o"] if at > 1 else ["-o"])
        if at < 0:
            i += 1
            continue
        glued, start = t[at + 1:], i
        if glued:
            val, vi, i = glued, i, i + 1
        elif i + 1 < n:
            val, vi, i = texts[i + 1], i + 1, i + 2
        else:
            warn("option-without-value", "-o at the end has no value (the daemon stops: usage error)", i, "error")
            return Reading(tuple(args), tuple(options), n, tuple(problems))
        braced = val.startswith("{")
        if glued and braced:
            warn("glued-brace-option", f'"{t}": the daemon reads the brace as part of the name; write "-o {{"',
                 start, "error")
        elif glued and "o" in glued:
            warn("postconf-misreads-option", f'"{t}": postconf 3.7 splits this at the letter "o"', start)
        if braced and not glued:
            val, err = extpar(val)
            if err:
                warn("brace-syntax", err, vi)
        name, value = split_nameval(val) if not (glued and braced) else (None, "")
        if name is None and not (glued and braced):
            warn("invalid-option", f'invalid "-o {val}": {value} (the daemon stops)', vi, "error")
        if name in READ_ONLY:
            warn("read-only-parameter", f"read-only parameter assignment: {name}={value}", vi)
        args.append(f"{name}={value}" if braced and name is not None else val)
        options.append(Option(start, vi, at, name, value if name is not None else val, braced))
    end = i
    for j in range(end, n):
        t = texts[j]
        if t.startswith("{"):
            t, err = extpar(t)
            if err:
                warn("brace-syntax", err, j)
        args.append(t)
    problems.extend(_cut_values(texts, options, end))
    return Reading(tuple(args), tuple(options), end, tuple(problems))


def _cut_values(texts: list[str], options: list[Option], end: int) -> list[Problem]:
    """Row 69: an unbraced ``-o`` value that ends at a space, so the rest becomes arguments."""
    n = len(texts)
    if end >= n or texts[end] == "--":  # "--" ends the options on purpose
        return []
    stop = next((j for j in range(end, n) if texts[j].startswith("argv=")), n)
    later = [j for j in range(end + 1, stop) if texts[j] == "-o"]
    out = []
    last = options[-1] if options else None
    if last and last.value_index == end - 1 and not last.braced and last.name and (last.value.endswith(",") or later):
        out.append(Problem("unbraced-value-words", "error", f'"-o {texts[end - 1]}" is followed by "{texts[end]}": '
                           "without braces a space ends the value; write -o { name = value }", end))
    if later:
        out.append(Problem("option-after-argument", "warning", f'"-o" after the argument "{texts[end]}" '
                           "is not an option", later[0]))
    return out


def format_command(command: str, args: tuple[str, ...]) -> str:
    """The command line as ``postconf -F name/type/command`` prints it (spec 5.7)."""
    out = [command]
    in_options = True
    i = 0
    while i < len(args):
        arg = args[i]
        if in_options and (arg[:1] != "-" or arg == "--"):
            in_options = False
            out.append(arg)  # postconf never braces the first non-option argument
            i += 1
            continue
        if in_options and arg[1:2] in ("o", "") and i + 1 < len(args):
            value = args[i + 1]
            out.append(f"{arg} {{{value}}}" if _has_blank(value) else f"{arg} {value}")
            i += 2
            continue
        out.append(f"{{{arg}}}" if not in_options and _has_blank(arg) else arg)
        i += 1
    return " ".join(out)


def _has_blank(text: str) -> bool:
    return any(c in SEP for c in text)


def endpoint(name: str, kind: str) -> tuple[str, str, str]:
    """What the master daemon compares to find duplicate services (inet: host and port)."""
    if kind != "inet":
        return kind, "", name
    host, sep, port = name.rpartition(":")
    if not sep:
        host, port = "", name
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if port.isascii() and port.isdigit():
        port = str(int(port))
    return kind, host.lower(), KNOWN_TCP_PORTS.get(port, port)


def has_space(text: str) -> bool:
    return any(c in WS for c in text)


# -- validation of edit arguments ---------------------------------------------------------
def check_text(value: str, what: str = "value") -> str:
    """Trim; refuse bytes that would break the line structure and unbalanced braces."""
    for bad, name in (("\n", "newline"), ("\r", "carriage return"), ("\0", "NUL byte")):
        if bad in value:
            raise InvalidValueError(f"{what} contains a {name}: {value!r}")
    value = ws_strip(value)
    if not braces_balanced(value):
        raise InvalidValueError(f"{what} has unbalanced braces: {value!r}")
    return value


def check_service_name(name: str, kind: str) -> None:
    """Refuse a service name that postconf or the master daemon would not read back as one."""
    if not name or has_space(name) or any(c in name for c in "/={}\0") or name[0] == "#":
        raise InvalidNameError(f"invalid service name {name!r}: must be non-empty, without whitespace, "
                               "'/', '=', braces, NUL or a leading '#'")
    if kind == "inet" and not INET_NAME.fullmatch(name):
        raise InvalidNameError(f"invalid inet service name {name!r}: expected [host:]port")


def check_param_name(name: str) -> None:
    if not name or has_space(name) or any(c in name for c in "={}\0"):
        raise InvalidNameError(f"invalid parameter name {name!r}: must be non-empty, without whitespace, "
                               "'=', braces or NUL")
    if name in READ_ONLY:
        raise InvalidNameError(f"{name} is read-only: Postfix ignores it in master.cf")


def check_field(name: str, value: str) -> str:
    """One word for fields 1-7, a command line for ``command``; the entry check does the rest."""
    value = check_text(value)
    spans = split_tokens(value)
    if not spans or (name != "command" and (len(spans) > 1 or "{" in value or "}" in value)):
        raise InvalidValueError(f"invalid {name} value {value!r}")
    return value


def check_service(name: str, kind: str, fields: tuple[str, ...], command: str, args: Iterable[str],
                  options: dict[str, str] | None) -> tuple[list[str], dict[str, str], list[str]]:
    """The checked 8 fields, ``-o`` options and other arguments of a whole new service."""
    check_service_name(name, kind)
    head = [name, kind] + [check_field(f, v) for f, v in zip(FIELDS[2:7], fields, strict=True)]
    head.append(check_field("command", command))
    if has_space(head[7]):
        raise InvalidValueError(f"command {command!r}: give the arguments in args")
    opts = {}
    for param, value in (options or {}).items():
        check_param_name(param)
        opts[param] = check_text(value)
    return head, opts, [check_text(a, "argument") for a in args]
