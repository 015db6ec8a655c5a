"""Postfix's ``edit_file`` lock protocol, plus the few Linux system calls it needs.

``postconf -e`` (``src/util/edit_file.c``) serialises editors of ``F`` like this:

1. ``open("F.tmp", O_WRONLY|O_CREAT, 0600)``;
2. ``flock(LOCK_EX)`` on that descriptor (it blocks);
3. if the path ``F.tmp`` no longer names the locked inode, close and start over;
4. if it is not a regular file, or ``nlink > 1``, or its permission bits are not exactly
   0600, ``unlink("F.tmp")`` and start over (a crash left it in an unknown state);
5. ``ftruncate(0)``; only now open ``F`` and write the new content to ``F.tmp``;
6. ``fchmod``, ``fsync``, ``rename("F.tmp", "F")``, and only then unlock (close).

:func:`acquire` is steps 1-5 with a bounded wait instead of a blocking ``flock``.
The descriptor it returns is both the lock and the temporary file, exactly as in
Postfix, so ``pfedit`` and ``postconf -e`` exclude each other. Whoever gives up
without renaming unlinks ``F.tmp`` *while still holding the lock* (Postfix's
``edit_file_cleanup``); waiters then find the name gone and start over.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from dataclasses import dataclass
from functools import cache

from ._file_errors import NotRegularFileError, describe_type, os_error
from .errors import LockTimeoutError

EDIT_SUFFIX = ".tmp"  # Postfix's EDIT_FILE_SUFFIX
TMP_MODE = 0o600  # Postfix's EDIT_FILE_MODE
DEFAULT_LOCK_TIMEOUT = 30.0

#: Set to False to force the portable rename-only commit (used by tests).
USE_RENAMEAT2 = True

_O_COMMON = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK


@dataclass(slots=True)
class LockFile:
    """A locked, verified, truncated ``<path>.tmp`` (Postfix protocol steps 1-5)."""

    path: str
    fd: int
    created_by_us: bool  # unused by the protocol; lets tests tell reuse from creation

    def release(self, *, unlink: bool) -> None:
        """Give the lock up; with ``unlink``, remove the name first (we still own it)."""
        try:
            if unlink:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
        finally:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


def _remove_foreign(path: str, st: os.stat_result) -> None:
    """A symlink, FIFO, socket or device squats on the lock name: Postfix would unlink it too."""
    if stat.S_ISDIR(st.st_mode):
        raise NotRegularFileError(path, "cannot use it as the edit lock file: " + describe_type(st.st_mode))
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise os_error(exc, path, "remove the stale edit lock file") from exc


def acquire(path: str, deadline: float) -> LockFile:
    """Open, lock and verify ``path`` (which ends in ``.tmp``) as Postfix does.

    Raises :class:`LockTimeoutError` when the lock is still held at ``deadline``
    (a ``time.monotonic()`` value).
    """
    euid = os.geteuid()
    denied_since: float | None = None
    while True:
        try:
            pre = os.lstat(path)
        except FileNotFoundError:
            pre = None
        except OSError as exc:
            raise os_error(exc, path, "inspect the edit lock file") from exc
        if pre is not None and not stat.S_ISREG(pre.st_mode):
            _remove_foreign(path, pre)
            continue
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | _O_COMMON, TMP_MODE)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO):  # raced with a squatter: look again
                continue
            now_t = time.monotonic()
            denied_since = now_t if denied_since is None else denied_since
            if (exc.errno == errno.EACCES and pre is not None and now_t < deadline
                    and now_t - denied_since < 2.0):
                # Another user's file sits on the name for the moment (e.g. the previous
                # version of the file, parked there during an exchange): wait it out.
                time.sleep(0.01)
                continue
            raise os_error(exc, path, "create the edit lock file") from exc
        try:
            wait_flock(fd, path, deadline)
            mine = os.fstat(fd)
            try:
                now = os.lstat(path)
            except FileNotFoundError:
                os.close(fd)
                continue
            if (mine.st_dev, mine.st_ino) != (now.st_dev, now.st_ino):
                os.close(fd)  # renamed or removed while we waited: start over
                continue
            perms = stat.S_IMODE(now.st_mode)
            if (stat.S_ISREG(now.st_mode) and now.st_nlink == 1 and now.st_uid == euid
                    and perms != TMP_MODE and perms & 0o077 == 0 and now.st_size == 0
                    and pre is None):
                # Our own fresh file, stripped of owner bits by a strict umask: repair it
                # (adding owner bits only) rather than loop forever unlinking it.
                os.fchmod(fd, TMP_MODE)
                perms = TMP_MODE
            if (not stat.S_ISREG(now.st_mode) or now.st_nlink > 1 or perms != TMP_MODE
                    or now.st_uid != euid):
                # Left behind by a crash, or by another user: Postfix's rule is to remove
                # the name (we hold the lock) and start over. The foreign-owner test is
                # ours: the file would otherwise be renamed into place with that owner.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            return LockFile(path, fd, created_by_us=pre is None)
        except OSError as exc:
            os.close(fd)
            raise os_error(exc, path, "lock the edit lock file") from exc
        except BaseException:
            os.close(fd)
            raise


def wait_flock(fd: int, path: str, deadline: float) -> None:
    """``flock(LOCK_EX)`` with a deadline (polling: a blocking flock cannot time out)."""
    delay = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except InterruptedError:
            continue
        now = time.monotonic()
        if now >= deadline:
            holder = lock_holder(fd)
            who = f" (held by process {holder})" if holder else ""
            raise LockTimeoutError(
                f"{path}: timed out waiting for the edit lock{who}; another pfedit or "
                "postconf is editing this file. Nothing was changed.")
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 2, 0.02)


def try_flock(fd: int, wait: float) -> bool:
    """Try for at most ``wait`` seconds; False instead of raising on timeout."""
    deadline = time.monotonic() + wait
    delay = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        except InterruptedError:
            continue
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.01)


def lock_holder(fd: int) -> str | None:
    """Best effort: ``"PID (command)"`` of the process holding a flock on ``fd``'s inode."""
    try:
        st = os.fstat(fd)
        dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == dev:
                    pid = parts[4]
                    try:
                        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as c:
                            return f"{pid} ({c.read().strip()})"
                    except OSError:
                        return pid
    except (OSError, ValueError):
        return None
    return None


def fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable. File systems that cannot are skipped."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


# -- renameat2(2) -----------------------------------------------------------------------
_AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP)


@cache
def _load_renameat2() -> object | None:
    """libc's renameat2, loaded on first use (ctypes costs milliseconds a read-only command
    should not pay); None when this libc has none."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def renameat2(src: str, dst: str, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False when the kernel or file system lacks it."""
    fn = _load_renameat2() if USE_RENAMEAT2 else None
    if fn is None:
        return False
    import ctypes

    assert callable(fn)
    rc = fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), src, None, dst)
