"""``$name`` in parameter values: one grammar for finding references and for expanding them.

A port of Postfix's ``mac_parse()`` + ``mac_expand()`` (``src/util/mac_parse.c``,
``mac_expand.c``; spec section 3), used two ways, exactly as Postfix uses it:

* :func:`scan` is ``MAC_EXP_FLAG_SCAN``: what ``postconf`` does to every value. It
  parses both branches of every ``?``/``:``, never looks values up, and reports the
  syntax errors. ``errors`` are ``mac_parse()``'s (truncated reference, empty name);
  ``expression_errors`` are ``mac_expand()``'s (attribute syntax, ``{}`` operands,
  operators). The readers turn both into diagnostics with Postfix's own wording.
* :func:`expand` is what a daemon does: recursive expansion of the effective value,
  where an undefined name expands to nothing and any syntax error, or a reference
  loop, is an :class:`ExpandError` ("macro processing error").

Supported: ``$name``, ``${name}``, ``$(name)``, ``$$``, ``${name?text}``, ``${name:text}``,
``${name?{a}:{b}}`` and the relational forms ``${{a} OP {b}}`` and ``${{a} OP {b}?{t}:{f}}``
with ``== != < <= > >=`` and the ``level`` suffix that compares ``compatibility_level``
values (which every Postfix program registers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Lookup = Callable[[str], str | None]

_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_SPACE = " \t\r\n"  # CHARS_SPACE: MAC_EXP_WHITESPACE
_OP_CHARS = frozenset("<>!=?+-*/~&|%")
_OPERATORS = ("==", "!=", "<", "<=", ">=", ">")
_OPS_EXPECTED = '"==" or "!="" or "<"" or "<="" or ">="" or ">"'  # MAC_EXP_OP_STR_ANY, quotes as in Postfix
_EXTENSIONS = frozenset(op + "level" for op in _OPERATORS)  # compat_level_relop_register()
_MAX_LEVEL = 100
_TRUE = "true"


class ExpandError(ValueError):
    """The value cannot be expanded: Postfix programs stop with "macro processing error"."""


class NestingError(ExpandError):
    """``$a`` refers to ``$b`` refers to ... ``$a``: "unreasonable macro call nesting"."""


@dataclass
class MacroScan:
    """Names referenced (in order, repeats kept) and Postfix's error texts.

    ``errors`` (``mac_parse()``) make ``postconf`` refuse a built-in parameter's value;
    ``expression_errors`` (``mac_expand()``) are warnings for ``postconf -n`` but stop
    ``postconf -x`` and the daemons with "macro processing error".
    """

    refs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expression_errors: list[str] = field(default_factory=list)


class _Context:
    __slots__ = ("level", "lookup", "nesting", "out", "result", "scanning")

    def __init__(self, lookup: Lookup | None, out: MacroScan) -> None:
        self.lookup = lookup
        self.scanning = lookup is None
        self.result: list[str] = []
        self.out = out
        self.level = 0
        self.nesting = False

    @property
    def failed(self) -> bool:
        return bool(self.out.errors or self.out.expression_errors)

    def error(self, message: str) -> None:
        self.out.expression_errors.append(message)

    def value(self, name: str) -> str | None:
        if self.scanning:
            self.out.refs.append(name)  # "" too: postconf warns "undefined parameter: " for $( )
            return None
        assert self.lookup is not None
        return self.lookup(name)


def scan(value: str) -> MacroScan:
    """Every reference in ``value`` and every syntax error, as ``postconf`` scans it."""
    out = MacroScan()
    _parse(value, _Context(None, out))
    return out


def expand(value: str, lookup: Lookup) -> str:
    """``value`` with every reference replaced, recursively; ``lookup`` gives raw values.

    Raises :class:`ExpandError` (:class:`NestingError` for a loop) on any syntax error.
    """
    out = MacroScan()
    ctx = _Context(lookup, out)
    _parse(value, ctx)
    if ctx.failed:
        problem = (out.errors + out.expression_errors)[0]
        raise (NestingError if ctx.nesting else ExpandError)(problem)
    return "".join(ctx.result)


# -- mac_parse ---------------------------------------------------------------------------------
def _parse(value: str, ctx: _Context) -> None:
    """Split ``value`` into literal text and ``$`` expressions (``mac_parse()``)."""
    literal: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c != "$":
            j = value.find("$", i)
            j = n if j < 0 else j
            literal.append(value[i:j])
            i = j
            continue
        if value[i + 1:i + 2] == "$":
            literal.append("$")
            i += 2
            continue
        if literal:
            _literal("".join(literal), ctx)
            literal = []
        i += 1
        if i < n and value[i] in "{(":
            opener, closer = value[i], "}" if value[i] == "{" else ")"
            level, j = 1, i + 1
            while level > 0:
                if j >= n:
                    ctx.out.errors.append(f'truncated macro reference: "{value}"')
                    return
                if value[j] == opener:
                    level += 1
                elif value[j] == closer:
                    level -= 1
                j += 1
            name, i = value[i + 1:j - 1], j
        else:
            j = i
            while j < n and value[j] in _NAME:
                j += 1
            name, i = value[i:j], j
        if not name:
            ctx.out.errors.append(f'empty macro name: "{value}"')
            return
        _expression(name, ctx)
    if literal:
        _literal("".join(literal), ctx)


def _literal(text: str, ctx: _Context) -> None:
    if _enter(text, ctx) and not ctx.scanning:
        ctx.result.append(text)
    ctx.level -= 1


def _enter(text: str, ctx: _Context) -> bool:
    """The callback's entry: nesting guard, and nothing more happens after an error."""
    if ctx.level > _MAX_LEVEL:
        ctx.nesting = True
        ctx.error(f'unreasonable macro call nesting: "{text}"')
    ctx.level += 1
    return not ctx.failed


# -- mac_expand_callback ------------------------------------------------------------------------
def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _SPACE:
        i += 1
    return i


def _payload(text: str, i: int, ctx: _Context) -> tuple[str, int] | None:
    """``{...}`` at ``text[i]``: its content and the index after it and any whitespace."""
    level, j = 1, i + 1
    while True:
        if j >= len(text):
            ctx.error(f'unbalanced {{}} in attribute expression: "{text[i:]}"')
            return None
        if text[j] == "{":
            level += 1
        elif text[j] == "}":
            level -= 1
            if level <= 0:
                return text[i + 1:j], _skip(text, j + 1)
        j += 1


def _expression(text: str, ctx: _Context) -> None:
    """One ``$name`` / ``${...}`` (``mac_expand_callback()``)."""
    if not _enter(text, ctx):
        return
    i = _skip(text, 0)
    if text[i:i + 1] == "{":
        relation = _relational(text, i, ctx)
        if relation is None:
            return
        lookup, i = relation
        op = text[i:i + 1]
        if op:
            if op not in "?:":
                ctx.error(f'"?" or ":" expected at: "...}}>>>{text[i:i + 20]}"')
                return
            i += 1
    else:
        start, op = i, ""
        while True:
            k = _skip(text, i)
            if k >= len(text):
                name = text[start:i]
                i = k
                break
            if text[k] in "?:":
                name, op, i = text[start:i], text[k], k + 1
                break
            if text[i] not in _NAME:
                ctx.error(f'attribute name syntax error at: "...{text[:i]}>>>{text[i:i + 20]}"')
                return
            i += 1
        lookup = ctx.value(name)
    if op == "?":
        if not _branch(text, i, lookup is not None and lookup != "", ctx, "?"):
            return
    elif op == ":":
        if not _branch(text, i, not lookup, ctx, ":"):
            return
    elif lookup and not ctx.scanning:
        _parse(lookup, ctx)  # MAC_EXP_FLAG_RECURSE: main.cf values are expanded in turn
    ctx.level -= 1


def _branch(text: str, i: int, taken: bool, ctx: _Context, op: str) -> bool:
    """The operand after ``?`` (then, via ``:``, the one after it) or after ``:``."""
    k = _skip(text, i)
    if text[k:k + 1] == "{":
        found = _payload(text, k, ctx)
        if found is None:
            return False
        operand, i = found
    else:
        operand, i = text[i:], len(text)
    if taken or ctx.scanning:
        _parse(operand, ctx)
    if i >= len(text):
        return True
    if op == "?":
        if text[i] != ":":
            ctx.error(f'":" expected at: "...{operand}}}>>>{text[i:i + 20]}"')
            return False
        return _branch(text, i + 1, not taken, ctx, ":")
    ctx.error(f'unexpected input at: "...{operand}}}>>>{text[i:i + 20]}"')
    return False


def _relational(text: str, i: int, ctx: _Context) -> tuple[str | None, int] | None:
    """``{a} OP {b}`` at ``text[i]``: ("true" / "" / None when scanning, index after it)."""
    found = _payload(text, i, ctx)
    if found is None:
        return None
    left, i = found
    j = i
    while j < len(text) and text[j] in _OP_CHARS:
        j += 1
    op = text[i:j]
    if op not in _OPERATORS:
        ctx.error(f'{_OPS_EXPECTED} expected at: "...{left}}}>>>{text[i:i + 20]}"')
        return None
    k = j
    while k < len(text) and text[k].isascii() and text[k].isalnum():
        k += 1
    if k > j and op + text[j:k] not in _EXTENSIONS:
        ctx.error(f'bad operator suffix at: "...{op}>>>{text[j:k]}"')
        return None
    suffix = text[j:k]
    start = _skip(text, k)
    if text[start:start + 1] != "{":
        ctx.error(f'"{{expression}}" expected at: "...{{{left}}} {op}>>>{text[k:k + 20]}"')
        return None
    found = _payload(text, start, ctx)
    if found is None:
        return None
    right, after = found
    a, b = _sub_expand(left, ctx), _sub_expand(right, ctx)
    if ctx.failed:
        return None
    if ctx.scanning:
        return None, after
    assert a is not None and b is not None
    result = _compare(a, op, b, suffix, ctx)
    if result is None:
        return None
    return (_TRUE if result else ""), after


def _sub_expand(text: str, ctx: _Context) -> str | None:
    """An operand, expanded by a nested ``mac_expand()``: same lookup, own buffer and level."""
    saved = ctx.result, ctx.level
    ctx.result, ctx.level = [], 0
    _parse(text, ctx)
    value = "".join(ctx.result)
    ctx.result, ctx.level = saved
    return None if ctx.scanning else value


def level(text: str) -> tuple[int, ...]:
    """A compatibility level (``3.6``, ``2``, ``3.6.1``) as a comparable tuple; ValueError if malformed."""
    parts = text.strip(_SPACE).split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(f"bad compatibility level: {text!r}")
    nums = [int(p) for p in parts]
    return tuple(nums + [0] * (3 - len(nums)))


def _compare(a: str, op: str, b: str, suffix: str, ctx: _Context) -> bool | None:
    x: tuple[int, ...] | int | bytes
    y: tuple[int, ...] | int | bytes
    if suffix:
        try:
            x, y = level(a), level(b)
        except ValueError as exc:
            ctx.error(str(exc))
            return None
    elif a.isascii() and b.isascii() and a.isdigit() and b.isdigit():
        x, y = int(a), int(b)
    else:
        x, y = a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape")  # strcmp()
    return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y,  # type: ignore[operator]
            ">": x > y, ">=": x >= y}[op]  # type: ignore[operator]
