"""The fake MSA itself, driven by smtplib: the e2e assertions are only as good as what it records.

No Postfix and no root needed; everything stays on 127.0.0.1.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from .certs import CertFiles, make_certs
from .fake_msa import FakeMsa, TlsMode

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

USER, PASSWORD = "user@example.jp", "pass word:#1"
MESSAGE = b"Message-ID: <fake-msa-test@pfedit.test>\r\nSubject: t\r\n\r\nbody\r\n"


@pytest.fixture(scope="module")
def local_certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def msa(local_certs: CertFiles, request: pytest.FixtureRequest) -> Iterator[FakeMsa]:
    tls: TlsMode = request.param
    server = FakeMsa(local_certs, {USER: PASSWORD}, tls=tls).start()
    yield server
    server.stop()


def connect(msa: FakeMsa, certs: CertFiles) -> smtplib.SMTP:
    if msa.tls == "implicit":
        client: smtplib.SMTP = smtplib.SMTP_SSL("127.0.0.1", msa.port, timeout=10, context=certs.client_context())
        client.ehlo()
        return client
    client = smtplib.SMTP("127.0.0.1", msa.port, timeout=10)
    client.ehlo()
    assert not client.has_extn("auth"), "AUTH offered in clear"
    code, _ = client.mail("a@example.net")
    assert code == 530  # STARTTLS first
    client.starttls(context=certs.client_context())
    client.ehlo()
    return client


@pytest.mark.parametrize("msa", ["starttls", "implicit"], indirect=True)
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_records_identity_mechanism_and_tls(msa: FakeMsa, local_certs: CertFiles, mechanism: str) -> None:
    with connect(msa, local_certs) as client:
        assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        code, _ = client.mail("a@example.net")
        assert code == 530  # AUTH required before MAIL FROM
        client.rset()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(USER, "wrong")
        client.user, client.password = USER, PASSWORD
        code, _ = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert code == 235
        assert client.sendmail("a@example.net", ["b@example.org"], MESSAGE) == {}
    got = msa.wait_for(lambda r: True, 10)
    assert (got.login, got.mechanism, got.tls, got.mail_from, got.rcpt_tos) == (
        USER, mechanism, True, "a@example.net", ("b@example.org",))
    assert got.message_id == "<fake-msa-test@pfedit.test>"
    assert [(a.login, a.success) for a in msa.attempts][-1] == (USER, True)
    assert not any(a.success for a in msa.attempts[:-1])


@pytest.mark.parametrize("msa", ["none"], indirect=True)
def test_unencrypted_session_is_recorded_as_such(msa: FakeMsa) -> None:
    """Negative control for the TLS flag the e2e tests rely on."""
    with smtplib.SMTP("127.0.0.1", msa.port, timeout=10) as client:
        client.login(USER, PASSWORD)
        assert client.sendmail("a@example.net", ["b@example.org"], MESSAGE) == {}
    got = msa.wait_for(lambda r: True, 10)
    assert (got.login, got.tls, got.tls_version) == (USER, False, None)
    assert [(a.success, a.tls) for a in msa.attempts] == [(True, False)]
