"""Facts about Postfix that the library ships, read from the real binaries.

Each fact file is a small Python module holding ``TEXT`` (see its docstring for where it
came from), imported only when a function here first needs it.
``builtin_params_37`` is the output of ``postconf -d -C builtin -H`` of Postfix
3.7.11 (Debian 12). ``RAW_PARAMETERS`` are the built-in names whose values Postfix
does not expand when it reads main.cf; found by setting each built-in name to a
malformed ``${...}`` and seeing which ones ``postconf -n`` does not refuse.
"""

from __future__ import annotations

from functools import cache

READ_ONLY = frozenset({"process_name", "service_name", "process_id"})
"""Parameters a daemon sets itself: an assignment in main.cf or as ``-o`` is ignored
with "read-only parameter assignment" (postconf's own regression tests show it)."""

RAW_PARAMETERS = frozenset({
    "command_execution_directory", "default_rbl_reply", "forward_path", "luser_relay",
    "mailbox_command", "postscreen_expansion_filter", "postscreen_reject_footer", "process_id",
    "process_name", "service_name", "smtpd_expansion_filter", "smtpd_reject_footer",
})


def lines(text: str) -> list[str]:
    """The non-empty lines of a data module's ``TEXT``."""
    return [ln for ln in text.split("\n") if ln]


# Each loader imports its module statically (inside the function, so only on first use):
# Ansible's AnsiballZ finds the modules to ship by reading import statements.
@cache
def builtin_parameters() -> frozenset[str]:
    from . import builtin_params_37

    return frozenset(lines(builtin_params_37.TEXT))


@cache
def builtin_defaults() -> dict[str, str]:
    """``postconf -d -C builtin`` of 3.7.11: name -> raw default (host-dependent ones empty)."""
    from . import builtin_defaults_37

    out: dict[str, str] = {}
    for ln in lines(builtin_defaults_37.TEXT):
        name, _, value = ln.partition(" =")
        out[name] = value[1:] if value.startswith(" ") else value
    return out


@cache
def boolean_parameters() -> frozenset[str]:
    """Built-in parameters whose default is ``yes`` or ``no``: Postfix reads them as booleans."""
    return frozenset(n for n, v in builtin_defaults().items() if v in ("yes", "no"))
