"""What the throw-away instance sets on top of the user's configuration, and why.

None of it changes what smtpd decides for a stranger's RCPT TO: each setting either
keeps the instance away from the running system (files it writes, servers it would
talk to) or takes away what only slows a probe down. ``docs/verify-open-relay.md``
lists them for the user; the report names those that applied.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..check.context import Config, split_list

XCLIENT_HOSTS = "127.0.0.0/8"
_TEMPFAIL_ACTIONS = ("reject_tempfail_action", "unknown_address_tempfail_action",
                     "unknown_helo_hostname_tempfail_action", "unverified_sender_tempfail_action",
                     "unverified_recipient_tempfail_action")

PROBE_OPTIONS: dict[str, str] = {
    "smtpd_authorized_xclient_hosts": XCLIENT_HOSTS,  # the probe becomes the stranger with XCLIENT
    # content filters, not relay controls, and possibly live services of the running system
    "smtpd_milters": "", "milter_default_action": "accept", "smtpd_proxy_filter": "",
    # a policy server the sandbox cannot reach is DUNNO, at once
    "smtpd_policy_service_default_action": "DUNNO", "smtpd_policy_service_try_limit": "1",
    # limits a stranger stays under anyway; they would only slow the probe down
    "smtpd_soft_error_limit": "1000", "smtpd_hard_error_limit": "1000", "smtpd_junk_command_limit": "1000",
    "smtpd_error_sleep_time": "0", "smtpd_client_connection_count_limit": "0",
    "smtpd_client_connection_rate_limit": "0", "smtpd_client_message_rate_limit": "0",
    "smtpd_client_recipient_rate_limit": "0", "smtpd_client_new_tls_session_rate_limit": "0",
    "smtpd_client_auth_rate_limit": "0", "address_verify_poll_count": "1",
    "smtpd_tls_session_cache_database": "",
    # without DNS these checks fail temporarily; deferred only if all else passes, they can be recognised
    **{name: "defer_if_permit" for name in _TEMPFAIL_ACTIONS},
}
"""Settings every probed smtpd gets: in main.cf, and as ``-o`` where the user's own ``-o`` would win."""

ORACLE_OPTIONS: dict[str, str] = {
    "smtpd_client_restrictions": "", "smtpd_helo_restrictions": "", "smtpd_sender_restrictions": "",
    "smtpd_relay_restrictions": "reject_unauth_destination", "smtpd_recipient_restrictions": "",
    "smtpd_data_restrictions": "", "smtpd_end_of_data_restrictions": "", "smtpd_etrn_restrictions": "",
    "smtpd_restriction_classes": "", "smtpd_reject_unlisted_recipient": "no",
    "smtpd_reject_unlisted_sender": "no", "smtpd_helo_required": "no", "smtpd_delay_reject": "yes",
    "smtpd_tls_security_level": "none", "smtpd_tls_wrappermode": "no", "smtpd_enforce_tls": "no",
    "smtpd_use_tls": "no", "smtpd_sasl_auth_enable": "no", "smtpd_upstream_proxy_protocol": "",
    "smtpd_sender_login_maps": "", "syslog_name": "pfedit-verify/oracle",
}
"""What turns a copy of a service into the oracle: the same address rewriting, no restrictions."""


def state_settings(root: Path) -> dict[str, str]:
    """Files daemons write, kept inside the sandbox or turned off (set in main.cf and every ``-o``)."""
    data = root / "data"
    return {
        "address_verify_map": "", "postscreen_cache_map": f"btree:{data}/postscreen_cache",
        "smtpd_tls_session_cache_database": "", "smtp_tls_session_cache_database": "",
        "lmtp_tls_session_cache_database": "", "smtp_sasl_auth_cache_name": "", "lmtp_sasl_auth_cache_name": "",
        "tls_random_exchange_name": f"{data}/prng_exch",
        "smtpd_milters": "", "non_smtpd_milters": "", "milter_default_action": "accept", "smtpd_proxy_filter": "",
        "maillog_file": str(root / "maillog"), "maillog_file_prefixes": str(root),
    }


def import_environment(cfg: Config) -> str | None:
    """``import_environment`` with MAIL_CONFIG passed through, or None when it already is.

    The master passes only these variables to the daemons it starts, and a daemon
    without MAIL_CONFIG reads the machine's own /etc/postfix (and its queue).
    """
    if not cfg.is_set("import_environment"):
        return None
    words = split_list(cfg.value("import_environment"))
    kept = [w for w in words if not w.startswith("MAIL_CONFIG=")]
    if "MAIL_CONFIG" in kept and len(kept) == len(words):
        return None
    return " ".join([*dict.fromkeys([*kept, "MAIL_CONFIG"])])


UNIX_POLICY = re.compile(r"(check_policy_service[\s,]*\{?\s*unix:)(/[^\s,}]+)")


def unreachable_policies(value: str, root: Path, notes: list[str]) -> str:
    """``check_policy_service unix:/abs/path`` -> a path in the sandbox where nothing listens.

    A policy server's socket outside the sandbox's queue directory belongs to the
    running system (often to the running Postfix's own queue directory); smtpd
    treats the unreachable server as DUNNO (smtpd_policy_service_default_action).
    The new path is short: a unix socket name has room for 108 bytes.
    """
    def swap(m: re.Match[str]) -> str:
        note = f"policy service unix:{m[2]} is not contacted (it belongs to the running system): DUNNO"
        if note not in notes:
            notes.append(note)
        return f"{m[1]}{root}/unreachable-{notes.index(note)}"

    return UNIX_POLICY.sub(swap, value)
