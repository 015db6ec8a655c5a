"""What smtp(8) will use: effective values checked against ``postconf -c``, the password lookup
order against the spec's hand-written cases (7.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from postfix_conf import LookupTable, MainCf, MasterCf
from postfix_conf.relayhost import parse_relayhost
from postfix_conf.verify.client_settings import ClientSettings, client_settings

from ..conftest import make_config_dir, run_postfix_tool

STOCK_SMTP = b"smtp      unix  -       -       y       -       -       smtp\n"


def settings(d: Path) -> ClientSettings:
    def read_table(path: str) -> LookupTable | None:
        try:
            return LookupTable.read(path)
        except OSError:
            return None

    master = MasterCf.read(d / "master.cf") if (d / "master.cf").exists() else None
    return client_settings(d, MainCf.read(d / "main.cf"), master, read_table)


def postconf_x(postconf: str, d: Path, *names: str) -> list[str]:
    out = run_postfix_tool([postconf, "-c", str(d), "-h", "-x", *names], check=True).stdout.decode()
    return out.splitlines()


@pytest.mark.parametrize("main_cf", [
    b"",  # myhostname from the host name (+ .localdomain), myorigin = $myhostname
    b"mydomain = corp.example\n",  # a dotless host name gets .$mydomain
    b"myhostname = mail.example.net\nmyorigin = $mydomain\n",
    b"myorigin = relay.example\nsmtp_helo_name = helo.$myorigin\n",
])
def test_sender_and_helo_name_as_postconf_expands_them(tmp_path: Path, postconf: str, main_cf: bytes) -> None:
    d = make_config_dir(tmp_path, main_cf, STOCK_SMTP)
    myorigin, helo, myhostname = postconf_x(postconf, d, "myorigin", "smtp_helo_name", "myhostname")
    s = settings(d)
    assert (s.sender, s.helo_name, s.myhostname) == (f"root@{myorigin}", helo, myhostname)


def test_master_cf_overrides_of_the_default_transport(tmp_path: Path, postconf: str) -> None:
    master = (b"smtp      unix  -       -       y       -       -       smtp\n"
              b"  -o relayhost=[override.example]:465 -o smtp_tls_wrappermode=yes\n"
              b"  -o smtp_tls_security_level=encrypt\n")
    d = make_config_dir(tmp_path, b"relayhost = [main.example]:587\nsmtp_tls_security_level = may\n", master)
    shown = run_postfix_tool([postconf, "-c", str(d), "-P", "smtp/unix/relayhost",
                              "smtp/unix/smtp_tls_wrappermode"], check=True).stdout.decode()
    assert "smtp/unix/relayhost = [override.example]:465" in shown
    s = settings(d)
    assert (s.relayhost, s.wrapper, s.tls_level, s.service) == ("[override.example]:465", True, "encrypt",
                                                                "smtp/unix")


def test_default_transport_nexthop_wins_over_relayhost(tmp_path: Path) -> None:
    d = make_config_dir(tmp_path, b"relayhost = [a.example]:587\ndefault_transport = smtp:[b.example]:587\n",
                        STOCK_SMTP)
    s = settings(d)
    assert (s.relayhost, s.relayhost_source) == ("[b.example]:587", "default_transport")


def test_bare_host_key_wins_and_each_key_goes_through_every_table(tmp_path: Path) -> None:
    """Spec 7.1: key 1 (the server name) is searched in all tables before key 2 (the destination)."""
    (tmp_path / "first").write_text("[smtp.example.com]:587 user-dest:pw-dest\n")
    (tmp_path / "second").write_text("SMTP.Example.COM user-host:pw-host\n")
    d = make_config_dir(tmp_path, (f"relayhost = [smtp.example.com]:587\nsmtp_sasl_password_maps = "
                                   f"hash:{tmp_path}/first, hash:{tmp_path}/second\n").encode(), STOCK_SMTP)
    s = settings(d)
    creds = s.credentials_for(s.destinations[0])
    assert creds is not None
    assert (creds.username, creds.password, creds.key, creds.table) == (
        "user-host", "pw-host", "smtp.example.com", f"hash:{tmp_path}/second")
    assert "pw-host" not in repr(creds) and "pw-host" not in repr(s)
    assert s.secrets() == ["pw-dest", "pw-host"]


def test_mx_destination_tries_the_mx_host_then_the_destination(tmp_path: Path) -> None:
    (tmp_path / "sasl").write_text("example.com:587 u1:p1\nmx1.example.com u2:p2\n")
    d = make_config_dir(tmp_path, f"smtp_sasl_password_maps = texthash:{tmp_path}/sasl\n".encode(), STOCK_SMTP)
    s = settings(d)
    [dest] = parse_relayhost("example.com:587")
    assert s.lookup_keys(dest, "mx1.example.com") == ["mx1.example.com", "example.com:587"]
    creds = s.credentials_for(dest, "mx1.example.com")
    assert creds is not None and creds.username == "u2"
    other = s.credentials_for(dest, "mx2.example.com")
    assert other is not None and other.username == "u1"


def test_unreadable_tables_are_noted(tmp_path: Path) -> None:
    d = make_config_dir(tmp_path, (f"relayhost = [r.example]:587\nsmtp_sasl_password_maps = "
                                   f"hash:{tmp_path}/missing, mysql:/etc/postfix/x.cf\n").encode(), STOCK_SMTP)
    s = settings(d)
    assert s.credentials_for(s.destinations[0]) is None
    assert f"smtp_sasl_password_maps: hash:{tmp_path}/missing does not exist" in s.notes
    assert "smtp_sasl_password_maps: mysql:/etc/postfix/x.cf is a mysql: table, which pfedit cannot read" in s.notes
