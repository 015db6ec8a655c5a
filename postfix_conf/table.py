"""postmap source files (``hash:``, ``btree:``, ``lmdb:``, ``cdb:``, ``texthash:``).

Reading follows ``src/postmap/postmap.c:postmap()`` (spec section 7), checked against
Postfix 3.7.11: logical lines as in main.cf (continuation lines joined with their
leading whitespace, interior comments and blank lines skipped); the key ends at the
first whitespace that is not inside ``"..."`` and not escaped by ``\\``, and quotes
and backslashes stay in the key; the value is the rest with surrounding whitespace
(CR included) removed, so a ``# text`` after the value is value text. A missing
value, an unbalanced quote or an orphan continuation line makes postmap skip the
line; the **first** definition of a key wins; keys are case-folded unless the table
is built with ``postmap -f``.

Values of SASL maps are passwords: no exception message and no diagnostic ever
contains a value (they say "the value of key X").
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

from ._text import BOM, WS, decode, encode, is_trivia, line_body, line_eol, split_lines, ws_strip
from .document import Document, StrPath
from .errors import Diagnostic, InvalidNameError, InvalidValueError
from .lines import Node, logical_parts, split_nodes

__all__ = ["Entry", "LookupTable", "fold_key", "scan_key", "split_credentials"]

Status = Literal["ok", "missing-value", "unbalanced-quote", "non-utf8"]

_SIMPLE_KEY = re.compile(r'[^ \t\n\v\f\r"\\]*')
_SURROGATE = re.compile("[\ud800-\udfff]")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored definition: ``key`` as written, raw ``value``, first physical ``line``."""

    key: str
    value: str
    line: int


@dataclass(slots=True)
class _Record:  # internal, never mutated (not frozen: a frozen __init__ is twice as slow)
    index: int  # position in the node list
    line: int  # first physical line (what postmap reports)
    status: Status
    key: str | None  # as written; None when the key cannot be delimited
    lookup: str | None  # the key as postmap stores it (folded unless fold_case=False)
    value: str
    nul_line: int  # physical line of the first NUL, or 0
    bad_utf8: bool  # postmap skips the line when smtputf8_enable = yes


def scan_key(text: str) -> int | None:
    """Where postmap's key ends in ``text``, or None for an unbalanced ``"``.

    The key ends at the first whitespace byte that is neither inside ``"..."`` nor
    escaped by a backslash; a backslash also escapes a quote. A trailing lone
    backslash ends the scan (it stays in the key).
    """
    i = _SIMPLE_KEY.match(text).end()  # type: ignore[union-attr]
    n = len(text)
    if i == n or text[i] in WS:
        return i
    in_quotes = False
    while i < n:
        c = text[i]
        if c == "\\":
            i += 1
            if i >= n:
                break
        elif c in WS:
            if not in_quotes:
                break
        elif c == '"':
            in_quotes = not in_quotes
        i += 1
    return None if in_quotes else i


def fold_key(key: str, *, smtputf8: bool = False) -> str:
    """The key as postmap stores and queries it with case folding (``DICT_FLAG_FOLD_FIX``).

    Without SMTPUTF8 only ASCII letters are lowered (``lowercase()``); with
    ``smtputf8_enable = yes`` non-ASCII keys get full Unicode case folding
    (``casefold()``: ``STRAßE`` -> ``strasse``), as observed with Postfix 3.7.11.
    """
    if key.isascii():
        return key.lower()
    if smtputf8:
        return key.casefold()
    return key.translate(_ASCII_LOWER)


def split_credentials(value: str) -> tuple[str, str]:
    """``username:password`` split at the **first** ``:``, as the SMTP client does.

    ``user:pa:ss`` gives ``("user", "pa:ss")``; without a ``:`` the password is empty.
    """
    user, _, password = value.partition(":")
    return user, password


def _is_utf8(text: str) -> bool:
    """True when the decoded bytes were valid UTF-8 (no ``surrogateescape`` bytes)."""
    return _SURROGATE.search(text) is None


def _logical(raw: str) -> str:
    """The joined logical line, *not* truncated at NUL (the UTF-8 check sees it all)."""
    nl = raw.find("\n")
    if nl < 0:
        return raw
    if nl == len(raw) - 1:
        return raw[:nl]
    head, conts = logical_parts(raw)
    return head + "".join(conts)


_PLAIN = re.compile(r'([^ \t\n\v\f\r"\\\0]+)[ \t\v\f\r]+([^\n\0]*[^ \t\v\f\r\n\0])[ \t\v\f\r]*\n?\Z')
"""The common case: one ASCII-or-UTF-8 line ``key WS value`` without quotes, backslashes or NUL."""


def _parse_record(index: int, line: int, raw: str, fold: bool, smtputf8: bool) -> _Record:
    m = _PLAIN.match(raw)
    if m is not None:
        key = m.group(1)
        lookup = fold_key(key, smtputf8=smtputf8) if fold else key
        if raw.isascii() or _is_utf8(raw):
            return _Record(index, line, "ok", key, lookup, m.group(2), 0, False)
    return _parse_slow(index, line, raw, fold, smtputf8)


def _parse_slow(index: int, line: int, raw: str, fold: bool, smtputf8: bool) -> _Record:
    full = _logical(raw)
    cut = full.find("\0")
    text = full if cut < 0 else full[:cut]
    nul_line = 0 if cut < 0 else line + raw[:raw.find("\0")].count("\n")
    # allascii("") is false in Postfix: a line that starts with NUL gets the full UTF-8 check
    bad_utf8 = not (text and text.isascii()) and not _is_utf8(full)
    end = scan_key(text)
    key = None if end is None else text[:end]
    lookup = None if key is None else fold_key(key, smtputf8=smtputf8) if fold else key
    if smtputf8 and bad_utf8:
        return _Record(index, line, "non-utf8", key, lookup, "", nul_line, bad_utf8)
    if end is None:
        return _Record(index, line, "unbalanced-quote", None, None, "", nul_line, bad_utf8)
    value = ws_strip(text[end:])
    status: Status = "ok" if key and value else "missing-value"
    return _Record(index, line, status, key, lookup, value if status == "ok" else "", nul_line, bad_utf8)


def _check_text(what: str, text: str, subject: str, error: type[ValueError]) -> None:
    for bad, name in (("\n", "a newline"), ("\r", "a carriage return"), ("\0", "a NUL byte")):
        if bad in text:
            raise error(f"{subject} contains {name}")
    try:
        encode(text)
    except UnicodeEncodeError:
        raise error(f"{subject} contains a lone surrogate that is not an undecodable byte") from None


class LookupTable(Document):
    """A lossless postmap source file: read like ``postmap``, edit only the lines that change."""

    __slots__ = ("fold_case", "smtputf8")

    def __init__(self, text: str, *, path: str | None = None, source: bytes | None = None,
                 fold_case: bool = True, smtputf8: bool = False) -> None:
        super().__init__(text, path=path, source=source)
        self.fold_case = fold_case
        self.smtputf8 = smtputf8

    # -- construction ---------------------------------------------------------------
    @classmethod
    def parse(cls, data: bytes | str, *, path: StrPath | None = None,
              fold_case: bool = True, smtputf8: bool = False) -> Self:
        """Parse a table source; never raises on content (problems go to ``diagnostics``).

        ``fold_case=False`` reads the table as ``postmap -f`` builds it. ``smtputf8=True``
        mirrors ``smtputf8_enable = yes`` (the default from ``compatibility_level = 1``):
        non-UTF-8 lines are skipped and non-ASCII keys are Unicode case-folded.
        """
        source = data if isinstance(data, bytes) else None
        return cls(decode(data), path=None if path is None else os.fspath(path), source=source,
                   fold_case=fold_case, smtputf8=smtputf8)

    @classmethod
    def read(cls, path: StrPath, *, fold_case: bool = True, smtputf8: bool = False) -> Self:
        """Read and parse a table source (bytes, no newline translation)."""
        return cls.parse(Path(path).read_bytes(), path=path, fold_case=fold_case, smtputf8=smtputf8)

    # -- reading ----------------------------------------------------------------------
    def _records(self) -> list[_Record]:
        cached = self._cache
        if isinstance(cached, list):
            return cached
        records: list[_Record] = []
        fold = self.fold_case
        utf8 = self.smtputf8
        line = 1
        for i, node in enumerate(self._nodes):
            raw = node.raw
            if node.kind == "entry":
                records.append(_parse_record(i, line, raw, fold, utf8))
            line += raw.count("\n")
        self._cache = records
        return records

    def lookup_key(self, key: str) -> str:
        """``key`` as this table stores and queries it (folded unless ``fold_case=False``)."""
        return fold_key(key, smtputf8=self.smtputf8) if self.fold_case else key

    def definitions(self, key: str | None = None) -> list[Entry]:
        """Every stored definition in file order, duplicates included (of one key, or all)."""
        want = None if key is None else self.lookup_key(key)
        return [Entry(r.key, r.value, r.line) for r in self._records()
                if r.status == "ok" and r.key is not None and (want is None or r.lookup == want)]

    def entries(self) -> dict[str, str]:
        """What ``postmap -s`` shows: stored (folded) key -> value, the first definition winning."""
        out: dict[str, str] = {}
        for r in self._records():
            if r.status == "ok" and r.lookup is not None and r.lookup not in out:
                out[r.lookup] = r.value
        return out

    def get(self, key: str, default: str | None = None) -> str | None:
        """What ``postmap -q KEY`` prints: the first definition's value, or ``default``."""
        want = self.lookup_key(key)
        for r in self._records():
            if r.status == "ok" and r.lookup == want:
                return r.value
        return default

    def shadowed(self, key: str) -> list[Entry]:
        """Later definitions of ``key`` that postmap ignores (the first one wins)."""
        return self.definitions(key)[1:]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """What postmap would warn about (without ever quoting a value), plus NUL/UTF-8 notes."""
        out: list[Diagnostic] = []
        path = self.path
        if self._nodes and self._nodes[0].raw.startswith(BOM):
            out.append(Diagnostic(1, "warning", "bom", "file starts with a UTF-8 byte order mark; "
                                  "postmap reads it as part of the first line", path))
        line = 1
        for node in self._nodes:
            if node.kind == "orphan":
                out.append(Diagnostic(line, "warning", "orphan-continuation",
                                      "logical line must not start with whitespace "
                                      "(postmap ignores it)", path))
            line += node.raw.count("\n")
        first: dict[str, int] = {}
        for r in self._records():
            if r.nul_line:
                out.append(Diagnostic(r.nul_line, "warning", "nul-byte", "NUL byte: postmap ignores "
                                      "the rest of this logical line", path))
            if r.status == "non-utf8":
                out.append(Diagnostic(r.line, "warning", "non-utf8", "line is not valid UTF-8: postmap "
                                      "ignores it (smtputf8_enable = yes)", path))
                continue
            if r.status == "unbalanced-quote":
                out.append(Diagnostic(r.line, "warning", "unbalanced-quote", "unbalanced '\"' in the "
                                      "key -- postmap ignores this line", path))
                continue
            if r.bad_utf8:
                out.append(Diagnostic(r.line, "warning", "non-utf8", "line is not valid UTF-8: postmap "
                                      "ignores it when smtputf8_enable = yes (the default from "
                                      "compatibility_level = 1)", path))
            if r.status == "missing-value":
                out.append(Diagnostic(r.line, "warning", "missing-value", "expected format: key "
                                      "whitespace value -- postmap ignores this line", path))
                continue
            key = r.key or ""
            if key.endswith(":"):
                out.append(Diagnostic(r.line, "warning", "alias-format", f'key "{key}" ends in ":": '
                                      "record is in \"key: value\" format; is this an alias file? "
                                      "(the colon is part of the key)", path))
            assert r.lookup is not None
            if r.lookup in first:
                out.append(Diagnostic(r.line, "warning", "duplicate-key",
                                      f'duplicate entry: "{r.lookup}": the definition at line '
                                      f"{first[r.lookup]} wins (postmap -r would use the last one)",
                                      path))
            else:
                first[r.lookup] = r.line
        out.sort(key=lambda d: d.line)
        return tuple(out)

    # -- validation -------------------------------------------------------------------
    def check_key(self, key: str) -> None:
        """Refuse a key that postmap would not read back as exactly this key."""
        if not isinstance(key, str) or not key:
            raise InvalidNameError("invalid lookup key: must be a non-empty string")
        _check_text("key", key, f"lookup key {key!r}", InvalidNameError)
        if key[0] == "#":
            raise InvalidNameError(f"invalid lookup key {key!r}: a leading '#' makes the line a comment")
        if scan_key(key + " x") != len(key):
            raise InvalidNameError(f"invalid lookup key {key!r}: whitespace must be quoted or escaped, "
                                   "'\"' must be balanced and the key must not end in a lone '\\'")
        if self.smtputf8 and not _is_utf8(key):
            raise InvalidNameError(f"invalid lookup key {key!r}: not UTF-8 (smtputf8_enable = yes)")

    def check_value(self, key: str, value: str) -> None:
        """Refuse a value postmap would not store unchanged. Never quotes the value."""
        subject = f"the value of key {key!r}"
        if not isinstance(value, str):
            raise InvalidValueError(f"{subject} must be a string")
        _check_text("value", value, subject, InvalidValueError)
        if not ws_strip(value):
            raise InvalidValueError(f"{subject} is empty: postmap rejects a key without a value")
        if value[0] in WS or value[-1] in WS:
            raise InvalidValueError(f"{subject} has leading or trailing whitespace, which postmap "
                                    "would silently strip")
        if self.smtputf8 and not _is_utf8(value):
            raise InvalidValueError(f"{subject} is not UTF-8 (smtputf8_enable = yes)")

    # -- editing ----------------------------------------------------------------------
    def set(self, key: str, value: str) -> bool:
        """Make ``get(key)`` return ``value``; return whether anything changed.

        The first (effective) definition is rewritten in place as one line that keeps
        the key as written and the whitespace after it; comment and blank lines inside
        an old multi-line value stay after it. Later duplicates are left alone (see
        ``shadowed()`` and ``diagnostics``). A line with this key but no value, which
        postmap skips, is completed in place. Otherwise ``key value`` is appended at
        the end, with the file's dominant line ending.
        """
        self.check_key(key)
        want = self.lookup_key(key)
        records = self._records()
        target = next((r for r in records if r.status == "ok" and r.lookup == want), None)
        if target is not None and target.value == value:
            return False  # also when the current value could not be written today (inner CR)
        self.check_value(key, value)
        if target is None:
            target = next((r for r in records if r.status == "missing-value" and r.lookup == want), None)
        nodes = list(self._nodes)
        if target is not None:
            nodes[target.index:target.index + 1] = _rewrite(nodes[target.index].raw, value,
                                                            self._separator())
        else:
            eol = self.eol
            nodes = self._with_final_newline(nodes, eol)
            nodes.append(Node("entry", f"{key}{self._separator()}{value}{eol}"))
        self._replace_nodes(nodes)
        return True

    def delete(self, key: str) -> bool:
        """Remove every definition of ``key`` (also lines postmap skips for a missing value).

        Comment and blank lines inside a removed multi-line entry stay.
        """
        self.check_key(key)
        want = self.lookup_key(key)
        matches = [r for r in self._records() if r.lookup == want]
        if not matches:
            return False
        nodes = list(self._nodes)
        for r in reversed(matches):
            lines = split_lines(nodes[r.index].raw)
            kept = "".join(ln for ln in lines[1:] if is_trivia(line_body(ln)))
            nodes[r.index:r.index + 1] = split_nodes(kept)
        self._replace_nodes(nodes)
        return True

    def _separator(self) -> str:
        """Whitespace for a new line: a TAB if the last readable entry uses one, else a space."""
        for r in reversed(self._records()):
            if r.status == "ok" and r.key is not None:
                raw = self._nodes[r.index].raw
                if raw.startswith(r.key) and raw[len(r.key):len(r.key) + 1] == "\t":
                    return "\t"
                break
        return " "


def _rewrite(raw: str, value: str, default_sep: str) -> list[Node]:
    """The entry as one ``key sep value`` line, followed by its interior trivia."""
    lines = split_lines(raw)
    full = _logical(raw)
    cut = full.find("\0")
    text = full if cut < 0 else full[:cut]
    end = scan_key(text)
    assert end is not None  # only readable entries are rewritten
    rest = text[end:]
    sep = rest[:len(rest) - len(rest.lstrip(WS))]
    head = line_body(lines[0]).split("\0", 1)[0].rstrip(WS)
    if end + len(sep) >= len(head) or "\r" in sep:
        sep = default_sep  # the old value did not start on the HEAD line, or a bare CR split it
    new_head = text[:end] + sep + value + line_eol(lines[0])
    trivia = "".join(ln for ln in lines[1:] if is_trivia(line_body(ln)))
    return split_nodes(new_head + trivia)
