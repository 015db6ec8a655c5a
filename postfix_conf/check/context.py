"""One configuration directory as the checks see it: files, effective values, locations.

A daemon started from a master.cf entry reads main.cf and then applies the entry's
``-o name=value`` options on top (they also change what ``$name`` expands to in
main.cf values), so every lookup here takes an optional :class:`Service`. Values
not set anywhere come from the 3.7.11 built-in defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..macros import ExpandError, expand, level
from ..main_cf import MainCf
from ..master_cf import MasterCf, Service
from ._data import builtin_defaults
from .findings import Finding, make

LIST_SEPARATORS = ", \t\r\n"
"""``CHARS_COMMA_SP``: what separates the elements of list-valued parameters."""


def split_list(value: str) -> list[str]:
    """Elements of a list value as ``mystrtokq(CHARS_COMMA_SP, "{}")`` gives them (braces kept)."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in LIST_SEPARATORS:
            i += 1
        if i >= n:
            break
        start, depth = i, 0
        while i < n and (depth > 0 or value[i] not in LIST_SEPARATORS):
            if value[i] == "{":
                depth += 1
            elif value[i] == "}":
                depth -= 1
            i += 1
        out.append(value[start:i])
    return out


def split_plain(value: str) -> list[str]:
    """``mystrtok(CHARS_COMMA_SP)``: like :func:`split_list` but braces are ordinary characters."""
    return [t for t in re.split(r"[, \t\r\n]+", value) if t]


def unbrace(token: str) -> str:
    """``{ text }`` -> ``text`` (outer braces and the whitespace inside them removed)."""
    if token.startswith("{") and token.endswith("}"):
        return token[1:-1].strip(" \t\r\n")
    return token


def command_name(service: Service) -> str:
    """The program a master.cf entry runs (its basename: the daemon directory is implied)."""
    return service.command.rsplit("/", 1)[-1]


@dataclass
class Config:
    """The files of one config directory and the questions every check asks about them."""

    config_dir: Path
    postfix_version: tuple[int, ...] = (3, 7)
    main: MainCf | None = None
    master: MasterCf | None = None
    main_path: str = ""
    master_path: str = ""
    load_findings: list[Finding] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)  # credentials seen; masked out of every message
    _params: dict[str, str] = field(default_factory=dict)
    _node_lines: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, config_dir: str | Path, postfix_version: tuple[int, ...] = (3, 7)) -> Config:
        d = Path(config_dir)
        cfg = cls(d, postfix_version, main_path=str(d / "main.cf"), master_path=str(d / "master.cf"))
        try:
            cfg.main = MainCf.read(cfg.main_path)
        except OSError as exc:
            cfg.load_findings.append(make(
                "config-file-missing", cfg.main_path, None, f"cannot read main.cf: {exc.strerror or exc}; every "
                "Postfix program stops with 'fatal: open ... main.cf'",
                f"create {cfg.main_path} (an empty file means all defaults), or pass --config-dir"))
        try:
            cfg.master = MasterCf.read(cfg.master_path)
        except OSError as exc:
            cfg.load_findings.append(make(
                "config-file-missing", cfg.master_path, None, f"cannot read master.cf: {exc.strerror or exc}; "
                "the master daemon cannot start", f"copy the stock file to {cfg.master_path} "
                "(Debian: /usr/share/postfix/master.cf.dist)"))
        cfg._params = cfg.main.parameters() if cfg.main is not None else {}
        if cfg.master is not None:
            line = 1
            for node in cfg.master.nodes:
                if node.kind == "entry":
                    cfg._node_lines[line] = node.raw
                line += node.raw.count("\n")
        return cfg

    # -- services ----------------------------------------------------------------------
    def services(self) -> list[Service]:
        """The entries the master daemon runs: the last of each duplicate name/type."""
        if self.master is None:
            return []
        last: dict[tuple[str, str], Service] = {}
        for s in self.master.services():
            last[s.key] = s
        return list(last.values())

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
