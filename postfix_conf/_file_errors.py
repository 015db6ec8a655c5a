"""The I/O errors of :mod:`postfix_conf.files`, and the mapping from ``OSError``.

Every message names the path and the problem in words, and says whether the file
was left unchanged, so a CLI can print ``str(exc)`` without a traceback. The
classes also derive from the matching builtin (``PermissionError``,
``FileNotFoundError``) where one exists, so generic ``except OSError`` code works.
"""

from __future__ import annotations

import errno as _errno
import os

from .errors import FileWriteError, PostfixConfError


class FileAccessError(FileWriteError):
    """A file could not be read, locked or replaced. ``path`` names the file at fault."""

    def __init__(self, path: str, problem: str, *, errno: int | None = None) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
        self.errno = errno

    def __str__(self) -> str:
        return str(self.args[0])


class PermissionDeniedError(FileAccessError, PermissionError):
    """EACCES/EPERM: no permission to read, create or replace the file (or keep its owner)."""


class ReadOnlyFileSystemError(FileAccessError):
    """EROFS: the file lives on a file system mounted read-only."""


class DiskFullError(FileAccessError):
    """ENOSPC, EDQUOT or EFBIG: the new content does not fit (disk, quota or size limit)."""


class MissingDirectoryError(FileAccessError, FileNotFoundError):
    """The directory that should hold the file does not exist (or is not a directory)."""


class FileMissingError(FileAccessError, FileNotFoundError):
    """The file to read or edit does not exist."""


class NotRegularFileError(FileAccessError):
    """The path names a directory, a device, a FIFO or a socket, not a regular file."""


class InsecureFileError(PostfixConfError):
    """A file that holds secrets can be read by group or other, or has a foreign owner."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class TransactionError(PostfixConfError):
    """A multi-file commit failed. Every file is either entirely old or entirely new.

    ``failed`` is the file whose step failed, ``cause`` the underlying error,
    ``old`` the files that hold their previous content (never written, or rolled
    back), ``new`` the files that hold the new content, ``rolled_back`` the subset of
    ``old`` that had already been replaced and was put back.
    """

    def __init__(self, failed: str, cause: BaseException, *, old: list[str], new: list[str],
                 rolled_back: list[str] | None = None) -> None:
        self.failed = failed
        self.cause = cause
        self.old = list(old)
        self.new = list(new)
        self.rolled_back = list(rolled_back or [])
        parts = [f"transaction failed at {failed}: {cause}"]
        parts.append("unchanged (old content): " + (", ".join(self.old) if self.old else "none"))
        if self.rolled_back:
            parts.append("rolled back: " + ", ".join(self.rolled_back))
        parts.append("written (new content): " + (", ".join(self.new) if self.new else "none"))
        super().__init__("; ".join(parts))


_REASONS = {
    _errno.EACCES: (PermissionDeniedError, "permission denied"),
    _errno.EPERM: (PermissionDeniedError, "operation not permitted"),
    _errno.EROFS: (ReadOnlyFileSystemError, "read-only file system"),
    _errno.ENOSPC: (DiskFullError, "no space left on device"),
    _errno.EDQUOT: (DiskFullError, "disk quota exceeded"),
    _errno.EFBIG: (DiskFullError, "file too large (file size limit exceeded)"),
    _errno.EISDIR: (NotRegularFileError, "is a directory"),
}


def os_error(exc: OSError, path: str, action: str, *, unchanged: bool = True) -> FileAccessError:
    """Translate an ``OSError`` raised while doing ``action`` on ``path``."""
    code = exc.errno
    suffix = "; the file was left unchanged" if unchanged else ""
    if code is not None and code in _REASONS:
        cls, reason = _REASONS[code]
        return cls(path, f"cannot {action}: {reason}{suffix}", errno=code)
    if code in (_errno.ENOENT, _errno.ENOTDIR):
        return MissingDirectoryError(path, f"cannot {action}: {os.strerror(code or 0).lower()}{suffix}",
                                     errno=code)
    reason = os.strerror(code).lower() if code else str(exc)
    return FileAccessError(path, f"cannot {action}: {reason}{suffix}", errno=code)


def describe_type(mode: int) -> str:
    """Words for a non-regular file type, for error messages."""
    import stat

    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISCHR(mode):
        return "is a character device"
    if stat.S_ISBLK(mode):
        return "is a block device"
    if stat.S_ISFIFO(mode):
        return "is a FIFO"
    if stat.S_ISSOCK(mode):
        return "is a socket"
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    return "is not a regular file"
