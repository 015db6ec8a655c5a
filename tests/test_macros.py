"""``postfix_conf.macros`` against ``postconf``: the same references, errors and expansions.

The oracle is the real ``postconf``: ``-n`` prints the scan warnings (``mac_expand`` in
scan mode) and the unused-parameter verdicts (which show the references it saw), and
``-x`` prints what a daemon would expand a value to.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postfix_conf.macros import ExpandError, NestingError, expand, scan

from .conftest import make_config_dir, run_postfix_tool

# Defined in every generated main.cf, so that lookups and comparisons have something to find.
DEFINED = {"mya": "1", "myb": "", "myc": "$mya", "myd": "10", "mye": "${mya?{x}:{y}}"}
PIECES = ["$", "{", "}", "(", ")", "mya", "myb", "myc", "myd", "mye", "myz", "?", ":", " ", "==", "!=", "<",
          ">=", "<=level", "x", "2", "$$", "${mya}", "${myb?{1}:{2}}", "$(", "${{$mya} == {1}?{t}:{f}}", "\t"]
MACRO_WARNING = re.compile(r"warning: (?!.*(?:unused|undefined) parameter)(?!.*unknown parameter)(.*)$")


def _warnings(stderr: str) -> list[str]:
    return [m.group(1) for line in stderr.splitlines() if (m := MACRO_WARNING.search(line))]


def _config(tmp_path: Path, values: list[str], used: tuple[str, ...] = ()) -> Path:
    """main.cf with DEFINED, ``myp<i> = value``, and ``used`` referenced from a built-in
    parameter (postconf -x answers only for user parameters that something uses)."""
    lines = [f"{k} = {v}" for k, v in DEFINED.items()]
    if used:
        lines.append("smtpd_banner = " + " ".join(f"${n}" for n in used))
    lines += [f"myp{i} = {v}" for i, v in enumerate(values)]
    return make_config_dir(tmp_path / "d", ("\n".join(lines) + "\n").encode())


values = st.lists(st.lists(st.sampled_from(PIECES), max_size=7).map("".join).map(str.strip), min_size=1,
                  max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_scan_reports_what_postconf_reports(postconf: str, tmp_path: Path, vals: list[str]) -> None:
    d = _config(tmp_path, vals)
    got = run_postfix_tool([postconf, "-c", str(d), "-n"])
    theirs = collections.Counter(_warnings(got.stderr.decode()))
    ours: collections.Counter[str] = collections.Counter()
    for v in [*DEFINED.values(), *vals]:
        found = scan(v)
        ours.update(_printable(m) for m in found.errors + found.expression_errors)
    assert ours == theirs


def _printable(message: str) -> str:
    """Postfix's logging shows non-printable bytes (the tab) as '?'."""
    return "".join(c if c.isprintable() else "?" for c in message)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_expand_gives_what_postconf_x_gives(postconf: str, tmp_path: Path, vals: list[str]) -> None:
    lookup = {**DEFINED, **{f"myp{i}": v for i, v in enumerate(vals)}}.get
    good: list[tuple[str, str]] = []
    for i, v in enumerate(vals):
        if scan(v).errors:
            continue  # postconf drops such a user parameter altogether ("unknown parameter")
        try:
            good.append((f"myp{i}", expand(v, lookup)))
        except ExpandError:
            continue
    if not good:
        return
    d = _config(tmp_path, vals, tuple(n for n, _ in good))
    got = run_postfix_tool([postconf, "-c", str(d), "-x", *(n for n, _ in good)])
    assert got.returncode == 0, got.stderr.decode()
    # postconf prints values with runs of blanks folded into one space
    assert got.stdout.decode().split("\n")[:-1] == [_fold(f"{n} = {v}") for n, v in good]


def _fold(line: str) -> str:
    return re.sub(r"[ \t]+", " ", line).rstrip(" ")


def test_references_after_an_error_are_not_seen(postconf: str, tmp_path: Path) -> None:
    """postconf stops looking things up at the first error: $mybar below counts as unused."""
    d = make_config_dir(tmp_path / "d", b"myfoo = ${a b} $mybar\nmybar = 1\nmyok = $myused\nmyused = 2\n")
    err = run_postfix_tool([postconf, "-c", str(d), "-n"]).stderr.decode()
    assert "unused parameter: mybar=1" in err
    assert "unused parameter: myused" not in err
    assert scan("${a b} $mybar").refs == []
    assert scan("$myused").refs == ["myused"]


@pytest.mark.parametrize(("value", "message"), [
    ("${{a} foo {b}}", '"==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...a}>>>foo {b}"'),
    ("${a?{1} junk}", '":" expected at: "...1}>>>junk"'),
    ("${{a} == {b} junk}", '"?" or ":" expected at: "...}>>>junk"'),
    ("${a b}", 'attribute name syntax error at: "...a>>> b"'),
])
def test_expression_errors_have_postfix_wording(value: str, message: str) -> None:
    """Texts as postconf 3.7 printed them for these values (transcript in the test above's style)."""
    assert scan(value).expression_errors == [message]
    with pytest.raises(ExpandError, match=re.escape(message)):
        expand(value, _none)


def test_a_loop_is_a_nesting_error() -> None:
    with pytest.raises(NestingError, match="unreasonable macro call nesting"):
        expand("$a", {"a": "$(b)", "b": "$a"}.get)


def test_empty_names_are_lookups_not_errors() -> None:
    """postconf: "undefined parameter: " (empty) and no syntax warning for $( ) and $(?)."""
    for value in ("$( )b", "$(:z)", "$(?)"):
        assert scan(value).errors == scan(value).expression_errors == []
        assert scan(value).refs == [""]
    assert expand("$( )b", _none) == "b"
    assert expand("$(:z)", _none) == "z"


def _none(name: str) -> str | None:
    return None
