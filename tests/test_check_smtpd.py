"""Open-relay verdicts against the real smtpd 3.7: does it accept a stranger's RCPT TO an outside domain?

One scratch Postfix instance (its own queue and data directories, loopback ports
only, never the machine's /etc/postfix) runs one smtpd per scenario on
``127.0.0.1:PORT`` with the scenario's ``-o`` options. The probe logs in from
127.0.0.1, uses XCLIENT to become a client outside every trusted network of the
scenario (203.0.113.9 unless the scenario's mynetworks covers it: the address comes
from ``stranger_network``, as in ``pfedit check`` and ``pfedit verify open-relay``;
with mynetworks = 0.0.0.0/0 the client is inside), and tries ``RCPT TO:<x@external.example>`` with each HELO name and
sender address that the scenarios' access tables mention (a stranger chooses both
freely). Any 2xx reply means open, only 4xx/5xx closed, a
connection closed before the greeting means smtpd stopped at start-up (fatal).
``relay_verdict()`` must give the same answer for the same master.cf entry.

The start-up check alone (``has_required()``) is also compared with ``smtpd -S``,
which needs no running instance.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from postfix_conf.check import Config, check, relay_verdict
from postfix_conf.check.restrictions import stranger_network

from .conftest import make_config_dir

pytestmark = [pytest.mark.postfix, pytest.mark.root]

DAEMONS = Path("/usr/lib/postfix/sbin")
MAIN_MYNETWORKS = "192.0.2.0/24"
GREETING_TIMEOUT = 3.0  # a healthy smtpd greets in milliseconds
HELOS = ("probe.example", "other.example")  # a stranger chooses its HELO name and sender address:
SENDERS = ("a@b.example", "c@d.example")  # every access-table key below is one of these
MAIN = """\
queue_directory = {d}/queue
data_directory = {d}/data
compatibility_level = 3.6
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.com
mydestination = localhost
local_recipient_maps =
smtpd_authorized_xclient_hosts = 127.0.0.0/8
mynetworks = {mynetworks}
smtpd_restriction_classes = cls_open, cls_closed, cls_nested
cls_open = permit
cls_closed = reject_unauth_destination
cls_nested = cls_open
mua_relay = permit_mynetworks, reject_unauth_destination
mua_open = permit_mynetworks
"""
SUPPORT = """\
rewrite   unix  -       -       n       -       -       trivial-rewrite
anvil     unix  -       -       n       -       1       anvil
cleanup   unix  n       -       n       -       0       cleanup
"""
QUEUE_DIRS = {"incoming": 0o700, "active": 0o700, "deferred": 0o700, "defer": 0o700, "bounce": 0o700,
              "trace": 0o700, "flush": 0o700, "hold": 0o700, "corrupt": 0o700, "saved": 0o700,
              "private": 0o700, "public": 0o710, "maildrop": 0o730}

# Hand-picked scenarios: (-o options). Expected states come from smtpd, not from us.
HANDPICKED: list[dict[str, str]] = [
    {},  # compatibility_level 3.6 defaults: permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination
    {"compatibility_level": "0"},  # default relay restrictions empty, recipient empty: fatal
    {"compatibility_level": "0", "smtpd_recipient_restrictions": "permit_mynetworks,reject_unauth_destination"},
    {"smtpd_relay_restrictions": "permit"},
    {"smtpd_relay_restrictions": "permit,reject_unauth_destination"},
    {"smtpd_relay_restrictions": "permit", "smtpd_recipient_restrictions": "reject_unauth_destination"},
    {"smtpd_relay_restrictions": "permit_mynetworks,reject_unauth_destination", "mynetworks": "0.0.0.0/0"},
    {"smtpd_relay_restrictions": "permit_mynetworks,reject_unauth_destination", "mynetworks": "128.0.0.0/1"},
    {"smtpd_relay_restrictions": "permit_mynetworks,reject_unauth_destination", "mynetworks": "127.0.0.0/8"},
    {"smtpd_relay_restrictions": "$mua_relay"},
    {"smtpd_relay_restrictions": "$mua_relay", "mynetworks": "0.0.0.0/0"},
    {"smtpd_relay_restrictions": "$mua_open,reject"},
    {"smtpd_relay_restrictions": "cls_open,reject_unauth_destination"},
    {"smtpd_relay_restrictions": "cls_nested,reject"},
    {"smtpd_relay_restrictions": "cls_closed"},
    {"smtpd_relay_restrictions": "permit_sasl_authenticated,reject"},
    {"smtpd_relay_restrictions": "warn_if_reject,reject_unauth_destination,permit"},
    {"smtpd_relay_restrictions": "warn_if_reject,reject_unauth_destination"},
    {"smtpd_relay_restrictions": "check_client_access,static:OK,reject_unauth_destination"},
    {"smtpd_relay_restrictions": "check_client_access,static:DUNNO,reject_unauth_destination"},
    {"smtpd_relay_restrictions": "check_sender_access,inline:{a@b.example=OK},reject_unauth_destination"},
    {"smtpd_relay_restrictions": "check_sender_access,inline:{c@d.example=OK},reject_unauth_destination"},
    {"smtpd_relay_restrictions": "check_helo_access,inline:{probe.example=OK},reject_unauth_destination"},
    {"smtpd_relay_restrictions": "", "smtpd_recipient_restrictions": "permit_mynetworks,reject_unauth_destination"},
    {"smtpd_relay_restrictions": "reject_unauth_destination", "smtpd_client_restrictions": "permit"},
    {"smtpd_relay_restrictions": "permit_auth_destination,reject"},
    {"smtpd_relay_restrictions": "reject_unlisted_recipient,permit,reject_unauth_destination",
     "smtpd_recipient_restrictions": "defer_if_permit"},
    {"smtpd_relay_restrictions": "permit_mynetworks,defer_unauth_destination",
     "smtpd_client_restrictions": "reject_unauth_destination", "smtpd_delay_reject": "no"},
    {"smtpd_relay_restrictions": "permit", "smtpd_recipient_restrictions": "reject_unauth_destination",
     "smtpd_client_restrictions": "check_client_access,static:REJECT"},
]
WORDS = ["permit", "permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination",
         "defer_unauth_destination", "reject", "defer", "defer_if_permit", "permit_auth_destination",
         "check_client_access,static:OK", "check_client_access,static:DUNNO",
         "check_sender_access,inline:{a@b.example=OK}",
         "check_helo_access,inline:{other.example=OK}", "warn_if_reject,reject_unauth_destination",
         "cls_open", "cls_closed", "cls_nested", "$mua_relay", "$mua_open", "reject_unlisted_recipient"]
NETWORKS = ["192.0.2.0/24", "0.0.0.0/0", "127.0.0.0/8", "128.0.0.0/1", "10.0.0.0/8,192.168.0.0/16"]


def generated(n: int, seed: int = 6) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        options = {"smtpd_relay_restrictions": ",".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4)))}
        if rng.random() < 0.5:
            options["smtpd_recipient_restrictions"] = ",".join(rng.choice(WORDS) for _ in range(rng.randint(0, 3)))
        if rng.random() < 0.3:
            options["smtpd_client_restrictions"] = ",".join(rng.choice(WORDS) for _ in range(rng.randint(1, 2)))
        if rng.random() < 0.5:
            options["mynetworks"] = rng.choice(NETWORKS)
        out.append(options)
    return out


SCENARIOS = HANDPICKED + generated(40)


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def need_instance() -> None:
    if os.geteuid() != 0:
        pytest.skip("running a scratch Postfix master needs root")
    if not (DAEMONS / "master").exists() or not (DAEMONS / "smtpd").exists():
        pytest.skip(f"Postfix daemons not found in {DAEMONS}")


def master_cf(ports: list[int], scenarios: list[dict[str, str]]) -> str:
    lines = [SUPPORT]
    for port, options in zip(ports, scenarios, strict=True):
        opts = " ".join(f"-o {name}={value}" for name, value in options.items())
        lines.append(f"127.0.0.1:{port} inet n - n - - smtpd {opts}\n")
    return "".join(lines)


def main_cf(d: Path) -> str:
    return MAIN.format(d=d, mynetworks=MAIN_MYNETWORKS)


def client_for(options: dict[str, str]) -> str:
    """The stranger's address for a scenario: outside its mynetworks (inside only if that is all of IPv4)."""
    return f"{stranger_network(options.get('mynetworks', MAIN_MYNETWORKS)) or '203.0.113'}.9"


def setup_instance(d: Path, ports: list[int]) -> None:
    make_config_dir(d, main_cf(d).encode(), master_cf(ports, SCENARIOS).encode())
    queue = d / "queue"
    for name, mode in QUEUE_DIRS.items():
        (queue / name).mkdir(parents=True)
        (queue / name).chmod(mode)
        shutil.chown(queue / name, "postfix", "postdrop" if name in ("public", "maildrop") else None)
    (queue / "pid").mkdir()
    (d / "data").mkdir()
    shutil.chown(d / "data", "postfix")
    d.chmod(0o755)


def probe(port: int, client: str) -> str:
    """open / closed / fatal, as smtpd answers a stranger relaying to an outside domain.

    An smtpd that stops at start-up never greets: the master throttles the service and
    the connection waits in the listen queue, so a missing greeting means fatal.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=GREETING_TIMEOUT) as s, \
                s.makefile("rwb") as f:
            def reply() -> str:
                while True:
                    line = f.readline().decode("ascii", "replace")
                    if not line or line[3:4] != "-":
                        return line

            def command(text: str) -> str:
                f.write(text.encode() + b"\r\n")
                f.flush()
                return reply()

            greeting = reply()
            if not greeting.startswith("220"):
                return "fatal"
            s.settimeout(15)
            command("EHLO probe.example")
            assert command(f"XCLIENT ADDR={client}").startswith("220")
            answers = []
            for helo in HELOS:
                command(f"EHLO {helo}")
                for sender in SENDERS:
                    command(f"MAIL FROM:<{sender}>")
                    answers.append(command("RCPT TO:<x@external.example>"))
                    command("RSET")
            command("QUIT")
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        return "fatal"  # smtpd died at start-up: the master throttles it and the connection waits
    return "open" if any(a.startswith("2") for a in answers) else "closed"


@pytest.fixture(scope="module")
def instance() -> Iterator[tuple[Path, dict[int, str]]]:
    need_instance()
    # The daemons run as the postfix user: every directory above the instance must be searchable,
    # which pytest's own 0700 temporary directories are not.
    top = Path(tempfile.mkdtemp(prefix="pfedit-smtpd-oracle-"))
    top.chmod(0o755)
    d = top / "etc"
    ports = free_ports(len(SCENARIOS))
    setup_instance(d, ports)
    env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"} | {"MAIL_CONFIG": str(d), "LANG": "C"}
    proc = subprocess.Popen([str(DAEMONS / "master"), "-d", "-c", str(d)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", ports[0]), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"scratch Postfix master did not start: {err}")
                time.sleep(0.05)
        with ThreadPoolExecutor(max_workers=len(ports)) as pool:
            clients = [client_for(options) for options in SCENARIOS]
            answers = dict(zip(ports, pool.map(probe, ports, clients), strict=True))
        yield d, answers
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(top, ignore_errors=True)


def test_relay_verdicts_match_smtpd(instance: tuple[Path, dict[int, str]]) -> None:
    d, answers = instance
    cfg = Config.load(d)
    services = {int(s.name.rpartition(":")[2]): s for s in cfg.services() if s.command == "smtpd"}
    assert set(services) == set(answers)
    states = {"open": 0, "closed": 0, "fatal": 0}
    mismatches = []
    for port, expected in answers.items():
        states[expected] += 1
        ours = relay_verdict(cfg, services[port])
        got = "open" if ours.state == "conditional" else ours.state
        if got != expected:
            mismatches.append(f"{services[port].options}: smtpd says {expected}, we say {ours}")
    assert mismatches == [], "\n".join(mismatches)
    assert min(states.values()) > 0, states  # the scenarios exercise every outcome


def test_handpicked_expectations(instance: tuple[Path, dict[int, str]]) -> None:
    """The spec's statements, confirmed on the real daemon (and documented in docs/check.md)."""
    _, answers = instance
    by_scenario = dict(zip(range(len(SCENARIOS)), answers.values(), strict=True))
    assert by_scenario[0] == "closed"  # Debian defaults
    assert by_scenario[1] == "fatal"  # compatibility_level 0 with nothing set: smtpd refuses to start
    assert by_scenario[4] == "fatal"  # permit before the destination check: has_required() fails
    assert by_scenario[6] == "open"  # permit_mynetworks with mynetworks = 0.0.0.0/0
    assert by_scenario[20] == "open"  # check_sender_access OK for a forgeable sender


@pytest.mark.parametrize(("relay", "recipient", "fatal"), [
    ("permit,reject_unauth_destination", "", True),
    ("permit_mynetworks,permit_sasl_authenticated", "", True),
    ("warn_if_reject,reject_unauth_destination", "", True),
    ("cls_closed", "", False),
    ("cls_open,reject", "", False),
    ("permit", "reject", False),
    ("", "permit_mynetworks,defer_if_permit", False),
])
def test_startup_check_matches_smtpd_standalone(tmp_path: Path, relay: str, recipient: str, fatal: bool) -> None:
    """``smtpd -S`` (stand-alone, no master) runs the same start-up check; exit 1 means fatal."""
    if not (DAEMONS / "smtpd").exists():
        pytest.skip("smtpd not installed")
    d = tmp_path / "c"
    main = main_cf(d) + f"smtpd_relay_restrictions = {relay}\nsmtpd_recipient_restrictions = {recipient}\n"
    make_config_dir(d, main.encode(), b"smtp inet n - n - - smtpd\n")
    for name in ("maildrop", "public", "pid"):
        (d / "queue" / name).mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"} | {"MAIL_CONFIG": str(d), "LANG": "C"}
    proc = subprocess.run([str(DAEMONS / "smtpd"), "-S"], input=b"QUIT\r\n", env=env, capture_output=True,
                          timeout=20, check=False)
    assert (proc.returncode == 1) == fatal, proc
    cfg = Config.load(d)
    assert (relay_verdict(cfg, cfg.services()[0]).state == "fatal") == fatal


@pytest.mark.parametrize(("setting", "code"), [
    ("smtpd_tls_security_level = bogus", "invalid-tls-level"),
    ("smtpd_tls_security_level = dane", "invalid-tls-level"),
    ("smtpd_tls_security_level = dane-only", "invalid-tls-level"),
    ("smtpd_tls_security_level = verify", None),  # smtpd warns and uses encrypt
    ("smtpd_tls_security_level = none", None),
    ("smtpd_sasl_auth_enable = maybe", "invalid-boolean"),
    ("smtpd_sasl_auth_enable = no  # off for now", "invalid-boolean"),
    ("smtpd_sasl_auth_enable = NO", None),
    ("smtpd_delay_reject = perhaps", "invalid-boolean"),
])
def test_values_smtpd_refuses(tmp_path: Path, setting: str, code: str | None) -> None:
    """invalid-tls-level / invalid-boolean exactly when ``smtpd -S`` stops with its fatal message."""
    if not (DAEMONS / "smtpd").exists():
        pytest.skip("smtpd not installed")
    d = tmp_path / "c"
    make_config_dir(d, (main_cf(d) + setting + "\n").encode(), b"smtp inet n - n - - smtpd\n")
    for name in ("maildrop", "public", "pid"):
        (d / "queue" / name).mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"} | {"MAIL_CONFIG": str(d), "LANG": "C"}
    proc = subprocess.run([str(DAEMONS / "smtpd"), "-S", "-V"], input=b"QUIT\r\n", env=env, capture_output=True,
                          timeout=20, check=False)
    fatal = re.search(r"fatal: (Invalid TLS level|bad boolean configuration)", proc.stderr.decode())
    ours = [f for f in check(d) if f.code in ("invalid-tls-level", "invalid-boolean")]
    assert (fatal is not None) == (code is not None), proc.stderr
    assert [f.code for f in ours] == ([code] if code else [])
    if fatal is not None:
        assert fatal.group(0)[len("fatal: "):] in ours[0].message
