"""Every ``fix:`` that ``pfedit check`` prints as a command is safe to paste.

For each finding code whose fix is a command, a hand-written configuration triggers it;
``pfedit check -c DIR --json`` reports it; the fix is run *as printed* with ``bash -c``
(``pfedit``, ``postconf``, ``postmap`` on PATH); then the finding must be gone and no
other setting may have changed: ``postconf -c DIR -n`` (main.cf) and ``postconf -c DIR -P``
(master.cf ``-o``) may differ only in the names the fix itself names. ``MAIL_CONFIG``
points at a decoy directory, which must stay untouched: a fix that forgot ``-c DIR``
would edit it (on a real server: /etc/postfix).

Codes whose fix is prose say so in :data:`PROSE`, with the reason; their trigger (where
test_check.py has one) must still give prose, so a fix that becomes a command must get
a case here.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pfedit.main import app
from postfix_conf.check import CODES
from postfix_conf.check.findings import DIAGNOSTIC_PREFIXES, diagnostic_codes

from .conftest import POSTMAP, make_config_dir, need_postfix, run_postfix_tool
from .test_check import CLEAN_MAIN, GOOD_RELAY, RELAY, SMTP, SUBMISSION, table_line

COMMANDS = ("pfedit", "postconf", "postmap", "postalias", "chmod", "chown")
RELAY_AUTH_SETTINGS = frozenset({"relayhost", "smtp_sasl_auth_enable", "smtp_sasl_password_maps",
                                 "smtp_sasl_security_options", "smtp_sasl_tls_security_options",
                                 "smtp_tls_security_level", "smtp_tls_wrappermode"})
"""What ``pfedit apply relay-auth`` may set (docs/cli.md): its fix changes only these."""
runner = CliRunner()


@dataclass(frozen=True)
class Case:
    main: str
    master: str = SMTP
    table: str | None = None
    table_mode: int = 0o600
    compiled: bool = True
    version: str = "3.7"
    prepare: Callable[[Path], None] | None = None
    expect: str = ""  # a word the fix must contain (which of the possible fixes this case is about)
    forbid: tuple[str, ...] = field(default=())  # words the fix must not contain


def _stale(d: Path) -> None:
    os.utime(d / "sasl_passwd.db", (978307100, 978307100))


def _nobody(d: Path) -> None:
    os.chown(d / "sasl_passwd", 65534, 65534)


NO_PERMIT_MYNETWORKS = CLEAN_MAIN.replace("permit_mynetworks ", "")
MAIN_AUTH = CLEAN_MAIN + "smtpd_sasl_auth_enable = yes\nsmtpd_sasl_security_options = noanonymous\n"
NO_SASL_OPTIONS = GOOD_RELAY.replace("smtp_sasl_security_options = noanonymous\n", "").replace(
    "smtp_sasl_tls_security_options = noanonymous\n", "")

CASES: dict[str, list[Case]] = {
    # -- security
    "open-relay": [
        Case(CLEAN_MAIN.replace("127.0.0.0/8 [::1]/128", "127.0.0.0/8 0.0.0.0/0"), expect="mynetworks=127.0.0.0/8"),
        Case(CLEAN_MAIN, SMTP + SUBMISSION.replace("permit_sasl_authenticated,reject",
                                                   "check_client_access,static:OK,reject"),
             expect="submission/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject"),
        Case(CLEAN_MAIN, SMTP.rstrip() + " -o smtpd_relay_restrictions=check_client_access,static:OK,"
             "reject_unauth_destination\n", expect="postconf"),
        Case(CLEAN_MAIN + "smtpd_relay_restrictions = check_sender_access inline:{ boss@example.com=OK }, "
             "reject_unauth_destination\n", expect="pfedit set"),
    ],
    "open-relay-conditional": [
        Case(CLEAN_MAIN + "mynetworks = 0.0.0.0/0\nsmtpd_relay_restrictions = check_policy_service "
             "inet:127.0.0.1:10023, permit_mynetworks, reject_unauth_destination\n", expect="mynetworks"),
    ],
    "relay-restrictions-fatal": [
        Case(CLEAN_MAIN.replace("defer_unauth_destination", "")),
        Case("myhostname = mail.example.com\n"),
    ],
    "mynetworks-public-relay": [
        Case(CLEAN_MAIN + "mynetworks = 127.0.0.0/8 172.0.0.0/8\n", expect="mynetworks=127.0.0.0/8"),
        Case(CLEAN_MAIN, SMTP.rstrip() + " -o mynetworks=0.0.0.0/1\n", expect="smtp/inet/mynetworks="),
    ],
    "mynetworks-public": [Case(NO_PERMIT_MYNETWORKS.replace("127.0.0.0/8 [::1]/128", "10.0.0.0/8 128.0.0.0/1"),
                               expect="mynetworks=10.0.0.0/8")],
    "sasl-password-cleartext": [Case(CLEAN_MAIN + GOOD_RELAY.replace("encrypt", "may"), table=table_line(RELAY))],
    "sasl-tls-not-enforced": [Case(CLEAN_MAIN + GOOD_RELAY.replace("encrypt", "may").replace(
        "smtp_sasl_security_options = noanonymous", "smtp_sasl_security_options = noplaintext, noanonymous"),
        table=table_line(RELAY))],
    "submission-auth-before-tls": [
        Case(CLEAN_MAIN, SMTP + SUBMISSION.replace("  -o smtpd_tls_security_level=encrypt\n", "").replace(
            "  -o smtpd_tls_auth_only=yes\n", ""), expect="submission/inet/smtpd_tls_security_level=encrypt"),
        Case(MAIN_AUTH, expect="pfedit set"),
        Case(MAIN_AUTH.replace("smtpd_tls_security_level = may", "smtpd_tls_security_level = none"),
             expect="smtpd_tls_security_level=may"),
    ],
    "password-map-readable": [Case(CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY), table_mode=0o644)],
    "password-map-owner": [Case(CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY), prepare=_nobody)],
    # -- relay
    "sasl-no-password-map": [Case(CLEAN_MAIN + GOOD_RELAY.replace("smtp_sasl_password_maps = hash:{d}/sasl_passwd\n",
                                                                  ""))],
    "sasl-no-credentials": [Case(CLEAN_MAIN + GOOD_RELAY, table=table_line("[smtp.example.com]:submission"))],
    "sasl-credentials-unverifiable": [Case(CLEAN_MAIN + GOOD_RELAY.replace(RELAY, "smtp.example.com:587"),
                                           table=table_line(RELAY))],
    "compiled-map-missing": [Case(CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY), compiled=False)],
    "compiled-map-stale": [Case(CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY), prepare=_stale)],
    "relayhost-invalid": [Case(CLEAN_MAIN + "relayhost = [smtp.example.com]:587 # provider\n")],
    "relayhost-mx-lookup": [
        Case(CLEAN_MAIN + "relayhost = smtp.example.com:587\n", expect="pfedit set"),
        Case(CLEAN_MAIN + GOOD_RELAY.replace(RELAY, "smtp.example.com:587"), table=table_line("smtp.example.com:587"),
             expect="relay-auth"),
    ],
    "relayhost-unbracketed-ip": [Case(CLEAN_MAIN + "relayhost = 192.0.2.1:587, [b.example]:587\n",
                                      expect="relayhost=[192.0.2.1]:587, [b.example]:587")],
    "relayhost-empty-element": [Case(CLEAN_MAIN + "relayhost = [a.example]:587,,[b.example]:587\n")],
    "relayhost-list-unsupported": [Case(CLEAN_MAIN + "relayhost = [a.example]:587, [b.example]:587\n",
                                        version="3.4.13", expect="smtp_fallback_relay=[b.example]:587")],
    "relay-smtps-settings": [Case(CLEAN_MAIN + "relayhost = [smtp.example.com]:465\n")],
    "wrappermode-starttls-port": [
        Case(CLEAN_MAIN + f"relayhost = {RELAY}\nsmtp_tls_wrappermode = yes\n"),
        Case(CLEAN_MAIN + f"relayhost = {RELAY}\n", SMTP + "smtp unix - - n - - smtp -o smtp_tls_wrappermode=yes\n",
             expect="-PX"),
    ],
    "sasl-noplaintext": [
        Case(CLEAN_MAIN + NO_SASL_OPTIONS, table=table_line(RELAY), forbid=("smtp_sasl_security_options",)),
        Case(CLEAN_MAIN + NO_SASL_OPTIONS.replace("encrypt", "none"), table=table_line(RELAY),
             expect="smtp_tls_security_level=encrypt"),
    ],
    "sasl-security-options-invalid": [Case(CLEAN_MAIN + GOOD_RELAY.replace(
        "smtp_sasl_security_options = noanonymous", "smtp_sasl_security_options = noanonymous, nonsense"),
        table=table_line(RELAY))],
    "sasl-mechanism-filter-plugin": [Case(CLEAN_MAIN + GOOD_RELAY + "smtp_sasl_mechanism_filter = plain, libplain.so\n",
                                          table=table_line(RELAY))],
    "sasl-mechanism-filter-unknown": [
        Case(CLEAN_MAIN + GOOD_RELAY + "smtp_sasl_mechanism_filter = plain, foo\n", table=table_line(RELAY)),
        Case(CLEAN_MAIN + GOOD_RELAY + "smtp_sasl_mechanism_filter = foo\n", table=table_line(RELAY),
             expect="unset"),
    ],
    # -- hygiene
    "obsolete-parameter": [
        Case(CLEAN_MAIN + "smtp_use_tls = yes\n"),
        Case(CLEAN_MAIN + "disable_dns_lookups = yes\n"),
        Case(CLEAN_MAIN + "smtp_tls_security_level = encrypt\nsmtp_use_tls = no\n",
             forbid=("smtp_tls_security_level",)),
        Case(CLEAN_MAIN.replace("smtpd_tls_security_level = may\n", ""),
             SMTP + "submission inet n - y - - smtpd -o smtpd_use_tls=yes\n", expect="postconf"),
    ],
    "legacy-tls-ignored": [
        Case(CLEAN_MAIN + "smtp_tls_security_level = may\nsmtp_enforce_tls = yes\n"),
        Case(CLEAN_MAIN, SMTP + "submission inet n - n - - smtpd -o smtpd_enforce_tls=yes\n", expect="postconf"),
        # main.cf is port 25 too: mandatory TLS there would refuse mail from servers without TLS
        Case(CLEAN_MAIN + "smtpd_enforce_tls = yes\n", expect="unset", forbid=("encrypt",)),
    ],
    "invalid-boolean": [
        Case(CLEAN_MAIN + "biff = perhaps\n", expect="unset"),
        Case(CLEAN_MAIN + "smtpd_sasl_auth_enable = no   # off\n", expect="smtpd_sasl_auth_enable=no"),
        Case(CLEAN_MAIN, SMTP.rstrip() + " -o smtpd_sasl_auth_enable=maybe\n", expect="-PX"),
    ],
    "invalid-tls-level": [
        Case(CLEAN_MAIN + "smtp_tls_security_level = bogus\n", expect="unset"),
        Case(CLEAN_MAIN + "smtp_tls_security_level = mayy\n", expect="smtp_tls_security_level=may"),
    ],
    # -- names
    "unknown-parameter": [
        # the case: the right name is set, the misspelled one must not overwrite it
        Case(CLEAN_MAIN + "relayhost = [msa.example.jp]:587\nrelay_host = foo\n", expect="unset",
             forbid=("pfedit set",)),
        Case(CLEAN_MAIN + "relay_host = [msa.example.jp]:587\n", expect='relayhost="$(pfedit get'),
        # set, but to the built-in default (Debian's "relayhost ="): nothing is lost by moving the value there
        Case(CLEAN_MAIN + "relayhost =\nrelay_host = [msa.example.jp]:587\n", expect='relayhost="$(pfedit get'),
        # a submission-only list must never become the server's (smtpd_client_restrictions on port 25)
        Case(CLEAN_MAIN + "mua_client_restrictions = permit_sasl_authenticated, reject\n", expect="unset",
             forbid=("smtpd_client_restrictions",)),
        Case(CLEAN_MAIN + "foo_destination_concurrency_limit = 5\n", expect="unset"),
        Case(CLEAN_MAIN, SMTP + "submission inet n - y - - smtpd -o smtpd_tls_security_levl=encrypt\n",
             expect="submission/inet/smtpd_tls_security_level="),
        Case(CLEAN_MAIN, SMTP + "submission inet n - y - - smtpd -o smtpd_tls_security_level=encrypt "
             "-o smtpd_tls_security_levl=may\n", expect="-PX", forbid=("-P ",)),
        Case(CLEAN_MAIN, SMTP + "submission inet n - y - - smtpd -o my_own_setting=1\n", expect="-PX"),
    ],
}

PROSE: dict[str, tuple[str, Case | None]] = {
    "password-in-main-cf": ("the credentials must move to a file: only the user knows them (the relay-auth "
                            "command shown needs the relay too)", Case(CLEAN_MAIN + GOOD_RELAY.replace(
                                "hash:{d}/sasl_passwd", "static:user:pw-S3cret-9"))),
    "sasl-shadowed-credentials": ("an entry of a password map must be deleted, and no pfedit command edits "
                                  "table entries", Case(CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY, "right")
                                                        + table_line("smtp.example.com", "wrong"))),
    "password-map-missing": ("the map must be created with the user's credentials",
                             Case(CLEAN_MAIN + GOOD_RELAY)),
    "config-file-missing": ("the file must be created or copied from the distribution", None),
    "map-missing": ("the table's content is the user's", Case(CLEAN_MAIN + "transport_maps = hash:/nonexistent/t\n")),
    "macro-loop": ("which of the parameters gets a literal value, and which value, is the user's call",
                   Case(CLEAN_MAIN + "mydomain = $myorigin\nmyorigin = $mydomain\n")),
    "obsolete-service-name": ("postconf cannot rename a master.cf entry; the first field is edited by hand",
                              Case(CLEAN_MAIN, SMTP + "smtps inet n - y - - smtpd -o smtpd_tls_wrappermode=yes\n")),
    "misattached-options": ("a commented-out service line must be uncommented by hand", Case(
        CLEAN_MAIN, SMTP + "#submission inet n - y - - smtpd\n  -o syslog_name=postfix/submission\n")),
    "undefined-parameter": ("only the user knows the value the reference should have",
                            Case(CLEAN_MAIN + "smtpd_banner = $myhostnam ESMTP\n")),
}
PARSER_PROSE = ("the line must be edited by hand: the parser reports what Postfix will misread, not what "
                "was meant")
PARSER_TRIGGERS = {"main-missing-equals": Case(CLEAN_MAIN + "this is not a parameter\n"),
                   "master-bad-field-count": Case(CLEAN_MAIN, "smtp inet n - n - smtpd\n"),
                   "table-missing-value": Case(CLEAN_MAIN + GOOD_RELAY, table=table_line(RELAY) + "[o.example]:587\n")}


def write(d: Path, case: Case) -> Path:
    """The configuration of ``case`` (``{d}`` in the texts is the directory), files back-dated."""
    make_config_dir(d, case.main.replace("{d}", str(d)).encode(), case.master.replace("{d}", str(d)).encode())
    if case.table is not None:
        source = d / "sasl_passwd"
        source.write_text(case.table)
        source.chmod(case.table_mode)
        os.utime(source, (978307200, 978307200))
        if case.compiled:
            made = run_postfix_tool([need_postfix(POSTMAP), "-c", str(d), f"hash:{source}"])  # a real compiled map
            assert made.returncode == 0, made.stderr
            (d / "sasl_passwd.db").chmod(case.table_mode)
            os.utime(d / "sasl_passwd.db", (978307300, 978307300))
    if case.prepare is not None:
        case.prepare(d)
    return d


def findings(d: Path, version: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["check", "-c", str(d), "--json", "--postfix-version", version])
    assert result.exit_code in (0, 1), result.output
    data: list[dict[str, object]] = json.loads(result.stdout)
    return data


def settings(d: Path) -> dict[str, str]:
    """main.cf as ``postconf -n`` reads it, and every master.cf ``-o`` as ``postconf -P`` does."""
    out: dict[str, str] = {}
    for flag in ("-n", "-P"):
        proc = run_postfix_tool([need_postfix(), "-c", str(d), flag])
        assert proc.returncode == 0, proc.stderr
        for line in proc.stdout.decode().splitlines():
            name, _, value = line.partition("=")
            out[name.strip()] = value.strip()
    return out


def named(fix: str) -> set[str]:
    """The settings a fix command names: ``pfedit set/unset`` names, ``postconf -P/-PX``
    service/type/name (relay-auth: the settings it manages)."""
    out: set[str] = set()
    for command in fix.split(" && "):
        words = shlex.split(command)
        if words[:3] == ["pfedit", "apply", "relay-auth"]:
            out |= RELAY_AUTH_SETTINGS
            continue
        args = [w for w in words[2:] if not w.startswith("-")]
        if words[0] == "pfedit" and words[1] in ("set", "unset"):
            args = words[4:] if words[2] == "-c" else words[2:]
            out |= {a.partition("=")[0] for a in args}
        elif words[0] == "postconf":
            rest = words[3:] if words[1] == "-c" else words[1:]
            out |= {a.partition("=")[0] for a in rest if not a.startswith("-")}
    return out


def paste(fix: str, tmp_path: Path, decoy: Path) -> subprocess.CompletedProcess[str]:
    """Run the fix as a user pastes it (USER and FILE of relay-auth filled in)."""
    password = tmp_path / "password"
    password.write_text("pasted-Pw-1\n")
    password.chmod(0o600)
    command = fix.replace("--username USER", "--username pasted").replace("--password-file FILE",
                                                                         f"--password-file {password}")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/sbin:/sbin:{env.get('PATH', '')}"
    env["MAIL_CONFIG"] = str(decoy)  # where a command without -c DIR would write
    env.pop("PFEDIT_RELAY_PASSWORD", None)
    return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def is_command(fix: str) -> bool:
    return fix.split(" ", 1)[0] in COMMANDS


CASE_IDS = [(code, i) for code, cases in CASES.items() for i in range(len(cases))]


@pytest.mark.postfix
@pytest.mark.parametrize(("code", "i"), CASE_IDS, ids=[f"{c}-{i}" for c, i in CASE_IDS])
def test_fix_as_printed_removes_the_finding_and_nothing_else(code: str, i: int, tmp_path: Path) -> None:
    need_postfix()
    case = CASES[code][i]
    if case.prepare is _nobody and os.geteuid() != 0:
        pytest.skip("chown needs root")
    d = write(tmp_path / "etc", case)
    decoy = make_config_dir(tmp_path / "decoy", b"# decoy: a fix without -c DIR writes here\n", SMTP.encode())
    decoy_before = {p.name: p.read_bytes() for p in decoy.iterdir()}
    found = [f for f in findings(d, case.version) if f["code"] == code]
    assert found, f"{code}: the fixture does not trigger it"
    before = settings(d)
    for f in found:
        fix = str(f["fix"])
        assert is_command(fix), f"{code}: the fix is prose: {fix}"
        assert case.expect in fix, fix
        assert not any(word in fix for word in case.forbid), fix
        if fix.startswith(("pfedit", "postconf", "postmap", "postalias")):
            assert f"-c {d}" in fix, fix
        proc = paste(fix, tmp_path, decoy)
        assert proc.returncode == 0, f"{fix}\n{proc.stdout}{proc.stderr}"
    left = [f for f in findings(d, case.version) if f["code"] == code]
    assert left == [], left
    after = settings(d)
    allowed = set().union(*(named(str(f["fix"])) for f in found))
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed <= allowed, (changed - allowed, [f["fix"] for f in found])
    assert {p.name: p.read_bytes() for p in decoy.iterdir()} == decoy_before


def test_every_code_is_a_command_case_or_prose_with_a_reason() -> None:
    assert not set(CASES) & set(PROSE)
    assert set(CASES) | set(PROSE) == set(CODES)
    assert all(reason for reason, _ in PROSE.values())
    assert set(DIAGNOSTIC_PREFIXES) == {"main", "master", "table"} and PARSER_PROSE
    assert set(PARSER_TRIGGERS) <= set(diagnostic_codes())


PROSE_TRIGGERS = [(code, case) for code, (_, case) in PROSE.items() if case is not None] + list(
    PARSER_TRIGGERS.items())


@pytest.mark.parametrize(("code", "case"), PROSE_TRIGGERS, ids=[c for c, _ in PROSE_TRIGGERS])
def test_prose_fixes_stay_prose(code: str, case: Case, tmp_path: Path) -> None:
    """If one of these becomes a command, it needs a case in CASES (and must pass it)."""
    d = write(tmp_path / "etc", case)
    found = [f for f in findings(d, case.version) if f["code"] == code]
    assert found and all(not is_command(str(f["fix"])) for f in found), found
