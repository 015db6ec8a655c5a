"""MasterCf: reading semantics, diagnostics and golden before/after edits.

Every expected value is written by hand from the spec (postfix-syntax.md section 5,
rows 46-70) or from the Postfix 3.7.11 transcripts in postfix-cases/M*. Inputs are
explicit byte strings: leading whitespace is syntax, so no dedent anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from postfix_conf.errors import (
    AmbiguousEditError,
    InvalidNameError,
    InvalidValueError,
    MalformedEntryError,
    NotFoundError,
    PostfixConfError,
)
from postfix_conf.master_cf import MasterCf, Service

from .conftest import EXAMPLES

M02 = (b"submission inet n - y - - smtpd\n"
       b"  -o syslog_name=postfix/submission\n"
       b"  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
       b"  -osmtpd_tls_security_level=encrypt\n"
       b"  -vo smtpd_sasl_auth_enable=yes\n"
       b"  -o smtpd_helo_restrictions=\n"
       b"  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n"
       b"foo unix - n n - - pipe\n"
       b"  flags=R user=nobody argv=/bin/echo { two words } {} { a {nested} b } ${recipient}\n")
M05 = (b"# header\n"
       b"smtp      inet  n       -       y       -       -       smtpd\n"
       b"submission inet n       -       y       -       -       smtpd\n"
       b"  -o syslog_name=postfix/submission\n"
       b"# comment inside entry (col 0)\n"
       b"  -o smtpd_tls_security_level=encrypt\n"
       b"    # indented comment inside entry\n"
       b"\n"
       b"  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
       b"  -o smtpd_sasl_auth_enable=yes\n"
       b"pickup    unix  n       -       y       60      1       pickup\n")
M06 = (b"smtp      inet  n       -       y       -       -       smtpd\n"
       b"  -o first=1\n"
       b"# inside comment\n"
       b"  -o second=2\n"
       b"pickup    unix  n       -       y       60      1       pickup\n"
       b"smtp      inet  n       -       y       -       -       smtpd -o dup=yes\n"
       b"smtp      unix  -       -       y       -       -       smtp\n")
M08 = (b"smtp      inet  n       -       y       -       -       smtpd\n"
       b"foo unix - n n - - pipe\n"
       b"  flags=R user=nobody argv=/bin/echo {} { two words } end\n")
M12 = (b"submission inet n - y - - smtpd\n"
       b"  -o smtpd_client_restrictions=permit_mynetworks, reject\n"
       b"  -o syslog_name=postfix/submission\n")
M13 = (b"smtp      inet  n       -       n       -       -       smtpd\r\n"
       b"  -o syslog_name=x\r\n"
       b"pickup\tunix\tn\t-\tn\t60\t1\tpickup\r\n"
       b"weird unix - - n - - -\r\n")


def parse(data: bytes) -> MasterCf:
    m = MasterCf.parse(data)
    assert m.to_bytes() == data
    return m


def codes(m: MasterCf) -> list[tuple[int, str, str]]:
    return [(d.line, d.severity, d.code) for d in m.diagnostics]


# -- reading ------------------------------------------------------------------------------
def test_m02_option_forms_and_braces() -> None:
    m = parse(M02)
    sub = m.get("submission", "inet")
    assert sub is not None
    assert sub.options == {
        "syslog_name": "postfix/submission",
        "smtpd_client_restrictions": "permit_sasl_authenticated, reject",
        "smtpd_tls_security_level": "encrypt",
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_helo_restrictions": "",
        "smtpd_recipient_restrictions": "permit_sasl_authenticated,reject",
    }
    assert sub.command_line == (  # postconf -F submission/inet/command, transcript M02
        "smtpd -o syslog_name=postfix/submission -o {smtpd_client_restrictions=permit_sasl_authenticated,"
        " reject} -o smtpd_tls_security_level=encrypt -v -o smtpd_sasl_auth_enable=yes"
        " -o smtpd_helo_restrictions= -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject")
    foo = m.get("foo", "unix")
    assert foo is not None
    assert foo.args == ("flags=R", "user=nobody", "argv=/bin/echo", "two words", "", "a {nested} b",
                        "${recipient}")
    assert foo.options == {}
    assert foo.command_line == ("pipe flags=R user=nobody argv=/bin/echo {two words}  {a {nested} b} "
                                "${recipient}")
    assert codes(m) == []


def test_service_fields_as_postconf_names() -> None:
    m = parse(b"relay     unix  -       -       y       -       -       smtp\n"
              b"        -o syslog_name=postfix/$service_name\n")
    assert m.services() == [Service("relay", "unix", "-", "-", "y", "-", "-", "smtp",
                                    ("-o", "syslog_name=postfix/$service_name"),
                                    {"syslog_name": "postfix/$service_name"}, 1)]
    assert m.services()[0].fields == {  # postconf -F relay/unix, transcript M01
        "service": "relay", "type": "unix", "private": "-", "unprivileged": "-", "chroot": "y",
        "wakeup": "-", "process_limit": "-", "command": "smtp -o syslog_name=postfix/$service_name"}


def test_row69_unbraced_value_ends_at_space() -> None:
    m = parse(M12)
    sub = m.get("submission", "inet")
    assert sub is not None
    assert sub.options == {"smtpd_client_restrictions": "permit_mynetworks,"}
    assert sub.command_line == ("smtpd -o smtpd_client_restrictions=permit_mynetworks, reject "
                                "-o syslog_name=postfix/submission")
    assert codes(m) == [(2, "error", "unbraced-value-words"), (3, "warning", "option-after-argument")]


def test_m03_brace_glued_to_o() -> None:
    m = parse(b"submission inet n - y - - smtpd\n  -o{smtpd_helo_restrictions=}\n")
    assert m.services()[0].options == {}
    assert codes(m) == [(2, "error", "glued-brace-option")]


@pytest.mark.parametrize(("line", "code", "message"), [
    (b"smtp inet n - y - -", "bad-field-count", "bad field count"),
    (b"smtp tcp n - y - - smtpd", "invalid-type", 'invalid type field "tcp" in "smtp tcp n - y - - smtpd"'),
    (b"smtp inet yes - y - - smtpd", "invalid-private",
     'invalid private field "yes" in "smtp inet yes - y - - smtpd"'),
    (b"smtp inet n - y 60s - smtpd", "invalid-wakeup",
     'invalid wakeup field "60s" in "smtp inet n - y 60s - smtpd"'),
    (b"smtp inet n - y - 1x smtpd", "invalid-process-limit",
     'invalid process_limit field "1x" in "smtp inet n - y - 1x smtpd"'),
    (b"smtp inet - - Y - - smtpd", "invalid-chroot", 'invalid chroot field "Y" in "smtp inet - - Y - - smtpd"'),
    (b"smtp\x0binet n - n - - smtpd", "bad-field-count", "bad field count"),  # \v is no separator
])
def test_m04_fields_postconf_rejects(line: bytes, code: str, message: str) -> None:
    m = parse(line + b"\n")
    assert m.services() == []
    diags = [d for d in m.diagnostics if d.code == code]
    assert [(d.line, d.severity, d.message) for d in diags] == [(1, "error", message)]


@pytest.mark.parametrize(("line", "code"), [
    (b"smtp inet n - y ? - smtpd", "wakeup-question"),
    (b"smtp inet n - y -? - smtpd", "wakeup-question"),
    (b"smtp inet y - y - - smtpd", "inet-private"),
    (b"smtp inet - - y - - smtpd", "inet-private"),
    (b"weird unix - - n - - -", "dash-command"),
    (b"{smtp} inet n - n - - smtpd", "brace-in-field"),
    (b"smtp inet n - n - - {smtpd x}", "brace-in-field"),
    (b"[x] inet n - n - - smtpd", "invalid-inet-name"),
    (b"smtp inet n - n - - smtpd -o", "option-without-value"),
    (b"smtp inet n - n - - smtpd -o foo", "invalid-option"),
])
def test_master_daemon_rejects_what_postconf_accepts(line: bytes, code: str) -> None:
    m = parse(line + b"\n")
    assert len(m.services()) == 1
    assert (1, "error", code) in codes(m)


def test_accepted_forms_row52() -> None:
    m = parse(b"smtp inet n - y 60? - smtpd\n127.0.0.1:10025 inet n - n - - smtpd\n"
              b"[::1]:10025 inet n - n - - smtpd\npostlog unix-dgram n - n - 1 postlogd\n"
              b"pass1 pass - - n - - smtpd\nfifo1 fifo n - n 60 1 pickup\n")
    assert [s.key for s in m.services()] == [("smtp", "inet"), ("127.0.0.1:10025", "inet"),
                                             ("[::1]:10025", "inet"), ("postlog", "unix-dgram"),
                                             ("pass1", "pass"), ("fifo1", "fifo")]
    assert codes(m) == []


def test_crlf_tabs_row70() -> None:
    m = parse(M13)
    assert [(s.key, s.command_line) for s in m.services()] == [
        (("smtp", "inet"), "smtpd -o syslog_name=x"), (("pickup", "unix"), "pickup"),
        (("weird", "unix"), "-")]
    assert m.get("pickup", "unix") == Service("pickup", "unix", "n", "-", "n", "60", "1", "pickup", (), {}, 3)


def test_comments_and_blanks_inside_entry_m05() -> None:
    m = parse(M05)
    sub = m.get("submission", "inet")
    assert sub is not None and sub.line == 3
    assert list(sub.options) == ["syslog_name", "smtpd_tls_security_level", "smtpd_client_restrictions",
                                 "smtpd_sasl_auth_enable"]
    assert m.get("pickup", "unix") is not None and codes(m) == []


def test_duplicates_m06() -> None:
    m = parse(M06)
    assert [s.options for s in m.find("smtp", "inet")] == [{"first": "1", "second": "2"}, {"dup": "yes"}]
    assert m.get("smtp", "inet") == m.find("smtp", "inet")[-1]  # the master daemon uses the last
    assert codes(m) == [(6, "warning", "duplicate-service")]


@pytest.mark.parametrize(("a", "b"), [(b"smtp", b"25"), (b"smtps", b"submissions"), (b"submission", b"587"),
                                      (b"127.0.0.1:smtp", b"127.0.0.1:25"), (b"lmtp", b"024")])
def test_duplicate_endpoints(a: bytes, b: bytes) -> None:
    m = parse(a + b" inet n - n - - smtpd\n" + b + b" inet n - n - - smtpd\n")
    assert codes(m) == [(2, "warning", "duplicate-endpoint")]


def test_orphan_nul_and_split_name_type() -> None:
    m = parse(b"  orphan unix - - n - - smtp\nsmtp inet n - n - - smtpd -o a=b\0 -o c=d\n"
              b"pickup\n  unix n - n 60 1 pickup\n")
    assert [(s.key, s.options) for s in m.services()] == [(("smtp", "inet"), {"a": "b"}),
                                                          (("pickup", "unix"), {})]
    assert codes(m) == [(1, "warning", "orphan-continuation"), (2, "warning", "nul-byte"),
                        (4, "warning", "name-type-split")]


def test_diagnostic_line_is_the_physical_line_of_the_problem() -> None:
    m = parse(b"# c\nsmtp inet n - n - - smtpd\n  -o a=b\n# x\n  -o{c=d}\n")
    assert codes(m) == [(5, "error", "glued-brace-option")]


def test_stock_lines_19_to_34_uncommented_m10() -> None:
    data = (b"submission inet n       -       y       -       -       smtpd\n"
            b"  -o syslog_name=postfix/submission\n"
            b"  -o smtpd_reject_unlisted_recipient=no\n"
            b"     Instead of specifying complex smtpd_<xxx>_restrictions here,\n"
            b"  -o smtpd_client_restrictions=\n")
    m = parse(data)
    assert m.services()[0].options == {"syslog_name": "postfix/submission",
                                       "smtpd_reject_unlisted_recipient": "no"}
    assert codes(m) == [(4, "error", "unbraced-value-words"), (5, "warning", "option-after-argument")]


def test_postconf_quirk_glued_o_is_reported() -> None:
    m = parse(b"smtp inet n - n - - smtpd -osyslog_name=x\n")
    assert m.services()[0].options == {"syslog_name": "x"}  # what the daemon's getopt reads
    assert codes(m) == [(1, "warning", "postconf-misreads-option")]


def test_disabled_lists_commented_services_not_prose() -> None:
    m = MasterCf.read(EXAMPLES / "master.cf")
    keys = [s.key for s in m.disabled()]
    assert ("submission", "inet") in keys and ("submissions", "inet") in keys
    assert ("service", "type") not in keys
    sub = m.disabled("submission", "inet")
    assert len(sub) == 1 and sub[0].line == 24 and len(sub[0].options) == 5


# -- golden edits ---------------------------------------------------------------------------
def edited(data: bytes, op: Callable[[MasterCf], bool], expected: bytes, *, repeat: bool = True) -> MasterCf:
    m = parse(data)
    assert op(m) is True
    assert m.to_bytes() == expected
    if repeat:
        assert op(m) is False, "a repeated edit must change nothing"
        assert m.to_bytes() == expected
    return m


def test_row53_set_existing_option_keeps_comments_in_place() -> None:
    expected = M05.replace(b"smtpd_tls_security_level=encrypt", b"smtpd_tls_security_level=may")
    edited(M05, lambda m: m.set_option("submission", "inet", "smtpd_tls_security_level", "may"), expected)


def test_row54_new_option_goes_after_the_last_option() -> None:
    expected = M05.replace(b"  -o smtpd_sasl_auth_enable=yes\n",
                           b"  -o smtpd_sasl_auth_enable=yes\n  -o milter_macro_daemon_name=ORIGINATING\n")
    edited(M05, lambda m: m.set_option("submission", "inet", "milter_macro_daemon_name", "ORIGINATING"),
           expected)


def test_row55_delete_option_removes_its_line() -> None:
    expected = M05.replace(b"  -o smtpd_sasl_auth_enable=yes\n", b"")
    edited(M05, lambda m: m.delete_option("submission", "inet", "smtpd_sasl_auth_enable"), expected)


def test_braced_option_keeps_its_form() -> None:
    expected = M05.replace(b"-o { smtpd_client_restrictions = permit_sasl_authenticated, reject }",
                           b"-o { smtpd_client_restrictions = permit_mynetworks, reject }")
    edited(M05, lambda m: m.set_option("submission", "inet", "smtpd_client_restrictions",
                                       "permit_mynetworks, reject"), expected)


def test_value_with_whitespace_is_braced() -> None:
    expected = M05.replace(b"  -o syslog_name=postfix/submission\n",
                           b"  -o { syslog_name = postfix submission }\n")
    edited(M05, lambda m: m.set_option("submission", "inet", "syslog_name", "postfix submission"), expected)


@pytest.mark.parametrize(("old", "param", "value", "new"), [
    (b"-osmtpd_tls_security_level=encrypt", "smtpd_tls_security_level", "may",
     b"-osmtpd_tls_security_level=may"),
    (b"-vo smtpd_sasl_auth_enable=yes", "smtpd_sasl_auth_enable", "no", b"-vo smtpd_sasl_auth_enable=no"),
    (b"-o smtpd_helo_restrictions=", "smtpd_helo_restrictions", "reject", b"-o smtpd_helo_restrictions=reject"),
    (b"-osmtpd_tls_security_level=encrypt", "smtpd_tls_security_level", "a b",
     b"-o { smtpd_tls_security_level = a b }"),
])
def test_option_forms_m02(old: bytes, param: str, value: str, new: bytes) -> None:
    edited(M02, lambda m: m.set_option("submission", "inet", param, value), M02.replace(old, new))


@pytest.mark.parametrize(("old", "param", "new"), [
    (b"  -vo smtpd_sasl_auth_enable=yes\n", "smtpd_sasl_auth_enable", b"  -v\n"),
    (b"  -osmtpd_tls_security_level=encrypt\n", "smtpd_tls_security_level", b""),
    (b"  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n", "smtpd_client_restrictions",
     b""),
])
def test_delete_option_forms(old: bytes, param: str, new: bytes) -> None:
    edited(M02, lambda m: m.delete_option("submission", "inet", param), M02.replace(old, new))


def test_inline_options_stay_inline() -> None:
    data = b"smtp inet n - n - - smtpd -o a=1 -o b=2\npickup unix n - n 60 1 pickup\n"
    edited(data, lambda m: m.set_option("smtp", "inet", "c", "3"),
           b"smtp inet n - n - - smtpd -o a=1 -o b=2 -o c=3\npickup unix n - n 60 1 pickup\n")
    edited(data, lambda m: m.delete_option("smtp", "inet", "a"),
           b"smtp inet n - n - - smtpd -o b=2\npickup unix n - n 60 1 pickup\n")
    edited(data, lambda m: m.delete_option("smtp", "inet", "b"),
           b"smtp inet n - n - - smtpd -o a=1\npickup unix n - n 60 1 pickup\n")


def test_first_option_of_single_line_entry_goes_on_a_continuation_line() -> None:
    data = b"smtp      inet  n       -       n       -       -       smtpd\n"
    edited(data, lambda m: m.set_option("smtp", "inet", "syslog_name", "postfix/smtp"),
           data + b"  -o syslog_name=postfix/smtp\n")


def test_row59_every_duplicate_is_edited() -> None:
    expected = (b"smtp      inet  n       -       y       -       -       smtpd\n"
                b"  -o first=1\n"
                b"# inside comment\n"
                b"  -o second=2\n"
                b"  -o dup=no\n"
                b"pickup    unix  n       -       y       60      1       pickup\n"
                b"smtp      inet  n       -       y       -       -       smtpd -o dup=no\n"
                b"smtp      unix  -       -       y       -       -       smtp\n")
    edited(M06, lambda m: m.set_option("smtp", "inet", "dup", "no"), expected)


def test_row58_disable_and_remove_all_copies() -> None:
    # exact bytes from the M06 transcript: postconf -M# / -MX do not reformat
    edited(M06, lambda m: m.disable("smtp", "inet"),
           b"#smtp      inet  n       -       y       -       -       smtpd\n#  -o first=1\n# inside comment\n"
           b"#  -o second=2\npickup    unix  n       -       y       60      1       pickup\n"
           b"#smtp      inet  n       -       y       -       -       smtpd -o dup=yes\n"
           b"smtp      unix  -       -       y       -       -       smtp\n")
    edited(M06, lambda m: m.remove("smtp", "inet"),
           b"# inside comment\npickup    unix  n       -       y       60      1       pickup\n"
           b"smtp      unix  -       -       y       -       -       smtp\n")


def test_row57_add_service_replaces_first_copy_and_drops_the_rest() -> None:
    expected = (b"smtp      inet  n       -       n       -       1       postscreen\n"
                b"# inside comment\n"
                b"pickup    unix  n       -       y       60      1       pickup\n"
                b"smtp      unix  -       -       y       -       -       smtp\n")
    edited(M06, lambda m: m.add_service("smtp", "inet", "n", "-", "n", "-", "1", "postscreen"), expected)


def test_row60_add_service_repairs_missing_final_newline() -> None:
    data = (b"smtp      inet  n       -       y       -       -       smtpd\n"
            b"pickup    unix  n       -       y       60      1       pickup")
    expected = (data + b"\nsubmission inet n       -       y       -       -       smtpd\n"
                b"  -o syslog_name=postfix/submission\n  -o smtpd_tls_security_level=encrypt\n")
    edited(data, lambda m: m.add_service("submission", "inet", "n", "-", "y", "-", "-", "smtpd", options={
        "syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt"}), expected)


def test_add_service_pipe_layout_and_postconf_columns_on_empty_file() -> None:
    expected = (b"maildrop   unix  -       n       n       -       -       pipe\n"
                b"  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient} { two words } {}\n")
    edited(b"", lambda m: m.add_service("maildrop", "unix", "-", "n", "n", "-", "-", "pipe", args=(
        "flags=DRXhu", "user=vmail", "argv=/usr/bin/maildrop", "-d", "${recipient}", "two words", "")),
        expected)


def test_row63_new_option_before_the_first_non_option_keeps_empty_braces() -> None:
    expected = M08.replace(b"  flags=R", b"  -o x=1\n  flags=R")
    edited(M08, lambda m: m.set_option("foo", "unix", "x", "1"), expected)


def test_non_options_on_the_same_line_get_the_option_inline() -> None:
    data = b"foo unix - n n - - pipe flags=R argv=/bin/true\n"
    edited(data, lambda m: m.set_option("foo", "unix", "x", "1"),
           b"foo unix - n n - - pipe -o x=1 flags=R argv=/bin/true\n")


def test_option_before_double_dash() -> None:
    data = b"foo unix - n n - - prog -o a=1 -- -o b=2\n"
    edited(data, lambda m: m.set_option("foo", "unix", "b", "3"), b"foo unix - n n - - prog -o a=1 -o b=3 -- -o b=2\n")


def test_row70_crlf_is_kept() -> None:
    edited(M13, lambda m: m.set_option("smtp", "inet", "syslog_name", "y"), M13.replace(b"=x\r", b"=y\r"))
    edited(M13, lambda m: m.set_option("smtp", "inet", "a", "b"),
           M13.replace(b"  -o syslog_name=x\r\n", b"  -o syslog_name=x\r\n  -o a=b\r\n"))
    edited(M13, lambda m: m.set_field("pickup", "unix", "wakeup", "300"), M13.replace(b"\t60\t", b"\t300\t"))


@pytest.mark.parametrize(("field", "value", "old", "new"), [
    ("wakeup", "-", b"tlsmgr    unix  -       -       y       1000?   1       tlsmgr",
     b"tlsmgr    unix  -       -       y       -       1       tlsmgr"),
    ("process_limit", "100", b"pickup    unix  n       -       y       60      1       pickup",
     b"pickup    unix  n       -       y       60      100     pickup"),
    ("chroot", "n", b"pickup    unix  n       -       y       60      1       pickup",
     b"pickup    unix  n       -       n       60      1       pickup"),
    ("command", "oqmgr", b"qmgr      unix  n       -       n       300     1       qmgr",
     b"qmgr      unix  n       -       n       300     1       oqmgr"),
    ("process_limit", "123456789", b"pickup    unix  n       -       y       60      1       pickup",
     b"pickup    unix  n       -       y       60      123456789 pickup"),
    ("service", "pickup2", b"pickup    unix  n       -       y       60      1       pickup",
     b"pickup2   unix  n       -       y       60      1       pickup"),
])
def test_field_edits_keep_columns(field: str, value: str, old: bytes, new: bytes) -> None:
    data = (b"pickup    unix  n       -       y       60      1       pickup\n"
            b"qmgr      unix  n       -       n       300     1       qmgr\n"
            b"tlsmgr    unix  -       -       y       1000?   1       tlsmgr\n")
    name = old.split()[0].decode()
    edited(data, lambda m: m.set_field(name, "unix", field, value), data.replace(old, new),
           repeat=field != "service")


def test_set_command_line_like_fe() -> None:
    data = (b"uucp      unix  -       n       n       -       -       pipe\n"
            b"  flags=Fqhu user=uucp argv=uux -r -n -z -a$sender - $nexthop!rmail ($recipient)\n"
            b"# after\n")
    expected = (b"uucp      unix  -       n       n       -       -       pipe flags=F user=uucp argv=uux\n"
                b"# after\n")
    m = edited(data, lambda m: m.set_field("uucp", "unix", "command", "pipe flags=F user=uucp argv=uux"),
               expected)
    assert m.services()[0].command_line == "pipe flags=F user=uucp argv=uux"
    m = parse(data)  # only the program name changes: only its token changes
    assert m.set_field("uucp", "unix", "command", "pipe2 flags=Fqhu  user=uucp argv=uux -r -n -z -a$sender - "
                       "$nexthop!rmail ($recipient)")
    assert m.to_bytes() == data.replace(b"pipe\n", b"pipe2\n")


def test_enable_stock_submission_in_the_example() -> None:
    data = (EXAMPLES / "master.cf").read_bytes()
    commented = (b"#submission inet n       -       n       -       -       smtpd\n"
                 b"#  -o syslog_name=postfix/submission\n"
                 b"#  -o smtpd_tls_security_level=encrypt\n"
                 b"#  -o smtpd_sasl_auth_enable=yes\n"
                 b"#  -o smtpd_tls_auth_only=yes\n"
                 b"#  -o smtpd_reject_unlisted_recipient=no\n"
                 b"#     Instead of specifying complex smtpd_<xxx>_restrictions here,\n")
    enabled = (b"submission inet n       -       n       -       -       smtpd\n"
               b"  -o syslog_name=postfix/submission\n"
               b"  -o smtpd_tls_security_level=encrypt\n"
               b"  -o smtpd_sasl_auth_enable=yes\n"
               b"  -o smtpd_tls_auth_only=yes\n"
               b"  -o smtpd_reject_unlisted_recipient=no\n"
               b"#     Instead of specifying complex smtpd_<xxx>_restrictions here,\n")
    assert data.count(commented) == 1
    m = parse(data)
    assert m.enable("submission", "inet") is True
    assert m.to_bytes() == data.replace(commented, enabled)
    assert m.enable("submission", "inet") is False
    sub = m.get("submission", "inet")
    assert sub is not None and sub.line == 24 and list(sub.options) == [
        "syslog_name", "smtpd_tls_security_level", "smtpd_sasl_auth_enable", "smtpd_tls_auth_only",
        "smtpd_reject_unlisted_recipient"]
    assert [d for d in m.diagnostics if d.severity == "error"] == []
    assert m.disable("submission", "inet") is True and m.to_bytes() == data


def test_enable_through_comments_takes_the_second_group() -> None:
    data = (EXAMPLES / "master.cf").read_bytes()
    m = parse(data)
    assert m.enable("submissions", "inet", through_comments=True)
    sub = m.get("submissions", "inet")
    assert sub is not None and sub.options == {
        "syslog_name": "postfix/submissions", "smtpd_tls_wrappermode": "yes", "smtpd_sasl_auth_enable": "yes",
        "smtpd_reject_unlisted_recipient": "no", "smtpd_client_restrictions": "", "smtpd_helo_restrictions": "",
        "smtpd_sender_restrictions": "", "smtpd_relay_restrictions": "",
        "smtpd_recipient_restrictions": "permit_sasl_authenticated,reject",
        "milter_macro_daemon_name": "ORIGINATING"}
    assert b"#     Instead of specifying" in m.to_bytes()
    assert m.to_bytes().count(b"\n#  -o") == 11  # only the submission block stays commented


def test_enable_edge_cases() -> None:
    m = parse(b"smtp inet n - n - - smtpd\n")
    assert m.enable("smtp", "inet") is False
    with pytest.raises(NotFoundError):
        m.enable("submission", "inet")
    two = b"#foo unix - n n - - pipe\n#  flags=R argv=/a\n# other\n#foo unix - n n - - pipe\n#  flags=X argv=/b\n"
    m = parse(two)
    with pytest.raises(AmbiguousEditError):
        m.enable("foo", "unix")
    assert m.enable("foo", "unix", which="first")
    assert m.to_bytes() == two.replace(b"#foo unix - n n - - pipe\n#  flags=R", b"foo unix - n n - - pipe\n  flags=R")
    prose = b"# service type  private unpriv  chroot  wakeup  maxproc command + args\n#  smtp is on\n"
    assert parse(prose).disabled() == []
    orphan = b"#foo unix - n n - - pipe\n# c\n  orphan text\n"
    with pytest.raises(NotFoundError):  # enabling would swallow the orphan continuation
        parse(orphan).enable("foo", "unix")
    relay = (b"#relay     unix  -       -       n       -       -       smtp\n"
             b"#        -o syslog_name=postfix/$service_name\n"
             b"#       -o smtp_helo_timeout=5 -o smtp_connect_timeout=5\n")
    m = parse(relay)
    assert m.enable("relay", "unix")
    assert m.to_bytes() == relay.replace(b"#relay", b"relay").replace(b"#        -o", b"        -o")


def test_enable_refuses_a_duplicate_endpoint() -> None:
    m = parse(b"submissions inet n - n - - smtpd\n#smtps inet n - n - - smtpd\n")
    with pytest.raises(InvalidNameError):
        m.enable("smtps", "inet")


def test_add_service_goes_after_its_commented_example() -> None:
    data = (EXAMPLES / "master.cf").read_bytes()
    m = parse(data)
    assert m.add_service("submission", "inet", "n", "-", "n", "-", "-", "smtpd",
                         options={"syslog_name": "postfix/submission"})
    anchor = b"#  -o milter_macro_daemon_name=ORIGINATING\n# Choose one: enable submissions"
    new = (b"#  -o milter_macro_daemon_name=ORIGINATING\n"
           b"submission inet n       -       n       -       -       smtpd\n"
           b"  -o syslog_name=postfix/submission\n"
           b"# Choose one: enable submissions")
    assert m.to_bytes() == data.replace(anchor, new)


def test_stock_file_add_service_uses_the_file_columns() -> None:
    m = parse(b"smtp      inet  n       -       y       -       -       smtpd\n")
    assert m.add_service("relay", "unix", "-", "-", "n", "-", "-", "smtp")
    assert m.to_bytes().endswith(b"\nrelay     unix  -       -       n       -       -       smtp\n")


# -- refusals: specific exceptions, document unchanged -------------------------------------
@pytest.mark.parametrize(("op", "error"), [
    (lambda m: m.set_option("smtp", "inet", "a", "x\ny"), InvalidValueError),
    (lambda m: m.set_option("smtp", "inet", "a", "x\0y"), InvalidValueError),
    (lambda m: m.set_option("smtp", "inet", "a", "{x"), InvalidValueError),
    (lambda m: m.set_option("smtp", "inet", "a b", "x"), InvalidNameError),
    (lambda m: m.set_option("smtp", "inet", "a=b", "x"), InvalidNameError),
    (lambda m: m.set_option("smtp", "inet", "process_name", "x"), InvalidNameError),
    (lambda m: m.set_option("nosuch", "inet", "a", "b"), NotFoundError),
    (lambda m: m.set_field("smtp", "inet", "maxproc", "5"), InvalidNameError),
    (lambda m: m.set_field("smtp", "inet", "private", "y"), InvalidValueError),
    (lambda m: m.set_field("smtp", "inet", "wakeup", "?"), InvalidValueError),
    (lambda m: m.set_field("smtp", "inet", "command", "-"), InvalidValueError),
    (lambda m: m.set_field("smtp", "inet", "command", "smtpd -o"), InvalidValueError),
    (lambda m: m.set_field("smtp", "inet", "service", "a/b"), InvalidNameError),
    (lambda m: m.set_field("pickup", "unix", "service", "split"), InvalidNameError),
    (lambda m: m.set_field("relay", "unix", "type", "inet"), InvalidValueError),
    (lambda m: m.add_service("25", "inet", "n", "-", "n", "-", "-", "smtpd"), InvalidNameError),
    (lambda m: m.add_service("x", "inet", "y", "-", "n", "-", "-", "smtpd"), InvalidValueError),
    (lambda m: m.add_service("x y", "unix", "-", "-", "n", "-", "-", "smtpd"), InvalidNameError),
    (lambda m: m.add_service("x", "tcp", "-", "-", "n", "-", "-", "smtpd"), InvalidValueError),
    (lambda m: m.add_service("x", "unix", "-", "-", "n", "-", "-", "smtpd -v"), InvalidValueError),
    (lambda m: m.add_service("x", "unix", "-", "-", "n", "-", "-", "smtpd", args=("a\nb",)), InvalidValueError),
    (lambda m: m.set_option("split", "unix", "a", "b"), MalformedEntryError),
    (lambda m: m.set_field("split", "unix", "chroot", "y"), MalformedEntryError),
    (lambda m: m.set_option("cut", "inet", "a", "b"), MalformedEntryError),
    (lambda m: m.delete_option("cut", "inet", "syslog_name"), MalformedEntryError),
    (lambda m: m.set_option("nul", "unix", "a", "b"), MalformedEntryError),
    (lambda m: m.set_field("short", "unix", "chroot", "y"), MalformedEntryError),
])
def test_unsafe_edits_raise_and_change_nothing(op: Callable[[MasterCf], object],
                                                error: type[PostfixConfError]) -> None:
    data = (b"smtp inet n - n - - smtpd\npickup unix n - n 60 1 pickup\nrelay unix - - n - - smtp\n"
            b"split\n  unix - - n - - smtp\n"
            b"cut inet n - n - - smtpd -o x=a, b -o syslog_name=y\nnul unix - - n - - sm\0tp\n"
            b"short unix - -\n")
    m = parse(data)
    with pytest.raises(error):
        op(m)
    assert m.to_bytes() == data


def test_split_entry_can_still_be_disabled_and_removed_row67() -> None:
    data = b"smtp\n  inet n - n - - smtpd\npickup unix n - n 60 1 pickup\n"
    edited(data, lambda m: m.disable("smtp", "inet"),
           b"#smtp\n#  inet n - n - - smtpd\npickup unix n - n 60 1 pickup\n")
    edited(data, lambda m: m.set_option("pickup", "unix", "a", "b"), data + b"  -o a=b\n")


def test_missing_targets_are_no_ops() -> None:
    m = parse(M06)
    assert not m.delete_option("smtp", "inet", "nosuch")
    assert not m.delete_option("nosuch", "inet", "a")
    assert not m.disable("nosuch", "unix") and not m.remove("nosuch", "unix")
    assert m.to_bytes() == M06


def test_fixture_tricky_file_round_trips_and_reads() -> None:
    path = Path(__file__).parent / "fixtures" / "master" / "tricky.cf"
    m = MasterCf.read(path)
    assert m.to_bytes() == path.read_bytes()
    assert [s.key for s in m.services()] == [("smtp", "inet"), ("submission", "inet"), ("127.0.0.1:10025", "inet"),
                                             ("dovecot", "unix"), ("relay", "unix")]
