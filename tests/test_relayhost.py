"""relayhost: spec 8.1 forms, smtp(8)'s error texts, properties, and Postfix itself.

Expected (host, port, mx_lookup) values are written out by hand from spec section 8.1
and the client rows of the R01 host_port() transcript - never computed by the parser.
Postfix is asked twice: ``postconf -d`` for the service table and default service we
hard-code, and - where the distribution ships it as a shared library (Debian) - the
installed ``libpostfix-util.so``, whose own ``host_port()``, ``valid_hostname()`` and
``valid_hostaddr()`` we call through ctypes for a differential test.
"""

from __future__ import annotations

import ctypes
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from postfix_conf import relayhost as rh
from postfix_conf.errors import InvalidValueError
from postfix_conf.main_cf import MainCf
from postfix_conf.relayhost import (
    KNOWN_TCP_PORTS,
    SMTPS_HINT,
    Destination,
    RelayhostError,
    check_hostname,
    implicit_tls,
    parse_relayhost,
    relayhost_warnings,
    sasl_lookup_keys,
)
from tests.conftest import make_config_dir, run_postfix_tool

FAKE_SERVICES = {"imap": 143, "smtp": 25}  # what a stub /etc/services knows (case-sensitive, like libc)


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make getservbyname() independent of this machine's /etc/services."""

    def fake(name: str, proto: str = "tcp") -> int:
        if proto != "tcp" or name not in FAKE_SERVICES:
            raise OSError("service/proto not found")
        return FAKE_SERVICES[name]

    monkeypatch.setattr(socket, "getservbyname", fake)  # relayhost calls it through the module
    yield


# -- every accepted form: (text, host, port, service, mx_lookup, is_ip) -------------------------

ACCEPTED = [
    # spec 8.1 and R01 (client rows: host_port(dest, &h, NULL, &p, "smtp"))
    ("smtp.example.com", "smtp.example.com", 25, None, True, False),
    ("[smtp.example.com]", "smtp.example.com", 25, None, False, False),
    ("[smtp.example.com]:587", "smtp.example.com", 587, None, False, False),
    ("smtp.example.com:587", "smtp.example.com", 587, None, True, False),
    ("[smtp.example.com]:submission", "smtp.example.com", 587, "submission", False, False),
    ("[192.0.2.1]:587", "192.0.2.1", 587, None, False, True),
    ("[192.0.2.1]", "192.0.2.1", 25, None, False, True),
    ("192.0.2.1", "192.0.2.1", 25, None, True, True),
    ("[2001:db8::1]:587", "2001:db8::1", 587, None, False, True),
    ("[ipv6:2001:db8::1]:587", "2001:db8::1", 587, None, False, True),
    ("[IPv6:2001:db8::1]", "2001:db8::1", 25, None, False, True),
    ("smtp.example.com:", "smtp.example.com", 25, None, True, False),
    ("127.0.0.1:10025", "127.0.0.1", 10025, None, True, True),
    ("[::1]:10025", "::1", 10025, None, False, True),
    ("submission", "submission", 25, None, True, False),  # a host name here, not a service
    ("example.com", "example.com", 25, None, True, False),
    # known_tcp_ports names (spec 8.3), before /etc/services
    ("[smtp.example.com]:smtps", "smtp.example.com", 465, "smtps", False, False),
    ("[smtp.example.com]:submissions", "smtp.example.com", 465, "submissions", False, False),
    ("[lmtp.example.com]:lmtp", "lmtp.example.com", 24, "lmtp", False, False),
    ("[smtp.example.com]:smtp", "smtp.example.com", 25, "smtp", False, False),
    ("[smtp.example.com]:imap", "smtp.example.com", 143, "imap", False, False),  # via getservbyname
    # edges of host_port()
    ("[smtp.example.com]:", "smtp.example.com", 25, None, False, False),
    ("[smtp.example.com]:00587", "smtp.example.com", 587, None, False, False),
    ("[smtp.example.com]:65535", "smtp.example.com", 65535, None, False, False),
    ("[smtp.example.com]:1", "smtp.example.com", 1, None, False, False),
    ("[mail_relay.example.com]", "mail_relay.example.com", 25, None, False, False),  # "_" allowed
    ("[1-2.example]", "1-2.example", 25, None, False, False),
    ("[MSA.Example.JP]:587", "MSA.Example.JP", 587, None, False, False),
    ("[ipv6:::ffff:192.0.2.1]", "::ffff:192.0.2.1", 25, None, False, True),
    ("[0.0.0.0]", "0.0.0.0", 25, None, False, True),
    ("[" + "a" * 63 + ".example]", "a" * 63 + ".example", 25, None, False, False),
    ("[bücher.example]:587", "bücher.example", 587, None, False, False),  # smtputf8_enable = yes
]


@pytest.mark.parametrize(("text", "host", "port", "service", "mx", "is_ip"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
@pytest.mark.usefixtures("services")
def test_accepted_forms(text: str, host: str, port: int, service: str | None, mx: bool, is_ip: bool) -> None:
    assert parse_relayhost(text) == [Destination(text, host, port, service, mx, is_ip)]


# -- every refused form, with smtp(8)'s wording ---------------------------------------------------

REFUSED = [
    ("[smtp.example.com]587", 'garbage after "]" in server description: [smtp.example.com]587'),
    ("[smtp.example.com", 'missing "]" in server description: [smtp.example.com'),
    ("smtp.example.com:58x7", "garbage after numerical service in server description: smtp.example.com:58x7"),
    ("[smtp.example.com]:5x", "garbage after numerical service in server description: [smtp.example.com]:5x"),
    ("2001:db8::1", "valid hostname or network address required in server description: 2001:db8::1"
                    " (IPv6 must be bracketed: [2001:db8::1])"),
    ("2001:db8::1:587", "IPv6 must be bracketed in server description: 2001:db8::1:587"
                        " (Postfix would read host 2001:db8::1, port 587)"),
    ("10025", "valid hostname or network address required in server description: 10025"),
    (":10025", "missing host information in server description: :10025"),
    ("bad_host!:25", "valid hostname or network address required in server description: bad_host!:25"),
    ("[bad!]:5x", "valid hostname or network address required in server description: [bad!]:5x"),  # host first
    ("[]", "valid hostname or network address required in server description: []"),
    ("[ipv6:smtp.example.com]", "malformed IPv6 address in server description: [ipv6:smtp.example.com]"),
    ("[ipv6:192.0.2.1]", "malformed IPv6 address in server description: [ipv6:192.0.2.1]"),
    ("[smtp.example.com]:70000", "bad network port: 70000 for destination: [smtp.example.com]:70000"),
    ("[smtp.example.com]:0", "bad network port: 0 for destination: [smtp.example.com]:0"),
    ("[h.example]:4294967321", "bad network port: 4294967321 for destination: [h.example]:4294967321"),
    ("[smtp.example.com]:foo", "unknown service: foo/tcp (destination: [smtp.example.com]:foo)"),
    ("[smtp.example.com]:SMTP", "unknown service: SMTP/tcp (destination: [smtp.example.com]:SMTP)"),
    ("[smtp.example.com]:٥٨٧", "unknown service: ٥٨٧/tcp (destination: [smtp.example.com]:٥٨٧)"),  # not ISDIGIT
    ("a..example", "valid hostname or network address required in server description: a..example"),
    ("-a.example", "valid hostname or network address required in server description: -a.example"),
    ("a-.example", "valid hostname or network address required in server description: a-.example"),
    ("a.example.", "valid hostname or network address required in server description: a.example."),
    ("0.1.2.3", "valid hostname or network address required in server description: 0.1.2.3"),
    ("[" + "a" * 64 + ".example]", "valid hostname or network address required in server description: ["
     + "a" * 64 + ".example]"),
    ("#", "valid hostname or network address required in server description: #"
          " (a '#' in a main.cf value is not a comment)"),
    ("$mydomain", "valid hostname or network address required in server description: $mydomain"
                  " (expand $parameter references first)"),
]


@pytest.mark.parametrize(("element", "message"), REFUSED, ids=[c[0][:40] for c in REFUSED])
@pytest.mark.usefixtures("services")
def test_refused_forms(element: str, message: str) -> None:
    with pytest.raises(RelayhostError) as info:
        parse_relayhost(element)
    assert str(info.value) == message
    assert info.value.element == element
    assert isinstance(info.value, InvalidValueError)


def test_null_destination() -> None:
    """Only separators: smtp(8) panics 'null destination' (an empty value is fine)."""
    with pytest.raises(RelayhostError, match=re.escape('null destination: ","')):
        parse_relayhost("  ,  ")
    with pytest.raises(RelayhostError, match=re.escape('null destination: ", ,"')):
        parse_relayhost(", ,")


@pytest.mark.parametrize("value", ["", "   ", "\t\n", "\v\f"])
def test_empty_value_means_no_relayhost(value: str) -> None:
    assert parse_relayhost(value) == []
    assert relayhost_warnings(value) == []


def test_comment_after_value_is_part_of_it() -> None:
    """Spec row 4: main.cf has no trailing comments, so smtp(8) would stop on '#'."""
    value = MainCf.parse(b"relayhost = [smtp.example.com]:587   # my ISP\n").get("relayhost")
    assert value == "[smtp.example.com]:587   # my ISP"
    with pytest.raises(RelayhostError) as info:
        parse_relayhost(value)
    assert info.value.element == "#"


# -- lists (3.5+) ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "hosts"), [
    ("[a.example]:587, [b.example]:587", [("a.example", 587, False), ("b.example", 587, False)]),
    ("a.example b.example", [("a.example", 25, True), ("b.example", 25, True)]),
    ("a.example,\tb.example\r\n c.example", [("a.example", 25, True), ("b.example", 25, True),
                                             ("c.example", 25, True)]),
    ("a.example,,b.example,", [("a.example", 25, True), ("b.example", 25, True)]),
    (" ,[a.example]", [("a.example", 25, False)]),
])
def test_lists(value: str, hosts: list[tuple[str, int, bool]]) -> None:
    assert [(d.host, d.port, d.mx_lookup) for d in parse_relayhost(value)] == hosts


def test_vertical_tab_is_not_a_list_separator() -> None:
    """CHARS_COMMA_SP is ", \\t\\r\\n": VT and FF are trimmed at the ends only."""
    with pytest.raises(RelayhostError) as info:
        parse_relayhost("a.example\vb.example")
    assert info.value.element == "a.example\vb.example"


def test_error_names_the_failing_element() -> None:
    with pytest.raises(RelayhostError) as info:
        parse_relayhost("[ok.example]:587, [bad.example]587, [x.example")
    assert info.value.element == "[bad.example]587"


# -- helpers -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("[smtp.example.com]:465", True), ("[smtp.example.com]:smtps", True),
    ("[smtp.example.com]:submissions", True), ("[smtp.example.com]:587", False),
    ("smtp.example.com", False), ("smtp.example.com:465", True),
])
def test_implicit_tls(value: str, expected: bool) -> None:
    assert implicit_tls(parse_relayhost(value)[0]) is expected


@pytest.mark.parametrize(("value", "keys"), [  # spec 7.1 practical rules (T01)
    ("[smtp.example.com]:587", ["smtp.example.com", "[smtp.example.com]:587"]),
    ("[smtp.example.com]", ["smtp.example.com", "[smtp.example.com]"]),
    ("[smtp.example.com]:submission", ["smtp.example.com", "[smtp.example.com]:submission"]),
    ("[192.0.2.1]", ["192.0.2.1", "[192.0.2.1]"]),
    ("[ipv6:2001:db8::1]:587", ["2001:db8::1", "[ipv6:2001:db8::1]:587"]),
    ("smtp.example.com:587", ["smtp.example.com:587"]),  # MX host names come first: unknown here
    ("example.com", ["example.com"]),
    ("192.0.2.1", ["192.0.2.1"]),
    ("192.0.2.1:587", ["192.0.2.1", "192.0.2.1:587"]),
])
def test_sasl_lookup_keys(value: str, keys: list[str]) -> None:
    assert sasl_lookup_keys(parse_relayhost(value)[0]) == keys


@pytest.mark.parametrize(("host", "ok"), [
    ("smtp.example.com", True), ("a", True), ("x_y", True), ("1-2", True), ("a.1", True),
    ("a" * 63, True), ("a" * 64, False), ("", False),
    (".".join(["a" * 63] * 4), True), (".".join(["a" * 63] * 4) + ".a", False),  # 255 / 257 characters
    ("12", False), ("1.2.3", False), ("256.1.1.1", False), ("1.2.3.4.5", False),
    ("a..b", False), (".a", False), ("a.", False), ("-a", False), ("a-", False), ("a-.b", False),
    ("a b", False), ("a!", False), ("bücher.example", False), ("#", False),
    ("1.2.3.4", True), ("0.0.0.0", True), ("0.1.2.3", False), ("::", True), ("::1", True),
    ("::ffff:1.2.3.4", True), ("::ffff:0.1.2.3", False), ("fe80::1%eth0", False),
    ("1:2:3:4:5:6:7::", False), ("2001:db8:", False), (":::", False),
])
def test_check_hostname(host: str, ok: bool) -> None:
    assert check_hostname(host) is ok


# -- warnings ---------------------------------------------------------------------------------------

def test_warnings() -> None:
    assert relayhost_warnings("[smtp.example.com]:587") == []
    assert relayhost_warnings("smtp.example.com:25") == []  # same as "smtp.example.com"
    assert relayhost_warnings("[smtp.example.com]:465") == [f"[smtp.example.com]:465: {SMTPS_HINT}"]
    (mx,) = relayhost_warnings("smtp.example.com:587")
    assert "still looks up MX records of smtp.example.com" in mx and "[smtp.example.com]:587" in mx
    (ip,) = relayhost_warnings("192.0.2.1:587")
    assert "write [192.0.2.1]:587" in ip
    (empty,) = relayhost_warnings("a.example,,b.example")
    assert "empty list element" in empty
    (utf8,) = relayhost_warnings("[bücher.example]")
    assert "smtputf8_enable = yes" in utf8
    assert len(relayhost_warnings("smtp.example.com:smtps")) == 2  # MX surprise and wrappermode
    with pytest.raises(RelayhostError):
        relayhost_warnings("[x.example")


def test_smtps_hint_is_smtp8_text() -> None:
    """spec 8.2: the text smtp(8) logs (with helpful_warnings = yes)."""
    assert SMTPS_HINT == ('SMTPS wrappermode (TCP port 465) requires setting "smtp_tls_wrappermode = yes", '
                          'and "smtp_tls_security_level = encrypt" (or stronger)')


# -- properties ---------------------------------------------------------------------------------------

ATOMS = ["[", "]", ":", ".", "-", "_", "ipv6:", "IPv6:", "0", "1", "25", "587", "465", "70000", "smtp",
         "smtps", "submission", "example", "a", "ff", "::", "2001:db8::1", "192.0.2.1", "$", "#", "%",
         "!", "x", "ü", "\udc80", "\0", "٥"]
SEPARATORS = [",", " ", ", ", ",\t", "\r\n ", ",,", "\v"]
elements = st.lists(st.sampled_from(ATOMS), min_size=1, max_size=8).map("".join)


@st.composite
def values(draw: st.DrawFn) -> str:
    parts = draw(st.lists(elements, min_size=1, max_size=4))
    out = parts[0]
    for p in parts[1:]:
        out += draw(st.sampled_from(SEPARATORS)) + p
    return out


@given(st.one_of(st.text(), values(), st.text(st.characters(categories=["Cs", "Cc", "Zs", "Nd", "Ll", "Po", "Ps"]))))
@example("[x]:" + "9" * 5000)
def test_only_invalid_value_error(value: str) -> None:
    try:
        dests = parse_relayhost(value)
        relayhost_warnings(value)
    except InvalidValueError:
        return
    for d in dests:
        assert d.text and not re.search(r"[, \t\r\n]", d.text)
        assert 0 < d.port < 65536


@given(values())
def test_round_trip(value: str) -> None:
    try:
        dests = parse_relayhost(value)
    except InvalidValueError:
        return
    for sep in (", ", " ", ",\n\t"):
        assert parse_relayhost(sep.join(d.text for d in dests)) == dests


# -- against Postfix ------------------------------------------------------------------------------

@pytest.mark.postfix
def test_known_tcp_ports_match_postconf(postconf: str, tmp_path: Path) -> None:
    d = make_config_dir(tmp_path / "cfg")
    proc = run_postfix_tool([postconf, "-c", str(d), "-dh", "known_tcp_ports", "smtp_tcp_port", "relayhost"])
    assert proc.returncode == 0, proc.stderr
    known, tcp_port, relayhost = proc.stdout.decode().split("\n")[:3]
    table: dict[str, int] = {}
    for group in re.split(r"[, \t]+", known.strip()):
        *names, port = group.split("=")
        table.update(dict.fromkeys(names, int(port)))
    assert table == KNOWN_TCP_PORTS
    assert tcp_port == rh.DEFAULT_SERVICE
    assert relayhost == "" and parse_relayhost(relayhost) == []


@pytest.mark.postfix
def test_postconf_does_not_check_relayhost(postconf: str, tmp_path: Path) -> None:
    """spec 8.1: only smtp(8) parses relayhost, at delivery time - hence this module."""
    d = make_config_dir(tmp_path / "cfg", b"relayhost = [smtp.example.com]587\n")
    proc = run_postfix_tool([postconf, "-c", str(d), "-h", "relayhost"])
    assert (proc.returncode, proc.stdout) == (0, b"[smtp.example.com]587\n")
    with pytest.raises(RelayhostError, match="garbage after"):
        parse_relayhost(proc.stdout.decode().strip())


LIBUTIL = Path("/usr/lib/postfix/libpostfix-util.so")  # Debian's layout; other builds link statically


class PostfixUtil:
    """host_port(), valid_hostname(), valid_hostaddr() from the installed Postfix (util_utf8_enable = 0)."""

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        self._host_port = lib.host_port
        self._host_port.restype = ctypes.c_char_p
        pp = ctypes.POINTER(ctypes.c_char_p)
        self._host_port.argtypes = [ctypes.c_char_p, pp, ctypes.c_char_p, pp, ctypes.c_char_p]
        self._names = lib.valid_hostname, lib.valid_hostaddr
        for f in self._names:
            f.argtypes, f.restype = [ctypes.c_char_p, ctypes.c_int], ctypes.c_int
        self._utf8 = lib.valid_utf8_hostname
        self._utf8.argtypes, self._utf8.restype = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int], ctypes.c_int

    def host_port(self, elem: str) -> tuple[str | None, str, str]:
        """(error, host, service) for host_port(elem, &host, NULL, &service, "smtp")."""
        buf = ctypes.create_string_buffer(elem.encode())
        host, service = ctypes.c_char_p(), ctypes.c_char_p()
        err = self._host_port(buf, ctypes.byref(host), None, ctypes.byref(service), b"smtp")
        return (err.decode() if err else None, (host.value or b"").decode(), (service.value or b"").decode())

    def valid(self, host: str) -> bool:
        return any(f(host.encode(), 0) for f in self._names)

    def valid_utf8(self, host: str) -> bool:
        """valid_utf8_hostname() as smtp(8) calls it with smtputf8_enable = yes."""
        return bool(self._utf8(1, host.encode(), 0))


@pytest.fixture(scope="module")
def libutil() -> PostfixUtil:
    if not LIBUTIL.exists():
        pytest.skip(f"{LIBUTIL} not installed (only Debian-style shared-library builds have it)")
    return PostfixUtil(LIBUTIL)


def looser_address(host: str) -> bool:
    """Where we refuse on purpose what Postfix's validators take (module docstring)."""
    return ":" in host or bool(re.fullmatch(r"[0-9.]+", host) and re.search(r"(?:^|\.)0[0-9]", host))


ascii_elements = st.lists(st.sampled_from([a for a in ATOMS if a.isascii() and a != "\0"]),
                          min_size=1, max_size=8).map("".join)
R01_CLIENT_FORMS = ["smtp.example.com", "[smtp.example.com]", "[smtp.example.com]:587", "smtp.example.com:587",
                    "[smtp.example.com]:submission", "[192.0.2.1]:587", "192.0.2.1", "[2001:db8::1]:587",
                    "[ipv6:2001:db8::1]:587", "[IPv6:2001:db8::1]", "2001:db8::1", "[smtp.example.com]587",
                    "[smtp.example.com", "smtp.example.com:58x7", "smtp.example.com:", "127.0.0.1:10025",
                    "[::1]:10025", "10025", ":10025", "submission", "bad_host!:25"]


@pytest.mark.postfix
@given(ascii_elements.filter(lambda e: not re.search(r"[, \t\r\n]", e)))
@example("1:2:3:4:5:6:7:8")
@example("010.0.0.1")
@example("[ipv6:1:2:3:4:5:6:7]")
@example("010.0.0.1:5x")
def test_host_port_matches_libpostfix(libutil: PostfixUtil, elem: str) -> None:
    compare_with_postfix(libutil, elem)


@pytest.mark.postfix
@pytest.mark.parametrize("elem", R01_CLIENT_FORMS)
def test_r01_forms_match_libpostfix(libutil: PostfixUtil, elem: str) -> None:
    compare_with_postfix(libutil, elem)


def compare_with_postfix(lib: PostfixUtil, elem: str) -> None:
    err, host, service = lib.host_port(elem)
    try:
        (ours,) = parse_relayhost(elem)
    except RelayhostError as e:
        if err is not None:  # both refuse: same reason, in smtp(8)'s "%s in server description: %s"
            # (unless we refused the host first, for a reason Postfix does not have)
            assert str(e).startswith(f"{err} in server description: {elem}") or looser_address(host), (elem, err)
        elif str(e).startswith("bad network port: "):
            assert re.fullmatch(r"[0-9]+", service) and not 0 < int(service.lstrip("0") or "0") < 65536
        elif str(e).startswith("unknown service: "):
            assert service not in KNOWN_TCP_PORTS and not re.fullmatch(r"[0-9]+", service)
            with pytest.raises(OSError):
                socket.getservbyname(service, "tcp")
        else:
            assert looser_address(host), (elem, str(e))
        return
    assert err is None, (elem, err)
    assert ours.host == host
    numeric = re.fullmatch(r"[0-9]+", service) is not None
    assert ours.service == service or (ours.service is None and (numeric or service == rh.DEFAULT_SERVICE))
    assert ours.port == (int(service) if numeric else KNOWN_TCP_PORTS.get(service)
                         or socket.getservbyname(service, "tcp"))


IDN_HOSTS = ["bücher.example", "Bücher.Example", "faß.de", "☃.example", "例え.テスト", "ü_x.example",
             "ä..example", "ü-.example", "-ü.example", "ü.example.", "é" * 70]


@pytest.mark.postfix
@pytest.mark.parametrize("host", IDN_HOSTS)
def test_utf8_hosts_match_libpostfix(libutil: PostfixUtil, host: str) -> None:
    """smtputf8_enable = yes: Postfix converts with ICU UTS 46, we with Python's IDNA codec."""
    if libutil.valid_utf8(host):
        assert parse_relayhost(f"[{host}]")[0].host == host
    else:
        with pytest.raises(RelayhostError, match="valid hostname"):
            parse_relayhost(f"[{host}]")


@pytest.mark.postfix
@given(st.lists(st.sampled_from(["a", "Z", "0", "9", "1", "255", "256", "00", ".", "-", "_", ":", "::", "ff",
                                 "fffff", "%", "!"]), min_size=1, max_size=10).map("".join))
@example("1:2:3:4:5:6:7")
@example("010.0.0.1")
@example("::0.1.2.3")
@example("1:2:3:4:5:6:7::")
def test_check_hostname_matches_libpostfix(libutil: PostfixUtil, host: str) -> None:
    if check_hostname(host):
        assert libutil.valid(host), host
    elif libutil.valid(host):
        assert looser_address(host), host
