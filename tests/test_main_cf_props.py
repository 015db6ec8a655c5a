"""Properties of MainCf: lossless round trip, agreement with a reference reader,
no clobber, idempotence, inverses, and a stateful model of random edits."""

from __future__ import annotations

import difflib

from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from postfix_conf import MainCf
from postfix_conf._text import decode, encode, split_lines
from postfix_conf.lines import split_nodes
from postfix_conf.macros import scan

from . import reference
from .strategies import NAMES, main_cf_text, names

SAFE_VALUES = st.text(st.sampled_from([*"abc.,:[]$-_ 9", "é", "\udce9"]), max_size=10).map(
    lambda v: v.strip(" ")).filter(lambda v: not scan(v).errors)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_round_trip(data: bytes) -> None:
    assert MainCf.parse(data).to_bytes() == data


@given(main_cf_text())
def test_generated_text_round_trips(text: str) -> None:
    data = encode(text)
    doc = MainCf.parse(data)
    assert doc.to_bytes() == data
    assert "".join(n.raw for n in split_nodes(text)) == text


@given(main_cf_text())
def test_reader_agrees_with_reference_port(text: str) -> None:
    doc = MainCf.parse(text)
    expected = reference.main_cf_parameters(text)
    syntax = ("missing-equals", "missing-name")  # the reference port models readllines only
    has_error = any(d.code in syntax for d in doc.diagnostics)
    assert has_error == (expected is None)
    if expected is not None:
        assert doc.parameters() == expected
    errors = [d.line for d in doc.diagnostics if d.code in syntax]
    logical = reference.readllines(text)
    bad = [ln for ln, t in logical if reference.split_nameval(t) is None]
    assert errors == bad


def changed_old_lines(before: str, after: str) -> set[int]:
    """0-based indexes of old lines that a line diff replaces or deletes."""
    a, b = split_lines(before), split_lines(after)
    touched: set[int] = set()
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            touched.update(range(i1, i2))
    return touched


def entry_lines(text: str, name: str) -> set[int]:
    """0-based line indexes covered by entries whose edit key is ``name``."""
    covered: set[int] = set()
    line = 0
    for node in split_nodes(text):
        count = len(split_lines(node.raw))
        if node.kind == "entry" and _key(node.raw) == name:
            covered.update(range(line, line + count))
        line += count
    return covered


def _key(raw: str) -> str:
    out = []
    for ch in raw:
        if ch in " \t\r\n=":
            break
        out.append(ch)
    return "".join(out)


OPS = st.sampled_from(["set", "delete", "comment_out"])


@given(main_cf_text(), names, SAFE_VALUES, OPS)
def test_edits_do_not_clobber(text: str, name: str, value: str, op: str) -> None:
    assume(reference.main_cf_parameters(text) is not None)
    doc = MainCf.parse(text)
    before = doc.parameters()
    args = (name, value) if op == "set" else (name,)
    getattr(doc, op)(*args)
    after = doc.parameters()
    for other in set(before) | set(after):
        if other != name:
            assert after.get(other) == before.get(other)
    if op == "set":
        assert after[name] == value
        assert MainCf.parse(doc.to_bytes()).get(name) == value
    else:
        assert name not in after
    allowed = entry_lines(text, name)
    last = len(split_lines(text)) - 1
    if not text.endswith("\n"):
        allowed.add(last)  # the final-newline repair
    assert changed_old_lines(text, doc.dumps()) <= allowed
    assert split_nodes(doc.dumps()) == list(doc.nodes)  # nodes stay canonical


@given(main_cf_text(), names, SAFE_VALUES, OPS)
def test_edits_are_idempotent(text: str, name: str, value: str, op: str) -> None:
    assume(reference.main_cf_parameters(text) is not None)
    args = (name, value) if op == "set" else (name,)
    once = MainCf.parse(text)
    getattr(once, op)(*args)
    twice = MainCf.parse(once.to_bytes())
    assert getattr(twice, op)(*args) is False
    assert twice.to_bytes() == once.to_bytes()


@st.composite
def text_with_one_entry(draw: st.DrawFn) -> tuple[str, str]:
    """Surroundings without the name, plus one entry (head + continuations) of it."""
    name = draw(names)
    others = [n for n in NAMES if n != name]
    def line() -> str:
        return draw(st.sampled_from([f"{draw(st.sampled_from(others))} = v", "", "#note", "  # ind", "\t"]))
    before = [line() for _ in range(draw(st.integers(0, 4)))]
    after = [line() for _ in range(draw(st.integers(0, 4)))]
    head = name + draw(st.sampled_from([" = ", "=", "\t=\t"])) + draw(SAFE_VALUES)
    conts = [draw(st.sampled_from([" ", "\t", "    "])) + "x" + draw(SAFE_VALUES)
             for _ in range(draw(st.integers(0, 3)))]
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = "".join(ln + eol for ln in [*before, head, *conts, *after])
    return text, name


@given(text_with_one_entry())
def test_uncomment_inverts_comment_out(case: tuple[str, str]) -> None:
    text, name = case
    doc = MainCf.parse(text)
    assert doc.comment_out(name)
    assert doc.get(name) is None
    assert doc.uncomment(name)
    assert doc.dumps() == text


class MainCfMachine(RuleBasedStateMachine):
    """Random edit sequences against a plain dict model."""

    def __init__(self) -> None:
        super().__init__()
        self.doc = MainCf.parse(b"")
        self.model: dict[str, str] = {}

    @initialize(text=main_cf_text(valid_only=True))
    def start(self, text: str) -> None:
        self.doc = MainCf.parse(text)
        assume(not [d for d in self.doc.diagnostics if d.severity == "error"])
        self.model = dict(self.doc.parameters())

    @rule(name=names, value=SAFE_VALUES)
    def set(self, name: str, value: str) -> None:
        self.doc.set(name, value)
        self.model[name] = value

    @rule(name=names)
    def delete(self, name: str) -> None:
        self.doc.delete(name)
        self.model.pop(name, None)

    @rule(name=names)
    def comment_out(self, name: str) -> None:
        self.doc.comment_out(name)
        self.model.pop(name, None)

    @precondition(lambda self: any(len(self.doc.disabled(n)) == 1 and n not in self.model for n in NAMES))
    @rule(data=st.data())
    def uncomment(self, data: st.DataObject) -> None:
        choices = [n for n in NAMES if len(self.doc.disabled(n)) == 1 and n not in self.model]
        name = data.draw(st.sampled_from(choices))
        expected = self.doc.disabled(name)[0].value
        assert self.doc.uncomment(name)
        self.model[name] = expected

    @invariant()
    def agrees_with_model(self) -> None:
        assert self.doc.parameters() == self.model
        reread = MainCf.parse(self.doc.to_bytes())
        assert reread.parameters() == self.model
        assert reference.main_cf_parameters(decode(self.doc.to_bytes())) == self.model
        assert not [d for d in reread.diagnostics if d.severity == "error"]


TestMainCfMachine = MainCfMachine.TestCase
