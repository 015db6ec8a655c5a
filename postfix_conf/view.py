"""One configuration directory as a daemon sees it: effective values, with their locations.

A daemon started from a master.cf entry reads main.cf and then applies the entry's
``-o name=value`` options on top (they also change what ``$name`` expands to in main.cf
values), so every lookup here takes an optional :class:`Service`. Values not set
anywhere come from the 3.7.11 built-in defaults; ``config_directory`` is the directory
itself, as with ``postconf -c``; ``myhostname`` and ``mydomain`` are computed from the
host name as Postfix computes them.

The view works on documents, not on the disk: ``pfedit check`` reads the files, a recipe
passes the documents it is about to write, so both reason about the same configuration
the same way (``${config_directory}/sasl_passwd`` is a file either way).
"""

from __future__ import annotations

import re
import socket
from functools import cache
from pathlib import Path

from ._text import LIST_SEPARATORS, split_list, split_plain, unbrace
from .data import builtin_defaults
from .macros import ExpandError, expand, level
from .main_cf import MainCf
from .master_cf import MasterCf, Service

DEFAULT_MYDOMAIN = "localdomain"  # DEF_MYDOMAIN


@cache
def _hostname() -> str:
    return socket.gethostname()


def default_myhostname(mydomain: str | None, hostname: str | None = None) -> str:
    """``check_myhostname()``: the host name, with ``.$mydomain`` (else ``.localdomain``) added
    when it has no dot."""
    name = hostname if hostname is not None else _hostname()
    if "." in name:
        return name
    return f"{name}.{mydomain if mydomain is not None else DEFAULT_MYDOMAIN}"


def default_mydomain(myhostname: str) -> str:
    """``check_mydomain()``: myhostname without its first label, if what is left has a dot."""
    rest = myhostname.partition(".")[2]
    return rest if "." in rest else DEFAULT_MYDOMAIN


def command_name(service: Service) -> str:
    """The program a master.cf entry runs (its basename: the daemon directory is implied)."""
    return service.command.rsplit("/", 1)[-1]


__all__ = ["CLIENT_OPTIONS", "LIST_SEPARATORS", "ConfigView", "client_contexts", "command_name", "service_label",
           "split_list", "split_plain", "tls_level", "unbrace"]


class ConfigView:
    """Effective values of one configuration (main.cf + master.cf documents)."""

    def __init__(self, config_dir: str | Path, main: MainCf | None, master: MasterCf | None, *,
                 main_path: str | None = None, master_path: str | None = None) -> None:
        self.config_dir = Path(config_dir)
        self.main = main
        self.master = master
        self.main_path = main_path or str(self.config_dir / "main.cf")
        self.master_path = master_path or str(self.config_dir / "master.cf")
        self._params: dict[str, str] = main.parameters() if main is not None else {}
        self._node_lines: dict[int, str] = {}
        if master is not None:
            line = 1
            for node in master.nodes:
                if node.kind == "entry":
                    self._node_lines[line] = node.raw
                line += node.raw.count("\n")

    # -- services ----------------------------------------------------------------------
    def services(self) -> list[Service]:
        """The entries the master daemon runs: the last of each duplicate name/type."""
        if self.master is None:
            return []
        last: dict[tuple[str, str], Service] = {}
        for s in self.master.services():
            last[s.key] = s
        return list(last.values())

    def service(self, name: str, kind: str) -> Service | None:
        return next((s for s in self.services() if s.key == (name, kind)), None)

    def option_line(self, service: Service, name: str) -> int:
        """Physical line of ``-o name=...`` inside the entry (the entry's first line if not found)."""
        raw = self._node_lines.get(service.line, "")
        pattern = re.compile(r"(?<![A-Za-z0-9_.-])" + re.escape(name) + r"[ \t]*=")
        for k, text in enumerate(raw.split("\n")):
            body = text.lstrip(" \t")
            if k and body.startswith("#"):
                continue
            if pattern.search(text if k else text[len(service.name):]):
                return service.line + k
        return service.line

    # -- values --------------------------------------------------------------------------
    def is_set(self, name: str, service: Service | None = None) -> bool:
        return (service is not None and name in service.options) or name in self._params

    def raw(self, name: str, service: Service | None = None) -> str | None:
        """The raw value in effect: the entry's ``-o``, else main.cf, else the built-in default."""
        if service is not None and name in service.options:
            return service.options[name]
        if name in self._params:
            return self._params[name]
        if name == "config_directory":  # set from -c / MAIL_CONFIG at run time
            return str(self.config_dir)
        if name == "myhostname":  # host-dependent: computed at run time, as Postfix does
            return default_myhostname(self.value("mydomain", service) if self.is_set("mydomain", service) else None)
        if name == "mydomain":
            return default_mydomain(self.value("myhostname", service))
        return builtin_defaults().get(name)

    def value(self, name: str, service: Service | None = None) -> str:
        """The expanded value (the raw one when it cannot be expanded); '' when undefined."""
        raw = self.raw(name, service)
        if raw is None:
            return ""
        try:
            return self.expand(raw, service)
        except ExpandError:
            return raw

    def expand(self, text: str, service: Service | None = None) -> str:
        """Expand ``$name`` references as the daemon of ``service`` would; raises ExpandError."""
        return expand(text, lambda n: self.raw(n, service))

    def words(self, name: str, service: Service | None = None) -> list[str]:
        return split_list(self.value(name, service))

    def boolean(self, name: str, service: Service | None = None) -> bool | None:
        """True/False as Postfix reads a boolean (case-insensitive yes/no); None when invalid."""
        v = self.value(name, service).strip().lower()
        return True if v == "yes" else False if v == "no" else None

    def where(self, name: str, service: Service | None = None) -> tuple[str, int | None]:
        """File and line of the setting in effect (main.cf and no line when it is the default)."""
        if service is not None and name in service.options:
            return self.master_path, self.option_line(service, name)
        if self.main is not None and name in self._params:
            return self.main_path, self.main.definitions(name)[-1].line
        return self.main_path, None

    def compatibility_level(self) -> tuple[int, ...]:
        try:
            return level(self.value("compatibility_level") or "0")
        except ValueError:
            return (0, 0, 0)


def service_label(service: Service) -> str:
    return f"{service.name}/{service.type}"


# -- the SMTP client ------------------------------------------------------------------------------
CLIENT_OPTIONS = ("smtp_sasl_", "smtp_tls_", "relayhost", "smtp_use_tls", "smtp_enforce_tls")
"""Prefixes of the ``-o`` options that give an smtp(8) service client settings of its own."""


def client_contexts(cfg: ConfigView) -> list[Service | None]:
    """The default transport's service, then other smtp(8) services with their own client settings."""
    transport = cfg.value("default_transport").strip().partition(":")[0] or "smtp"
    base = next((s for s in cfg.services() if s.key == (transport, "unix")), None)
    out: list[Service | None] = [base]
    for s in cfg.services():
        if s is not base and command_name(s) == "smtp" and any(k.startswith(CLIENT_OPTIONS) for k in s.options):
            out.append(s)
    return out


def tls_level(cfg: ConfigView, service: Service | None, side: str = "smtp") -> str:
    """{side}_tls_security_level, or what the legacy booleans mean when it is empty (``side``:
    ``smtp`` for the client, ``smtpd`` for the server; both read them the same way)."""
    level = cfg.value(f"{side}_tls_security_level", service).strip()
    if level:
        return level
    if cfg.boolean(f"{side}_enforce_tls", service):
        return "encrypt"
    return "may" if cfg.boolean(f"{side}_use_tls", service) else "none"
