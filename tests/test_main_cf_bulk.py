"""The bulk reader behind ``MainCf.parameters()``/``get()``/``in`` and the copy-on-write nodes.

``parameters()`` reads the content without nodes, piece by piece; ``definitions()``,
diagnostics and edits read the nodes. Both must say the same thing about every
input, and both must agree with the reference port and with ``postconf`` itself,
also on files large enough to be read in several pieces.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from pfedit.main import app
from postfix_conf import MainCf, MasterCf
from postfix_conf._main_params import read_piece
from postfix_conf._text import decode, encode
from postfix_conf.lines import pieces, split_nodes

from . import reference
from .conftest import make_config_dir, run_postfix_tool
from .postconf_util import fold, postconf_n
from .strategies import main_cf_text

# Everything that matters to the grouping and to split_nameval(), densely.
NASTY = st.text(st.sampled_from(["\n", "\n", "\r", " ", "\t", "\v", "\f", "#", "=", "=", "\0", "a", "b",
                                 "\ufeff", "\udce9", "é", "$"]), max_size=60)


def node_reader(doc: MainCf) -> dict[str, str]:
    """The effective parameters as the node-based reader (definitions) sees them."""
    return {p.name: p.value for p in doc.definitions()}


def assert_readers_agree(text: str) -> None:
    for doc in (MainCf.parse(text), MainCf.parse(encode(text))):
        expected = node_reader(MainCf.parse(text))
        got = doc.parameters()
        assert list(got.items()) == list(expected.items())  # same values, same order
        for name in {*expected, "a", "b", "nope"}:
            assert doc.get(name) == expected.get(name)
            assert (name in doc) == (name in expected)


@given(main_cf_text())
def test_bulk_reader_agrees_with_node_reader(text: str) -> None:
    assert_readers_agree(text)


@given(NASTY)
def test_bulk_reader_agrees_with_node_reader_on_dense_input(text: str) -> None:
    assert_readers_agree(text)


@given(NASTY)
def test_bulk_reader_agrees_with_reference_port(text: str) -> None:
    expected = reference.main_cf_parameters(text)
    if expected is not None:  # the port gives up on a file with a syntax error
        assert MainCf.parse(text).parameters() == expected


@given(st.one_of(NASTY, main_cf_text()), st.integers(1, 40))
def test_pieces_never_split_an_entry(text: str, size: int) -> None:
    for content in (text, encode(text)):
        parts = list(pieces(content, size))
        assert "".join(parts) == text
        assert all(parts)
        assert [n for part in parts for n in split_nodes(part)] == split_nodes(text)


@given(st.binary(max_size=80), st.integers(1, 20))
def test_pieces_decode_bytes_like_the_whole(data: bytes, size: int) -> None:
    assert "".join(pieces(data, size)) == decode(data)


@given(st.one_of(NASTY, main_cf_text()), st.integers(1, 40))
def test_reading_in_pieces_equals_reading_whole(text: str, size: int) -> None:
    params: dict[str, str] = {}
    for part in pieces(text, size):
        if not read_piece(part, params):  # NUL or a broken entry: the node reader takes the piece
            params.update((p.name, p.value) for p in MainCf.parse(part).definitions())
    assert list(params.items()) == list(MainCf.parse(text).parameters().items())


NAME_EQUALS = re.compile(r"[^ \t\n\v\f\r=#\0][^ \t\n\v\f\r=\0]*[ \t\v\f\r]*=")


@given(NASTY)
def test_bulk_reader_declines_exactly_nul_and_entries_without_name_equals(text: str) -> None:
    params: dict[str, str] = {}
    declined = not read_piece(text, params)
    odd = any(n.kind == "entry" and not NAME_EQUALS.match(n.raw) for n in split_nodes(text))
    assert declined == ("\0" in text or odd)
    if declined:
        assert params == {}
    else:
        assert list(params.items()) == list(node_reader(MainCf.parse(text)).items())


def test_equals_on_a_continuation_line_is_read() -> None:
    doc = MainCf.parse(b"relayhost\n  = [r]:587\n")  # postconf -h relayhost: [r]:587
    assert doc.parameters() == {"relayhost": "[r]:587"} == node_reader(doc)


def test_unedited_document_is_its_input_until_an_edit() -> None:
    data = b"a = 1\n# note\nb = 2\n  two\n"
    doc = MainCf.parse(data)
    assert doc.to_bytes() is data  # nothing was split or copied to serialise it
    assert doc.parameters() == {"a": "1", "b": "2  two"}
    assert [n.kind for n in doc.nodes] == ["entry", "trivia", "entry"]
    assert doc.to_bytes() is data and not doc.changed
    assert doc.set("a", "3")
    assert doc.to_bytes() == b"a = 3\n# note\nb = 2\n  two\n" and doc.changed
    assert doc.parameters() == {"a": "3", "b": "2  two"}  # the edit dropped what was read before
    assert doc.get("a") == "3" and doc.definitions("a")[0].line == 1


def test_parameters_returns_a_copy() -> None:
    doc = MainCf.parse(b"a = 1\n")
    doc.parameters()["a"] = "changed"
    doc.parameters().clear()
    assert doc.get("a") == "1" and "a" in doc and doc.parameters() == {"a": "1"}


def test_non_string_membership_is_false() -> None:
    doc = MainCf.parse(b"a = 1\n")
    assert [] not in doc and None not in doc


def test_master_cf_nodes_are_made_on_demand() -> None:
    data = b"smtp inet n - y - - smtpd\n  -o a=b\n"
    doc = MasterCf.parse(data)
    assert doc.to_bytes() is data
    assert doc.services()[0].options == {"a": "b"}
    assert doc.to_bytes() is data


def big_main_cf() -> bytes:
    """A main.cf of about 300 KB (several pieces) with every line kind, known names repeated."""
    blocks = [
        "# comment {n}\n",
        "\n",
        "mydestination = $myhostname, a{n}.example,\n    # interior comment\n\n    b{n}.example\n",
        "relay_domains =\n\tr{n}.example,\n\f r{n}.example.net\n",
        "myhostname = mx{n}.example.com\r\n",
        "   # indented comment after an entry\n",
        "message_size_limit = {n}0240000\n",
        "smtpd_banner = $myhostname ESMTP {n} \n  more text = with = signs\n",
    ]
    out = [blocks[(i * 7) % len(blocks)].format(n=i) for i in range(12_000)]
    return ("  orphan at the top\n" + "".join(out) + "mynetworks = 127.0.0.0/8").encode()


@pytest.mark.postfix
def test_large_file_agrees_with_postconf(postconf: str, tmp_path: Path) -> None:
    data = big_main_cf()
    assert len(data) > 4 * (1 << 16)
    d = make_config_dir(tmp_path / "big", data)
    doc = MainCf.read(d / "main.cf")
    assert doc.to_bytes() == data
    result = postconf_n(d)
    assert result.ok, result.stderr
    ours = doc.parameters()
    assert list(ours.items()) == list(node_reader(doc).items())
    assert {n: fold(v) for n, v in ours.items()} == result.params


@pytest.mark.postfix
def test_pfedit_get_on_a_large_file_prints_what_postconf_reads(postconf: str, tmp_path: Path) -> None:
    d = make_config_dir(tmp_path / "big", big_main_cf())
    for name in ("mydestination", "relay_domains", "smtpd_banner", "myhostname", "mynetworks"):
        result = CliRunner().invoke(app, ["get", name, "-c", str(d)])
        assert result.exit_code == 0, result.output
        expected = run_postfix_tool([postconf, "-c", str(d), "-h", name], check=True).stdout.decode()
        assert fold(result.stdout) == fold(expected)
