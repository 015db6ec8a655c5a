"""Helpers for the safe-write tests: real processes, real mounts, real users.

Nothing here fakes the file system. Mount helpers need root and a kernel that lets
us mount (containers without CAP_SYS_ADMIN do not): tests skip with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOBODY_UID = 65534
NOBODY_GID = 65534
# A Python that an unprivileged user can run (the venv's may live under /root).
SYSTEM_PYTHON = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.path.exists(p)),
                     sys.executable)


def is_root() -> bool:
    return os.geteuid() == 0


def need_root() -> None:
    if not is_root():
        pytest.skip("needs root (mounts, chown, or running a child as nobody)")


_NOBODY_LIBRARY: list[Path] = []


def library_for_nobody() -> Path:
    """A world-readable copy of ``postfix_conf`` for a child that runs as nobody.

    The checkout may sit in a 0700 directory (``mktemp -d``, a home directory), where
    nobody cannot import it; the copy lives in /tmp (mode 0755/0644) until the session ends.
    """
    if not _NOBODY_LIBRARY:
        import atexit

        d = world_dir("pfedit-lib-")
        shutil.copytree(REPO / "postfix_conf", d / "postfix_conf",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for root, dirs, files in os.walk(d):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        atexit.register(shutil.rmtree, d, True)
        _NOBODY_LIBRARY.append(d)
    return _NOBODY_LIBRARY[0]


def child_env(*, as_nobody: bool = False, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAIL_CONFIG", "PYTHONSTARTUP")}
    env["PYTHONPATH"] = str(library_for_nobody() if as_nobody else REPO)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["LANG"] = "C"
    env.update(extra)
    return env


def run_python(code: str, *args: str, python: str = sys.executable, as_nobody: bool = False,
               fsize_limit: int | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (optionally as nobody / with RLIMIT_FSIZE)."""

    def preexec() -> None:
        if fsize_limit is not None:
            import resource
            import signal

            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of dying
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))
        if as_nobody:
            os.setgroups([])
            os.setgid(NOBODY_GID)
            os.setuid(NOBODY_UID)

    return subprocess.run([python, "-c", code, *args], capture_output=True, text=True,
                          env=child_env(as_nobody=as_nobody), preexec_fn=preexec, timeout=timeout, check=False)


# A child that tries one write and reports the outcome as JSON on stdout.
WRITE_AND_REPORT = r"""
import json, sys
from postfix_conf.files import write_atomic
path, data = sys.argv[1], sys.argv[2].encode()
try:
    r = write_atomic(path, data, expect=None)
    out = {"ok": True, "written": r.written}
except Exception as e:
    out = {"ok": False, "type": type(e).__name__, "message": str(e),
           "mro": [c.__name__ for c in type(e).__mro__]}
print(json.dumps(out))
"""


def try_write_in_child(path: Path, data: str, **kw: object) -> dict[str, object]:
    proc = run_python(WRITE_AND_REPORT, str(path), data, **kw)  # type: ignore[arg-type]
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def listing(d: Path) -> set[str]:
    return set(os.listdir(d))


def snapshot(path: Path) -> tuple[bytes, int, int, int, int, int]:
    """Content, inode, mtime_ns, mode, uid, gid."""
    st = path.stat()
    return path.read_bytes(), st.st_ino, st.st_mtime_ns, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


# -- mounts -------------------------------------------------------------------------------
def _mount(args: list[str]) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({' '.join(args)}): {proc.stderr.strip()}")


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextmanager
def tmpfs(where: Path, *, size: str = "64k", mode: str = "0755") -> Iterator[Path]:
    """A small tmpfs at ``where`` (root only)."""
    need_root()
    if shutil.which("mount") is None:
        pytest.skip("mount(8) not installed")
    where.mkdir(parents=True, exist_ok=True)
    _mount(["-t", "tmpfs", "-o", f"size={size},mode={mode}", "tmpfs", str(where)])
    try:
        yield where
    finally:
        umount(where)


def remount_ro(where: Path) -> None:
    _mount(["-o", "remount,ro", str(where)])


@contextmanager
def bind(src: Path, dst: Path, *, read_only: bool = False) -> Iterator[Path]:
    """Bind-mount ``src`` on ``dst`` (a file over a file, or a directory over a directory)."""
    need_root()
    _mount(["--bind", str(src), str(dst)])
    try:
        if read_only:
            _mount(["-o", "remount,bind,ro", str(dst)])
        yield dst
    finally:
        umount(dst)


def xattrs_supported(d: Path) -> bool:
    probe = d / ".xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.pfedit-probe", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


def world_dir(prefix: str) -> Path:
    """A fresh directory under /tmp that other users can traverse (pytest's tmp_path is 0700)."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d.chmod(0o755)
    return d
