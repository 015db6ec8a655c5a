"""MasterCf properties: lossless round trip, no clobber, idempotence, inverses, a stateful model.

The grammar-aware strategies here are shared with ``test_master_cf_postconf.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from postfix_conf.errors import PostfixConfError
from postfix_conf.master_cf import MasterCf, Service

from .conftest import EXAMPLES, cases_dir, corpus_files, need_corpus

# -- grammar-aware strategies ---------------------------------------------------------------
UNIX_NAMES = ["pickup", "relay", "foo", "smtp", "x-y", "amavis", "dovecot"]
INET_NAMES = ["smtp", "2525", "submission", "127.0.0.1:10025", "[::1]:10026", "smtps", "0.0.0.0:465"]
PARAMS = ["a", "b", "syslog_name", "smtpd_tls_security_level", "milter_macro_daemon_name", "x_y"]
VALUES = ["yes", "no", "1", "", "encrypt", "postfix/$service_name", "permit_sasl_authenticated,reject",
          "${x}", "{a,b}", "a=b"]
SPACED = ["permit_mynetworks, reject", "a  b", "x\ty"]
ARGS = ["flags=R", "user=nobody", "argv=/bin/echo", "{ two words }", "{}", "${recipient}", "{ a {b} c }",
        "-d", "end"]


@dataclass(frozen=True)
class Shape:
    """What may appear; the postconf differential tests leave out forms where we differ on purpose."""

    weird: bool = False  # glued "-o" with an "o" in the value, "-o{", lone "-o", \v and \f indents


def _option(draw: st.DrawFn, shape: Shape) -> list[str]:
    name = draw(st.sampled_from(PARAMS))
    value = draw(st.sampled_from(VALUES))
    forms = ["pair", "pair", "braced", "spaced", "bundle", "flag"]
    if "o" not in name + value or shape.weird:
        forms.append("glued")
    if shape.weird:
        forms += ["glued-brace", "dangling"]
    form = draw(st.sampled_from(forms))
    if form == "braced":
        return ["-o", "{ " + name + draw(st.sampled_from(["=", " = ", "  =\t"])) + value + " }"]
    if form == "spaced":
        return ["-o", "{" + name + " = " + draw(st.sampled_from(SPACED)) + "}"]
    if form == "bundle":
        return ["-vo", f"{name}={value}"]
    if form == "flag":
        return [draw(st.sampled_from(["-v", "-D", "-S"]))]
    if form == "glued":
        return [f"-o{name}={value}"]
    if form == "glued-brace":
        return [f"-o{{{name}={value}}}"]
    return ["-o"] if form == "dangling" else ["-o", f"{name}={value}"]


@st.composite
def entry_text(draw: st.DrawFn, eol: str = "\n", shape: Shape = Shape(), conventional: bool = False) -> str:
    """One service entry with random but readable layout (interior comments, tabs, braces).

    ``conventional``: the layout of real files (8 fields on the HEAD, one option per
    continuation line, pipe arguments on a last ``flags=...`` line, one indentation).
    """
    kind = draw(st.sampled_from(["inet", "unix", "unix", "unix-dgram", "fifo", "pass"]))
    name = draw(st.sampled_from(INET_NAMES if kind == "inet" else UNIX_NAMES))
    private = "n" if kind == "inet" else draw(st.sampled_from("yn-"))
    fields = [name, kind, private, draw(st.sampled_from("yn-")), draw(st.sampled_from("yn-")),
              draw(st.sampled_from(["-", "60", "1000?", "0"])), draw(st.sampled_from(["-", "0", "1", "100"])),
              draw(st.sampled_from(["smtpd", "smtp", "pipe", "pickup", "local"]))]
    options = [_option(draw, shape) for _ in range(draw(st.integers(0, 4)))]
    args = draw(st.lists(st.sampled_from(ARGS), max_size=4)) if draw(st.booleans()) else []
    indents = [" ", "  ", "\t", "    ", "        "] + (["\f", "\v "] if shape.weird else [])
    trivia = ["# comment" + eol, "    # indented" + eol, eol, "  " + eol]
    seps = [" ", "  ", "\t", " \t", "       "]
    if conventional:
        indent = draw(st.sampled_from(indents))
        lines = [draw(st.sampled_from(seps)).join(fields)]
        lines += [indent + " ".join(o) for o in options]
        if args:
            lines.append(indent + " ".join(["flags=R", *args]))
        return "".join(ln + eol + "".join(draw(st.lists(st.sampled_from(trivia), max_size=1)))
                       for ln in lines[:-1]) + lines[-1] + eol
    tokens = fields + [t for o in options for t in o] + args
    out = tokens[0]
    for i, tok in enumerate(tokens[1:], 1):
        if i >= 2 and draw(st.integers(0, 3)) == 0:
            out += draw(st.sampled_from(["", " "])) + eol
            out += "".join(draw(st.lists(st.sampled_from([*trivia, "#  -o old=1" + eol]), max_size=2)))
            out += draw(st.sampled_from(indents)) + tok
        else:
            out += draw(st.sampled_from(seps)) + tok
    return out + eol


@st.composite
def master_text(draw: st.DrawFn, shape: Shape = Shape(), final_newline: bool | None = None,
                conventional: bool = False) -> str:
    """A master.cf: entries between comments, commented-out services and blank lines."""
    eol = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    chunks = []
    for _ in range(draw(st.integers(1, 6))):
        which = draw(st.integers(0, 5))
        if which <= 3:
            chunks.append(draw(entry_text(eol, shape, conventional)))
        elif which == 4:
            chunks.append(draw(st.sampled_from(["# comment", "", "#", "# =====", "#  prose, not an option"])) + eol)
        else:
            chunks.append("#" + draw(entry_text(eol, shape, conventional)).replace(eol, eol + "#")[:-1])
    text = "".join(chunks)
    if final_newline is False or (final_newline is None and draw(st.booleans())):
        text = text[:-len(eol)] if text.endswith(eol) else text
    return text


def corpus_and_cases() -> list[Path]:
    cases = sorted(p for p in cases_dir().glob("*/master.cf*") if p.is_file()) if cases_dir().is_dir() else []
    return corpus_files("master.cf") + cases


def view(m: MasterCf) -> list[tuple[dict[str, str], dict[str, str]]]:
    return [(s.fields, s.options) for s in m.services()]


# -- round trip -------------------------------------------------------------------------------
def test_round_trip_corpus_and_cases() -> None:
    files = corpus_and_cases()
    need_corpus(files)
    for path in files:
        data = path.read_bytes()
        m = MasterCf.parse(data)
        assert m.to_bytes() == data, path
        m.services(), m.diagnostics, m.disabled()  # total: never raises on content


@given(st.binary(max_size=400))
def test_round_trip_arbitrary_bytes(data: bytes) -> None:
    m = MasterCf.parse(data)
    assert m.to_bytes() == data
    m.services(), m.diagnostics, m.disabled()


@given(master_text(Shape(weird=True)), st.sampled_from([b"", b"\0", b"\xe9\xff", b"  orphan x\n"]))
def test_round_trip_grammar(text: str, junk: bytes) -> None:
    data = junk + text.encode() + junk
    m = MasterCf.parse(data)
    assert m.to_bytes() == data
    m.services(), m.diagnostics, m.disabled()


# -- edits: no clobber, idempotence, inverses ---------------------------------------------------
EDITS = ["set_option", "delete_option", "set_field", "disable", "remove", "add_service", "enable"]


def apply_edit(m: MasterCf, op: str, key: tuple[str, str], data: st.DataObject) -> bool:
    name, kind = key
    if op == "set_option":
        return m.set_option(name, kind, data.draw(st.sampled_from(PARAMS)),
                            data.draw(st.sampled_from(VALUES + SPACED)))
    if op == "delete_option":
        return m.delete_option(name, kind, data.draw(st.sampled_from(PARAMS)))
    if op == "set_field":
        field, value = data.draw(st.sampled_from([("wakeup", "-"), ("wakeup", "300"), ("process_limit", "7"),
                                                  ("chroot", "y"), ("unprivileged", "n"), ("command", "qmgr"),
                                                  ("command", "smtpd -o a=1 x")]))
        return m.set_field(name, kind, field, value)
    if op == "add_service":
        return m.add_service(name, kind, "n" if kind == "inet" else "-", "-", "n", "-", "-", "smtpd",
                             options={"syslog_name": "x"})
    return bool(getattr(m, op)(name, kind))


@settings(max_examples=150)
@given(master_text(), st.sampled_from(EDITS), st.data())
def test_edit_touches_only_its_target(text: str, op: str, data: st.DataObject) -> None:
    m = MasterCf.parse(text)
    keys = sorted({s.key for s in m.services()} | {s.key for s in m.disabled()})
    assume(keys)
    key = data.draw(st.sampled_from(keys))
    others_before = [(s.fields, s.options) for s in m.services() if s.key != key]
    target_lines = {n for s in m.services() if s.key == key
                    for n in range(s.line, s.line + _entry_lines(m, s))}
    try:
        changed = apply_edit(m, op, key, data)
    except PostfixConfError:
        assert m.dumps() == text  # a refused edit changes nothing
        return
    if not changed:
        assert m.dumps() == text
        return
    assert [(s.fields, s.options) for s in m.services() if s.key != key] == others_before
    if op in ("enable", "add_service"):
        return  # they add lines (checked by the goldens)
    # Every line outside the target's entries is still there, in order, and everything before the
    # first and after the last target line is unchanged. (Not a difflib alignment: with repeated
    # blocks, as generated files have, its alignment can put an untouched line on either side.)
    old, new = text.split("\n"), m.dumps().split("\n")
    if not text.endswith("\n") and new[-1:] == [""]:
        new = new[:-1]  # an edit may end the last line
    first, last = min(target_lines), max(target_lines)
    assert new[:first - 1] == old[:first - 1]
    tail = old[last:]
    assert not tail or new[len(new) - len(tail):] == tail
    untouched = iter(new)
    assert all(any(line == n for n in untouched) for i, line in enumerate(old, 1) if i not in target_lines)
    if op in ("disable", "remove"):
        assert apply_edit(m, op, key, data) is False  # a repeated edit is a no-op


def _entry_lines(m: MasterCf, s: Service) -> int:
    for node, first in zip(m.nodes, _line_starts(m), strict=True):
        if first == s.line:
            return node.line_count
    return 1


def _line_starts(m: MasterCf) -> list[int]:
    out, n = [], 1
    for node in m.nodes:
        out.append(n)
        n += node.raw.count("\n")
    return out


@given(master_text(), st.sampled_from(PARAMS), st.sampled_from(VALUES + SPACED), st.data())
def test_set_option_is_idempotent_and_reads_back(text: str, param: str, value: str, data: st.DataObject) -> None:
    m = MasterCf.parse(text)
    keys = sorted({s.key for s in m.services()})
    assume(keys)
    key = data.draw(st.sampled_from(keys))
    try:
        m.set_option(*key, param, value)
    except PostfixConfError:
        assert m.dumps() == text
        return
    after = m.dumps()
    assert all(s.options[param] == value.strip() for s in m.find(*key))
    assert m.set_option(*key, param, value) is False and m.dumps() == after
    assert MasterCf.parse(after).find(*key) == m.find(*key)
    assert m.delete_option(*key, param) is True
    assert all(param not in s.options for s in m.find(*key))
    assert m.delete_option(*key, param) is False


@given(master_text(conventional=True), st.data())
def test_enable_undoes_disable(text: str, data: st.DataObject) -> None:
    m = MasterCf.parse(text)
    keys = sorted({s.key for s in m.services()})
    assume(keys)
    key = data.draw(st.sampled_from(keys))
    assume(len(m.find(*key)) == 1 and not any(d.code == "name-type-split" for d in m.diagnostics))
    assume(not m.disabled(*key))
    before = view(m)
    assert m.disable(*key) is True
    assert key not in {s.key for s in m.services()}
    assert m.enable(*key, through_comments=True) is True
    assert m.dumps() == text
    assert view(m) == before


def test_enable_undoes_disable_on_the_example() -> None:
    data = (EXAMPLES / "master.cf").read_bytes()
    for s in MasterCf.parse(data).services():
        m = MasterCf.parse(data)
        if m.disabled(*s.key):
            continue  # e.g. smtp/inet has a commented postscreen twin right below
        assert m.disable(*s.key) and m.enable(*s.key) and m.to_bytes() == data, s.key


def _fields(s: Service) -> dict[str, str]:
    """The 7 single-token fields plus the program (the command line also shows the options)."""
    return {**s.fields, "command": s.command}


# -- stateful model ------------------------------------------------------------------------------
class MasterModel(RuleBasedStateMachine):
    """Random edits on the example file against a plain model of options and fields."""

    def __init__(self) -> None:
        super().__init__()
        self.doc = MasterCf.read(EXAMPLES / "master.cf")
        self.model = {s.key: (_fields(s), dict(s.options)) for s in self.doc.services()}
        self.disabled: set[tuple[str, str]] = set()

    keys = st.sampled_from(sorted({s.key for s in MasterCf.read(EXAMPLES / "master.cf").services()}))

    @precondition(lambda self: bool(self.model))
    @rule(key=keys, param=st.sampled_from(PARAMS), value=st.sampled_from(VALUES + SPACED))
    def set_option(self, key: tuple[str, str], param: str, value: str) -> None:
        if key in self.model:
            self.doc.set_option(*key, param, value)
            self.model[key][1][param] = value.strip()

    @rule(key=keys, param=st.sampled_from(PARAMS))
    def delete_option(self, key: tuple[str, str], param: str) -> None:
        changed = self.doc.delete_option(*key, param)
        assert changed == (key in self.model and param in self.model[key][1])
        if key in self.model:
            self.model[key][1].pop(param, None)

    @rule(key=keys, field=st.sampled_from(["wakeup", "process_limit", "chroot"]),
          value=st.sampled_from(["-", "1", "60"]))
    def set_field(self, key: tuple[str, str], field: str, value: str) -> None:
        if key in self.model and not (field == "chroot" and value not in "-"):
            self.doc.set_field(*key, field, value)
            self.model[key][0][field] = value

    @rule(key=keys)
    def toggle(self, key: tuple[str, str]) -> None:
        if key in self.model:
            assert self.doc.disable(*key)
            self.disabled.add(key)
            self.saved = getattr(self, "saved", {})
            self.saved[key] = self.model.pop(key)
        elif key in self.disabled and not self.doc.disabled(*key)[1:]:
            assert self.doc.enable(*key, through_comments=True)
            self.disabled.discard(key)
            self.model[key] = self.saved.pop(key)

    @invariant()
    def agrees(self) -> None:
        seen = {s.key: (_fields(s), s.options) for s in self.doc.services()}
        assert seen == self.model
        assert MasterCf.parse(self.doc.to_bytes()).services() == self.doc.services()
        assert [d for d in self.doc.diagnostics if d.severity == "error"] == []


TestMasterModel = MasterModel.TestCase
TestMasterModel.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)


@pytest.mark.parametrize("path", [EXAMPLES / "master.cf", Path(__file__).parent / "fixtures" / "master" / "tricky.cf"])
def test_fixture_round_trip(path: Path) -> None:
    assert MasterCf.read(path).to_bytes() == path.read_bytes()
