"""What ``pfedit check`` reports: :class:`Finding` and the registry of every finding code.

A code is stable, kebab-case and documented in ``docs/check.md``; its severity is
fixed here (a finding may not pick another). Problems the parsers report
(:attr:`MainCf.diagnostics` and friends) keep their own code behind a file-kind
prefix: ``main-missing-equals``, ``master-bad-field-count``, ``table-missing-value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where it is, what Postfix will do, and how to fix it.

    ``message`` and ``fix`` never contain a password (values of password maps).
    ``line`` is the first physical line of the responsible entry, or None when the
    problem is a missing setting or concerns a whole file.
    """

    code: str
    severity: Severity
    file: str
    line: int | None
    message: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "file": self.file, "line": self.line,
                "message": self.message, "fix": self.fix}

    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        return f"{self.location()}: {self.severity}: {self.message} [{self.code}]"


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    severity: Severity
    category: Literal["security", "relay", "hygiene", "names"]
    summary: str


def _codes(*rows: tuple[str, Severity, str, str]) -> dict[str, CodeInfo]:
    out: dict[str, CodeInfo] = {}
    for code, severity, category, summary in rows:
        assert code not in out, code
        out[code] = CodeInfo(code, severity, category, summary)  # type: ignore[arg-type]
    return out


CODES: dict[str, CodeInfo] = _codes(
    # -- security -------------------------------------------------------------------------------
    ("open-relay", "error", "security", "an SMTP service relays mail for any client"),
    ("open-relay-conditional", "warning", "security",
     "an SMTP service relays for any client unless a table, policy service or SASL setting stops it"),
    ("relay-restrictions-fatal", "error", "security",
     "smtpd refuses to start: no reject_unauth_destination (or reject, defer...) in the relay lists"),
    ("mynetworks-public", "warning", "security", "mynetworks trusts a large part of the Internet"),
    ("mynetworks-public-relay", "error", "security",
     "an SMTP service relays for every client in a large public network that mynetworks trusts"),
    ("sasl-password-cleartext", "error", "security",
     "the SMTP client may send its SASL password over an unencrypted connection"),
    ("sasl-tls-not-enforced", "warning", "security",
     "the SMTP client authenticates without mandatory TLS"),
    ("submission-auth-before-tls", "error", "security",
     "an SMTP service offers AUTH before the session is encrypted"),
    ("password-map-readable", "error", "security", "a password map is readable by group or other"),
    ("password-map-owner", "warning", "security", "a password map is not owned by root"),
    ("password-in-main-cf", "warning", "security", "credentials are written in main.cf or master.cf"),
    # -- relay correctness -------------------------------------------------------------------------
    ("sasl-no-password-map", "error", "relay", "smtp_sasl_auth_enable = yes without smtp_sasl_password_maps"),
    ("sasl-no-credentials", "error", "relay", "no password map entry matches the relayhost"),
    ("sasl-credentials-unverifiable", "warning", "relay",
     "the relayhost is looked up in DNS (MX); only the MX host names could match the map"),
    ("sasl-shadowed-credentials", "warning", "relay",
     "a bare host name entry with other credentials wins over the relayhost's own entry"),
    ("password-map-missing", "error", "relay", "a password map file does not exist"),
    ("compiled-map-missing", "error", "relay", "a table source exists but its compiled map does not"),
    ("compiled-map-stale", "warning", "relay", "a compiled map is older than its source"),
    ("relayhost-invalid", "error", "relay", "smtp(8) cannot parse relayhost and stops at delivery time"),
    ("relayhost-mx-lookup", "warning", "relay", "an unbracketed relayhost with a port still looks up MX records"),
    ("relayhost-unbracketed-ip", "warning", "relay", "an IP address relayhost without brackets"),
    ("relayhost-empty-element", "info", "relay", "an empty element in the relayhost list"),
    ("relayhost-list-unsupported", "error", "relay", "a relayhost list needs Postfix 3.5 or later"),
    ("relay-smtps-settings", "error", "relay",
     "a port-465 relay without smtp_tls_wrappermode = yes and smtp_tls_security_level = encrypt"),
    ("wrappermode-starttls-port", "error", "relay", "smtp_tls_wrappermode = yes with a relay that is not port 465"),
    ("sasl-noplaintext", "warning", "relay",
     "SASL security options forbid PLAIN and LOGIN ('No worthy mechs found' with most providers)"),
    ("sasl-security-options-invalid", "error", "relay",
     "an unknown word in a SASL security options list makes every authentication fail"),
    ("sasl-mechanism-filter-plugin", "error", "relay", "smtp_sasl_mechanism_filter names a plugin, not a mechanism"),
    ("sasl-mechanism-filter-unknown", "warning", "relay", "smtp_sasl_mechanism_filter names an unknown mechanism"),
    # -- hygiene ----------------------------------------------------------------------------------
    ("config-file-missing", "error", "hygiene", "main.cf or master.cf is missing or unreadable"),
    ("map-missing", "error", "hygiene", "a table file named in main.cf or master.cf does not exist"),
    ("macro-loop", "error", "hygiene", "a $name reference loops back to itself (the daemons stop)"),
    ("obsolete-parameter", "warning", "hygiene", "a legacy parameter with a modern replacement"),
    ("legacy-tls-ignored", "error", "hygiene",
     "a legacy *_enforce_tls/*_use_tls setting is silently overridden by *_tls_security_level"),
    ("obsolete-service-name", "info", "hygiene", "the smtps service is called submissions since Postfix 3.7"),
    ("invalid-boolean", "error", "hygiene", "a yes/no parameter with another value (the daemon stops)"),
    ("invalid-tls-level", "error", "hygiene", "an unknown TLS security level (the daemon stops)"),
    ("misattached-options", "warning", "hygiene",
     "-o options that belong to another service (a half-uncommented block)"),
    # -- names ------------------------------------------------------------------------------------
    ("unknown-parameter", "warning", "names", "a parameter Postfix does not use (misspelled or unreferenced)"),
    ("undefined-parameter", "warning", "names", "a $name reference to a parameter that is defined nowhere"),
)

# Problems the parsers report, prefixed with the file kind. Severity comes from the diagnostic.
MAIN_DIAGNOSTICS = ("bom", "orphan-continuation", "nul-byte", "missing-name", "missing-equals",
                    "duplicate-parameter", "duplicate-parameter-same-value", "read-only-parameter",
                    "macro-syntax", "macro-expression")
MASTER_DIAGNOSTICS = ("orphan-continuation", "nul-byte", "name-type-split", "bad-field-count", "invalid-type",
                      "invalid-private", "invalid-unprivileged", "invalid-chroot", "invalid-wakeup",
                      "wakeup-question", "invalid-process-limit", "inet-private", "dash-command", "brace-in-field",
                      "slash-in-name", "invalid-inet-name", "option-without-value", "glued-brace-option",
                      "postconf-misreads-option", "brace-syntax", "invalid-option", "read-only-parameter",
                      "unbraced-value-words", "option-after-argument", "duplicate-service", "duplicate-endpoint")
TABLE_DIAGNOSTICS = ("bom", "orphan-continuation", "nul-byte", "non-utf8", "unbalanced-quote", "missing-value",
                     "alias-format", "duplicate-key")
DIAGNOSTIC_PREFIXES = {"main": MAIN_DIAGNOSTICS, "master": MASTER_DIAGNOSTICS, "table": TABLE_DIAGNOSTICS}


def diagnostic_codes() -> list[str]:
    """Every prefixed parser code this module documents."""
    return [f"{prefix}-{code}" for prefix, codes in DIAGNOSTIC_PREFIXES.items() for code in codes]


def make(code: str, file: str, line: int | None, message: str, fix: str) -> Finding:
    """A finding of a registered code, with the registry's severity."""
    info = CODES[code]  # KeyError: an unregistered code is a bug
    return Finding(code, info.severity, file, line, message, fix)


def sort_key(f: Finding) -> tuple[str, int, int, str]:
    """File, line, severity, code: the order a reader walks the files in."""
    return f.file, f.line or 0, SEVERITY_ORDER[f.severity], f.code
