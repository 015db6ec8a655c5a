"""Safe writes: atomic, locked, attribute-preserving updates that never lose a byte.

The rules (details in ``docs/safe-writes.md``):

* **Atomic.** New content goes to ``<file>.tmp`` in the file's own directory, is
  fsync'ed, then takes the file's name in one rename; the directory is fsync'ed.
  Readers and crash survivors see the old file or the new one, never a mix.
* **Cooperative.** ``<file>.tmp`` is Postfix's own edit lock (``edit_file.c``): it is
  created 0600 and ``flock``'ed before the file is read, so ``pfedit`` and a concurrent
  ``postconf -e`` exclude each other. Waiting is bounded (:class:`LockTimeoutError`).
* **No lost updates.** The file is read again under the lock; if it is not what the
  edit was based on, the write is refused (:class:`ConcurrentModificationError`) or,
  with :func:`edit_file`, the edit is applied to the current content.
* **Attributes kept.** Mode, owner, group and extended attributes (``user.*``,
  ``security.selinux``, ACLs) of the old file go to the new one. A symlink is written
  *through*: the target is replaced and the link stays a link. Hard links are broken,
  as ``postconf`` does (the other names keep the old content; the result says how many).
* **Idempotent.** Unchanged content is not written at all: same inode, same mtime.
* **Secrets.** New secret files are 0600 from their first byte.
"""

from __future__ import annotations

import os
import stat

from ._file_errors import (
    DiskFullError,
    FileAccessError,
    FileMissingError,
    InsecureFileError,
    MissingDirectoryError,
    NotRegularFileError,
    PermissionDeniedError,
    ReadOnlyFileSystemError,
    TransactionError,
    describe_type,
    os_error,
)
from ._fingerprint import Fingerprint
from ._lock import DEFAULT_LOCK_TIMEOUT, EDIT_SUFFIX
from ._transaction import ConfigDir, LockOrderError, Transaction, TransactionResult
from ._writer import EditResult, WriteResult, edit_file, read_file, write_atomic, write_document
from .errors import ConcurrentModificationError, FileWriteError, LockTimeoutError

StrPath = str | os.PathLike[str]

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "EDIT_SUFFIX",
    "ConcurrentModificationError",
    "ConfigDir",
    "DiskFullError",
    "EditResult",
    "FileAccessError",
    "FileMissingError",
    "FileWriteError",
    "Fingerprint",
    "InsecureFileError",
    "LockOrderError",
    "LockTimeoutError",
    "MissingDirectoryError",
    "NotRegularFileError",
    "PermissionDeniedError",
    "ReadOnlyFileSystemError",
    "Transaction",
    "TransactionError",
    "TransactionResult",
    "WriteResult",
    "edit_file",
    "ensure_private",
    "read_file",
    "write_atomic",
    "write_document",
]


# -- secrets --------------------------------------------------------------------------------------
def ensure_private(path: StrPath, *, owners: tuple[int, ...] | None = None) -> None:
    """Raise :class:`InsecureFileError` unless ``path`` is a regular file that neither
    group nor other can access, owned by root or the current user (or one of ``owners``)."""
    given = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(given)
    except FileNotFoundError:
        raise FileMissingError(given, "does not exist") from None
    except OSError as exc:
        raise os_error(exc, given, "inspect the file") from exc
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(given, describe_type(st.st_mode) + ", not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise InsecureFileError(given, f"mode {mode:04o} lets group/other access a file holding "
                                f"secrets; run: chmod 600 {given}")
    allowed = owners if owners is not None else (0, os.geteuid())
    if st.st_uid not in allowed:
        raise InsecureFileError(given, f"owned by uid {st.st_uid}, expected "
                                + " or ".join(str(u) for u in sorted(set(allowed))))
