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

What changes, and why it does not change the relay decision (each is also listed in
the report when it applies):

- every smtpd that accepts network connections (``inet``, and the ``pass`` service
  behind postscreen) moves to its own free 127.0.0.1 port, ``-o`` options intact,
  plus :data:`PROBE_OPTIONS`: XCLIENT from loopback only, no milters or before-queue
  proxy (content filters, not relay controls; they may be live services), error and
  rate limits that would slow the probe down, DNS temporary failures deferred only
  when the request would otherwise pass (so they can be recognised);
- postscreen is dropped (it only decides whether smtpd gets the connection);
- next to each smtpd runs an *oracle* smtpd with the same options except the
  restrictions (``reject_unauth_destination`` only): it tells which address forms
  smtpd itself considers outside destinations, so a 250 for a local address written
  in an odd form is not mistaken for relaying;
- other inet services stay on their port but on 127.0.0.1, chroot is off everywhere,
  files the daemons write (caches, PRNG state, logs) go into ``root``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from ..check.context import Config, command_name, service_label, split_list
from ..check.restrictions import mynetworks_value, stranger_network
from ..check.security import smtpd_services
from ..errors import PostfixConfError
from ..main_cf import MainCf
from ..master_cf import MasterCf, Service
from ..postfix_tools import run_tool

XCLIENT_HOSTS = "127.0.0.0/8"
DELIVERY_AGENTS = frozenset({"smtp", "lmtp", "local", "virtual", "pipe", "error", "discard"})
QUEUE_DIRS = {"incoming": 0o700, "active": 0o700, "deferred": 0o700, "defer": 0o700, "bounce": 0o700,
              "trace": 0o700, "flush": 0o700, "hold": 0o700, "corrupt": 0o700, "saved": 0o700,
              "private": 0o700, "public": 0o710, "maildrop": 0o730}
_SETGID_DIRS = ("public", "maildrop")
_TEMPFAIL_ACTIONS = ("reject_tempfail_action", "unknown_address_tempfail_action",
                     "unknown_helo_hostname_tempfail_action", "unknown_client_hostname_tempfail_action",
                     "unverified_sender_tempfail_action", "unverified_recipient_tempfail_action")
PROBE_OPTIONS: dict[str, str] = {
    "smtpd_authorized_xclient_hosts": XCLIENT_HOSTS,
    "smtpd_milters": "",
    "milter_default_action": "accept",
    "smtpd_proxy_filter": "",
    "smtpd_policy_service_default_action": "DUNNO",
    "smtpd_policy_service_try_limit": "1",  # an unreachable policy server: DUNNO at once, not after retries
    "smtpd_soft_error_limit": "1000",
    "smtpd_hard_error_limit": "1000",
    "smtpd_junk_command_limit": "1000",
    "smtpd_error_sleep_time": "0",
    "smtpd_client_connection_count_limit": "0",
    "smtpd_client_connection_rate_limit": "0",
    "smtpd_client_message_rate_limit": "0",
    "smtpd_client_recipient_rate_limit": "0",
    "smtpd_client_new_tls_session_rate_limit": "0",
    "smtpd_client_auth_rate_limit": "0",
    "address_verify_poll_count": "1",
    "smtpd_tls_session_cache_database": "",
    **{name: "defer_if_permit" for name in _TEMPFAIL_ACTIONS},
}
"""Settings every probed smtpd gets: in main.cf, and as ``-o`` where the user's own ``-o`` would win."""

ORACLE_OPTIONS: dict[str, str] = {
    "smtpd_client_restrictions": "", "smtpd_helo_restrictions": "", "smtpd_sender_restrictions": "",
    "smtpd_relay_restrictions": "reject_unauth_destination", "smtpd_recipient_restrictions": "",
    "smtpd_data_restrictions": "", "smtpd_end_of_data_restrictions": "", "smtpd_etrn_restrictions": "",
    "smtpd_restriction_classes": "", "smtpd_reject_unlisted_recipient": "no",
    "smtpd_reject_unlisted_sender": "no", "smtpd_helo_required": "no", "smtpd_delay_reject": "yes",
    "smtpd_tls_security_level": "none", "smtpd_tls_wrappermode": "no", "smtpd_enforce_tls": "no",
    "smtpd_use_tls": "no", "smtpd_sasl_auth_enable": "no", "smtpd_upstream_proxy_protocol": "",
    "smtpd_sender_login_maps": "", "syslog_name": "pfedit-verify/oracle",
}
"""What turns a copy of a service into the oracle: the same address rewriting, no restrictions."""


def _state_settings(root: Path) -> dict[str, str]:
    """Files daemons write: kept inside the sandbox or turned off (set in main.cf and every ``-o``)."""
    data = root / "data"
    return {
        "address_verify_map": "", "postscreen_cache_map": f"btree:{data}/postscreen_cache",
        "smtpd_tls_session_cache_database": "", "smtp_tls_session_cache_database": "",
        "lmtp_tls_session_cache_database": "", "smtp_sasl_auth_cache_name": "", "lmtp_sasl_auth_cache_name": "",
        "tls_random_exchange_name": f"{data}/prng_exch",
        "smtpd_milters": "", "non_smtpd_milters": "", "milter_default_action": "accept", "smtpd_proxy_filter": "",
        "maillog_file": str(root / "maillog"), "maillog_file_prefixes": str(root),
    }


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
    state = _state_settings(root)
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


def import_environment(cfg: Config) -> str | None:
    """``import_environment`` with MAIL_CONFIG passed through, or None when it already is.

    The master passes only these variables to the daemons it starts, and a daemon
    without MAIL_CONFIG reads the machine's own /etc/postfix (and its queue).
    """
    if not cfg.is_set("import_environment"):
        return None
    words = [w for w in split_list(cfg.value("import_environment")) if not w.startswith("MAIL_CONFIG=")]
    if "MAIL_CONFIG" in words and len(words) == len(split_list(cfg.value("import_environment"))):
        return None
    return " ".join([*words, "MAIL_CONFIG"])


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
        if _UNIX_POLICY.search(value):
            main.set(name, unreachable_policies(value, layout))


_UNIX_POLICY = re.compile(r"(check_policy_service[\s,]*\{?\s*unix:)(/[^\s,}]+)")


def unreachable_policies(value: str, layout: Layout) -> str:
    """``check_policy_service unix:/abs/path`` -> a path in the sandbox where nothing listens.

    A policy server's socket outside the sandbox's queue directory belongs to the
    running system (often to the running Postfix's own queue directory); smtpd
    treats the unreachable server as DUNNO (smtpd_policy_service_default_action).
    """
    def swap(m: re.Match[str]) -> str:
        note = f"policy service unix:{m[2]} is not contacted (it belongs to the running system): DUNNO"
        if note not in layout.adjustments:
            layout.adjustments.append(note)
        return f"{m[1]}{layout.root}/unreachable-{layout.adjustments.index(note)}"  # short: sun_path has 108 bytes

    return _UNIX_POLICY.sub(swap, value)


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
            elif _UNIX_POLICY.search(value):
                master.set_option(*current.key, name, unreachable_policies(value, layout))
    for s in services:  # no delivery agent: whatever enters the sandbox's queue stays there
        if command_name(s) in DELIVERY_AGENTS and s.type == "unix":
            master.remove(s.name, s.type)
        elif command_name(s) == "spawn":  # the user's own programs (policy servers) do not run here
            master.remove(s.name, s.type)
            layout.adjustments.append(f"{service_label(s)} (spawn: {' '.join(s.args)[:60]}) is not started: "
                                      "smtpd finds the policy service unreachable and treats it as DUNNO")
    postscreens = [s for s in services if s.type == "inet" and command_name(s) == "postscreen"]
    for s in postscreens:
        master.remove(s.name, s.type)
        layout.adjustments.append(f"postscreen on {service_label(s)} is left out: the probe talks to the smtpd "
                                  "behind it, which makes the relay decision")
    probed = [s for s in services if command_name(s) == "smtpd" and s.type in ("inet", "pass")]
    others = [s for s in services if s.type == "inet" and s not in probed and s not in postscreens]
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
