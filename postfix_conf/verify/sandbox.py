"""The throw-away instance's configuration: a copy of the user's config directory, isolated.

Layout under one temporary ``root`` (mode 0755: the daemons run as the mail owner
and must reach their sockets and the log below it)::

    root/etc      main.cf and master.cf rewritten through MainCf/MasterCf; every other
                  entry of the user's directory is a symlink to the original, so tables
                  named as $config_directory/x, relative to it or by absolute path are the
                  user's own files, compiled maps keep their sources and times, nothing
                  secret is duplicated, and smtpd only ever opens them for reading
    root/queue    a fresh queue directory (pid/, private/, public/ ...)
    root/data     data_directory (master.lock, PRNG exchange file)
    root/maillog  maillog_file: the instance never writes to syslog
    root/auth     a stand-in Dovecot auth socket, when smtpd uses Dovecot SASL

What changes (:mod:`.settings` has the settings and says why none of them changes the
relay decision; the report lists those that applied):

- every smtpd that accepts network connections (``inet``, and the ``pass`` service
  behind postscreen) moves to its own free 127.0.0.1 port, ``-o`` options intact,
  with :data:`~.settings.PROBE_OPTIONS` on top and a unique ``syslog_name`` (log lines
  are attributed to it); postscreen is left out;
- next to each smtpd runs an *oracle* smtpd with the same options except the
  restrictions (``reject_unauth_destination`` only): it tells which address forms
  smtpd itself considers outside destinations, so a 250 for a local address written
  in an odd form is not mistaken for relaying;
- no delivery agent (smtp, lmtp, local, virtual, pipe, error, discard) and no spawn(8)
  service (the user's own programs) runs: nothing in the sandbox's queue can leave it;
  a qmgr and a postlog service are added when master.cf has none;
- other inet services stay on their port but on 127.0.0.1, chroot is off everywhere,
  files the daemons write (caches, PRNG state, logs) go into ``root``, policy servers
  on absolute unix sockets are made unreachable, MAIL_CONFIG is always passed on, and
  a mynetworks left to mynetworks_style is written out as this host computes it.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from ..check.context import Config, command_name, service_label
from ..check.restrictions import mynetworks_value, stranger_network
from ..check.security import smtpd_services
from ..errors import PostfixConfError
from ..main_cf import MainCf
from ..master_cf import MasterCf, Service
from ..postfix_tools import run_tool
from .settings import (
    ORACLE_OPTIONS,
    PROBE_OPTIONS,
    UNIX_POLICY,
    XCLIENT_HOSTS,
    import_environment,
    state_settings,
    unreachable_policies,
)

DELIVERY_AGENTS = frozenset({"smtp", "lmtp", "local", "virtual", "pipe", "error", "discard"})
QUEUE_DIRS = {"incoming": 0o700, "active": 0o700, "deferred": 0o700, "defer": 0o700, "bounce": 0o700,
              "trace": 0o700, "flush": 0o700, "hold": 0o700, "corrupt": 0o700, "saved": 0o700,
              "private": 0o700, "public": 0o710, "maildrop": 0o730}
_SETGID_DIRS = ("public", "maildrop")
class SandboxError(Exception):
    """The user's configuration cannot be turned into a throw-away instance (message says why)."""


@dataclass(frozen=True)
class Endpoint:
    """One smtpd of the user's master.cf, as the sandbox runs it."""

    label: str  # the user's service, "submission/inet", "smtpd/pass"
    service: Service  # the user's entry, unchanged
    port: int  # on 127.0.0.1 inside the sandbox
    oracle_port: int
    exposed: bool  # strangers reach it on the user's server (what `pfedit check` evaluates)
    wrappermode: bool
    haproxy: bool
    syslog_name: str  # unique per endpoint in the sandbox: attributes log lines (fatal errors)
    client_net: str  # the stranger's /24, outside every network this smtpd trusts ("203.0.113")
    via: str = ""  # "postscreen on smtp/inet" for a pass service


@dataclass
class Layout:
    source: Path
    root: Path
    endpoints: list[Endpoint] = field(default_factory=list)
    adjustments: list[str] = field(default_factory=list)
    dovecot_socket: Path | None = None
    kept_inet: list[str] = field(default_factory=list)  # other inet services, now on 127.0.0.1

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


def _free_ports(n: int, avoid: set[int]) -> list[int]:
    """Ports free on the host's loopback (the sandbox's own loopback is empty anyway)."""
    socks: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in avoid and port not in ports:
                ports.append(port)
        return ports
    finally:
        for s in socks:
            s.close()


def _port_of(name: str) -> int | None:
    port = name.rpartition(":")[2]
    if port.isdigit():
        return int(port)
    try:
        return socket.getservbyname(port, "tcp")
    except OSError:
        return None


def _link_entries(source: Path, etc: Path) -> None:
    for entry in os.scandir(source):
        if entry.name not in ("main.cf", "master.cf"):
            (etc / entry.name).symlink_to(source.resolve() / entry.name)


def _write(path: Path, data: bytes, like: Path) -> None:
    path.write_bytes(data)
    os.chmod(path, like.stat().st_mode & 0o644)
    os.utime(path, (978307200, 978307200))  # Postfix waits for a main.cf younger than a second


def _make_dirs(layout: Layout, owner: str, group: str) -> None:
    layout.root.chmod(0o755)
    layout.config_dir.mkdir(mode=0o755)
    layout.queue_dir.mkdir(mode=0o755)
    for name, mode in QUEUE_DIRS.items():
        d = layout.queue_dir / name
        d.mkdir()
        d.chmod(mode)
        shutil.chown(d, owner, group if name in _SETGID_DIRS else None)
    (layout.queue_dir / "pid").mkdir(mode=0o755)
    layout.data_dir.mkdir(mode=0o700)
    shutil.chown(layout.data_dir, owner)
    layout.maillog.touch(mode=0o600)


def build(source: Path, root: Path) -> Layout:
    """Write the sandbox's configuration and directories under ``root`` (which must exist, empty)."""
    for name in ("main.cf", "master.cf"):
        if not (source / name).is_file():
            raise SandboxError(f"{source / name}: not found (pass the Postfix config directory with --config-dir)")
    cfg = Config.load(source)
    assert cfg.main is not None and cfg.master is not None
    layout = Layout(source, root)
    owner = cfg.value("mail_owner") or "postfix"
    group = cfg.value("setgid_group") or "postdrop"
    try:
        _make_dirs(layout, owner, group)
    except (KeyError, LookupError) as exc:
        raise SandboxError(f"mail_owner/setgid_group: {exc}") from None
    _link_entries(source, layout.config_dir)
    main = MainCf.parse(cfg.main.to_bytes())
    master = MasterCf.parse(cfg.master.to_bytes())
    state = state_settings(root)
    mynetworks = mynetworks_value(cfg, None) or _computed_mynetworks(source)
    try:
        if mynetworks and not cfg.is_set("mynetworks"):
            main.set("mynetworks", mynetworks)
            layout.adjustments.append(f"mynetworks = {mynetworks} (what mynetworks_style gives on this host: "
                                      "the sandbox has no network interfaces of its own)")
        _edit_main(main, cfg, layout, state)
        _edit_master(master, cfg, layout, state, mynetworks)
    except (PostfixConfError, ValueError, LookupError) as exc:
        raise SandboxError(f"cannot build the throw-away configuration: {exc}") from None
    _write(layout.config_dir / "main.cf", main.to_bytes(), source / "main.cf")
    _write(layout.config_dir / "master.cf", master.to_bytes(), source / "master.cf")
    return layout


def _edit_main(main: MainCf, cfg: Config, layout: Layout, state: dict[str, str]) -> None:
    settings = {
        "queue_directory": str(layout.queue_dir), "data_directory": str(layout.data_dir),
        "process_id_directory": "pid", "inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4",
        "smtpd_authorized_xclient_hosts": XCLIENT_HOSTS, "master_service_disable": "",
        **PROBE_OPTIONS, **state,
    }
    env = import_environment(cfg)
    if env is not None:
        settings["import_environment"] = env
    for name, value in settings.items():
        main.set(name, value)
    for name, value in main.parameters().items():
        if UNIX_POLICY.search(value):
            main.set(name, unreachable_policies(value, layout.root, layout.adjustments))


def _computed_mynetworks(source: Path) -> str:
    """``postconf -h mynetworks`` of the user's directory: mynetworks_style applied to this host's interfaces."""
    result = run_tool("postconf", ["-c", str(source), "-h", "mynetworks"], timeout=30)
    return result.stdout.strip() if result.ok else ""


def _edit_master(master: MasterCf, cfg: Config, layout: Layout, state: dict[str, str], mynetworks: str) -> None:
    services = cfg.services()
    exposed = {s.key for s in smtpd_services(cfg)}
    for current in master.services():
        if current.chroot != "n":
            master.set_field(*current.key, "chroot", "n")
        for name, value in current.options.items():
            if name in state:
                master.set_option(*current.key, name, state[name])
            elif UNIX_POLICY.search(value):
                master.set_option(*current.key, name, unreachable_policies(value, layout.root, layout.adjustments))
    removed = []
    for s in services:  # no delivery agent: whatever enters the sandbox's queue stays there
        if command_name(s) in DELIVERY_AGENTS and s.type == "unix":
            removed.append(s)
        elif command_name(s) == "spawn":  # the user's own programs (policy servers) do not run here
            removed.append(s)
            layout.adjustments.append(f"{service_label(s)} (spawn) is not started: smtpd finds the policy "
                                      "service unreachable and treats it as DUNNO")  # argv may hold a secret
    postscreens = [s for s in services if s.type == "inet" and command_name(s) == "postscreen"]
    for s in postscreens:
        removed.append(s)
        layout.adjustments.append(f"postscreen on {service_label(s)} is left out: the probe talks to the smtpd "
                                  "behind it, which makes the relay decision")
    for s in removed:
        master.remove(s.name, s.type)
    probed = [s for s in services if command_name(s) == "smtpd" and s.type in ("inet", "pass")]
    others = [s for s in services if s.type == "inet" and s not in probed and s not in removed]
    kept_ports = {p for p in (_port_of(s.name) for s in others) if p is not None}
    ports = _free_ports(2 * len(probed), kept_ports)
    for s in others:
        port = _port_of(s.name)
        if port is None:
            raise SandboxError(f"master.cf: inet service {s.name!r}: unknown port")
        master.set_field(s.name, "inet", "service", f"127.0.0.1:{port}")
        layout.kept_inet.append(f"127.0.0.1:{port}")
    for k, s in enumerate(probed):
        trusted = cfg.value("mynetworks", s) if "mynetworks" in s.options else mynetworks
        layout.endpoints.append(_endpoint(master, cfg, s, (ports[2 * k], ports[2 * k + 1]), k, s.key in exposed,
                                          stranger_network(trusted) or "203.0.113", postscreens, layout))
    if master.get("postlog", "unix-dgram") is None:  # maillog_file needs it
        master.add_service("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd")
    if not any(command_name(s) in ("qmgr", "oqmgr") for s in services):  # cleanup waits a second for it
        master.add_service("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr")


def _endpoint(master: MasterCf, cfg: Config, s: Service, ports: tuple[int, int], index: int, exposed: bool,
              client_net: str, postscreens: list[Service], layout: Layout) -> Endpoint:
    port, oracle_port = ports
    name = f"127.0.0.1:{port}"
    if s.type == "pass":
        master.set_field(s.name, "pass", "private", "n")
        master.set_field(s.name, "pass", "type", "inet")
    master.set_field(s.name, "inet", "service", name)
    syslog_name = f"{cfg.value('syslog_name', s) or 'postfix'}/pfedit{index}"
    # PROBE_OPTIONS are in main.cf; a -o of the user's own would win there, so it is overridden here
    options = {name: value for name, value in PROBE_OPTIONS.items() if name in s.options}
    options["syslog_name"] = syslog_name
    if cfg.value("smtpd_sasl_type", s).strip() == "dovecot" and cfg.boolean("smtpd_sasl_auth_enable", s):
        layout.dovecot_socket = layout.root / "auth" / "dovecot-auth"
        options["smtpd_sasl_path"] = str(layout.dovecot_socket)
        note = ("Dovecot SASL is answered by a stand-in that offers PLAIN and LOGIN and accepts no login "
                "(the probe never logs in; smtpd only needs the mechanism list)")
        if note not in layout.adjustments:
            layout.adjustments.append(note)
    for param, value in options.items():
        master.set_option(name, "inet", param, value)
    oracle = {**s.options, **PROBE_OPTIONS, **ORACLE_OPTIONS}
    master.add_service(f"127.0.0.1:{oracle_port}", "inet", "n", s.unpriv, "n", s.wakeup, s.maxproc, s.command,
                       options=oracle)
    via = ", ".join(f"postscreen on {service_label(p)}" for p in postscreens) if s.type == "pass" else ""
    return Endpoint(service_label(s), s, port, oracle_port, exposed,
                    bool(cfg.boolean("smtpd_tls_wrappermode", s)),
                    cfg.value("smtpd_upstream_proxy_protocol", s).strip() == "haproxy", syslog_name, client_net, via)
