"""``master.cf``: services as Postfix reads them, and edits that touch only their tokens.

Reading follows spec section 5: logical lines as in main.cf, tokens split on
``SP TAB CR LF`` with brace grouping, the 8 fields checked like ``postconf`` (which
refuses the whole file on a bad field) and like the master daemon (which also refuses
``inet`` services that are not private=n, a bare ``?`` wakeup and a ``-`` command).
Entries postconf cannot read are left out of :meth:`MasterCf.services` and reported
in :attr:`MasterCf.diagnostics`; nothing here ever raises on file content.

Edits keep postconf's *logical* semantics (literal name/type matching, every duplicate
is edited, a new ``-o`` goes after the last option) but not its layout: postconf
reprints a whole entry and moves its comments; we replace single tokens and keep
everything else byte for byte (spec 5.9).

This module holds what a master.cf *is* (services, diagnostics) and which entries an
edit touches; the work under it is split by job: reading tokens
(:mod:`._master_tokens`), rewriting an entry's raw text (:mod:`._master_edit`), laying
out new text like the file (:mod:`._master_layout`) and finding commented-out services
(:mod:`._master_disabled`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import _master_disabled as md
from . import _master_edit as me
from . import _master_layout as ml
from . import _master_tokens as mt
from ._master_disabled import Which as Which
from ._master_tokens import FIELDS, Problem, Token
from ._text import is_trivia, line_body, split_lines
from .data import READ_ONLY
from .document import Document
from .errors import (
    Diagnostic,
    InvalidNameError,
    InvalidValueError,
    MalformedEntryError,
    NotFoundError,
)
from .lines import split_nodes

_BLOCKING = frozenset({"option-without-value", "glued-brace-option", "unbraced-value-words"})


@dataclass(frozen=True, slots=True)
class Service:
    """One entry as postconf reads it. Fields are raw tokens (``-`` stays ``-``).

    ``args`` is every argument after the command as the daemon receives it, normalised
    like postconf (``-oa=b`` and ``-vo a=b`` split, outer braces removed, a braced
    ``-o { a = b }`` written ``a=b``). ``options`` maps each well-formed ``-o`` name to
    its value; a later duplicate wins, as in the daemon.
    """

    name: str
    type: str
    private: str
    unpriv: str
    chroot: str
    wakeup: str
    maxproc: str
    command: str
    args: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.type

    @property
    def command_line(self) -> str:
        """The command and its arguments as ``postconf -F name/type/command`` prints them."""
        return mt.format_command(self.command, self.args)

    @property
    def fields(self) -> dict[str, str]:
        """The 8 fields under their ``postconf -F`` names."""
        values = (self.name, self.type, self.private, self.unpriv, self.chroot, self.wakeup, self.maxproc)
        return dict(zip(FIELDS, (*values, self.command_line), strict=True))


@dataclass(frozen=True, slots=True)
class _Entry:
    index: int
    line: int
    tokens: tuple[Token, ...]
    key: tuple[str, str] | None
    split_head: bool  # name and type not both on the HEAD line: postconf cannot edit it
    nul: bool
    reading: mt.Reading | None  # None with fewer than 8 tokens
    problems: tuple[Problem, ...]
    service: Service | None  # None when postconf cannot read the entry


def _parse_entry(index: int, line: int, raw: str) -> _Entry:
    tokens, logical, nul = mt.tokenize(raw)
    texts = [t.text for t in tokens]
    key = (texts[0], texts[1]) if len(texts) >= 2 else None
    split_head = len(tokens) >= 2 and (tokens[1].line > 0 or tokens[0].multiline)
    problems: list[Problem] = []
    if split_head:
        problems.append(Problem("name-type-split", "warning", "specify service name and type on the same line "
                                "(postconf -e/-F/-P cannot edit this file)", 1))
    if len(texts) < 8:
        problems.append(Problem("bad-field-count", "error", "bad field count", None, True))
        return _Entry(index, line, tuple(tokens), key, split_head, nul, None, tuple(problems), None)
    problems.extend(mt.check_fields(texts, logical))
    reading = mt.read_args(texts)
    problems.extend(reading.problems)
    service = None
    if not any(p.fatal for p in problems):
        # -o of a read-only name reaches the daemon, which ignores it (postconf -P does not show it)
        options = {o.name: o.value for o in reading.options if o.name is not None and o.name not in READ_ONLY}
        n, k, p, u, c, w, m, cmd = texts[:8]
        service = Service(n, k, p, u, c, w, m, cmd, reading.args, options, line)
    return _Entry(index, line, tuple(tokens), key, split_head, nul, reading, tuple(problems), service)


class MasterCf(Document):
    """A lossless ``master.cf``."""

    __slots__ = ()

    # -- reading ----------------------------------------------------------------------
    def _entries(self) -> list[_Entry]:
        cached = self._cache
        if isinstance(cached, list):
            return cached
        entries = []
        line = 1
        for i, node in enumerate(self._nodes):
            if node.kind == "entry":
                entries.append(_parse_entry(i, line, node.raw))
            line += node.raw.count("\n")
        self._cache = entries
        return entries

    def services(self) -> list[Service]:
        """Every entry postconf can read, in file order (duplicates included)."""
        return [e.service for e in self._entries() if e.service is not None]

    def get(self, name: str, type: str) -> Service | None:
        """The entry for ``name``/``type``; with duplicates the *last*, which the master daemon uses."""
        found = self.find(name, type)
        return found[-1] if found else None

    def find(self, name: str, type: str) -> list[Service]:
        """Every readable copy of ``name``/``type`` in file order."""
        return [s for s in self.services() if s.key == (name, type)]

    def __contains__(self, key: object) -> bool:
        return any(e.key == key for e in self._entries())

    def disabled(self, name: str | None = None, type: str | None = None) -> list[Service]:
        """Commented-out services that :meth:`enable` could turn on (``line`` = the commented HEAD)."""
        numbers = self._line_numbers()
        entries = [_parse_entry(start, numbers[start], md.uncommented(self._nodes, start, stop, accepted))
                   for start, stop, accepted in md.disabled_blocks(self._nodes, name, type)]
        return [e.service for e in entries if e.service is not None]

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        out: list[Diagnostic] = []
        path = self.path
        line = 1
        for node in self._nodes:
            if node.kind == "orphan":
                snippet = line_body(node.raw.split("\n", 1)[0])[:30]
                out.append(Diagnostic(line, "warning", "orphan-continuation", "logical line must not start with "
                                      f'whitespace: "{snippet}..." (Postfix ignores it)', path))
            if "\0" in node.raw:
                out.append(Diagnostic(line, "warning", "nul-byte", "NUL byte: Postfix ignores the rest of this "
                                      "logical line", path))
            line += node.raw.count("\n")
        seen: dict[tuple[str, str], int] = {}
        ends: dict[tuple[str, str, str], tuple[str, int]] = {}
        for e in self._entries():
            for p in e.problems:
                at = e.line + (e.tokens[p.token].line if p.token is not None else 0)
                out.append(Diagnostic(at, p.severity, p.code, p.message, path))
            s = e.service
            if s is None:
                continue
            end, other = mt.endpoint(*s.key), None
            if s.key in seen:
                other = f'"{s.name}/{s.type}" is also defined at line {seen[s.key]}: postconf edits every copy'
            elif s.type == "inet" and end in ends:
                other = f'"{s.name}/inet" listens where "{ends[end][0]}/inet" (line {ends[end][1]}) does'
            if other:
                code = "duplicate-service" if s.key in seen else "duplicate-endpoint"
                out.append(Diagnostic(e.line, "warning", code, f"{other}; the master daemon uses the last", path))
            ends.setdefault(end, (s.name, e.line))
            seen[s.key] = e.line
        out.sort(key=lambda d: d.line)
        return tuple(out)

    # -- editing: fields and options ----------------------------------------------------
    def set_field(self, name: str, type: str, field: str, value: str) -> bool:
        """Set one ``postconf -F`` field of every copy of ``name``/``type`` (like ``postconf -Fe``).

        Fields 1-7 replace one token; the whitespace after it shrinks or grows so the
        next columns stay put. ``command`` is the whole command line (command plus
        arguments, as with ``-Fe``): when only the program changes, only its token is
        replaced, otherwise the arguments are rewritten verbatim from ``value``.
        """
        if field not in FIELDS:
            raise InvalidNameError(f'invalid service attribute name: "{field}"')
        value = mt.check_field(field, value)
        pos = FIELDS.index(field)
        targets = self._targets(name, type)
        new_key = (value, type) if pos == 0 else (name, value)
        if pos < 2 and new_key != (name, type):
            mt.check_service_name(*new_key)
            self._check_free(new_key, exclude=(name, type))
        changes: dict[int, str] = {}
        for e in targets:
            raw = self._nodes[e.index].raw
            new = (me.command_edit(raw, e.tokens, e.reading, e.line, value, self.eol) if pos == 7
                   else me.token_edit(raw, e.tokens, e.line, pos, value))
            if new is not None:
                self._validate(e, new, pos)
                changes[e.index] = new
        return self._apply(changes)

    def set_option(self, name: str, type: str, param: str, value: str) -> bool:
        """Give ``-o param`` the value ``value`` in every copy of ``name``/``type`` (``postconf -Pe``).

        Each existing ``-o param=`` keeps its form (``-o a=b``, ``-oa=b``, ``-o { a = b }``);
        a value with whitespace is written ``-o { param = value }``. A new option goes
        after the last option: on its own continuation line (indented like the other
        ``-o`` lines) unless the entry keeps its options inline.
        """
        mt.check_param_name(param)
        value = mt.check_text(value)
        changes: dict[int, str] = {}
        for e in self._targets(name, type, options=True):
            raw = self._nodes[e.index].raw
            assert e.reading is not None
            matches = [o for o in e.reading.options if o.name == param]
            edits = [me.value_edit(me.editable(e.tokens, o.value_index, e.line), o, param, value)
                     for o in matches if o.value != value] if matches else [me.insert_option(
                         raw, e.tokens, e.reading, f"-o {ml.render_option(param, value)}",
                         ml.entry_indent(e.tokens, [o.index for o in e.reading.options], raw,
                                         lambda: ml.file_indent(self._nodes)), self.eol)]
            changes[e.index] = me.splice(raw, edits)
        return self._apply(changes)

    def delete_option(self, name: str, type: str, param: str) -> bool:
        """Remove every ``-o param=...`` (``postconf -PX``); False if there is none.

        An option alone on its physical line takes the whole line with it; otherwise
        only its tokens (and the blank before them) go. ``-vo a=b`` becomes ``-v``.
        """
        if param not in READ_ONLY:  # read-only names cannot be set, but may be cleaned up
            mt.check_param_name(param)
        if (name, type) not in self:
            return False
        changes: dict[int, str] = {}
        for e in self._targets(name, type, options=True):
            assert e.reading is not None
            matches = [o for o in e.reading.options if o.name == param]
            keep = {o.index: e.tokens[o.index].text[:o.at] for o in matches if o.at > 1}  # -vo a=b: -v stays
            drop = {o.index for o in matches if o.at == 1} | {o.value_index for o in matches} - set(keep)
            if matches:
                changes[e.index] = me.remove_tokens(self._nodes[e.index].raw, e.tokens, drop, keep)
        return self._apply(changes)

    # -- editing: whole services ---------------------------------------------------------
    def disable(self, name: str, type: str) -> bool:
        """Comment out every copy like ``postconf -M#``: ``#`` before the HEAD and each continuation."""
        return self._each_line(name, type, lambda k, ln: ln if k and is_trivia(line_body(ln)) else "#" + ln)

    def remove(self, name: str, type: str) -> bool:
        """Delete every copy like ``postconf -MX``; comment lines inside an entry stay."""
        return self._each_line(name, type, lambda k, ln: ln if k and is_trivia(line_body(ln)) else "")

    def enable(self, name: str, type: str, *, which: Which = None, through_comments: bool = False) -> bool:
        """Uncomment a disabled ``#name type ...`` block; the exact inverse of :meth:`disable`.

        Returns False when the service is already active. The block is the commented
        HEAD (its body must parse as a valid 8-field entry, so prose never qualifies)
        plus the directly following ``#<indent>-o ...`` / ``#<indent>key=value ...``
        lines with the same indentation. With ``through_comments`` the block also
        continues past other comment and blank lines, as Postfix would read it, which
        in the stock file also enables the second ``-o`` group (lines 29-34).
        Several candidates need ``which`` ("first", "last" or a line number).
        """
        if (name, type) in self:
            return False
        blocks = md.disabled_blocks(self._nodes, name, type, through_comments)
        if not blocks:
            raise NotFoundError(f'no active or commented-out service "{name}/{type}"')
        start, stop, accepted = md.choose(blocks, which, self._line_numbers(), f"{name}/{type}")
        if type == "inet":
            self._check_free((name, type))
        nodes = list(self._nodes)
        nodes[start:stop] = split_nodes(md.uncommented(self._nodes, start, stop, accepted))
        self._replace_nodes(nodes)
        return True

    def add_service(self, name: str, type: str, private: str, unpriv: str, chroot: str, wakeup: str,
                    maxproc: str, command: str, args: tuple[str, ...] | list[str] = (),
                    options: dict[str, str] | None = None) -> bool:
        """Make ``name``/``type`` exactly this service (``postconf -Me``); False if it already is.

        ``args`` are written after the options (e.g. ``flags=R user=x argv=...``). A new
        entry goes after the commented-out example of the same service if there is one,
        else at the end, in the file's own column layout and ``-o`` indentation. An
        existing different entry is replaced in place (its comments stay after it) and
        later duplicates are removed.
        """
        fields, opts, extra = mt.check_service(name, type, (private, unpriv, chroot, wakeup, maxproc), command,
                                               args, options)
        eol = self.eol
        heads = ((e.tokens, self._nodes[e.index].raw) for e in self._entries())
        text = ml.render_entry(fields, opts, extra, ml.columns(heads), ml.file_indent(self._nodes), eol)
        new = _parse_entry(0, 0, text)
        if new.service is None or any(p.severity == "error" for p in new.problems):
            bad = next(p for p in new.problems if p.severity == "error")
            raise InvalidValueError(f"{name}/{type}: {bad.message}")
        existing = [e for e in self._entries() if e.key == (name, type)]
        if len(existing) == 1 and existing[0].service is not None and _same(existing[0].service,
                                                                            new.service):
            return False
        if type == "inet":
            self._check_free((name, type), exclude=(name, type))
        nodes = list(self._nodes)
        if existing:
            for k, e in enumerate(reversed(existing)):
                trivia = "".join(ln for ln in split_lines(nodes[e.index].raw)[1:] if is_trivia(line_body(ln)))
                nodes[e.index:e.index + 1] = split_nodes((text if k == len(existing) - 1 else "") + trivia)
        else:
            blocks = md.disabled_blocks(self._nodes, name, type, True)
            at = blocks[-1][1] if blocks else len(nodes)
            if at >= len(nodes):
                nodes = self._with_final_newline(nodes, eol)
            nodes[at:at] = split_nodes(text)
        self._replace_nodes(nodes)
        return True

    # -- helpers --------------------------------------------------------------------------
    def _targets(self, name: str, type: str, *, options: bool = False) -> list[_Entry]:
        """Entries an edit of ``name``/``type`` must change; refuse them all if one is unsafe."""
        found = [e for e in self._entries() if e.key == (name, type)]
        if not found:
            raise NotFoundError(f'no service "{name}/{type}"')
        for e in found:
            why = ("NUL byte in the entry" if e.nul else "bad field count" if e.reading is None
                   else "name and type are not on the same line" if e.split_head else None)
            if why is None and options:
                why = next((p.message for p in e.problems if p.code in _BLOCKING), None)
            if why is not None:
                raise MalformedEntryError(f"line {e.line}: cannot edit {name}/{type}: {why}", line=e.line)
        return found

    def _check_free(self, key: tuple[str, str], exclude: tuple[str, str] | None = None) -> None:
        """Refuse to create a duplicate name/type or a second inet entry for the same endpoint."""
        end = mt.endpoint(*key)
        for e in self._entries():
            if e.key is None or e.key == exclude or e.reading is None:
                continue
            if e.key == key or (key[1] == "inet" and mt.endpoint(*e.key) == end):
                raise InvalidNameError(f'"{key[0]}/{key[1]}" would duplicate "{e.key[0]}/{e.key[1]}" '
                                       f"(line {e.line})")

    def _validate(self, old: _Entry, new_raw: str, pos: int) -> None:
        """Refuse an edit that gives the entry a new error or leaves the edited field invalid."""
        before = {p.code for p in old.problems if p.severity == "error"}
        for node in split_nodes(new_raw):
            for p in _parse_entry(0, 0, node.raw).problems if node.kind == "entry" else ():
                if p.severity == "error" and (p.code not in before or p.token == pos):
                    raise InvalidValueError(f"line {old.line}: {p.message}")

    def _each_line(self, name: str, type: str, fn: Callable[[int, str], str]) -> bool:
        """Rewrite each physical line of every entry of ``name``/``type`` (even malformed ones)."""
        return self._apply({e.index: "".join(fn(k, ln) for k, ln in enumerate(split_lines(
            self._nodes[e.index].raw))) for e in self._entries() if e.key == (name, type)})

    def _apply(self, changes: dict[int, str]) -> bool:
        """Swap in the new raw text of the changed entry nodes (re-split: it may now be several nodes)."""
        changes = {i: raw for i, raw in changes.items() if raw != self._nodes[i].raw}
        if not changes:
            return False
        nodes = list(self._nodes)
        for i in sorted(changes, reverse=True):
            nodes[i:i + 1] = split_nodes(changes[i])
        self._replace_nodes(nodes)
        return True


def _same(old: Service, new: Service) -> bool:
    """Same fields, same options and same other arguments (the order of the options does not matter)."""
    def rest(s: Service) -> list[str]:
        return [a for i, a in enumerate(s.args) if a != "-o" and (i == 0 or s.args[i - 1] != "-o")]
    return ([*list(old.fields.values())[:7], old.command] == [*list(new.fields.values())[:7], new.command]
            and old.options == new.options and rest(old) == rest(new))
