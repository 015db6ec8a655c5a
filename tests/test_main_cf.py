"""main.cf reading and editing: spec section 10 rows, as explicit byte strings.

Expected values are the ones the spec records from Postfix 3.7.11 (case IDs in
brackets), never our own output.
"""

from __future__ import annotations

import pytest

from postfix_conf import (
    AmbiguousEditError,
    InvalidNameError,
    InvalidValueError,
    MainCf,
    MalformedEntryError,
)


def codes(doc: MainCf) -> list[tuple[int, str]]:
    return [(d.line, d.code) for d in doc.diagnostics]


# -- reading (spec section 10 rows 1-26) ---------------------------------------------------
@pytest.mark.parametrize(("data", "name", "expected"), [
    (b"mydestination = a.example,\n  b.example,\n\tc.example\n", "mydestination",
     "a.example,  b.example,\tc.example"),                                   # row 1 [m01]
    (b"mydestination = a.example,\n# c (col 0)\n  b.example,\n    # indented c\n  c.example\n",
     "mydestination", "a.example,  b.example,  c.example"),                  # row 2 [m02]
    (b"mydestination = a.example,\n\n   \n  b.example\n", "mydestination",
     "a.example,  b.example"),                                               # row 3 [m03]
    (b"relayhost = [smtp.example.com]:587   # my ISP\n", "relayhost",
     "[smtp.example.com]:587   # my ISP"),                                   # row 4 [m04]
    (b"a4\t=\tv4\t \n", "a4", "v4"),                                          # row 5 [m05]
    (b"a5   =   v5 with  inner   spaces   \n", "a5", "v5 with  inner   spaces"),
    (b"relayhost =\n", "relayhost", ""),                                       # row 6 [m06]
    (b"myhostname=\t\n", "myhostname", ""),
    (b"myhostname==h\n", "myhostname", "=h"),                                 # row 21 [m21]
    (b"smtpd_banner = a = b == c\n", "smtpd_banner", "a = b == c"),
    (b"mydestination = a\n\x0cb\n\x0bc\n", "mydestination", "a\x0cb\x0bc"),     # row 24 [m24]
    (b"relayhost = x\r\n", "relayhost", "x"),                                 # row 15 [m15]
    (b"mydestination = a,\r\n  b\r\n", "mydestination", "a,\r  b"),
    (b"myhostname=\r=x\n", "myhostname", "=x"),                               # postconf -h: =x
    (b"myhostname = \x0bx \x0c\n", "myhostname", "x"),
    (b'smtpd_banner = "quoted $myhostname" \\\n', "smtpd_banner", '"quoted $myhostname" \\'),  # row 23
    (b"relayhost =\n    [smtp.example.com]:587\n", "relayhost", "[smtp.example.com]:587"),   # row 43
    (b"smtpd_banner = caf\xe9 \xff\xfe $myhostname\n", "smtpd_banner",
     "caf\udce9 \udcff\udcfe $myhostname"),                                   # row 18 [m18]
])
def test_effective_value(data: bytes, name: str, expected: str) -> None:
    doc = MainCf.parse(data)
    assert doc.get(name) == expected
    assert doc.definitions(name)[-1].value == expected  # the node-based reader too


def test_last_definition_wins_and_warns_once_per_change() -> None:
    # row 13 [m13]: warnings at lines 3 and 5 naming the overridden value
    doc = MainCf.parse(b"# h\nrelayhost = first\nrelayhost = second\nrelayhost = second\nrelayhost = third\n")
    assert doc.get("relayhost") == "third"
    warns = [(d.line, d.message) for d in doc.diagnostics if d.code == "duplicate-parameter"]
    assert warns == [(3, "overriding earlier entry: relayhost=first"),
                     (5, "overriding earlier entry: relayhost=second")]


def test_continuation_text_that_looks_like_an_assignment_is_value() -> None:
    doc = MainCf.parse(b"mydestination = a.example\n  relayhost = evil.example\n")  # row 22 [m22]
    assert doc.get("relayhost") is None
    assert doc.get("mydestination") == "a.example  relayhost = evil.example"


@pytest.mark.parametrize(("data", "line", "code"), [
    (b"# c\nthis line has no equals sign\n", 2, "missing-equals"),           # row 7 [m07]
    (b"= value\n", 1, "missing-name"),                                        # row 8
    (b"myhostname\n", 1, "missing-equals"),                                   # row 9
    (b"my hostname = x\n", 1, "missing-equals"),                              # row 10
    (b"a = 1\n\n\n\n# x\nbroken\n  continued text\n", 6, "missing-equals"),  # row 26 [m28]
])
def test_syntax_errors_are_reported_not_raised(data: bytes, line: int, code: str) -> None:
    doc = MainCf.parse(data)
    assert (line, code) in codes(doc)
    assert doc.to_bytes() == data


def test_multiline_error_quotes_the_joined_line() -> None:
    doc = MainCf.parse(b"broken\n  continued text\n")
    assert [d.message for d in doc.diagnostics] == [
        "missing '=' after attribute name: \"broken  continued text\""]


def test_orphans_are_ignored_with_a_warning() -> None:
    doc = MainCf.parse(b"  myhostname = h.example\nrelayhost = r\n")  # row 11 [m11]
    assert doc.parameters() == {"relayhost": "r"}
    assert codes(doc) == [(1, "orphan-continuation")]
    doc = MainCf.parse(b"# header\n  relayhost = indented-after-comment\nmyhostname = h\n")  # row 12
    assert doc.parameters() == {"myhostname": "h"}
    assert doc.diagnostics[0].message.startswith(
        'logical line must not start with whitespace: "  relayhost = indented-after-c..."')


def test_nul_cuts_the_logical_line() -> None:
    doc = MainCf.parse(b"myhostname = h.exa\0mple\nrelayhost = r\0junk = 1\n")  # row 17 [m17]
    assert doc.parameters() == {"myhostname": "h.exa", "relayhost": "r"}
    assert [c for _, c in codes(doc)] == ["nul-byte", "nul-byte"]


def test_bom_is_part_of_the_first_name() -> None:
    doc = MainCf.parse(b"\xef\xbb\xbfmyhostname = bom.example\n")  # row 25 [m27]
    assert doc.get("myhostname") is None
    assert ("\ufeffmyhostname") in doc.parameters()
    assert codes(doc) == [(1, "bom")]


def test_odd_names_are_accepted() -> None:
    doc = MainCf.parse(b"foo.bar = 1\na:b = 3\na#b = 4\n1abc = 5\n")  # row 20 [m20]
    assert doc.parameters() == {"foo.bar": "1", "a:b": "3", "a#b": "4", "1abc": "5"}


def test_read_only_parameter_is_flagged() -> None:
    doc = MainCf.parse(b"process_name = x\n")  # row 80 [U01]
    assert codes(doc) == [(1, "read-only-parameter")]


# -- editing: golden before/after (spec sections 4.2, 4.4; rows 27-45) --------------------
def edited(data: bytes, op: str, *args: str) -> bytes:
    doc = MainCf.parse(data)
    getattr(doc, op)(*args)
    return doc.to_bytes()


GOLDEN = [
    # row 27 [e01]: every definition replaced in place; the multi-line one becomes one line
    (b"relayhost = a\nmyhostname = h\nrelayhost = b\n   b2\nrelayhost=c\n", "set", ("relayhost", "[new]:587"),
     b"relayhost = [new]:587\nmyhostname = h\nrelayhost = [new]:587\nrelayhost=[new]:587\n"),
    # row 28 [e02]: interior comment and blank lines stay below the new line
    (b"mydestination = a.example,\n# comment A (col 0)\n  b.example,\n\n    # comment B (indented)\n"
     b"  c.example\nmyhostname = h\n", "set", ("mydestination", "x.example"),
     b"mydestination = x.example\n# comment A (col 0)\n\n    # comment B (indented)\nmyhostname = h\n"),
    # row 29 [e03]: delete removes all, interior comments kept
    (b"mydestination = a,\n# comment A\n  b\nmyhostname = h\nmydestination = dup\n", "delete", ("mydestination",),
     b"# comment A\nmyhostname = h\n"),
    # row 30 [e04]: comment_out prefixes HEAD and each continuation, blank untouched
    (b"mydestination = a.example,\n# comment A\n  b.example,\n\n\tc.example\nmydestination = dup\n",
     "comment_out", ("mydestination",),
     b"#mydestination = a.example,\n# comment A\n#  b.example,\n\n#\tc.example\n#mydestination = dup\n"),
    # row 16 [m16]: no final LF is repaired, never glued
    (b"relayhost = r", "set", ("mydomain", "example.com"), b"relayhost = r\nmydomain = example.com\n"),
    # row 15 [m15]: CRLF files get CRLF lines, the rewritten line keeps CRLF
    (b"relayhost = x\r\nmydestination = a,\r\n  b\r\n", "set", ("relayhost", "new"),
     b"relayhost = new\r\nmydestination = a,\r\n  b\r\n"),
    (b"relayhost = x\r\nmyhostname = h\r\n", "set", ("mydomain", "d"),
     b"relayhost = x\r\nmyhostname = h\r\nmydomain = d\r\n"),
    # row 41 [e13]: empty file
    (b"", "set", ("relayhost", "r"), b"relayhost = r\n"),
    # row 42 [e14] (improved, spec 4.4 / design): a new name goes after its commented example
    (b"# head\n#relayhost = $mydomain\n#relayhost = [gateway.my.domain]\n\n# tail\n", "set",
     ("relayhost", "[smtp.example.com]:587"),
     b"# head\n#relayhost = $mydomain\n#relayhost = [gateway.my.domain]\nrelayhost = [smtp.example.com]:587\n"
     b"\n# tail\n"),
    # row 43 [e15]: empty first line + continuation replaced by one line
    (b"relayhost =\n    [smtp.example.com]:587\nx = 1\n", "set", ("relayhost", "[b]"), b"relayhost = [b]\nx = 1\n"),
    # row 36 [e08] / row 45 [e17]: names inside orphans/continuations are not matched
    (b"  relayhost = x\nmyhostname = h\n", "set", ("relayhost", "y"),
     b"  relayhost = x\nmyhostname = h\nrelayhost = y\n"),
    (b"mydestination = a\n  relayhost = x\n", "set", ("relayhost", "y"),
     b"mydestination = a\n  relayhost = x\nrelayhost = y\n"),
    # row 35 [e07]: key = prefix up to WS or '='; similar names untouched
    (b"relayhost=nospace\nrelayhost.old = keep\nrelayhosts = x\n#relayhost = c\n", "set", ("relayhost", "NEW"),
     b"relayhost=NEW\nrelayhost.old = keep\nrelayhosts = x\n#relayhost = c\n"),
    # the prefix "name =" of an empty value gets one space before the new value
    (b"relayhost =\n", "set", ("relayhost", "[r]"), b"relayhost = [r]\n"),
    (b"relayhost=\n", "set", ("relayhost", "[r]"), b"relayhost=[r]\n"),
    (b"relayhost = x\n", "set", ("relayhost", ""), b"relayhost =\n"),
    # uncomment is the inverse of comment_out and lands at column 0
    (b"#mydestination = a,\n#  b\n", "uncomment", ("mydestination",), b"mydestination = a,\n  b\n"),
    (b"#   relayhost = [x]\n", "uncomment", ("relayhost",), b"relayhost = [x]\n"),
    # row 44 [e16] (improved): trailing whitespace in the name is refused, not silently ignored
]


@pytest.mark.parametrize(("before", "op", "args", "after"), GOLDEN)
def test_golden_edit(before: bytes, op: str, args: tuple[str, ...], after: bytes) -> None:
    assert edited(before, op, *args) == after
    assert edited(after, op, *args) == after  # idempotent


def test_set_leaves_equal_multiline_value_alone() -> None:
    data = b"mydestination = a,\n  b\n"
    doc = MainCf.parse(data)
    assert doc.set("mydestination", "a,  b") is False
    assert doc.to_bytes() == data


def test_set_trims_like_postconf() -> None:
    assert edited(b"", "set", "relayhost", "   [r]:587   ") == b"relayhost = [r]:587\n"  # row 32 [e06]


@pytest.mark.parametrize("name", ["", "relayhost ", " relayhost", "a=b", "#x", "a\nb", "a\0b", "my name"])
def test_bad_names_are_refused(name: str) -> None:
    doc = MainCf.parse(b"relayhost = r\n")
    with pytest.raises(InvalidNameError):
        doc.set(name, "x")
    with pytest.raises(InvalidNameError):
        doc.delete(name)
    assert doc.to_bytes() == b"relayhost = r\n"


@pytest.mark.parametrize("value", ["a\nb", "a\0b", "a\rb", "lone $ dollar", "${unbalanced", "$"])
def test_bad_values_are_refused(value: str) -> None:
    doc = MainCf.parse(b"relayhost = r\n")
    with pytest.raises(InvalidValueError):
        doc.set("relayhost", value)
    assert doc.to_bytes() == b"relayhost = r\n"


def test_malformed_target_is_refused_but_removable() -> None:
    data = b"relayhost junk without equals\nmyhostname = h\n"
    doc = MainCf.parse(data)
    with pytest.raises(MalformedEntryError) as err:
        doc.set("relayhost", "x")
    assert err.value.line == 1
    assert doc.to_bytes() == data
    assert doc.delete("relayhost")
    assert doc.to_bytes() == b"myhostname = h\n"


def test_uncomment_needs_a_choice_between_examples() -> None:
    data = b"#relayhost = [a]\n\n#relayhost = [b]\n"
    doc = MainCf.parse(data)
    with pytest.raises(AmbiguousEditError):
        doc.uncomment("relayhost")
    assert doc.to_bytes() == data
    assert doc.uncomment("relayhost", which=3)
    assert doc.to_bytes() == b"#relayhost = [a]\n\nrelayhost = [b]\n"
    assert [(p.line, p.value) for p in MainCf.parse(data).disabled("relayhost")] == [(1, "[a]"), (3, "[b]")]


def test_uncomment_does_nothing_when_already_set() -> None:
    data = b"#relayhost = [a]\nrelayhost = [b]\n"
    doc = MainCf.parse(data)
    assert doc.uncomment("relayhost") is False
    assert doc.to_bytes() == data


def test_new_name_never_swallows_an_orphan() -> None:
    # Inserting after the example would make the orphan a continuation of relayhost.
    data = b"#relayhost = [a]\n  orphan text\nmyhostname = h\n"
    assert edited(data, "set", "relayhost", "r") == data + b"relayhost = r\n"


def test_new_name_never_swallows_an_orphan_across_comments() -> None:
    # Found by the stateful test: the orphan after an indented comment would be adopted.
    data = b"#relayhost = old\n # indented\n x\n"
    assert edited(data, "set", "relayhost", "r") == data + b"relayhost = r\n"
    assert MainCf.parse(data).uncomment("relayhost") is False


def test_uncomment_never_enables_a_broken_reference() -> None:
    # Found by the stateful test: a commented continuation that looks like a definition.
    data = b"#x_custom = \n# x\n# relayhost = y$\n"
    doc = MainCf.parse(data)
    assert doc.disabled("relayhost") == []
    assert doc.uncomment("relayhost") is False
    assert doc.to_bytes() == data


def test_new_name_never_splits_an_entry() -> None:
    # "#relayhost" here is interior trivia of mydestination: never an insertion point.
    data = b"mydestination = a,\n#relayhost = [x]\n  b\n"
    assert edited(data, "set", "relayhost", "r") == data + b"relayhost = r\n"


def test_edits_report_whether_they_changed_anything() -> None:
    doc = MainCf.parse(b"a = 1\n")
    assert doc.set("a", "1") is False
    assert doc.delete("b") is False
    assert doc.comment_out("b") is False
    assert doc.uncomment("b") is False
    assert not doc.changed
    assert doc.set("a", "2") is True
    assert doc.changed


@pytest.mark.parametrize(("data", "severity"), [
    (b"smtpd_banner = lone $ dollar\n", "error"),            # row 77 [X01 e13]: fatal everywhere
    (b"smtpd_banner = ${unbalanced\n", "error"),
    (b"smtpd_banner = ${myhostname==mx.example.com?yes}\n", "error"),  # row 76: built-in -> fatal
    (b"x = ${foo.bar}\n", "warning"),                        # row 20 [m20]: user name -> warning
    (b"x_custom = $\n", "warning"),                          # postconf -n: warning, rc 0
])
def test_macro_errors(data: bytes, severity: str) -> None:
    diags = [d for d in MainCf.parse(data).diagnostics if d.code.startswith("macro")]
    assert [d.severity for d in diags] == [severity]


def test_literal_dollar_is_fine() -> None:
    assert MainCf.parse(b"smtpd_banner = $$ and ${name?{a}:{b}} $(x)\n").diagnostics == ()
