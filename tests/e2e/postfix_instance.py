"""A throw-away Postfix instance: its own config, queue, data directory and log file.

The configuration is built the way a Debian installation starts out (or from the
shipped ``examples/etc-postfix``), then isolated for testing with the library itself:

- ``main.cf``: ``/usr/share/postfix/main.cf.debian`` + ``main.cf.tls`` + the lines
  Debian's postinst adds (``main.cf.dist`` is documentation, not a config), then
  ``queue_directory``/``data_directory`` under the instance root, loopback-only
  listening, no local domains, no DNS (``smtp_dns_support_level = disabled``, no
  smtpd peer-name lookups), ``maillog_file`` in the instance root, the test CA and
  server certificate.
- ``master.cf``: Debian's ``master.cf.dist`` (what the installer copies) with every
  service's chroot off and ``smtp/inet`` moved to an unprivileged loopback port.

Postfix refuses to start, or logs why a daemon died, only in its log, so every
failure message here carries the tail of ``maillog_file``.

Safety: :meth:`PostfixInstance.start` refuses to start unless ``relayhost`` is a
bracketed 127.0.0.1 and DNS is off, so the instance can never send anything off the
machine. :meth:`PostfixInstance.stop` is idempotent and bounded: ``postfix stop``,
then SIGKILL to whatever is left of *this* instance's process group (the master's).
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from postfix_conf import LookupTable, MainCf, MasterCf
from postfix_conf.postfix_tools import find_tool

from ..conftest import EXAMPLES, backdate
from .certs import CertFiles
from .fake_msa import free_port

Base = Literal["debian", "examples"]
DEBIAN_SHARE = Path("/usr/share/postfix")
HOSTNAME = "e2e.pfedit.test"
# What Debian's postinst appends to main.cf.debian + main.cf.tls (with this host's names).
DEBIAN_HOST_LINES = f"""\
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
myhostname = {HOSTNAME}
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
mydestination = $myhostname, {HOSTNAME}, localhost.localdomain, , localhost
relayhost = \n\
mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128
mailbox_size_limit = 0
recipient_delimiter = +
inet_interfaces = all
inet_protocols = all
"""
LOG_TAIL = 80
TOOLS = ("postfix", "postconf", "postmap", "postqueue", "postsuper", "sendmail")


def tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        raise AssertionError(f"{name} is not installed")
    return path


def tool_env() -> dict[str, str]:
    """The caller's environment without MAIL_CONFIG (every command gets ``-c``/``-C``)."""
    env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"}
    env["LANG"] = "C"
    env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    return env


def _pgroup_members(pgid: int, mail_config: Path) -> list[tuple[int, str, str]]:
    """(pid, state, comm) of the processes in group ``pgid`` that run with ``MAIL_CONFIG=mail_config``.

    The master daemon is a process group leader and passes MAIL_CONFIG on to every
    daemon (``import_environment``), so both together identify one instance's
    processes, even if a stale pid file named a recycled process id.
    """
    marker = b"MAIL_CONFIG=" + os.fsencode(mail_config)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            state, _ppid, pgrp = stat[stat.rindex(")") + 2:].split()[:3]
            if int(pgrp) != pgid:
                continue
            if state != "Z" and marker not in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                continue
        except (OSError, ValueError):
            continue  # gone meanwhile
        found.append((int(entry), state, comm))
    return found


@dataclass
class PostfixInstance:
    root: Path
    certs: CertFiles
    smtp_port: int
    base: Base = "debian"
    submission_port: int | None = None
    master_pid: int | None = None
    commands: list[str] = field(default_factory=list)  # what ran, for failure messages

    # -- layout ---------------------------------------------------------------------------
    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.root / "queue"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def maillog(self) -> Path:
        return self.root / "maillog"

    @property
    def main_cf(self) -> Path:
        return self.config_dir / "main.cf"

    @property
    def master_cf(self) -> Path:
        return self.config_dir / "master.cf"

    # -- building -------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, certs: CertFiles, smtp_port: int, base: Base = "debian") -> PostfixInstance:
        """Write the config and the directories; Postfix is not started."""
        inst = cls(root, certs, smtp_port, base)
        root.mkdir(mode=0o755, exist_ok=True)
        os.chmod(root, 0o755)  # daemons drop to the postfix user; sasldb and logs are below
        inst.config_dir.mkdir(mode=0o755)
        inst.queue_dir.mkdir(mode=0o755)  # root-owned; postfix-script creates the queue subdirectories
        inst.data_dir.mkdir(mode=0o700)
        pw = pwd.getpwnam("postfix")
        os.chown(inst.data_dir, pw.pw_uid, pw.pw_gid)  # master.lock is created as mail_owner
        inst.maillog.touch(mode=0o644)
        if base == "debian":
            main = ((DEBIAN_SHARE / "main.cf.debian").read_bytes() + (DEBIAN_SHARE / "main.cf.tls").read_bytes()
                    + DEBIAN_HOST_LINES.encode())
            master = (DEBIAN_SHARE / "master.cf.dist").read_bytes()
        else:
            main = (EXAMPLES / "main.cf").read_bytes()
            master = (EXAMPLES / "master.cf").read_bytes()
        inst.main_cf.write_bytes(main)
        inst.master_cf.write_bytes(master)
        inst.edit_main(inst._isolate)
        inst.prepare_master()
        return inst

    def _isolate(self, main: MainCf) -> None:
        settings = {
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.root),
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mydestination": "",
            "alias_maps": "",
            "alias_database": "",
            # No name service traffic: the relay is a bracketed IP address, clients are on loopback.
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtpd_peername_lookup": "no",
            "smtpd_tls_cert_file": str(self.certs.cert_file),
            "smtpd_tls_key_file": str(self.certs.key_file),
            "smtp_tls_CAfile": str(self.certs.ca_file),
            "smtp_tls_loglevel": "1",
            # Bounded failure modes: a stuck peer costs seconds, not minutes.
            "smtp_connect_timeout": "10s",
            "smtp_helo_timeout": "20s",
        }
        for name, value in settings.items():
            main.set(name, value)

    def edit_main(self, edit: Callable[[MainCf], object]) -> None:
        doc = MainCf.read(self.main_cf)
        edit(doc)
        self.main_cf.write_bytes(doc.to_bytes())
        backdate(self.main_cf)  # Postfix programs pause on a main.cf modified in the last second

    def edit_master(self, edit: Callable[[MasterCf], object]) -> None:
        doc = MasterCf.read(self.master_cf)
        edit(doc)
        self.master_cf.write_bytes(doc.to_bytes())
        backdate(self.master_cf)

    def prepare_master(self) -> None:
        """No chroot anywhere; ``smtp`` and ``submission`` on unprivileged loopback ports.

        :meth:`start` runs it again, since ``pfedit apply --submission`` uncomments the
        stock, chrooted block on port 587. smtpd services are told apart by their
        ``-o syslog_name`` (none for smtp), so a service already moved is found again.
        """
        def edit(master: MasterCf) -> None:
            for key in dict.fromkeys(s.key for s in master.services()):
                master.set_field(*key, "chroot", "n")
            for s in master.services():
                if s.type != "inet" or s.command != "smtpd":
                    continue
                role = s.options.get("syslog_name", "postfix/smtp").rpartition("/")[2]
                if role == "submission" and self.submission_port is None:
                    self.submission_port = free_port()
                port = {"smtp": self.smtp_port, "submission": self.submission_port}.get(role)
                if port is not None and s.name != f"127.0.0.1:{port}":
                    master.set_field(s.name, "inet", "service", f"127.0.0.1:{port}")
        self.edit_master(edit)

    def enable_sasldb(self, users: Mapping[str, str]) -> None:
        """Cyrus SASL for smtpd: a private sasldb with ``users``, PLAIN and LOGIN only."""
        sasl_dir = self.config_dir / "sasl"
        sasl_dir.mkdir(mode=0o755, exist_ok=True)
        sasldb = self.config_dir / "sasldb2"
        (sasl_dir / "smtpd.conf").write_text(
            f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {sasldb}\nmech_list: PLAIN LOGIN\n")
        for user, password in users.items():
            proc = subprocess.run([tool("saslpasswd2"), "-f", str(sasldb), "-c", "-p", "-u", HOSTNAME, user],
                                  input=password.encode(), capture_output=True, timeout=30, env=tool_env(),
                                  check=False)
            assert proc.returncode == 0, f"saslpasswd2 failed: {proc.stderr.decode(errors='replace')}"
        os.chown(sasldb, 0, grp.getgrnam("postfix").gr_gid)  # smtpd reads it as the postfix user
        os.chmod(sasldb, 0o640)

        def edit(main: MainCf) -> None:
            main.set("smtpd_sasl_type", "cyrus")
            main.set("cyrus_sasl_config_path", str(sasl_dir))
            main.set("smtpd_sasl_local_domain", "$myhostname")
        self.edit_main(edit)

    # -- running commands -----------------------------------------------------------------
    def run(self, argv: Sequence[str], *, input: bytes | None = None, timeout: float = 60.0,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Postfix program; output goes through files (a daemon may inherit pipes)."""
        self.commands.append(" ".join(argv))
        with tempfile.TemporaryFile() as out:
            proc = subprocess.run(list(argv), input=input, stdin=None if input is not None else subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.STDOUT, env=tool_env(), timeout=timeout,
                                  check=False)
            out.seek(0)
            output = out.read().decode("utf-8", "replace")
        result = subprocess.CompletedProcess(proc.args, proc.returncode, output, "")
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited with {proc.returncode}:\n{output}\n{self.describe()}")
        return result

    def postconf(self, *names: str) -> dict[str, str]:
        backdate(self.main_cf)
        out = self.run([tool("postconf"), "-c", str(self.config_dir), *names]).stdout
        return dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)

    def postconf_P(self) -> dict[str, str]:
        """Every master.cf ``-o`` option as ``postconf -P`` prints it: ``service/type/name -> value``."""
        return self.postconf("-P")

    def log(self) -> str:
        try:
            return self.maillog.read_text("utf-8", "replace")
        except OSError as exc:
            return f"(no maillog: {exc})"

    def not_delivered(self, after: int = 0) -> Callable[[], str | None]:
        """For ``FakeMsa.wait_for(give_up=...)``: the first deferral or bounce logged beyond ``after``."""
        def check() -> str | None:
            found = re.search(r"^.*status=(deferred|bounced).*$", self.log()[after:], re.M)
            return None if found is None else found.group(0)
        return check

    def describe(self) -> str:
        lines = self.log().splitlines()
        return (f"--- {self.maillog} (last {LOG_TAIL} lines) ---\n" + "\n".join(lines[-LOG_TAIL:])
                + "\n--- commands ---\n" + "\n".join(self.commands[-20:]))

    # -- lifecycle ------------------------------------------------------------------------
    def _assert_isolated(self) -> None:
        """Never start an instance that could send mail anywhere but 127.0.0.1.

        Either every message goes to a ``relayhost`` on 127.0.0.1, or (for the per-sender
        account tests) there is no relayhost and ``default_transport`` is ``error:``: then the
        only mail that leaves is routed by the sender maps, whose every relay must be on
        127.0.0.1 and whose every transport an smtp(8) service without a next hop of its own.
        """
        values = self.postconf("relayhost", "smtp_dns_support_level", "inet_interfaces", "queue_directory",
                               "default_transport", "relay_transport", "sender_dependent_relayhost_maps",
                               "sender_dependent_default_transport_maps")
        relay = values.get("relayhost", "")
        loopback = r"(\[127\.0\.0\.1\]:\d+)(,\s*\[127\.0\.0\.1\]:\d+)*"
        if values.get("default_transport", "").startswith("error:"):
            assert relay == "", f"refusing to start Postfix with relayhost = {relay!r} and an error: default transport"
        else:
            assert re.fullmatch(loopback, relay), \
                f"refusing to start Postfix with relayhost = {relay!r} (must be [127.0.0.1]:port)"
            assert values.get("default_transport") == "smtp", values
        assert values.get("smtp_dns_support_level") == "disabled", values
        assert values.get("inet_interfaces") == "127.0.0.1", values
        assert values.get("queue_directory") == str(self.queue_dir), values
        assert values.get("relay_transport") == "relay", values
        smtp_services = {s.name for s in MasterCf.read(self.master_cf).services() if s.command == "smtp"}
        for param, ok in (("sender_dependent_relayhost_maps", lambda v: re.fullmatch(loopback, v)),
                          ("sender_dependent_default_transport_maps", lambda v: v in smtp_services)):
            for spec in values.get(param, "").replace(",", " ").split():
                table = LookupTable.read(spec.partition(":")[2])
                bad = {k: v for k, v in table.entries().items() if not ok(v)}
                assert not bad, f"refusing to start Postfix: {param} routes {bad} off loopback"
        ours = {f"127.0.0.1:{p}" for p in (self.smtp_port, self.submission_port) if p is not None}
        listening = {s.name for s in MasterCf.read(self.master_cf).services() if s.type == "inet"}
        assert listening <= ours, f"inet services {sorted(listening - ours)} are not on the test's ports"

    def start(self, *, attempts: int = 3) -> None:
        """``postfix start``; it returns once the master has bound its sockets.

        A port taken by someone else between choosing and binding it is the only
        failure that is retried (with new ports).
        """
        self.prepare_master()
        self._assert_isolated()
        for attempt in range(1, attempts + 1):
            offset = len(self.log())
            backdate(self.main_cf)
            backdate(self.master_cf)
            result = self.run([tool("postfix"), "-c", str(self.config_dir), "start"], timeout=90, check=False)
            self.master_pid = self._pid_from_file()
            if result.returncode == 0 and self.live_processes():
                return
            conflict = "Address already in use" in self.log()[offset:]
            left = self.stop()
            if not conflict or attempt == attempts or left:
                raise AssertionError(f"postfix start failed (exit {result.returncode}):\n{result.stdout}\n"
                                     f"{self.describe()}")
            self.smtp_port = free_port()
            if self.submission_port is not None:
                self.submission_port = free_port()
            self.prepare_master()

    def _pid_from_file(self) -> int | None:
        try:
            text = (self.queue_dir / "pid" / "master.pid").read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def live_processes(self) -> list[tuple[int, str, str]]:
        """This instance's processes (the master's process group), zombies excluded."""
        if self.master_pid is None:
            return []
        return [p for p in _pgroup_members(self.master_pid, self.config_dir) if p[1] != "Z"]

    def stop(self, timeout: float = 20.0) -> list[tuple[int, str, str]]:
        """Stop the instance; SIGKILL what is left of it, process by process. Idempotent.

        Returns the processes still alive afterwards (none, unless SIGKILL failed).
        """
        if self.master_pid is None:
            return []
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.run([tool("postfix"), "-c", str(self.config_dir), "stop"], timeout=timeout, check=False)
        deadline = time.monotonic() + 10.0
        while self.live_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        leftovers = self.live_processes()
        for pid, _, _ in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while leftovers and self.live_processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = self.live_processes()
        self.master_pid = None
        return left

    # -- mail -------------------------------------------------------------------------------
    def sendmail(self, message: bytes, sender: str, recipients: Sequence[str]) -> None:
        """Submit through the local submission path (sendmail -> postdrop -> pickup)."""
        self.run([tool("sendmail"), "-C", str(self.config_dir), "-i", "-f", sender, "--", *recipients],
                 input=message, timeout=60)

    def queue(self) -> list[dict[str, Any]]:
        """``postqueue -j``: one dict per queued message."""
        out = self.run([tool("postqueue"), "-c", str(self.config_dir), "-j"]).stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def flush(self) -> None:
        self.run([tool("postqueue"), "-c", str(self.config_dir), "-f"])

    def wait_queue(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str) -> \
            list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            entries = self.queue()
            if predicate(entries):
                return entries
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; queue: {entries}\n"
                                     f"{self.describe()}")
            time.sleep(0.2)

    def wait_log(self, pattern: str, timeout: float, *, after: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the maillog beyond offset ``after``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.log(), after)
            if found:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for /{pattern}/ in the maillog\n"
                                     f"{self.describe()}")
            time.sleep(0.1)
