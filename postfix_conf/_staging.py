"""One file through lock -> read -> stage -> commit -> finish (or abort / rollback).

:class:`StagedFile` is the engine under :func:`postfix_conf.files.write_atomic`,
``edit_file`` and ``Transaction``. The temporary file is Postfix's own lock file
``<realpath>.tmp`` (see :mod:`postfix_conf._lock`), so no other temporary name
ever exists and a crash can leave at most that one name behind, which the next
editor (pfedit or postconf) reuses or removes.

Commit is ``renameat2(RENAME_EXCHANGE)`` where the file system supports it: the
new inode takes the file's name and the old inode is parked under ``.tmp``, still
locked by us, so a transaction can swap it back (rollback) without any window in
which a ``postconf -e`` could sneak in. ``finish()`` then unlinks the parked old
inode (or it lives on as the hard-linked backup). Without exchange support the
commit is a plain ``rename`` as in Postfix, and rollback rewrites the old bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time

from ._file_errors import (
    FileAccessError,
    MissingDirectoryError,
    NotRegularFileError,
    PermissionDeniedError,
    ReadOnlyFileSystemError,
    describe_type,
    os_error,
)
from ._lock import (
    EDIT_SUFFIX,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    LockFile,
    acquire,
    fsync_dir,
    renameat2,
    try_flock,
)
from .errors import ConcurrentModificationError, PostfixConfError

StrPath = str | os.PathLike[str]
_O_READ = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
_STRICT_XATTRS = ("user.", "security.selinux", "system.posix_acl_")
_HAS_XATTR = hasattr(os, "listxattr")
NEW_FILE_MODE = 0o644  # what postconf gives main.cf; reduced by the umask
SECRET_MODE = 0o600
ORIGINAL_LOCK_WAIT = 0.5  # seconds; see StagedFile._open_original


def read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def current_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def display(given: str, target: str) -> str:
    return given if given == target else f"{given} (-> {target})"


def resolve_target(given: str) -> str:
    """The regular file a write to ``given`` must replace (symlinks followed)."""
    target = os.path.realpath(given)
    shown = display(given, target)
    directory = os.path.dirname(target)
    try:
        dst = os.stat(directory)
    except (FileNotFoundError, NotADirectoryError):
        raise MissingDirectoryError(shown, f"directory {directory} does not exist; nothing was written",
                                    errno=errno.ENOENT) from None
    except OSError as exc:
        raise os_error(exc, shown, f"reach directory {directory}") from exc
    if not stat.S_ISDIR(dst.st_mode):
        raise MissingDirectoryError(shown, f"{directory} is not a directory; nothing was written",
                                    errno=errno.ENOTDIR)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise os_error(exc, shown, "inspect the file") from exc
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(shown, describe_type(st.st_mode) + ", not a regular file; "
                                  "nothing was written")
    return target


def open_regular(target: str, shown: str) -> tuple[int, os.stat_result] | None:
    """Open a regular file for reading without following a final symlink; None if missing."""
    try:
        fd = os.open(target, _O_READ)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_error(exc, shown, "read the file") from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFileError(shown, describe_type(st.st_mode) + ", not a regular file")
    return fd, st


def copy_xattrs(src_fd: int | None, dst_fd: int, shown: str) -> None:
    """Make ``dst``'s extended attributes those of ``src`` (none for a new file).

    ``user.*``, ``security.selinux`` and POSIX ACLs must be kept: failing to is an
    error. Other namespaces (``trusted.*``, ``security.ima`` ...) belong to the
    kernel or need privileges we may not have, and are copied on a best-effort basis.
    """
    if not _HAS_XATTR:
        return
    want: dict[str, bytes] = {}
    if src_fd is not None:
        try:
            names = os.listxattr(src_fd)
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise os_error(exc, shown, "read extended attributes") from exc
            names = []
        for name in names:
            try:
                want[name] = os.getxattr(src_fd, name)
            except OSError as exc:
                if name.startswith(_STRICT_XATTRS):
                    raise os_error(exc, shown, f"read extended attribute {name}") from exc
    try:
        have = os.listxattr(dst_fd)
    except OSError:
        have = []
    for name in have:  # a reused .tmp may carry attributes of an older version
        if name not in want and name.startswith(("user.", "system.posix_acl_")):
            try:
                os.removexattr(dst_fd, name)
            except OSError as exc:
                raise os_error(exc, shown, f"drop stale extended attribute {name}") from exc
    for name, value in want.items():
        try:
            if name in have and os.getxattr(dst_fd, name) == value:
                continue
            os.setxattr(dst_fd, name, value)
        except OSError as exc:
            if name.startswith(_STRICT_XATTRS):
                raise os_error(exc, shown, f"keep extended attribute {name}") from exc


class StagedFile:
    """One file being replaced under the Postfix edit lock. Not thread-safe."""

    def __init__(self, path: StrPath) -> None:
        self.given = os.path.abspath(os.fspath(path))
        self.target = resolve_target(self.given)
        self.locks: list[LockFile] = []
        self.orig_fd = -1
        self.orig_stat: os.stat_result | None = None
        self.old: bytes | None = None  # content found under the lock; None = missing
        self.new: bytes | None = None
        self.exchangeable = False
        self.method: str | None = None  # "exchange" or "rename" once committed
        self.owns_tmp_name = False
        self.backup: str | None = None
        self.removing = False  # staged to be deleted (stage_removal) rather than replaced
        self.state = "new"  # new, locked, staged, committed, rolledback, done, aborted

    # -- naming -----------------------------------------------------------------------
    @property
    def shown(self) -> str:
        return display(self.given, self.target)

    @property
    def tmp_path(self) -> str:
        return self.target + EDIT_SUFFIX

    def lock_paths(self) -> list[str]:
        """``<path as given>.tmp`` (what postconf locks when the name is a symlink) and
        ``<realpath>.tmp``; the same file once when ``path`` is not a symlink."""
        parent = os.path.realpath(os.path.dirname(self.given))
        as_given = os.path.join(parent, os.path.basename(self.given)) + EDIT_SUFFIX
        return [self.tmp_path] if as_given == self.tmp_path else [as_given, self.tmp_path]

    # -- checks before locking ------------------------------------------------------------
    def precheck_writable(self) -> None:
        """Clear errors before we create anything (the real calls are checked again)."""
        directory = os.path.dirname(self.target)
        try:
            flags = os.statvfs(directory).f_flag
        except OSError as exc:
            raise os_error(exc, self.shown, f"inspect directory {directory}") from exc
        if flags & os.ST_RDONLY:
            raise ReadOnlyFileSystemError(self.shown, "cannot write: read-only file system; "
                                          "the file was left unchanged", errno=errno.EROFS)
        if os.path.lexists(self.target) and not os.access(self.target, os.W_OK, effective_ids=True):
            raise PermissionDeniedError(self.shown, "cannot write: permission denied (the file is "
                                        "not writable); the file was left unchanged", errno=errno.EACCES)
        if not os.access(directory, os.W_OK | os.X_OK, effective_ids=True):
            raise PermissionDeniedError(self.shown, f"cannot write: permission denied (cannot create "
                                        f"files in {directory}); the file was left unchanged",
                                        errno=errno.EACCES)

    # -- phase 1: lock and read -------------------------------------------------------------
    def lock(self, deadline: float) -> None:
        """Take the edit lock(s), then read the current content (Postfix: only after locking)."""
        for _ in range(20):
            self.owns_tmp_name = True  # every name we lock is ours until we rename it away
            try:
                for path in self.lock_paths():
                    self.locks.append(acquire(path, deadline))
                if os.path.realpath(self.given) != self.target:
                    raise _Retarget
                self._open_original()
            except _Retarget:
                self._release_locks()
                self.target = resolve_target(self.given)
                continue
            except BaseException:
                self._release_locks()
                raise
            self.state = "locked"
            return
        raise ConcurrentModificationError(f"{self.shown}: keeps being re-pointed to other files "
                                          "(symlink changing); nothing was written")

    def _open_original(self) -> None:
        try:
            opened = open_regular(self.target, self.shown)
        except FileAccessError as exc:
            if exc.errno == errno.ELOOP:  # became a symlink under us
                raise _Retarget from None
            raise
        if opened is None:
            return
        self.orig_fd, self.orig_stat = opened
        try:
            self.old = read_all(self.orig_fd)
        except OSError as exc:
            raise os_error(exc, self.shown, "read the file") from exc
        # Hold a lock on the old inode too, so that after RENAME_EXCHANGE parks it under
        # ".tmp", newcomers block on it. Someone else may hold it: a waiter of the previous
        # round briefly does (harmless); a script running `flock main.cf postconf -e ...`
        # holds it for long, and waiting would deadlock with that postconf, so after a short
        # try we give up the exchange and commit with a plain rename instead.
        self.exchangeable = try_flock(self.orig_fd, ORIGINAL_LOCK_WAIT)

    # -- phase 2: write the temporary file ------------------------------------------------
    def stage(self, data: bytes, *, backup: bool, secret: bool, uid: int | None = None) -> None:
        """Write ``data`` to the lock file with the old file's attributes; ``secret`` drops
        group/other bits (a new file is 0600), ``uid`` gives the file that owner instead."""
        assert self.state == "locked", self.state
        fd = self.locks[-1].fd
        st = self.orig_stat
        try:
            write_all(fd, data)
            mine = os.fstat(fd)
            mode = stat.S_IMODE(st.st_mode) if st is not None else NEW_FILE_MODE & ~current_umask()
            owner = (mine.st_uid, mine.st_gid) if st is None else (st.st_uid, st.st_gid)
            owner = owner if uid is None else (uid, owner[1])
            if (mine.st_uid, mine.st_gid) != owner:
                try:
                    os.fchown(fd, *owner)
                except PermissionError as exc:
                    what = "keep" if uid is None else "set"
                    raise PermissionDeniedError(
                        self.shown, f"cannot {what} the owner {owner[0]}:{owner[1]} of the file "
                        "(run as root or as its owner); the file was left unchanged",
                        errno=exc.errno) from exc
            if secret:
                mode = SECRET_MODE if st is None else mode & ~0o077
            copy_xattrs(self.orig_fd if st is not None else None, fd, self.shown)
            if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
                os.fchmod(fd, mode)
            os.fsync(fd)
        except FileAccessError:
            raise
        except OSError as exc:
            raise os_error(exc, self.shown, f"write the new content (to {self.tmp_path})") from exc
        if backup and st is not None:
            self._make_backup()
        self.new = data
        self.state = "staged"

    def stage_removal(self, *, backup: bool) -> None:
        """Prepare to delete the file (at commit it is parked under the lock name, as the
        old version is in an exchange, so that a rollback can put the very same inode back)."""
        assert self.state == "locked", self.state
        if self.orig_stat is None:
            raise ConcurrentModificationError(f"{self.shown}: was removed since it was read; nothing was written")
        if backup:
            self._make_backup()
        self.removing = True
        self.new = None
        self.state = "staged"

    def _make_backup(self) -> None:
        assert self.orig_stat is not None and self.old is not None
        st = self.orig_stat
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for i in range(1000):
            name = f"{self.target}.pfedit-{stamp}{f'-{i}' if i else ''}.bak"
            try:
                os.link(self.target, name, follow_symlinks=False)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP,
                                     errno.EMLINK, errno.EACCES):
                    raise os_error(exc, name, "create the backup") from exc
            else:
                got = os.lstat(name)
                if (got.st_dev, got.st_ino) == (st.st_dev, st.st_ino):
                    self.backup = name  # the old inode itself: mode, owner, xattrs, mtime
                    return
                os.unlink(name)  # the file was replaced behind our back: copy what we read
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                             SECRET_MODE)
            except FileExistsError:
                continue
            except OSError as exc:
                raise os_error(exc, name, "create the backup") from exc
            self.backup = name
            try:
                write_all(fd, self.old)
                os.fchown(fd, st.st_uid, st.st_gid)
                copy_xattrs(self.orig_fd, fd, name)
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
                os.fsync(fd)
            except OSError as exc:
                self._remove_backup()
                raise os_error(exc, name, "write the backup") from exc
            finally:
                os.close(fd)
            return
        raise FileAccessError(self.shown, "cannot find a free backup file name; the file was left unchanged")

    def _remove_backup(self) -> None:
        if self.backup is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.backup)
            self.backup = None

    # -- phase 3: commit --------------------------------------------------------------------
    def commit(self) -> None:
        """Put the staged content in place: atomic, and nothing else changes on failure."""
        assert self.state == "staged", self.state
        tmp, target = self.tmp_path, self.target
        try:
            if self.removing:
                self._commit_removal()
            elif self.orig_stat is None:
                self._commit_new()
            elif self.exchangeable and renameat2(tmp, target, RENAME_EXCHANGE):
                self.method = "exchange"
                self.state = "committed"
                self._verify_exchange()
            else:
                self._check_unchanged(os.lstat(target))
                os.rename(tmp, target)
                self.method = "rename"
                self.owns_tmp_name = False
                self.state = "committed"
        except (FileAccessError, ConcurrentModificationError):
            raise
        except FileNotFoundError as exc:
            raise ConcurrentModificationError(
                f"{self.shown}: was removed while being edited; nothing was written") from exc
        except OSError as exc:
            raise os_error(exc, self.shown, "replace the file") from exc
        try:
            fsync_dir(os.path.dirname(target))
        except OSError as exc:
            raise os_error(exc, self.shown, "sync the directory after replacing the file",
                           unchanged=False) from exc

    def _commit_removal(self) -> None:
        """Take the file's name away. When we hold the old inode's flock it is parked under the
        lock name (newcomers opening ``.tmp`` then block on it until we finish); otherwise it
        is unlinked and a rollback rewrites it from the bytes we read."""
        self._check_unchanged(os.lstat(self.target))
        if self.exchangeable:
            os.rename(self.target, self.tmp_path)  # our empty lock inode loses its name; we still hold it
            self.method = "park"
        else:
            os.unlink(self.target)
            self.method = "unlink"
            self.owns_tmp_name = True
        self.state = "committed"

    def _commit_new(self) -> None:
        tmp, target = self.tmp_path, self.target
        try:
            done = renameat2(tmp, target, RENAME_NOREPLACE)
        except FileExistsError:
            done = False
            exists = True
        else:
            exists = not done and os.path.lexists(target)
        if exists:
            raise ConcurrentModificationError(
                f"{self.shown}: was created by another program while being edited; nothing was written")
        if not done:
            os.rename(tmp, target)
        self.method = "rename"
        self.owns_tmp_name = False
        self.state = "committed"

    def _check_unchanged(self, now: os.stat_result) -> None:
        st = self.orig_stat
        assert st is not None
        then = os.fstat(self.orig_fd)
        if ((now.st_dev, now.st_ino) != (st.st_dev, st.st_ino)
                or (then.st_size, then.st_mtime_ns) != (st.st_size, st.st_mtime_ns)):
            raise ConcurrentModificationError(
                f"{self.shown}: was changed by a program that does not use the edit lock while "
                "being edited; nothing was written. Re-read the file and apply the edit again.")

    def _verify_exchange(self) -> None:
        """What we swapped out must be the file we read, unmodified; else swap back."""
        try:
            self._check_unchanged(os.lstat(self.tmp_path))
        except ConcurrentModificationError:
            if renameat2(self.tmp_path, self.target, RENAME_EXCHANGE):
                self.method = None
                self.state = "staged"
            raise

    def rollback(self, deadline: float) -> bool:
        """Undo a commit; True when the old content is back in place."""
        if self.state != "committed":
            return True
        try:
            if self.method == "park":
                if not renameat2(self.tmp_path, self.target, RENAME_NOREPLACE):
                    if os.path.lexists(self.target):
                        return False
                    os.rename(self.tmp_path, self.target)
                fsync_dir(os.path.dirname(self.target))
                self.owns_tmp_name = False  # the name went back to the file; our lock inode has none
                self.state = "rolledback"
                return True
            if self.method == "exchange":
                if renameat2(self.tmp_path, self.target, RENAME_EXCHANGE):
                    fsync_dir(os.path.dirname(self.target))
                    self.state = "staged"
                    self.method = None
                    return True
                return False
            if self.orig_stat is None:
                mine = os.fstat(self.locks[-1].fd)
                now = os.lstat(self.target)
                if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
                    return False
                os.unlink(self.target)
                fsync_dir(os.path.dirname(self.target))
                self.state = "rolledback"
                return True
            # Plain rename: the lock name is free again; rewrite the old bytes under a
            # fresh lock. Our own locks go first (the link lock would block `again`, and
            # the flock on the new inode would cost `again` its exchange attempt).
            assert self.old is not None and self.orig_stat is not None
            self._release_locks()
            again = StagedFile(self.given)
            again.lock(deadline)
            try:
                if again.old != self.new:
                    return False  # someone edited the new version meanwhile: keep theirs
                private = not stat.S_IMODE(self.orig_stat.st_mode) & 0o077
                again.stage(self.old, backup=False, secret=self.removing and private)
                again.commit()
            except BaseException:
                again.abort()
                raise
            again.finish()
            self.state = "rolledback"
            return True
        except (OSError, PostfixConfError):
            return False

    # -- phase 4: release ---------------------------------------------------------------
    def finish(self) -> None:
        """After a successful commit: drop the parked old inode, release all locks."""
        self._release_locks()
        self.state = "done"

    def abort(self) -> None:
        """Give up: remove our temporary file (while still locked) and any backup made."""
        if self.state in ("done", "aborted"):
            return
        if self.state != "committed":
            self._remove_backup()
        self._release_locks()
        self.state = "aborted"

    def _release_locks(self) -> None:
        errors: list[OSError] = []
        for i, lk in reversed(list(enumerate(self.locks))):
            own = self.owns_tmp_name if i == len(self.locks) - 1 else True
            try:
                lk.release(unlink=own)
            except OSError as exc:
                errors.append(exc)
        self.locks = []
        self.owns_tmp_name = False
        if self.orig_fd >= 0:
            os.close(self.orig_fd)
            self.orig_fd = -1
        if errors:
            raise os_error(errors[0], self.shown, "remove the edit lock file",
                           unchanged=self.state != "committed")


class _Retarget(Exception):
    """The path resolved to another file while we were locking: start over."""
