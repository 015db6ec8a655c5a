"""``relayhost``: the destinations smtp(8) will try, parsed the way smtp(8) parses them.

Postfix never checks ``relayhost`` when it reads ``main.cf``: ``postconf`` and
``postfix check`` accept anything (spec 8.1). The value is parsed only when smtp(8)
delivers a message, and a bad element is then *fatal* for the delivery agent, so the
mail sits in the queue. This module runs the same parse before the value is written:

* the value is split on ``CHARS_COMMA_SP`` (``", \\t\\r\\n"``) by ``argv_split()``;
  a list needs Postfix 3.5 or later (src/smtp/smtp_connect.c ``smtp_connect_inet``);
* each element goes through ``host_port(elem, &host, NULL, &service, "smtp")``
  (src/util/host_port.c), then ``smtp_parse_destination()`` turns the service into a
  port: ``known_tcp_ports`` first, then digits, then ``getservbyname(name, "tcp")``.

Errors use smtp(8)'s own ``fatal:`` wording, so a user can search for them (plus the
element where smtp(8) omits it, and a hint for ``#``, ``$`` and IPv6). The same
grammar applies to ``sender_dependent_relayhost_maps`` results, ``smtp_fallback_relay``
and ``smtp:`` transport next-hops. ``$name`` references must be expanded first.

Deliberately stricter than Postfix (each would fail or surprise later, at delivery):
an unbracketed IPv6 host (``2001:db8::1:587`` -> Postfix reads host ``2001:db8::1``,
port 587), IPv4 octets with leading zeros and IPv6 forms outside RFC 4291 (Postfix's
validators accept ``010.0.0.1`` and ``1:2:3:4:5:6:7``), and ports above 65535 that C's
``atoi()`` wraps into range (``atoi("4294967321")`` is 25, so smtp(8) would connect to port 25).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import NoReturn

from ._text import WS
from .errors import InvalidValueError

KNOWN_TCP_PORTS: dict[str, int] = {"lmtp": 24, "smtp": 25, "smtps": 465, "submissions": 465, "submission": 587}
"""``postconf -d known_tcp_ports`` of 3.7 (spec 8.3), consulted before ``/etc/services``."""

DEFAULT_SERVICE = "smtp"
"""``smtp_tcp_port`` default: the service used when an element names none."""

SMTPS_PORT = 465
SMTPS_HINT = ('SMTPS wrappermode (TCP port 465) requires setting "smtp_tls_wrappermode = yes", '
              'and "smtp_tls_security_level = encrypt" (or stronger)')
"""smtp(8)'s own run-time notice (spec 8.2); Postfix reports nothing at config time."""

_SEPARATORS = re.compile(r"[, \t\r\n]+")
_EMPTY_ELEMENT = re.compile(r"(?:\A|,)[ \t\r\n]*,|,[ \t\r\n]*\Z")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")  # Postfix allows "_" ("grr..")
_NUMERIC = re.compile(r"[0-9.]+")
_DIGITS = re.compile(r"[0-9]+")  # ISDIGIT is ASCII-only; str.isdigit() is not


class RelayhostError(InvalidValueError):
    """An element smtp(8) would refuse with ``fatal:``; ``element`` is that element as written."""

    def __init__(self, message: str, element: str) -> None:
        super().__init__(message)
        self.element = element


@dataclass(frozen=True, slots=True)
class Destination:
    """One element of the list, and what smtp(8) makes of it.

    ``text`` is kept exactly as written because smtp(8) uses it verbatim as a lookup
    key (``smtp_sasl_password_maps``, TLS policy, connection cache). ``service`` is
    the name as written, or None when the element gave digits or no service at all.
    """

    text: str
    host: str
    port: int
    service: str | None
    mx_lookup: bool
    is_ip: bool


def check_hostname(host: str) -> bool:
    """Postfix's ``valid_hostname() || valid_hostaddr()`` for an ASCII name.

    A hostname is dot-separated labels of letters, digits, ``-`` and ``_``: no empty
    label (so no leading or trailing dot), no hyphen at either end of a label, labels up
    to 63 and names up to 255 characters, and not made only of digits and dots (that is
    a broken IPv4 address, not a name). Addresses go through :mod:`ipaddress` with
    Postfix's extra refusals; see :func:`_ip_address` for where we are stricter.
    """
    return _valid_hostname(host) or _ip_address(host) is not None


def _valid_hostname(host: str) -> bool:
    if not host or len(host) > 255 or _NUMERIC.fullmatch(host):
        return False
    return all(_LABEL.fullmatch(label) for label in host.split("."))


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, if ``host`` is one that both Postfix and the resolver will take.

    Postfix refuses a first octet 0 other than ``0.0.0.0`` (also inside IPv6), a scope
    (``%eth0``) and more than seven colons; :mod:`ipaddress` refuses leading zeros and
    IPv6 forms that do not have exactly eight groups. We apply both sets of rules.
    """
    if not host.isascii() or "%" in host or host.count(":") > 7:
        return None
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return None
    v4 = host.rpartition(":")[2]
    return None if v4.startswith("0.") and v4 != "0.0.0.0" else addr


def _host_ok(host: str) -> bool:
    """check_hostname(), plus UTF-8 names as smtp(8) takes them when smtputf8_enable = yes.

    Postfix converts those with ICU's UTS 46 and checks the A-label; Python's IDNA 2003
    codec agrees on ordinary names. :func:`relayhost_warnings` flags them.
    """
    if check_hostname(host):
        return True
    if host.isascii() or any(label[:1] == "-" or label[-1:] == "-" for label in host.split(".")):
        return False  # UTS 46 CheckHyphens; Python's codec would encode "ü-" happily
    try:
        return _valid_hostname(host.encode("idna").decode("ascii"))
    except ValueError:  # UnicodeError: not a valid IDN, or lone surrogates
        return False


def _port_of(name: str) -> int | None:
    """``getservbyname(name, "tcp")``, or None for anything libc cannot look up."""
    try:
        return socket.getservbyname(name, "tcp")
    except (OSError, ValueError):  # not found; NUL byte or surrogates in the name
        return None


def _parse_element(elem: str) -> Destination:
    """``host_port()`` plus the port step of ``smtp_parse_destination()``, in their order."""

    def fail(reason: str, hint: str = "") -> NoReturn:
        hint = hint or ("a '#' in a main.cf value is not a comment" if "#" in elem else
                        "expand $parameter references first" if "$" in elem else "")
        raise RelayhostError(f"{reason} in server description: {elem}" + (f" ({hint})" if hint else ""), elem)

    bracketed = elem.startswith("[")
    if bracketed:
        inner = elem[1:]
        ipv6 = inner[:5].isascii() and inner[:5].lower() == "ipv6:"  # strncasecmp "IPv6:"
        host, found, rest = inner[5 if ipv6 else 0:].partition("]")
        if not found:
            fail('missing "]"')
        if rest and rest[0] != ":":
            fail('garbage after "]"')
        if ipv6 and not isinstance(_ip_address(host), ipaddress.IPv6Address):
            fail("malformed IPv6 address")
        service = rest[1:]
    else:
        host, colon, service = elem.rpartition(":")
        if not colon:
            host, service = elem, ""
        elif not host:
            fail("missing host information")
    if not _host_ok(host):
        whole_v6 = not bracketed and isinstance(_ip_address(elem), ipaddress.IPv6Address)
        fail("valid hostname or network address required",
             f"IPv6 must be bracketed: [{elem}]" if whole_v6 else "")
    if _DIGITS.match(service) and not _DIGITS.fullmatch(service):
        fail("garbage after numerical service")
    name = service or DEFAULT_SERVICE
    port = KNOWN_TCP_PORTS.get(name)
    if port is None and _DIGITS.fullmatch(name):
        digits = name.lstrip("0")
        port = int(digits) if 0 < len(digits) <= 5 else 0  # no int() on 5000 digits
        if not 0 < port < 65536:
            raise RelayhostError(f"bad network port: {name} for destination: {elem}", elem)
    elif port is None:
        port = _port_of(name)
        if port is None:
            raise RelayhostError(f"unknown service: {name}/tcp (destination: {elem})", elem)
    if not bracketed and ":" in host:  # Postfix takes it, splitting the address at its last colon
        fail("IPv6 must be bracketed", f"Postfix would read host {host}, port {port}")
    return Destination(text=elem, host=host, port=port,
                       service=service if service and not _DIGITS.fullmatch(service) else None,
                       mx_lookup=not bracketed, is_ip=_ip_address(host) is not None)


def parse_relayhost(value: str) -> list[Destination]:
    """The destinations of a ``relayhost`` value, in the order smtp(8) tries them.

    An empty value (after trimming, as main.cf does) means "no relay host, deliver
    directly" and gives ``[]``. A value made only of separators gives smtp(8)'s panic
    ``null destination``. Empty elements (``a,,b``) are skipped, as ``argv_split()``
    skips them. Raises :class:`RelayhostError` (an ``InvalidValueError``) for the first
    element smtp(8) would stop on.
    """
    stripped = value.strip(WS)
    if not stripped:
        return []
    elements = [e for e in _SEPARATORS.split(stripped) if e]
    if not elements:
        raise RelayhostError(f'null destination: "{stripped}"', stripped)
    return [_parse_element(e) for e in elements]


def implicit_tls(dest: Destination) -> bool:
    """Port 465 speaks TLS from the first byte: the client needs ``smtp_tls_wrappermode = yes``.

    smtp(8) decides by the port *number* (``ntohs(port) == 465``), so ``smtps``,
    ``submissions`` and ``465`` are all the same here.
    """
    return dest.port == SMTPS_PORT


def sasl_lookup_keys(dest: Destination) -> list[str]:
    """Keys smtp(8) looks up in ``smtp_sasl_password_maps`` for ``dest``, in order (spec 7.1).

    First the name of the server actually connected to (``iter->host``), then the
    destination as written (``iter->dest``). Each key goes through every table before
    the next key is tried, so a bare ``smtp.example.com`` entry wins over
    ``[smtp.example.com]:587``. For a bracketed destination the server name is the host
    as written, so both keys are known. For an MX destination it is each MX host's name,
    which only DNS knows at delivery time: we return just ``[dest.text]``, and a caller
    must not conclude that nothing can shadow it. Exceptions: an unbracketed IP address
    (dns_lookup() refuses addresses, so smtp(8) connects to it and ``iter->host`` is the
    address) and ``smtp_dns_support_level = disabled`` (not known here). Not covered:
    the sender keys tried before all of these when ``smtp_sender_dependent_authentication
    = yes``. Tables are opened with ``DICT_FLAG_FOLD_FIX``: compare keys case-insensitively.
    """
    if dest.mx_lookup and not dest.is_ip:
        return [dest.text]
    return list(dict.fromkeys([dest.host, dest.text]))


def relayhost_warnings(value: str) -> list[str]:
    """Things Postfix accepts silently but that rarely mean what was intended.

    Raises :class:`RelayhostError` like :func:`parse_relayhost`: fix errors first. Not
    reported: that a list needs Postfix 3.5+ (the running version is not known here).
    """
    dests = parse_relayhost(value)
    out: list[str] = []
    if _EMPTY_ELEMENT.search(value.strip(WS)):
        out.append(f"relayhost {value.strip(WS)!r}: empty list element (Postfix skips it)")
    for d in dests:
        written = d.text.rpartition(":")[2] if d.mx_lookup and ":" in d.text else ""
        if d.mx_lookup and d.is_ip:
            out.append(f"{d.text}: an IP address without brackets is taken as a mail domain (Postfix skips "
                       f"the MX lookup only because it is an address); write [{d.host}]"
                       + (f":{written}" if written else ""))
        elif d.mx_lookup and d.port != KNOWN_TCP_PORTS[DEFAULT_SERVICE]:
            out.append(f"{d.text}: a port without brackets still looks up MX records of {d.host} "
                       f"and connects to the mail exchangers on port {d.port}; "
                       f"write [{d.host}]:{written} to connect to {d.host} itself")
        if not d.host.isascii():
            out.append(f"{d.text}: a non-ASCII host name works only with smtputf8_enable = yes")
        if implicit_tls(d):
            out.append(f"{d.text}: {SMTPS_HINT}")
    return out
