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

import difflib
from collections.abc import Iterator

from ..errors import Diagnostic
from ..macros import NestingError
from ..master_cf import Service
from . import fixes
from ._data import boolean_parameters, builtin_defaults, obsolete_parameters
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
_SERVER_SIDE = ("smtpd_", "postscreen_", "tlsproxy_enforce")
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
    """Remove ``drop`` and set the replacements, where ``drop`` is set (main.cf or that entry)."""
    return fixes.chain(fixes.remove_in(cfg, service, [drop]),
                       fixes.set_in(cfg, service, assignments) if assignments else "")


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
        decided = info.replacement and cfg.value(info.replacement, service).strip()
        if info.replacement and value in ("yes", "no") and not decided:
            if name == "disable_dns_lookups":
                new = [(info.replacement, "disabled")] if value == "yes" else []
            elif name.endswith("_enforce_tls") and value == "yes":
                new = [(info.replacement, "encrypt")]
            elif name.endswith("_use_tls"):
                new = [(info.replacement, "may" if value == "yes" else "none")]
        note = ""
        if name.endswith("_per_site"):
            fix = f"convert the table to the {info.replacement} format, then: " + _set_fix(cfg, service, [], name)
        else:
            fix = _set_fix(cfg, service, new, name)
            if info.replacement and not new:
                note = f"; it has no effect here ({info.replacement} decides), so remove it"
        yield make("obsolete-parameter", file, line,
                   f"{where}{name} is a legacy parameter: {info.advice}; Postfix 3.9 warns that support will be "
                   f"removed{note}", fix)


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
                    # Mandatory TLS on the whole server's port 25 (main.cf) refuses mail from every
                    # server without TLS (RFC 3207 forbids it for a public MX): only remove the line.
                    public = service is None and want == "encrypt" and legacy.startswith(_SERVER_SIDE)
                    note = (f"; {level_name} = encrypt in main.cf would refuse mail from every server without "
                            "TLS on port 25, so remove the line (to require TLS on one service, use -o "
                            f"{level_name}=encrypt in its master.cf entry)") if public else ""
                    yield make("legacy-tls-ignored", file, line,
                               f"{where}{legacy} = yes is ignored because {level_name} = {level} ({at}) is set: "
                               f"{'TLS is not required' if legacy == enforce else 'TLS is off'} although this "
                               f"line asks for it{note}",
                               _set_fix(cfg, service, [] if public else [(level_name, want)], legacy))


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
                meant = value.split("#", 1)[0].strip().lower()
                fix = (fixes.set_in(cfg, service, [(name, meant)]) if meant in ("yes", "no")
                       else fixes.remove_in(cfg, service, [name]))
                default = "" if meant in ("yes", "no") else (
                    f"; set it to yes or no, or remove it for the default ({_default(cfg, name, service)})")
                yield make("invalid-boolean", file, line,
                           f"{where}{name} = {value}: not yes or no{note}; every daemon that reads it stops with "
                           f"'fatal: bad boolean configuration: {name} = {value}'{default}", fix)
        levels = TLS_LEVEL_PARAMS.get(name)
        if levels is not None:
            value = cfg.value(name, service).strip()
            if value not in levels:
                file, line = cfg.where(name, service)
                meant = value.split("#", 1)[0].strip()
                close = difflib.get_close_matches(meant.lower(), sorted(levels - {""}), n=1, cutoff=0.75)
                fix = fixes.set_in(cfg, service, [(name, close[0])]) if close else fixes.remove_in(
                    cfg, service, [name])
                yield make("invalid-tls-level", file, line,
                           f"{where}{name} = {value}: not a TLS security level ({', '.join(sorted(levels - {''}))});"
                           f" the daemon stops with 'fatal: Invalid TLS level \"{value}\"'"
                           + (f"; did you mean {close[0]}?" if close else
                              f"; remove it for the default ({_default(cfg, name, service) or 'empty'})"), fix)


def _default(cfg: Config, name: str, service: Service | None) -> str:
    """What ``name`` falls back to when the setting at fault is removed."""
    main = cfg.main.parameters() if cfg.main is not None else {}
    if service is not None and name in main:
        return f"main.cf's {main[name]}"
    return builtin_defaults().get(name, "")


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
            yield from freshness(cfg, ref, missing_code="map-missing")
