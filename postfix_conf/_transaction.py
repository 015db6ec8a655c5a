"""Several files committed together: each ends up entirely old or entirely new.

Commit protocol (see ``docs/safe-writes.md``):

1. every changed file is locked (Postfix ``<file>.tmp`` protocol, in path order so
   two transactions cannot deadlock), re-read and checked against what was loaded;
2. every new content is written and fsync'ed to its ``.tmp`` (with backups if asked);
   a failure here (disk full, read-only, permissions, conflict) leaves all files old;
3. then the files are swapped into place one by one (``RENAME_EXCHANGE``), still
   locked; if one swap fails, the ones already done are swapped back;
4. locks are released and the parked old versions removed (or kept as backups).
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from ._file_errors import FileMissingError, TransactionError
from ._fingerprint import check_expect
from ._lock import DEFAULT_LOCK_TIMEOUT
from ._staging import StagedFile, resolve_target
from ._writer import read_file
from .errors import PostfixConfError

if TYPE_CHECKING:
    from .document import Document
    from .main_cf import MainCf
    from .master_cf import MasterCf
    from .table import LookupTable

StrPath = str | os.PathLike[str]
D = TypeVar("D", bound="Document")


def _doc_class(module: str, name: str) -> type[Document]:
    """Import a parser class lazily (master_cf/table are optional at import time)."""
    mod = importlib.import_module(f".{module}", __package__)  # relative: works when bundled
    return cast("type[Document]", getattr(mod, name))


@dataclass(frozen=True, slots=True)
class TransactionResult:
    written: tuple[str, ...] = ()  # files replaced (real paths)
    created: tuple[str, ...] = ()  # subset of written that did not exist before
    unchanged: tuple[str, ...] = ()  # loaded, edited, but the bytes on disk were already right
    backups: dict[str, str] = field(default_factory=dict)  # file -> backup of its old version


@dataclass(slots=True)
class _Entry:
    given: str
    target: str
    doc: Document
    expect: bytes | None  # None: write unconditionally
    secret: bool


class ConfigDir:
    """A Postfix configuration directory (what ``postconf -c`` takes)."""

    def __init__(self, path: StrPath = "/etc/postfix", *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"ConfigDir({str(self.path)!r})"

    def file(self, name: StrPath) -> Path:
        """``name`` relative to the directory (absolute names are kept)."""
        return self.path / name

    def read(self, name: StrPath, cls: type[D]) -> D:
        data, _ = read_file(self.file(name))
        return cls.parse(data, path=self.file(name))

    def main_cf(self) -> MainCf:
        from .main_cf import MainCf

        return self.read("main.cf", MainCf)

    def master_cf(self) -> MasterCf:
        """The ``MasterCf`` of ``master.cf``."""
        return cast("MasterCf", self.read("master.cf", _doc_class("master_cf", "MasterCf")))

    def table(self, name: StrPath) -> LookupTable:
        """A ``LookupTable`` source file (relative names are inside the directory)."""
        return cast("LookupTable", self.read(name, _doc_class("table", "LookupTable")))

    def transaction(self, *, backup: bool = False) -> Transaction:
        return Transaction(self, backup=backup, lock_timeout=self.lock_timeout)


class Transaction:
    """Load documents, edit them, commit them all or none.

    >>> with ConfigDir(d).transaction(backup=True) as tx:     # doctest: +SKIP
    ...     tx.main_cf().set("relayhost", "[smtp.example.com]:587")
    ...     tx.table("sasl_passwd", secret=True, create=True).set(...)

    Leaving the ``with`` block normally commits; an exception discards every edit.
    Commit failures raise :class:`TransactionError`, which lists the files that are
    old and the files that are new (after rollback, normally all old).
    """

    def __init__(self, directory: ConfigDir | StrPath | None = None, *, backup: bool = False,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        if directory is None or isinstance(directory, ConfigDir):
            self.directory = directory
        else:
            self.directory = ConfigDir(directory, lock_timeout=lock_timeout)
        self.backup = backup
        self.lock_timeout = lock_timeout
        self._entries: dict[str, _Entry] = {}
        self._state = "open"

    # -- loading ----------------------------------------------------------------------------
    def _path(self, name: StrPath) -> str:
        p = self.directory.file(name) if self.directory is not None else Path(name)
        return os.path.abspath(p)

    def load(self, name: StrPath, cls: type[D], *, secret: bool = False, create: bool = False) -> D:
        """Read ``name`` into a ``cls`` document that this transaction will write back.

        ``create``: a missing file is fine, the document starts empty and the file is
        created on commit if the document is then non-empty. ``secret``: the file is
        created 0600 (and an existing one loses group/other bits when written).
        """
        self._check_open()
        given = self._path(name)
        target = resolve_target(given)
        if target in self._entries:
            entry = self._entries[target]
            if not isinstance(entry.doc, cls):
                raise TypeError(f"{given} is already loaded as {type(entry.doc).__name__}")
            entry.secret = entry.secret or secret
            return entry.doc
        try:
            data, _ = read_file(given)
        except FileMissingError:
            if not create:
                raise
            data = b""
        doc = cls.parse(data, path=given)
        self._entries[target] = _Entry(given, target, doc, data, secret)
        return doc

    def main_cf(self) -> MainCf:
        from .main_cf import MainCf

        return self.load("main.cf", MainCf)

    def master_cf(self) -> MasterCf:
        """The ``MasterCf`` of ``master.cf``."""
        return cast("MasterCf", self.load("master.cf", _doc_class("master_cf", "MasterCf")))

    def table(self, name: StrPath, *, secret: bool = False, create: bool = False) -> LookupTable:
        """A ``LookupTable`` source file; pass ``secret=True`` for password maps."""
        return cast("LookupTable", self.load(name, _doc_class("table", "LookupTable"), secret=secret,
                                             create=create))

    def add(self, doc: Document, path: StrPath | None = None, *, secret: bool = False) -> None:
        """Include a document loaded elsewhere. It is checked against ``doc.source`` when
        ``path`` is the file it was read from, else the file is replaced unconditionally."""
        self._check_open()
        where = path if path is not None else doc.path
        if where is None:
            raise ValueError("no path given and the document was not read from a file")
        given = self._path(where)
        target = resolve_target(given)
        own = doc.path is not None and os.path.realpath(doc.path) == target
        self._entries[target] = _Entry(given, target, doc, doc.source if own else None, secret)

    @property
    def documents(self) -> dict[str, Document]:
        return {e.given: e.doc for e in self._entries.values()}

    def pending(self) -> list[str]:
        """Files whose document differs from what was loaded."""
        return [e.given for e in self._sorted() if e.doc.changed]

    def diff(self) -> str:
        return "".join(e.doc.diff(fromfile=f"a{e.given}", tofile=f"b{e.given}")
                       for e in self._sorted() if e.doc.changed)

    # -- committing ---------------------------------------------------------------------------
    def _sorted(self) -> list[_Entry]:
        return [self._entries[k] for k in sorted(self._entries)]

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"transaction is {self._state}")

    def discard(self) -> None:
        self._state = "discarded"

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, tp: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if tp is None and self._state == "open":
            self.commit()
        elif self._state == "open":
            self.discard()

    def commit(self) -> TransactionResult:
        self._check_open()
        self._state = "committing"
        try:
            return self._commit()
        finally:
            self._state = "closed"

    def _commit(self) -> TransactionResult:
        entries = [e for e in self._sorted() if e.doc.changed]
        names = [e.given for e in entries]
        deadline = time.monotonic() + self.lock_timeout
        staged: list[tuple[_Entry, StagedFile]] = []
        unchanged: list[_Entry] = []
        current = ""

        def abort_all() -> None:
            for _, s in staged:
                s.abort()

        # Phases 1-2: lock, verify and stage everything; any failure: all files old.
        try:
            for e in entries:
                current = e.given
                sf = StagedFile(e.given)
                sf.precheck_writable()
                sf.lock(deadline)
                staged.append((e, sf))
                data = e.doc.to_bytes()
                if sf.old == data:
                    unchanged.append(e)
                    continue
                check_expect(sf, e.expect)
                sf.stage(data, backup=self.backup, secret=e.secret)
        except PostfixConfError as exc:
            abort_all()
            raise TransactionError(current, exc, old=names, new=[]) from exc
        except BaseException:
            abort_all()
            raise

        # Phase 3: swap into place; on failure swap back what was done.
        to_write = [(e, sf) for e, sf in staged if e not in unchanged]
        done: list[tuple[_Entry, StagedFile]] = []
        for e, sf in to_write:
            try:
                sf.commit()
            except BaseException as exc:
                rollback = done + ([(e, sf)] if sf.state == "committed" else [])
                back = {x.given: s.rollback(deadline + 5.0) for x, s in reversed(rollback)}
                abort_all()
                if not isinstance(exc, PostfixConfError | OSError):
                    raise
                new = [n for n in names if back.get(n) is False]
                old = [n for n in names if n not in new]
                raise TransactionError(e.given, exc, old=old, new=new,
                                       rolled_back=[n for n in names if back.get(n)]) from exc
            done.append((e, sf))

        # Phase 4: release.
        created: list[str] = []
        backups: dict[str, str] = {}
        for e, sf in staged:
            if sf.state == "committed" and sf.orig_stat is None:
                created.append(sf.target)
            if sf.backup is not None and sf.state == "committed":
                backups[sf.target] = sf.backup
            if sf.state == "committed":
                sf.finish()
            else:
                sf.abort()
            e.doc._mark_written()
        return TransactionResult(written=tuple(sf.target for _, sf in to_write), created=tuple(created),
                                 unchanged=tuple(e.given for e in unchanged), backups=backups)
