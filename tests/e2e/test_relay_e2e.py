"""Issue #5: with a real Postfix, mail actually leaves through the authenticated relay.

``pfedit apply relay-auth`` runs as a subprocess (the real console entry point) on a
throw-away Postfix instance's config dir; the instance is then started and mail is
submitted to it. What counts is what the fake upstream MSA on 127.0.0.1 records:
the message arrived, over an encrypted connection, authenticated as the configured
user. Nothing ever leaves the loopback interface (see postfix_instance.py).
"""

from __future__ import annotations

import os
import re
import smtplib
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, localtime
from pathlib import Path

import pytest

from .conftest import MsaFactory, PostfixFactory, need_e2e
from .fake_msa import FakeMsa, Received
from .postfix_instance import HOSTNAME, PostfixInstance

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postfix,
    pytest.mark.root,
    # The implicit-TLS fake MSA must require AUTH without aiosmtpd's STARTTLS-only TLS check.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

USERNAME = "relay-user@example.jp"
PASSWORD = "s3cr3t-Pa55:with#odd chars"  # survives postmap and both SASL mechanisms
SENDER = "alice@office.example"
RECIPIENT = "bob@example.net"
DELIVERY = 30.0  # seconds; a delivery normally takes well under one


def pfedit_apply(inst: PostfixInstance, relayhost: str, password: str, *extra: str,
                 check: bool = True) -> subprocess.CompletedProcess[str]:
    """``pfedit apply relay-auth`` on the instance, the password from a 0600 file; it must succeed."""
    pw = inst.root / f"relay-password-{uuid.uuid4().hex[:8]}"
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PFEDIT_RELAY_PASSWORD", "MAIL_CONFIG")}
    env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    argv = [sys.executable, "-m", "pfedit", "apply", "relay-auth", "--config-dir", str(inst.config_dir),
            "--relayhost", relayhost, "--username", USERNAME, "--password-file", str(pw), *extra]
    inst.commands.append(" ".join(argv[1:]))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert password not in output
    assert proc.returncode == 0 or not check, f"pfedit failed ({proc.returncode}):\n{output}\n{inst.describe()}"
    return proc


def make_message(subject: str) -> tuple[bytes, str]:
    msg = EmailMessage()
    message_id = f"<{uuid.uuid4().hex}@{HOSTNAME}>"
    msg["From"] = SENDER
    msg["To"] = RECIPIENT
    msg["Subject"] = subject
    msg["Date"] = format_datetime(localtime())
    msg["Message-ID"] = message_id
    msg.set_content(f"{subject}\n\nsent by the pfedit end-to-end tests\n")
    return msg.as_bytes(), message_id


def wait_relayed(msa: FakeMsa, inst: PostfixInstance, message_id: str, *, log_offset: int = 0) -> Received:
    """The message as the MSA received it; fails at once if Postfix defers or bounces it instead."""
    return msa.wait_for(lambda r: r.message_id == message_id, DELIVERY, describe=inst.describe,
                        give_up=inst.not_delivered(log_offset))


def assert_relayed(got: Received, *, login: str = USERNAME, recipient: str = RECIPIENT) -> None:
    assert got.tls, got
    assert got.tls_version in ("TLSv1.2", "TLSv1.3"), got
    assert got.login == login, got
    assert got.mail_from == SENDER, got
    assert got.rcpt_tos == (recipient,), got


def queue_empty(inst: PostfixInstance) -> None:
    inst.wait_queue(lambda q: not q, 30, "an empty queue")


@pytest.mark.parametrize("base", ["debian", "examples"])
def test_mail_leaves_through_the_authenticated_relay(start_msa: MsaFactory, postfix_instance: PostfixFactory,
                                                     base: str) -> None:
    msa = start_msa({USERNAME: PASSWORD})
    inst = postfix_instance(base)
    pfedit_apply(inst, msa.relayhost, PASSWORD)
    assert inst.postconf("relayhost", "smtp_tls_security_level", "smtp_sasl_auth_enable") == {
        "relayhost": msa.relayhost, "smtp_tls_security_level": "encrypt", "smtp_sasl_auth_enable": "yes"}
    inst.start()

    data, message_id = make_message("relay-auth end to end")
    inst.sendmail(data, SENDER, [RECIPIENT])

    got = wait_relayed(msa, inst, message_id)
    assert_relayed(got)
    assert got.mechanism in ("PLAIN", "LOGIN")
    assert [a.success for a in msa.attempts] == [True], msa.attempts
    queue_empty(inst)
    assert len(msa.messages_with_id(message_id)) == 1
    log = inst.log()
    assert re.search(rf"to=<{re.escape(RECIPIENT)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:{msa.port}, .*status=sent",
                     log), inst.describe()
    # The relay's certificate was checked against smtp_tls_CAfile (level encrypt logs but does not require it).
    assert f"Trusted TLS connection established to 127.0.0.1[127.0.0.1]:{msa.port}" in log, inst.describe()
    # Starting Postfix (post-install create-missing) changed nothing pfedit manages: a rerun has nothing to do.
    assert pfedit_apply(inst, msa.relayhost, PASSWORD).stdout == "already up to date\n"


def test_wrong_password_defers_and_the_fixed_password_delivers(start_msa: MsaFactory,
                                                               postfix_instance: PostfixFactory) -> None:
    msa = start_msa({USERNAME: PASSWORD})
    inst = postfix_instance()
    pfedit_apply(inst, msa.relayhost, "not-the-password")
    inst.start()
    data, message_id = make_message("deferred, then delivered")
    inst.sendmail(data, SENDER, [RECIPIENT])

    failed = msa.wait_for_auth_failure(USERNAME, DELIVERY, describe=inst.describe)
    assert failed.tls, failed  # the wrong password, too, only ever crossed an encrypted connection
    queue = inst.wait_queue(lambda q: len(q) == 1 and q[0]["queue_name"] == "deferred", DELIVERY,
                            "the message in the deferred queue")
    reasons = [r.get("delay_reason", "") for r in queue[0]["recipients"]]
    assert [r["address"] for r in queue[0]["recipients"]] == [RECIPIENT]
    assert any("535" in r for r in reasons), reasons
    assert queue[0]["sender"] == SENDER
    assert msa.received == []

    log_offset = len(inst.log())
    fixed = pfedit_apply(inst, msa.relayhost, PASSWORD)
    assert f"update-entry {msa.relayhost}" in fixed.stdout, fixed.stdout
    inst.flush()

    got = wait_relayed(msa, inst, message_id, log_offset=log_offset)
    assert_relayed(got)
    queue_empty(inst)
    assert len(msa.received) == 1  # delivered once: nothing lost, nothing duplicated


def test_implicit_tls_wrapper_mode(start_msa: MsaFactory, postfix_instance: PostfixFactory) -> None:
    msa = start_msa({USERNAME: PASSWORD}, tls="implicit", name="smtps.pfedit.test")
    inst = postfix_instance()
    # Not port 465, so "auto" would pick STARTTLS: ask for wrapper mode, and for LOGIN only.
    pfedit_apply(inst, msa.relayhost, PASSWORD, "--tls", "wrapper", "--mechanisms", "LOGIN")
    assert inst.postconf("smtp_tls_wrappermode", "smtp_sasl_mechanism_filter") == {
        "smtp_tls_wrappermode": "yes", "smtp_sasl_mechanism_filter": "LOGIN"}
    inst.start()
    data, message_id = make_message("implicit TLS")
    inst.sendmail(data, SENDER, [RECIPIENT])

    got = wait_relayed(msa, inst, message_id)
    assert_relayed(got)
    assert got.mechanism == "LOGIN", got
    queue_empty(inst)


def test_submission_service_relays_only_authenticated_clients(start_msa: MsaFactory,
                                                              postfix_instance: PostfixFactory) -> None:
    need_e2e(("saslpasswd2",))
    client_user, client_password = "laptop", "client pass: 123"
    msa = start_msa({USERNAME: PASSWORD})
    inst = postfix_instance()
    out = pfedit_apply(inst, msa.relayhost, PASSWORD, "--submission").stdout
    assert "submission/inet" in out, out
    inst.enable_sasldb({client_user: client_password})
    inst.start()  # moves submission/inet to an unprivileged loopback port, chroot off
    port = inst.submission_port
    assert port is not None
    options = inst.postconf_P()
    for param, value in {"smtpd_tls_security_level": "encrypt", "smtpd_sasl_auth_enable": "yes",
                         "smtpd_tls_auth_only": "yes", "smtpd_client_restrictions": "permit_sasl_authenticated,reject",
                         "smtpd_relay_restrictions": "permit_sasl_authenticated,reject"}.items():
        assert options[f"127.0.0.1:{port}/inet/{param}"] == value, options
    ctx = inst.certs.client_context()  # verifies the instance's certificate against the test CA

    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.pfedit.test", timeout=30) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        assert not s.has_extn("auth"), "AUTH offered before STARTTLS (smtpd_tls_auth_only)"
        code, reply = s.mail(SENDER)
        assert code == 530, (code, reply)  # smtpd_tls_security_level=encrypt
        s.starttls(context=ctx)
        s.ehlo()
        assert set(s.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}, s.esmtp_features
        code, reply = s.mail(SENDER)
        assert code == 250, (code, reply)
        code, reply = s.rcpt(RECIPIENT)
        assert code // 100 in (4, 5), f"unauthenticated client could relay: {code} {reply!r}"
        s.rset()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(client_user, "wrong password")

    data, message_id = make_message("from an authenticated submission client")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.pfedit.test", timeout=30) as s:
        s.starttls(context=ctx)
        s.login(client_user, client_password)
        refused = s.sendmail(SENDER, [RECIPIENT], data)
        assert refused == {}

    got = wait_relayed(msa, inst, message_id)
    assert_relayed(got)  # upstream with the relay credentials, not the client's
    assert len(msa.received) == 1, msa.received
    queued = rf"\]: [0-9A-F]+: client=\S+, sasl_method=(PLAIN|LOGIN), sasl_username={client_user}@{HOSTNAME}\n"
    assert re.search(queued, inst.log()), inst.describe()
    queue_empty(inst)


def test_reload_switches_the_relayhost_for_the_next_message(start_msa: MsaFactory,
                                                            postfix_instance: PostfixFactory) -> None:
    first = start_msa({USERNAME: PASSWORD}, name="msa-a.pfedit.test")
    second_password = "another secret for B"
    second = start_msa({USERNAME: second_password}, name="msa-b.pfedit.test")
    inst = postfix_instance()
    pfedit_apply(inst, first.relayhost, PASSWORD)
    inst.start()

    data, first_id = make_message("before the reload")
    with smtplib.SMTP("127.0.0.1", inst.smtp_port, local_hostname="client.pfedit.test", timeout=30) as s:
        assert s.sendmail(SENDER, [RECIPIENT], data) == {}  # mynetworks may relay on the smtp port
    assert_relayed(wait_relayed(first, inst, first_id))
    queue_empty(inst)

    log_offset = len(inst.log())
    before = {pid for pid, _, _ in inst.live_processes()} - {inst.master_pid}
    out = pfedit_apply(inst, second.relayhost, second_password, "--reload").stdout
    assert "postfix reloaded" in out, out
    inst.wait_log(r"postfix/master\[\d+\]: reload -- version", 30, after=log_offset)
    wait_gone(inst, before)

    data, second_id = make_message("after the reload")
    inst.sendmail(data, SENDER, [RECIPIENT])
    assert_relayed(wait_relayed(second, inst, second_id, log_offset=log_offset))
    queue_empty(inst)
    assert [r.message_id for r in first.received] == [first_id]
    assert [r.message_id for r in second.received] == [second_id]


def wait_gone(inst: PostfixInstance, pids: set[int], timeout: float = 30.0) -> None:
    """Daemons of the old configuration finish; the next message meets only new ones."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in inst.live_processes() if p[0] in pids]
        if not alive:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"processes of the old configuration still running: {alive}\n{inst.describe()}")
        time.sleep(0.1)


def test_reload_of_a_stopped_postfix_says_why(postfix_instance: PostfixFactory) -> None:
    """The files are written either way; the user must learn that Postfix is not running."""
    inst = postfix_instance()  # never started
    proc = pfedit_apply(inst, "[127.0.0.1]:2525", PASSWORD, "--reload", check=False)
    assert inst.postconf("relayhost") == {"relayhost": "[127.0.0.1]:2525"}  # written before the reload
    assert "not running" in proc.stdout + proc.stderr, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.returncode == 0


def test_instance_is_gone_after_stop(postfix_instance: PostfixFactory, start_msa: MsaFactory) -> None:
    """The fixture's own guarantee: stop leaves no process of the instance behind."""
    msa = start_msa({USERNAME: PASSWORD})
    inst = postfix_instance()
    pfedit_apply(inst, msa.relayhost, PASSWORD)
    inst.start()
    pid = inst.master_pid
    assert pid is not None and inst.live_processes()
    assert inst.stop() == []
    assert not Path(f"/proc/{pid}/stat").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
