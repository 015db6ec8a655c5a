"""LookupTable without Postfix: fixtures, spec rows 71-75, round trips, edits, properties.

Expected values come from hand-written fixtures (tests/fixtures/tables/*.expected.json),
from the spec (docs/postfix-syntax.md section 7) or from the generators' own model of
the grammar - never from the parser's output. test_table_postmap.py checks the same
fixtures against the real postmap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from postfix_conf.errors import InvalidNameError, InvalidValueError
from postfix_conf.table import Entry, LookupTable, fold_key, scan_key, split_credentials
from tests.conftest import FIXTURES, cases_dir, corpus_files, need_corpus

TABLES = FIXTURES / "tables"


def load_expected(name: str) -> dict[str, str]:
    data = json.loads((TABLES / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    data.pop("_comment", None)
    return {str(k): str(v) for k, v in data.items()}


def codes(t: LookupTable) -> list[tuple[int, str]]:
    return [(d.line, d.code) for d in t.diagnostics]


# -- fixtures and spec rows -----------------------------------------------------------------

FIXTURE_CASES = [  # name, fold_case, smtputf8, expected
    ("sasl_passwd", True, False, "sasl_passwd.expected.json"),
    ("sasl_passwd", False, False, "sasl_passwd.nofold.expected.json"),
    ("crlf_passwd", True, False, "crlf_passwd.expected.json"),
    ("nul_utf8", True, False, "nul_utf8.expected.json"),
    ("nul_utf8", True, True, "nul_utf8.smtputf8.expected.json"),
]


@pytest.mark.parametrize(("name", "fold", "utf8", "expected"), FIXTURE_CASES)
def test_fixture_entries(name: str, fold: bool, utf8: bool, expected: str) -> None:
    data = (TABLES / name).read_bytes()
    t = LookupTable.parse(data, fold_case=fold, smtputf8=utf8)
    assert t.entries() == load_expected(expected)
    assert t.to_bytes() == data
    assert LookupTable.read(TABLES / name, fold_case=fold, smtputf8=utf8).entries() == load_expected(expected)


def test_fixture_diagnostics() -> None:
    t = LookupTable.read(TABLES / "sasl_passwd")
    assert codes(t) == [(14, "duplicate-key"), (15, "duplicate-key"), (16, "missing-value"),
                        (17, "alias-format"), (20, "unbalanced-quote")]
    assert all(d.severity == "warning" and d.path == str(TABLES / "sasl_passwd") for d in t.diagnostics)
    assert codes(LookupTable.read(TABLES / "crlf_passwd")) == [(3, "missing-value")]
    assert codes(LookupTable.read(TABLES / "nul_utf8")) == [
        (1, "orphan-continuation"), (5, "nul-byte"), (7, "non-utf8"), (10, "nul-byte"), (10, "non-utf8")]
    strict = LookupTable.read(TABLES / "nul_utf8", smtputf8=True)
    assert next(d for d in strict.diagnostics if d.code == "non-utf8").message.startswith(
        "line is not valid UTF-8: postmap ignores it")


def test_fixture_definitions_and_get() -> None:
    t = LookupTable.read(TABLES / "sasl_passwd")
    assert t.definitions("TWICE.TEST") == [Entry("twice.test", "one", 13), Entry("TWICE.test", "two", 14),
                                           Entry("twice.test", "three", 15)]
    assert t.shadowed("twice.test") == [Entry("TWICE.test", "two", 14), Entry("twice.test", "three", 15)]
    assert t.get("twice.test") == "one"
    assert t.get("[MAIL.relay.test]") == "upper:bracket-pw"
    assert t.get("lonely-key") is None
    assert t.get("lonely-key", "dflt") == "dflt"
    assert t.get('"unterminated.test') is None
    assert "bob@SENDER.test" in t and "nobody@sender.test" not in t and 42 not in t
    assert len(t.definitions()) == 14  # 12 keys + 2 shadowed duplicates
    nofold = LookupTable.read(TABLES / "sasl_passwd", fold_case=False)
    assert nofold.get("[Mail.Relay.TEST]") == "upper:bracket-pw"
    assert nofold.get("[mail.relay.test]") is None
    assert nofold.get("TWICE.test") == "two"


def test_spec_row_71_t01_forms() -> None:
    data = (b"[smtp.example.com]:587    user1:secret1\n[Smtp.Example.COM]        user2:secret2\n"
            b"continued.example.com     user6:\n    pw6-on-continuation-line\n  # indented comment\n\n"
            b"dup.example.com           first\ndup.example.com           second\n"
            b'"quoted key"@example.org  q:pw\nesc\\ aped.example.com     e:pw\n')
    t = LookupTable.parse(data)
    assert t.get("[SMTP.EXAMPLE.COM]") == "user2:secret2"
    assert t.get("dup.example.com") == "first"
    assert t.get("continued.example.com") == "user6:    pw6-on-continuation-line"
    assert t.get("esc aped.example.com") is None
    assert t.get("esc\\ aped.example.com") == "e:pw"
    assert t.get('"quoted key"@example.org') == "q:pw"
    # row 72: built with -f, a mixed-case key is stored as written
    assert LookupTable.parse(data, fold_case=False).get("[smtp.example.com]") is None


def test_spec_row_74_crlf_and_password_forms() -> None:
    t = LookupTable.parse(b"[s]:587   user:pass word with spaces   \r\n[c]:587 user:pa:ss\r\n"
                          b"[crlf-only-key]\r\n")
    assert t.get("[s]:587") == "user:pass word with spaces"
    assert split_credentials(t.get("[c]:587") or "") == ("user", "pa:ss")
    assert codes(t) == [(3, "missing-value")]
    assert t.eol == "\r\n"


def test_spec_row_75_non_utf8() -> None:
    data = b"utf8.example caf\xc3\xa9\nlatin1.example caf\xe9\n"
    assert LookupTable.parse(data).get("latin1.example") == "caf\udce9"
    assert LookupTable.parse(data, smtputf8=True).get("latin1.example") is None
    assert codes(LookupTable.parse(data, smtputf8=True)) == [(2, "non-utf8")]


def test_utf8_check_sees_past_a_nul() -> None:
    # observed with postmap 3.7.11 (smtputf8_enable = yes): the check covers the whole
    # logical line unless the text before the first NUL is non-empty pure ASCII
    data = b"x1 ab\x00\xe9\nx2 \xc3\xa9\x00\xe9\n\x00\xc3\n\x00ok\n"
    t = LookupTable.parse(data, smtputf8=True)
    assert t.entries() == {"x1": "ab"}
    assert [(d.line, d.code) for d in t.diagnostics if d.code != "nul-byte"] == [
        (2, "non-utf8"), (3, "non-utf8"), (4, "missing-value")]


def test_key_scanner_spec_examples() -> None:
    assert scan_key('"quoted key"@example.org  q:pw') == len('"quoted key"@example.org')
    assert scan_key("esc\\ aped.example.com e:pw") == len("esc\\ aped.example.com")
    assert scan_key('unbalanced"quote x        u:pw') is None
    assert scan_key('q\\"x v') == 4  # an escaped quote does not open a quoted part
    assert scan_key("z\\") == 2  # a trailing lone backslash stays in the key
    assert scan_key("abc\\  v") == 5  # the escaped space stays, postmap does not trim the key
    assert scan_key("key\x0bvalue") == 3
    assert scan_key("") == 0


def test_fold_key() -> None:
    assert fold_key("[Smtp.Example.COM]") == "[smtp.example.com]"
    assert fold_key("ABÄ") == "abÄ"  # smtputf8_enable = no: ASCII only
    assert fold_key("ABÄ", smtputf8=True) == "abä"
    assert fold_key("STRAßE", smtputf8=True) == "strasse"


def test_split_credentials() -> None:
    assert split_credentials("user:pa:ss") == ("user", "pa:ss")
    assert split_credentials("user@example.com:secret") == ("user@example.com", "secret")
    assert split_credentials("nocolon") == ("nocolon", "")
    assert split_credentials(":pw") == ("", "pw")


def test_odd_lines() -> None:
    t = LookupTable.parse(b"\xef\xbb\xbfbom v\n\x00nokey value\nz\\\n v3\nabc\\  v1\n\"a\n b\" v4\n")
    assert t.entries() == {"\ufeffbom": "v", "abc\\ ": "v1", '"a b"': "v4"}
    assert codes(t) == [(1, "bom"), (2, "nul-byte"), (2, "missing-value"), (3, "missing-value")]


def test_empty_and_trivia_only() -> None:
    for data in (b"", b"\n", b"# only a comment", b"  \n\t\n# c\n"):
        t = LookupTable.parse(data)
        assert t.entries() == {} and t.diagnostics == () and t.to_bytes() == data


def test_parse_str_and_kwargs_survive_edits() -> None:
    t = LookupTable.parse("A.test x\n", fold_case=False, smtputf8=True)
    assert t.fold_case is False and t.smtputf8 is True
    t.set("a.test", "y")
    assert t.dumps() == "A.test x\na.test y\n"


# -- round trips -----------------------------------------------------------------------------

def test_corpus_tables_round_trip() -> None:
    files = corpus_files("tables")
    need_corpus(files)
    for path in files:
        data = path.read_bytes()
        t = LookupTable.parse(data)
        assert t.to_bytes() == data, path
        assert not t.changed
        t.diagnostics  # noqa: B018 - must not raise


def test_case_inputs_round_trip() -> None:
    dirs = sorted(cases_dir().glob("T*"))
    need_corpus(dirs)
    n = 0
    for d in dirs:
        for path in sorted(d.iterdir()):
            if path.suffix in (".db", ".lmdb") or path.name == "out.txt":
                continue
            data = path.read_bytes()
            assert LookupTable.parse(data).to_bytes() == data, path
            assert LookupTable.parse(data, smtputf8=True).to_bytes() == data, path
            n += 1
    assert n >= 6


@given(st.binary(max_size=400))
def test_arbitrary_bytes_round_trip(data: bytes) -> None:
    for fold, utf8 in ((True, False), (False, True)):
        t = LookupTable.parse(data, fold_case=fold, smtputf8=utf8)
        assert t.to_bytes() == data
        t.entries()
        t.definitions()
        for d in t.diagnostics:
            assert d.line >= 1


ALPHABET = b'aA:#"\\ \t\r\n\x0b\x0c\x00@[].\xc3\xa9\xe9'


@given(st.lists(st.sampled_from(list(ALPHABET)), max_size=120).map(bytes))
def test_dense_alphabet_round_trip(data: bytes) -> None:
    t = LookupTable.parse(data)
    assert t.to_bytes() == data
    for k, v in t.entries().items():
        assert v and v == v.strip(" \t\n\v\f\r") and "\n" not in v and "\0" not in v + k
        assert t.get(k) == v


# -- a grammar-aware generator whose model gives the expected result -------------------------

KEY_CHARS = "abcxyzABCXYZ0129.-_@[]:+="
VALUE_CHARS = "abcxyzABC0129.-_@:#=\"\\/!"
SAFE_KEY = st.text(KEY_CHARS, min_size=1, max_size=8).filter(lambda s: s[0] not in "#")
VALUE_WORD = st.text(VALUE_CHARS, min_size=1, max_size=8)
INNER_WS = st.sampled_from([" ", "\t", "  ", " \t ", "\x0b", "\x0c"])
LEAD_WS = st.sampled_from([" ", "\t", "    ", " \t"])
SEP = st.sampled_from([" ", "\t", "\t\t", "   ", " \t "])
TRAIL = st.sampled_from(["", "", " ", "\t", "  \t "])
TRIVIA = st.sampled_from(["# comment", "   # indented comment", "", "   ", "\t", "#"])


@st.composite
def written_key(draw: st.DrawFn) -> str:
    parts = [draw(SAFE_KEY)]
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["quoted", "escaped", "plain"]))
        word = draw(st.text(KEY_CHARS, min_size=1, max_size=5))
        if kind == "quoted":
            parts.append('"' + word + draw(st.sampled_from([" ", "\t", ""])) + word + '"')
        elif kind == "escaped":
            parts.append("\\" + draw(st.sampled_from([" ", "\t", '"', "x"])) + word)
        else:
            parts.append(word)
    return "".join(parts)


@dataclass
class Generated:
    data: bytes
    expected: dict[str, str]  # folded key -> first value
    expected_nofold: dict[str, str]
    diag: list[tuple[int, str]]


@st.composite
def generated_table(draw: st.DrawFn) -> Generated:
    """A table built from pieces whose meaning is known from the spec (section 7)."""
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    cr = "\r" if eol == "\r\n" else ""
    lines: list[str] = []
    expected: dict[str, str] = {}
    nofold: dict[str, str] = {}
    diag: list[tuple[int, str]] = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["entry", "entry", "entry", "trivia", "no-value"]))
        first = len(lines) + 1
        if kind == "trivia":
            lines.append(draw(TRIVIA))
            continue
        key = draw(written_key())
        if kind == "no-value":
            lines.append(key + draw(TRAIL))
            diag.append((first, "missing-value"))
            continue
        words = draw(st.lists(VALUE_WORD, min_size=1, max_size=4))
        glue = [draw(INNER_WS) for _ in words[1:]]
        # logical value: words joined by inner whitespace; some joins become line breaks
        breaks = [draw(st.booleans()) for _ in words[1:]]
        head = key + draw(SEP) + words[0]
        value = words[0]
        physical = [head]
        for word, ws, brk in zip(words[1:], glue, breaks, strict=True):
            if brk and word[0] != "#":  # a continuation line starting with '#' is a comment
                lead = draw(LEAD_WS)
                physical.extend(draw(st.lists(TRIVIA, max_size=2)))  # skipped by the reader
                physical.append(lead + word)
                value += cr + lead + word  # the joined line keeps the CR and the leading WS
            else:
                physical.append(physical.pop() + ws + word)
                value += ws + word
        physical.append(physical.pop() + draw(TRAIL))
        lines.extend(physical)
        folded = key.lower()
        if key.endswith(":"):
            diag.append((first, "alias-format"))
        if folded in expected:
            diag.append((first, "duplicate-key"))
        expected.setdefault(folded, value)
        nofold.setdefault(key, value)
    final = draw(st.booleans())
    text = eol.join(lines) + (eol if final and lines else "")
    return Generated(text.encode(), expected, nofold, diag)


@given(generated_table())
def test_generated_tables(g: Generated) -> None:
    t = LookupTable.parse(g.data)
    assert t.to_bytes() == g.data
    assert t.entries() == g.expected
    assert LookupTable.parse(g.data, fold_case=False).entries() == g.expected_nofold
    assert codes(t) == sorted(g.diag)
    for key, value in g.expected.items():
        assert t.get(key.upper()) == value


# -- editing: hand-written before/after ---------------------------------------------------

def test_set_rewrites_first_definition_in_place() -> None:
    t = LookupTable.parse(b"# c\nDup.Example\t\told\ndup.example   second\nother x\n")
    assert t.set("dup.EXAMPLE", "new:pw") is True
    assert t.to_bytes() == b"# c\nDup.Example\t\tnew:pw\ndup.example   second\nother x\n"
    assert t.get("dup.example") == "new:pw"
    assert [d.code for d in t.diagnostics] == ["duplicate-key"]
    assert t.set("dup.example", "new:pw") is False  # idempotent
    assert not LookupTable.parse(t.to_bytes()).set("DUP.example", "new:pw")


def test_set_multiline_keeps_interior_comments() -> None:
    t = LookupTable.parse(b"k user6:\n# inside\n\n    pw6\nnext v\n")
    assert t.get("k") == "user6:    pw6"
    assert t.set("k", "user6:pw7")
    assert t.to_bytes() == b"k user6:pw7\n# inside\n\nnext v\n"


def test_set_value_on_continuation_line_crlf() -> None:
    t = LookupTable.parse(b"key\r\n    value\r\nz v\r\n")
    assert t.get("key") == "value"
    t.set("key", "other")
    assert t.to_bytes() == b"key other\r\nz v\r\n"


def test_set_appends_with_dominant_eol_and_repairs_last_line() -> None:
    t = LookupTable.parse(b"a\tx\r\nb\ty")
    assert t.set("new.key", "u:p")
    assert t.to_bytes() == b"a\tx\r\nb\ty\r\nnew.key\tu:p\r\n"
    t = LookupTable.parse(b"# only comments")
    t.set("k", "v")
    assert t.to_bytes() == b"# only comments\nk v\n"
    t = LookupTable.parse(b"")
    t.set('"spaced key"@x', "v w")
    assert t.to_bytes() == b'"spaced key"@x v w\n'
    assert t.get('"SPACED KEY"@X') == "v w"


def test_set_completes_a_line_without_value() -> None:
    t = LookupTable.parse(b"[crlf-only-key]\r\nnokey\nx y\n")
    assert t.set("[CRLF-only-key]", "u:p")
    assert t.set("nokey", "v")
    assert t.to_bytes() == b"[crlf-only-key] u:p\r\nnokey v\nx y\n"
    assert t.diagnostics == ()


def test_set_drops_nul_tail_and_keeps_escaped_key() -> None:
    t = LookupTable.parse(b"esc\\ aped\tv\x00junk\n")
    t.set("esc\\ aped", "w")
    assert t.to_bytes() == b"esc\\ aped\tw\n"


def test_delete_removes_every_definition_keeps_comments() -> None:
    t = LookupTable.parse(b"a 1\nk v1\n# in\n  more\nb 2\nK v2\nk\nc 3\n")
    assert t.delete("k") is True
    assert t.to_bytes() == b"a 1\n# in\nb 2\nc 3\n"
    assert t.delete("k") is False
    assert t.entries() == {"a": "1", "b": "2", "c": "3"}


def test_delete_respects_fold_case_false() -> None:
    t = LookupTable.parse(b"K 1\nk 2\n", fold_case=False)
    assert t.delete("k")
    assert t.to_bytes() == b"K 1\n"


SECRET = "S3cr3t-Value"


@pytest.mark.parametrize("key", ["", "two words", "#comment", "new\nline", "nul\0", "cr\rx", 'un"bal',
                                 "ends\\", " lead", "trail "])
def test_invalid_keys_rejected_document_unchanged(key: str) -> None:
    data = b"a x\n"
    t = LookupTable.parse(data)
    with pytest.raises(InvalidNameError):
        t.set(key, SECRET)
    with pytest.raises(InvalidNameError):
        t.delete(key)
    assert t.to_bytes() == data


@pytest.mark.parametrize("value", ["", "   ", f"a\n{SECRET}", f"{SECRET}\0b", f"a\r{SECRET}", f" {SECRET}",
                                   f"{SECRET}\t", f"\ud800{SECRET}"])
def test_invalid_values_rejected_without_quoting_them(value: str) -> None:
    data = b"a x\n"
    t = LookupTable.parse(data)
    with pytest.raises(InvalidValueError) as info:
        t.set("a", value)
    assert SECRET not in str(info.value)
    assert "value of key 'a'" in str(info.value)
    assert t.to_bytes() == data


def test_set_same_value_is_a_no_op_even_if_unwritable() -> None:
    t = LookupTable.parse(b"k first,\r\n  second\r\n")
    assert t.get("k") == "first,\r  second"
    assert t.set("k", "first,\r  second") is False
    with pytest.raises(InvalidValueError):
        t.set("k", "first,\r  other")


def test_smtputf8_rejects_non_utf8_edits() -> None:
    t = LookupTable.parse(b"a x\n", smtputf8=True)
    with pytest.raises(InvalidNameError):
        t.set("caf\udce9", "v")
    with pytest.raises(InvalidValueError):
        t.set("a", "caf\udce9")
    loose = LookupTable.parse(b"a x\n")
    loose.set("a", "caf\udce9")
    assert loose.to_bytes() == b"a caf\xe9\n"


@given(generated_table())
def test_diagnostics_never_contain_values(g: Generated) -> None:
    secret = SECRET.encode()
    bad = (b"k1 " + secret + b"\nK1 " + secret + b"2\n  orphan " + secret + b"\nk2 " + secret + b"\x00x\n"
           b'unbal"q ' + secret + b"\nk3: " + secret + b"\nk4 caf\xe9" + secret + b"\n")
    for data in (bad + g.data, g.data + b"\n" + bad):
        for smtputf8 in (False, True):
            for d in LookupTable.parse(data, smtputf8=smtputf8).diagnostics:
                assert SECRET not in d.message and SECRET not in str(d)


# -- properties --------------------------------------------------------------------------

KEYS = st.sampled_from(["a.test", "A.Test", "b.test", '"q k"@x.test', "esc\\ k", "[h.test]:587", "c.test:",
                        "twice.test", "multi.relay.test"])
VALUES = st.sampled_from(["v1", "u:p", "x y", "#not-a-comment", "p:a:ss", "tab\tin", "Z"])


@given(generated_table(), KEYS, VALUES)
def test_set_then_get_no_clobber_idempotent(g: Generated, key: str, value: str) -> None:
    t = LookupTable.parse(g.data)
    changed = t.set(key, value)
    assert changed == (g.expected.get(key.lower()) != value)
    assert t.get(key) == value
    again = LookupTable.parse(t.to_bytes())
    assert again.get(key) == value
    others = {k: v for k, v in g.expected.items() if k != key.lower()}
    assert {k: v for k, v in again.entries().items() if k != key.lower()} == others
    before = t.to_bytes()
    assert t.set(key, value) is False and t.to_bytes() == before
    assert again.set(key, value) is False


@given(generated_table(), KEYS)
def test_delete_then_get_no_clobber(g: Generated, key: str) -> None:
    t = LookupTable.parse(g.data)
    t.delete(key)
    again = LookupTable.parse(t.to_bytes())
    assert again.get(key) is None and key.lower() not in again.entries()
    assert again.entries() == {k: v for k, v in g.expected.items() if k != key.lower()}
    assert t.delete(key) is False


@settings(max_examples=60, stateful_step_count=25, deadline=None)
class TableMachine(RuleBasedStateMachine):
    """Random set/delete sequences against a dict model started from a hand-written fixture."""

    def __init__(self) -> None:
        super().__init__()
        self.table = LookupTable.parse(b"")
        self.model: dict[str, str] = {}

    @initialize(start=st.sampled_from(["sasl_passwd", "crlf_passwd", "empty"]))
    def start(self, start: str) -> None:
        if start == "empty":
            return
        self.table = LookupTable.read(TABLES / start)
        self.model = load_expected(f"{start}.expected.json")

    @rule(key=KEYS, value=VALUES)
    def set(self, key: str, value: str) -> None:
        changed = self.table.set(key, value)
        assert changed == (self.model.get(key.lower()) != value)
        self.model[key.lower()] = value

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        assert self.table.delete(key) == (key.lower() in self.model)
        self.model.pop(key.lower(), None)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def reset_existing(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        assert self.table.set(key, self.model[key]) is False

    @invariant()
    def agrees_with_model(self) -> None:
        assert self.table.entries() == self.model
        reread = LookupTable.parse(self.table.to_bytes())
        assert reread.entries() == self.model
        assert reread.dumps() == self.table.dumps()


TestTableMachine = TableMachine.TestCase


def test_paths_are_kept(tmp_path: Path) -> None:
    p = tmp_path / "t"
    p.write_bytes(b"k v\n")
    t = LookupTable.read(p)
    assert t.path == str(p)
    t.set("k", "w")
    assert t.changed and "-k v\n+k w\n" in t.diff()
