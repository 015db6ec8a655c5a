"""Security: open relays, AUTH before TLS, and networks trusted by mistake.

Every smtpd that strangers can reach is checked with its master.cf ``-o`` options
applied over main.cf: ``inet`` entries not bound to a loopback address and the
``pass`` entries behind postscreen, unless ``inet_interfaces`` is loopback-only.
The SMTP *client* side (passwords sent in clear, readable password maps) is checked
in :mod:`.relay` and :mod:`.maps`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..master_cf import Service
from ..view import tls_level
from . import fixes
from .context import Config, command_name, service_label
from .findings import Finding, make
from .restrictions import STAGES, Verdict, mynetworks_public, public_networks, relay_verdict

_ENCRYPT = frozenset({"encrypt", "verify", "fingerprint", "secure"})  # smtpd uses encrypt for the last three
_LOOPBACK = ("127.", "[127.", "localhost", "[::1]", "::1", "[ipv6:::1]")
_SAFE_RELAY = "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
_LOOPBACK_NETWORKS = "127.0.0.0/8 [::1]/128"


def _loopback(host: str) -> bool:
    return host.lower().startswith(_LOOPBACK)


def exposed(cfg: Config) -> bool:
    """False when ``inet_interfaces`` only names loopback addresses."""
    words = cfg.words("inet_interfaces")
    return not words or not all(w == "loopback-only" or _loopback(w) for w in words)


def smtpd_services(cfg: Config) -> list[Service]:
    """smtpd entries that accept connections from other hosts."""
    if not exposed(cfg):
        return []
    out = []
    for s in cfg.services():
        if command_name(s) != "smtpd" or s.type not in ("inet", "pass"):
            continue
        if s.type == "inet" and ":" in s.name and _loopback(s.name.rpartition(":")[0]):
            continue
        out.append(s)
    return out


def _submission_like(cfg: Config, s: Service) -> bool:
    name = s.name.rpartition(":")[2]
    return name in ("submission", "submissions", "smtps", "587", "465") or bool(
        cfg.boolean("smtpd_sasl_auth_enable", s) and s.options.get("smtpd_sasl_auth_enable"))


def _relay_fix(cfg: Config, s: Service, param: str) -> str:
    """Close the relay where the permitting list is in effect: this entry's -o, else main.cf."""
    if _submission_like(cfg, s):  # clients of a submission port log in; nobody else may relay
        return fixes.postconf_set(cfg, s, [("smtpd_relay_restrictions", "permit_sasl_authenticated,reject")])
    if param in s.options or "smtpd_relay_restrictions" in s.options:
        return fixes.postconf_set(cfg, s, [("smtpd_relay_restrictions", _SAFE_RELAY)])
    return fixes.pfedit_set(cfg, [("smtpd_relay_restrictions", _SAFE_RELAY)])


def _mynetworks_fix(cfg: Config, s: Service) -> str:
    """mynetworks without its public elements (loopback only when nothing else is left), set
    where it is in effect."""
    if cfg.is_set("mynetworks", s):
        words = cfg.words("mynetworks", s)
        bad = public_networks(words)
        kept = " ".join(w for w in words if w not in bad) or _LOOPBACK_NETWORKS
        return fixes.set_where(cfg, s, [("mynetworks", kept)])
    return fixes.set_where(cfg, s, [("mynetworks", _LOOPBACK_NETWORKS)], local="mynetworks_style" in s.options)


def _open_relay(cfg: Config, s: Service, v: Verdict) -> Finding:
    label = service_label(s)
    who = "any client"
    if v.reason == "permit_mynetworks" or v.reason.endswith("(permit_mynetworks)"):
        file, line = cfg.where("mynetworks", s)
        net = mynetworks_public(cfg, s)
        if net is not None and not net.endswith("/0"):
            who = f"any client in {net} (mostly public addresses)"
        why = f"{v.stage} permits with permit_mynetworks, and mynetworks contains {net}"
        fix = _mynetworks_fix(cfg, s)
    else:
        file, line = cfg.where(v.stage, s)
        value = cfg.value(v.stage, s) or "(empty)"
        why = (f"{v.stage} = {value}: '{v.reason}' accepts before any destination check"
               if v.reason and v.reason != "no element rejects" else
               f"no restriction in {', '.join(STAGES)} refuses an outside recipient")
        fix = _relay_fix(cfg, s, v.stage)
    if v.state == "conditional":
        unless = "; ".join(v.doubts)
        return make("open-relay-conditional", file, line,
                    f"{label} relays mail from {who} to any domain unless one of these refuses it: {unless} "
                    f"({why})", fix)
    return make("open-relay", file, line, f"{label} is an open relay: {who} may send mail to any domain "
                f"through it ({why})", fix)


def _fatal(cfg: Config, s: Service) -> Finding:
    relay = cfg.is_set("smtpd_relay_restrictions", s)
    param = "smtpd_relay_restrictions" if relay or not cfg.is_set("smtpd_recipient_restrictions", s) \
        else "smtpd_recipient_restrictions"
    file, line = cfg.where(param, s)
    extra = ""
    if not relay and cfg.compatibility_level() < (1, 0, 0):
        extra = " (with compatibility_level < 1 the default smtpd_relay_restrictions is empty)"
    return make("relay-restrictions-fatal", file, line,
                f"{service_label(s)}: smtpd stops at start-up: 'in parameter smtpd_relay_restrictions or "
                "smtpd_recipient_restrictions, specify at least one working instance of: reject_unauth_destination,"
                " defer_unauth_destination, reject, defer, defer_if_permit or check_relay_domains'" + extra
                + " (a 'permit' before it does not count)",
                _relay_fix(cfg, s, "smtpd_relay_restrictions") if relay
                else fixes.pfedit_set(cfg, [("smtpd_relay_restrictions", _SAFE_RELAY)]))


def _auth_before_tls(cfg: Config, s: Service) -> Iterator[Finding]:
    if cfg.boolean("smtpd_sasl_auth_enable", s) is not True or cfg.boolean("smtpd_tls_wrappermode", s):
        return
    level = tls_level(cfg, s, "smtpd")
    if level in _ENCRYPT or (level != "none" and cfg.boolean("smtpd_tls_auth_only", s)):
        return
    label = service_label(s)
    file, line = cfg.where("smtpd_sasl_auth_enable", s)
    why = ("TLS is off (smtpd_tls_security_level empty or none), so every login crosses the network in clear"
           if level == "none" else "TLS is optional and smtpd_tls_auth_only is not yes, so clients may log in "
           "before STARTTLS and send their password in clear")
    local = s.options.get("smtpd_sasl_auth_enable") is not None or _submission_like(cfg, s)
    submission = s.type == "inet" and s.name.rpartition(":")[2] in ("submission", "587")
    if local and (submission or level == "none"):
        fix = fixes.postconf_set(cfg, s, [("smtpd_tls_security_level", "encrypt"), ("smtpd_tls_auth_only", "yes")])
    elif local:
        fix = fixes.postconf_set(cfg, s, [("smtpd_tls_auth_only", "yes")])
    elif level == "none":  # the public port: TLS offered (may), never required, and AUTH only inside it
        fix = fixes.set_where(cfg, s, [("smtpd_tls_security_level", "may"), ("smtpd_tls_auth_only", "yes")])
    else:
        fix = fixes.set_where(cfg, s, [("smtpd_tls_auth_only", "yes")])
    yield make("submission-auth-before-tls", file, line, f"{label} offers AUTH (smtpd_sasl_auth_enable = yes) "
               f"but {why}", fix)


def _public_relay(cfg: Config, s: Service, net: str, v: Verdict) -> Finding | None:
    """The service relays for a client *inside* a public mynetworks network (the stranger is outside)."""
    if v.state != "closed" or v.stage == "smtpd_tls_req_ccert":
        return None
    inside = relay_verdict(cfg, s, trusted_client=True)
    if inside.state not in ("open", "conditional") or "permit_mynetworks" not in inside.reason:
        return None
    file, line = cfg.where("mynetworks" if cfg.is_set("mynetworks", s) else "mynetworks_style", s)
    return make("mynetworks-public-relay", file, line,
                f"{service_label(s)} relays mail from any client in {net} (mostly public addresses) to any domain: "
                f"{inside.stage} permits with permit_mynetworks (a client outside mynetworks is refused)",
                _mynetworks_fix(cfg, s))


def check_security(cfg: Config) -> Iterator[Finding]:
    reported_networks: set[tuple[str, int | None]] = set()
    for s in smtpd_services(cfg):
        v = relay_verdict(cfg, s)
        if v.state == "fatal":
            yield _fatal(cfg, s)
        elif v.state in ("open", "conditional"):
            yield _open_relay(cfg, s, v)
        yield from _auth_before_tls(cfg, s)
        net = mynetworks_public(cfg, s)
        public_relay = None if net is None else _public_relay(cfg, s, net, v)
        if public_relay is not None:
            yield public_relay
            continue
        where = cfg.where("mynetworks" if cfg.is_set("mynetworks", s) else "mynetworks_style", s)
        if net is not None and where not in reported_networks and "permit_mynetworks" not in v.reason:
            reported_networks.add(where)
            yield make("mynetworks-public", where[0], where[1],
                       f"mynetworks trusts a large part of the Internet ({net}): permit_mynetworks and every "
                       "other trusted-network check let those clients through",
                       _mynetworks_fix(cfg, s))

