"""``pfedit verify open-relay`` against the real smtpd: open and closed configurations, every address form.

Every expectation is what the real smtpd 3.7 answered a stranger (XCLIENT from
203.0.113.0/24) in the sandbox; the configurations are written here by hand, on top
of Debian's main.cf and its stock master.cf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from postfix_conf.verify.plan import FORMS

from .conftest import HOSTNAME, ConfigFactory, run_verify

pytestmark = [pytest.mark.e2e, pytest.mark.postfix, pytest.mark.root]

ALL_FORMS = {f.key for f in FORMS}
OPEN = "mynetworks = 0.0.0.0/0\n"
SUBMISSION = """\
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
"""


def relayed_forms(service: dict[str, Any]) -> set[str]:
    return {a["form"] for a in service["relayed"]}


def test_open_relay_in_every_address_form(make_config: ConfigFactory, sandbox_parent: Path) -> None:
    d = make_config(OPEN)
    result = run_verify(d)
    assert result.exit_code == 1, result.stdout + result.stderr
    smtp = result.service("smtp/inet")
    assert smtp["verdict"] == "open" and smtp["reachable_by_strangers"] is True
    assert relayed_forms(smtp) == ALL_FORMS
    senders = {a["mail_from"] for a in smtp["relayed"]}
    assert senders == {"", "postmaster@verify.example", "stranger@outside.example"}
    assert {a["helo"] for a in smtp["relayed"]} == {HOSTNAME}
    first = smtp["relayed"][0]
    assert first["form"] == "plain" and first["rcpt"] == "relay-probe@outside.example"
    assert first["reply"].startswith("250 ")
    assert smtp["check_finding"]["code"] == "open-relay"  # the static check explains it
    assert result.report["open_relay"] is True
    assert list(sandbox_parent.iterdir()) == []  # the sandbox is gone


def test_text_report_names_service_form_and_finding(make_config: ConfigFactory, sandbox_parent: Path) -> None:
    result = run_verify(make_config(OPEN), json_output=False)
    assert result.exit_code == 1
    assert "smtp/inet: OPEN" in result.stdout
    assert "RCPT TO:<relay-probe@outside.example> (plain outside address) from <>" in result.stdout
    assert "[open-relay]" in result.stdout
    assert "smtp/inet relays mail for strangers" in result.stderr


def test_debian_defaults_are_closed(make_config: ConfigFactory, sandbox_parent: Path) -> None:
    result = run_verify(make_config())
    assert result.exit_code == 0, result.stdout + result.stderr
    smtp = result.service("smtp/inet")
    assert smtp["verdict"] == "closed" and smtp["relayed"] == [] and smtp["errors"] == []
    assert smtp["counts"] == {"refused": 3 * len(FORMS)}
    assert "454 4.7.1 <relay-probe@outside.example>: Relay access denied" in smtp["summary"]
    assert smtp["check_finding"] is None and smtp["check_verdict"] == "closed"
    assert result.report["open_relay"] is False


def test_local_address_forms_are_not_relaying(make_config: ConfigFactory, sandbox_parent: Path) -> None:
    """smtpd accepts 'relay-probe%outside.example@mx...' for a local user here: not relaying.

    With the percent hack and bang paths off and untrusted routing allowed, most
    forms name a local mailbox; smtpd says 250 to them even on a closed server. The
    oracle (the same smtpd with only reject_unauth_destination) tells them apart.
    """
    extra = "allow_percent_hack = no\nswap_bangpath = no\nallow_untrusted_routing = yes\nlocal_recipient_maps =\n"
    result = run_verify(make_config(extra))
    assert result.exit_code == 0, result.stdout
    smtp = result.service("smtp/inet")
    assert smtp["verdict"] == "closed" and smtp["relayed"] == []
    local = smtp["counts"]["local"] // 3
    assert local > 0 and smtp["counts"]["refused"] == 3 * (len(FORMS) - local)


def test_dns_checks_do_not_hide_an_open_relay(make_config: ConfigFactory, sandbox_parent: Path) -> None:
    """Without DNS, reject_unknown_recipient_domain defers (450) what it would let through."""
    result = run_verify(make_config(OPEN + "smtpd_recipient_restrictions = reject_unknown_recipient_domain\n"))
    assert result.exit_code == 1
    smtp = result.service("smtp/inet")
    assert smtp["verdict"] == "open"
    plain = next(a for a in smtp["relayed"] if a["form"] == "plain")
    assert plain["outcome"] == "deferred-dns" and "Domain not found" in plain["reply"]


def test_auth_before_starttls_reported_per_service(make_config: ConfigFactory, sandbox_parent: Path) -> None:
    master = (Path("/usr/share/postfix/master.cf.dist").read_text() + SUBMISSION
              + SUBMISSION.replace("submission inet", "2525 inet").replace("smtpd_tls_auth_only=yes",
                                                                            "smtpd_tls_auth_only=no")
              .replace("security_level=encrypt", "security_level=may")
              + "smtps inet n - y - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes\n")
    result = run_verify(make_config("smtpd_sasl_type = dovecot\nsmtpd_sasl_path = private/auth\n", master))
    assert result.exit_code == 0, result.stdout + result.stderr
    submission, plain, smtps = (result.service(s) for s in ("submission/inet", "2525/inet", "smtps/inet"))
    assert submission["auth_before_starttls"] is False and submission["check_auth_finding"] is None
    assert plain["auth_before_starttls"] is True
    assert plain["auth_mechanisms"] == ["PLAIN", "LOGIN"]  # Dovecot's stand-in
    assert plain["check_auth_finding"]["code"] == "submission-auth-before-tls"
    assert smtps["auth_before_starttls"] is None  # TLS from the first byte: nothing is ever in clear
    for s in (submission, plain, smtps):
        assert s["verdict"] == "closed", s["summary"]
    assert any("Dovecot" in note for note in result.report["sandbox_adjustments"])


def test_starttls_and_wrapper_mode_services_are_probed_over_tls(make_config: ConfigFactory,
                                                                 sandbox_parent: Path) -> None:
    """An open submission port that insists on TLS: the stranger does STARTTLS and relays."""
    master = (Path("/usr/share/postfix/master.cf.dist").read_text()
              + SUBMISSION.replace("permit_sasl_authenticated,reject", "permit_mynetworks,reject")
              + "  -o mynetworks=0.0.0.0/0\n"
              + "smtps inet n - y - - smtpd -o smtpd_tls_wrappermode=yes -o mynetworks=0.0.0.0/0\n")
    result = run_verify(make_config("", master))
    assert result.exit_code == 1
    submission, smtps = result.service("submission/inet"), result.service("smtps/inet")
    assert submission["verdict"] == smtps["verdict"] == "open"
    assert all(a["tls"] for a in submission["relayed"] + smtps["relayed"])
    assert result.service("smtp/inet")["verdict"] == "closed"


def test_smtpd_behind_postscreen_is_probed(make_config: ConfigFactory, sandbox_parent: Path) -> None:
    master = ("smtp      inet  n       -       y       -       1       postscreen\n"
              "smtpd     pass  -       -       y       -       -       smtpd\n"
              "  -o mynetworks=0.0.0.0/0\n"
              + "".join(ln + "\n" for ln in Path("/usr/share/postfix/master.cf.dist").read_text().splitlines()
                        if not ln.startswith("smtp ") and not ln.startswith("#")))
    result = run_verify(make_config("", master))
    assert result.exit_code == 1, result.stdout + result.stderr
    smtpd = result.service("smtpd/pass")
    assert smtpd["verdict"] == "open" and smtpd["via"] == "postscreen on smtp/inet"
    assert smtpd["check_finding"]["code"] == "open-relay"


def test_haproxy_service_gets_the_client_address_from_the_proxy_header(make_config: ConfigFactory,
                                                                        sandbox_parent: Path) -> None:
    master = (Path("/usr/share/postfix/master.cf.dist").read_text()
              + "2525 inet n - y - - smtpd -o smtpd_upstream_proxy_protocol=haproxy\n"
              + "2526 inet n - y - - smtpd -o smtpd_upstream_proxy_protocol=haproxy -o mynetworks=0.0.0.0/0\n")
    result = run_verify(make_config("", master))
    assert result.service("2525/inet")["verdict"] == "closed"
    assert result.service("2526/inet")["verdict"] == "open"


def test_smtpd_that_stops_at_start_up_is_fatal_not_open(make_config: ConfigFactory, sandbox_parent: Path) -> None:
    result = run_verify(make_config("smtpd_relay_restrictions = permit_mynetworks\n"))
    assert result.exit_code == 0, result.stdout + result.stderr  # it relays nothing (it answers nothing)
    smtp = result.service("smtp/inet")
    assert smtp["verdict"] == "fatal" and "specify at least one working instance of" in smtp["fatal"]
    assert smtp["check_verdict"] == "fatal" and smtp["check_finding"]["code"] == "relay-restrictions-fatal"


def test_loopback_only_service_is_reported_but_does_not_count(make_config: ConfigFactory,
                                                              sandbox_parent: Path) -> None:
    master = (Path("/usr/share/postfix/master.cf.dist").read_text()
              + "127.0.0.1:10025 inet n - n - - smtpd -o mynetworks=0.0.0.0/0\n")
    result = run_verify(make_config("", master))
    assert result.exit_code == 0
    reinject = result.service("127.0.0.1:10025/inet")
    assert reinject["verdict"] == "open" and reinject["reachable_by_strangers"] is False
    assert result.report["open_relay"] is False


# -- where `pfedit check` was wrong: the live answer decided, the static check was fixed ----------------


def test_public_mynetworks_is_not_an_open_relay_for_a_stranger(make_config: ConfigFactory,
                                                                sandbox_parent: Path) -> None:
    """mynetworks = 172.0.0.0/8 (a typo for 172.16.0.0/12, seen in the corpus).

    A client outside it is refused, so this is not `open-relay` (check said it was);
    check now reports `mynetworks-public-relay`: 16 million strangers inside may relay.
    """
    d = make_config("mynetworks = 127.0.0.0/8 172.0.0.0/8\n")
    result = run_verify(d)
    assert result.exit_code == 0
    smtp = result.service("smtp/inet")
    assert smtp["verdict"] == "closed" and smtp["check_verdict"] == "closed"
    assert smtp["check_finding"] is None
    from postfix_conf.check import check

    assert "mynetworks-public-relay" in {f.code for f in check(d)}


@pytest.mark.parametrize("tls", ["-o smtpd_tls_security_level=encrypt", "-o smtpd_tls_wrappermode=yes"])
def test_required_client_certificate_closes_the_service(make_config: ConfigFactory, sandbox_parent: Path,
                                                        tls: str) -> None:
    """smtpd_tls_req_ccert = yes: no certificate, no MAIL FROM (check said open-relay)."""
    master = (Path("/usr/share/postfix/master.cf.dist").read_text()
              + f"2525 inet n - y - - smtpd -o mynetworks=0.0.0.0/0 {tls} -o smtpd_tls_req_ccert=yes\n")
    result = run_verify(make_config("", master))
    assert result.exit_code == 0, result.stdout
    service = result.service("2525/inet")
    assert service["verdict"] == "closed" and "No client certificate presented" in service["summary"]
    assert service["check_verdict"] == "closed" and service["check_finding"] is None


def test_anonymous_login_does_not_relay(make_config: ConfigFactory, verify_root: Path,
                                        sandbox_parent: Path) -> None:
    """smtpd_sasl_security_options without noanonymous: the stranger logs in as ANONYMOUS, and is refused.

    smtpd's permit_sasl_authenticated does not count the ANONYMOUS method. `pfedit
    check` used to call this open unless the SASL server lacked ANONYMOUS; this Cyrus
    SASL server offers it (after STARTTLS: smtpd_tls_auth_only), and the login works.
    """
    sasl = verify_root / "sasl-anonymous"
    sasl.mkdir(exist_ok=True)
    (sasl / "smtpd.conf").write_text("pwcheck_method: auxprop\nmech_list: ANONYMOUS PLAIN\n")
    master = (Path("/usr/share/postfix/master.cf.dist").read_text()
              + SUBMISSION.replace("smtpd_tls_security_level=encrypt", "smtpd_tls_security_level=may")
              + "  -o smtpd_sasl_security_options=\n  -o smtpd_sasl_tls_security_options=\n")
    result = run_verify(make_config(f"smtpd_sasl_type = cyrus\ncyrus_sasl_config_path = {sasl}\n", master))
    assert result.exit_code == 0, result.stdout + result.stderr
    submission = result.service("submission/inet")
    assert submission["verdict"] == "closed" and "ANONYMOUS" in submission["auth_mechanisms"]
    assert submission["counts"]["refused"] == 3 * len(FORMS) + 3  # three more rounds, logged in anonymously
    assert submission["check_verdict"] == "closed" and submission["check_finding"] is None
