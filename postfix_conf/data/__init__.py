"""Facts about Postfix that the library ships, read from the real binaries.

``builtin-params-3.7.txt`` is the output of ``postconf -d -C builtin -H`` of Postfix
3.7.11 (Debian 12). ``RAW_PARAMETERS`` are the built-in names whose values Postfix
does not expand when it reads main.cf; found by setting each built-in name to a
malformed ``${...}`` and seeing which ones ``postconf -n`` does not refuse.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from types import ModuleType

_embedded: ModuleType | None
try:  # generated only in bundled copies (ansible/build.py); a static import, so bundlers see it
    from . import _embedded  # type: ignore[attr-defined, no-redef, unused-ignore]
except ImportError:
    _embedded = None

READ_ONLY = frozenset({"process_name", "service_name", "process_id"})
"""Parameters a daemon sets itself: an assignment in main.cf or as ``-o`` is ignored
with "read-only parameter assignment" (postconf's own regression tests show it)."""

RAW_PARAMETERS = frozenset({
    "command_execution_directory", "default_rbl_reply", "forward_path", "luser_relay",
    "mailbox_command", "postscreen_expansion_filter", "postscreen_reject_footer", "process_id",
    "process_name", "service_name", "smtpd_expansion_filter", "smtpd_reject_footer",
})


def read_text(name: str) -> str:
    """A data file's text. Where the package was copied without its data files (Ansible
    bundles only ``.py`` files into a module's zip), a generated ``_embedded`` module
    holding ``FILES = {name: text}`` is used instead."""
    try:
        return files(__name__).joinpath(name).read_text("utf-8")
    except OSError:
        if _embedded is None:
            raise
        return str(_embedded.FILES[name])


def data_lines(name: str) -> list[str]:
    """Non-empty lines of a data file, ``#`` header lines left out."""
    return [ln for ln in read_text(name).split("\n") if ln and not ln.startswith("#")]


@cache
def builtin_parameters() -> frozenset[str]:
    return frozenset(data_lines("builtin-params-3.7.txt"))
