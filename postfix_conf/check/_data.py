"""The Postfix facts the checks need, read from ``postfix_conf/data`` (see the headers of each file)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from ..data import data_lines as _lines


@cache
def builtin_defaults() -> dict[str, str]:
    """``postconf -d -C builtin`` of 3.7.11: name -> raw default (host-dependent ones empty)."""
    out: dict[str, str] = {}
    for ln in _lines("builtin-defaults-3.7.txt"):
        name, _, value = ln.partition(" =")
        out[name] = value[1:] if value.startswith(" ") else value
    return out


@cache
def boolean_parameters() -> frozenset[str]:
    """Built-in parameters whose default is ``yes`` or ``no``: Postfix reads them as booleans."""
    return frozenset(n for n, v in builtin_defaults().items() if v in ("yes", "no"))


@cache
def service_suffixes() -> dict[str, tuple[str, ...]]:
    """master.cf command -> suffixes of the parameter names each such service adds."""
    out: dict[str, list[str]] = {}
    for ln in _lines("service-param-suffixes-3.7.tsv"):
        command, suffix = ln.split("\t")
        out.setdefault(command, []).append(suffix)
    return {k: tuple(v) for k, v in out.items()}


@cache
def dbms_suffixes() -> dict[str, tuple[str, ...]]:
    """Legacy database type -> suffixes of the ``<table name>_<suffix>`` parameters it defines."""
    out: dict[str, list[str]] = {}
    for ln in _lines("dbms-param-suffixes-3.7.tsv"):
        kind, suffix = ln.split("\t")
        out.setdefault(kind, []).append(suffix)
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True, slots=True)
class Obsolete:
    name: str
    replacement: str  # "" when the advice is to leave the setting at its default
    advice: str


@cache
def obsolete_parameters() -> dict[str, Obsolete]:
    out: dict[str, Obsolete] = {}
    for ln in _lines("obsolete-params.tsv"):
        name, replacement, advice = ln.split("\t")
        out[name] = Obsolete(name, replacement, advice)
    return out
