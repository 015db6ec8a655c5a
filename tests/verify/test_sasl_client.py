"""SASL mechanisms against their RFC test vectors, and Cyrus's mechanism choice.

Expected values are the RFCs' own examples (RFC 2195, 2831, 5802, 7677). The choice
cases follow ``sasl_client_start()`` with the plugin flags ``saslpluginviewer -c`` prints
for Cyrus SASL 2.1.28 (one case is checked against saslpluginviewer itself when present).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from postfix_conf.verify.sasl_client import (
    MECHANISMS,
    NOANONYMOUS,
    NOPLAINTEXT,
    cram_md5,
    cyrus_choice,
    digest_md5,
    filter_mechanisms,
    installed_mechanisms,
    plain,
    scram,
    security_flags,
)

ALL = set(MECHANISMS)


def test_cram_md5_rfc2195() -> None:
    talk = cram_md5("tim", "tanstaaftanstaaf")
    assert next(talk) == b""
    assert talk.send(b"<1896.697170952@postoffice.reston.mci.net>") == b"tim b913a602c7eda7a495b4e6e7334d3890"


def test_scram_sha1_rfc5802() -> None:
    talk = scram("sha1", "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL")
    assert next(talk) == b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    assert talk.send(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096") == (
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
    assert talk.send(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=") == b""


def test_scram_sha256_rfc7677_and_a_wrong_server_signature() -> None:
    first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    talk = scram("sha256", "user", "pencil", "rOprNGfwEbeRWgbNEkqO")
    next(talk)
    assert talk.send(first) == (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    assert talk.send(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") == b""
    talk = scram("sha256", "user", "pencil", "rOprNGfwEbeRWgbNEkqO")
    next(talk)
    talk.send(first)
    with pytest.raises(ValueError, match="signature is wrong"):
        talk.send(b"v=AAAA")


def test_digest_md5_rfc2831() -> None:
    talk = digest_md5("chris", "secret", "elwood.innosoft.com", "OA6MHXh6VqTrRk", service="imap")
    assert next(talk) == b""
    answer = talk.send(b'realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,'
                       b'charset=utf-8')
    assert b"response=d388dad90d4bbd760a152321f2143af7" in answer
    assert b'digest-uri="imap/elwood.innosoft.com"' in answer


def test_plain_sends_the_user_as_authzid_like_cyrus() -> None:
    assert next(plain("u@example.com", "pw")) == b"u@example.com\0u@example.com\0pw"


@pytest.mark.parametrize(("offered", "options", "expected"), [
    (["PLAIN", "LOGIN"], "noanonymous", "PLAIN"),  # equal SSF: the server's first wins
    (["LOGIN", "PLAIN"], "noanonymous", "LOGIN"),
    (["PLAIN", "LOGIN", "DIGEST-MD5"], "noanonymous", "DIGEST-MD5"),  # a higher max SSF replaces
    (["PLAIN", "CRAM-MD5"], "noanonymous", "PLAIN"),  # better flags alone do not
    (["CRAM-MD5", "PLAIN"], "noanonymous", "CRAM-MD5"),
    (["PLAIN", "LOGIN", "CRAM-MD5"], "noplaintext, noanonymous", "CRAM-MD5"),
    (["PLAIN", "LOGIN"], "noplaintext, noanonymous", None),  # "No worthy mechs found"
    (["ANONYMOUS", "PLAIN"], "noanonymous", "PLAIN"),
    (["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"], "noanonymous", "SCRAM-SHA-256"),  # no channel binding
    (["XYZZY", "LOGIN"], "", "LOGIN"),
])
def test_cyrus_choice(offered: list[str], options: str, expected: str | None) -> None:
    assert cyrus_choice(offered, ALL, security_flags(options.split(", "))) == expected


def test_choice_only_among_installed_plugins() -> None:
    assert cyrus_choice(["DIGEST-MD5", "PLAIN"], {"PLAIN", "EXTERNAL"}, NOANONYMOUS) == "PLAIN"
    assert cyrus_choice(["PLAIN", "LOGIN"], {"EXTERNAL"}, NOANONYMOUS) is None


def test_filter_like_postfix_match_list() -> None:
    assert filter_mechanisms(["DIGEST-MD5", "PLAIN", "LOGIN"], ["plain", "login"]) == ["PLAIN", "LOGIN"]
    assert filter_mechanisms(["DIGEST-MD5", "PLAIN"], ["!digest-md5", "plain", "digest-md5"]) == ["PLAIN"]
    assert filter_mechanisms(["PLAIN"], []) == ["PLAIN"]


def test_installed_mechanisms_from_plugin_files(tmp_path: Path) -> None:
    for name in ("libplain.so.2.0.25", "liblogin.so", "libsasldb.so.2", "README"):
        (tmp_path / name).write_text("")
    assert installed_mechanisms([tmp_path]) == {"PLAIN", "LOGIN", "EXTERNAL"}
    assert installed_mechanisms([tmp_path / "missing"]) == {"EXTERNAL"}


def test_installed_mechanisms_agree_with_saslpluginviewer() -> None:
    viewer = shutil.which("saslpluginviewer") or shutil.which("pluginviewer")
    if viewer is None:
        pytest.skip("saslpluginviewer (sasl2-bin) not installed")
    out = subprocess.run([viewer, "-c"], capture_output=True, text=True, timeout=30).stdout
    listed = set(out.splitlines()[1].split())
    from postfix_conf.verify.sasl_client import default_plugin_dirs

    assert installed_mechanisms(default_plugin_dirs()) == listed
    for line in out.split("Plugin ")[1:]:
        mech = line.split("SASL mechanism: ")[1].split(",")[0]
        flags = line.split("security flags: ")[1].split("\n")[0]
        assert bool(MECHANISMS[mech].flags & NOPLAINTEXT) == ("NO_PLAINTEXT" in flags), mech
        assert bool(MECHANISMS[mech].flags & NOANONYMOUS) == ("NO_ANONYMOUS" in flags), mech
        assert str(MECHANISMS[mech].max_ssf) == line.split("best SSF: ")[1].split("\n")[0], mech
