"""A private network namespace: the only network the throw-away Postfix instance sees.

Why: ``pfedit verify open-relay`` runs the user's own restrictions, and those may
look things up in DNS (``reject_rbl_client``, ``reject_unknown_sender_domain``),
call a policy service or a milter on some host, or ask the ``verify`` daemon to
probe a recipient. Rewriting every such element would change what is tested. In a
fresh network namespace there is only a loopback interface: no packet can reach
the running Postfix's ports or any host, DNS fails at once instead of timing out,
and every port is free. The instance's master daemon is started inside it
(:func:`enter_new`, for ``preexec_fn``); the probing client joins it thread by
thread (:func:`join`), which changes nothing for the rest of the process.

Linux only; needs CAP_SYS_ADMIN (root). Standard library only: ``ctypes`` for
unshare(2), setns(2) and prctl(2), an ioctl for bringing ``lo`` up.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_PR_SET_PDEATHSIG = 1
_IFREQ = "16sh22x"  # struct ifreq: name, flags, padding to 40 bytes

T = TypeVar("T")
_libc: ctypes.CDLL | None = None


class NamespaceError(OSError):
    """A network namespace could not be created or joined."""


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _call(name: str, *args: int) -> None:
    if getattr(_lib(), name)(*args) != 0:
        code = ctypes.get_errno()
        raise NamespaceError(code, f"{name}: {os.strerror(code)}")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        raw = fcntl.ioctl(s, _SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
        flags = struct.unpack(_IFREQ, raw)[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


def enter_new() -> None:
    """In a freshly forked child (``preexec_fn``): new session, new network namespace, ``lo`` up.

    The child also gets SIGTERM when the thread that started it dies (PR_SET_PDEATHSIG),
    so a ``pfedit`` killed with SIGKILL does not leave a master daemon behind.
    """
    os.setsid()
    _call("prctl", _PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    _call("unshare", CLONE_NEWNET)
    _loopback_up()


def join(pid: int) -> None:
    """Move the *calling thread* into the network namespace of process ``pid``."""
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        _call("setns", fd, CLONE_NEWNET)
    finally:
        os.close(fd)


def available() -> str | None:
    """None when this process may create a network namespace, else why not.

    Tried in a throw-away thread: unshare(CLONE_NEWNET) changes only the calling
    thread, and that thread ends right after.
    """
    _lib()  # load libc here, not in a forked child
    problem: list[str] = []

    def attempt() -> None:
        try:
            _call("unshare", CLONE_NEWNET)
            _loopback_up()
        except OSError as exc:
            reason = "not permitted (needs root with CAP_SYS_ADMIN)" if exc.errno == errno.EPERM else str(exc)
            problem.append(f"cannot create a private network namespace: {reason}")

    t = threading.Thread(target=attempt, name="pfedit-netns-check")
    t.start()
    t.join()
    return problem[0] if problem else None


def run_all(pid: int, fns: Sequence[Callable[[], T]], parallel: int = 8) -> list[T]:
    """Run each of ``fns`` in its own thread inside ``pid``'s network namespace; their results in order.

    At most ``parallel`` run at once (each keeps an smtpd busy). Daemon threads: after
    Ctrl-C the caller stops the instance, and a thread still waiting for a reply then
    sees its connection close.
    """
    results: dict[int, T] = {}
    errors: list[BaseException] = []
    slots = threading.BoundedSemaphore(parallel)

    def run(k: int, fn: Callable[[], T]) -> None:
        try:
            with slots:
                join(pid)
                results[k] = fn()
        except BaseException as exc:  # handed to the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k, fn), name=f"pfedit-netns-{k}", daemon=True)
               for k, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [results[k] for k in range(len(fns))]
