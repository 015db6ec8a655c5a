"""How new master.cf text is laid out so that it looks like the rest of the file.

New entries and new ``-o`` lines are written by hand, not reprinted the way postconf
does it: fields at the columns most HEAD lines use, ``-o`` lines with the file's (or
the entry's) indentation, values braced only when they must be. Detecting that layout
and rendering text in it is kept apart from the edits that splice the text in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from ._master_tokens import Token, has_space
from ._text import LINE_WS, is_trivia, line_body, split_lines
from .lines import Node

POSTCONF_COLUMNS = (0, 11, 17, 25, 33, 41, 49, 57)
"""Where ``postconf`` prints the 8 fields (used when the file has no entry to copy)."""


def render_option(name: str, value: str) -> str:
    """``name=value``, or ``{ name = value }`` when the value holds whitespace."""
    return f"{{ {name} = {value} }}" if has_space(value) else f"{name}={value}"


def render_arg(arg: str) -> str:
    """A non-option argument that reads back as itself (``{}`` for an empty one)."""
    if not arg:
        return "{}"
    return f"{{ {arg} }}" if has_space(arg) or arg.startswith("{") else arg


def render_head(fields: list[str], columns: tuple[int, ...]) -> str:
    """The 8 fields at their columns with at least one space between them (``pcf_print_master_entry``)."""
    out = ""
    for k, field in enumerate(fields):
        if k:
            out += " "
            out += " " * max(0, columns[k] - len(out))
        out += field
    return out


def render_entry(fields: list[str], options: dict[str, str], args: list[str], columns: tuple[int, ...],
                 indent: str, eol: str) -> str:
    """A new entry: the HEAD at ``columns``, an ``-o`` line per option, the other arguments on one line."""
    lines = [render_head(fields, columns)]
    lines += [f"{indent}-o {render_option(p, v)}" for p, v in options.items()]
    if args:
        lines.append(indent + " ".join(render_arg(a) for a in args))
    return eol.join(lines) + eol


def indent_of(line: str) -> str:
    body = line_body(line)
    return body[:len(body) - len(body.lstrip(LINE_WS))]



def starts_line(tokens: tuple[Token, ...], i: int) -> bool:
    """Token ``i`` is the first token on its physical line."""
    return i == 0 or tokens[i - 1].end_line != tokens[i].line


def entry_indent(tokens: tuple[Token, ...], option_indexes: Iterable[int], raw: str,
                 default: Callable[[], str]) -> str:
    """Indentation for a new ``-o`` line: the entry's ``-o`` lines, its other lines, else ``default``."""
    lines = split_lines(raw)
    for i in option_indexes:
        if starts_line(tokens, i) and tokens[i].line > 0:
            return indent_of(lines[tokens[i].line])
    for ln in lines[1:]:
        if not is_trivia(line_body(ln)):
            return indent_of(ln)
    return default()


def file_indent(nodes: list[Node]) -> str:
    """The most common indentation of ``-o`` lines, active or ``#``-commented (stock: two spaces)."""
    counts: Counter[str] = Counter()
    for node in nodes:
        for ln in node.lines() if node.kind != "orphan" else ():
            body = line_body(ln[1:] if ln.startswith("#") else ln)
            if body[:1] in (" ", "\t") and body.lstrip(LINE_WS).startswith("-o"):
                counts[indent_of(body)] += 1
    return counts.most_common(1)[0][0] if counts else "  "


def columns(heads: Iterable[tuple[tuple[Token, ...], str]]) -> tuple[int, ...]:
    """The field columns most HEAD lines use (postconf's 0/11/17/... when there are none).

    ``heads`` holds each entry's tokens with its raw text.
    """
    counts: Counter[tuple[int, ...]] = Counter()
    for tokens, raw in heads:
        head = tokens[:8]
        if len(head) == 8 and head[-1].line == 0 and "\t" not in raw[:head[-1].end]:
            counts[tuple(t.start for t in head)] += 1
    return counts.most_common(1)[0][0] if counts else POSTCONF_COLUMNS
