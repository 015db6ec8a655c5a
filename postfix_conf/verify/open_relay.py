"""``pfedit verify open-relay``: run the real smtpd on a copy of the configuration and try to relay.

:func:`verify_open_relay` starts the throw-away instance (:mod:`.instance`), probes
every smtpd of master.cf as a stranger (:mod:`.probe`, :mod:`.plan`) and reads the
answers:

- **relayed**: a 2xx to RCPT TO an address that smtpd itself (the oracle next to
  each service) calls an outside destination;
- **deferred only for DNS**: a 4xx that smtpd gives when a DNS or address
  verification check could not complete. The sandbox has no network, and these
  checks defer only when everything else let the request through, so a stranger
  whose domain resolves is relayed: counted as relayed;
- **refused**: any other 5xx or 4xx (``defer_unauth_destination`` says 454);
- **error**: smtpd could not decide (lost connection, temporary lookup failure).

A service is *open* when one attempt was relayed, *closed* when every attempt was
refused, *fatal* when smtpd stopped before greeting (what ``pfedit check`` calls
``relay-restrictions-fatal``), *unknown* otherwise. Only services that strangers
reach on the real server (the ones ``pfedit check`` evaluates) decide the result;
a loopback-only smtpd is probed and reported, but cannot relay for strangers.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..check import Config, Finding, check, relay_verdict
from .instance import Instance, InstanceError, signals_interrupt
from .plan import FORMS_BY_KEY, Round, rounds
from .probe import Attempt, Probe, ask_oracle, run_round
from .sandbox import Endpoint

Verdict = Literal["open", "closed", "fatal", "unknown"]
Outcome = Literal["relayed", "deferred-dns", "refused", "error", "local", "untested"]
NETWORK_DEFERRALS = ("Domain not found", "Host not found", "cannot find your hostname",
                     "cannot find your reverse hostname", "unverified address")
SERVER_ERRORS = ("Temporary lookup failure", "Server configuration", "queue file write error",
                 "Insufficient system storage", "try again later", "Error: timeout")
_RELAY_CODES = ("open-relay", "open-relay-conditional", "relay-restrictions-fatal")

__all__ = ["InstanceError", "Report", "ServiceResult", "outcome", "verify_open_relay"]


def outcome(a: Attempt) -> Outcome:
    """What one attempt shows (see the module docstring)."""
    if a.outside is False:
        return "local"
    at_rcpt = not a.reply.startswith(("MAIL FROM:", "greeting:", "connect:", "STARTTLS:", "AUTH ANONYMOUS:"))
    if a.code == 0:
        return "error"
    if a.reply.startswith(("greeting:", "connect:", "STARTTLS:")):  # turned away before MAIL FROM
        return "error" if any(t in a.reply for t in SERVER_ERRORS) else "refused"
    if 200 <= a.code < 300:
        return "relayed" if a.outside or a.form == "plain" else "error"
    if 400 <= a.code < 500:
        if any(t in a.reply for t in NETWORK_DEFERRALS):
            return "deferred-dns" if at_rcpt and (a.outside or a.form == "plain") else "untested"
        if a.code == 421 or any(t in a.reply for t in SERVER_ERRORS):
            return "error"
    return "refused"


@dataclass
class ServiceResult:
    """The verdict on one smtpd, with the attempts that decided it."""

    endpoint: Endpoint
    verdict: Verdict
    summary: str
    probe: Probe
    static_verdict: str  # relay_verdict(...).state of `pfedit check`
    findings: list[Finding] = field(default_factory=list)  # check's findings about this service
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.endpoint.label

    def attempts(self, *kinds: Outcome) -> list[Attempt]:
        return [a for a in self.probe.attempts if outcome(a) in kinds]

    def finding(self, *codes: str) -> Finding | None:
        return next((f for f in self.findings if f.code in codes), None)

    def to_json(self) -> dict[str, Any]:
        def attempt(a: Attempt) -> dict[str, Any]:
            return {"form": a.form, "form_title": FORMS_BY_KEY[a.form].title, "rcpt": a.rcpt,
                    "mail_from": a.sender, "helo": a.helo, "round": a.why, "reply": a.reply, "tls": a.tls,
                    "auth": a.auth or None, "outcome": outcome(a)}
        f = self.finding(*_RELAY_CODES)
        auth = self.finding("submission-auth-before-tls")
        return {
            "service": self.label, "listen": self.endpoint.service.name, "via": self.endpoint.via or None,
            "reachable_by_strangers": self.endpoint.exposed, "verdict": self.verdict, "summary": self.summary,
            "relayed": [attempt(a) for a in self.attempts("relayed", "deferred-dns")],
            "errors": [attempt(a) for a in self.attempts("error")],
            "counts": self.counts, "fatal": self.probe.fatal or None, "log": self.probe.log,
            "auth_before_starttls": self.probe.auth_before_tls, "auth_mechanisms": self.probe.auth_mechanisms,
            "starttls_offered": self.probe.starttls, "check_verdict": self.static_verdict,
            "check_finding": None if f is None else f.to_dict(),
            "check_auth_finding": None if auth is None else auth.to_dict(),
        }


@dataclass
class Report:
    config_dir: Path
    services: list[ServiceResult]
    adjustments: list[str]
    seconds: float
    leftovers: list[tuple[int, str]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # warnings of the daemons smtpd asks (trivial-rewrite ...)

    @property
    def open(self) -> list[ServiceResult]:
        return [s for s in self.services if s.verdict == "open" and s.endpoint.exposed]

    @property
    def undecided(self) -> list[ServiceResult]:
        return [s for s in self.services if s.verdict == "unknown" and s.endpoint.exposed]

    @property
    def exit_code(self) -> int:
        return 1 if self.open or self.undecided or self.leftovers else 0

    def to_json(self) -> dict[str, Any]:
        return {"config_dir": str(self.config_dir), "open_relay": bool(self.open),
                "undecided": [s.label for s in self.undecided], "services": [s.to_json() for s in self.services],
                "sandbox_adjustments": self.adjustments, "seconds": round(self.seconds, 2),
                "leftover_processes": [f"{pid} {comm}" for pid, comm in self.leftovers], "log": self.log}


_NOISE = ("TLS library problem", "dict_nis_init", "overriding earlier entry")
_SUPPORT = r"[\w./-]*/(?:trivial-rewrite|cleanup|proxymap|verify|anvil|tlsmgr|postlogd|spawn|master)"


def _log_lines(log: str, daemon: str, limit: int = 6) -> list[str]:
    """Distinct warnings and errors of ``daemon`` (a regex: "postfix/pfedit0/smtpd"), first ``limit``.

    They explain a 4xx answer: smtpd says "Temporary lookup failure", trivial-rewrite
    says which table it could not open.
    """
    found = re.findall(rf" ({daemon})\[\d+\]: ((?:warning|error|fatal): .*)", log)
    lines = [f"{who.rpartition('/')[2]}: {text}" for who, text in found if not any(n in text for n in _NOISE)]
    return list(dict.fromkeys(lines))[:limit]


def _fatal_line(log: str, syslog_name: str) -> str | None:
    found = re.search(rf" {re.escape(syslog_name)}/smtpd\[\d+\]: fatal: (.*)", log)
    return found.group(1) if found else None


def _gave_up(inst: Instance, e: Endpoint) -> Callable[[], str | None]:
    """Why waiting for this smtpd's greeting is pointless (a fatal error, a service it waits for)."""
    def check() -> str | None:
        log = inst.log()
        line = _fatal_line(log, e.syslog_name)
        if line:
            return f"smtpd stopped: fatal: {line}"
        stuck = re.search(rf" {re.escape(e.syslog_name)}/smtpd\[\d+\]: warning: connect #\d+ to subsystem (\S+): "
                          r"(No such file or directory)",
                          log)
        return f"smtpd waits for a service that master.cf does not run: {stuck[1]}: {stuck[2]}" if stuck else None
    return check


def _round(inst: Instance, e: Endpoint, own: str, rnd: Round, anonymous: bool = False) -> Probe:
    part = Probe()
    run_round(e.port, rnd, own, part, wrapper=e.wrappermode, haproxy=e.haproxy, gave_up=_gave_up(inst, e),
              client_net=e.client_net, anonymous=anonymous)
    return part


def _merge(probe: Probe, part: Probe) -> None:
    probe.attempts.extend(part.attempts)
    probe.greeting = probe.greeting or part.greeting
    probe.fatal = probe.fatal or part.fatal
    if probe.auth_before_tls is None:
        probe.auth_before_tls = part.auth_before_tls
    probe.auth_mechanisms = probe.auth_mechanisms or part.auth_mechanisms
    probe.starttls = probe.starttls or part.starttls
    probe.problems.extend(p for p in part.problems if p not in probe.problems)


def _probe_all(inst: Instance, cfg: Config, targets: list[tuple[Endpoint, str]], mydomain: str) -> list[Probe]:
    """Every round of every smtpd at once (a few at a time), then the oracles and ANONYMOUS logins.

    Rounds are independent connections, so a restriction that sleeps (``sleep 7``) or
    a slow table costs its time once, not once per round.
    """
    plans = [rounds(cfg, e.service, own, mydomain) for e, own in targets]
    first: list[Callable[[], Probe]] = [functools.partial(_round, inst, e, own, rnd)
                                         for (e, own), plan in zip(targets, plans, strict=True) for rnd in plan]
    results = iter(inst.run_all(first))
    probes = []
    for plan in plans:
        probe = Probe()
        for _ in plan:
            _merge(probe, next(results))
        probes.append(probe)
    second: list[Callable[[], Probe | dict[str, bool | None]]] = []
    for (e, own), plan, probe in zip(targets, plans, probes, strict=True):
        if probe.fatal:
            continue
        second.append(functools.partial(ask_oracle, e.oracle_port, own))
        if _try_anonymous(probe):
            second.extend(functools.partial(_round, inst, e, own, Round(r.helo, r.sender, r.forms[:1], r.why), True)
                          for r in plan[:3])
    answers = iter(inst.run_all(second))
    for (e, _), plan, probe in zip(targets, plans, probes, strict=True):
        if not probe.fatal:
            oracle = next(answers)
            assert isinstance(oracle, dict)
            if _try_anonymous(probe):
                for _ in plan[:3]:
                    part = next(answers)
                    assert isinstance(part, Probe)
                    _merge(probe, part)
            for a in probe.attempts:
                a.outside = oracle.get(a.form)
        _finish(inst, e, probe)
    return probes


def _try_anonymous(probe: Probe) -> bool:
    """AUTH offers ANONYMOUS, or AUTH may appear after STARTTLS: log in anonymously as the stranger."""
    return "ANONYMOUS" in probe.auth_mechanisms or (not probe.auth_mechanisms and probe.starttls)


def _finish(inst: Instance, e: Endpoint, probe: Probe) -> None:
    probe.log = _log_lines(inst.log(), re.escape(e.syslog_name) + "/smtpd")
    if probe.fatal:
        line = _fatal_line(inst.log(), e.syslog_name)
        if line is None:  # no fatal error: smtpd hangs or the connection broke (see probe.log)
            probe.problems.append(probe.fatal)
            probe.fatal = ""
        else:
            probe.fatal = f"fatal: {line}"


def _summary(verdict: Verdict, probe: Probe, counts: dict[str, int], results: list[Attempt]) -> str:
    if verdict == "fatal":
        return f"smtpd stops before it greets: {probe.fatal}"
    if verdict == "open":
        a = results[0]
        how = "accepted" if 200 <= a.code < 300 else "deferred only because DNS is off in the sandbox"
        extra = f", after AUTH {a.auth}" if a.auth else ""
        return (f"relays: RCPT TO:<{a.rcpt}> ({FORMS_BY_KEY[a.form].title}) from <{a.sender}> (HELO {a.helo}"
                f"{extra}) was {how}: {a.reply}")
    tried = sum(counts.values())
    if verdict == "unknown":
        first = next((a for a in probe.attempts if outcome(a) == "error"), None)
        why = first.reply if first else "no attempt reached a decision"
        return f"no decision: {why}"
    example = next((a.reply for a in probe.attempts if outcome(a) == "refused"), "")
    local = counts.get("local", 0)
    extra = f" ({local} of {tried} addresses are this server's own, not relaying)" if local else ""
    return f"refused all {counts.get('refused', 0)} relay attempts{extra}: {example}"


def _result(cfg: Config, e: Endpoint, probe: Probe, findings: list[Finding]) -> ServiceResult:
    counts: dict[str, int] = {}
    for a in probe.attempts:
        counts[outcome(a)] = counts.get(outcome(a), 0) + 1
    relayed = [a for a in probe.attempts if outcome(a) in ("relayed", "deferred-dns")]
    order = list(FORMS_BY_KEY)
    relayed.sort(key=lambda a: (order.index(a.form), outcome(a) != "relayed"))
    verdict: Verdict
    if probe.fatal:
        verdict = "fatal"
    elif relayed:
        verdict = "open"
    elif counts.get("error") or not counts.get("refused") or probe.problems:
        verdict = "unknown"
    else:
        verdict = "closed"
    label = e.label
    mine = [f for f in findings if f.message.startswith((f"{label} ", f"{label}:"))]
    static = relay_verdict(cfg, e.service).state
    summary = _summary(verdict, probe, counts, relayed)
    extra = [p for p in probe.problems if p not in summary]
    if extra:
        summary += "; " + "; ".join(extra)
    return ServiceResult(e, verdict, summary, probe, static, mine, counts)


def verify_open_relay(config_dir: Path) -> Report:
    """Probe every smtpd of ``config_dir`` live; raises :class:`InstanceError` when the sandbox cannot run."""
    started = time.monotonic()
    cfg = Config.load(config_dir)
    with signals_interrupt():
        inst = Instance(config_dir)
        try:
            inst.start()
            assert inst.layout is not None
            own, mydomain = inst.names()
            targets = [(e, cfg.value("myhostname", e.service) if "myhostname" in e.service.options else own)
                       for e in inst.layout.endpoints]
            probes = _probe_all(inst, cfg, targets, mydomain)
            endpoints, adjustments = inst.layout.endpoints, inst.layout.adjustments
            support_log = _log_lines(inst.log(), _SUPPORT, limit=10)
        finally:
            leftovers = inst.close()
    findings = check(config_dir)
    results = [_result(cfg, e, p, findings) for e, p in zip(endpoints, probes, strict=True)]
    return Report(config_dir, results, adjustments, time.monotonic() - started, leftovers, support_log)
