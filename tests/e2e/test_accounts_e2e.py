"""Issue #14 with a real Postfix: several accounts, the provider's own address, and the way back.

Two fake providers on 127.0.0.1 with their own users, one speaking STARTTLS (587 style),
the other implicit TLS (465 style). Each sender's mail must reach its own provider,
encrypted, logged in as its own user, although ``smtp_tls_wrappermode`` is one setting
per transport; and there is no default relayhost (``default_transport = error:``, so
nothing can leave by accident). A third provider accepts only the authenticated address
as sender: local root's mail gets through only once ``--rewrite-sender`` is set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, localtime

import pytest

from ..verify.servers import ProviderMsa
from .certs import CertFiles
from .conftest import MsaFactory, PostfixFactory
from .fake_msa import FakeMsa, Received
from .postfix_instance import HOSTNAME, PostfixInstance

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postfix,
    pytest.mark.root,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

DELIVERY = 30.0
RECIPIENT = "someone@example.net"


def apply(inst: PostfixInstance, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    extra: list[str] = []
    if password is not None:
        pw = inst.root / f"pw-{uuid.uuid4().hex[:8]}"
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        extra = ["--password-file", str(pw)]
    env = {k: v for k, v in os.environ.items() if k not in ("PFEDIT_RELAY_PASSWORD", "MAIL_CONFIG")}
    env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    argv = [sys.executable, "-m", "pfedit", "apply", "relay-auth", "-c", str(inst.config_dir), *args, *extra]
    inst.commands.append(" ".join(argv[1:]))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}\n{inst.describe()}"
    assert password is None or password not in proc.stdout + proc.stderr
    return proc


def send(inst: PostfixInstance, sender: str, subject: str) -> str:
    msg = EmailMessage()
    message_id = f"<{uuid.uuid4().hex}@{HOSTNAME}>"
    msg["From"], msg["To"], msg["Subject"] = sender, RECIPIENT, subject
    msg["Date"], msg["Message-ID"] = format_datetime(localtime()), message_id
    msg.set_content(f"{subject}\n")
    inst.sendmail(msg.as_bytes(), sender, [RECIPIENT])
    return message_id


def arrived(msa: FakeMsa, inst: PostfixInstance, message_id: str, offset: int) -> Received:
    return msa.wait_for(lambda r: r.message_id == message_id, DELIVERY, describe=inst.describe,
                        give_up=inst.not_delivered(offset))


def no_default_relay(inst: PostfixInstance) -> None:
    inst.edit_main(lambda main: main.set("default_transport", "error:no default relay in this test"))


def test_two_accounts_each_through_its_own_provider_and_tls_mode(postfix_instance: PostfixFactory,
                                                                 start_msa: MsaFactory) -> None:
    a = start_msa({"alice-user": "pw-Alice-1"}, "starttls", "msa-a.pfedit.test")
    b = start_msa({"bob-user": "pw-Bob-2"}, "implicit", "msa-b.pfedit.test")
    inst = postfix_instance("debian")
    no_default_relay(inst)
    apply(inst, "--sender", "alice@example.jp", "--relayhost", a.relayhost, "--username", "alice-user",
          password="pw-Alice-1")
    apply(inst, "--sender", "@example.org", "--relayhost", b.relayhost, "--username", "bob-user", "--tls",
          "wrapper", password="pw-Bob-2")
    inst.start()

    offset = len(inst.log())
    first = arrived(a, inst, send(inst, "alice@example.jp", "account A"), offset)
    second = arrived(b, inst, send(inst, "carol@example.org", "account B"), offset)
    assert (first.login, first.mail_from, first.tls) == ("alice-user", "alice@example.jp", True), first
    assert (second.login, second.mail_from, second.tls) == ("bob-user", "carol@example.org", True), second
    assert not b.messages_with_id(first.message_id or "") and not a.messages_with_id(second.message_id or "")

    # Another address of no account is not relayed at all (the test's default transport refuses it).
    offset = len(inst.log())
    stray = send(inst, "mallory@example.com", "no account")
    inst.wait_log(r"status=bounced", DELIVERY, after=offset)
    assert not a.messages_with_id(stray) and not b.messages_with_id(stray)

    # Account A goes away; B still works, A's mail no longer reaches A's provider.
    apply(inst, "--remove", "--sender", "alice@example.jp", "--reload")
    offset = len(inst.log())
    still = arrived(b, inst, send(inst, "dave@example.org", "B after A's removal"), offset)
    assert still.login == "bob-user" and still.tls
    offset = len(inst.log())
    gone = send(inst, "alice@example.jp", "after remove")
    inst.wait_log(r"status=bounced", DELIVERY, after=offset)
    assert not a.messages_with_id(gone)


def test_provider_that_insists_on_its_own_address(certs: CertFiles, postfix_instance: PostfixFactory) -> None:
    msa = ProviderMsa(certs, {"me@provider.example": "pw-Me-3"}, tls="starttls", name="strict.pfedit.test",
                      own_sender_only=True).start()
    try:
        inst = postfix_instance("debian")
        apply(inst, "--relayhost", msa.relayhost, "--username", "me@provider.example", password="pw-Me-3")
        inst.start()
        offset = len(inst.log())
        refused = send(inst, "root", "cron output, as root")
        found = inst.wait_log(r"status=(deferred|bounced).*", DELIVERY, after=offset)
        assert "553" in found.group(0) and not msa.messages_with_id(refused), found.group(0)

        apply(inst, "--relayhost", msa.relayhost, "--username", "me@provider.example", "--rewrite-sender",
              "me@provider.example", "--reload", password="pw-Me-3")
        offset = len(inst.log())
        got = arrived(msa, inst, send(inst, "root", "cron output, rewritten"), offset)
        assert got.mail_from == "me@provider.example" and got.login == "me@provider.example"
        assert got.message["From"].addresses[0].addr_spec == "me@provider.example"  # the header too
    finally:
        msa.stop()
