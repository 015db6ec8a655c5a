"""``pfedit check`` against what ``postconf`` 3.7 itself reports (always ``-c TMPDIR``).

* Names: every name postconf calls "unused parameter" is one we flag as
  ``unknown-parameter`` (same file), and vice versa; the same for "undefined
  parameter" -- on every corpus pair postconf can read, on generated files and on
  the spec's U01 case. There is no known difference (postconf's own order of
  scanning, including the silent scan of built-in defaults, is reproduced).
* Files postconf refuses (master.cf field errors, main.cf syntax, macro errors):
  we report an error whose message is postconf's fatal message.
* The data files we ship equal ``postconf -d`` output.
"""

from __future__ import annotations

import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postfix_conf.check import check
from postfix_conf.check._data import builtin_defaults, dbms_suffixes, obsolete_parameters, service_suffixes
from postfix_conf.check.context import Config
from postfix_conf.check.names import analyse
from postfix_conf.data import builtin_parameters

from .conftest import cases_dir, corpus_files, make_config_dir, need_corpus, need_postfix, run_postfix_tool

pytestmark = pytest.mark.postfix

_UNUSED = re.compile(r"/(main|master)\.cf: unused parameter: ([^=\n]*)=")
_UNDEFINED = re.compile(r"/(main|master)\.cf: undefined parameter: (\S+)")
_FATAL = re.compile(r"fatal: (?:.*?/(?:main|master)\.cf, line \d+: |file .*?: line \d+: )?(.*)")


Names = tuple[int, set[tuple[str, str]], set[tuple[str, str]], str]


def postconf_names(postconf: str, d: Path) -> Names:
    """(rc, unused (file, name), undefined (file, name), stderr) of ``postconf -n``."""
    proc = run_postfix_tool([postconf, "-c", str(d), "-n"])
    err = proc.stderr.decode("utf-8", "surrogateescape")
    return proc.returncode, set(_UNUSED.findall(err)), set(_UNDEFINED.findall(err)), err


def postconf_many(postconf: str, dirs: list[Path]) -> list[Names]:
    """postconf -n on many directories at once (a refused file costs postconf a 1 s sleep)."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda d: postconf_names(postconf, d), dirs))


def our_names(d: Path) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    report = analyse(Config.load(d))
    unused = {("main", n) for n in report.unused_main} | {("master", n) for _, n in report.unused_master}
    undefined = {("master" if u.in_master else "main", u.name) for u in report.undefined}
    return unused, undefined


def assert_same_as_postconf(postconf: str, d: Path, seen: Names | None = None) -> bool:
    """True when postconf could read the files (and we agreed); False when postconf refused them."""
    rc, unused, undefined, err = seen if seen is not None else postconf_names(postconf, d)
    if rc != 0:
        fatal = _FATAL.search(err)
        assert fatal is not None, err
        errors = [f.message for f in check(d) if f.severity == "error"]
        wanted = fatal.group(1).strip()
        if wanted.endswith("macro processing error"):  # postconf names no value; we name the broken one
            assert any("macro" in m or "attribute name syntax" in m for m in errors), (err, errors)
            if "unreasonable macro call nesting" in err:
                assert any("unreasonable macro call nesting" in m for m in errors), (err, errors)
        else:
            assert any(m.startswith(wanted) or wanted in m for m in errors), (err, errors)
        return False
    ours_unused, ours_undefined = our_names(d)
    assert ours_unused == unused, err
    assert ours_undefined == undefined, err
    return True


def test_names_match_postconf_on_corpus(postconf: str, tmp_path: Path) -> None:
    mains, masters = corpus_files("main.cf"), corpus_files("master.cf")
    need_corpus(mains)
    dirs = [make_config_dir(tmp_path / f"c{i}", main.read_bytes(), masters[i].read_bytes() if i < len(masters)
                            else b"") for i, main in enumerate(mains)]
    readable = sum(assert_same_as_postconf(postconf, d, seen)
                   for d, seen in zip(dirs, postconf_many(postconf, dirs), strict=True))
    assert readable > len(mains) * 0.9


def test_names_match_postconf_on_master_corpus_with_stock_main(postconf: str, tmp_path: Path) -> None:
    masters = corpus_files("master.cf")
    need_corpus(masters)
    dirs = [make_config_dir(tmp_path / f"m{i}", b"compatibility_level = 3.6\n", master.read_bytes())
            for i, master in enumerate(masters)]
    for d, seen in zip(dirs, postconf_many(postconf, dirs), strict=True):
        assert_same_as_postconf(postconf, d, seen)


def test_u01_case_as_the_spec_reports_it(tmp_path: Path) -> None:
    """Spec section 9 / U01 out.txt, written out by hand."""
    d = cases_dir() / "U01-unused-and-known"
    if not d.is_dir():
        pytest.skip("postfix-cases not found")
    unused, undefined = our_names(d)
    assert unused == {("main", "ldapsource_bogus_setting"), ("main", "foo_destination_concurrency_limit"),
                      ("main", "my_ref_in_main"), ("main", "my_orphan"), ("main", "MyHostname"),
                      ("master", "local_ref"), ("master", "smtpd_tls_security_levl")}
    assert undefined == set()
    unused, undefined = our_names(d / "ro")
    assert unused == {("master", "local_ref"), ("master", "smtpd_tls_security_levl")}
    assert undefined == {("master", "mua_sender_restrictions")}


_NAMES = ["myhostname", "smtpd_banner", "relay_domains", "alias_maps", "smtpd_restriction_classes",
          "u1", "u2", "u3", "cls1", "cls2", "myhostnme", "smtpd_tls_security_levl", "MyHostname",
          "relay_destination_concurrency_limit", "svcx_time_limit", "foo_destination_recipient_limit",
          "ldapsrc_server_host", "ldapsrc_bogus", "my_hosts", "postscreen_blacklist_action",
          "smtpd_enforce_tls", "svcx_delivery_slot_cost", "process_name", "u2_hosts", "my_dbname"]
_VALUES = ["x", "$u1", "${u2?y}", "${u3:z}", "$nosuch", "ldap:ldapsrc", "proxy:mysql:my", "cls1, cls2",
           "$relay_destination_concurrency_limit", "$myhostname", "permit", "$cls1", "{ $u3 }",
           "$svcx_time_limit", "hash:/etc/x, pgsql:u1", "$$u1", "${{$u2} == {x} ? {$u3} : {}}",
           "pipemap:{ldap:ldapsrc,mysql:my}", "unionmap:{pgsql:u2}", "${u1:proxy:ldap:ldapsrc}"]
_O_VALUES = [v for v in _VALUES if " " not in v]
_SERVICES = [("relay", "unix", "smtp"), ("svcx", "unix", "pipe flags=R user=nobody argv=/bin/true"),
             ("svcx", "unix", "spawn user=nobody argv=/bin/true"), ("smtp", "inet", "smtpd"),
             ("foo", "unix", "local"), ("relay", "unix", "error")]


@st.composite
def configs(draw: st.DrawFn) -> tuple[bytes, bytes]:
    main = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(_NAMES))
        value = draw(st.sampled_from([v for v in _VALUES if f"${name}" not in v]))  # no self-loop: 1 s each
        main.append(f"{name} = {value}\n")
    master = []
    for _ in range(draw(st.integers(0, 4))):
        name, kind, command = draw(st.sampled_from(_SERVICES))
        program, _, args = command.partition(" ")
        options = " ".join(f"-o {draw(st.sampled_from(_NAMES))}={draw(st.sampled_from(_O_VALUES))}"
                           for _ in range(draw(st.integers(0, 3))))
        private = "n" if kind == "inet" else "-"
        master.append(f"{name} {kind} {private} - n - - {program} {options} {args}\n")
    return "".join(main).encode(), "".join(master).encode()


@settings(max_examples=60, deadline=None)
@given(configs())
def test_names_match_postconf_on_generated_files(files: tuple[bytes, bytes]) -> None:
    postconf = need_postfix()
    with tempfile.TemporaryDirectory() as tmp:
        d = make_config_dir(Path(tmp), *files)
        assert_same_as_postconf(postconf, d)


def test_master_field_errors_are_postconf_fatal(postconf: str, tmp_path: Path) -> None:
    """M04's bad entries: postconf -M fails with exactly the message we report as an error."""
    bad = ["smtp inet n - n - smtpd\n", "smtp tcp n - n - - smtpd\n", "smtp inet yes - n - - smtpd\n",
           "pickup unix n - n 60s 1 pickup\n", "pickup unix n - n 60 1x pickup\n", "smtp inet n - Y - - smtpd\n"]
    dirs = [make_config_dir(tmp_path / f"b{i}", b"", text.encode()) for i, text in enumerate(bad)]
    with ThreadPoolExecutor(max_workers=len(dirs)) as pool:
        procs = list(pool.map(lambda d: run_postfix_tool([postconf, "-c", str(d), "-M"]), dirs))
    for d, proc in zip(dirs, procs, strict=True):
        err = proc.stderr.decode()
        assert proc.returncode != 0
        fatal = _FATAL.search(err)
        assert fatal is not None
        messages = [f.message for f in check(d) if f.severity == "error" and f.code.startswith("master-")]
        assert fatal.group(1).strip() in messages, (err, messages)


def test_builtin_defaults_are_postconf_d(postconf: str, tmp_path: Path) -> None:
    d = make_config_dir(tmp_path / "empty")
    proc = run_postfix_tool([postconf, "-c", str(d), "-d", "-C", "builtin"], check=True)
    printed = {}
    for line in proc.stdout.decode().splitlines():
        name, _, value = line.partition(" =")
        printed[name] = value[1:] if value.startswith(" ") else value
    host_dependent = {"myhostname", "mydomain", "mynetworks", "process_id"}
    ours = builtin_defaults()
    assert set(ours) == set(printed) == set(builtin_parameters())
    assert {n: v for n, v in ours.items() if n not in host_dependent} == {
        n: v for n, v in printed.items() if n not in host_dependent}


def test_service_suffixes_are_what_postconf_derives(postconf: str, tmp_path: Path) -> None:
    master = "".join(f"x{c} unix - n n - - {c}{' user=nobody argv=/bin/true' if c in ('pipe', 'spawn') else ''}\n"
                     for c in service_suffixes())
    d = make_config_dir(tmp_path / "svc", b"", master.encode())
    proc = run_postfix_tool([postconf, "-c", str(d), "-d", "-C", "service", "-H"], check=True)
    printed = set(proc.stdout.decode().split())
    assert printed == {f"x{c}{s}" for c, suffixes in service_suffixes().items() for s in suffixes}


def test_dbms_suffixes_are_known_to_postconf(postconf: str, tmp_path: Path) -> None:
    for kind, suffixes in dbms_suffixes().items():
        main = f"alias_maps = {kind}:pfx\n" + "".join(f"pfx_{s} = 1\n" for s in suffixes) + "pfx_nonsense = 1\n"
        d = make_config_dir(tmp_path / kind, main.encode(), b"")
        rc, unused, _, err = postconf_names(postconf, d)
        assert rc == 0 and unused == {("main", "pfx_nonsense")}, err


def test_obsolete_parameters_and_replacements_are_builtin() -> None:
    names = builtin_parameters()
    for info in obsolete_parameters().values():
        assert info.name in names
        assert not info.replacement or info.replacement in names


def test_duplicate_entries_share_one_name_space_for_legacy_tables(postconf: str, tmp_path: Path) -> None:
    """Found by the generated test: u1 comes from the first copy of relay/unix, so ${u1:...} is
    empty in the second and ldapsrc_server_host stays unused (postconf agrees)."""
    d = make_config_dir(tmp_path / "dup", b"myhostname = x\n",
                        b"relay unix - - n - - smtp -o myhostname=x -o u1=x\n"
                        b"relay unix - - n - - smtp -o ldapsrc_server_host=x -o myhostname=${u1:proxy:ldap:ldapsrc}\n")
    assert assert_same_as_postconf(postconf, d)


POSTCONF_REGRESSION = {  # the inputs of Postfix's own postconf tests (src/postconf/Makefile.in)
    "test13-classes-in-master": (b"bar=yes\nbaz=xx\n",
                                 b"foo inet - n n - 0 spawn\n -o smtpd_restriction_classes=bar\n"),
    "test14-classes-in-main": (b"smtpd_restriction_classes=bar\n",
                               b"foo inet - n n - 0 spawn\n -o bar=yes -o baz=xx\n"),
    "test15-hidden-by-master": (b"bar=xx\nbaz=yy\n", b"foo inet - n n - 0 spawn\n -o bar=yes -o always_bcc=$bar$baz\n"),
    "test28-scoping": (b"xx = proxy:ldap:foo\nfoo_domain = bar\nheader_checks = ldap:hh\nhh_domain = whatever\n"
                       b"zz = $yy\nyy = aap\ndb = memcache\naap_domain = whatever\naa_domain = whatever\n",
                       b"whatevershebrings unix - n n - 0 other\n -o body_checks=$db:$zz\n"),
    "test30-glued-o": (b"p1=xx\np2=xx\np3=xx\np4=xx\n", b"whatevershebrings unix - n n - 0 other\n -o body_checks=$p1\n"
                       b" -o bodyx_checks=$p2\n -oheader_checks=$p3\n -oheaderx_checks=$p4\n"),
    "test37-local-shadow": (b"xxx=yyy\naaa=bbb\n", b"whatever unix - n n - 0 other\n -o mydestination=$xxx\n"
                            b" -o always_bcc=$aaa\n -o aaa=ccc\n"),
}


@pytest.mark.parametrize("name", sorted(POSTCONF_REGRESSION))
def test_names_match_postconf_on_its_own_regression_inputs(postconf: str, tmp_path: Path, name: str) -> None:
    main, master = POSTCONF_REGRESSION[name]
    assert assert_same_as_postconf(postconf, make_config_dir(tmp_path / "d", main, master))
