"""Tables named in the configuration, located for findings: freshness and permissions.

What a table reference means (type, file, compiled files, staleness) is
:mod:`postfix_conf.maps`; this module adds where each reference is set (parameter, file,
line, master.cf service) and turns problems into findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import maps
from ..macros import ExpandError
from ..master_cf import Service
from . import fixes
from .context import Config
from .findings import Finding, make

_NOT_SOURCES = ("_cache_database", "_cache_map")  # caches Postfix creates itself, no source file


@dataclass(frozen=True, slots=True)
class MapRef(maps.MapRef):
    """One table in one parameter value, and where that value is set."""

    param: str
    file: str  # where the parameter is set
    line: int | None
    service: Service | None

    def tool(self, param: str = "") -> str:
        return maps.MapRef.tool(self, param or self.param)


def maps_of(cfg: Config, param: str, service: Service | None = None) -> list[MapRef]:
    """The tables of one parameter as the daemon of ``service`` sees it."""
    raw = cfg.raw(param, service)
    if raw is None:
        return []
    try:
        value = cfg.expand(raw, service)
    except ExpandError:
        value = raw
    file, line = cfg.where(param, service)
    where = service if file == cfg.master_path else None
    return [MapRef(r.spec, r.kind, r.name, param, file, line, where) for r in maps.parse_maps(value)]


def all_maps(cfg: Config) -> Iterator[MapRef]:
    """Every file table named in main.cf and in master.cf ``-o`` options (each file once)."""
    seen: set[str] = set()
    names = list(cfg.main.parameters()) if cfg.main is not None else []
    for name in names:
        for ref in maps_of(cfg, name):
            if ref.is_file and ref.name not in seen:
                seen.add(ref.name)
                yield ref
    for service in cfg.services():
        for name in service.options:
            for ref in maps_of(cfg, name, service):
                if ref.is_file and ref.name not in seen:
                    seen.add(ref.name)
                    yield ref


def freshness(cfg: Config, ref: MapRef, *, missing_code: str | None) -> Iterator[Finding]:
    """compiled-map-missing/-stale for a file table; ``missing_code`` when neither file exists."""
    if not ref.is_file:
        return
    state = maps.freshness(ref.kind, ref.name)
    compiled = [p.exists() for p in ref.compiled()]
    rebuild = fixes.rebuild(cfg, ref.tool(), f"{ref.kind}:{ref.name}")
    if state == "no-source" or (state == "uncompiled" and not Path(ref.name).exists()):
        if missing_code and not all(compiled or [False]) and not ref.param.endswith(_NOT_SOURCES):
            yield make(missing_code, ref.file, ref.line,
                       f"{ref.param}: {ref.spec} does not exist"
                       + (" (neither the source nor the compiled file)" if compiled else ""),
                       f"create {ref.name} (mode 0600 for credentials), then run: {rebuild}" if compiled
                       else f"create {ref.name}")
        return
    if state == "missing":
        yield make("compiled-map-missing", ref.file, ref.line,
                   f"{ref.param}: {ref.name} exists but {ref.compiled()[0]} does not: Postfix reads only the "
                   "compiled file ('open database ...: No such file or directory')", rebuild)
    elif state == "stale":
        yield make("compiled-map-stale", ref.file, ref.line,
                   f"{ref.param}: {ref.compiled()[0]} is older than {ref.name}: Postfix still uses the old "
                   "entries", rebuild)


def permissions(ref: MapRef) -> Iterator[Finding]:
    """password-map-readable / -owner for the source and compiled files of a credentials table."""
    if not ref.is_file:
        return
    for path in [Path(ref.name), *ref.compiled()]:
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_mode & 0o077:
            yield make("password-map-readable", str(path), None,
                       f"{path} holds SASL passwords and has mode {st.st_mode & 0o7777:04o}: other local users "
                       "can read or change it", fixes.file_command("chmod", "0600", str(path)))
        if st.st_uid != 0:
            yield make("password-map-owner", str(path), None,
                       f"{path} holds SASL passwords and is owned by uid {st.st_uid}, not root",
                       fixes.file_command("chown", "root:root", str(path)))
