"""LookupTable against the real postmap (Postfix 3.7.11): entries, lookups, warnings, edits.

Each table is copied into a throw-away config dir (make_config_dir) and built with
``postmap -c D hash:FILE``; ``postmap -s`` gives the stored entries, ``postmap -q``
the lookups, and ``postmap -q ... texthash:FILE`` the warnings *with* line numbers
(hash reports duplicates without one). ``compatibility_level = 3.6`` in main.cf turns
on ``smtputf8_enable``, the Debian default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfix_conf.table import LookupTable
from tests.conftest import backdate, cases_dir, corpus_files, make_config_dir, need_corpus, run_postfix_tool
from tests.test_table import (
    ALPHABET,
    FIXTURE_CASES,
    KEYS,
    TABLES,
    VALUES,
    Generated,
    generated_table,
    load_expected,
)

pytestmark = pytest.mark.postfix

SUBPROCESS = settings(max_examples=30, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

_WARNING = re.compile(rb"^postmap: warning: .*?, line (\d+): (.*)$", re.MULTILINE)
_CODES = [
    (b"expected format: key whitespace value", "missing-value"),
    (b'record is in "key: value" format', "alias-format"),
    (b"unbalanced '\"'", "unbalanced-quote"),
    (b"non-UTF-8 input", "non-utf8"),
    (b"duplicate entry:", "duplicate-key"),
]
COMPARED = {code for _, code in _CODES} | {"orphan-continuation"}


def decode(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def lines_of(entries: dict[str, str]) -> list[str]:
    return sorted(f"{k}\t{v}" for k, v in entries.items())


@dataclass
class Built:
    postmap: str
    dir: Path
    file: Path
    fold_case: bool
    build_stderr: bytes

    def flags(self) -> list[str]:
        return ["-c", str(self.dir)] + ([] if self.fold_case else ["-f"])

    def dump(self) -> list[str]:
        """``postmap -s``: every stored record as ``key<TAB>value``."""
        r = run_postfix_tool([self.postmap, *self.flags(), "-s", f"hash:{self.file}"])
        assert r.returncode == 0, r.stderr
        return sorted(decode(ln) for ln in r.stdout.split(b"\n") if ln)

    def query(self, key: str) -> str | None:
        """``postmap -q KEY``: the value, or None on a miss (rc 1)."""
        r = run_postfix_tool([self.postmap, *self.flags(), "-q", key,
                              f"hash:{self.file}"])  # str args are encoded with surrogateescape
        assert r.returncode in (0, 1), r.stderr
        return decode(r.stdout.removesuffix(b"\n")) if r.returncode == 0 else None

    def query_many(self, keys: Iterable[str]) -> dict[str, str]:
        """``postmap -q -``: hits for keys without TAB (output is ``key<TAB>value``)."""
        keys = [k for k in dict.fromkeys(keys) if "\t" not in k and "\n" not in k]
        stdin = b"".join(k.encode("utf-8", "surrogateescape") + b"\n" for k in keys)
        r = run_postfix_tool([self.postmap, *self.flags(), "-q", "-", f"hash:{self.file}"], input=stdin)
        assert r.returncode in (0, 1), r.stderr
        hits: dict[str, str] = {}
        pending = iter(keys)
        for raw in r.stdout.split(b"\n")[:-1]:
            line = decode(raw)
            for k in pending:  # hits come back in input order
                if line.startswith(k + "\t"):
                    hits[k] = line[len(k) + 1:]
                    break
            else:
                raise AssertionError(f"unexpected postmap -q output {line!r}")
        return hits

    def warnings(self) -> list[tuple[int, str]]:
        """(line, code) of texthash's warnings; it reports duplicates with a line number."""
        backdate(self.file)  # texthash uses dict_load_file_xt: a fresh file is re-read (spec 2.8)
        r = run_postfix_tool([self.postmap, *self.flags(), "-q", "no such key", f"texthash:{self.file}"])
        found = []
        for m in _WARNING.finditer(r.stderr):
            code = next((c for text, c in _CODES if m.group(2).startswith(text)), None)
            assert code is not None, m.group()
            found.append((int(m.group(1)), code))
        found += [(0, "orphan-continuation")] * r.stderr.count(b"logical line must not start with whitespace")
        return sorted(found)


def build(postmap: str, d: Path, data: bytes, *, fold_case: bool = True, smtputf8: bool = False) -> Built:
    make_config_dir(d, main_cf=b"compatibility_level = 3.6\n" if smtputf8 else b"")
    f = d / "table"
    f.write_bytes(data)
    args = [postmap, "-c", str(d)] + ([] if fold_case else ["-f"]) + [f"hash:{f}"]
    r = run_postfix_tool(args)
    assert r.returncode == 0, r.stderr
    return Built(postmap, d, f, fold_case, r.stderr)


def our_warnings(t: LookupTable) -> list[tuple[int, str]]:
    out = []
    for d in t.diagnostics:
        if d.code == "non-utf8" and not t.smtputf8:
            continue  # our portability note; postmap is silent with smtputf8_enable = no
        if d.code in COMPARED:
            out.append((0 if d.code == "orphan-continuation" else d.line, d.code))
    return sorted(out)


def probes(t: LookupTable) -> list[str]:
    """Keys worth asking: every written key, its case variants, and a miss."""
    keys = ["no.such.key"]
    for e in t.definitions():
        keys += [e.key, e.key.upper(), e.key.lower()]
    return keys


def assert_same(b: Built, t: LookupTable, *, all_queries: bool = False) -> None:
    assert t.to_bytes() == b.file.read_bytes()
    assert lines_of(t.entries()) == b.dump()
    keys = probes(t)
    if t.smtputf8:  # a non-UTF-8 query key is a lookup error, not a miss
        keys = [k for k in keys if k.encode("utf-8", "surrogateescape").decode("utf-8", "replace") == k]
    hits = b.query_many(keys)
    assert hits == {k: v for k in keys if "\t" not in k and (v := t.get(k)) is not None}
    if all_queries:
        for k in keys:
            assert b.query(k) == t.get(k), k
    assert our_warnings(t) == b.warnings()


# -- fixtures, spec cases, corpus ------------------------------------------------------------

@pytest.mark.parametrize(("name", "fold", "utf8", "expected"), FIXTURE_CASES)
def test_fixtures_match_postmap(postmap: str, tmp_path: Path, name: str, fold: bool, utf8: bool,
                                expected: str) -> None:
    data = (TABLES / name).read_bytes()
    b = build(postmap, tmp_path, data, fold_case=fold, smtputf8=utf8)
    assert b.dump() == lines_of(load_expected(expected))  # the hand-written expectation is right
    assert_same(b, LookupTable.parse(data, fold_case=fold, smtputf8=utf8), all_queries=True)


def test_spec_rows_71_72(postmap: str, tmp_path: Path) -> None:
    b = build(postmap, tmp_path, (TABLES / "sasl_passwd").read_bytes())
    assert b.query("[MAIL.RELAY.TEST]") == "upper:bracket-pw"
    assert b.query("twice.test") == "one"
    assert b.query("back slash.test") is None
    f = build(postmap, tmp_path / "f", (TABLES / "sasl_passwd").read_bytes(), fold_case=False)
    no_f_query = run_postfix_tool([postmap, "-c", str(f.dir), "-q", "[Mail.Relay.TEST]", f"hash:{f.file}"])
    assert no_f_query.returncode == 1  # a folding query cannot reach a key built with -f
    assert f.query("[Mail.Relay.TEST]") == "upper:bracket-pw"


def case_tables() -> list[Path]:
    return sorted(p for d in cases_dir().glob("T*") for p in d.glob("*.orig")
                  if p.name not in ("main.cf.orig", "master.cf.orig"))


@pytest.mark.parametrize("utf8", [False, True])
def test_case_tables_match_postmap(postmap: str, tmp_path: Path, utf8: bool) -> None:
    paths = case_tables()
    need_corpus(paths)
    for i, path in enumerate(paths):
        data = path.read_bytes()
        b = build(postmap, tmp_path / str(i), data, smtputf8=utf8)
        assert_same(b, LookupTable.parse(data, smtputf8=utf8))


@pytest.mark.parametrize("path", corpus_files("tables") or [None], ids=lambda p: p.name if p else "no-corpus")
def test_corpus_tables_match_postmap(postmap: str, tmp_path: Path, path: Path | None) -> None:
    if path is None:
        need_corpus([])  # a visible skip with the reason (a failure in CI), not an empty parameter set
        return
    data = path.read_bytes()
    make_config_dir(tmp_path)
    (tmp_path / "table").write_bytes(data)
    probe = run_postfix_tool([postmap, "-c", str(tmp_path), f"hash:{tmp_path / 'table'}"])
    if probe.returncode != 0:
        pytest.skip(f"postmap does not accept {path.name} as a hash source")
    for utf8 in (False, True):
        b = build(postmap, tmp_path / ("u" if utf8 else "a"), data, smtputf8=utf8)
        assert_same(b, LookupTable.parse(data, smtputf8=utf8))


def test_corpus_present() -> None:
    need_corpus(corpus_files("tables"))


# -- generated input -------------------------------------------------------------------------

@SUBPROCESS
@given(g=generated_table())
def test_generated_tables_match_postmap(postmap: str, tmp_path_factory: pytest.TempPathFactory,
                                        g: Generated) -> None:
    d = tmp_path_factory.mktemp("gen")
    b = build(postmap, d, g.data)
    assert b.dump() == lines_of(g.expected)
    assert_same(b, LookupTable.parse(g.data))
    f = build(postmap, d / "f", g.data, fold_case=False)
    assert f.dump() == lines_of(g.expected_nofold)


@SUBPROCESS
@given(data=st.lists(st.sampled_from(list(ALPHABET)), max_size=80).map(bytes), utf8=st.booleans())
def test_dense_bytes_match_postmap(postmap: str, tmp_path_factory: pytest.TempPathFactory,
                                   data: bytes, utf8: bool) -> None:
    d = tmp_path_factory.mktemp("bytes")
    assert_same(build(postmap, d, data, smtputf8=utf8), LookupTable.parse(data, smtputf8=utf8))


# -- edits -----------------------------------------------------------------------------------

def test_hand_written_edits_match_postmap(postmap: str, tmp_path: Path) -> None:
    t = LookupTable.read(TABLES / "crlf_passwd")
    t.set("MULTI.crlf.test", "first,second")  # a CRLF multi-line value becomes one line
    t.set("[crlf-only-key]", "filled:in")  # the line postmap skipped is completed
    t.set("[new.crlf.test]:465", "pass word:x")
    t.delete("upper.crlf.test")
    expected = load_expected("crlf_passwd.expected.json")
    expected.update({"multi.crlf.test": "first,second", "[crlf-only-key]": "filled:in",
                     "[new.crlf.test]:465": "pass word:x"})
    del expected["upper.crlf.test"]
    b = build(postmap, tmp_path, t.to_bytes())
    assert b.dump() == lines_of(expected)
    assert b.build_stderr == b""
    assert b.query("[NEW.crlf.test]:465") == "pass word:x"


OPS = st.lists(st.tuples(st.sampled_from(["set", "delete"]), KEYS, VALUES), max_size=8)


@SUBPROCESS
@given(start=st.sampled_from(["sasl_passwd", "crlf_passwd"]), ops=OPS)
def test_random_edits_match_postmap(postmap: str, tmp_path_factory: pytest.TempPathFactory,
                                    start: str, ops: list[tuple[str, str, str]]) -> None:
    t = LookupTable.read(TABLES / start)
    model = load_expected(f"{start}.expected.json")
    for op, key, value in ops:
        if op == "set":
            t.set(key, value)
            model[key.lower()] = value
        else:
            t.delete(key)
            model.pop(key.lower(), None)
    b = build(postmap, tmp_path_factory.mktemp("edit"), t.to_bytes())
    assert b.dump() == lines_of(model)
    for key, _, _ in ops:
        assert b.query(key) == model.get(key.lower())
