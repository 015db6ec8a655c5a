"""main.cf's effective parameters read straight from the text, at the speed of C.

``MainCf.parameters()`` is what scripts and ``pfedit get`` call on files of any size,
so it reads without nodes and without a Python step per line: one regular expression
groups the lines into entries (the grammar of :mod:`.lines`) and cuts out each name
and value in the same scan, and the values are finished over whole columns at once.
A piece with a NUL byte or an entry that does not start ``name =`` (Postfix cannot
read it, or its '=' is on a continuation line) is left to the caller, which reads it
entry by entry like the node-based reader.
"""

from __future__ import annotations

import re
from itertools import compress, repeat
from operator import not_

from ._text import WS
from .lines import CONTINUATIONS, TRIVIA_LINE

# One match per entry, together with the blank, comment and orphan lines after it, back
# to back over the whole text (a gap between matches would cost a retry per character).
# re.split() hands the two groups over as one flat list: (name, value text) for a
# ``name = value`` entry, ("", raw entry) for any other entry (Postfix reports an error,
# or a NUL comes before the '='), ("", "") for lines before the first entry and at the end.
_ENTRY = re.compile(
    # the name, when a '=' follows it on the HEAD line
    r"((?:[^ \t\n\v\f\r=#\0][^ \t\n\v\f\r=\0]*+(?=[ \t\v\f\r]*+=))?+)"
    # ... and then the '=' (the lookbehind sees a name character only after a name)
    r"(?:(?<=[^\n])[ \t\v\f\r]*+=[ \t\v\f\r]*+)?+"
    # the value text, or the raw entry when there was no name: up to its last continuation line
    r"((?:(?<=[^\n])|(?=[^ \t\v\f\r\n#]))[^\n]*+" + CONTINUATIONS + r"|)"
    # the LF, then blank, comment and orphaned continuation lines
    r"\n?(?:[ \t\v\f\r#][^\n]*+\n?|\n)*+")
_SKIPPED_LINES = re.compile(r"\n(?:" + TRIVIA_LINE + r")++")


def read_piece(text: str, params: dict[str, str]) -> bool:
    """Add the definitions in ``text`` to ``params`` (the last one wins), or return False.

    ``text`` must not end inside an entry (see :func:`.lines.pieces`). A value is
    the text after the ``=`` with its continuation lines joined, without the blank
    and comment lines between them, and stripped (``split_nameval()``): the values
    are joined with NUL as a separator, the skipped lines dropped in one
    substitution, the LFs in one replace, and the result split again. A NUL byte in
    the text (it ends a logical line early) or an entry whose HEAD line does not
    start ``name =`` leaves ``params`` untouched and returns False.
    """
    parts = _ENTRY.split(text)
    names, values = parts[1::3], parts[2::3]
    if "\0" in text or any(compress(values, map(not_, names))):
        return False
    joined = "\0".join(values)
    if "\n" in joined:
        values = _SKIPPED_LINES.sub("\n", joined).replace("\n", "").split("\0")
    params.update(zip(names, map(str.strip, values, repeat(WS)), strict=True))
    params.pop("", None)  # the lines around the entries; no entry has an empty name
    return True
