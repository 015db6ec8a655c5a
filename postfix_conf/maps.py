"""Lookup tables named in parameter values: which files they are, what postmap makes of them.

The one home of Postfix's table facts, shared by the recipes, ``pfedit check``, the
pipeline and the Ansible modules:

* a reference is parsed from the *expanded* value (``hash:${config_directory}/sasl_passwd``
  names ``/etc/postfix/sasl_passwd``), ``proxy:`` is transparent;
* a ``type:/path`` table of a postmap type is read from compiled files next to its
  source (``hash``/``btree``: ``.db``, ``lmdb``: ``.lmdb``, ``cdb``: ``.cdb``,
  ``dbm``/``sdbm``: ``.dir`` + ``.pag``); ``texthash`` reads the source itself;
* a compiled map is stale when a compiled file is missing or older than the source
  (Postfix then warns "database ... is older than source file" and uses old entries).

Relative paths (relative to the queue directory at run time) and other table types
(``ldap:``, ``pcre:``...) are not files pfedit edits.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ._file_errors import FileMissingError, os_error
from ._staging import open_regular
from ._text import split_list

COMPILED: dict[str, tuple[str, ...]] = {
    "hash": (".db",), "btree": (".db",), "lmdb": (".lmdb",), "cdb": (".cdb",),
    "dbm": (".dir", ".pag"), "sdbm": (".dir", ".pag"),
}
"""postmap type -> the files it writes next to the source."""

FILE_TYPES = frozenset({*COMPILED, "texthash"})
"""Types whose source is a file pfedit can edit as a :class:`~postfix_conf.LookupTable`."""

COMPILED_SUFFIXES = tuple(sorted({s for suffixes in COMPILED.values() for s in suffixes}))

_ALIAS_PARAMS = frozenset({"alias_maps", "alias_database"})


@dataclass(frozen=True, slots=True)
class MapRef:
    """One table in one (expanded) parameter value."""

    spec: str  # as written after $expansion, e.g. "hash:/etc/postfix/sasl_passwd"
    kind: str  # the table type, proxy: removed
    name: str  # path or table name

    @property
    def is_file(self) -> bool:
        """A source file pfedit can read and edit (absolute path, file type)."""
        return self.kind in FILE_TYPES and self.name.startswith("/")

    @property
    def compiles(self) -> bool:
        """``postmap`` must turn the source into compiled files before Postfix sees it."""
        return self.kind in COMPILED

    @property
    def source(self) -> Path:
        return Path(self.name)

    def compiled(self) -> list[Path]:
        return compiled_files(self.kind, self.name)

    def stale(self) -> bool:
        """A compiled file is missing or older than the source (False for a missing source)."""
        return is_stale(self.kind, self.name)

    def tool(self, param: str = "") -> str:
        """What compiles it: ``postalias`` for the alias parameters, else ``postmap``."""
        return "postalias" if param in _ALIAS_PARAMS else "postmap"


def compiled_files(kind: str, source: str | os.PathLike[str]) -> list[Path]:
    name = os.fspath(source)
    return [Path(name + s) for s in COMPILED.get(kind, ())]


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def freshness(kind: str, source: str | os.PathLike[str]) -> str:
    """``no-source``, ``missing`` (a compiled file is absent), ``stale`` (one is older than the
    source), ``fresh``, or ``uncompiled`` (a type postmap does not build)."""
    if kind not in COMPILED:
        return "uncompiled"
    src = _mtime(Path(source))
    if src is None:
        return "no-source"
    compiled = [_mtime(p) for p in compiled_files(kind, source)]
    if None in compiled:
        return "missing"
    return "stale" if min(c for c in compiled if c is not None) < src else "fresh"


def is_stale(kind: str, source: str | os.PathLike[str]) -> bool:
    """True when ``postmap`` must run: a compiled file is missing or older than the source."""
    return freshness(kind, source) in ("missing", "stale")


def parse_maps(value: str) -> list[MapRef]:
    """Every ``type:name`` element of an expanded list value, ``proxy:`` removed."""
    out = []
    for token in split_list(value):
        kind, sep, name = token.partition(":")
        while sep and kind == "proxy":
            kind, sep, name = name.partition(":")
        if sep and kind and kind.replace("_", "").isalnum():
            out.append(MapRef(token, kind, name))
    return out


def secure_compiled_map(path: str | os.PathLike[str], *, uid: int | None = 0) -> list[str]:
    """Force compiled maps to mode 0600 (and owner ``uid``, root by default; None keeps it).

    ``path`` is a compiled file, or the source table, in which case every existing
    compiled sibling is secured. For a map compiled by hand (the pipeline stages
    compiled maps 0600 itself). Returns the files handled.
    """
    p = os.path.abspath(os.fspath(path))
    if p.endswith(COMPILED_SUFFIXES):
        candidates = [p]
    else:
        candidates = [p + s for s in COMPILED_SUFFIXES if os.path.lexists(p + s)]
        if not candidates:
            raise FileMissingError(p, "no compiled map (" + "/".join(COMPILED_SUFFIXES) + ") exists; "
                                   "run postmap first")
    done: list[str] = []
    for name in candidates:
        opened = open_regular(name, name)
        if opened is None:
            raise FileMissingError(name, "does not exist; run postmap first")
        fd, st = opened
        try:
            if uid is not None and st.st_uid != uid:
                os.fchown(fd, uid, -1)
            if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
                os.fchmod(fd, 0o600)
        except OSError as exc:
            raise os_error(exc, name, "make the compiled map private", unchanged=False) from exc
        finally:
            os.close(fd)
        done.append(name)
    return done
