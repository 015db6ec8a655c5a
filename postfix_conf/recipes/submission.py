"""The ``submission`` service (port 587) for the server's own clients, never an open relay.

Prefers what a human would do: update an active entry in place, else uncomment the
stock commented-out block, else add a new entry; then make sure every option that
keeps the port authenticated-only is there, and replace the obsolete
``smtpd_enforce_tls`` of old guides (Debian's ``smtpd_tls_security_level = may``
silently overrides it) with ``smtpd_tls_security_level=encrypt``.
"""

from __future__ import annotations

from typing import Literal

from ..errors import NotFoundError
from ..master_cf import MasterCf
from .operation import Operation

SUBMISSION_OPTIONS: tuple[tuple[str, str], ...] = (
    ("syslog_name", "postfix/submission"),
    ("smtpd_tls_security_level", "encrypt"),
    ("smtpd_sasl_auth_enable", "yes"),
    ("smtpd_tls_auth_only", "yes"),
    ("smtpd_client_restrictions", "permit_sasl_authenticated,reject"),
    ("smtpd_relay_restrictions", "permit_sasl_authenticated,reject"),
    ("milter_macro_daemon_name", "ORIGINATING"),
)
OBSOLETE = ("smtpd_enforce_tls", "smtpd_use_tls")


def submission_name(listen: Literal["any", "loopback"]) -> str:
    return "submission" if listen == "any" else "127.0.0.1:submission"


def _existing_name(master: MasterCf, listen: Literal["any", "loopback"]) -> str:
    """The name an active port-587 entry already uses (``submission`` or ``587``, with the
    listen address), so that it is updated in place rather than duplicated."""
    prefix = "" if listen == "any" else "127.0.0.1:"
    for name in (f"{prefix}submission", f"{prefix}587"):
        if master.get(name, "inet") is not None:
            return name
    return submission_name(listen)


def ensure_submission(master: MasterCf, listen: Literal["any", "loopback"] = "any") -> list[Operation]:
    """Edit ``master`` so that the submission service is active and authenticated-only."""
    name, kind = _existing_name(master, listen), "inet"
    path = str(master.path)
    ops: list[Operation] = []
    if master.get(name, kind) is None:
        try:
            master.enable(name, kind, which="last")
            ops.append(Operation(path, "enable-service", f"{name}/{kind}", note="uncommented the stock block"))
        except NotFoundError:
            master.add_service(name, kind, "n", "-", "n", "-", "-", "smtpd")
            ops.append(Operation(path, "add-service", f"{name}/{kind}"))
    service = master.get(name, kind)
    assert service is not None
    for old in OBSOLETE:
        if old in service.options:
            master.delete_option(name, kind, old)
            ops.append(Operation(path, "delete-option", f"{name}/{kind}/{old}", service.options[old], None,
                                 "obsolete; replaced by smtpd_tls_security_level=encrypt"))
    for param, value in SUBMISSION_OPTIONS:
        before = service.options.get(param)
        if master.set_option(name, kind, param, value):
            ops.append(Operation(path, "set-option", f"{name}/{kind}/{param}", before, value))
    return ops

