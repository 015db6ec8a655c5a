"""Facts about Postfix that the library ships, read from the real binaries.

``builtin-params-3.7.txt`` is the output of ``postconf -d -C builtin -H`` of Postfix
3.7.11 (Debian 12). ``RAW_PARAMETERS`` are the built-in names whose values Postfix
does not expand when it reads main.cf; found by setting each built-in name to a
malformed ``${...}`` and seeing which ones ``postconf -n`` does not refuse.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

RAW_PARAMETERS = frozenset({
    "command_execution_directory", "default_rbl_reply", "forward_path", "luser_relay",
    "mailbox_command", "postscreen_expansion_filter", "postscreen_reject_footer", "process_id",
    "process_name", "service_name", "smtpd_expansion_filter", "smtpd_reject_footer",
})


@cache
def builtin_parameters() -> frozenset[str]:
    text = files(__package__).joinpath("builtin-params-3.7.txt").read_text("ascii")
    return frozenset(ln for ln in text.split("\n") if ln and not ln.startswith("#"))
