"""``--submission`` keeps settings that already do the job, and says what it replaced.

The stock master.cf comment recommends ``-o smtpd_client_restrictions=$mua_client_restrictions``
with the value in main.cf. An option whose *effective* value already meets the goal stays
as written (checked with ``postconf -P`` and ``postconf -Px``); one that differs is
replaced, and the summary shows the value it replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES, POSTCONF, backdate, need_postfix, run_postfix_tool

MAIN_EXTRA = (b"mua_client_restrictions = permit_sasl_authenticated, reject\n"
              b"mua_relay_restrictions = permit_sasl_authenticated reject\n")
MASTER = b"""smtp      inet  n       -       n       -       -       smtpd
submission inet n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=$mua_client_restrictions
  -o smtpd_relay_restrictions=$mua_relay_restrictions
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
"""


def config(tmp_path: Path, master: bytes) -> Path:
    d = tmp_path / "etc"
    d.mkdir()
    (d / "main.cf").write_bytes((EXAMPLES / "main.cf").read_bytes() + MAIN_EXTRA)
    (d / "master.cf").write_bytes((EXAMPLES / "master.cf").read_bytes().split(b"smtp      inet", 1)[0] + master
                                  + b"pickup    unix  n       -       n       60      1       pickup\n")
    backdate(d / "main.cf")
    return d


def apply(d: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    pw = tmp_path / "pw"
    pw.write_text("pw-secret-1\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MAIL_CONFIG", "PFEDIT_RELAY_PASSWORD")}
    return subprocess.run([sys.executable, "-m", "pfedit", "apply", "relay-auth", "-c", str(d), "--relayhost",
                           "[msa.example.jp]:587", "--username", "u@example.jp", "--password-file", str(pw),
                           "--submission", "--no-postmap"], capture_output=True, text=True, env=env, timeout=120)


def postconf_P(d: Path, *flags: str) -> dict[str, str]:
    out = run_postfix_tool([str(POSTCONF), "-c", str(d), "-P", *flags]).stdout.decode()
    return dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)


@pytest.mark.postfix
def test_mua_references_stay_as_written(tmp_path: Path) -> None:
    need_postfix()
    d = config(tmp_path, MASTER)
    proc = apply(d, tmp_path)
    assert proc.returncode == 0, proc.stderr
    raw, effective = postconf_P(d), postconf_P(d, "-x")
    assert raw["submission/inet/smtpd_client_restrictions"] == "$mua_client_restrictions"
    assert raw["submission/inet/smtpd_relay_restrictions"] == "$mua_relay_restrictions"
    assert effective["submission/inet/smtpd_client_restrictions"] == "permit_sasl_authenticated, reject"
    assert b"-o smtpd_client_restrictions=$mua_client_restrictions\n" in (d / "master.cf").read_bytes()
    assert "smtpd_client_restrictions" not in proc.stdout  # nothing to do there
    found = subprocess.run([sys.executable, "-m", "pfedit", "check", "-c", str(d), "--json"], capture_output=True,
                           text=True, timeout=120)
    unused = [f for f in json.loads(found.stdout) if f["code"] == "unknown-parameter" and "mua_" in f["message"]]
    assert unused == []  # still used: postconf -n agrees
    assert "mua_client_restrictions" not in run_postfix_tool([str(POSTCONF), "-c", str(d), "-n"]).stderr.decode()


@pytest.mark.postfix
def test_a_replaced_option_shows_what_it_replaced(tmp_path: Path) -> None:
    need_postfix()
    old = b"permit_mynetworks,permit_sasl_authenticated,reject"
    d = config(tmp_path, MASTER.replace(b"$mua_relay_restrictions", old))
    proc = apply(d, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert ("submission/inet/smtpd_relay_restrictions: 'permit_mynetworks,permit_sasl_authenticated,reject'"
            " -> 'permit_sasl_authenticated,reject'") in proc.stdout
    assert postconf_P(d)["submission/inet/smtpd_relay_restrictions"] == "permit_sasl_authenticated,reject"
