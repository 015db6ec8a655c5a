"""Would smtpd relay a message from a stranger? Restriction lists evaluated like ``smtpd_check.c``.

The question asked of every list is what happens to ``RCPT TO:<x@external.example>``
from an unauthenticated client outside every trusted network (:func:`stranger_network`:
only when ``mynetworks`` trusts all of IPv4 is the stranger inside it), whose HELO name
and sender address the client chooses freely; ``pfedit verify open-relay`` asks the
real smtpd the same question from the same address. Each element of a list either permits
(the list stops and passes), rejects (the message is refused), or does nothing.
Elements whose answer depends on data we cannot see (a policy service, an LDAP
table) are *doubts*: a list that lets the
stranger through only "unless" one of them stops it is reported as conditional. The
relay is open when no list refuses the recipient: ``smtpd_client_restrictions``,
``_helo_``, ``_sender_`` (evaluated at RCPT time with ``smtpd_delay_reject = yes``),
``smtpd_relay_restrictions`` and ``smtpd_recipient_restrictions``.

smtpd also refuses to start unless the relay or the recipient list has a
"working instance" of a destination check before any ``permit`` (``has_required()``),
and with ``smtpd_tls_req_ccert`` enforced it ends every session of a client without a
trusted certificate before MAIL FROM.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..maps import FILE_TYPES
from ..master_cf import Service
from ..table import LookupTable
from .context import Config, split_list, split_plain, unbrace

Result = Literal["permit", "reject", "dunno"]
REQUIRED = ("reject_unauth_destination", "defer_unauth_destination", "reject", "defer", "defer_if_permit",
            "check_relay_domains")
"""``has_required()``'s list: the wording of smtpd's fatal error."""
_REJECTS = frozenset({"reject", "defer", "defer_if_permit", "reject_unauth_destination",
                      "defer_unauth_destination", "check_relay_domains"})
_NEEDS_RECIPIENT = frozenset({"reject_unauth_destination", "defer_unauth_destination", "check_relay_domains"})
_ATTACKER_KEYED = ("check_sender_access", "check_helo_access", "check_sender_a_access", "check_sender_mx_access",
                   "check_sender_ns_access", "check_helo_a_access", "check_helo_mx_access", "check_helo_ns_access")
STAGES = ("smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
          "smtpd_relay_restrictions", "smtpd_recipient_restrictions")


def _takes_argument(name: str) -> bool:
    return (name.startswith("check_") or name == "sleep" or "_rbl_" in name or "rhsbl" in name
            or name.startswith(("permit_dnswl", "permit_rhswl", "reject_rbl", "warn_if_reject_rbl")))


@dataclass
class Outcome:
    result: Result
    reason: str = ""  # the element that permitted or rejected
    doubts: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    """``state``: open, conditional (open unless a doubt rejects), closed, or fatal (smtpd will not start)."""

    state: Literal["open", "conditional", "closed", "fatal"]
    stage: str = ""  # the list that decided (closed) or that permitted (open)
    reason: str = ""
    doubts: list[str] = field(default_factory=list)


def _action(value: str) -> Result | None:
    """What an access(5) table result does; None for anything we cannot classify."""
    word = value.strip().split(" ", 1)[0].upper()
    if word in ("OK", "RELAY", "PERMIT") or (word.isdigit() and word[:1] not in "45"):
        return "permit"
    if word in ("REJECT", "DEFER", "DEFER_IF_PERMIT", "DEFER_IF_REJECT") or word[:1] in ("4", "5"):
        return "reject" if word != "DEFER_IF_REJECT" else "dunno"
    if word == "DUNNO":
        return "dunno"
    return None


def table_values(spec: str) -> list[str] | None:
    """Every value of a ``static:``, ``inline:`` or readable postmap-source table; None if unknown."""
    kind, _, name = spec.partition(":")
    while kind == "proxy":
        kind, _, name = name.partition(":")
    if kind == "static":
        return [unbrace(name)]
    if kind == "inline":
        return [item.partition("=")[2].strip() for item in split_list(unbrace(name))]
    if kind in FILE_TYPES and name.startswith("/") and os.path.isfile(name):
        try:
            return list(LookupTable.read(name).entries().values())
        except OSError:
            return None
    return None


class Evaluator:
    """Restriction lists of one smtpd (a master.cf entry's ``-o`` applied over main.cf)."""

    def __init__(self, cfg: Config, service: Service | None, *, trusted_client: bool = False) -> None:
        self.cfg = cfg
        self.service = service
        self.classes = set(split_plain(cfg.value("smtpd_restriction_classes", service)))
        # permit_mynetworks lets the stranger through only when no IPv4 address is outside mynetworks
        self.mynetworks_anyone = trusted_client or not stranger_network(mynetworks_value(cfg, service))

    def elements(self, name: str) -> list[str]:
        return [unbrace(t) for t in self.cfg.words(name, self.service)]

    def run(self, name: str, with_recipient: bool = True) -> Outcome:
        return self._eval(self.elements(name), with_recipient, 0)

    def _eval(self, items: list[str], with_recipient: bool, depth: int) -> Outcome:
        doubts: list[str] = []
        i = 0
        while i < len(items):
            item = items[i]
            arg = items[i + 1] if i + 1 < len(items) and _takes_argument(item) else None
            step = 2 if arg is not None else 1
            if item == "warn_if_reject" and i + 1 < len(items):
                nxt = items[i + 1]
                step = 3 if i + 2 < len(items) and _takes_argument(nxt) else 2
                if nxt == "permit":
                    return Outcome("permit", "warn_if_reject permit", doubts)
                i += step
                continue
            result, reason = self._element(item, arg, with_recipient, depth, doubts)
            if result != "dunno":
                return Outcome(result, reason, doubts)
            i += step
        return Outcome("dunno", "", doubts)

    def _element(self, item: str, arg: str | None, with_recipient: bool, depth: int,
                 doubts: list[str]) -> tuple[Result, str]:
        if item == "permit":
            return "permit", "permit"
        if item in _REJECTS:
            if item in _NEEDS_RECIPIENT and not with_recipient:
                return "dunno", ""
            return "reject", item
        if item == "permit_mynetworks":
            return ("permit", "permit_mynetworks") if self.mynetworks_anyone else ("dunno", "")
        if item == "permit_sasl_authenticated":
            # Not even after an anonymous login: smtpd_sasl_glue.c permit_sasl_auth() refuses the
            # ANONYMOUS method (pfedit verify open-relay logs in anonymously and is refused).
            return "dunno", ""
        if item in self.classes and depth < 20:
            sub = self._eval([unbrace(t) for t in self.cfg.words(item, self.service)], with_recipient, depth + 1)
            doubts.extend(sub.doubts)
            return sub.result, f"{item} ({sub.reason})" if sub.reason else item
        if item.startswith("check_") and arg is not None:
            return self._access(item, arg, doubts)
        return "dunno", ""

    def _access(self, item: str, table: str, doubts: list[str]) -> tuple[Result, str]:
        if item == "check_policy_service":
            doubts.append(f"check_policy_service {table}")
            return "dunno", ""
        values = table_values(table)
        if values is None:
            doubts.append(f"{item} {table}")
            return "dunno", ""
        actions = {_action(v) for v in values}
        if table.startswith("static:"):
            action = actions.pop()
            if action is None:
                doubts.append(f"{item} {table}")
                return "dunno", ""
            return action, f"{item} {table}"
        if item in _ATTACKER_KEYED and "permit" in actions:
            return "permit", (f"{item} {table} (a client that sends the matching "
                              f"{'sender address' if 'sender' in item else 'HELO name'} gets OK)")
        if None in actions or "reject" in actions:
            doubts.append(f"{item} {table}")
        return "dunno", ""


def has_required(ev: Evaluator, items: list[str], depth: int = 0) -> bool:
    """smtpd_check.c ``has_required()``: a destination check before any ``permit`` (classes followed)."""
    i = 0
    while i < len(items):
        item = items[i]
        if item == "warn_if_reject" and i + 1 < len(items):
            i += 2
            continue
        if item == "permit":
            return False
        if item in REQUIRED:
            return True
        if item in ev.classes and depth < 20 and has_required(
                ev, [unbrace(t) for t in ev.cfg.words(item, ev.service)], depth + 1):
            return True
        i += 1
    return False


def client_certificate_required(cfg: Config, service: Service | None) -> bool:
    """``smtpd_tls_req_ccert = yes`` where smtpd enforces it: TLS mandatory (encrypt) or wrapper mode.

    Without a certificate that smtpd_tls_CAfile/CApath trusts, the session ends after
    the TLS handshake (421 "No client certificate presented"): no stranger gets to
    MAIL FROM. With optional TLS smtpd ignores the setting (and logs a warning).
    """
    if cfg.boolean("smtpd_tls_req_ccert", service) is not True:
        return False
    level = cfg.value("smtpd_tls_security_level", service).strip()
    enforced = level in ("encrypt", "verify", "fingerprint", "secure") if level else bool(
        cfg.boolean("smtpd_enforce_tls", service))
    return enforced or bool(cfg.boolean("smtpd_tls_wrappermode", service))


def relay_verdict(cfg: Config, service: Service | None, *, trusted_client: bool = False) -> Verdict:
    """How this smtpd answers a stranger's RCPT TO an outside domain.

    The stranger's address is outside every network of ``mynetworks``
    (:func:`stranger_network`); with ``trusted_client`` it is inside, which is what a
    client in a public network that mynetworks trusts gets.
    """
    ev = Evaluator(cfg, service, trusted_client=trusted_client)
    relay_items = ev.elements("smtpd_relay_restrictions")
    rcpt_items = ev.elements("smtpd_recipient_restrictions")
    if not has_required(ev, relay_items) and not has_required(ev, rcpt_items):
        return Verdict("fatal", "smtpd_relay_restrictions")
    if client_certificate_required(cfg, service):
        return Verdict("closed", "smtpd_tls_req_ccert", "smtpd_tls_req_ccert")
    delayed = cfg.boolean("smtpd_delay_reject", service) is not False
    doubts: list[str] = []
    permitted: tuple[str, str] | None = None
    for stage in STAGES:
        with_rcpt = delayed or stage in ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")
        out = ev.run(stage, with_rcpt)
        if out.result == "reject":
            return Verdict("closed", stage, out.reason)
        doubts.extend(out.doubts)
        if out.result == "permit" and permitted is None and stage in STAGES[3:]:
            permitted = (stage, out.reason)
    stage, reason = permitted or ("smtpd_relay_restrictions", "no element rejects")
    if doubts:
        return Verdict("conditional", stage, reason, doubts)
    return Verdict("open", stage, reason)


_LOCAL_NETS = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/3", "::1/128", "::ffff:0:0/96", "fc00::/7", "fe80::/10", "2001:db8::/32", "ff00::/8")]


def _network(token: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    text = token
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        text = host + rest
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _is_local(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return any(net.version == loc.version and net.subnet_of(loc) for loc in _LOCAL_NETS)  # type: ignore[arg-type]


STRANGER_NETWORKS = ("203.0.113", "198.51.100", "192.0.2", *(f"{a}.0.113" for a in range(1, 224) if a != 127))
"""Where the stranger comes from: the first of these /24s that mynetworks does not trust."""


def mynetworks_value(cfg: Config, service: Service | None) -> str:
    """mynetworks as set (main.cf or ``-o``); '' when it follows mynetworks_style (the host's own networks)."""
    return cfg.value("mynetworks", service) if cfg.is_set("mynetworks", service) else ""


def _net_tokens(value: str, depth: int = 0) -> list[str]:
    """mynetworks elements; a ``/file/name`` element is replaced by the patterns in the file."""
    out: list[str] = []
    for token in split_list(value):
        if token.startswith("/") and depth < 5:
            try:
                text = Path(token).read_text("utf-8", "replace")
            except OSError:
                continue
            out.extend(_net_tokens(" ".join(ln.split("#", 1)[0] for ln in text.splitlines()), depth + 1))
        else:
            out.append(token)
    return out


def stranger_network(mynetworks: str) -> str:
    """A /24 (``"203.0.113"``) whose every address is outside ``mynetworks``; '' if none is.

    This is where the stranger of ``pfedit check`` and of ``pfedit verify open-relay``
    connects from: outside every trusted network. An empty answer means mynetworks
    trusts all of IPv4 (0.0.0.0/0, or 0.0.0.0/1 with 128.0.0.0/1), so every client is
    trusted. Elements are read as a Postfix match list: the first that matches
    decides, ``!`` excludes; tables and host names are not evaluated.
    """
    tokens = _net_tokens(mynetworks)
    for prefix in STRANGER_NETWORKS:
        block = ipaddress.ip_network(f"{prefix}.0/24")
        trusted = False
        for token in tokens:
            net = _network(token.removeprefix("!"))
            if net is None or net.version != 4 or not net.overlaps(block):
                continue
            trusted = not token.startswith("!") or not block.subnet_of(net)  # type: ignore[arg-type]
            break
        if not trusted:
            return prefix
    return ""


def mynetworks_public(cfg: Config, service: Service | None) -> str | None:
    """The mynetworks element that trusts (a large part of) the Internet, or None.

    A network counts when its prefix is /8 or shorter for IPv4 (/16 for IPv6) and it
    is not inside private, loopback, link-local or documentation space. Unset
    ``mynetworks`` follows ``mynetworks_style``: ``class`` trusts whole class A/B/C
    networks, which may be public (reported), ``subnet``/``host`` are not reported.
    """
    if not cfg.is_set("mynetworks", service):
        style = cfg.value("mynetworks_style", service).strip()
        return "mynetworks_style = class" if style == "class" else None
    public = public_networks(cfg.words("mynetworks", service))
    return public[0] if public else None


def public_networks(tokens: list[str]) -> list[str]:
    """The elements of a mynetworks list that :func:`mynetworks_public` reports."""
    out = []
    for token in tokens:
        if token.startswith("!"):
            continue
        net = _network(token)
        if net is None or _is_local(net):
            continue
        if net.prefixlen <= (8 if net.version == 4 else 16):
            out.append(token)
    return out
