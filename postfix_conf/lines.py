"""Split a file into nodes the way Postfix's ``readllines()`` groups physical lines.

Every physical line is BLANK, COMMENT, CONTINUATION or HEAD (spec section 2.1). A
*logical entry* is a HEAD plus the continuation lines after it; blank and comment
lines *between* two of its lines are skipped by Postfix and belong to the entry as
interior trivia, while trivia after its last continuation line is top-level. A
continuation chunk with no HEAD before it is an *orphan*: Postfix warns and drops it.

The same grouping serves main.cf, master.cf and postmap sources. It is one regular
expression scanned once over the text, so parsing stays linear and runs at C speed;
``tests/reference.py`` holds an independent line-by-line port used as an oracle.
:data:`CONTINUATIONS` is the same grammar as a fragment for readers that extract
values in that one scan (``MainCf.parameters()``), and :func:`pieces` cuts a large
file where no entry can span the cut, so such a reader needs no whole-file copies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from ._text import decode, is_trivia, line_body, split_lines

NodeKind = Literal["entry", "orphan", "trivia"]

_W = r"[ \t\v\f\r]"
_HEAD = r"[^ \t\v\f\r\n#][^\n]*\n?"
_CONT = _W + r"+[^ \t\v\f\r\n#][^\n]*\n?"
_TAIL = r"(?:(?:" + _W + r"*(?:#[^\n]*)?\n)*" + _CONT + r")*"
_CHUNK = re.compile(
    r"(?P<entry>" + _HEAD + _TAIL + r")"
    r"|(?P<orphan>" + _CONT + _TAIL + r")"
    r"|(?P<trivia>" + _W + r"*(?:#[^\n]*)?(?:\n|\Z))"
)


@dataclass(frozen=True, slots=True)
class Node:
    """An immutable run of physical lines; ``raw`` is exactly the text that was read."""

    kind: NodeKind
    raw: str

    @property
    def line_count(self) -> int:
        return self.raw.count("\n") + (0 if self.raw.endswith("\n") else 1)

    def lines(self) -> list[str]:
        return split_lines(self.raw)


TRIVIA_LINE = _W + r"*+(?:#[^\n]*+)?\n"
"""A blank or comment line with its LF (possessive: a CONT line never starts like one)."""

CONTINUATIONS = r"(?:\n(?:" + TRIVIA_LINE + r")*+" + _W + r"++[^ \t\v\f\r\n#][^\n]*+)*+"
"""What follows a HEAD line's text within its entry: per continuation line the LF before
it, the blank/comment lines skipped before it, and its text (its own LF not included)."""

_NEXT_HEAD = re.compile(r"\n(?=[^ \t\v\f\r\n#])")
_NEXT_HEAD_BYTES = re.compile(rb"\n(?=[^ \t\v\f\r\n#])")


def pieces(content: str | bytes, size: int = 1 << 16) -> Iterator[str]:
    """``content`` as text, in pieces of about ``size`` that each end right before a HEAD line.

    A HEAD line always starts a new entry, so no entry spans two pieces and each
    piece groups exactly as it does within the whole file. Bytes are decoded piece
    by piece (an LF never occurs inside a UTF-8 sequence, so the text is the same as
    decoding them whole) and never held decoded all at once.
    """
    pos, end = 0, len(content)
    while pos < end:
        m = None
        if pos + size < end:
            m = (_NEXT_HEAD_BYTES.search(content, pos + size) if isinstance(content, bytes)
                 else _NEXT_HEAD.search(content, pos + size))
        stop = end if m is None else m.end()
        yield decode(content[pos:stop])
        pos = stop


_new_node = object.__new__
# The slot descriptors set fields without the frozen __setattr__ (about 2x faster per node).
_set_kind: Callable[[Node, str | None], None] = Node.__dict__["kind"].__set__
_set_raw: Callable[[Node, str], None] = Node.__dict__["raw"].__set__


def split_nodes(text: str) -> list[Node]:
    """Partition ``text`` into nodes; ``"".join(n.raw for n in nodes) == text``."""
    nodes: list[Node] = []
    append = nodes.append
    covered = 0
    for m in _CHUNK.finditer(text):
        raw = m.group()
        if not raw:  # the trivia alternative also matches "" at the very end
            break
        node = _new_node(Node)
        _set_kind(node, m.lastgroup)
        _set_raw(node, raw)
        append(node)
        covered += len(raw)
    if covered != len(text):  # pragma: no cover - the alternatives cover every line
        raise AssertionError("line splitter skipped text")
    return nodes


def logical_parts(raw: str) -> tuple[str, list[str]]:
    """The HEAD body and the bodies of the continuation lines of one entry/orphan.

    Interior blank/comment lines are skipped, exactly as ``readllines()`` does.
    Line bodies keep a CR of a CRLF ending; Postfix does too (it is whitespace).
    """
    lines = split_lines(raw)
    head = line_body(lines[0])
    conts = [line_body(ln) for ln in lines[1:] if not is_trivia(line_body(ln))]
    return head, conts


_JOIN = re.compile(r"\n(?:[ \t\v\f\r]*(?:#[^\n]*)?\n)*")


def logical_text(raw: str) -> str:
    """The joined logical line, truncated at the first NUL as Postfix's C strings are.

    Removing each LF together with the blank/comment lines after it leaves exactly
    the HEAD followed by the continuation lines (their leading whitespace kept).
    """
    text = _JOIN.sub("", raw)
    nul = text.find("\0")
    return text if nul < 0 else text[:nul]


def line_numbers(nodes: list[Node]) -> list[int]:
    """1-based number of the first physical line of each node."""
    numbers: list[int] = []
    n = 1
    for node in nodes:
        numbers.append(n)
        n += node.raw.count("\n")
    return numbers
