"""MainCf against the real ``postconf`` (always ``-c TMPDIR``): reading and editing.

Expected values come from Postfix itself. Values are compared after folding
whitespace runs, as ``postconf`` prints them (spec 2.6); user-defined names only
where postconf prints them, the rest must show up as "unused parameter".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from postfix_conf import MainCf
from postfix_conf._text import encode

from . import reference
from .conftest import cases_dir, corpus_files, make_config_dir, need_corpus, run_postfix_tool
from .postconf_util import fold, postconf_n, printable
from .strategies import main_cf_text, names

pytestmark = pytest.mark.postfix

SUBPROCESS = settings(max_examples=40, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def assert_agrees(doc: MainCf, config_dir: Path) -> None:
    result = postconf_n(config_dir)
    has_error = any(d.severity == "error" for d in doc.diagnostics)
    assert result.ok != has_error, result.stderr
    if not result.ok:
        return
    ours = doc.parameters()
    ours.pop("config_directory", None)  # postconf -c DIR overrides it
    for name, printed in result.params.items():
        assert name in ours, f"postconf prints {name} which we do not see"
        assert fold(ours[name]) == printed, name
    for name in set(ours) - set(result.params):
        assert printable(name) in result.unused, f"{name} set in the file but neither printed nor unused"


def test_corpus_main_cf_agrees_with_postconf(postconf: str, tmp_path: Path) -> None:
    files = corpus_files("main.cf")
    need_corpus(files)
    for i, path in enumerate(files):
        data = path.read_bytes()
        doc = MainCf.parse(data)
        assert doc.to_bytes() == data, path
        d = make_config_dir(tmp_path / f"c{i}", data)
        assert_agrees(doc, d)


def test_postfix_cases_main_cf_agree(postconf: str, tmp_path: Path) -> None:
    inputs = sorted(cases_dir().glob("*/main.cf*.orig")) if cases_dir().is_dir() else []
    need_corpus(inputs)
    for i, path in enumerate(inputs):
        data = path.read_bytes()
        doc = MainCf.parse(data)
        assert doc.to_bytes() == data
        assert_agrees(doc, make_config_dir(tmp_path / f"k{i}", data))


@SUBPROCESS
@given(text=main_cf_text())
def test_generated_main_cf_agrees(postconf: str, tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    data = encode(text)
    d = make_config_dir(tmp_path_factory.mktemp("gen"), data)
    assert_agrees(MainCf.parse(data), d)


POSTCONF_FLAG = {"set": "-e", "delete": "-X", "comment_out": "-#"}


@SUBPROCESS
@given(text=main_cf_text(), name=names, value=st.sampled_from(["x", "[r]:587", "a, b", "$myhostname", ""]),
       op=st.sampled_from(["set", "delete", "comment_out"]))
def test_edit_matches_postconf_edit(postconf: str, tmp_path_factory: pytest.TempPathFactory,
                                    text: str, name: str, value: str, op: str) -> None:
    # postconf < 3.11 corrupts files without a final LF and with NUL bytes (spec 4.2):
    # compare only where postconf itself is correct.
    assume(text.endswith("\n") or not text)
    assume("\0" not in text)
    assume(reference.main_cf_parameters(text) is not None)
    data = encode(text)
    ours = MainCf.parse(data)
    if op == "set":
        ours.set(name, value)
    else:
        getattr(ours, op)(name)
    base = tmp_path_factory.mktemp("edit")
    theirs_dir = make_config_dir(base / "theirs", data)
    arg = f"{name}={value}" if op == "set" else name
    proc = run_postfix_tool([postconf, "-c", str(theirs_dir), POSTCONF_FLAG[op], arg])
    assert proc.returncode == 0, proc.stderr
    ours_dir = make_config_dir(base / "ours", ours.to_bytes())
    expected = postconf_n(theirs_dir)
    got = postconf_n(ours_dir)
    assert got.ok == expected.ok
    assert got.params == expected.params
    assert got.unused == expected.unused


def test_stock_debian_main_cf_round_trips_and_agrees(postconf: str, tmp_path: Path) -> None:
    stock = Path("/usr/share/postfix")
    files = [stock / "main.cf.debian", stock / "main.cf.tls"]
    for i, path in enumerate(p for p in files if p.exists()):
        data = path.read_bytes()
        doc = MainCf.parse(data)
        assert doc.to_bytes() == data
        assert_agrees(doc, make_config_dir(tmp_path / f"s{i}", data))
    dist = stock / "main.cf.dist"
    if dist.exists():
        assert MainCf.parse(dist.read_bytes()).to_bytes() == dist.read_bytes()


def test_shipped_example_agrees(postconf: str, tmp_path: Path, config_dir: Path) -> None:
    data = (config_dir / "main.cf").read_bytes()
    assert_agrees(MainCf.parse(data), make_config_dir(tmp_path / "ex", data))
    shutil.rmtree(tmp_path / "ex")


def test_read_only_parameters_are_not_set(postconf: str, tmp_path: Path) -> None:
    """postconf's own regression tests (src/postconf/Makefile.in, process_name/process_id): an
    assignment of a read-only parameter is ignored with a warning and never printed by -n."""
    data = b"process_name = mine\nservice_name = x\nprocess_id = 1\nmyhostname = host.example\n"
    doc = MainCf.parse(data)
    d = make_config_dir(tmp_path / "ro", data)
    assert_agrees(doc, d)
    assert doc.parameters() == {"myhostname": "host.example"} and doc.get("process_name") is None
    assert [p.name for p in doc.definitions()] == ["process_name", "service_name", "process_id", "myhostname"]
    assert "read-only parameter assignment: process_name=mine" in postconf_n(d).stderr
