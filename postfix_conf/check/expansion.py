"""Evaluate ``$name`` expressions the way ``mac_expand()`` does (spec section 3).

Only what the checks need to know *values*: ``$name``, ``${name}``, ``$(name)``,
``${name?text}``, ``${name:text}``, ``${name?{a}:{b}}`` and the relational forms
``${{a} OP {b}}`` / ``${{a} OP {b} ? {t} : {f}}`` with the ``<level``-style operators
that compare ``compatibility_level`` values. Anything malformed, or a loop, raises
:class:`ExpandError`; an undefined name expands to the empty string, as in Postfix.
"""

from __future__ import annotations

from collections.abc import Callable

_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_WS = " \t\n\v\f\r"
_MAX_DEPTH = 100
_OPS = ("<=level", ">=level", "<level", ">level", "==level", "!=level", "==", "!=", "<=", ">=", "<", ">")

Lookup = Callable[[str], str | None]


class ExpandError(ValueError):
    """The value cannot be expanded (syntax error or unreasonable nesting)."""


class NestingError(ExpandError):
    """``$a`` refers to ``$b`` refers to ... ``$a``: Postfix stops with "unreasonable macro call nesting"."""


def expand(value: str, lookup: Lookup, depth: int = 0) -> str:
    """``value`` with every reference replaced; values found by ``lookup`` are expanded in turn."""
    if depth > _MAX_DEPTH:
        raise NestingError("unreasonable macro call nesting")
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c != "$":
            j = value.find("$", i)
            j = n if j < 0 else j
            out.append(value[i:j])
            i = j
            continue
        if value[i + 1:i + 2] == "$":
            out.append("$")
            i += 2
            continue
        i += 1
        if i < n and value[i] in "{(":
            close = "}" if value[i] == "{" else ")"
            end = _matching(value, i, value[i], close)
            out.append(_braced(value[i + 1:end], lookup, depth))
            i = end + 1
            continue
        j = i
        while j < n and value[j] in _NAME:
            j += 1
        if j == i:
            raise ExpandError(f'empty macro name: "{value}"')
        out.append(_value(value[i:j], lookup, depth))
        i = j
    return "".join(out)


def _value(name: str, lookup: Lookup, depth: int) -> str:
    raw = lookup(name)
    return "" if raw is None else expand(raw, lookup, depth + 1)


def _matching(text: str, start: int, opener: str, closer: str) -> int:
    level = 0
    for k in range(start, len(text)):
        if text[k] == opener:
            level += 1
        elif text[k] == closer:
            level -= 1
            if level == 0:
                return k
    raise ExpandError(f'truncated macro reference: "{text}"')


def _groups(text: str) -> tuple[list[str], str]:
    """Leading ``{...}`` groups of ``text`` (whitespace around them ignored) and the rest."""
    groups: list[str] = []
    rest = text.lstrip(_WS)
    while rest.startswith("{"):
        end = _matching(rest, 0, "{", "}")
        groups.append(rest[1:end])
        rest = rest[end + 1:].lstrip(_WS)
    return groups, rest


def _braced(inner: str, lookup: Lookup, depth: int) -> str:
    s = inner.strip(_WS)
    if not s:
        raise ExpandError("empty macro name")
    if s.startswith("{"):
        return _relation(s, lookup, depth)
    j = 0
    while j < len(s) and s[j] in _NAME:
        j += 1
    name, rest = s[:j], s[j:].lstrip(_WS)
    if not name:
        raise ExpandError(f'attribute name syntax error at: "...{rest}"')
    if not rest:
        return _value(name, lookup, depth)
    if rest[0] not in "?:":
        raise ExpandError(f'attribute name syntax error at: "...{name}>>>{rest}"')
    defined = bool(lookup(name))  # mac_expand tests the raw value: ${a?x} with a = $empty gives x
    text = rest[1:]
    groups, tail = _groups(text)
    if rest[0] == "?" and groups and tail.startswith(":"):  # ${name?{a}:{b}}
        other, extra = _groups(tail[1:])
        if len(groups) != 1 or len(other) != 1 or extra:
            raise ExpandError(f'syntax error in "{inner}"')
        return expand(groups[0] if defined else other[0], lookup, depth + 1)
    if groups and not tail and len(groups) == 1:
        text = groups[0]
    wanted = defined if rest[0] == "?" else not defined
    return expand(text, lookup, depth + 1) if wanted else ""


def _relation(s: str, lookup: Lookup, depth: int) -> str:
    left, rest = _groups(s)
    if len(left) != 1:
        raise ExpandError(f'syntax error in "{s}"')
    op = next((o for o in _OPS if rest.startswith(o)), None)
    if op is None:
        raise ExpandError(f'unknown operator in "{s}"')
    right, rest = _groups(rest[len(op):])
    if len(right) != 1:
        raise ExpandError(f'syntax error in "{s}"')
    a = expand(left[0], lookup, depth + 1).strip(_WS)
    b = expand(right[0], lookup, depth + 1).strip(_WS)
    result = _compare(a, op, b)
    if not rest:
        return "true" if result else ""
    if not rest.startswith("?"):
        raise ExpandError(f'syntax error in "{s}"')
    then, tail = _groups(rest[1:])
    if len(then) != 1 or not tail.startswith(":"):
        raise ExpandError(f'syntax error in "{s}"')
    other, extra = _groups(tail[1:])
    if len(other) != 1 or extra:
        raise ExpandError(f'syntax error in "{s}"')
    return expand(then[0] if result else other[0], lookup, depth + 1)


def level(text: str) -> tuple[int, ...]:
    """A compatibility level (``3.6``, ``2``, ``3.6.1``) as a comparable tuple; ValueError if malformed."""
    parts = text.strip(_WS).split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(f"bad compatibility level: {text!r}")
    nums = [int(p) for p in parts]
    return tuple(nums + [0] * (3 - len(nums)))


def _compare(a: str, op: str, b: str) -> bool:
    if op.endswith("level"):
        try:
            x: tuple[int, ...] | int | str = level(a)
            y: tuple[int, ...] | int | str = level(b)
        except ValueError as exc:
            raise ExpandError(str(exc)) from None
        op = op[:-5]
    elif a.isascii() and b.isascii() and a.isdigit() and b.isdigit():
        x, y = int(a), int(b)
    else:
        x, y = a, b
    return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y,  # type: ignore[operator]
            ">": x > y, ">=": x >= y}[op]  # type: ignore[operator]
