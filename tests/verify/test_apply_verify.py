"""``pfedit apply relay-auth --verify``: the planned settings are proven against the provider first.

When the provider refuses the login (or the TLS mode is wrong), nothing is written: every
file byte for byte as it was, no compiled map, no state file, exit 1. When it accepts, the
run goes on and writes. Through the ``pfedit`` command, against fake providers on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import EXAMPLES, backdate, need_postfix
from .conftest import PASSWORD, USER
from .servers import FakeDns, ProviderMsa

Msa = Callable[..., ProviderMsa]
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


def config(tmp_path: Path) -> Path:
    d = tmp_path / "etc"
    d.mkdir()
    for name in ("main.cf", "master.cf"):
        (d / name).write_bytes((EXAMPLES / name).read_bytes())
    backdate(d / "main.cf")
    return d


def snapshot(d: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_ino) for p in sorted(d.iterdir())}


def apply(d: Path, dns: FakeDns, relayhost: str, password: str, *extra: str) -> subprocess.CompletedProcess[str]:
    pw = d.parent / "pw"
    pw.write_text(password + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PFEDIT_") and k != "MAIL_CONFIG"}
    env["PFEDIT_NAMESERVER"] = dns.address
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/sbin:/sbin:{os.environ.get('PATH', '')}"
    proc = subprocess.run([sys.executable, "-m", "pfedit", "apply", "relay-auth", "-c", str(d), "--relayhost",
                           relayhost, "--username", USER, "--password-file", str(pw), "--verify", *extra],
                          capture_output=True, text=True, env=env, timeout=120)
    assert password not in proc.stdout + proc.stderr
    return proc


@pytest.mark.parametrize("why", ["wrong password", "implicit TLS port taken for STARTTLS"])
def test_a_failed_verification_writes_nothing(tmp_path: Path, msa: Msa, fake_dns: FakeDns, why: str) -> None:
    need_postfix()
    server = msa(tls="implicit" if why.startswith("implicit") else "starttls")
    d = config(tmp_path)
    before = snapshot(d)
    extra = ("--tls", "starttls") if why.startswith("implicit") else ()
    proc = apply(d, fake_dns, server.relayhost, "not-" + PASSWORD if why == "wrong password" else PASSWORD, *extra)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    stage = "auth" if why == "wrong password" else "greeting"
    assert f"did not pass verification at the {stage} stage" in proc.stderr, proc.stderr
    assert snapshot(d) == before  # no main.cf change, no sasl_passwd(.db), no state file
    assert server.received == []


def test_a_passed_verification_goes_on_and_writes(tmp_path: Path, msa: Msa, fake_dns: FakeDns) -> None:
    need_postfix()
    server = msa(tls="starttls")
    d = config(tmp_path)
    proc = apply(d, fake_dns, server.relayhost, PASSWORD)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "auth     passed" in proc.stderr
    assert (d / "sasl_passwd.db").exists() and f"relayhost = {server.relayhost}" in (d / "main.cf").read_text()
    assert [(a.login, a.success) for a in server.attempts] == [(USER, True)]
    again = apply(d, fake_dns, server.relayhost, PASSWORD)  # nothing to write: still verified
    assert again.returncode == 0 and "auth     passed" in again.stderr and "already up to date" in again.stdout


def test_a_sender_account_is_verified_with_its_own_relay_and_credentials(tmp_path: Path, msa: Msa,
                                                                        fake_dns: FakeDns) -> None:
    need_postfix()
    server = msa(tls="implicit", own_sender_only=True)
    d = config(tmp_path)
    proc = apply(d, fake_dns, server.relayhost, PASSWORD, "--sender", USER, "--tls", "wrapper")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"as user {USER}" in proc.stderr and "auth     passed" in proc.stderr
    assert USER in (d / "sender_relay").read_text()


def test_verify_relay_checks_the_account_of_the_sender_it_is_given(tmp_path: Path, msa: Msa,
                                                                    fake_dns: FakeDns) -> None:
    """Two accounts (a STARTTLS default relay, an implicit-TLS one for USER): each is proven at its own
    server and in its own TLS mode, and --send-to with --sender sends as that sender."""
    need_postfix()
    default, account = msa(tls="starttls"), msa(tls="implicit", own_sender_only=True)
    d = config(tmp_path)
    assert apply(d, fake_dns, default.relayhost, PASSWORD).returncode == 0
    assert apply(d, fake_dns, account.relayhost, PASSWORD, "--sender", USER, "--tls", "wrapper").returncode == 0
    default.attempts.clear()
    account.attempts.clear()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PFEDIT_") and k != "MAIL_CONFIG"}
    env["PFEDIT_NAMESERVER"] = fake_dns.address

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "pfedit", "verify", "relay", "-c", str(d), "--timeout", "5",
                               *extra], capture_output=True, text=True, env=env, timeout=120)
        assert PASSWORD not in proc.stdout + proc.stderr
        return proc

    plain = verify()
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert (len(default.attempts), len(account.attempts)) == (1, 0)
    sent = verify("--sender", USER, "--send-to", "bob@pfedit.test")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert (len(default.attempts), len(account.attempts)) == (1, 1) and account.attempts[0].success
    assert [(r.mail_from, r.rcpt_tos) for r in account.received] == [(USER, ("bob@pfedit.test",))]
    assert default.received == []
    bad = verify("--sender", "not an address")
    assert bad.returncode == 2 and "--sender" in bad.stderr
