"""The Postfix facts only the checks need, read from ``postfix_conf/data`` (see the headers of each file).

``builtin_defaults``/``boolean_parameters`` live in :mod:`postfix_conf.data` (the effective view
needs them too) and are re-exported here for the checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from ..data import boolean_parameters, builtin_defaults
from ..data import lines as _lines


@cache
def service_suffixes() -> dict[str, tuple[str, ...]]:
    """master.cf command -> suffixes of the parameter names each such service adds."""
    from ..data import service_suffixes_37

    out: dict[str, list[str]] = {}
    for ln in _lines(service_suffixes_37.TEXT):
        command, suffix = ln.split("\t")
        out.setdefault(command, []).append(suffix)
    return {k: tuple(v) for k, v in out.items()}


@cache
def dbms_suffixes() -> dict[str, tuple[str, ...]]:
    """Legacy database type -> suffixes of the ``<table name>_<suffix>`` parameters it defines."""
    from ..data import dbms_suffixes_37

    out: dict[str, list[str]] = {}
    for ln in _lines(dbms_suffixes_37.TEXT):
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
    from ..data import obsolete_params

    out: dict[str, Obsolete] = {}
    for ln in _lines(obsolete_params.TEXT):
        name, replacement, advice = ln.split("\t")
        out[name] = Obsolete(name, replacement, advice)
    return out


__all__ = ["Obsolete", "boolean_parameters", "builtin_defaults", "dbms_suffixes", "obsolete_parameters",
           "service_suffixes"]
