"""Several files committed together: each ends up entirely old or entirely new.

Commit protocol (see ``docs/safe-writes.md``):

1. every changed file is locked (Postfix ``<file>.tmp`` protocol, in path order so
   two transactions cannot deadlock), re-read and checked against what was loaded;
2. every new content is written and fsync'ed to its ``.tmp`` (with backups if asked);
   a failure here (disk full, read-only, permissions, conflict) leaves all files old;
3. then the files are swapped into place one by one (``RENAME_EXCHANGE``), still
   locked; if one swap fails, the ones already done are swapped back;
4. locks are released and the parked old versions removed (or kept as backups).

Two ways to read, as the caller needs:

* **optimistic** (default): ``load`` reads without locking and the commit refuses a
  file that changed since (:class:`ConcurrentModificationError`); what the library's
  explicit-expectation API promises;
* **locked** (``lock=True``): ``load`` takes the edit lock first and reads under it,
  exactly like ``postconf -e``, so a concurrent editor waits for us (or we for it)
  and no edit is ever refused or lost. Locks are taken in path order; a file that
  sorts before one already locked is only *tried*, and when it is busy
  :class:`LockOrderError` tells the caller to start over with
  :meth:`Transaction.prelock` of every path in order (no deadlock is possible).

``commit(hold=True)`` stops after step 3 with the locks held and the old versions
parked: :meth:`Transaction.release` finishes, :meth:`Transaction.rollback` puts every
old version back (a reload that fails after the commit must leave no trace).

Besides documents, a transaction carries raw bytes (:meth:`Transaction.add_bytes`,
compiled maps) and file modes (``secret`` files lose group/other bits even when their
content is unchanged). Files are staged in path order, so a source is always written
before the compiled map next to it (``sasl_passwd`` < ``sasl_passwd.db``) and the
compiled file is never older than its source.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ._file_errors import FileMissingError, TransactionError, os_error
from ._fingerprint import check_expect
from ._lock import DEFAULT_LOCK_TIMEOUT
from ._staging import StagedFile, resolve_target
from ._writer import read_file
from .errors import LockTimeoutError, PostfixConfError
from .main_cf import MainCf
from .master_cf import MasterCf
from .table import LookupTable

if TYPE_CHECKING:
    from .document import Document

StrPath = str | os.PathLike[str]
D = TypeVar("D", bound="Document")


class LockOrderError(PostfixConfError):
    """A file sorting before one already locked is busy: start over, locking ``paths`` in order."""

    def __init__(self, path: str, paths: list[str]) -> None:
        super().__init__(f"{path}: locked by another editor; retry with the locks taken in order")
        self.paths = sorted(set(paths))


@dataclass(frozen=True, slots=True)
class TransactionResult:
    written: tuple[str, ...] = ()  # files replaced, created or removed (real paths)
    created: tuple[str, ...] = ()  # subset of written that did not exist before
    removed: tuple[str, ...] = ()  # subset of written that no longer exists
    unchanged: tuple[str, ...] = ()  # loaded, edited, but the bytes on disk were already right
    backups: dict[str, str] = field(default_factory=dict)  # file -> backup of its old version


@dataclass(slots=True)
class _Entry:
    given: str
    target: str
    doc: Document | None  # None: raw bytes (``blob``)
    expect: bytes | None  # None: write unconditionally
    secret: bool
    blob: bytes | None = None
    uid: int | None = None  # owner the file must get (None: keep)
    mode: int | None = None  # permission bits when loaded (None: missing)
    sf: StagedFile | None = None  # holds the edit lock (locked transactions)
    delete: bool = False  # the file is to be removed

    def data(self) -> bytes:
        if self.doc is None:
            assert self.blob is not None
            return self.blob
        return self.doc.to_bytes()

    @property
    def content_changed(self) -> bool:
        if self.delete:
            return self.expect is not None
        if self.doc is None:  # raw bytes, or only a lock taken by prelock() and never loaded
            return self.blob is not None and self.blob != self.expect
        return self.doc.changed

    @property
    def mode_wrong(self) -> bool:
        """A secret file that exists with group/other bits: rewriting it makes it private."""
        return self.secret and self.mode is not None and bool(self.mode & 0o077)

    @property
    def changed(self) -> bool:
        return self.content_changed or self.mode_wrong


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
        return self.read("main.cf", MainCf)

    def master_cf(self) -> MasterCf:
        return self.read("master.cf", MasterCf)

    def table(self, name: StrPath) -> LookupTable:
        """A ``LookupTable`` source file (relative names are inside the directory)."""
        return self.read(name, LookupTable)

    def transaction(self, *, backup: bool = False, lock: bool = False) -> Transaction:
        return Transaction(self, backup=backup, lock_timeout=self.lock_timeout, lock=lock)


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
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT, lock: bool = False) -> None:
        if directory is None or isinstance(directory, ConfigDir):
            self.directory = directory
        else:
            self.directory = ConfigDir(directory, lock_timeout=lock_timeout)
        self.backup = backup
        self.lock_timeout = lock_timeout
        self.locking = lock
        self._entries: dict[str, _Entry] = {}
        self._state = "open"
        self._held: list[tuple[_Entry, StagedFile]] = []
        self._committed_docs: list[Document] = []
        self._locked_max = ""  # the greatest path locked in order so far

    # -- loading ----------------------------------------------------------------------------
    def _path(self, name: StrPath) -> str:
        p = self.directory.file(name) if self.directory is not None else Path(name)
        return os.path.abspath(p)

    def _deadline(self) -> float:
        return time.monotonic() + self.lock_timeout

    def _lock(self, given: str, target: str, *, ordered: bool = True) -> StagedFile:
        """Take the edit lock of ``given`` (see the module docstring for the order rule)."""
        sf = StagedFile(given)
        sf.precheck_writable()
        if ordered and target < self._locked_max:
            try:
                sf.lock(time.monotonic())  # one try: waiting out of order could deadlock
            except LockTimeoutError:
                raise LockOrderError(given, [*self._entries, target]) from None
        else:
            sf.lock(self._deadline())
        if ordered:
            self._locked_max = max(self._locked_max, target)
        return sf

    def prelock(self, names: Sequence[StrPath]) -> None:
        """Lock ``names`` now, in path order (after a :class:`LockOrderError`); later
        ``load`` calls of these names read under the locks already held."""
        self._check_open()
        if not self.locking:
            raise RuntimeError("prelock needs a locked transaction (lock=True)")
        for target in sorted({resolve_target(self._path(n)) for n in names}):
            if target not in self._entries:
                sf = self._lock(target, target)
                self._entries[target] = _Entry(target, target, None, sf.old, False, sf=sf)

    def load(self, name: StrPath, cls: type[D], *, secret: bool = False, create: bool = False) -> D:
        """Read ``name`` into a ``cls`` document that this transaction will write back.

        ``create``: a missing file is fine, the document starts empty and the file is
        created on commit if the document is then non-empty. ``secret``: the file is
        created 0600, and an existing one loses its group/other bits on commit.
        """
        self._check_open()
        given = self._path(name)
        target = resolve_target(given)
        entry = self._entries.get(target)
        if entry is not None and entry.doc is not None:
            if not isinstance(entry.doc, cls):
                raise TypeError(f"{given} is already loaded as {type(entry.doc).__name__}")
            entry.secret = entry.secret or secret
            return entry.doc
        sf = entry.sf if entry is not None else None
        if self.locking and sf is None:
            sf = self._lock(given, target)
        try:
            if sf is not None:
                data, st = sf.old, sf.orig_stat
                if data is None:
                    if not create:
                        raise FileMissingError(sf.shown, "does not exist")
                    data = b""
            else:
                try:
                    data, _ = read_file(given)
                    st = os.stat(given)
                except FileMissingError:
                    if not create:
                        raise
                    data, st = b"", None
        except BaseException:
            if sf is not None and entry is None:
                sf.abort()
            raise
        doc = cls.parse(data, path=given)
        mode = None if st is None else stat.S_IMODE(st.st_mode)
        self._entries[target] = _Entry(given, target, doc, data, secret, mode=mode, sf=sf)
        return doc

    def main_cf(self) -> MainCf:
        return self.load("main.cf", MainCf)

    def master_cf(self) -> MasterCf:
        return self.load("master.cf", MasterCf)

    def table(self, name: StrPath, *, secret: bool = False, create: bool = False) -> LookupTable:
        """A ``LookupTable`` source file; pass ``secret=True`` for password maps."""
        return self.load(name, LookupTable, secret=secret, create=create)

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

    def add_bytes(self, path: StrPath, data: bytes, *, secret: bool = False, uid: int | None = None) -> None:
        """Write ``data`` to ``path`` with the other files (a compiled map): never diffed.

        In a locked transaction its lock is taken now, outside the path order: only the
        holder of the source's lock ever writes a compiled map, so no one can wait for it.
        """
        self._check_open()
        given = self._path(path)
        target = resolve_target(given)
        if target in self._entries:
            raise ValueError(f"{given} is already part of this transaction")
        sf = self._lock(given, target, ordered=False) if self.locking else None
        old: bytes | None = None
        mode: int | None = None
        if sf is not None:
            old = sf.old
            mode = None if sf.orig_stat is None else stat.S_IMODE(sf.orig_stat.st_mode)
        elif os.path.lexists(given):
            old, _ = read_file(given)
            mode = stat.S_IMODE(os.stat(given).st_mode)
        self._entries[target] = _Entry(given, target, None, old, secret, blob=data, uid=uid, mode=mode, sf=sf)

    def remove(self, path: StrPath) -> None:
        """Delete ``path`` with the other files (nothing happens if it does not exist). A
        document of it loaded in this transaction is dropped; a rollback puts the file back."""
        self._check_open()
        given = self._path(path)
        target = resolve_target(given)
        entry = self._entries.get(target)
        sf = entry.sf if entry is not None else None
        if self.locking and sf is None:
            sf = self._lock(given, target, ordered=False)
        if sf is not None:
            old = sf.old
        elif os.path.lexists(given):
            old, _ = read_file(given)
        else:
            old = None
        self._entries[target] = _Entry(given, target, None, old, False, sf=sf, delete=True)

    def removals(self) -> dict[str, bytes]:
        """Files this transaction will delete, with the content they have now."""
        return {e.given: e.expect for e in self._sorted() if e.delete and e.expect is not None}

    def removing(self, path: StrPath) -> bool:
        """``path`` will be deleted by this transaction."""
        entry = self._entries.get(resolve_target(self._path(path)))
        return entry is not None and entry.delete and entry.expect is not None

    @property
    def state(self) -> str:
        """open, committing, held (see :meth:`commit`), closed or discarded."""
        return self._state

    @property
    def documents(self) -> dict[str, Document]:
        return {e.given: e.doc for e in self._entries.values() if e.doc is not None}

    def pending(self) -> list[str]:
        """Files whose content differs from what was loaded (or whose mode must change)."""
        return [e.given for e in self._sorted() if e.changed]

    def mode_fixes(self) -> dict[str, int]:
        """Secret files that will be rewritten only to drop group/other bits: path -> their mode now."""
        return {e.given: e.mode for e in self._sorted()
                if e.mode_wrong and not e.content_changed and e.mode is not None}

    def diff(self) -> str:
        return "".join(e.doc.diff(fromfile=f"a{e.given}", tofile=f"b{e.given}")
                       for e in self._sorted() if e.doc is not None and e.doc.changed)

    # -- committing ---------------------------------------------------------------------------
    def _sorted(self) -> list[_Entry]:
        return [self._entries[k] for k in sorted(self._entries)]

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"transaction is {self._state}")

    def _release_all(self) -> None:
        for e in self._entries.values():
            if e.sf is not None:
                e.sf.abort()

    def discard(self) -> None:
        """Give up every edit (and every lock held)."""
        if self._state == "open":
            self._release_all()
        self._state = "discarded"

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, tp: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if tp is None and self._state == "open":
            self.commit()
        elif self._state == "open":
            self.discard()

    def commit(self, *, hold: bool = False) -> TransactionResult:
        """Write every changed file, all or none. With ``hold``, stop with the new versions in
        place and the old ones parked: then :meth:`release` or :meth:`rollback`."""
        self._check_open()
        self._state = "committing"
        try:
            result = self._commit(hold)
        except BaseException:
            self._state = "closed"
            raise
        self._state = "held" if hold else "closed"
        return result

    def _commit(self, hold: bool) -> TransactionResult:
        entries = self._sorted()
        names = [e.given for e in entries if e.changed]
        staged: list[tuple[_Entry, StagedFile]] = []
        unchanged: list[_Entry] = []
        current = ""

        def abort_all() -> None:
            for _, s in staged:
                s.abort()
            self._release_all()

        # Phases 1-2: lock, verify and stage everything; any failure: all files old.
        try:
            deadline = self._deadline()
            for e in entries:
                if not e.changed:
                    if e.sf is not None:
                        e.sf.abort()
                    continue
                current = e.given
                sf = e.sf
                if sf is None:
                    sf = StagedFile(e.given)
                    sf.precheck_writable()
                    sf.lock(deadline)
                staged.append((e, sf))
                if e.delete:
                    if e.sf is None:
                        check_expect(sf, e.expect)
                    if sf.old is None:
                        unchanged.append(e)
                    else:
                        sf.stage_removal(backup=self.backup)
                    continue
                data = e.data()
                if sf.old == data and not e.mode_wrong and not self._owner_wrong(e, sf):
                    unchanged.append(e)
                    continue
                if e.sf is None:
                    check_expect(sf, e.expect)
                sf.stage(data, backup=self.backup, secret=e.secret, uid=e.uid)
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

        created = [sf.target for _, sf in to_write if sf.orig_stat is None]
        removed = [sf.target for _, sf in to_write if sf.removing]
        backups = {sf.target: sf.backup for _, sf in to_write if sf.backup is not None}
        result = TransactionResult(written=tuple(sf.target for _, sf in to_write), created=tuple(created),
                                   removed=tuple(removed), unchanged=tuple(e.given for e in unchanged),
                                   backups=backups)
        for e, sf in staged:
            if (e, sf) not in to_write:
                sf.abort()
        self._held = to_write
        self._committed_docs = [e.doc for e, _ in staged if e.doc is not None]
        if not hold:
            self.release()
        return result

    @staticmethod
    def _owner_wrong(e: _Entry, sf: StagedFile) -> bool:
        return e.uid is not None and sf.orig_stat is not None and sf.orig_stat.st_uid != e.uid

    def release(self) -> None:
        """Finish a commit: drop the parked old versions (or keep them as backups), unlock."""
        errors: list[OSError] = []
        for _, sf in self._held:
            try:
                sf.finish()
            except OSError as exc:
                errors.append(exc)
        for doc in self._committed_docs:
            doc._mark_written()
        self._held, self._committed_docs = [], []
        self._state = "closed"
        if errors:
            raise errors[0]

    def rollback(self) -> list[str]:
        """Undo a held commit: every file gets its old content back. Returns the files that
        could *not* be restored (normally none)."""
        if self._state != "held":
            raise RuntimeError(f"transaction is {self._state}, not held")
        deadline = self._deadline()
        failed = [e.given for e, sf in reversed(self._held) if not sf.rollback(deadline)]
        for _, sf in self._held:
            try:
                sf.abort()
            except OSError as exc:  # a lock file we could not remove: say so, never hide it
                failed.append(str(os_error(exc, sf.shown, "remove the edit lock file")))
        self._held = []
        self._state = "closed"
        return failed
