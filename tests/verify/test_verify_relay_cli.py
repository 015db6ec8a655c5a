"""``pfedit verify relay`` through the command, against fake providers on 127.0.0.1.

Each case asserts the stage that fails and its diagnosis (the issue's list: STARTTLS,
implicit TLS, wrong password, application password, a sender other than the login, a
port that never greets, a closed port), plus the missing-plugin case, TLS-mode mix-ups,
certificate levels, the MX path through a fake DNS server, and the password guarantee.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ..e2e.certs import CertFiles
from ..e2e.fake_msa import free_port
from .conftest import PASSWORD, USER, Result, write_config
from .servers import FakeDns, ProviderMsa, SilentServer

Verify = Callable[..., Result]
Msa = Callable[..., ProviderMsa]
WRAPPER = "smtp_tls_wrappermode = yes\n"


def test_starttls_relay_passes_every_stage(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls")
    result = verify(write_config(tmp_path, server.relayhost))
    assert result.status == 0, result.stdout + result.stderr
    for stage in ("settings", "resolve", "connect", "greeting", "tls", "ehlo", "auth", "quit"):
        assert " passed " in result.stage(stage)
    assert "STARTTLS: TLSv1" in result.stage("tls")
    assert "subject O=pfedit e2e tests, CN=msa.pfedit.test" in result.stage("tls")
    assert f"as user {USER}" in result.stage("auth") and "235" in result.stage("auth")
    assert "skipped" in result.stage("send") and server.received == []
    assert [(a.login, a.success, a.tls) for a in server.attempts] == [(USER, True, True)]


def test_implicit_tls_relay_passes(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="implicit")
    result = verify(write_config(tmp_path, server.relayhost, main_extra=WRAPPER))
    assert result.status == 0, result.stdout + result.stderr
    assert "implicit TLS: TLSv1" in result.stage("tls")
    assert [(a.login, a.success, a.tls) for a in server.attempts] == [(USER, True, True)]


def test_starttls_setting_on_an_implicit_tls_port(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="implicit")
    result = verify(write_config(tmp_path, server.relayhost), timeout=1)
    assert result.status == 1
    assert result.failed() == "greeting"
    assert "this port expects implicit TLS: run pfedit apply relay-auth" in result.stage("greeting")
    assert "--tls wrapper" in result.stage("greeting")


def test_wrapper_setting_on_a_starttls_port(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls")
    result = verify(write_config(tmp_path, server.relayhost, main_extra=WRAPPER))
    assert result.status == 1
    assert result.failed() == "tls"
    assert "this port expects STARTTLS: run pfedit apply relay-auth" in result.stage("tls")
    assert "--tls starttls" in result.stage("tls")


def test_wrong_password(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls")
    result = verify(write_config(tmp_path, server.relayhost, password="not-the-password"))
    assert result.status == 1
    assert result.failed() == "auth"
    assert "535 5.7.8" in result.stage("auth")
    assert "wrong user name or password" in result.stage("auth")
    assert "fix: check both with the provider" in result.stage("auth")
    assert [a.success for a in server.attempts] == [False]


def test_user_name_without_domain_gets_the_hint(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls")
    config = write_config(tmp_path, server.relayhost,
                          password_map=f"{server.relayhost} alice:{PASSWORD}\n")
    result = verify(config)
    assert result.failed() == "auth"
    assert "want the full e-mail address as the user name, and the map has 'alice'" in result.stage("auth")


def test_application_specific_password_required(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls", auth_reply="534 5.7.9 Application-specific password required.")
    result = verify(write_config(tmp_path, server.relayhost, password="account-password"))
    assert result.status == 1
    assert result.failed() == "auth"
    assert "534 5.7.9 Application-specific password required." in result.stage("auth")
    assert "requires an application-specific password" in result.stage("auth")
    assert "pfedit apply relay-auth" in result.stage("auth")


def test_provider_rejects_a_sender_other_than_the_login(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls", own_sender_only=True)
    result = verify(write_config(tmp_path, server.relayhost), "--send-to", "bob@example.org")
    assert result.status == 1
    assert result.failed() == "send"
    line = result.stage("send")
    assert "MAIL FROM:<root@client.pfedit.test>: 553 5.7.1" in line  # root@$myorigin, myorigin = $myhostname
    assert "smtp_generic_maps" in line
    assert server.received == []


def test_generic_maps_sender_is_accepted_and_one_message_sent(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls", own_sender_only=True)
    (tmp_path / "generic").write_text(f"@client.pfedit.test {USER}\n")
    config = write_config(tmp_path, server.relayhost, main_extra=f"smtp_generic_maps = hash:{tmp_path}/generic\n")
    result = verify(config, "--send-to", "bob@example.org")
    assert result.status == 0, result.stdout + result.stderr
    assert f"test message from {USER} to bob@example.org accepted" in result.stage("send")
    [message] = server.received
    assert (message.mail_from, message.rcpt_tos, message.login, message.tls) == (
        USER, ("bob@example.org",), USER, True)
    assert message.message["Subject"] == "pfedit verify relay: test message"


def test_port_that_never_greets(tmp_path: Path, silent: SilentServer, verify: Verify) -> None:
    result = verify(write_config(tmp_path, f"[127.0.0.1]:{silent.port}"), timeout=1)
    assert result.status == 1
    assert result.failed() == "greeting"
    assert "accepted the connection but sent no greeting within 1s" in result.stage("greeting")


def test_closed_port(tmp_path: Path, verify: Verify) -> None:
    port = free_port()
    result = verify(write_config(tmp_path, f"[127.0.0.1]:{port}"))
    assert result.status == 1
    assert result.failed() == "connect"
    assert f"127.0.0.1 port {port}: Connection refused" in result.stage("connect")
    assert "nothing listens on that port" in result.stage("connect")


def test_port_25_timeout_blames_the_provider(tmp_path: Path, verify: Verify) -> None:
    """A full accept queue drops further SYNs, so the connect times out, all on 127.0.0.2."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        try:
            listener.bind(("127.0.0.2", 25))
        except OSError as exc:
            pytest.skip(f"cannot bind 127.0.0.2:25 ({exc})")
        listener.listen(0)
        for _ in range(4):  # fill the queue; later SYNs are dropped
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.2", 25))
            fillers.append(s)
        result = verify(write_config(tmp_path, "[127.0.0.2]:25"), timeout=1)
    finally:
        for s in fillers:
            s.close()
        listener.close()
    assert result.failed() == "connect", result.stdout
    assert "no answer within 1s" in result.stage("connect")
    assert "outbound port 25 is probably blocked by your provider: use its submission port 587 or 465" \
        in result.stage("connect")


def test_missing_sasl_plugins(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls")
    empty = tmp_path / "no-plugins"
    empty.mkdir()
    result = verify(write_config(tmp_path / "etc", server.relayhost), env={"PFEDIT_SASL_PLUGIN_DIRS": str(empty)})
    assert result.failed() == "ehlo"
    assert "no Cyrus SASL client plugin" in result.stage("ehlo")
    assert "apt-get install libsasl2-modules" in result.stage("ehlo")
    assert server.attempts == []


def test_default_security_options_forbid_plain_and_login(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    """Postfix's default smtp_sasl_security_options = noplaintext, noanonymous (also inside TLS)."""
    server = msa(tls="starttls")
    config = write_config(tmp_path, server.relayhost)
    main = (config / "main.cf").read_text().replace("smtp_sasl_security_options = noanonymous\n", "")
    (config / "main.cf").write_text(main)
    result = verify(config)
    assert result.failed() == "ehlo"
    assert "smtp_sasl_tls_security_options = noplaintext, noanonymous forbids every offered mechanism" \
        in result.stage("ehlo")
    assert "fix: pfedit set smtp_sasl_tls_security_options=noanonymous" in result.stage("ehlo")


def test_mechanism_filter_that_removes_everything(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls")
    config = write_config(tmp_path, server.relayhost, main_extra="smtp_sasl_mechanism_filter = cram-md5\n")
    result = verify(config)
    assert result.failed() == "ehlo"
    assert "smtp_sasl_mechanism_filter = cram-md5 removes all of them" in result.stage("ehlo")


def test_no_password_map_entry_for_the_relay(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls")
    result = verify(write_config(tmp_path, server.relayhost, key="[other.example]:587"))
    assert result.failed() == "auth"
    assert f"no password map entry for 127.0.0.1, {server.relayhost}" in result.stage("auth")


def test_mx_lookup_and_the_mx_host_key(tmp_path: Path, msa: Msa, verify: Verify, fake_dns: FakeDns) -> None:
    """Unbracketed: smtp(8) looks up MX; the MX host name is tried before the relayhost as written."""
    server = msa(tls="starttls")
    relayhost = f"pfedit.test:{server.port}"
    config = write_config(tmp_path, relayhost, password_map=(
        f"{relayhost} {USER}:wrong-one\nmx.pfedit.test {USER}:{PASSWORD}\n"))
    result = verify(config)
    assert result.status == 0, result.stdout + result.stderr
    assert "(MX 10 mx.pfedit.test) -> mx.pfedit.test 127.0.0.1" in result.stage("resolve")
    assert "key mx.pfedit.test" in result.stage("auth")
    assert ("pfedit.test", "MX") in fake_dns.queries


def test_unknown_domain(tmp_path: Path, verify: Verify) -> None:
    result = verify(write_config(tmp_path, "[nowhere.pfedit.test]:587"))
    assert result.failed() == "resolve"
    assert "nowhere.pfedit.test: no such domain (NXDOMAIN)" in result.stage("resolve")


def test_verify_level_with_the_ca_file(tmp_path: Path, msa: Msa, verify: Verify, certs: CertFiles) -> None:
    server = msa(tls="starttls")
    config = write_config(tmp_path, f"[msa.pfedit.test]:{server.port}", main_extra=(
        f"smtp_tls_security_level = verify\nsmtp_tls_CAfile = {certs.ca_file}\n"))
    result = verify(config)
    assert result.status == 0, result.stdout + result.stderr
    assert "verified (chain trusted, name msa.pfedit.test matches)" in result.stage("tls")


def test_verify_level_without_any_ca(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls")
    config = write_config(tmp_path, f"[msa.pfedit.test]:{server.port}",
                          main_extra="smtp_tls_security_level = verify\n")
    result = verify(config)
    assert result.failed() == "tls"
    assert "certificate not trusted: self-signed certificate in certificate chain" in result.stage("tls")
    assert "issuer O=pfedit e2e tests, CN=pfedit e2e test CA" in result.stage("tls")
    assert "Postfix trusts no CA: pfedit set smtp_tls_CApath=/etc/ssl/certs" in result.stage("tls")


def test_secure_level_name_mismatch(tmp_path: Path, msa: Msa, verify: Verify, certs: CertFiles) -> None:
    """An IP-address relay cannot match: Postfix compares DNS names, not IP SANs."""
    server = msa(tls="starttls")
    config = write_config(tmp_path, server.relayhost, main_extra=(
        f"smtp_tls_security_level = secure\nsmtp_tls_CAfile = {certs.ca_file}\n"))
    result = verify(config)
    assert result.failed() == "tls"
    assert ("has the names localhost, msa.pfedit.test, e2e.pfedit.test, none matches 127.0.0.1, .127.0.0.1 "
            "(smtp_tls_secure_cert_match = nexthop, dot-nexthop)") in result.stage("tls")


def _sha256(certs: CertFiles) -> str:
    cert = x509.load_pem_x509_certificate(certs.cert_file.read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def test_fingerprint_level(tmp_path: Path, msa: Msa, verify: Verify, certs: CertFiles) -> None:
    server = msa(tls="starttls")
    level = "smtp_tls_security_level = fingerprint\nsmtp_tls_fingerprint_digest = sha256\n"
    good = verify(write_config(tmp_path / "good", server.relayhost, main_extra=(
        level + f"smtp_tls_fingerprint_cert_match = {_sha256(certs)}\n")))
    assert good.status == 0, good.stdout + good.stderr
    assert f"fingerprint {_sha256(certs)} matches" in good.stage("tls")
    bad = verify(write_config(tmp_path / "bad", server.relayhost, main_extra=(
        level + "smtp_tls_fingerprint_cert_match = " + ":".join(["AB"] * 32) + "\n")))
    assert bad.failed() == "tls"
    assert f"(certificate {_sha256(certs)}, public key" in bad.stage("tls")


def test_json_has_the_same_stages(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    server = msa(tls="starttls", auth_reply="534 5.7.9 Application-specific password required.")
    result = verify(write_config(tmp_path, server.relayhost, password="account-password"), "--json")
    assert result.status == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["relayhost"] == server.relayhost
    assert [(s["name"], s["status"]) for s in data["stages"]] == [
        ("settings", "passed"), ("resolve", "passed"), ("connect", "passed"), ("greeting", "passed"),
        ("tls", "passed"), ("ehlo", "passed"), ("auth", "failed"), ("send", "skipped"), ("quit", "skipped")]
    auth = data["stages"][6]
    assert "application-specific password" in auth["detail"] and "pfedit apply relay-auth" in auth["fix"]


def test_password_never_leaks_even_when_the_server_echoes_it(tmp_path: Path, msa: Msa, verify: Verify) -> None:
    secret = "Leak-Me-9q8w7e"
    server = msa(tls="starttls", echo_credentials=True)
    config = write_config(tmp_path, server.relayhost, password=secret)
    text = verify(config)
    as_json = verify(config, "--json")
    assert text.failed() == "auth"
    assert "Authentication failed for alice@example.com with password ********" in text.stage("auth")
    encoded = base64.b64encode(secret.encode()).decode()
    for result in (text, as_json):
        for forbidden in (secret, encoded):
            assert forbidden not in result.stdout and forbidden not in result.stderr
            assert forbidden not in " ".join(result.argv)
    assert json.loads(as_json.stdout)["stages"][6]["status"] == "failed"
    # While the client was connected and waiting for the AUTH reply, no process had the password on argv.
    assert len(server.argv_seen) == 2
    for snapshot in server.argv_seen:
        assert any(b"verify\0relay" in argv for argv in snapshot.values())  # the pfedit process was seen
        assert not [pid for pid, argv in snapshot.items() if secret.encode() in argv]


def test_send_to_must_be_an_address(tmp_path: Path, verify: Verify) -> None:
    result = verify(write_config(tmp_path, "[127.0.0.1]:587"), "--send-to", "not an address")
    assert result.status == 2
    assert "--send-to: 'not an address' is not a mail address" in result.stderr


def test_empty_relayhost(tmp_path: Path, verify: Verify) -> None:
    result = verify(write_config(tmp_path, ""))
    assert result.status == 1
    assert result.failed() == "settings"
    assert "relayhost is empty" in result.stage("settings")
