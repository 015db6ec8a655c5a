"""``postfix_conf.check``: every finding code, on a hand-written bad config and its clean twin.

Expected values are hand-written from the spec (sections cited per test) or from
Postfix behaviour confirmed elsewhere (tests/test_check_smtpd.py runs the real smtpd,
tests/test_check_postconf.py compares with postconf). No test derives an expectation
from our own output.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from postfix_conf.check import CODES, Finding, check
from postfix_conf.check.findings import diagnostic_codes

from .conftest import REPO, make_config_dir

CLEAN_MAIN = """\
compatibility_level = 3.6
myhostname = mail.example.com
mydestination = $myhostname, localhost
mynetworks = 127.0.0.0/8 [::1]/128
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
smtpd_tls_security_level = may
"""
SMTP = "smtp      inet  n       -       y       -       -       smtpd\n"
SUBMISSION = """\
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
"""
RELAY = "[smtp.example.com]:587"
GOOD_RELAY = f"""\
relayhost = {RELAY}
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:{{d}}/sasl_passwd
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
smtp_tls_security_level = encrypt
"""
PASSWORD = "pw-S3cret-9"


def run(tmp_path: Path, main: str = CLEAN_MAIN, master: str = SMTP, *, version: str = "3.7",
        table: str | None = None, table_mode: int = 0o600, compiled: bool = True) -> list[Finding]:
    """Write a config dir (``{d}`` in the texts is the dir) and check it."""
    d = tmp_path / "etc"
    make_config_dir(d, main.replace("{d}", str(d)).encode(), master.replace("{d}", str(d)).encode())
    if table is not None:
        source = d / "sasl_passwd"
        source.write_text(table)
        source.chmod(table_mode)
        os.utime(source, (978307200, 978307200))
        if compiled:
            db = d / "sasl_passwd.db"
            db.write_bytes(b"compiled")
            db.chmod(table_mode)
    return check(d, postfix_version=version)


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def only(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, findings
    return found[0]


def table_line(key: str, user: str = "user") -> str:
    return f"{key} {user}:{PASSWORD}\n"


# -- the baseline ----------------------------------------------------------------------------------

def test_clean_config_has_no_findings(tmp_path: Path) -> None:
    found = run(tmp_path, CLEAN_MAIN + GOOD_RELAY, SMTP + SUBMISSION, table=table_line(RELAY))
    assert found == []


def test_finding_format(tmp_path: Path) -> None:
    f = only(run(tmp_path, CLEAN_MAIN + "smtpd_tls_security_levle = may\n"), "unknown-parameter")
    assert str(f) == f"{tmp_path}/etc/main.cf:7: warning: {f.message} [unknown-parameter]"
    assert f.to_dict() == {"code": "unknown-parameter", "severity": "warning", "file": f"{tmp_path}/etc/main.cf",
                           "line": 7, "message": f.message, "fix": f.fix}


# -- security: open relay (restriction lists; the real smtpd agrees, see test_check_smtpd.py) ------

def test_open_relay_by_mynetworks(tmp_path: Path) -> None:
    bad = run(tmp_path, CLEAN_MAIN + "mynetworks = 0.0.0.0/0\n")
    f = only(bad, "open-relay")
    assert f.severity == "error" and f.line == 7 and "0.0.0.0/0" in f.message and "smtp/inet" in f.message
    assert "mynetworks=" in f.fix
    assert "open-relay" not in codes(run(tmp_path / "ok", CLEAN_MAIN + "mynetworks = 10.0.0.0/8\n"))


def test_open_relay_by_permit_on_submission_override(tmp_path: Path) -> None:
    """A bare 'permit' first would stop smtpd at start-up; an access table that says OK does not."""
    master = SMTP + SUBMISSION.replace("permit_sasl_authenticated,reject", "check_client_access,static:OK,reject")
    f = only(run(tmp_path, CLEAN_MAIN, master), "open-relay")
    assert f.file.endswith("master.cf") and f.line == 7  # the -o smtpd_relay_restrictions line
    assert "submission/inet" in f.message and "'check_client_access static:OK'" in f.message
    assert f.fix == f"postconf -c {tmp_path}/etc -P submission/inet/smtpd_relay_restrictions=" \
                    "permit_sasl_authenticated,reject"


def test_open_relay_through_dollar_indirection(tmp_path: Path) -> None:
    main = CLEAN_MAIN + "mua_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
    master = SMTP + "submission inet n - y - - smtpd -o smtpd_relay_restrictions=$mua_relay_restrictions" \
                    " -o mynetworks=0.0.0.0/0\n"
    f = only(run(tmp_path, main, master), "open-relay")
    assert "submission/inet" in f.message
    assert "open-relay" not in codes(run(tmp_path / "ok", main, master.replace("0.0.0.0/0", "127.0.0.0/8")))


def test_open_relay_through_restriction_class(tmp_path: Path) -> None:
    main = CLEAN_MAIN + "smtpd_restriction_classes = trusted\ntrusted = permit\n"
    bad = run(tmp_path, main + "smtpd_relay_restrictions = trusted, reject_unauth_destination\n")
    assert "open-relay" in codes(bad)
    ok = run(tmp_path / "ok", main.replace("trusted = permit", "trusted = permit_mynetworks")
             + "smtpd_relay_restrictions = trusted, reject_unauth_destination\n")
    assert "open-relay" not in codes(ok)


def test_open_relay_by_forgeable_sender_access(tmp_path: Path) -> None:
    main = CLEAN_MAIN + "smtpd_relay_restrictions = check_sender_access inline:{ boss@example.com=OK }, " \
                        "reject_unauth_destination\n"
    f = only(run(tmp_path, main), "open-relay")
    assert "sender address" in f.message
    ok = main.replace("check_sender_access", "check_client_access").replace("boss@example.com", "192.0.2.7")
    assert "open-relay" not in codes(run(tmp_path / "ok", ok))


def test_postscreen_pass_service_is_checked(tmp_path: Path) -> None:
    master = "smtp inet n - y - 1 postscreen\nsmtpd pass - - y - - smtpd\n"
    f = only(run(tmp_path, CLEAN_MAIN + "mynetworks = 0.0.0.0/0\n", master), "open-relay")
    assert "smtpd/pass" in f.message


def test_loopback_only_services_are_not_relays(tmp_path: Path) -> None:
    main = CLEAN_MAIN + "mynetworks = 0.0.0.0/0\n"
    assert "open-relay" not in codes(run(tmp_path, main, "127.0.0.1:10025 inet n - n - - smtpd\n"))
    assert "open-relay" not in codes(run(tmp_path / "b", main + "inet_interfaces = loopback-only\n"))


def test_open_relay_conditional_on_policy_service(tmp_path: Path) -> None:
    main = CLEAN_MAIN + "mynetworks = 0.0.0.0/0\nsmtpd_relay_restrictions = check_policy_service " \
                        "inet:127.0.0.1:10023, permit_mynetworks, reject_unauth_destination\n"
    f = only(run(tmp_path, main), "open-relay-conditional")
    assert f.severity == "warning" and "check_policy_service inet:127.0.0.1:10023" in f.message


def test_anonymous_sasl_login_does_not_relay(tmp_path: Path) -> None:
    """smtpd_sasl_glue.c permit_sasl_auth() refuses the ANONYMOUS method, whatever the security options.

    The live proof: tests/verify/test_open_relay.py logs in anonymously and is refused.
    """
    main = CLEAN_MAIN + "smtpd_sasl_auth_enable = yes\nsmtpd_tls_auth_only = yes\nsmtpd_sasl_security_options =\n" \
                        "smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\n"
    assert not codes(run(tmp_path, main)) & {"open-relay", "open-relay-conditional"}


def test_relay_restrictions_fatal(tmp_path: Path) -> None:
    """smtpd_check.c has_required(): a destination check before any permit (smtpd -S agrees)."""
    bad = run(tmp_path, CLEAN_MAIN.replace("defer_unauth_destination", ""))
    f = only(bad, "relay-restrictions-fatal")
    assert f.line == 5 and "specify at least one working instance" in f.message
    no_level = "myhostname = mail.example.com\n"  # compatibility_level 0: the default relay list is empty
    f = only(run(tmp_path / "c0", no_level), "relay-restrictions-fatal")
    assert f.line is None and "compatibility_level < 1" in f.message
    assert "relay-restrictions-fatal" not in codes(run(tmp_path / "ok", CLEAN_MAIN))


def test_mynetworks_public_without_open_relay(tmp_path: Path) -> None:
    main = CLEAN_MAIN.replace("permit_mynetworks ", "").replace("127.0.0.0/8 [::1]/128", "128.0.0.0/1")
    found = run(tmp_path, main)
    assert codes(found) == {"mynetworks-public"}
    assert only(found, "mynetworks-public").line == 4
    assert run(tmp_path / "ok", main.replace("128.0.0.0/1", "198.51.100.0/24 10.0.0.0/8")) == []


# -- security: AUTH before TLS, SMTP client passwords -------------------------------------------------

def test_submission_auth_before_tls(tmp_path: Path) -> None:
    master = SMTP + SUBMISSION.replace("  -o smtpd_tls_security_level=encrypt\n", "").replace(
        "  -o smtpd_tls_auth_only=yes\n", "")
    f = only(run(tmp_path, CLEAN_MAIN, master), "submission-auth-before-tls")
    assert f.file.endswith("master.cf") and f.line == 4 and "submission/inet" in f.message
    assert "smtpd_tls_security_level=encrypt" in f.fix
    auth_only = master + "  -o smtpd_tls_auth_only=yes\n"
    assert "submission-auth-before-tls" not in codes(run(tmp_path / "ok", CLEAN_MAIN, auth_only))


def test_submission_legacy_enforce_tls_is_overridden(tmp_path: Path) -> None:
    """Spec section 6: Debian's smtpd_tls_security_level = may silently overrides -o smtpd_enforce_tls=yes."""
    master = SMTP + "submission inet n - n - - smtpd -o smtpd_etrn_restrictions=reject " \
                    "-o smtpd_enforce_tls=yes -o smtpd_sasl_auth_enable=yes\n"
    found = run(tmp_path, CLEAN_MAIN, master)
    assert {"legacy-tls-ignored", "obsolete-parameter", "submission-auth-before-tls"} <= codes(found)
    f = only(found, "legacy-tls-ignored")
    assert f.file.endswith("master.cf") and "smtpd_tls_security_level = may" in f.message
    assert f.fix == f"postconf -c {tmp_path}/etc -PX submission/inet/smtpd_enforce_tls && " \
                    f"postconf -c {tmp_path}/etc -P submission/inet/smtpd_tls_security_level=encrypt"
    without_level = run(tmp_path / "b", CLEAN_MAIN.replace("smtpd_tls_security_level = may\n", ""), master)
    assert "legacy-tls-ignored" not in codes(without_level)  # then enforce_tls does mean encrypt
    assert "submission-auth-before-tls" not in codes(without_level)


def test_sasl_password_cleartext(tmp_path: Path) -> None:
    main = CLEAN_MAIN + GOOD_RELAY.replace("encrypt", "may")
    f = only(run(tmp_path, main, table=table_line(RELAY)), "sasl-password-cleartext")
    assert f.severity == "error" and "'may'" in f.message
    assert f.fix == f"pfedit set -c {tmp_path}/etc smtp_tls_security_level=encrypt"
    empty_options = CLEAN_MAIN + GOOD_RELAY.replace("= noanonymous", "=").replace("encrypt", "none")
    assert "sasl-password-cleartext" in codes(run(tmp_path / "e", empty_options, table=table_line(RELAY)))
    assert run(tmp_path / "ok", CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY)) == []


def test_sasl_tls_not_enforced_with_noplaintext(tmp_path: Path) -> None:
    main = CLEAN_MAIN + GOOD_RELAY.replace("encrypt", "may").replace(
        "smtp_sasl_security_options = noanonymous", "smtp_sasl_security_options = noplaintext, noanonymous")
    found = run(tmp_path, main, table=table_line(RELAY))
    assert codes(found) == {"sasl-tls-not-enforced"}


def test_password_map_permissions(tmp_path: Path) -> None:
    found = run(tmp_path, CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY), table_mode=0o644)
    readable = [f for f in found if f.code == "password-map-readable"]
    assert {Path(f.file).name for f in readable} == {"sasl_passwd", "sasl_passwd.db"}
    assert all("0644" in f.message and f.fix.startswith("chmod 0600 ") for f in readable)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_password_map_owner(tmp_path: Path) -> None:
    found = run(tmp_path, CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY))
    assert found == []
    os.chown(tmp_path / "etc" / "sasl_passwd", 65534, 65534)
    f = only(check(tmp_path / "etc"), "password-map-owner")
    assert f.file.endswith("sasl_passwd") and "uid 65534" in f.message


def test_password_in_main_cf_is_reported_and_masked(tmp_path: Path) -> None:
    main = CLEAN_MAIN + GOOD_RELAY.replace("hash:{d}/sasl_passwd", f"static:user:{PASSWORD}") + \
        f"smtp_sasl_password_maps = static:user:{PASSWORD}\n"  # a duplicate: its diagnostic quotes the value
    found = run(tmp_path, main)
    assert "password-in-main-cf" in codes(found) and "main-duplicate-parameter-same-value" in codes(found)
    text = json.dumps([f.to_dict() for f in found])
    assert PASSWORD not in text


# -- relay correctness -------------------------------------------------------------------------------

def test_sasl_no_password_map(tmp_path: Path) -> None:
    main = CLEAN_MAIN + GOOD_RELAY.replace("smtp_sasl_password_maps = hash:{d}/sasl_passwd\n", "")
    f = only(run(tmp_path, main), "sasl-no-password-map")
    assert f.line == 8 and f"--relayhost '{RELAY}'" in f.fix


def test_sasl_no_credentials_and_near_miss(tmp_path: Path) -> None:
    """Spec 7.1: keys are not canonicalised, ':submission' does not match ':587'."""
    f = only(run(tmp_path, CLEAN_MAIN + GOOD_RELAY, table=table_line("[smtp.example.com]:submission")),
             "sasl-no-credentials")
    assert "smtp.example.com or [smtp.example.com]:587" in f.message
    assert "[smtp.example.com]:submission" in f.message and PASSWORD not in f.message
    assert f.fix == f"pfedit apply relay-auth -c {tmp_path}/etc --relayhost '{RELAY}' --username USER " \
                    "--password-file FILE"


def test_bare_host_entry_is_found_first(tmp_path: Path) -> None:
    """Spec 7.1: the bare host name is looked up before the relayhost as written."""
    assert run(tmp_path, CLEAN_MAIN + GOOD_RELAY, table=table_line("smtp.example.com")) == []
    assert run(tmp_path / "case", CLEAN_MAIN + GOOD_RELAY, table=table_line("[SMTP.Example.COM]:587")) == []


def test_sasl_shadowed_credentials(tmp_path: Path) -> None:
    table = table_line(RELAY, "right") + table_line("smtp.example.com", "wrong")
    f = only(run(tmp_path, CLEAN_MAIN + GOOD_RELAY, table=table), "sasl-shadowed-credentials")
    assert f.file.endswith("sasl_passwd") and f.line == 2 and PASSWORD not in f.message
    same = table_line(RELAY) + table_line("smtp.example.com")
    assert run(tmp_path / "ok", CLEAN_MAIN + GOOD_RELAY, table=same) == []


def test_credentials_for_mx_relayhost_cannot_be_verified(tmp_path: Path) -> None:
    main = CLEAN_MAIN + GOOD_RELAY.replace(RELAY, "smtp.example.com:587")
    found = run(tmp_path, main, table=table_line(RELAY))
    assert {"relayhost-mx-lookup", "sasl-credentials-unverifiable"} <= codes(found)
    f = only(found, "sasl-credentials-unverifiable")
    assert f"the map has {RELAY}" in f.message


def test_password_map_missing(tmp_path: Path) -> None:
    f = only(run(tmp_path, CLEAN_MAIN + GOOD_RELAY), "password-map-missing")
    assert f.line == 9 and "sasl_passwd" in f.message


def test_compiled_map_missing_and_stale(tmp_path: Path) -> None:
    f = only(run(tmp_path, CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY), compiled=False),
             "compiled-map-missing")
    assert f.fix == f"postmap -c {tmp_path}/etc hash:{tmp_path}/etc/sasl_passwd"
    run(tmp_path / "s", CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY))
    db = tmp_path / "s" / "etc" / "sasl_passwd.db"
    os.utime(db, (978307100, 978307100))  # older than the source
    assert codes(check(tmp_path / "s" / "etc")) == {"compiled-map-stale"}


def test_relayhost_invalid(tmp_path: Path) -> None:
    f = only(run(tmp_path, CLEAN_MAIN + "relayhost = [smtp.example.com\n"), "relayhost-invalid")
    assert 'missing "]"' in f.message and f.line == 7
    f = only(run(tmp_path / "h", CLEAN_MAIN + "relayhost = [smtp.example.com]:587 # provider\n"),
             "relayhost-invalid")
    assert "'#' in a main.cf value is not a comment" in f.message


def test_relayhost_forms(tmp_path: Path) -> None:
    found = run(tmp_path, CLEAN_MAIN + "relayhost = smtp.example.com:587\n")
    f = only(found, "relayhost-mx-lookup")
    assert f.fix == f"pfedit set -c {tmp_path}/etc 'relayhost=[smtp.example.com]:587'"
    found = run(tmp_path / "ip", CLEAN_MAIN + "relayhost = 192.0.2.1:587\n")
    assert only(found, "relayhost-unbracketed-ip").fix == f"pfedit set -c {tmp_path}/ip/etc 'relayhost=[192.0.2.1]:587'"
    found = run(tmp_path / "e", CLEAN_MAIN + "relayhost = [a.example]:587,,[b.example]:587\n")
    assert only(found, "relayhost-empty-element").severity == "info"
    assert run(tmp_path / "ok", CLEAN_MAIN + "relayhost = [smtp.example.com]:587\n") == []


def test_relayhost_list_needs_postfix_3_5(tmp_path: Path) -> None:
    main = CLEAN_MAIN + "relayhost = [a.example]:587, [b.example]:587\n"
    f = only(run(tmp_path, main, version="3.4.13"), "relayhost-list-unsupported")
    assert "Postfix 3.4.13" in f.message
    assert run(tmp_path / "ok", main, version="3.5") == []


def test_port_465_needs_wrappermode_and_encrypt(tmp_path: Path) -> None:
    """Spec 8.2."""
    main = CLEAN_MAIN + "relayhost = [smtp.example.com]:465\n"
    f = only(run(tmp_path, main), "relay-smtps-settings")
    assert f.fix == f"pfedit set -c {tmp_path}/etc smtp_tls_wrappermode=yes smtp_tls_security_level=encrypt"
    f = only(run(tmp_path / "w", main + "smtp_tls_wrappermode = yes\n"), "relay-smtps-settings")
    assert f.fix == f"pfedit set -c {tmp_path}/w/etc smtp_tls_security_level=encrypt"
    ok = main + "smtp_tls_wrappermode = yes\nsmtp_tls_security_level = encrypt\n"
    assert run(tmp_path / "ok", ok) == []
    assert run(tmp_path / "s", ok.replace(":465", ":submissions")) == []


def test_wrappermode_on_a_starttls_port(tmp_path: Path) -> None:
    main = CLEAN_MAIN + f"relayhost = {RELAY}\nsmtp_tls_wrappermode = yes\n"
    f = only(run(tmp_path, main), "wrappermode-starttls-port")
    assert f.line == 8 and f.fix == f"pfedit unset -c {tmp_path}/etc smtp_tls_wrappermode"
    transport = SMTP + "relay465 unix - - n - - smtp -o smtp_tls_wrappermode=yes -o smtp_tls_security_level=encrypt\n"
    assert run(tmp_path / "t", CLEAN_MAIN, transport) == []  # a dedicated transport (ecosystem.md §0)


def test_sasl_noplaintext_default(tmp_path: Path) -> None:
    """Spec 8.3: the default noplaintext forbids PLAIN/LOGIN ('No worthy mechs found')."""
    main = CLEAN_MAIN + GOOD_RELAY.replace("smtp_sasl_security_options = noanonymous\n", "").replace(
        "smtp_sasl_tls_security_options = noanonymous\n", "")
    f = only(run(tmp_path, main, table=table_line(RELAY)), "sasl-noplaintext")
    assert "smtp_sasl_tls_security_options = noplaintext, noanonymous" in f.message
    # Only the list for TLS sessions: without TLS, noplaintext still keeps the password off the wire.
    assert f.fix == f"pfedit set -c {tmp_path}/etc smtp_sasl_tls_security_options=noanonymous"


def test_sasl_security_options_invalid(tmp_path: Path) -> None:
    main = CLEAN_MAIN + GOOD_RELAY.replace("smtp_sasl_security_options = noanonymous",
                                           "smtp_sasl_security_options = noanonymous, nonsense")
    f = only(run(tmp_path, main, table=table_line(RELAY)), "sasl-security-options-invalid")
    assert "'nonsense'" in f.message


def test_mechanism_filter(tmp_path: Path) -> None:
    base = CLEAN_MAIN + GOOD_RELAY
    found = run(tmp_path, base + "smtp_sasl_mechanism_filter = plain, libplain.so\n", table=table_line(RELAY))
    assert "'libplain.so'" in only(found, "sasl-mechanism-filter-plugin").message
    found = run(tmp_path / "u", base + "smtp_sasl_mechanism_filter = plain, foo\n", table=table_line(RELAY))
    assert codes(found) == {"sasl-mechanism-filter-unknown"}
    ok = base + "smtp_sasl_mechanism_filter = plain, login, !cram-md5, /etc/postfix/mechs\n"
    assert run(tmp_path / "ok", ok, table=table_line(RELAY)) == []


# -- hygiene -------------------------------------------------------------------------------------------

def test_config_file_missing(tmp_path: Path) -> None:
    found = check(tmp_path / "nowhere")
    assert [(f.code, Path(f.file).name) for f in found] == [("config-file-missing", "main.cf"),
                                                           ("config-file-missing", "master.cf")]


def test_parser_diagnostics_become_findings(tmp_path: Path) -> None:
    found = run(tmp_path, CLEAN_MAIN + "this is not a parameter\n", "smtp inet n - n - smtpd\n")
    f = only(found, "main-missing-equals")
    assert f.severity == "error" and f.line == 7
    assert only(found, "master-bad-field-count").severity == "error"
    bom = run(tmp_path / "bom", "\ufeff" + CLEAN_MAIN)
    assert "main-bom" in codes(bom)


def test_table_diagnostics(tmp_path: Path) -> None:
    found = run(tmp_path, CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY) + "[other.example]:587\n")
    f = only(found, "table-missing-value")
    assert f.file.endswith("sasl_passwd") and f.line == 2


def test_map_missing(tmp_path: Path) -> None:
    f = only(run(tmp_path, CLEAN_MAIN + "transport_maps = hash:/nonexistent/transport\n"), "map-missing")
    assert f.line == 7 and f"postmap -c {tmp_path}/etc hash:/nonexistent/transport" in f.fix
    cache = "smtp_tls_session_cache_database = btree:/nonexistent/smtp_scache\n"
    assert run(tmp_path / "ok", CLEAN_MAIN + cache) == []  # Postfix creates caches itself


def test_macro_loop(tmp_path: Path) -> None:
    found = run(tmp_path, CLEAN_MAIN + "mydomain = $myorigin\nmyorigin = $mydomain\n")
    assert [f.line for f in found if f.code == "macro-loop"] == [7, 8]


def test_obsolete_parameter(tmp_path: Path) -> None:
    f = only(run(tmp_path, CLEAN_MAIN + "smtp_use_tls = yes\n"), "obsolete-parameter")
    c = f"-c {tmp_path}/etc"
    assert f.fix == f"pfedit unset {c} smtp_use_tls && pfedit set {c} smtp_tls_security_level=may"
    f = only(run(tmp_path / "d", CLEAN_MAIN + "disable_dns_lookups = yes\n"), "obsolete-parameter")
    c = f"-c {tmp_path}/d/etc"
    assert f.fix == f"pfedit unset {c} disable_dns_lookups && pfedit set {c} smtp_dns_support_level=disabled"
    f = only(run(tmp_path / "e", CLEAN_MAIN + "smtpd_tls_eecdh_grade = strong\n"), "obsolete-parameter")
    assert f.fix == f"pfedit unset -c {tmp_path}/e/etc smtpd_tls_eecdh_grade"
    # The replacement is set already: the legacy setting does nothing, and its "equivalent" would
    # downgrade the level (smtp_use_tls = yes means may, and encrypt is set).
    f = only(run(tmp_path / "s", CLEAN_MAIN + "smtp_tls_security_level = encrypt\nsmtp_use_tls = yes\n"),
             "obsolete-parameter")
    assert f.fix == f"pfedit unset -c {tmp_path}/s/etc smtp_use_tls" and "smtp_tls_security_level decides" in f.message


def test_legacy_client_tls_ignored(tmp_path: Path) -> None:
    main = CLEAN_MAIN + "smtp_tls_security_level = may\nsmtp_enforce_tls = yes\n"
    f = only(run(tmp_path, main), "legacy-tls-ignored")
    c = f"-c {tmp_path}/etc"
    assert f.line == 8
    assert f.fix == f"pfedit unset {c} smtp_enforce_tls && pfedit set {c} smtp_tls_security_level=encrypt"
    assert "legacy-tls-ignored" not in codes(run(tmp_path / "ok", main.replace("= may", "= encrypt")))


def test_obsolete_service_name(tmp_path: Path) -> None:
    master = SMTP + "smtps inet n - y - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes\n"
    f = only(run(tmp_path, CLEAN_MAIN, master), "obsolete-service-name")
    assert f.severity == "info" and f.line == 2


def test_invalid_boolean(tmp_path: Path) -> None:
    """P01/P02: postfix check says nothing; the daemon stops."""
    f = only(run(tmp_path, CLEAN_MAIN + "biff = perhaps\n"), "invalid-boolean")
    assert "bad boolean configuration: biff = perhaps" in f.message
    f = only(run(tmp_path / "c", CLEAN_MAIN + "smtpd_sasl_auth_enable = no   # off\n"), "invalid-boolean")
    assert "a '#' after a value is not a comment" in f.message
    assert run(tmp_path / "ok", CLEAN_MAIN + "biff = NO\n") == []


def test_invalid_tls_level(tmp_path: Path) -> None:
    f = only(run(tmp_path, CLEAN_MAIN + "smtp_tls_security_level = bogus\n"), "invalid-tls-level")
    assert 'Invalid TLS level "bogus"' in f.message
    assert "invalid-tls-level" in codes(run(tmp_path / "d", CLEAN_MAIN.replace("= may", "= dane")))
    assert "invalid-tls-level" not in codes(run(tmp_path / "v", CLEAN_MAIN.replace("= may", "= verify")))


def test_misattached_options(tmp_path: Path) -> None:
    """Pain point 13: the submission line stayed commented, its -o lines went to the smtp entry."""
    master = SMTP.rstrip("\n") + "\n#submission inet n - y - - smtpd\n  -o syslog_name=postfix/submission\n" \
        "  -o smtpd_tls_security_level=encrypt\n"
    f = only(run(tmp_path, CLEAN_MAIN, master), "misattached-options")
    assert f.line == 3 and "smtp/inet" in f.message
    assert "misattached-options" not in codes(run(tmp_path / "ok", CLEAN_MAIN, SMTP + SUBMISSION))


# -- names ---------------------------------------------------------------------------------------------

def test_unknown_parameter_with_suggestion(tmp_path: Path) -> None:
    main = CLEAN_MAIN.replace("smtpd_tls_security_level = may\n", "")
    f = only(run(tmp_path, main + "smtpd_tls_security_levle = encrypt\n"), "unknown-parameter")
    assert "did you mean smtpd_tls_security_level?" in f.message
    c = f"-c {tmp_path}/etc"
    assert f.fix == f'pfedit set {c} smtpd_tls_security_level="$(pfedit get {c} smtpd_tls_security_levle)" && ' \
                    f"pfedit unset {c} smtpd_tls_security_levle"
    # The right name is set already (CLEAN_MAIN has smtpd_tls_security_level = may): the value
    # Postfix uses stays, the misspelled line goes.
    f = only(run(tmp_path / "both", CLEAN_MAIN + "smtpd_tls_security_levle = encrypt\n"), "unknown-parameter")
    assert f.fix == f"pfedit unset -c {tmp_path}/both/etc smtpd_tls_security_levle"
    assert "smtpd_tls_security_level is set too (line 6)" in f.message
    master = SMTP + "submission inet n - y - - smtpd -o smtpd_tls_security_levl=encrypt\n"
    f = only(run(tmp_path / "m", CLEAN_MAIN, master), "unknown-parameter")
    assert f.file.endswith("master.cf") and f.line == 2 and "smtpd_tls_security_level" in f.message


def test_user_parameters_used_by_reference_are_known(tmp_path: Path) -> None:
    """Spec section 9 rule 3."""
    main = CLEAN_MAIN + "mua_client_restrictions = permit_sasl_authenticated, reject\n"
    master = SMTP + SUBMISSION + "  -o smtpd_client_restrictions=$mua_client_restrictions\n"
    assert run(tmp_path, main, master) == []
    assert codes(run(tmp_path / "u", main)) == {"unknown-parameter"}


def test_service_derived_parameter_without_service(tmp_path: Path) -> None:
    f = only(run(tmp_path, CLEAN_MAIN + "foo_destination_concurrency_limit = 5\n"), "unknown-parameter")
    assert "service named 'foo'" in f.message
    master = SMTP + "foo unix - - n - - smtp\n"
    assert run(tmp_path / "ok", CLEAN_MAIN + "foo_destination_concurrency_limit = 5\n", master) == []


def test_undefined_parameter(tmp_path: Path) -> None:
    f = only(run(tmp_path, CLEAN_MAIN + "smtpd_banner = $myhostnam ESMTP\n"), "undefined-parameter")
    assert f.line == 7 and "did you mean $myhostname?" in f.message
    master = SMTP + "submission inet n - y - - smtpd -o smtpd_sender_restrictions=$mua_sender_restrictions\n"
    f = only(run(tmp_path / "m", CLEAN_MAIN, master), "undefined-parameter")
    assert f.file.endswith("master.cf") and f.line == 2 and "$mua_sender_restrictions" in f.message


# -- the registry and its documentation --------------------------------------------------------------

def test_every_code_is_documented() -> None:
    doc = (REPO / "docs" / "check.md").read_text()
    documented = set(re.findall(r"^### `([a-z0-9-]+)`", doc, re.MULTILINE))
    assert documented == set(CODES) | set(diagnostic_codes())


def test_every_parser_code_is_registered() -> None:
    """A new diagnostic in the parsers must get a documented finding code too."""
    sources = "".join((REPO / "postfix_conf" / name).read_text() for name in (
        "main_cf.py", "master_cf.py", "_master_tokens.py", "table.py"))
    found = set(re.findall(r'(?:Diagnostic\([^,]+,[^,]+?,|Problem\(|warn\(|bad\()\s*"([a-z0-9-]+)"', sources))
    found |= {"invalid-private", "invalid-unprivileged", "invalid-chroot"}  # built as f"invalid-{field}"
    found |= {"missing-name", "missing-equals", "duplicate-service", "duplicate-endpoint"}  # computed codes
    registered = {c.split("-", 1)[1] for c in diagnostic_codes()}
    assert len(found) > 30 and "macro-syntax" in found
    assert found <= registered


def test_open_relay_names_the_permitting_list(tmp_path: Path) -> None:
    """The classic pre-2.10 layout: everything in smtpd_recipient_restrictions."""
    main = CLEAN_MAIN.replace("smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated "
                              "defer_unauth_destination", "smtpd_relay_restrictions =").replace(
        "127.0.0.0/8 [::1]/128", "0.0.0.0/0") + \
        "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n"
    f = only(run(tmp_path, main), "open-relay")
    assert "smtpd_recipient_restrictions permits with permit_mynetworks" in f.message and f.line == 4
