"""Single-file safe writes: fingerprints, ``write_atomic``, ``edit_file``.

Public through :mod:`postfix_conf.files`; the mechanics are in :mod:`._staging`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from ._file_errors import FileMissingError, os_error
from ._fingerprint import Fingerprint, check_expect
from ._lock import DEFAULT_LOCK_TIMEOUT
from ._staging import StagedFile, display, open_regular, read_all
from .errors import ConcurrentModificationError

if TYPE_CHECKING:
    from .document import Document

StrPath = str | os.PathLike[str]
D = TypeVar("D", bound="Document")



@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of one write. ``path`` is the file actually replaced (symlinks resolved)."""

    path: str
    written: bool
    created: bool = False
    fingerprint: Fingerprint | None = None  # of the content now on disk
    backup: str | None = None  # previous version, when a backup was asked for
    hardlinks_broken: int = 0  # other names that still hold the previous content


@dataclass(frozen=True, slots=True)
class EditResult(Generic[D]):
    """What :func:`edit_file` did: the edited document (baseline = what is on disk now)."""

    document: D
    result: WriteResult

    @property
    def written(self) -> bool:
        return self.result.written


# -- reading ----------------------------------------------------------------------------------
def read_file(path: StrPath) -> tuple[bytes, Fingerprint]:
    """Read a regular file (through symlinks) and fingerprint it."""
    given = os.path.abspath(os.fspath(path))
    target = os.path.realpath(given)
    shown = display(given, target)
    for _ in range(5):
        opened = open_regular(target, shown)
        if opened is None:
            raise FileMissingError(shown, "does not exist")
        fd, before = opened
        try:
            data = read_all(fd)
            after = os.fstat(fd)
        except OSError as exc:
            raise os_error(exc, shown, "read the file") from exc
        finally:
            os.close(fd)
        if (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns):
            return data, Fingerprint.of(after, data)
        time.sleep(0.01)  # being rewritten in place by a non-cooperating editor
    raise ConcurrentModificationError(f"{shown}: keeps changing while being read")


# -- writing -----------------------------------------------------------------------------------
def _unchanged(target: str, data: bytes) -> WriteResult | None:
    """Unlocked fast path: the file already holds ``data`` (works on read-only media too)."""
    opened = open_regular(target, target)
    if opened is None:
        return None
    fd, st = opened
    try:
        if st.st_size != len(data) or read_all(fd) != data:
            return None
        return WriteResult(target, written=False, fingerprint=Fingerprint.of(st, data))
    except OSError:
        return None
    finally:
        os.close(fd)


def _commit_one(sf: StagedFile, data: bytes, *, backup: bool, secret: bool, deadline: float) -> WriteResult:
    """Stage, commit and release one locked file; on any failure the old file stays."""
    created = sf.orig_stat is None
    broken = 0 if sf.orig_stat is None else sf.orig_stat.st_nlink - 1
    try:
        sf.stage(data, backup=backup, secret=secret)
        try:
            sf.commit()
        except BaseException:
            sf.rollback(deadline + 5.0)
            raise
        st = os.fstat(sf.locks[-1].fd)
        result = WriteResult(sf.target, written=True, created=created, fingerprint=Fingerprint.of(st, data),
                             backup=sf.backup, hardlinks_broken=broken)
    except BaseException:
        sf.abort()
        raise
    sf.finish()
    return result


def write_atomic(path: StrPath, data: bytes, *, expect: Fingerprint | bytes | None,
                 backup: bool = False, secret: bool = False,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> WriteResult:
    """Replace ``path`` with ``data`` under the Postfix edit lock.

    ``expect`` is what the caller based ``data`` on: a :class:`Fingerprint` from
    :func:`read_file`, the bytes read (``b""`` also matches a missing file), or None to
    write unconditionally. Under the lock the file is read again; if it differs from
    ``expect`` nothing is written and :class:`ConcurrentModificationError` is raised.
    If it already holds ``data``, nothing is written (``written=False``).

    ``backup`` keeps the previous version as ``<file>.pfedit-YYYYmmddTHHMMSSZ.bak``.
    ``secret`` creates a missing file 0600 and strips group/other bits of an existing one.
    """
    sf = StagedFile(path)
    quick = _unchanged(sf.target, data)
    if quick is not None:
        return quick
    sf.precheck_writable()
    deadline = time.monotonic() + lock_timeout
    sf.lock(deadline)
    try:
        if sf.old is not None and sf.old == data:
            assert sf.orig_stat is not None
            result = WriteResult(sf.target, written=False, fingerprint=Fingerprint.of(sf.orig_stat, data))
            sf.abort()  # Postfix's edit_file_cleanup: unlink our .tmp while still locked
            return result
        check_expect(sf, expect)
    except BaseException:
        sf.abort()
        raise
    return _commit_one(sf, data, backup=backup, secret=secret, deadline=deadline)


def write_document(doc: Document, path: StrPath, *, backup: bool = False, secret: bool = False,
                   lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> bool:
    """Write ``doc`` to ``path``; True when bytes were written. Used by ``Document.write``.

    When ``path`` is the file the document was read from, the write is refused if that
    file changed since (``doc.source`` is the expected content). Writing a document to
    another path ("save as") replaces that file unconditionally.
    """
    own = doc.path is not None and os.path.realpath(doc.path) == os.path.realpath(path)
    result = write_atomic(path, doc.to_bytes(), expect=doc.source if own else None,
                          backup=backup, secret=secret, lock_timeout=lock_timeout)
    doc._mark_written()
    return result.written


def edit_file(path: StrPath, parse: Callable[[bytes], D], edit: Callable[[D], object], *,
              create: bool = False, backup: bool = False, secret: bool = False,
              lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> EditResult[D]:
    """Lock ``path``, read it, ``edit(parse(content))``, write the result, unlock.

    The read happens under the lock, so concurrent editors using this function (or
    ``postconf -e``) are serialised and every edit lands: none is lost, none is refused.
    ``edit`` should be quick (it runs while holding the lock) and must only change the
    document; if it raises, nothing is written. ``create`` allows a missing file (the
    edit then starts from empty content).
    """
    sf = StagedFile(path)
    sf.precheck_writable()
    deadline = time.monotonic() + lock_timeout
    sf.lock(deadline)
    try:
        if sf.old is None and not create:
            raise FileMissingError(sf.shown, "does not exist; nothing was written")
        before = sf.old if sf.old is not None else b""
        doc = parse(before)
        if doc.path is None:
            doc.path = os.fspath(path)
        edit(doc)
        data = doc.to_bytes()
        if sf.old is not None and data == before:
            assert sf.orig_stat is not None
            result = WriteResult(sf.target, written=False, fingerprint=Fingerprint.of(sf.orig_stat, data))
            sf.abort()
            return EditResult(doc, result)
    except BaseException:
        sf.abort()
        raise
    result = _commit_one(sf, data, backup=backup, secret=secret, deadline=deadline)
    doc._mark_written()
    return EditResult(doc, result)
