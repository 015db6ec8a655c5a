"""``$name`` references in values: find them and their syntax errors, as Postfix does.

``postconf`` scans every value with ``mac_parse()``/``mac_expand()`` (spec section 3)
and a syntax error there is fatal for it and for the daemons, so a reader that wants
to agree with Postfix has to see the same errors. This module does not expand values:
pfedit edits files, and expansion depends on defaults of the running Postfix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._text import braces_balanced

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_WS = " \t\n\v\f\r"
_OPEN_CLOSE = {"{": "}", "(": ")"}


@dataclass
class MacroScan:
    """Names referenced (in order, repeats kept) and Postfix-style error texts.

    ``errors`` come from ``mac_parse()`` and make every ``postconf`` read fail;
    ``expression_errors`` come from ``mac_expand()``: ``postconf -n`` only warns,
    but ``postconf -x`` and the daemons stop with "macro processing error".
    """

    refs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expression_errors: list[str] = field(default_factory=list)


def scan(value: str) -> MacroScan:
    """Every ``$name``/``${name...}``/``$(name...)`` in ``value`` and every syntax error."""
    result = MacroScan()
    _scan(value, result)
    return result


def _scan(value: str, out: MacroScan) -> None:
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch != "$":
            i += 1
            continue
        if i + 1 < n and value[i + 1] == "$":
            i += 2
            continue
        i += 1
        if i < n and value[i] in _OPEN_CLOSE:
            opener = value[i]
            closer = _OPEN_CLOSE[opener]
            level = 1
            j = i + 1
            while j < n and level > 0:
                if value[j] == opener:
                    level += 1
                elif value[j] == closer:
                    level -= 1
                j += 1
            if level > 0:
                out.errors.append(f'truncated macro reference: "{value}"')
                return
            inner = value[i + 1:j - 1]
            i = j
            if not inner:
                out.errors.append(f'empty macro name: "{value}"')
                return
            _expression(inner, out)
        else:
            j = i
            while j < n and value[j] in _NAME_CHARS:
                j += 1
            if j == i:
                out.errors.append(f'empty macro name: "{value}"')
                return
            out.refs.append(value[i:j])
            i = j


def _expression(inner: str, out: MacroScan) -> None:
    """The text inside ``${...}``: a name with optional ``?``/``:`` text, or a relation."""
    s = inner.lstrip(_WS)
    if s.startswith("{"):
        if not braces_balanced(s):
            out.expression_errors.append(f'unbalanced {{}} in attribute expression: "{inner}"')
            return
        for part in _brace_groups(s):
            _scan(part, out)
        return
    j = 0
    while j < len(s) and s[j] in _NAME_CHARS:
        j += 1
    name, rest = s[:j], s[j:].lstrip(_WS)
    if not name or (rest and rest[0] not in "?:"):
        out.expression_errors.append(f'attribute name syntax error at: "...{name}>>>{rest}"')
        return
    out.refs.append(name)
    if rest:
        text = rest[1:]
        if "{" in text and not braces_balanced(text):
            out.expression_errors.append(f'unbalanced {{}} in attribute expression: "{inner}"')
            return
        _scan(text, out)


def _brace_groups(text: str) -> list[str]:
    """Contents of the top-level ``{...}`` groups of a relational expression."""
    groups: list[str] = []
    level = 0
    start = 0
    for k, ch in enumerate(text):
        if ch == "{":
            if level == 0:
                start = k + 1
            level += 1
        elif ch == "}":
            level -= 1
            if level == 0:
                groups.append(text[start:k])
    return groups
