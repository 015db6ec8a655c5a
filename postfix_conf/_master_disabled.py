"""Commented-out services in master.cf: finding the ``#name type ...`` blocks to enable.

The stock master.cf ships many services disabled as ``#``-commented entries, mixed
with prose comments. :meth:`MasterCf.enable <postfix_conf.master_cf.MasterCf.enable>`,
:meth:`~postfix_conf.master_cf.MasterCf.disabled` and ``add_service`` (which puts a new
entry after its commented-out example) need to tell such a block apart from prose and
know which of its lines to uncomment. That recognition is its own job, kept here.
"""

from __future__ import annotations

import re
from typing import Literal

from ._master_layout import indent_of
from ._master_tokens import check_fields, split_tokens
from ._text import LINE_WS, is_trivia, line_body
from .errors import AmbiguousEditError
from .lines import Node

Which = Literal["first", "last"] | int | None
Block = tuple[int, int, tuple[int, ...]]
"""``(start, stop, lines to uncomment)``: node indexes of one commented-out service."""
_OPTION = re.compile(r"-[A-Za-z]")
_KEY_VALUE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*=")


def commented_head(raw: str) -> tuple[str, str] | None:
    """``(name, type)`` when ``raw`` is ``#`` + a HEAD that is a valid 8-field entry (never prose)."""
    if not raw.startswith("#"):
        return None
    body = line_body(raw)[1:].lstrip(LINE_WS)
    if not body or body[0] == "#" or "\0" in body:
        return None
    words = [body[a:b] for a, b in split_tokens(body)]
    if len(words) < 8 or any(p.severity == "error" for p in check_fields(words, body)):
        return None
    return words[0], words[1]


def commented_continuation(raw: str, in_options: bool) -> tuple[str, bool] | None:
    """``(indent, still in options)`` for ``#<indent>-o ...`` or ``#<indent>key=value ...`` lines.

    Only option lines (while the options last) and ``key=value`` argument lines (pipe
    ``flags=``, ``argv=``) qualify, so prose such as ``#     Instead of ...`` never does.
    """
    body = line_body(raw)[1:] if raw.startswith("#") else ""
    if not body or body[0] not in LINE_WS or is_trivia(body):
        return None
    spans = split_tokens(body)
    first = body[spans[0][0]:spans[0][1]] if spans else ""
    option = bool(_OPTION.match(first))
    if (option and in_options) or _KEY_VALUE.match(first):
        return indent_of(body), in_options and option
    return None


def disabled_blocks(nodes: list[Node], name: str | None, type: str | None, through: bool = False) -> list[Block]:
    """(start, stop, lines to uncomment) of commented-out services, see ``MasterCf.enable``."""
    n = len(nodes)
    blocks = []
    i = 0
    while i < n:
        key = commented_head(nodes[i].raw) if nodes[i].kind == "trivia" else None
        if key is None or name not in (None, key[0]) or type not in (None, key[1]):
            i += 1
            continue
        accepted: list[int] = []
        indent: str | None = None
        in_options = True
        j = stop = i + 1
        while j < n and nodes[j].kind == "trivia" and commented_head(nodes[j].raw) is None:
            cont = commented_continuation(nodes[j].raw, in_options)
            if cont is not None and indent in (None, cont[0]):
                indent, in_options = cont
                accepted.append(j)
                stop = j = j + 1
            elif through:
                j += 1
            else:
                break
        k = stop
        while k < n and nodes[k].kind == "trivia":
            k += 1
        if k >= n or nodes[k].kind != "orphan":  # an orphan chunk would join the entry
            blocks.append((i, stop, tuple(accepted)))
        i = stop
    return blocks


def uncommented(nodes: list[Node], start: int, stop: int, accepted: tuple[int, ...]) -> str:
    """The raw text of a block with the ``#`` taken off its HEAD and its accepted lines."""
    parts = [nodes[start].raw[1:].lstrip(LINE_WS)]
    parts += [nodes[k].raw[1:] if k in accepted else nodes[k].raw for k in range(start + 1, stop)]
    return "".join(parts)


def choose(blocks: list[Block], which: Which, numbers: list[int], what: str) -> Block:
    """The block ``which`` names ("first", "last" or a line number); refuse a guess among several."""
    if len(blocks) > 1 and which is None:
        lines = ", ".join(str(numbers[b[0]]) for b in blocks)
        raise AmbiguousEditError(f"{what} is commented out at lines {lines}; say which one")
    if which is None or which == "last":
        return blocks[-1]
    if which == "first":
        return blocks[0]
    chosen = [b for b in blocks if numbers[b[0]] == which]
    if not chosen:
        raise AmbiguousEditError(f"no commented-out {what} at line {which}")
    return chosen[0]
