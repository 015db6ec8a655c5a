"""Raw-text edits of one master.cf entry that change its tokens and nothing else.

:mod:`._master_tokens` says where every token sits in an entry's raw text; these
helpers turn one requested change (a field value, an ``-o`` value, a new option, a
new command line, options to delete) into new raw text for that entry. Everything
outside the touched tokens (comments, continuation layout, column alignment) stays
byte for byte (spec 5.9). They live apart from the tokeniser because they write
text while the tokeniser only reads it; :mod:`.master_cf` decides *which* entries
to edit and checks the result.
"""

from __future__ import annotations

from ._master_layout import render_option, starts_line
from ._master_tokens import Option, Reading, Token, extpar, has_space, read_args, split_tokens
from ._text import WS, is_trivia, line_body, split_lines
from .errors import MalformedEntryError

# Spans are offsets into one entry's raw text.
Edit = tuple[int, int, str]


def splice(raw: str, edits: list[Edit]) -> str:
    for start, end, text in sorted(edits, reverse=True):
        raw = raw[:start] + text + raw[end:]
    return raw


def line_starts(lines: list[str]) -> list[int]:
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))
    return starts


def replace_aligned(raw: str, tok: Token, value: str) -> str:
    """Replace one token; a following run of spaces absorbs the length change (one space at least)."""
    j = tok.end
    while j < len(raw) and raw[j] in " \t":
        j += 1
    run = raw[tok.end:j]
    if run and j < len(raw) and raw[j] not in "\r\n" and set(run) == {" "}:
        run = " " * max(1, len(run) - (len(value) - len(tok.text)))
    return raw[:tok.start] + value + run + raw[j:]


def value_edit(tok: Token, o: Option, param: str, value: str) -> Edit:
    """New text for the token holding an option's value, in the option's own form."""
    text = tok.text
    if o.value_index == o.index:  # -oname=value / -voname=value
        head = text[:o.at + 1]
        new = f"{head} {render_option(param, value)}" if has_space(value) else f"{head}{param}={value}"
        return tok.start, tok.end, new
    if not o.braced:
        return tok.start, tok.end, render_option(param, value)
    if extpar(text)[1] is not None:
        raise MalformedEntryError(f"brace error in -o {text}")
    vs = text.index("=") + 1  # inside { name = value }: keep the spacing, swap the value
    while vs < len(text) - 1 and text[vs] in WS:
        vs += 1
    ve = len(text) - 1
    while ve > vs and text[ve - 1] in WS:
        ve -= 1
    pad = text[vs - 1] if not o.value and value and text[vs - 1] in WS else ""
    return tok.start, tok.end, text[:vs] + value + pad + text[ve:]


def insert_option(raw: str, tokens: tuple[Token, ...], r: Reading, text: str, indent: str,
                  eol: str) -> Edit:
    """Where ``postconf -Pe`` puts a new option (before the first non-option), laid out by hand.

    Inline when the entry keeps its options inline or the first non-option argument is
    on the same line; else a new continuation line, before the line of the first
    non-option argument or after the last option's line.
    """
    last = tokens[r.end - 1]
    nxt = tokens[r.end] if r.end < len(tokens) else None
    inline = bool(r.options) and not starts_line(tokens, r.options[-1].index)
    if inline or (nxt is not None and nxt.line == last.end_line):
        return last.end, last.end, " " + text
    lines = split_lines(raw)
    starts = line_starts(lines)
    if nxt is not None:
        return starts[nxt.line], starts[nxt.line], indent + text + eol
    lead = "" if lines[last.end_line].endswith("\n") else eol
    return starts[last.end_line + 1], starts[last.end_line + 1], lead + indent + text + eol


def rewrite_command(raw: str, tokens: tuple[Token, ...], value: str, eol: str) -> str:
    """Replace the command and all arguments by ``value``; comment lines among them stay, after it."""
    if any(t.multiline for t in tokens[7:]):
        raise MalformedEntryError("an argument spans lines")
    lines = split_lines(raw)
    first, last = tokens[7].line, tokens[-1].end_line
    trivia = "".join(lines[k] for k in range(first + 1, last + 1) if is_trivia(line_body(lines[k])))
    end = line_starts(lines)[last + 1]
    tail = raw[tokens[-1].end:end]
    if trivia and not tail.endswith("\n"):
        tail += eol
    return raw[:tokens[7].start] + value + tail + trivia + raw[end:]


def remove_tokens(raw: str, tokens: tuple[Token, ...], drop: set[int], keep: dict[int, str]) -> str:
    """Delete tokens: a continuation line left without tokens goes entirely, else token + blank."""
    if any(tokens[i].multiline for i in drop):
        raise MalformedEntryError("an option to delete spans lines")
    starts = line_starts(split_lines(raw))
    edits = [(tokens[i].start, tokens[i].end, text) for i, text in keep.items()]
    for k in sorted({tokens[i].line for i in drop}):
        on_line = [i for i, t in enumerate(tokens) if t.line <= k <= t.end_line]
        if k > 0 and all(i in drop for i in on_line):
            edits.append((starts[k], starts[k + 1], ""))
            continue
        run: list[int] = []
        for i in [*on_line, -1]:
            if i in drop:
                run.append(i)
                continue
            if run:
                a, b = run[0], run[-1]
                if a - 1 in on_line:
                    edits.append((tokens[a - 1].end, tokens[b].end, ""))
                else:
                    edits.append((tokens[a].start, tokens[b + 1].start if b + 1 in on_line else tokens[b].end,
                                  ""))
                run = []
    return splice(raw, edits)


def editable(tokens: tuple[Token, ...], i: int, line: int) -> Token:
    """Token ``i``, refused when it spans lines (``line``: the entry's first line, for the message)."""
    tok = tokens[i]
    if tok.multiline:
        raise MalformedEntryError(f"line {line}: cannot edit {tok.text!r}: it spans lines", line=line)
    return tok


def token_edit(raw: str, tokens: tuple[Token, ...], line: int, pos: int, value: str) -> str | None:
    """The entry with field ``pos`` (0-7) set to ``value``; None when it already has it."""
    tok = tokens[pos]
    return None if tok.text == value else replace_aligned(raw, editable(tokens, pos, line), value)


def command_edit(raw: str, tokens: tuple[Token, ...], reading: Reading | None, line: int, value: str,
                 eol: str) -> str | None:
    """The entry with the command line ``value``: only the command token if the arguments read the same."""
    assert reading is not None
    texts = [t.text for t in tokens[:7]] + [value[a:b] for a, b in split_tokens(value)]
    if read_args(texts).args == reading.args:
        return token_edit(raw, tokens, line, 7, texts[7])
    return rewrite_command(raw, tokens, value, eol)
