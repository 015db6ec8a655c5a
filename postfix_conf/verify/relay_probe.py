"""Will mail leave through the relay? Walk smtp(8)'s steps against the real server.

A wrong password, a user name in the wrong form, port 465 set up as STARTTLS, a provider
that wants an application password, a missing Cyrus plugin: all pass every static check.
:func:`verify_relay` finds them by doing what smtp(8) will do, stage by stage, and stops
at the first stage that fails:

``settings`` -> ``resolve`` -> ``connect`` -> (``tls`` | ``greeting``, in the order of the
configured TLS mode) -> ``ehlo`` (with the AUTH mechanism analysis) -> ``auth`` ->
``send`` (only with ``send_to``) -> ``quit``.

Every stage has its own deadline. Network access is only to the relay and, through the
injected resolvers, to DNS. The password is never part of a stage's text, of the JSON, or
of an exception that leaves this module.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..relayhost import Destination
from .client_settings import ClientSettings
from .diagnose import mask, relay_auth_command

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
STAGES = ("settings", "resolve", "connect", "greeting", "tls", "ehlo", "auth", "send", "quit")

MxResolver = Callable[[str], list[tuple[int, str]]]
"""MX records of a domain as (preference, exchanger); [] when it has none; ResolveError on failure."""
HostResolver = Callable[[str], list[str]]
"""IPv4/IPv6 addresses of a host name; ResolveError on failure."""


class ResolveError(Exception):
    """A DNS lookup failed; the message says why (NXDOMAIN, timeout, ...)."""


@dataclass
class Stage:
    name: str
    status: str  # passed / failed / skipped
    detail: str
    fix: str = ""
    destination: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix,
                "destination": self.destination}


@dataclass
class RelayReport:
    relayhost: str
    stages: list[Stage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(s.status == FAILED for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {"relayhost": self.relayhost, "ok": self.ok, "stages": [s.to_dict() for s in self.stages]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


@dataclass
class Target:
    """One address to connect to, and the server name smtp(8) knows it by."""

    host: str  # the MX host name, the bracketed name, or the address itself
    address: str
    port: int


def verify_relay(settings: ClientSettings, *, timeout: float = 10.0, send_to: str | None = None,
                 resolve_mx: MxResolver | None = None, resolve_host: HostResolver | None = None,
                 plugin_dirs: list[Path] | None = None) -> RelayReport:
    """Probe every relay destination; ``report.ok`` when no stage failed.

    ``resolve_host`` defaults to the system resolver (``getaddrinfo``); ``plugin_dirs`` to
    the Cyrus plugin directories of this machine (see :mod:`.sasl_client`).
    """
    from .session import run_session  # the SMTP part; imported here to keep this module's imports light

    report = RelayReport(settings.relayhost)
    secrets = settings.secrets()
    if not _settings_stage(settings, report):
        return _finish(report, secrets)
    for dest in settings.destinations:
        stages: list[Stage] = []
        targets = _resolve(settings, dest, timeout, resolve_mx, resolve_host, stages)
        sock = _connect(dest, targets, timeout, stages) if targets else None
        if sock is not None:
            run_session(settings, dest, sock[0], sock[1], timeout, send_to, plugin_dirs, stages)
        for s in stages:
            s.destination = dest.text
        report.stages.extend(stages)
        ran = {s.name for s in stages}
        report.stages.extend(Stage(n, SKIPPED, "not run: an earlier stage failed", destination=dest.text)
                             for n in STAGES[1:] if n not in ran)
    return _finish(report, secrets)


def _finish(report: RelayReport, secrets: list[str]) -> RelayReport:
    """Second line of defence: no stored password in any text of the report."""
    for s in report.stages:
        s.detail, s.fix = mask(s.detail, secrets), mask(s.fix, secrets)
    return report


def _settings_stage(settings: ClientSettings, report: RelayReport) -> bool:
    def fail(detail: str, fix: str) -> bool:
        report.stages.append(Stage("settings", FAILED, detail, fix))
        report.stages.extend(Stage(n, SKIPPED, "not run: an earlier stage failed") for n in STAGES[1:])
        return False

    if settings.relayhost_error:
        return fail(f"{settings.relayhost_source}: {settings.relayhost_error}; smtp(8) stops on every delivery",
                    "pfedit set relayhost='[smtp.example.com]:587'")
    if not settings.destinations:
        return fail("relayhost is empty: smtp(8) delivers straight to each recipient's mail server, there is no "
                    "relay to verify", relay_auth_command("[smtp.example.com]:587", None))
    if settings.sasl_enabled and settings.sasl_type.lower() != "cyrus":
        return fail(f"smtp_sasl_type = {settings.sasl_type}: the Postfix SMTP client supports only cyrus",
                    "pfedit unset smtp_sasl_type")
    mode = ("implicit TLS (wrapper mode)" if settings.wrapper else
            "no TLS" if settings.tls_level == "none" else "STARTTLS")
    sasl = "SMTP AUTH on" if settings.sasl_enabled else "SMTP AUTH off"
    detail = (f"{settings.relayhost_source} {settings.relayhost}, {mode}, smtp_tls_security_level = "
              f"{settings.tls_level}, {sasl}, EHLO name {settings.helo_name} (service {settings.service})")
    if settings.notes:
        detail += "; note: " + "; ".join(settings.notes)
    report.stages.append(Stage("settings", PASSED, detail))
    return True


def _addresses(host: str, settings: ClientSettings, resolve_host: HostResolver | None) -> list[str]:
    """A/AAAA of ``host`` as smtp_host_lookup says (dns, then native), filtered by inet_protocols."""
    found: list[str] = []
    error: ResolveError | None = None
    if "dns" in settings.host_lookup and resolve_host is not None:
        try:
            found = resolve_host(host)
        except ResolveError as exc:
            error = exc
    if not found and ("native" in settings.host_lookup or resolve_host is None):
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            found = list(dict.fromkeys(str(i[4][0]) for i in infos))
        except (OSError, UnicodeError) as exc:
            error = ResolveError(f"{host}: {getattr(exc, 'strerror', None) or exc}")
    protocols = settings.inet_protocols
    if "all" not in protocols:
        found = [a for a in found if (":" in a and "ipv6" in protocols) or (":" not in a and "ipv4" in protocols)]
    if not found:
        raise error or ResolveError(f"{host} has no address")
    return found


def _resolve(settings: ClientSettings, dest: Destination, timeout: float, resolve_mx: MxResolver | None,
             resolve_host: HostResolver | None, stages: list[Stage]) -> list[Target]:
    """Brackets (or an address) suppress the MX lookup, as in smtp(8)."""
    try:
        if dest.is_ip:
            ipaddress.ip_address(dest.host)
            targets = [Target(dest.host, dest.host, dest.port)]
            how = "an address: no lookup"
        elif not dest.mx_lookup:
            targets = [Target(dest.host, a, dest.port) for a in _addresses(dest.host, settings, resolve_host)]
            how = "brackets: no MX lookup"
        elif resolve_mx is None:
            stages.append(Stage("resolve", FAILED, f"{dest.text} has no brackets, so smtp(8) looks up the MX records "
                                f"of {dest.host}, and no DNS resolver is available here",
                                "install dnspython (pip install dnspython), or write the relay in brackets "
                                f"to connect to {dest.host} itself: " + relay_auth_command(
                                    f"[{dest.host}]:{dest.port}", None)))
            return []
        else:
            mx = sorted(resolve_mx(dest.host))
            hosts = [h.rstrip(".") for _, h in mx] or [dest.host]
            targets = []
            for h in hosts:
                try:
                    targets.extend(Target(h, a, dest.port) for a in _addresses(h, settings, resolve_host))
                except ResolveError:
                    continue
            records = ", ".join(f"{pref} {host}" for pref, host in zip((p for p, _ in mx), hosts, strict=False))
            how = f"MX {records}" if mx else f"no MX records: {dest.host} itself"
            if not targets:
                raise ResolveError(f"no address for {', '.join(hosts)}")
    except ResolveError as exc:
        stages.append(Stage("resolve", FAILED, f"cannot resolve {dest.text}: {exc}",
                            "check the host name with the provider's documentation"))
        return []
    shown = ", ".join(dict.fromkeys(f"{t.host} {t.address}" if t.host != t.address else t.address for t in targets))
    stages.append(Stage("resolve", PASSED, f"{dest.text} ({how}) -> {shown}"))
    return targets


def _connect(dest: Destination, targets: list[Target], timeout: float,
             stages: list[Stage]) -> tuple[socket.socket, Target] | None:
    """TCP to each address in turn, as smtp(8) does, within one stage deadline."""
    deadline = time.monotonic() + timeout
    errors: list[str] = []
    timed_out = False
    for t in targets:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        family = socket.AF_INET6 if ":" in t.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(left)
        try:
            sock.connect((t.address, t.port))
        except TimeoutError:
            sock.close()
            timed_out = True
            errors.append(f"{t.address} port {t.port}: no answer within {timeout:g}s")
            continue
        except OSError as exc:
            sock.close()
            errors.append(f"{t.address} port {t.port}: {exc.strerror or exc}")
            continue
        stages.append(Stage("connect", PASSED, f"connected to {t.address} port {t.port}"))
        return sock, t
    if timed_out and dest.port == 25:
        fix = ("outbound port 25 is probably blocked by your provider: use its submission port 587 or 465: "
               + relay_auth_command(f"[{dest.host}]:587", None))
    elif timed_out:
        fix = "a firewall drops the connection, or the host or port is wrong: check the provider's settings"
    elif any("refused" in e.lower() for e in errors):
        fix = "nothing listens on that port: check the port number (submission: 587 with STARTTLS, 465 implicit TLS)"
    else:
        fix = "check the network and the relay host name"
    stages.append(Stage("connect", FAILED, "; ".join(errors) or f"no answer within {timeout:g}s", fix))
    return None
