"""``pfedit check``: find the open relay, the leaked password and the silent misconfiguration.

:func:`check` reads ``main.cf``, ``master.cf`` and the tables they name from one
config directory (nothing is written, no Postfix program is run) and returns
:class:`Finding` records, each with a stable code documented in ``docs/check.md``:

* :mod:`.security` -- open relays (restriction lists evaluated with master.cf ``-o``
  overrides), AUTH before TLS, trusted networks that cover the Internet;
* :mod:`.relay` -- the SMTP client: relayhost syntax, port 465, SASL credentials,
  security options, mechanism filter, password maps (permissions, freshness);
* :mod:`.hygiene` -- what Postfix rejects or silently ignores: parser diagnostics,
  legacy parameters, bad booleans and TLS levels, missing tables;
* :mod:`.names` -- parameter names postconf calls "unused", ``$name`` references to
  names defined nowhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..main_cf import MainCf
from ..master_cf import MasterCf
from ..secrets import mask
from .context import Config
from .findings import CODES, CodeInfo, Finding, Severity, sort_key
from .hygiene import check_hygiene
from .names import check_names
from .relay import check_relay, collect_secrets
from .restrictions import Verdict, relay_verdict
from .security import check_security

__all__ = ["CODES", "CodeInfo", "Config", "Finding", "Severity", "Verdict", "check", "check_settings",
           "parse_version", "relay_verdict"]


def parse_version(text: str) -> tuple[int, ...]:
    """``"3.7.11"`` -> ``(3, 7, 11)``; non-numeric parts end the version (``"3.10-rc1"`` -> ``(3, 10)``)."""
    out: list[int] = []
    for part in text.strip().split("."):
        digits = ""
        for c in part:
            if not c.isdigit():
                break
            digits += c
        if not digits:
            break
        out.append(int(digits))
        if len(digits) != len(part):
            break
    if not out:
        raise ValueError(f"not a Postfix version: {text!r}")
    return tuple(out)


def check(config_dir: str | os.PathLike[str], *, postfix_version: str = "3.7") -> list[Finding]:
    """Every finding for the configuration in ``config_dir``, sorted by file and line.

    ``postfix_version`` is the version the configuration is meant for ("3.4", "3.7.11");
    it decides version-dependent rules (relayhost lists need 3.5). The known-name list
    is always that of 3.7. Fix texts name ``config_dir`` (``pfedit set -c DIR``...),
    so they edit the directory that was checked (see docs/check.md).
    """
    cfg = Config.load(Path(config_dir), parse_version(postfix_version))
    return _run(cfg, list(cfg.load_findings))


def check_settings(config_dir: str | os.PathLike[str], main: MainCf, names: Iterable[str], *,
                   postfix_version: str = "3.7") -> list[Finding]:
    """What :func:`check` says about the main.cf settings ``names`` in ``main``, a document about
    to be written (``pfedit set`` warns with these before it writes).

    The same checks, run on ``main`` with the directory's master.cf and tables, keeping the
    findings located on the lines of those settings: a value Postfix cannot use (relayhost,
    booleans, TLS levels, SASL options...), a name Postfix does not know (with the near miss),
    and what the new value does to the rest (an open relay from ``mynetworks``).
    """
    d = Path(config_dir)
    try:
        master: MasterCf | None = MasterCf.read(d / "master.cf")
    except OSError:
        master = None
    cfg = Config(d, main, master, postfix_version=parse_version(postfix_version))
    wanted = set(names)
    lines = {p.line for p in main.definitions() if p.name in wanted}
    return [f for f in _run(cfg, []) if f.file == cfg.main_path and f.line in lines]


def _run(cfg: Config, findings: list[Finding]) -> list[Finding]:
    collect_secrets(cfg)
    for part in (check_hygiene, check_names, check_security, check_relay):
        findings.extend(part(cfg))
    secrets = sorted(cfg.secrets, key=len, reverse=True)
    if secrets:
        findings = [Finding(f.code, f.severity, f.file, f.line, mask(f.message, secrets), mask(f.fix, secrets))
                    for f in findings]
    unique = list(dict.fromkeys(findings))
    return sorted(unique, key=sort_key)
