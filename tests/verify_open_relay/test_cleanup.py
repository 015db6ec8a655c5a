"""The throw-away instance leaves nothing behind, and touches nothing that was there before.

After success, failure, SIGINT and SIGTERM: no process of the instance survives and
its directory is gone. A Postfix that is already running (a real instance started
with ``postfix start`` by the e2e harness, standing in for the system's) keeps its
master, its queue, its port and its files; nobody connects to it. The machine's
/etc/postfix is the same before and after.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ..e2e.conftest import PostfixFactory, e2e_root, postfix_instance  # noqa: F401 - fixtures
from .conftest import ConfigFactory, instance_processes, run_verify

pytestmark = [pytest.mark.e2e, pytest.mark.postfix, pytest.mark.root]

STOCK = Path("/usr/share/postfix/master.cf.dist")
# smtpd pauses 30 seconds before it answers the first RCPT TO: the probe is busy when the signal comes.
SLOW = "smtpd_client_restrictions = sleep 30\n"


def tree(path: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry below ``path``: mode, mtime and (for files) content hash."""
    out: dict[str, tuple[int, int, str]] = {}
    if not path.exists():
        return out
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else ""
        out[str(p)] = (st.st_mode, st.st_mtime_ns, digest)
    return out


def test_nothing_left_after_success(make_config: ConfigFactory, sandbox_parent: Path) -> None:
    result = run_verify(make_config())
    assert result.exit_code == 0
    assert list(sandbox_parent.iterdir()) == [] and instance_processes(sandbox_parent) == []
    assert result.report["leftover_processes"] == []


def test_nothing_left_when_the_master_cannot_start(make_config: ConfigFactory, sandbox_parent: Path) -> None:
    """myorigin names a missing file: Postfix stops before it can log; the error still reaches the user."""
    result = run_verify(make_config("myorigin = /nonexistent/mailname\n"))
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "/nonexistent/mailname: cannot open file" in result.stderr
    assert list(sandbox_parent.iterdir()) == [] and instance_processes(sandbox_parent) == []


def test_missing_config_dir_is_a_clear_error(tmp_path: Path, sandbox_parent: Path) -> None:
    result = run_verify(tmp_path / "nowhere")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert f"{tmp_path / 'nowhere' / 'main.cf'}: not found" in result.stderr


def test_not_root_is_a_clear_error(make_config: ConfigFactory, sandbox_parent: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    d = make_config()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = run_verify(d)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "must run as root" in result.stderr
    assert list(sandbox_parent.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_nothing_left_after_a_signal(make_config: ConfigFactory, sandbox_parent: Path, sig: signal.Signals) -> None:
    d = make_config(SLOW)
    env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"} | {"TMPDIR": str(sandbox_parent)}
    proc = subprocess.Popen([sys.executable, "-m", "pfedit", "verify", "open-relay", "-c", str(d)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not any(b"daemon started" in log.read_bytes() for log in sandbox_parent.glob("*/maillog")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        assert instance_processes(sandbox_parent)  # the instance runs; smtpd sleeps
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    assert f"interrupted ({sig.name})" in err and "Traceback" not in err
    assert list(sandbox_parent.iterdir()) == [] and instance_processes(sandbox_parent) == []


def test_running_postfix_and_etc_postfix_are_untouched(postfix_instance: PostfixFactory,  # noqa: F811
                                                       sandbox_parent: Path) -> None:
    """Verify the running instance's own configuration, as a user would verify /etc/postfix."""
    running = postfix_instance()
    running.edit_main(lambda main: main.set("relayhost", "[127.0.0.1]:9"))  # the harness insists on a loopback relay
    running.start()
    etc_before, files_before = tree(Path("/etc/postfix")), tree(running.config_dir)
    queue_before = tree(running.queue_dir)
    long_lived = {pid for pid, _, comm in running.live_processes() if comm in ("master", "qmgr", "pickup")}
    log_before = len(running.log())
    result = run_verify(running.config_dir)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.service(f"127.0.0.1:{running.smtp_port}/inet")["verdict"] == "closed"
    assert tree(Path("/etc/postfix")) == etc_before
    assert tree(running.config_dir) == files_before and tree(running.queue_dir) == queue_before
    assert running.master_pid in long_lived and long_lived <= {p[0] for p in running.live_processes()}
    new_log = running.log()[log_before:]
    assert "connect from" not in new_log, new_log  # nobody talked to the running smtpd
    with socket.create_connection(("127.0.0.1", running.smtp_port), timeout=10) as s:
        assert s.recv(512).startswith(b"220 ")  # and it still answers
    assert list(sandbox_parent.iterdir()) == []


def test_policy_servers_of_the_running_system_are_not_contacted(make_config: ConfigFactory, verify_root: Path,
                                                                 sandbox_parent: Path) -> None:
    """A policy server on an absolute socket (the running system's) and two spawned by master.cf.

    Neither is contacted or started: smtpd finds them unreachable and, as
    smtpd_policy_service_default_action says in the sandbox, goes on (DUNNO).
    `pfedit check` calls the same configuration open unless the policy service refuses.
    """
    sock_path = verify_root / f"policy-{os.getpid()}.sock"
    marker = verify_root / f"spawned-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    os.chmod(sock_path, 0o666)
    server.listen(1)
    server.settimeout(0.5)
    try:
        main = ("mynetworks = 0.0.0.0/0\nsmtpd_relay_restrictions = check_policy_service unix:private/policy, "
                f"check_policy_service unix:{sock_path}, check_policy_service inet:127.0.0.1:10031, "
                "permit_mynetworks, reject_unauth_destination\n")
        master = (STOCK.read_text() + f"policy unix - n n - 0 spawn user=nobody argv=/usr/bin/touch {marker}\n"
                  f"127.0.0.1:10031 inet n n n - 0 spawn user=nobody argv=/usr/bin/touch {marker}\n")
        result = run_verify(make_config(main, master))
        assert result.exit_code == 1
        smtp = result.service("smtp/inet")
        assert smtp["verdict"] == "open" and smtp["check_verdict"] == "conditional", (smtp["summary"], smtp["log"])
        assert smtp["check_finding"]["code"] == "open-relay-conditional"
        notes = " ".join(result.report["sandbox_adjustments"])
        assert f"unix:{sock_path} is not contacted" in notes and "policy/unix (spawn)" in notes
        assert "127.0.0.1:10031/inet (spawn)" in notes and str(marker) not in notes  # argv may hold secrets
        with pytest.raises(TimeoutError):
            server.accept()  # nobody connected
        assert not marker.exists()
    finally:
        server.close()
        sock_path.unlink()


def test_private_tmpdir_is_not_used(make_config: ConfigFactory, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A 0700 $TMPDIR: the daemons (mail owner) could not reach the sandbox there, so it goes to /tmp."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    before = set(Path("/tmp").glob("pfedit-verify-*"))
    result = run_verify(make_config())
    assert result.exit_code == 0, result.stderr
    assert list(private.iterdir()) == [] and set(Path("/tmp").glob("pfedit-verify-*")) <= before
