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
from . import fixes
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
        params = local.params if local is not None else {}  # duplicates' -o share one name space

        def lookup(name: str) -> str | None:
            return params[name] if name in params else self.cfg.raw(name)

        try:
            text = expand(value, lookup)
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


TYPO_DISTANCE = 2
"""At most this many edits (a swap of neighbours counts once) make a name a misspelling of another.

difflib's similarity alone calls ``mua_client_restrictions`` a misspelling of
``smtpd_client_restrictions``; renaming it would apply a submission-only list to port 25."""


def typo_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def suggest(name: str, candidates: set[str] | frozenset[str]) -> str | None:
    """The known name ``name`` is a misspelling of (case aside, or a small typo), or None."""
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name.lower(), sorted(lowered), n=5, cutoff=0.8)
    typos = [c for c in close if typo_distance(name.lower(), c) <= TYPO_DISTANCE]
    return lowered[typos[0]] if typos else None


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
    main_params = cfg.main.parameters() if cfg.main is not None else {}
    for name in report.unused_main:
        hint = suggest(name, candidates)
        orphan = _orphan_service_param(cfg, name)
        fix = fixes.pfedit_unset(cfg, [name])
        if orphan and (hint is None or hint.lower() != name.lower()):
            message = (f"Postfix ignores {name!r}: it would apply to a master.cf service named {orphan[0]!r} "
                       f"running {orphan[1]}, and there is none; remove it, or add the {orphan[0]} service to "
                       "master.cf")
        elif hint and hint in main_params and main_params[hint].strip() != builtin_defaults().get(hint, "").strip():
            message = (f"Postfix ignores {name!r}: it is not a parameter name (did you mean {hint}?), and {hint} "
                       f"is set too (line {main_lines.get(hint)}), so remove this one")
        elif hint:
            message = f"Postfix ignores {name!r}: it is not a parameter name; did you mean {hint}?"
            fix = fixes.rename_main(cfg, name, hint)
        else:
            message = (f"Postfix ignores {name!r}: it is not a Postfix parameter and no $"
                       f"{name} refers to it (postconf: unused parameter); remove it, or refer to it as ${name} "
                       "where it is meant to be used (a master.cf entry's -o, for one service only)")
        yield make("unknown-parameter", cfg.main_path, main_lines.get(name), message, fix)
    services = {s.key: s for s in cfg.services()}
    for key, name in report.unused_master:
        service = services.get(key)
        line = cfg.option_line(service, name) if service is not None else None
        label = f"{key[0]}/{key[1]}"
        hint = suggest(name, candidates)
        if hint:
            message = f"{label}: Postfix ignores -o {name}: it is not a parameter name; did you mean {hint}?"
            if service is None:
                fix = f"in master.cf, rename '-o {name}=' of {label} to '-o {hint}='"
            elif hint in service.options:
                message += f" ({hint} is set in this entry too, so remove this one)"
                fix = fixes.postconf_remove(cfg, service, [name])
            elif any(c.isspace() for c in service.options[name]):  # postconf -P refuses whitespace
                fix = f"in master.cf, rename '-o {name}' of {label} to '-o {hint}'"
            else:
                fix = fixes.rename_option(cfg, service, name, hint)
        else:
            message = (f"{label}: Postfix ignores -o {name}: it is not a Postfix parameter and nothing in "
                       f"this entry or main.cf refers to ${name} (postconf: unused parameter)")
            fix = (fixes.postconf_remove(cfg, service, [name]) if service is not None
                   else f"remove '-o {name}=...' from {label} in master.cf")
        yield make("unknown-parameter", cfg.master_path, line, message, fix)
    seen: set[tuple[str, tuple[str, str] | None, str]] = set()
    for u in report.undefined:
        if (u.name, u.scope, u.referrer) in seen:
            continue
        seen.add((u.name, u.scope, u.referrer))
        hint = suggest(u.name, candidates | set(cfg.main.parameters() if cfg.main is not None else {}))
        did = f"; did you mean ${hint}?" if hint and hint != u.name else ""
        if u.in_master and u.scope is not None:
            label = f"{u.scope[0]}/{u.scope[1]}"
            service = services.get(u.scope)
            line = cfg.option_line(service, u.referrer) if service is not None else None
            where = f"{label}: -o {u.referrer}"
            fix = (f"define {u.name} in main.cf ({fixes.pfedit_set(cfg, [(u.name, 'VALUE')])}) or as "
                   f"'-o {u.name}=...' in the same entry; a -o of another entry is not visible here")
            yield make("undefined-parameter", cfg.master_path, line,
                       f"{where} refers to ${u.name}, which is defined nowhere: it expands to the empty "
                       f"string{did}", fix)
        else:
            line = main_lines.get(u.referrer)
            define = f"define it ({fixes.pfedit_set(cfg, [(u.name, 'VALUE')])})"
            fix = (f"correct the reference in {u.referrer} to ${hint}, or {define}" if did
                   else f"{define} or correct the reference in {u.referrer}")
            yield make("undefined-parameter", cfg.main_path, line,
                       f"{u.referrer} refers to ${u.name}, which is defined nowhere: it expands to the empty "
                       f"string{did}", fix)
