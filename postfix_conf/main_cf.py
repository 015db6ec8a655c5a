"""``main.cf``: parameters as Postfix reads them, and edits that touch only their lines.

Reading follows ``readllines()`` + ``split_nameval()`` + ``dict_load_fp()`` (spec
sections 2.1-2.5): last definition wins, continuation lines are joined with their
leading whitespace kept, interior comments and blank lines are skipped, a NUL ends
the logical line. Matching for edits follows ``postconf -e`` (spec 4.2): the key of
a HEAD line is its text up to the first of SP, TAB, CR, LF or ``=``.

``parameters()``, ``get()`` and ``in`` read the content directly, without nodes
(:mod:`._main_params`); line numbers, edit keys and diagnostics come from the nodes
(:meth:`MainCf._entries`). Tests hold both readers to each other, to
``tests/reference.py`` and to ``postconf``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from ._main_params import read_piece
from ._text import BOM, LINE_WS, WS, is_trivia, line_body, line_eol, split_lines, split_nameval, ws_strip
from .data import READ_ONLY
from .document import Document
from .errors import (
    AmbiguousEditError,
    Diagnostic,
    InvalidNameError,
    InvalidValueError,
    MalformedEntryError,
)
from .lines import Node, logical_text, split_nodes
from .macros import scan

_KEY = re.compile(r"[^ \t\r\n=]*")
# One-line entries without NUL and with plain spacing: name == edit key, no join needed.
_FAST = re.compile(r"([^ \t\n\v\f\r=\0]+)[ \t]*=[ \t]*([^\n\0]*)\n?\Z")
_PREFIX = re.compile(r"[^ \t\n\v\f\r=]+([ \t\v\f\r]*)=([ \t\v\f]*)")  # a CR here ends the line
_COMMENTED_HEAD = re.compile(r"#[ \t\v\f]*([^ \t\n\v\f\r=#]+)[ \t\v\f]*=")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One definition in the file. ``value`` is raw: no ``$name`` expansion, no folding."""

    name: str
    value: str
    line: int


class _Entry(NamedTuple):
    pos: int  # position in the node list
    line: int
    key: str  # postconf -e matching key
    name: str | None  # None when Postfix cannot read the entry
    value: str
    error: str  # "" or the Postfix error text
    code: str


def _entry_text(raw: str) -> str:
    """Logical text of an entry; single-line entries (the common case) skip the join."""
    nl = raw.find("\n")
    if nl < 0 or nl == len(raw) - 1:
        body = raw[:nl] if nl >= 0 else raw
        cut = body.find("\0")
        return body if cut < 0 else body[:cut]
    return logical_text(raw)


def check_name(name: str) -> None:
    """Refuse names Postfix would not read back as one parameter name."""
    if not name or name[0] == "#" or any(c in WS or c in "=\0" for c in name):
        raise InvalidNameError(f"invalid parameter name {name!r}: must be non-empty, "
                               "without whitespace, '=', NUL or a leading '#'")


def check_value(value: str) -> str:
    """Trim as ``postconf -e`` does; refuse bytes that would break the line structure."""
    for bad, what in (("\n", "newline"), ("\r", "carriage return"), ("\0", "NUL byte")):
        if bad in value:
            raise InvalidValueError(f"value contains a {what}: {value!r}")
    value = ws_strip(value)
    errors = scan(value).errors
    if errors:  # every Postfix program would refuse the file (spec section 3)
        raise InvalidValueError(f"value has a broken $ reference ({errors[0]}); write $$ for a literal $")
    return value


class _Reading:
    """What the readers made of the current content; an edit drops it with the nodes."""

    __slots__ = ("entries", "params")

    def __init__(self) -> None:
        self.entries: list[_Entry] | None = None
        self.params: dict[str, str] | None = None


class MainCf(Document):
    """A lossless ``main.cf``."""

    __slots__ = ()

    # -- reading ----------------------------------------------------------------------
    def _reading(self) -> _Reading:
        cached = self._cache
        if not isinstance(cached, _Reading):
            cached = self._cache = _Reading()
        return cached

    def _params(self) -> dict[str, str]:
        reading = self._reading()
        params = reading.params
        if params is None:
            params = {}
            for piece in self._pieces():
                if not read_piece(piece, params):  # a NUL byte, or an entry not led by 'name ='
                    for node in split_nodes(piece):
                        if node.kind == "entry":
                            name, value = split_nameval(_entry_text(node.raw))
                            if name is not None:
                                params[name] = value
            for name in READ_ONLY & params.keys():  # Postfix ignores them ("read-only parameter assignment")
                del params[name]
            reading.params = params
        return params

    def _entries(self) -> list[_Entry]:
        reading = self._reading()
        if reading.entries is not None:
            return reading.entries
        entries: list[_Entry] = []
        line = 1
        for i, node in enumerate(self._nodes):
            raw = node.raw
            if node.kind == "entry":
                m = _FAST.match(raw)
                if m is not None:
                    value = m.group(2).rstrip(" \t\r")
                    if not value or (value[0] not in "\v\f\r" and value[-1] not in "\v\f"):
                        name = m.group(1)
                        entries.append(_Entry(i, line, name, name, value, "", ""))
                        line += raw.count("\n")
                        continue
                text = _entry_text(raw)
                name, rest = split_nameval(text)
                key = _KEY.match(raw).group()  # type: ignore[union-attr]
                if name is None:
                    code = "missing-name" if rest == "missing attribute name" else "missing-equals"
                    entries.append(_Entry(i, line, key, None, "", f'{rest}: "{text}"', code))
                else:
                    entries.append(_Entry(i, line, key, name, rest, "", ""))
            line += raw.count("\n")
        reading.entries = entries
        return entries

    def definitions(self, name: str | None = None) -> list[Parameter]:
        """Every readable definition in file order (of one name, or of all)."""
        return [Parameter(e.name, e.value, e.line) for e in self._entries()
                if e.name is not None and (name is None or e.name == name)]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The effective raw value (last definition wins), or ``default`` if not set.

        Read-only parameters (``process_name``...) are never set, as for Postfix, which ignores
        an assignment with a warning; :meth:`definitions` still shows them (and diagnostics).
        """
        return self._params().get(name, default)

    def parameters(self) -> dict[str, str]:
        """Every name Postfix takes from the file, with its effective raw value (``postconf -n``)."""
        return dict(self._params())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._params()

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        out: list[Diagnostic] = []
        path = self.path
        text_start = self._nodes[0].raw if self._nodes else ""
        if text_start.startswith(BOM):
            out.append(Diagnostic(1, "warning", "bom", "file starts with a UTF-8 byte order mark; "
                                  "Postfix reads it as part of the first parameter name", path))
        line = 1
        for node in self._nodes:
            if node.kind == "orphan":
                snippet = line_body(node.raw.split("\n", 1)[0])[:30]
                out.append(Diagnostic(line, "warning", "orphan-continuation",
                                      f'logical line must not start with whitespace: "{snippet}..."'
                                      " (Postfix ignores it)", path))
            if "\0" in node.raw:
                out.append(Diagnostic(line, "warning", "nul-byte", "NUL byte: Postfix ignores the "
                                      "rest of this logical line", path))
            line += node.raw.count("\n")
        seen: dict[str, str] = {}
        last: dict[str, _Entry] = {}
        for e in self._entries():
            if e.name is None:
                out.append(Diagnostic(e.line, "error", e.code, e.error, path))
                continue
            if e.name in seen:
                if seen[e.name] != e.value:
                    out.append(Diagnostic(e.line, "warning", "duplicate-parameter",
                                          f"overriding earlier entry: {e.name}={seen[e.name]}", path))
                else:
                    out.append(Diagnostic(e.line, "info", "duplicate-parameter-same-value",
                                          f"{e.name} is defined again with the same value", path))
            if e.name in READ_ONLY:
                out.append(Diagnostic(e.line, "warning", "read-only-parameter",
                                      f"read-only parameter assignment: {e.name}={e.value}", path))
            seen[e.name] = e.value
            last[e.name] = e
        from .data import RAW_PARAMETERS, builtin_parameters  # local import: only diagnostics need them

        for e in last.values():  # Postfix only ever expands the effective value
            found = scan(e.value)
            # postconf refuses a broken $ reference in the built-in parameters it
            # evaluates; elsewhere it only warns, but the daemon that expands it stops.
            fatal = e.name in builtin_parameters() and e.name not in RAW_PARAMETERS
            for problem in found.errors:
                out.append(Diagnostic(e.line, "error" if fatal else "warning", "macro-syntax",
                                      problem, path))
            for problem in found.expression_errors:
                out.append(Diagnostic(e.line, "error" if fatal else "warning", "macro-expression",
                                      problem + "; Postfix programs stop with 'macro processing error'"
                                      " when they expand it", path))
        out.sort(key=lambda d: d.line)
        return tuple(out)

    # -- editing ----------------------------------------------------------------------
    def _matches(self, name: str, *, allow_malformed: bool) -> list[_Entry]:
        found = [e for e in self._entries() if e.key == name]
        if not allow_malformed:
            for e in found:
                if e.name is None:
                    raise MalformedEntryError(f"line {e.line}: cannot edit {name!r}: {e.error}",
                                              line=e.line)
        return found

    def set(self, name: str, value: str) -> bool:
        """Give ``name`` the value ``value``; return whether anything changed.

        Every definition whose value differs is rewritten in place as one line that
        keeps its ``name = `` prefix and line ending; comment and blank lines inside
        an old multi-line value stay. A new name goes right after the last
        commented-out example (``#name = ...``), else at the end of the file.
        """
        check_name(name)
        if name in READ_ONLY:
            raise InvalidNameError(f"{name} is read-only: Postfix ignores it in main.cf")
        value = check_value(value)
        matches = self._matches(name, allow_malformed=False)
        nodes = list(self._nodes)
        if matches:
            todo = [e for e in matches if e.value != value]
            for e in reversed(todo):
                nodes[e.pos:e.pos + 1] = _rewrite(nodes[e.pos].raw, value)
            if not todo:
                return False
        else:
            eol = self.eol
            at = self._placement(name)
            new = Node("entry", f"{name} = {value}{eol}")
            if at >= len(nodes):
                nodes = self._with_final_newline(nodes, eol)
                nodes.append(new)
            else:
                nodes.insert(at, new)
        self._replace_nodes(nodes)
        return True

    def delete(self, name: str) -> bool:
        """Remove every definition (interior comments stay, as with ``postconf -X``)."""
        return self._rewrite_lines(name, lambda ln: ln if is_trivia(line_body(ln)) else "")

    def comment_out(self, name: str) -> bool:
        """Prefix ``#`` to the HEAD and continuation lines of every definition (``postconf -#``)."""
        return self._rewrite_lines(name, lambda ln: ln if is_trivia(line_body(ln)) else "#" + ln)

    def _rewrite_lines(self, name: str, line_fn: Callable[[str], str]) -> bool:
        """Map every physical line of every definition of ``name`` (broken ones included:
        deleting or commenting out is how such a line gets repaired)."""
        check_name(name)
        matches = self._matches(name, allow_malformed=True)
        if not matches:
            return False
        nodes = list(self._nodes)
        for e in reversed(matches):
            out = "".join(line_fn(ln) for ln in split_lines(nodes[e.pos].raw))
            nodes[e.pos:e.pos + 1] = split_nodes(out)
        self._replace_nodes(nodes)
        return True

    def line_definitions(self, name: str) -> list[tuple[int, str]] | None:
        """(node index, raw line) of every definition of ``name`` when each is one physical
        line, else None: what :meth:`restore_lines` can put back byte for byte."""
        out = []
        for e in self._matches(name, allow_malformed=True):
            raw = self._nodes[e.pos].raw
            if "\n" in raw[:-1]:
                return None
            out.append((e.pos, raw))
        return out

    def restore_lines(self, name: str, saved: list[tuple[int, str]]) -> bool:
        """Take back edits of ``name``: its current one-line definitions go, and ``saved``
        (from :meth:`line_definitions` before the edits) comes back at the same places.

        Exact only while nothing else moved the lines in between (undo in reverse order);
        raises :class:`MalformedEntryError` when ``saved`` cannot go back as it was.
        """
        check_name(name)
        current = self.line_definitions(name)
        if current is None:
            raise MalformedEntryError(f"{name!r} spans several lines now; cannot put the old lines back")
        nodes = list(self._nodes)
        for pos, _ in sorted(current, reverse=True):
            del nodes[pos]
        for pos, raw in sorted(saved):
            back = split_nodes(raw)
            if pos > len(nodes) or len(back) != 1 or back[0].kind != "entry" or _KEY.match(raw).group() != name:  # type: ignore[union-attr]
                raise MalformedEntryError(f"cannot put {raw!r} back at node {pos}")
            nodes.insert(pos, back[0])
        if nodes == self._nodes:
            return False
        self._replace_nodes(nodes)
        return True

    def disabled(self, name: str) -> list[Parameter]:
        """Commented-out definitions of ``name`` that :meth:`uncomment` could enable."""
        out = []
        for start, stop in self._disabled_blocks(name):
            text = "".join(_uncomment_line(n.raw, i == start)
                           for i, n in enumerate(self._nodes[start:stop], start))
            _, value = split_nameval(logical_text(text))
            out.append(Parameter(name, value, self._line_numbers()[start]))
        return out

    def uncomment(self, name: str, *, which: Literal["first", "last"] | int | None = None) -> bool:
        """Enable a commented-out definition of ``name``; the exact inverse of ``comment_out``.

        Does nothing (returns False) when ``name`` is already set. With several
        candidates, ``which`` picks one ("first", "last" or its line number);
        otherwise :class:`AmbiguousEditError` is raised.
        """
        check_name(name)
        if name in self:
            return False
        blocks = self._disabled_blocks(name)
        if not blocks:
            return False
        numbers = self._line_numbers()
        if len(blocks) > 1 and which is None:
            lines = ", ".join(str(numbers[s]) for s, _ in blocks)
            raise AmbiguousEditError(f"{name!r} is commented out at lines {lines}; say which one")
        if which == "last" or which is None:
            start, stop = blocks[-1]
        elif which == "first":
            start, stop = blocks[0]
        else:
            chosen = [b for b in blocks if numbers[b[0]] == which]
            if not chosen:
                raise AmbiguousEditError(f"no commented-out {name!r} at line {which}")
            start, stop = chosen[0]
        text = "".join(_uncomment_line(n.raw, i == start)
                       for i, n in enumerate(self._nodes[start:stop], start))
        nodes = list(self._nodes)
        nodes[start:stop] = split_nodes(text)
        self._replace_nodes(nodes)
        return True

    # -- placement helpers ----------------------------------------------------------------
    def _disabled_blocks(self, name: str) -> list[tuple[int, int]]:
        """(start, stop) node ranges of ``#name = ...`` plus its ``#<ws>...`` continuations."""
        nodes = self._nodes
        blocks = []
        i = 0
        n = len(nodes)
        while i < n:
            node = nodes[i]
            m = _COMMENTED_HEAD.match(node.raw) if node.kind == "trivia" else None
            if m is None or m.group(1) != name:
                i += 1
                continue
            j = i + 1
            while j < n and nodes[j].kind == "trivia" and _is_commented_continuation(nodes[j].raw):
                j += 1
            k = j
            while k < n and nodes[k].kind == "trivia":
                k += 1
            if k < n and nodes[k].kind == "orphan":
                # A HEAD here would adopt the orphan (across any comment/blank lines).
                i = j
                continue
            text = "".join(_uncomment_line(nd.raw, k == i) for k, nd in enumerate(nodes[i:j], i))
            parsed, value = split_nameval(logical_text(text))
            if parsed == name and not scan(value).errors:  # it must read back as a sound definition
                blocks.append((i, j))
            i = j
        return blocks

    def _placement(self, name: str) -> int:
        blocks = self._disabled_blocks(name)
        return blocks[-1][1] if blocks else len(self._nodes)


def _is_commented_continuation(raw: str) -> bool:
    body = line_body(raw)
    return len(body) > 1 and body[0] == "#" and body[1] in LINE_WS and not is_trivia(body[1:])


def _uncomment_line(raw: str, head: bool) -> str:
    if head:
        rest = raw[1:]
        return rest.lstrip(LINE_WS) if rest[:1] in LINE_WS and rest[:1] else rest
    return raw[1:]


def _rewrite(raw: str, value: str) -> list[Node]:
    """The entry as one ``prefix + value`` line, followed by its interior trivia."""
    lines = split_lines(raw)
    head = line_body(lines[0])
    m = _PREFIX.match(head)
    assert m is not None  # only readable entries are rewritten
    prefix = m.group()
    if value and not m.group(2) and m.group(1):
        prefix += " "  # "name =" with an empty old value: keep the spacing symmetric
    new_head = (prefix if value else prefix.rstrip(LINE_WS)) + value + line_eol(lines[0])
    trivia = "".join(ln for ln in lines[1:] if is_trivia(line_body(ln)))
    return split_nodes(new_head + trivia)
