"""Parameter names Postfix ignores, and ``$name`` references to names defined nowhere.

A port of what ``postconf`` 3.7 does before it prints "unused parameter" and
"undefined parameter" (``src/postconf/postconf_user.c``, ``postconf_service.c``,
``postconf_dbms.c``, ``postconf_unused.c``; spec section 9). Known names are:

1. the built-in names (``data/builtin-params-3.7.txt``);
2. service-derived names: ``<service><suffix>`` for every master.cf entry whose
   command is ``local``, ``error``, ``virtual``, ``smtp``, ``lmtp``, ``pipe`` or
   ``spawn`` (``data/service-param-suffixes-3.7.tsv``);
3. user-defined names that are *used*: referenced as ``$name`` in a value (main.cf
   references validate main.cf and every master.cf entry; a ``-o`` reference
   validates the same entry, else main.cf), listed in ``smtpd_restriction_classes``,
   or made by a legacy database table ``ldap:name`` & co. in the ``$``-expanded value
   of a built-in parameter (``data/dbms-param-suffixes-3.7.tsv``).

The scan order matters for "undefined" and is postconf's: every master.cf entry
first (in file order), then the defaults of the built-in parameters (some name a
legacy parameter, which then counts as used), then main.cf. Values of "raw" parameters (``RAW_PARAMETERS``)
are not scanned, and read-only names are ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..data import RAW_PARAMETERS, READ_ONLY, builtin_parameters
from ..macros import ExpandError, expand, scan
from ..master_cf import Service
from ._data import builtin_defaults, dbms_suffixes, service_suffixes
from .context import Config, split_list, split_plain, unbrace
from .findings import Finding, make


@dataclass
class _Scope:
    """The ``-o`` name space of one master.cf name/type (duplicates share it, as in postconf)."""

    key: tuple[str, str]
    params: dict[str, str]
    services: list[Service]
    valid: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Undefined:
    name: str
    in_master: bool
    referrer: str  # the parameter whose value holds the reference
    scope: tuple[str, str] | None


@dataclass
class NameReport:
    """What postconf would say: unused (file kind, scope, name) and undefined references."""

    unused_main: list[str] = field(default_factory=list)
    unused_master: list[tuple[tuple[str, str], str]] = field(default_factory=list)
    undefined: list[Undefined] = field(default_factory=list)


def service_derived(cfg: Config) -> set[str]:
    """Names added by master.cf entries (every readable entry, duplicates included)."""
    suffixes = service_suffixes()
    out: set[str] = set()
    for s in cfg.master.services() if cfg.master is not None else []:
        for suffix in suffixes.get(s.command, ()):
            out.add(s.name + suffix)
    return out


class _Registry:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.main = cfg.main.parameters() if cfg.main is not None else {}
        self.builtin_and_service = frozenset(builtin_parameters() | service_derived(cfg))
        self.known: set[str] = set(self.builtin_and_service)
        self.builtin = builtin_parameters()
        self.scopes: list[_Scope] = []
        by_key: dict[tuple[str, str], _Scope] = {}
        for s in cfg.master.services() if cfg.master is not None else []:
            scope = by_key.get(s.key)
            if scope is None:
                scope = by_key[s.key] = _Scope(s.key, {}, [])
                self.scopes.append(scope)
            scope.params.update(s.options)
            scope.services.append(s)
        self.class_names: set[str] = set()
        self.report = NameReport()

    def flag(self, name: str, local: _Scope | None, referrer: str, dbms: bool = False, quiet: bool = False) -> None:
        supplied = False
        if local is not None and name in local.params:
            supplied = True
            local.valid.add(name)
        elif name in self.main:
            supplied = True
            self.known.add(name)
        if local is None:
            for scope in self.scopes:
                if name in scope.params:
                    supplied = True
                    scope.valid.add(name)
        if not supplied and not dbms and not quiet and name not in self.known:
            self.report.undefined.append(Undefined(name, local is not None, referrer,
                                                   None if local is None else local.key))

    def scan_namespace(self, params: dict[str, str], local: _Scope | None) -> None:
        classes = params.get("smtpd_restriction_classes")
        if classes is not None:
            for name in split_plain(self._eval(classes, params)):
                if local is None:
                    self.class_names.add(name)
                self.flag(name, local, "smtpd_restriction_classes")
        for name, value in params.items():
            if local is not None and name not in local.valid and name in self.class_names:
                local.valid.add(name)
            if name in self.builtin and (name in READ_ONLY or name in RAW_PARAMETERS):
                continue
            for ref in scan(value).refs:
                self.flag(ref, local, name)

    def _eval(self, value: str, params: dict[str, str]) -> str:
        """``dict_eval()`` inside one name space (undefined names expand to nothing)."""
        try:
            return expand(value, params.get)
        except ExpandError:
            return value

    def dbms(self, value: str, local: _Scope | None, referrer: str) -> None:
        service = local.services[-1] if local is not None else None
        try:
            text = self.cfg.expand(value, service)
        except ExpandError:
            text = value
        self._dbms_tokens(text, local, referrer, recurse=True)

    def _dbms_tokens(self, text: str, local: _Scope | None, referrer: str, recurse: bool) -> None:
        suffixes = dbms_suffixes()
        for token in split_list(text):
            if token.startswith("{"):
                if recurse:
                    self._dbms_tokens(unbrace(token), local, referrer, recurse)
                continue
            kind, sep, prefix = token.partition(":")
            while sep and kind == "proxy":
                kind, sep, prefix = prefix.partition(":")
            if not sep or prefix.startswith(("/", ".")):
                continue
            if prefix.startswith("{"):
                inner = prefix[1:-1] if prefix.endswith("}") else prefix[1:]
                self._dbms_tokens(inner, local, referrer, recurse and kind not in ("regexp", "pcre"))
                continue
            for suffix in suffixes.get(kind, ()):
                self.flag(f"{prefix}_{suffix}", local, referrer, dbms=True)

    def run(self) -> NameReport:
        for scope in self.scopes:
            self.scan_namespace(scope.params, scope)
        # Defaults of built-in parameters name legacy parameters ($postscreen_blacklist_action in
        # postscreen_denylist_action): those count as used, even when the new name is set too
        # (postconf 3.7 scans every default, silently; checked against postconf -n).
        for name, default in builtin_defaults().items():
            if name not in RAW_PARAMETERS and "$" in default:
                for ref in scan(default).refs:
                    self.flag(ref, None, name, quiet=True)
        self.scan_namespace(self.main, None)
        # Legacy database tables (ldap:name & co.) make name_<suffix> known when they appear in the
        # $expanded value of a built-in or service-derived parameter (so a user parameter counts only
        # through a $reference from one of those); not in other values, not recursively. All of this
        # was established with postconf -n, see tests/test_check_postconf.py.
        for name, value in self.main.items():
            if name in self.builtin_and_service and name not in READ_ONLY:
                self.dbms(value, None, name)
        for scope in self.scopes:
            for name, value in scope.params.items():
                if name in self.builtin_and_service and name not in READ_ONLY:
                    self.dbms(value, scope, name)
        for name in self.main:
            if name not in self.known and name not in READ_ONLY:
                self.report.unused_main.append(name)
        for scope in self.scopes:
            for name in scope.params:
                if name not in self.known and name not in scope.valid:
                    self.report.unused_master.append((scope.key, name))
        return self.report


def analyse(cfg: Config) -> NameReport:
    """The names postconf would call unused or undefined for this directory."""
    return _Registry(cfg).run()


def _suggest(name: str, candidates: set[str]) -> str | None:
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.8)
    return close[0] if close else None


def _orphan_service_param(cfg: Config, name: str) -> tuple[str, str] | None:
    """(service, commands) when ``name`` is a service-derived name of a service master.cf lacks."""
    by_suffix: dict[str, list[str]] = {}
    for command, suffixes in service_suffixes().items():
        for suffix in suffixes:
            by_suffix.setdefault(suffix, []).append(command)
    for suffix, commands in by_suffix.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)], "/".join(commands)
    return None


def check_names(cfg: Config) -> Iterator[Finding]:
    report = analyse(cfg)
    candidates = set(builtin_parameters()) | service_derived(cfg)
    main_lines = {p.name: p.line for p in cfg.main.definitions()} if cfg.main is not None else {}
    for name in report.unused_main:
        hint = _suggest(name, candidates)
        orphan = _orphan_service_param(cfg, name)
        if orphan and (hint is None or hint.lower() != name.lower()):
            message = (f"Postfix ignores {name!r}: it would apply to a master.cf service named {orphan[0]!r} "
                       f"running {orphan[1]}, and there is none")
            fix = f"pfedit unset {name} (or add the {orphan[0]} service to master.cf)"
        elif hint:
            message = f"Postfix ignores {name!r}: it is not a parameter name; did you mean {hint}?"
            fix = f'pfedit set {hint}="$(pfedit get {name})" && pfedit unset {name}'
        else:
            message = (f"Postfix ignores {name!r}: it is not a Postfix parameter and no $"
                       f"{name} refers to it (postconf: unused parameter)")
            fix = f"pfedit unset {name} (or reference it as ${name} where it is meant to be used)"
        yield make("unknown-parameter", cfg.main_path, main_lines.get(name), message, fix)
    services = {s.key: s for s in cfg.services()}
    for key, name in report.unused_master:
        service = services.get(key)
        line = cfg.option_line(service, name) if service is not None else None
        label = f"{key[0]}/{key[1]}"
        hint = _suggest(name, candidates)
        if hint:
            message = f"{label}: Postfix ignores -o {name}: it is not a parameter name; did you mean {hint}?"
            fix = f"in master.cf, rename '-o {name}=' of {label} to '-o {hint}='"
        else:
            message = (f"{label}: Postfix ignores -o {name}: it is not a Postfix parameter and nothing in "
                       f"this entry or main.cf refers to ${name} (postconf: unused parameter)")
            fix = f"remove '-o {name}=...' from {label} in master.cf: postconf -PX '{label}/{name}'"
        yield make("unknown-parameter", cfg.master_path, line, message, fix)
    seen: set[tuple[str, tuple[str, str] | None, str]] = set()
    for u in report.undefined:
        if (u.name, u.scope, u.referrer) in seen:
            continue
        seen.add((u.name, u.scope, u.referrer))
        hint = _suggest(u.name, candidates | set(cfg.main.parameters() if cfg.main is not None else {}))
        did = f"; did you mean ${hint}?" if hint and hint != u.name else ""
        if u.in_master and u.scope is not None:
            label = f"{u.scope[0]}/{u.scope[1]}"
            service = services.get(u.scope)
            line = cfg.option_line(service, u.referrer) if service is not None else None
            where = f"{label}: -o {u.referrer}"
            fix = (f"define {u.name} in main.cf (pfedit set {u.name}=...) or as '-o {u.name}=...' in the same "
                   "entry; a -o of another entry is not visible here")
            yield make("undefined-parameter", cfg.master_path, line,
                       f"{where} refers to ${u.name}, which is defined nowhere: it expands to the empty "
                       f"string{did}", fix)
        else:
            line = main_lines.get(u.referrer)
            fix = f"define it (pfedit set {u.name}=...) or correct the reference in {u.referrer}"
            yield make("undefined-parameter", cfg.main_path, line,
                       f"{u.referrer} refers to ${u.name}, which is defined nowhere: it expands to the empty "
                       f"string{did}", fix)
