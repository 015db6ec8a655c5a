"""The ``submission`` service (port 587) for the server's own clients, never an open relay.

Desired items only; how they become edits is the planner's business: an active entry
is updated in place, else the stock commented-out block is uncommented, else a new
entry is added. Every option that keeps the port authenticated-only must hold *in
effect*: ``-o smtpd_client_restrictions=$mua_client_restrictions`` (the stock
recommendation) stays as written when ``$mua_client_restrictions`` already says
``permit_sasl_authenticated, reject``. The obsolete ``smtpd_enforce_tls`` of old guides
(Debian's ``smtpd_tls_security_level = may`` silently overrides it) gives way to
``smtpd_tls_security_level=encrypt``.
"""

from __future__ import annotations

from typing import Literal

from ..items import Compare, Item, Option, Service
from ..master_cf import MasterCf

SUBMISSION_OPTIONS: tuple[tuple[str, str, Compare], ...] = (
    ("syslog_name", "postfix/submission", "text"),
    ("smtpd_tls_security_level", "encrypt", "text"),
    ("smtpd_sasl_auth_enable", "yes", "bool"),
    ("smtpd_tls_auth_only", "yes", "bool"),
    ("smtpd_client_restrictions", "permit_sasl_authenticated,reject", "list"),
    ("smtpd_relay_restrictions", "permit_sasl_authenticated,reject", "list"),
    ("milter_macro_daemon_name", "ORIGINATING", "text"),
)
OBSOLETE = ("smtpd_enforce_tls", "smtpd_use_tls")
NEW_ENTRY = (("private", "n"), ("unprivileged", "-"), ("chroot", "n"), ("wakeup", "-"), ("process_limit", "-"))

Listen = Literal["any", "loopback"]


def submission_name(master: MasterCf, listen: Listen) -> str:
    """The name an active port-587 entry already uses (``submission`` or ``587``, with the
    listen address), so that it is updated in place rather than duplicated."""
    prefix = "" if listen == "any" else "127.0.0.1:"
    for name in (f"{prefix}submission", f"{prefix}587"):
        if master.get(name, "inet") is not None:
            return name
    return f"{prefix}submission"


def submission_items(master: MasterCf, listen: Listen = "any") -> list[Item]:
    """The service, its authenticated-only options, and no obsolete ones."""
    name = submission_name(master, listen)
    items: list[Item] = [Service(name, "inet", new_columns=NEW_ENTRY, new_command="smtpd")]
    items += [Option(name, "inet", old, None, note="obsolete; replaced by smtpd_tls_security_level=encrypt")
              for old in OBSOLETE]
    items += [Option(name, "inet", param, value, match="effective", compare=compare)
              for param, value, compare in SUBMISSION_OPTIONS]
    return items
