"""The throw-away Postfix instance: build it from a config dir, start, stop, clean up.

The master daemon runs in the foreground (``master -d``) as a direct child of this
process, not through ``postfix start``: postfix-script would first run ``postfix
check`` and ``postsuper`` over the copy (slow, and they change file ownership and
permissions), then detach the master so that only a pid file links it to us. As a
child it is ours from the first moment: started in its own session and in a private
network namespace (:mod:`.netns`), told by the kernel to stop if we die
(PR_SET_PDEATHSIG), and stopped with SIGTERM, which makes it stop its own children.
Whatever is left afterwards is found by its network namespace (every process of
the instance, however it was started, lives in it, and nothing else does) and
killed. :meth:`Instance.close` does all of that and removes the directory; it runs
on success, failure, Ctrl-C and SIGTERM/SIGHUP (:func:`signals_interrupt`).

Safety: before the master starts, ``postconf -c COPY`` (Postfix itself, not our
parser) must confirm that every inet service is bound to 127.0.0.1, that
``inet_interfaces`` is 127.0.0.1 and that the queue and data directories are the
sandbox's; otherwise :class:`InstanceError`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TypeVar

from ..postfix_tools import find_tool, run_tool
from . import netns
from .dovecot_auth import DovecotStandIn
from .sandbox import Layout, SandboxError, build

T = TypeVar("T")
START_TIMEOUT = 30.0
LOG_TAIL = 25


class InstanceError(Exception):
    """The throw-away instance could not be built or started; the message says why."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived (like KeyboardInterrupt, it is not an ``Exception``)."""


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Interrupted` (main thread only; elsewhere a no-op)."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    try:
        old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def problems() -> list[str]:
    """Why this machine cannot run the instance (empty when it can)."""
    out = []
    if os.geteuid() != 0:
        out.append("it must run as root: the Postfix master daemon starts as root and drops privileges "
                   "itself (try: sudo pfedit verify open-relay)")
        return out
    if find_tool("postconf") is None:
        out.append("postconf is not installed (install Postfix)")
    problem = netns.available()
    if problem:
        out.append(problem)
    return out


def _parent() -> str:
    """The temporary directory, if the mail owner can reach things below it (a 0700 $TMPDIR cannot); else /tmp."""
    d = Path(tempfile.gettempdir()).resolve()
    if all(p.stat().st_mode & 0o001 for p in (d, *d.parents)):
        return str(d)
    return "/tmp"


def _postconf(config_dir: Path, *args: str) -> str:
    result = run_tool("postconf", ["-c", str(config_dir), *args], timeout=30)
    if not result.ok:
        raise InstanceError(f"postconf -c {config_dir} {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


class Instance:
    """``with Instance(config_dir) as inst:`` builds and starts it; leaving the block removes it."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.layout: Layout | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.netns_inode: int | None = None
        self.standin: DovecotStandIn | None = None
        self.daemon_directory = ""
        self.started_at = 0.0

    def __enter__(self) -> Instance:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building and starting -----------------------------------------------------------
    def start(self) -> None:
        found = problems()
        if found:
            raise InstanceError("; ".join(found))
        root = Path(tempfile.mkdtemp(prefix="pfedit-verify-", dir=_parent()))
        try:
            self.layout = build(self.source, root)
        except SandboxError as exc:
            self.layout = Layout(self.source, root)
            raise InstanceError(str(exc)) from None
        except OSError as exc:
            self.layout = Layout(self.source, root)
            raise InstanceError(f"cannot build the throw-away instance in {root}: {exc}") from None
        self._assert_isolated()
        if self.layout.dovecot_socket is not None:
            self.standin = DovecotStandIn(self.layout.dovecot_socket).start()
        master = Path(self.daemon_directory) / "master"
        if not os.access(master, os.X_OK):
            raise InstanceError(f"daemon_directory = {self.daemon_directory}: no master program there")
        env = {"MAIL_CONFIG": str(self.layout.config_dir), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C"}
        self.started_at = time.monotonic()
        with open(root / "master.out", "wb") as out:
            self.proc = subprocess.Popen(
                [str(master), "-d", "-c", str(self.layout.config_dir)], preexec_fn=netns.enter_new, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, close_fds=True, cwd="/")
        self._wait_listening()

    def _assert_isolated(self) -> None:
        """Postfix's own reading of the copy: loopback only, the sandbox's directories."""
        assert self.layout is not None
        d = self.layout.config_dir
        values = dict(line.split(" = ", 1) for line in _postconf(
            d, "inet_interfaces", "queue_directory", "data_directory", "daemon_directory").splitlines()
            if " = " in line)
        expected = {"inet_interfaces": "127.0.0.1", "queue_directory": str(self.layout.queue_dir),
                    "data_directory": str(self.layout.data_dir)}
        for name, want in expected.items():
            if values.get(name) != want:
                raise InstanceError(f"refusing to start: {name} = {values.get(name)!r} in the copy "
                                    f"(expected {want!r})")
        self.daemon_directory = values.get("daemon_directory", "")
        env = _postconf(d, "-h", "import_environment").replace(",", " ").split()
        if "MAIL_CONFIG" not in env or any(w.startswith("MAIL_CONFIG=") for w in env):
            raise InstanceError("refusing to start: import_environment does not pass MAIL_CONFIG on, so the "
                                "daemons would read the machine's own configuration")
        for line in _postconf(d, "-M").splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[1] == "inet" and not fields[0].startswith("127.0.0.1:"):
                raise InstanceError(f"refusing to start: inet service {fields[0]!r} would not be bound to 127.0.0.1")

    def _ports(self) -> set[int]:
        assert self.layout is not None
        return {p for e in self.layout.endpoints for p in (e.port, e.oracle_port)}

    def _listening(self) -> set[int]:
        """Ports in LISTEN state on 127.0.0.1 in the instance's namespace (``/proc/PID/net/tcp``)."""
        assert self.proc is not None
        found = set()
        with contextlib.suppress(OSError), open(f"/proc/{self.proc.pid}/net/tcp") as f:
            for line in f.readlines()[1:]:
                local, _, state = line.split()[1:4]
                addr, _, port = local.partition(":")
                if state == "0A" and addr == "0100007F":
                    found.add(int(port, 16))
        return found

    def _wait_listening(self) -> None:
        assert self.proc is not None
        self.netns_inode = os.stat(f"/proc/{self.proc.pid}/ns/net").st_ino
        wanted = self._ports()
        deadline = time.monotonic() + START_TIMEOUT
        while not wanted <= self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = "exited" if self.proc.returncode is not None else f"did not listen within {START_TIMEOUT:.0f}s"
                raise InstanceError(f"the throw-away Postfix master {why}:\n{self.describe() or self._early_fatal()}")
            time.sleep(0.02)

    # -- observing -------------------------------------------------------------------------
    def log(self) -> str:
        if self.layout is None:
            return ""
        try:
            return self.layout.maillog.read_text("utf-8", "replace")
        except OSError:
            return ""

    def describe(self) -> str:
        text = self.log()
        if self.layout is not None:
            with contextlib.suppress(OSError):
                text += (self.layout.root / "master.out").read_text("utf-8", "replace")
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return "\n".join(lines[-LOG_TAIL:])

    def _early_fatal(self) -> str:
        """What stopped the master before it could log: ``postfix status`` on a terminal says it.

        A fatal error while reading main.cf (``myorigin = /etc/mailname`` missing, a
        bad number) comes before the master's logging is set up and goes to syslog.
        The ``postfix`` command reads main.cf the same way and writes its fatal error
        to stderr when stderr is a terminal, so it runs once on a pseudo-terminal.
        """
        import pty

        tool = find_tool("postfix")
        if tool is None or self.layout is None:
            return "(the instance logged nothing)"
        master_fd, slave_fd = pty.openpty()
        try:
            proc = subprocess.run([tool, "-c", str(self.layout.config_dir), "status"], stdin=subprocess.DEVNULL,
                                  stdout=slave_fd, stderr=slave_fd, timeout=30, check=False,
                                  env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C"})
            os.close(slave_fd)
            slave_fd = -1
            out = b""
            with contextlib.suppress(OSError):  # EIO once the terminal's other side is closed
                while chunk := os.read(master_fd, 4096):
                    out += chunk
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"(the instance logged nothing; postfix status: {exc})"
        finally:
            os.close(master_fd)
            if slave_fd >= 0:
                os.close(slave_fd)
        fatal = [ln.strip() for ln in out.decode("utf-8", "replace").splitlines() if "fatal:" in ln]
        return "\n".join(fatal) or f"(the instance logged nothing; postfix status exited {proc.returncode})"

    def processes(self) -> list[tuple[int, str]]:
        """(pid, command) of every live process in the instance's network namespace."""
        if self.netns_inode is None:
            return []
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino != self.netns_inode:
                    continue
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if stat[stat.rindex(")") + 2:].split()[0] != "Z":
                found.append((int(entry), stat[stat.index("(") + 1:stat.rindex(")")]))
        return found

    def run_all(self, fns: Sequence[Callable[[], T]]) -> list[T]:
        """Run each of ``fns`` in its own thread inside the instance's network namespace."""
        assert self.proc is not None
        return netns.run_all(self.proc.pid, fns)

    def names(self) -> tuple[str, str]:
        """``myhostname`` and ``mydomain`` of the copy, as Postfix computes them."""
        assert self.layout is not None
        lines = [*_postconf(self.layout.config_dir, "-h", "myhostname", "mydomain").splitlines(), "", ""]
        return lines[0].strip() or "localhost", lines[1].strip() or "localdomain"

    # -- stopping --------------------------------------------------------------------------
    def stop(self, timeout: float = 10.0) -> list[tuple[int, str]]:
        """SIGTERM the master (it stops its children), then SIGKILL what is left. Idempotent.

        Returns the processes still alive afterwards (none unless SIGKILL failed).
        """
        if self.proc is None:
            return []
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        deadline = time.monotonic() + timeout
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid, _ in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        deadline = time.monotonic() + 5.0
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.processes()

    def close(self) -> list[tuple[int, str]]:
        """Stop everything and remove the directory; returns processes that survived (normally none)."""
        left = self.stop()
        if self.standin is not None:
            self.standin.stop()
            self.standin = None
        if self.layout is not None and not left and os.environ.get("PFEDIT_VERIFY_KEEP") != "1":
            shutil.rmtree(self.layout.root, ignore_errors=True)
        return left
