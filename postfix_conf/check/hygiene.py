"""Hygiene: what Postfix rejects, stops on at run time, or silently ignores.

* the parsers' diagnostics (``main-*``, ``master-*`` codes);
* legacy parameters (``data/obsolete-params.tsv``), and the legacy TLS booleans that a
  non-empty ``*_tls_security_level`` silently overrides (Debian's main.cf sets
  ``smtpd_tls_security_level = may``, so an old guide's ``-o smtpd_enforce_tls=yes``
  does nothing);
* values the daemons refuse when they start (booleans, TLS levels);
* tables that do not exist or were not compiled;
* ``-o`` lines that ended up under the wrong service.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import Diagnostic
from ..macros import NestingError
from ..master_cf import Service
from ._data import boolean_parameters, obsolete_parameters
from .context import Config, service_label
from .findings import Finding, make
from .maps import all_maps, freshness

CLIENT_LEVELS = frozenset({"", "none", "may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure"})
SERVER_LEVELS = CLIENT_LEVELS - {"dane", "dane-only"}
"""smtpd takes verify/fingerprint/secure as encrypt (with a warning) but stops on dane (checked with smtpd -S)."""
TLS_LEVEL_PARAMS = {"smtp_tls_security_level": CLIENT_LEVELS, "lmtp_tls_security_level": CLIENT_LEVELS,
                    "tlsproxy_client_security_level": CLIENT_LEVELS, "smtpd_tls_security_level": SERVER_LEVELS,
                    "postscreen_tls_security_level": SERVER_LEVELS, "tlsproxy_tls_security_level": SERVER_LEVELS}
LEGACY_TLS = (("smtpd_enforce_tls", "smtpd_use_tls", "smtpd_tls_security_level"),
              ("smtp_enforce_tls", "smtp_use_tls", "smtp_tls_security_level"),
              ("lmtp_enforce_tls", "lmtp_use_tls", "lmtp_tls_security_level"),
              ("postscreen_enforce_tls", "postscreen_use_tls", "postscreen_tls_security_level"),
              ("tlsproxy_enforce_tls", "tlsproxy_use_tls", "tlsproxy_tls_security_level"),
              ("tlsproxy_client_enforce_tls", "tlsproxy_client_use_tls", "tlsproxy_client_security_level"))
_STRONG = frozenset({"encrypt", "dane-only", "fingerprint", "verify", "secure"})
_OTHER_SERVICES = frozenset({"submission", "submissions", "smtps"})


def _diagnostic(prefix: str, d: Diagnostic, path: str) -> Finding:
    fix = {"main": "edit main.cf at this line (pfedit show lists what Postfix reads)",
           "master": "edit master.cf at this line (pfedit service list shows what Postfix reads)"}[prefix]
    return Finding(f"{prefix}-{d.code}", d.severity, d.path or path, d.line, d.message, fix)


def _settings(cfg: Config) -> Iterator[tuple[str, str, Service | None]]:
    """Every explicit setting: (name, raw value, service) for main.cf, then each entry's -o
    (every readable entry, duplicates too: postconf expands them all)."""
    if cfg.main is not None:
        for name, value in cfg.main.parameters().items():
            yield name, value, None
    for s in cfg.master.services() if cfg.master is not None else []:
        for name, value in s.options.items():
            yield name, value, s


def _set_fix(cfg: Config, service: Service | None, assignments: list[tuple[str, str]], drop: str) -> str:
    if service is None:
        sets = " ".join(f"{n}={v}" for n, v in assignments)
        return f"pfedit unset {drop}" + (f" && pfedit set {sets}" if sets else "")
    label = service_label(service)
    sets = " ".join(f"'{label}/{n}={v}'" for n, v in assignments)
    return f"postconf -PX '{label}/{drop}'" + (f" && postconf -P {sets}" if sets else "")


def _obsolete(cfg: Config) -> Iterator[Finding]:
    table = obsolete_parameters()
    for name, _, service in _settings(cfg):
        info = table.get(name)
        if info is None:
            continue
        value = cfg.value(name, service).strip().lower()
        file, line = cfg.where(name, service)
        where = f"{service_label(service)}: -o " if service is not None else ""
        new: list[tuple[str, str]] = []
        if info.replacement and value in ("yes", "no"):
            if name == "disable_dns_lookups":
                new = [(info.replacement, "disabled")] if value == "yes" else []
            elif name.endswith("_enforce_tls") and value == "yes":
                new = [(info.replacement, "encrypt")]
            elif name.endswith("_use_tls"):
                new = [(info.replacement, "may" if value == "yes" else "none")]
        if info.replacement and not new and not name.endswith("_per_site"):
            fix = _set_fix(cfg, service, [], name) + f" (it has no effect; {info.replacement} decides)"
        elif name.endswith("_per_site"):
            fix = f"convert the table to the {info.replacement} format, then: " + _set_fix(cfg, service, [], name)
        else:
            fix = _set_fix(cfg, service, new, name)
        yield make("obsolete-parameter", file, line,
                   f"{where}{name} is a legacy parameter: {info.advice}; Postfix 3.9 warns that support will be "
                   "removed", fix)


def _legacy_tls(cfg: Config) -> Iterator[Finding]:
    contexts: list[Service | None] = [None, *[s for s in cfg.services() if any(
        n in s.options for group in LEGACY_TLS for n in group)]]
    for service in contexts:
        for enforce, use, level_name in LEGACY_TLS:
            level = cfg.value(level_name, service).strip()
            if not level:
                continue
            for legacy, wants in ((enforce, _STRONG), (use, _STRONG | {"may", "dane"})):
                if not cfg.is_set(legacy, service) or (service is not None and legacy not in service.options):
                    continue  # an entry's own -o level deliberately overrides a main.cf legacy setting
                if cfg.boolean(legacy, service) and level not in wants:
                    file, line = cfg.where(legacy, service)
                    lfile, lline = cfg.where(level_name, service)
                    at = f"{lfile}:{lline}" if lline is not None else lfile
                    where = f"{service_label(service)}: " if service is not None else ""
                    want = "encrypt" if legacy == enforce else "may"
                    yield make("legacy-tls-ignored", file, line,
                               f"{where}{legacy} = yes is ignored because {level_name} = {level} ({at}) is set: "
                               f"{'TLS is not required' if legacy == enforce else 'TLS is off'} although this "
                               "line asks for it", _set_fix(cfg, service, [(level_name, want)], legacy))


def _values(cfg: Config) -> Iterator[Finding]:
    booleans = boolean_parameters()
    for name, raw, service in _settings(cfg):
        where = f"{service_label(service)}: -o " if service is not None else ""
        try:
            cfg.expand(raw, service)
        except NestingError:
            file, line = cfg.where(name, service)
            yield make("macro-loop", file, line,
                       f"{where}{name}: expanding its $references leads back to itself; Postfix programs stop "
                       "with 'unreasonable macro call nesting' and 'macro processing error'",
                       f"break the loop: give {name} (or one of the parameters it refers to) a literal value")
            continue
        except ValueError:
            pass
        if name in booleans:
            value = cfg.value(name, service).strip()
            if value.lower() not in ("yes", "no"):
                file, line = cfg.where(name, service)
                note = " (a '#' after a value is not a comment in main.cf)" if "#" in value else ""
                yield make("invalid-boolean", file, line,
                           f"{where}{name} = {value}: not yes or no{note}; every daemon that reads it stops with "
                           f"'fatal: bad boolean configuration: {name} = {value}'",
                           f"postconf -P '{service_label(service)}/{name}=yes' (or no)" if service is not None
                           else f"pfedit set {name}=yes (or no)")
        levels = TLS_LEVEL_PARAMS.get(name)
        if levels is not None:
            value = cfg.value(name, service).strip()
            if value not in levels:
                file, line = cfg.where(name, service)
                yield make("invalid-tls-level", file, line,
                           f"{where}{name} = {value}: not a TLS security level ({', '.join(sorted(levels - {''}))});"
                           f" the daemon stops with 'fatal: Invalid TLS level \"{value}\"'",
                           f"pfedit set {name}=encrypt" if service is None
                           else f"postconf -P '{service_label(service)}/{name}=encrypt'")


def _services(cfg: Config) -> Iterator[Finding]:
    for s in cfg.services():
        base = s.name.rpartition(":")[2]
        if s.type == "inet" and base == "smtps":
            yield make("obsolete-service-name", cfg.master_path, s.line,
                       f"{service_label(s)}: Postfix 3.7 calls this port-465 service 'submissions' (same port, "
                       "same options)", "rename the entry's first field from smtps to submissions")
        syslog = s.options.get("syslog_name", "")
        other = syslog.rpartition("/")[2]
        if other in _OTHER_SERVICES and other != base and not (
                {other, base} <= {"smtps", "submissions", "465"}) and "$" not in syslog:
            yield make("misattached-options", cfg.master_path, cfg.option_line(s, "syslog_name"),
                       f"{service_label(s)} has -o syslog_name={syslog}: its -o lines were probably meant for the "
                       f"{other} entry (a commented-out service line with active -o lines under it gives them to "
                       "the entry above)", f"uncomment the '{other} inet ...' line above these -o lines, or move "
                       f"them under it (pfedit apply relay-auth --submission enables submission properly)")


def check_hygiene(cfg: Config) -> Iterator[Finding]:
    if cfg.main is not None:
        for d in cfg.main.diagnostics:
            yield _diagnostic("main", d, cfg.main_path)
    if cfg.master is not None:
        for d in cfg.master.diagnostics:
            yield _diagnostic("master", d, cfg.master_path)
    yield from _obsolete(cfg)
    yield from _legacy_tls(cfg)
    yield from _values(cfg)
    yield from _services(cfg)
    sasl = cfg.boolean("smtp_sasl_auth_enable") is True
    for ref in all_maps(cfg):
        if not (sasl and ref.param == "smtp_sasl_password_maps"):  # those are checked with the relay
            yield from freshness(ref, missing_code="map-missing")
